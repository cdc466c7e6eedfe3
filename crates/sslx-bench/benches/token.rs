//! Session tokens per second, one thread, beside PASETO v4.public (pasetors) and JWT EdDSA
//! (jsonwebtoken) on the same claims (issuer, subject, audience, expiry, issued-at, not-before),
//! and the size of each token. Prints a markdown table. `cargo bench --bench token`; the
//! whole-process time of `sslx token verify` is in bench/token.sh.

use sslx::token::{Fields, Keyring, Mint, Verifier};
use std::time::Instant;

/// Median operations per second over 5 samples of at least 300 ms.
fn per_sec(mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let mut v: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let mut n = 0u64;
            while t.elapsed().as_millis() < 300 {
                for _ in 0..50 {
                    f();
                }
                n += 50;
            }
            n as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rng = sslx::crypto::system_rng();
    // sslx: node 1 mints for node 2. Issuer = the node id in the session id, subject = User-ID,
    // audience = Audience (or the target node of a sealed token), exp/iat = Expires/Created.
    let node1 = sslx::keys::Identity::generate("node1", &rng).unwrap();
    let node2 = sslx::keys::Identity::generate("node2", &rng).unwrap();
    let keyring = Keyring::parse(&format!("1 {}\n2 {}\n", node1.public().to_line(), node2.public().to_line())).unwrap();
    let mut fields = Fields::default();
    fields.push("User-ID", "fred").unwrap();
    fields.push("Audience", "node2").unwrap();
    let now = sslx::cli::now_unix();
    let mut number = 1u64;
    let signer = sslx::token::Signer::new(&node1);
    let mut mint = |to: Option<(u16, [u8; 32])>| {
        number += 1;
        let m = Mint { node: 1, signer: &signer, number, now, ttl: 3600, fields: &fields, to, max_len: 1024 };
        sslx::token::mint(&m, &rng).unwrap()
    };
    let plain = mint(None);
    let sealed = mint(Some((2, node2.public().x25519)));
    let verifier =
        Verifier { keyring: &keyring, me: Some((2, &node2)), now, skew: 5, max_len: sslx::token::DEFAULT_MAX_LEN };
    let sslx_mint = per_sec(|| {
        mint(None);
    });
    let sslx_mint_sealed = per_sec(|| {
        mint(Some((2, node2.public().x25519)));
    });
    let ring_kp = sslx::crypto::ed25519_keypair(node1.ed25519_seed.expose());
    let msg = vec![7u8; 150];
    let ring_sign = per_sec(|| {
        std::hint::black_box(ring_kp.sign(&msg));
    });
    let sslx_verify = per_sec(|| {
        let v = sslx::token::verify(&plain, &verifier).unwrap();
        assert_eq!(v.fields.get("Audience"), Some("node2"));
    });
    let sslx_verify_sealed = per_sec(|| {
        sslx::token::verify(&sealed, &verifier).unwrap();
    });

    // PASETO v4.public.
    use pasetors::claims::{Claims, ClaimsValidationRules};
    use pasetors::keys::{AsymmetricKeyPair, Generate};
    use pasetors::token::UntrustedToken;
    use pasetors::{public, version4::V4, Public};
    let kp = AsymmetricKeyPair::<V4>::generate().unwrap();
    let claims = || {
        let mut c = Claims::new().unwrap();
        c.issuer("node1").unwrap();
        c.subject("fred").unwrap();
        c.audience("node2").unwrap();
        c
    };
    let paseto = public::sign(&kp.secret, &claims(), None, None).unwrap();
    let mut rules = ClaimsValidationRules::new();
    rules.validate_issuer_with("node1");
    rules.validate_audience_with("node2");
    let paseto_sign = per_sec(|| {
        public::sign(&kp.secret, &claims(), None, None).unwrap();
    });
    let paseto_verify = per_sec(|| {
        let u = UntrustedToken::<Public, V4>::try_from(paseto.as_str()).unwrap();
        public::verify(&kp.public, &u, &rules, None, None).unwrap();
    });

    // JWT EdDSA.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Jwt {
        iss: String,
        sub: String,
        aud: String,
        exp: u64,
        iat: u64,
        nbf: u64,
    }
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    use ring::signature::KeyPair;
    let enc = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let dec = jsonwebtoken::DecodingKey::from_ed_der(kp.public_key().as_ref());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    let body =
        || Jwt { iss: "node1".into(), sub: "fred".into(), aud: "node2".into(), exp: now + 3600, iat: now, nbf: now };
    let jwt = jsonwebtoken::encode(&header, &body(), &enc).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["node1"]);
    validation.set_audience(&["node2"]);
    let jwt_sign = per_sec(|| {
        jsonwebtoken::encode(&header, &body(), &enc).unwrap();
    });
    let jwt_verify = per_sec(|| {
        jsonwebtoken::decode::<Jwt>(&jwt, &dec, &validation).unwrap();
    });

    println!("| token | mint /s | verify /s | size (chars) | vs PASETO: mint, verify, size |");
    println!("|---|---:|---:|---:|---|");
    let row = |name: &str, m: f64, v: f64, len: usize| {
        println!(
            "| {name} | {m:.0} | {v:.0} | {len} | {:.2}x, {:.2}x, {:.2}x |",
            m / paseto_sign,
            v / paseto_verify,
            len as f64 / paseto.len() as f64
        );
    };
    row("sslx, signed", sslx_mint, sslx_verify, plain.len());
    row("sslx, signed and sealed (HPKE)", sslx_mint_sealed, sslx_verify_sealed, sealed.len());
    row("PASETO v4.public (pasetors)", paseto_sign, paseto_verify, paseto.len());
    row("JWT EdDSA (jsonwebtoken)", jwt_sign, jwt_verify, jwt.len());
    println!();
    println!(
        "ring Ed25519 sign alone (150-byte message): {ring_sign:.0}/s; sslx mint is {:.2}x of it (the rest: fields, CRC, base64)",
        sslx_mint / ring_sign
    );
}
