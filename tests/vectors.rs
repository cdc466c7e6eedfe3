//! Known-answer vectors (tests/vectors/): the RFC 9180 vectors for our HPKE suite, the offset
//! function and key lines from an independent implementation (gen_independent.py), and the VSU
//! frames as a second implementation must produce and parse them.
//! Vectors made by the production encoders are written only when missing and
//! `SSLX_UPDATE_VECTORS=1` is set (a missing file fails otherwise), then always checked.

use sslx::crypto::{self, Secret};
use sslx::keys::{decode_line, encode_line, Identity, KeyError, LineFailure, LineKind};
use sslx::vsu::assemble::{self, ReplyParams};
use sslx::vsu::*;
use sslx::wire::{CdsHello, Msg, WireError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(sub)
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|_| panic!("bad hex {s}"))
}

/// `key: value` lines.
fn read_fields(p: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Whether to write a vector file: only when it is missing and `SSLX_UPDATE_VECTORS=1` asks for it
/// (to regenerate one, delete it and run with the variable). A missing file otherwise fails the
/// test: a vector that writes itself would pass whatever the code does.
fn must_write(path: &Path) -> bool {
    if path.exists() {
        return false;
    }
    assert!(
        std::env::var_os("SSLX_UPDATE_VECTORS").is_some_and(|v| v == "1"),
        "{} is missing: restore it from git, or make it with SSLX_UPDATE_VECTORS=1 cargo test --test vectors",
        path.display()
    );
    true
}

fn files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir(sub)).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    assert!(!v.is_empty(), "no vectors in {sub}");
    v
}

#[test]
fn hpke_rfc9180_base_x25519_sha256_chacha20poly1305() {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir("hpke/rfc9180-base-x25519-sha256-chacha20poly1305.json")).unwrap())
            .unwrap();
    let s = |k: &str| h(v[k].as_str().unwrap());
    assert_eq!(
        (v["mode"].as_u64(), v["kem_id"].as_u64(), v["kdf_id"].as_u64(), v["aead_id"].as_u64()),
        (Some(0), Some(32), Some(1), Some(3))
    );
    let (sk_r, pk_r) = crypto::derive_x25519_for_testing_only(&s("ikmR"));
    assert_eq!(sk_r.expose().to_vec(), s("skRm"));
    assert_eq!(pk_r.to_vec(), s("pkRm"));
    assert_eq!(crypto::x25519_public(&sk_r).to_vec(), s("pkRm"));
    let (_, pk_e) = crypto::derive_x25519_for_testing_only(&s("ikmE"));
    assert_eq!(pk_e.to_vec(), s("enc"));
    let enc: [u8; 32] = s("enc").try_into().unwrap();
    let info = s("info");
    let encs = v["encryptions"].as_array().unwrap();
    // Sequence 0 through our single-shot open.
    let e0 = &encs[0];
    let pt =
        crypto::hpke_open(&sk_r, &enc, &info, &h(e0["aad"].as_str().unwrap()), &h(e0["ct"].as_str().unwrap())).unwrap();
    assert_eq!(pt, h(e0["pt"].as_str().unwrap()));
    // The rest of the sequence through a receiver context of the same crate.
    use hpke::{Deserializable, Kem};
    type K = hpke::kem::X25519HkdfSha256;
    let sk = <K as Kem>::PrivateKey::from_bytes(sk_r.expose()).unwrap();
    let encapped = <K as Kem>::EncappedKey::from_bytes(&enc).unwrap();
    let mut ctx = hpke::setup_receiver::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, K>(
        &hpke::OpModeR::Base,
        &sk,
        &encapped,
        &info,
    )
    .unwrap();
    for e in encs {
        let pt = ctx.open(&h(e["ct"].as_str().unwrap()), &h(e["aad"].as_str().unwrap())).unwrap();
        assert_eq!(pt, h(e["pt"].as_str().unwrap()));
    }
    // The exporter (the sealed token's body key is an export): both ends, RFC 9180 A.2.1.
    let (_, pk_r) = crypto::derive_x25519_for_testing_only(&s("ikmR"));
    let exports = v["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 3);
    for x in exports {
        let (ctx_bytes, want) = (h(x["exporter_context"].as_str().unwrap()), h(x["exported_value"].as_str().unwrap()));
        assert_eq!(x["L"].as_u64(), Some(32));
        let mut out = [0u8; 32];
        crypto::hpke_export_from(&sk_r, &enc, &info, &ctx_bytes, &mut out).unwrap();
        assert_eq!(out.to_vec(), want);
        let mut out2 = [0u8; 32];
        let enc2 =
            crypto::hpke_export_to(&pk_r, &info, &array(v["ikmE"].as_str().unwrap()), &ctx_bytes, &mut out2).unwrap();
        assert_eq!((enc2, out2), (enc, out));
    }
}

/// A ring RNG that gives these slices in order, one per call (the vectors that give their
/// nonces and ephemeral secrets). It checks on drop that every slice was taken.
#[allow(deprecated)]
fn fixed_rng<'a>(parts: &'a [&'a [u8]]) -> ring::test::rand::FixedSliceSequenceRandom<'a> {
    ring::test::rand::FixedSliceSequenceRandom { bytes: parts, current: core::cell::UnsafeCell::new(0) }
}

/// X25519(secret, peer) through ring.
fn x25519_dh(secret: &[u8; 32], peer: &[u8]) -> [u8; 32] {
    use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
    let parts: [&[u8]; 1] = [secret];
    let rng = fixed_rng(&parts);
    let sk = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
    agree_ephemeral(sk, &UnparsedPublicKey::new(&X25519, peer), |k| <[u8; 32]>::try_from(k).unwrap()).unwrap()
}

/// A `key: value` vector file with multi-line values: `\\`, `\n` and `\r` stand for a
/// backslash, LF and CR.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r")
}
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            o => panic!("bad escape {o:?}"),
        }
    }
    out
}

/// Writes `fields` to `path` (under tests/vectors) once, when it is missing; returns the file's fields.
fn write_once(path: &Path, header: &str, fields: impl FnOnce() -> Vec<(String, String)>) -> BTreeMap<String, String> {
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap_or_else(|p| p.into_inner());
    if must_write(path) {
        let mut text = String::from(header);
        for (k, v) in fields() {
            text.push_str(&format!("{k}: {v}\n"));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    read_fields(path)
}

#[test]
fn offset_and_sent_value_match_the_independent_implementation() {
    for p in files("offset") {
        let f = read_fields(&p);
        if let Some(sv) = f.get("sent_value") {
            let cdsk = Secret::new(h(&f["cdsk"]).try_into().unwrap());
            let rid: RequestId = h(&f["request_id"]).try_into().unwrap();
            let nonce: [u8; 32] = h(&f["nonce"]).try_into().unwrap();
            assert_eq!(assemble::sent_value(&cdsk, &rid, &nonce).to_vec(), h(sv), "{}", p.display());
            continue;
        }
        let out = crypto::offset(&h(&f["x"]), &h(&f["v"]), f["label"].as_bytes());
        assert_eq!(out, h(&f["out"]), "{}", p.display());
        // Removing the offset is the same operation.
        assert_eq!(crypto::offset(&out, &h(&f["v"]), f["label"].as_bytes()), h(&f["x"]));
    }
}

fn kind(s: &str) -> LineKind {
    match s {
        "public" => LineKind::Public,
        "secret-key" => LineKind::SecretKey,
        "cdsk" => LineKind::Cdsk,
        "reply-b" => LineKind::ReplyB,
        "pair-key" => LineKind::PairKey,
        o => panic!("unknown kind {o}"),
    }
}

#[test]
fn key_lines_match_the_independent_implementation() {
    for p in files("keyline") {
        let f = read_fields(&p);
        let k = kind(&f["kind"]);
        let got = decode_line(k, &f["line"]);
        let class = |e: KeyError| match e {
            KeyError::BadLine { class, .. } => class,
            other => panic!("{other}"),
        };
        match f["expect"].as_str() {
            "success" => {
                assert_eq!(got.unwrap(), h(&f["data"]), "{}", p.display());
                assert_eq!(encode_line(k, &h(&f["data"])), f["line"], "{}", p.display());
            }
            "checksum failure" => assert_eq!(class(got.unwrap_err()), LineFailure::Checksum, "{}", p.display()),
            "wrong length" => assert_eq!(class(got.unwrap_err()), LineFailure::WrongLength, "{}", p.display()),
            "wrong kind" => assert_eq!(class(got.unwrap_err()), LineFailure::WrongKind, "{}", p.display()),
            "malformed" => assert_eq!(class(got.unwrap_err()), LineFailure::Malformed, "{}", p.display()),
            o => panic!("unknown expectation {o} in {}", p.display()),
        }
    }
}

/// Fixed keys for the VSU transcript vector.
fn fixed_identity() -> Identity {
    let seed = |s: &str| Secret::new(crypto::sha256(s.as_bytes()));
    Identity { name: "alice".into(), x25519: seed("vector alice x25519"), ed25519_seed: seed("vector alice ed25519") }
}

const PIN: &str = "1A2B3C";
/// The connection challenge (the CDS hello's) every request vector is bound to.
const CHALLENGE: [u8; 32] = [0x77; 32];

/// Builds a VSU transcript: every frame a DS and a CDS exchange, with fixed keys.
fn make_transcript() -> Vec<(String, String)> {
    let rng = crypto::system_rng();
    let id = fixed_identity();
    let cdsk = Secret::new(crypto::sha256(b"vector cdsk"));
    let cds_seed = Secret::new(crypto::sha256(b"vector cds sign"));
    let request_id = [0x5a; 16];
    let mut open = OpenRequest {
        ar: AR_VSU_DS.into(),
        name: id.name.clone(),
        public: id.public(),
        email: "alice@example.com".into(),
        oob: "sms:+15551234567".into(),
        signature: [0; 64],
        proof: None,
    };
    open.signature = id.sign(&open.signed_bytes(&CHALLENGE).unwrap());
    let p = ReplyParams {
        request_id,
        name: "alice",
        ds_public: &id.public(),
        expires: 1_790_086_400,
        cds_http: "http://127.0.0.1:7451",
        cds_sign_key: crypto::ed25519_public(cds_seed.expose()),
        cds_addresses: "",
    };
    let r = assemble::make_replies(&cdsk, PIN, &p, &rng).unwrap();
    // The same replies from a CDS of several instances, which announces their addresses.
    let announcing = ReplyParams { cds_addresses: "cds1.example:7450,cds2.example:7450", ..p };
    let r2 = assemble::make_replies(&cdsk, PIN, &announcing, &rng).unwrap();
    let (confirm, nonce) = assemble::make_confirm(&cdsk, &request_id, &CHALLENGE, &rng);
    let confirmed = assemble::make_confirmed(
        &cdsk,
        &request_id,
        &ConfirmedBody { nonce, confirmed_at: 1_790_000_100, key_expires: 1_821_536_100 },
        &rng,
    );
    let denied = assemble::make_denied(
        &cds_seed,
        &id.public().x25519,
        &request_id,
        &CHALLENGE,
        2,
        "the confirmation did not match",
        &rng,
    )
    .unwrap();
    let refused = Refused { code: 3, server_time: 1_790_000_000, reason: "request expired".into() };
    let x = |b: Result<Vec<u8>, WireError>| hex::encode(b.unwrap());
    let hello = CdsHello { challenge: CHALLENGE, cds_time: 1_790_000_000 };
    vec![
        ("challenge".into(), hex::encode(CHALLENGE)),
        ("cds_hello".into(), x(hello.to_frame())),
        ("x25519_secret".into(), hex::encode(id.x25519.expose())),
        ("ed25519_seed".into(), hex::encode(id.ed25519_seed.expose())),
        ("cds_sign_seed".into(), hex::encode(cds_seed.expose())),
        ("cdsk".into(), hex::encode(cdsk.expose())),
        ("pin".into(), PIN.into()),
        ("confirm_nonce".into(), hex::encode(nonce)),
        ("open_request".into(), x(open.to_frame())),
        ("reply_a".into(), x(r.a.to_frame())),
        ("reply_a_announcing".into(), x(r2.a.to_frame())),
        ("reply_b_line".into(), r.b.to_line()),
        ("reply_c_text".into(), r.c.text()),
        ("confirm".into(), x(confirm.to_frame())),
        ("confirmed".into(), x(confirmed.to_frame())),
        ("denied".into(), x(denied.to_frame())),
        ("refused".into(), x(refused.to_frame())),
    ]
}

/// The transcript vector's fields, written first if the file is missing.
fn transcript() -> BTreeMap<String, String> {
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap();
    let path = dir("wire/vsu_transcript.txt");
    if must_write(&path) {
        let mut text =
            String::from("# VSU transcript with fixed keys: see docs/PROTOCOL.md. Frames in hex, header included.\n# The requests are bound to the challenge of the CDS hello that opened their connection.\n");
        for (k, v) in make_transcript() {
            text.push_str(&format!("{k}: {v}\n"));
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    read_fields(&path)
}

#[test]
fn vsu_transcript_vector() {
    let f = transcript();
    let id = fixed_identity();
    assert_eq!(hex::encode(id.x25519.expose()), f["x25519_secret"]);
    let cdsk = Secret::new(h(&f["cdsk"]).try_into().unwrap());
    let cds_seed = Secret::<32>::new(h(&f["cds_sign_seed"]).try_into().unwrap());

    // Each frame parses, and re-encodes to the same bytes.
    let hello = CdsHello::from_bytes(&h(&f["cds_hello"])).unwrap();
    assert_eq!(hello.to_frame().unwrap(), h(&f["cds_hello"]));
    assert_eq!(hex::encode(hello.challenge), f["challenge"]);
    let open = OpenRequest::from_bytes(&h(&f["open_request"])).unwrap();
    assert_eq!(open.to_frame().unwrap(), h(&f["open_request"]));
    assert!(open.signature_valid(&hello.challenge));
    assert!(!open.signature_valid(&[0; 32]), "bound to its connection's challenge");
    assert_eq!(open.public, id.public());
    let a = ReplyA::from_bytes(&h(&f["reply_a"])).unwrap();
    assert_eq!(a.to_frame().unwrap(), h(&f["reply_a"]));
    assert_eq!(a.cds_sign_key, crypto::ed25519_public(cds_seed.expose()));
    let b = ReplyB::find_in(&f["reply_b_line"]).unwrap();
    assert_eq!(ReplyC::pin_in(&f["reply_c_text"]).unwrap(), f["pin"]);

    // The DS puts the CDSK back together from A, B and the PIN.
    let got = assemble::assemble_cdsk(&id, &a, &b, &f["pin"]).unwrap();
    assert!(got.ct_eq(&cdsk));
    assert_eq!(a.cds_addresses, "", "no addresses announced");
    // A reply A announcing the instances' addresses: they are bound into the seal's AAD.
    let mut a2 = ReplyA::from_bytes(&h(&f["reply_a_announcing"])).unwrap();
    assert_eq!(a2.to_frame().unwrap(), h(&f["reply_a_announcing"]));
    assert_eq!(a2.cds_addresses, "cds1.example:7450,cds2.example:7450");
    assert!(assemble::assemble_cdsk(&id, &a2, &b, &f["pin"]).unwrap().ct_eq(&cdsk));
    a2.cds_addresses = "evil.example:7450".into();
    assert!(assemble::assemble_cdsk(&id, &a2, &b, &f["pin"]).is_err(), "the addresses are sealed in");

    let confirm = Confirm::from_bytes(&h(&f["confirm"])).unwrap();
    assert_eq!(confirm.to_frame().unwrap(), h(&f["confirm"]));
    let nonce: [u8; 32] = h(&f["confirm_nonce"]).try_into().unwrap();
    assert_eq!(assemble::check_confirm(&cdsk, &confirm, &hello.challenge), Some(nonce));
    assert_eq!(assemble::check_confirm(&cdsk, &confirm, &[0; 32]), None);
    let confirmed = Confirmed::from_bytes(&h(&f["confirmed"])).unwrap();
    let body = assemble::open_confirmed(&cdsk, &confirmed, &a.request_id, &nonce).unwrap();
    assert_eq!(body.confirmed_at, 1_790_000_100);
    let denied = Denied::from_bytes(&h(&f["denied"])).unwrap();
    assert_eq!(assemble::open_denied(&id, &a.cds_sign_key, &denied, &a.request_id, &hello.challenge).unwrap().0, 2);
    assert!(assemble::open_denied(&id, &a.cds_sign_key, &denied, &a.request_id, &[0; 32]).is_err());
    let refused = Refused::from_bytes(&h(&f["refused"])).unwrap();
    assert_eq!(refused.reason, "request expired");
}

#[test]
fn vsu_frames_reject_truncation_trailing_data_wrong_type_and_tampering() {
    let f = transcript();
    let open = h(&f["open_request"]);
    assert!(matches!(OpenRequest::from_bytes(&open[..open.len() - 1]), Err(WireError::MissingData(_))));
    let mut long = open.clone();
    long.push(0);
    assert!(matches!(OpenRequest::from_bytes(&long), Err(WireError::TrailingData(1))));
    assert!(matches!(ReplyA::from_bytes(&open), Err(WireError::UnexpectedType { .. })));
    let mut v1 = open.clone();
    v1[1] = 1;
    assert!(matches!(OpenRequest::from_bytes(&v1), Err(WireError::UnsupportedVersion(1))));
    // A body of the declared length whose inner lengths lie.
    let mut inner = open.clone();
    let new_len = (open.len() - 6 - 10) as u32;
    inner.truncate(open.len() - 10);
    inner[2..6].copy_from_slice(&new_len.to_be_bytes());
    assert!(OpenRequest::from_bytes(&inner).is_err());
    // One flipped bit anywhere in the signed part of the open request breaks the signature or parse.
    for i in 6..open.len() - 65 {
        let mut t = open.clone();
        t[i] ^= 0x04;
        if let Ok(m) = OpenRequest::from_bytes(&t) {
            assert!(!m.signature_valid(&CHALLENGE), "byte {i}");
        }
    }
    // One flipped bit anywhere in reply A stops it opening (or parsing).
    let id = fixed_identity();
    let a = h(&f["reply_a"]);
    let b = ReplyB::find_in(&f["reply_b_line"]).unwrap();
    for i in 6..a.len() {
        let mut t = a.clone();
        t[i] ^= 0x10;
        if let Ok(m) = ReplyA::from_bytes(&t) {
            assert!(assemble::assemble_cdsk(&id, &m, &b, &f["pin"]).is_err(), "byte {i}");
        }
    }
}

/// The renewal (PROTOCOL.md 5.8): its four frames with fixed keys, the new key as the CDS derives
/// it. `gen_independent.py` checks the layouts and the derivation.
#[test]
fn vsu_renewal_vector() {
    use sslx::vsu::renew;
    let f = write_once(
        &dir("wire/vsu_renewal.txt"),
        "# VSU renewal (docs/PROTOCOL.md 5.8) for alice of wire/vsu_transcript.txt: the current CDSK is that\n\
         # file's cdsk, the CDS signing seed its cds_sign_seed. renew and renewed are bound to challenge 0x77 x 32,\n\
         # renew_confirm and renew_confirmed (a second connection) to 0x78 x 32. Frames in hex, header included.\n",
        || {
            let rng = crypto::system_rng();
            let t = transcript();
            let id = fixed_identity();
            let current = Secret::new(h(&t["cdsk"]).try_into().unwrap());
            let seed = Secret::<32>::new(h(&t["cds_sign_seed"]).try_into().unwrap());
            let nonce = [0x3c; 16];
            let new = renew::derive_renewed_cdsk(&seed, &current, "alice", &nonce).unwrap();
            let x = |b: Result<Vec<u8>, WireError>| hex::encode(b.unwrap());
            let body = RenewConfirmedBody { renewed_at: 1_820_000_000, key_expires: 1_851_536_000 };
            vec![
                ("challenge".into(), hex::encode(CHALLENGE)),
                ("challenge2".into(), hex::encode([0x78; 32])),
                ("nonce".into(), hex::encode(nonce)),
                ("new_cdsk".into(), hex::encode(new.expose())),
                ("renew".into(), x(renew::make_renew("alice", &current, &CHALLENGE, &nonce, &rng).unwrap().to_frame())),
                (
                    "renewed".into(),
                    x(renew::make_renewed(
                        &seed,
                        &CHALLENGE,
                        &current,
                        &id.public().x25519,
                        "alice",
                        &nonce,
                        &new,
                        &rng,
                    )
                    .unwrap()
                    .to_frame()),
                ),
                (
                    "renew_confirm".into(),
                    x(renew::make_renew_confirm("alice", &new, &nonce, &[0x78; 32], &rng).unwrap().to_frame()),
                ),
                (
                    "renew_confirmed".into(),
                    x(renew::make_renew_confirmed(&seed, &[0x78; 32], &new, &nonce, &body, &rng).to_frame()),
                ),
                ("renewed_at".into(), body.renewed_at.to_string()),
                ("key_expires".into(), body.key_expires.to_string()),
            ]
        },
    );
    let t = transcript();
    let id = fixed_identity();
    let current = Secret::new(h(&t["cdsk"]).try_into().unwrap());
    let seed = Secret::<32>::new(h(&t["cds_sign_seed"]).try_into().unwrap());
    let nonce: [u8; 16] = h(&f["nonce"]).try_into().unwrap();
    let ch2: [u8; 32] = h(&f["challenge2"]).try_into().unwrap();
    let new = renew::derive_renewed_cdsk(&seed, &current, "alice", &nonce).unwrap();
    assert_eq!(hex::encode(new.expose()), f["new_cdsk"]);

    let m = Renew::from_bytes(&h(&f["renew"])).unwrap();
    assert_eq!(m.to_frame().unwrap(), h(&f["renew"]));
    assert_eq!(renew::open_renew(&m, &current, &CHALLENGE), Some(nonce));
    assert_eq!(renew::open_renew(&m, &current, &ch2), None);
    let m = Renewed::from_bytes(&h(&f["renewed"])).unwrap();
    assert_eq!(m.to_frame().unwrap(), h(&f["renewed"]));
    let cds = crypto::ed25519_public(seed.expose());
    assert!(renew::open_renewed(&m, &cds, &CHALLENGE, &current, &id, &nonce).unwrap().ct_eq(&new));
    assert!(renew::open_renewed(&m, &cds, &ch2, &current, &id, &nonce).is_err(), "signed for its connection");
    let m = RenewConfirm::from_bytes(&h(&f["renew_confirm"])).unwrap();
    assert_eq!(m.to_frame().unwrap(), h(&f["renew_confirm"]));
    assert!(renew::check_renew_confirm(&m, &new, &ch2) && !renew::check_renew_confirm(&m, &new, &CHALLENGE));
    let m = RenewConfirmed::from_bytes(&h(&f["renew_confirmed"])).unwrap();
    assert_eq!(m.to_frame().unwrap(), h(&f["renew_confirmed"]));
    let body = renew::open_renew_confirmed(&m, &cds, &ch2, &new, &nonce).unwrap();
    assert_eq!(
        (body.renewed_at.to_string(), body.key_expires.to_string()),
        (f["renewed_at"].clone(), f["key_expires"].clone())
    );

    // Truncated, extended, retyped and tampered frames are refused.
    for k in ["renew", "renewed", "renew_confirm", "renew_confirmed"] {
        let b = h(&f[k]);
        let short = &b[..b.len() - 1];
        let mut long = b.clone();
        long.push(0);
        let decodes = |x: &[u8]| match k {
            "renew" => Renew::from_bytes(x).is_ok(),
            "renewed" => Renewed::from_bytes(x).is_ok(),
            "renew_confirm" => RenewConfirm::from_bytes(x).is_ok(),
            _ => RenewConfirmed::from_bytes(x).is_ok(),
        };
        assert!(decodes(&b) && !decodes(short) && !decodes(&long), "{k}");
        let mut retyped = b.clone();
        retyped[0] = TYPE_CONFIRM;
        assert!(!decodes(&retyped), "{k}");
    }
    for i in sslx::wire::HEADER_LEN..h(&f["renewed"]).len() {
        let mut t = h(&f["renewed"]);
        t[i] ^= 0x01;
        let m = Renewed::from_bytes(&t).unwrap();
        assert!(renew::open_renewed(&m, &cds, &CHALLENGE, &current, &id, &nonce).is_err(), "byte {i}");
    }
}

/// The KDC's exchanges (PROTOCOL.md 5F) with fixed keys: the three requests and answers, the
/// tickets inside them, the credentials cache and a key table, each checked by opening it.
#[test]
fn kdc_vector() {
    use sslx::kdc::{self, keytab, tickets};
    let (gw, user, host) = ("gw1", "alice", "web1");
    let key = |s: &str| Secret::new(crypto::sha256(s.as_bytes()));
    let (gw_key, kdc_key, host_key) = (key("vector gateway key"), key("vector kdc key"), key("vector host key"));
    let (ch1, ch2, ch3) = ([0x71u8; 32], [0x72u8; 32], [0x73u8; 32]);
    let (n1, n2, n3) = ([1u8; 16], [2u8; 16], [3u8; 16]);
    let argon2 = kdc::Argon2Params { salt: [0x5a; 16], m_kib: 64, t: 1, p: 1 };
    let f = write_once(
        &dir("kdc/transcript.txt"),
        "# The KDC's exchanges (docs/PROTOCOL.md 5F) with fixed keys: gateway gw1, user alice (password below,\n\
         # Argon2id 64 KiB, 1 pass, 1 lane), host web1 (key version 1). Requests bound to challenges 0x71, 0x72, 0x73\n\
         # x 32 in turn, nonces 0x01, 0x02, 0x03 x 16; times are Unix seconds. Frames in hex, header included.\n",
        || {
            let rng = crypto::system_rng();
            let x = |b: Result<Vec<u8>, WireError>| hex::encode(b.unwrap());
            let user_key = tickets::user_key(b"correct horse", &argon2).unwrap();
            let (kdc_session, server) = (key("vector kdc session key"), key("vector server session key"));
            let t = 1_800_000_000u64;
            let params_req = kdc::ParamsRequest::new(
                gw,
                &gw_key,
                &ch1,
                &kdc::ParamsRequestBody { nonce: n1, user: user.into() }.encode().unwrap(),
                &rng,
            )
            .unwrap();
            let params = kdc::Params::new(&gw_key, &n1, &argon2.encode(), &rng);
            let preauth = tickets::make_preauth(&user_key, user, &ch2, &n2, t, &rng);
            let as_body = kdc::AsRequestBody { nonce: n2, user: user.into(), client: "192.0.2.9".into(), preauth };
            let as_req = kdc::AsRequest::new(gw, &gw_key, &ch2, &as_body.encode().unwrap(), &rng).unwrap();
            let tgt_body = kdc::TicketBody {
                user: user.into(),
                client: "192.0.2.9".into(),
                issued: t,
                expires: t + kdc::TGT_LIFE,
                user_kvno: 1,
                key: kdc_session.clone(),
            };
            let tgt = tickets::seal_tgt(&kdc_key, &tgt_body, &rng).unwrap();
            let key_for_user = tickets::wrap_for_user(&user_key, user, &n2, &kdc_session, t + kdc::TGT_LIFE, &rng);
            let as_reply = kdc::AsReply::new(
                &gw_key,
                &n2,
                &kdc::AsReplyBody { tgt: tgt.clone(), key_for_user }.encode().unwrap(),
                &rng,
            );
            let authenticator = tickets::make_authenticator(
                &kdc_session,
                b"sslx-kdc-tgs-authenticator-v1",
                host,
                &ch3,
                &n3,
                user,
                t + 5,
                &rng,
            )
            .unwrap();
            let tgs_body = kdc::TgsRequestBody { nonce: n3, host: host.into(), tgt: tgt.clone(), authenticator };
            let tgs_req = kdc::TgsRequest::new(gw, &gw_key, &ch3, &tgs_body.encode().unwrap(), &rng).unwrap();
            let st_body = kdc::TicketBody {
                user: user.into(),
                client: "192.0.2.9".into(),
                issued: t + 5,
                expires: t + 305,
                user_kvno: 1,
                key: server.clone(),
            };
            let ticket = tickets::seal_service_ticket(&host_key, host, 1, &st_body, &rng).unwrap();
            let key_for_gateway = tickets::wrap_for_gateway(&kdc_session, host, &n3, &server, t + 305, &rng);
            let tgs_reply = kdc::TgsReply::new(
                &gw_key,
                &n3,
                &kdc::TgsReplyBody { kvno: 1, ticket, key_for_gateway }.encode().unwrap(),
                &rng,
            );
            let cache =
                kdc::CredentialsCache { user: user.into(), expires: t + kdc::TGT_LIFE, tgt, key: kdc_session.clone() };
            let table = keytab::KeyTable {
                principal: host.into(),
                kind: kdc::PrincipalKind::Host,
                keys: vec![keytab::KeyEntry { kvno: 1, key: host_key.clone(), until: None }],
            };
            vec![
                ("gateway_key".into(), hex::encode(gw_key.expose())),
                ("kdc_key".into(), hex::encode(kdc_key.expose())),
                ("host_key".into(), hex::encode(host_key.expose())),
                ("password".into(), "correct horse".into()),
                ("user_key".into(), hex::encode(user_key.expose())),
                ("kdc_session_key".into(), hex::encode(kdc_session.expose())),
                ("server_session_key".into(), hex::encode(server.expose())),
                ("time".into(), t.to_string()),
                ("params_request".into(), x(params_req.to_frame())),
                ("params".into(), x(params.to_frame())),
                ("as_request".into(), x(as_req.to_frame())),
                ("as_reply".into(), x(as_reply.to_frame())),
                ("tgs_request".into(), x(tgs_req.to_frame())),
                ("tgs_reply".into(), x(tgs_reply.to_frame())),
                ("credentials_cache".into(), cache.to_text().unwrap().to_string()),
                ("keytab".into(), escape(&table.to_text())),
            ]
        },
    );
    let k32 = |n: &str| Secret::<32>::new(h(&f[n]).try_into().unwrap());
    assert_eq!((k32("gateway_key").expose(), k32("kdc_key").expose()), (gw_key.expose(), kdc_key.expose()));
    // The user key from the password (Argon2id as RFC 9106 defines it).
    let user_key = tickets::user_key(f["password"].as_bytes(), &argon2).unwrap();
    assert_eq!(hex::encode(user_key.expose()), f["user_key"]);
    let t: u64 = f["time"].parse().unwrap();

    let m = kdc::ParamsRequest::from_bytes(&h(&f["params_request"])).unwrap();
    assert_eq!(m.to_frame().unwrap(), h(&f["params_request"]));
    let body = kdc::ParamsRequestBody::decode(&m.open(&gw_key, &ch1).unwrap()).unwrap();
    assert_eq!((body.nonce, body.user.as_str()), (n1, user));
    assert!(m.open(&gw_key, &ch2).is_none(), "bound to its connection");
    let m = kdc::Params::from_bytes(&h(&f["params"])).unwrap();
    assert_eq!(kdc::Argon2Params::decode(&m.open(&gw_key, &n1).unwrap()).unwrap(), argon2);

    let m = kdc::AsRequest::from_bytes(&h(&f["as_request"])).unwrap();
    let body = kdc::AsRequestBody::decode(&m.open(&gw_key, &ch2).unwrap()).unwrap();
    assert_eq!(tickets::open_preauth(&user_key, user, &ch2, &n2, &body.preauth), Some(t));
    let m = kdc::AsReply::from_bytes(&h(&f["as_reply"])).unwrap();
    let reply = kdc::AsReplyBody::decode(&m.open(&gw_key, &n2).unwrap()).unwrap();
    let (session, expires) = tickets::unwrap_for_user(&user_key, user, &n2, &reply.key_for_user).unwrap();
    assert_eq!((hex::encode(session.expose()), expires), (f["kdc_session_key"].clone(), t + kdc::TGT_LIFE));
    let tgt = tickets::open_tgt(&kdc_key, &reply.tgt).unwrap();
    assert!(tgt.key.ct_eq(&session) && tgt.user == user && tgt.client == "192.0.2.9" && tgt.user_kvno == 1);

    let m = kdc::TgsRequest::from_bytes(&h(&f["tgs_request"])).unwrap();
    let body = kdc::TgsRequestBody::decode(&m.open(&gw_key, &ch3).unwrap()).unwrap();
    let a =
        tickets::open_authenticator(&session, b"sslx-kdc-tgs-authenticator-v1", host, &ch3, &n3, &body.authenticator);
    assert_eq!(a, Some((user.to_owned(), t + 5)));
    let m = kdc::TgsReply::from_bytes(&h(&f["tgs_reply"])).unwrap();
    let reply = kdc::TgsReplyBody::decode(&m.open(&gw_key, &n3).unwrap()).unwrap();
    let (server, _) = tickets::unwrap_for_gateway(&session, host, &n3, &reply.key_for_gateway).unwrap();
    assert_eq!(hex::encode(server.expose()), f["server_session_key"]);
    let table = keytab::KeyTable::parse(&unescape(&f["keytab"]), "vector").unwrap();
    let st = tickets::open_service_ticket(table.key(reply.kvno, t).unwrap(), host, reply.kvno, &reply.ticket).unwrap();
    assert!(st.key.ct_eq(&server) && st.user == user && st.expires == t + 305);
    let cache = kdc::CredentialsCache::from_text(&f["credentials_cache"]).unwrap();
    assert!(cache.key.ct_eq(&session) && cache.tgt == reply_tgt_of(&f, &gw_key, &n2));
}

/// Remote execution's two records (PROTOCOL.md 5H) and M1's key reference to a service ticket.
#[test]
fn exec_command_and_decision_vector() {
    use sslx::execd::{ExecCommand, ExecDecision};
    let f = write_once(
        &dir("kdc/exec.txt"),
        "# The command and the decision of remote execution (docs/PROTOCOL.md 5H), as record plaintexts in hex, and\n\
         # the body of an M1 whose key reference is a service ticket (kind 2: kvno 3, ticket 0xaa x 8).\n",
        || {
            let cmd = ExecCommand { as_user: String::new(), argv: vec!["/bin/echo".into(), "hello web1".into()] };
            let yes = ExecDecision { allowed: true, local_user: "ops".into(), reason: String::new() };
            let no = ExecDecision { allowed: false, local_user: String::new(), reason: "no rule".into() };
            let m1 = sslx::session::M1 {
                versions: vec![1],
                suites: vec![1, 2],
                key_ref: sslx::session::KeyRef::ServiceTicket { kvno: 3, ticket: vec![0xaa; 8] },
                client_nonce: [0x11; 32],
                ephemeral: None,
                client_name: "alice".into(),
            };
            vec![
                ("command".into(), hex::encode(cmd.encode().unwrap())),
                ("allowed".into(), hex::encode(yes.encode().unwrap())),
                ("denied".into(), hex::encode(no.encode().unwrap())),
                ("m1".into(), hex::encode(m1.to_frame().unwrap())),
            ]
        },
    );
    let cmd = ExecCommand::decode(&h(&f["command"])).unwrap();
    assert_eq!(cmd.argv, ["/bin/echo", "hello web1"]);
    assert!(ExecDecision::decode(&h(&f["allowed"])).unwrap().allowed);
    assert_eq!(ExecDecision::decode(&h(&f["denied"])).unwrap().reason, "no rule");
    let m1 = sslx::session::M1::from_bytes(&h(&f["m1"])).unwrap();
    assert_eq!(m1.key_ref, sslx::session::KeyRef::ServiceTicket { kvno: 3, ticket: vec![0xaa; 8] });
    assert_eq!(m1.to_frame().unwrap(), h(&f["m1"]));
}

/// The audit trail (PROTOCOL.md 5H): two lines of a chained file as `sslx-execd` appends them,
/// and a syslog message cut to 480 bytes. The hashes are checked here as the spec words them.
#[test]
fn audit_trail_vector() {
    use sslx::execd::audit::{syslog_message, AuditRecord, ChainFile, Event, GENESIS};
    let f = write_once(
        &dir("kdc/audit.txt"),
        "# Two lines of sslx-execd's hash-chained audit file and the syslog message of a long command cut to\n\
         # 480 bytes (docs/PROTOCOL.md 5H, the audit trail).\n",
        || {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("audit.jsonl");
            let file = ChainFile::open(&path).unwrap();
            let mut started = AuditRecord {
                seq: None,
                time: "2026-12-04T01:00:00Z".into(),
                host: "web1".into(),
                event: Event::Started,
                principal: "alice".into(),
                from: "192.0.2.9".into(),
                gateway: "127.0.0.1:40000".into(),
                argv: vec!["/bin/echo".into(), "hello \"web1\"".into()],
                argv_cut: None,
                as_user: None,
                local_user: Some("ops".into()),
                reason: None,
                exit: None,
                signal: None,
                stopped: None,
                bytes_out: None,
                error: None,
                prev: None,
                hash: None,
            };
            file.append(&mut started.clone()).unwrap();
            started.event = Event::Finished;
            started.time = "2026-12-04T01:00:01Z".into();
            started.exit = Some(0);
            started.bytes_out = Some(13);
            let hash = file.append(&mut started.clone()).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let mut long = started.clone();
            long.argv = vec!["/bin/echo".into(), "x".repeat(600)];
            vec![
                ("line1".into(), lines[0].to_owned()),
                ("line2".into(), lines[1].to_owned()),
                ("syslog_long_480".into(), syslog_message(&long, Some(&hash), 480)),
            ]
        },
    );
    let own = |line: &str| {
        let (body, hash) = line.rsplit_once(",\"hash\":\"").unwrap();
        let hash = hash.strip_suffix("\"}").unwrap();
        assert_eq!(hex::encode(ring::digest::digest(&ring::digest::SHA256, format!("{body}}}").as_bytes())), hash);
        hash.to_owned()
    };
    let (h1, h2) = (own(&f["line1"]), own(&f["line2"]));
    let (r1, r2): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&f["line1"]).unwrap(), serde_json::from_str(&f["line2"]).unwrap());
    assert_eq!((r1["seq"].as_u64(), r1["prev"].as_str()), (Some(1), Some(GENESIS)));
    assert_eq!((r2["seq"].as_u64(), r2["prev"].as_str()), (Some(2), Some(h1.as_str())));
    let file = format!("{}\n{}\n", f["line1"], f["line2"]);
    let v = sslx::execd::audit::verify_bytes(file.as_bytes()).unwrap();
    assert_eq!((v.records, v.last_hash), (2, h2.clone()));
    let cut = &f["syslog_long_480"];
    assert!(cut.len() <= 480 && cut.starts_with(&format!("{{\"hash\":\"{h2}\",\"time\"")), "{cut}");
    let m: serde_json::Value = serde_json::from_str(cut).unwrap();
    assert!(m["argv"][1].as_str().unwrap().ends_with(" bytes cut]"));
}

/// The web face's session cookie and CSRF tokens (PROTOCOL.md 5I) with a fixed web key and nonce,
/// checked here with ring's primitives as the spec words them.
#[test]
fn web_session_vector() {
    use sslx::gateway::web::WebKeys;
    let f = write_once(
        &dir("kdc/web.txt"),
        "# The gateway's web face (docs/PROTOCOL.md 5I): web key 0x42 x 32, its two HKDF-SHA256 keys, a\n\
         # session cookie sealing the cache text below with nonce 0x07 x 12, and the CSRF tokens of a login form\n\
         # (pre-login cookie below) and of that session.\n",
        || {
            let w = sslx::crypto::Secret::new([0x42; 32]);
            let (seal, csrf) = WebKeys::sub_keys(&w);
            let keys = WebKeys::derive(&w);
            let cache = "sslx-ccache1:AAAABWFsaWNl";
            let nonce = [7u8; 12];
            let parts: [&[u8]; 1] = [&nonce];
            let rng = fixed_rng(&parts);
            let cookie = keys.seal(cache, &rng).unwrap();
            let pre = "AAECAwQFBgcICQoLDA0ODw";
            vec![
                ("web_key".into(), hex::encode([0x42; 32])),
                ("seal_key".into(), hex::encode(seal.expose())),
                ("csrf_key".into(), hex::encode(csrf.expose())),
                ("cache".into(), cache.into()),
                ("session_cookie".into(), cookie.clone()),
                ("pre_cookie".into(), pre.into()),
                ("login_csrf".into(), keys.csrf("login", pre)),
                ("session_csrf".into(), keys.csrf("session", &cookie)),
            ]
        },
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(&h(&f["web_key"]));
    struct L;
    impl ring::hkdf::KeyType for L {
        fn len(&self) -> usize {
            32
        }
    }
    for (info, want) in [(&b"sslx-gateway web seal"[..], "seal_key"), (b"sslx-gateway web csrf", "csrf_key")] {
        let mut k = [0u8; 32];
        prk.expand(&[info], L).unwrap().fill(&mut k).unwrap();
        assert_eq!(hex::encode(k), f[want], "{want}");
    }
    let raw = b64.decode(&f["session_cookie"]).unwrap();
    let (nonce, body) = raw.split_at(12);
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &h(&f["seal_key"])).unwrap(),
    );
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(
            ring::aead::Nonce::try_assume_unique_for_key(nonce).unwrap(),
            ring::aead::Aad::from(b"sslx-gateway-session1"),
            &mut body,
        )
        .unwrap();
    assert_eq!(plain, f["cache"].as_bytes());
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &h(&f["csrf_key"]));
    for (purpose, bound, token) in
        [("login", "pre_cookie", "login_csrf"), ("session", "session_cookie", "session_csrf")]
    {
        let tag = ring::hmac::sign(&mac, &[purpose.as_bytes(), b"\0", f[bound].as_bytes()].concat());
        assert_eq!(b64.encode(tag.as_ref()), f[token], "{token}");
    }
    let keys = WebKeys::derive(&sslx::crypto::Secret::new(h(&f["web_key"]).try_into().unwrap()));
    assert_eq!(keys.open(&f["session_cookie"]).unwrap().as_str(), f["cache"]);
}

/// The gateway's JSON (PROTOCOL.md 5G) as its encoders write it: a login's request and answer,
/// an exec request, each event of an exec's NDJSON answer, and an error answer.
#[test]
fn gateway_json_vector() {
    use sslx::remote::*;
    let f = write_once(
        &dir("kdc/gateway_json.txt"),
        "# The gateway's HTTPS API bodies (docs/PROTOCOL.md 5G), one JSON text each, as sslx writes them.\n",
        || {
            let events = [
                ExecEvent::Started { host: "web1".into(), local_user: "ops".into() },
                ExecEvent::Stdout { data: "aGVsbG8K".into() },
                ExecEvent::Stderr { data: "b29wcwo=".into() },
                ExecEvent::Exit { code: 3 },
                ExecEvent::Signal { signal: 15 },
                ExecEvent::Error { error: "kdc_unavailable".into(), message: "the host hung up".into() },
            ];
            let mut v = vec![
                (
                    "login_request".into(),
                    serde_json::to_string(&LoginRequest { user: "alice".into(), password: "correct horse".into() })
                        .unwrap(),
                ),
                (
                    "login_answer".into(),
                    serde_json::to_string(&LoginAnswer {
                        user: "alice".into(),
                        credentials_cache: "sslx-ccache1:AA".into(),
                        expires: 1_800_036_000,
                    })
                    .unwrap(),
                ),
                (
                    "exec_request".into(),
                    serde_json::to_string(&ExecRequest {
                        credentials_cache: "sslx-ccache1:AA".into(),
                        host: "web1".into(),
                        argv: vec!["/bin/echo".into(), "hello".into()],
                        as_user: String::new(),
                        stdin: "aGk=".into(),
                    })
                    .unwrap(),
                ),
                (
                    "error_answer".into(),
                    serde_json::to_string(&ErrorAnswer { error: "denied".into(), message: "no rule".into() }).unwrap(),
                ),
            ];
            for (i, e) in events.iter().enumerate() {
                v.push((format!("event{i}"), serde_json::to_string(e).unwrap()));
            }
            v
        },
    );
    for i in 0..6 {
        let e: ExecEvent = serde_json::from_str(&f[&format!("event{i}")]).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), f[&format!("event{i}")]);
    }
    let r: ExecRequest = serde_json::from_str(&f["exec_request"]).unwrap();
    assert_eq!((r.host.as_str(), r.argv.len()), ("web1", 2));
    let a: ErrorAnswer = serde_json::from_str(&f["error_answer"]).unwrap();
    assert_eq!(a.error, "denied");
    assert!(serde_json::from_str::<LoginAnswer>(&f["login_answer"]).is_ok());
    assert!(serde_json::from_str::<LoginRequest>(&f["login_request"]).is_ok());
}

/// The TGT inside the vector's login reply.
fn reply_tgt_of(f: &BTreeMap<String, String>, gw_key: &Secret<32>, nonce: &[u8; 16]) -> Vec<u8> {
    let m = sslx::kdc::AsReply::from_bytes(&h(&f["as_reply"])).unwrap();
    sslx::kdc::AsReplyBody::decode(&m.open(gw_key, nonce).unwrap()).unwrap().tgt
}

/// The VSU's text forms (PROTOCOL.md 5.1-5.4), from the frames of wire/vsu_transcript.txt: reply A
/// as `sslx vsu --out` writes it, the reply B email as the CDS writes it and three ways a person
/// may paste it back (each must give the same key line), reply C's text and webhook JSON, and an
/// open request carrying a proof of the registered key. Written once, then checked.
#[test]
fn vsu_text_forms_vector() {
    let t = transcript();
    let a = ReplyA::from_bytes(&h(&t["reply_a"])).unwrap();
    let b = ReplyB::find_in(&t["reply_b_line"]).unwrap();
    let rid = sslx::vsu::msgs::request_id_hex(&a.request_id);
    let (subject, body) = sslx::cds::mail::reply_b_email("alice", &rid, &b.to_armor(), &a.cds_http);
    let c = ReplyC { request_id: a.request_id, name: "alice".into(), pin: PIN.into() };
    let old = fixed_identity();
    let new = Identity {
        name: "alice".into(),
        x25519: Secret::new(crypto::sha256(b"vector alice x25519 2")),
        ed25519_seed: Secret::new(crypto::sha256(b"vector alice ed25519 2")),
    };
    let mut open = OpenRequest {
        ar: AR_VSU_DS.into(),
        name: "alice".into(),
        public: new.public(),
        email: "alice@example.com".into(),
        oob: "https://hooks.example.com/sslx".into(),
        signature: [0; 64],
        proof: None,
    };
    let signed = open.signed_bytes(&CHALLENGE).unwrap();
    open.signature = new.sign(&signed);
    open.proof = Some(old.sign(&signed));
    let quoted = |text: &str| text.lines().map(|l| format!("> {l}\n")).collect::<String>();
    // A mail client that wraps the long key line quoted-printable style ("=" at the break), then quotes.
    let line = b.to_line();
    let soft = body.replace(&line, &format!("{}=\n{}", &line[..40], &line[40..]));
    let f = write_once(
        &dir("wire/vsu_text.txt"),
        "# The VSU's text forms (docs/PROTOCOL.md 5.1-5.4) for the request of wire/vsu_transcript.txt. In values,\n\
         # \\n is LF, \\r is CR and \\\\ is a backslash. reply_b_pasted_*: what a reader must take, each giving\n\
         # reply_b_line. open_request_with_proof: a new key for the registered name alice (X25519 secret\n\
         # SHA-256(\"vector alice x25519 2\"), Ed25519 seed SHA-256(\"vector alice ed25519 2\")), its signature by the\n\
         # new key, its proof by the key of vsu_transcript.txt, over the same bytes with challenge 0x77 x 32.\n",
        || {
            [
                ("reply_a_armor", escape(&a.to_armor().unwrap())),
                ("reply_b_line", line.clone()),
                ("reply_b_armor", escape(&b.to_armor())),
                ("reply_b_email_subject", subject.clone()),
                ("reply_b_email_body", escape(&body)),
                ("reply_b_pasted_quoted", escape(&quoted(&body))),
                ("reply_b_pasted_soft_broken_then_quoted", escape(&quoted(&soft))),
                ("reply_b_pasted_crlf", escape(&body.replace('\n', "\r\n"))),
                ("reply_c_text", c.text()),
                ("reply_c_webhook_json", serde_json::to_string(&c.json()).unwrap()),
                ("open_request_with_proof", hex::encode(open.to_frame().unwrap())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        },
    );
    // The encoders reproduce the forms.
    assert_eq!(unescape(&f["reply_a_armor"]), a.to_armor().unwrap());
    assert_eq!(ReplyA::from_armor(&unescape(&f["reply_a_armor"])).unwrap(), a);
    assert_eq!(unescape(&f["reply_b_armor"]), b.to_armor());
    assert_eq!(
        (f["reply_b_email_subject"].as_str(), unescape(&f["reply_b_email_body"])),
        (subject.as_str(), body.clone())
    );
    assert_eq!(f["reply_c_text"], c.text());
    let hook: serde_json::Value = serde_json::from_str(&f["reply_c_webhook_json"]).unwrap();
    assert_eq!(hook, c.json());
    assert_eq!(ReplyC::pin_in(hook["text"].as_str().unwrap()).as_deref(), Some(PIN));
    // Every pasted form gives reply B's line.
    for k in [
        "reply_b_armor",
        "reply_b_email_body",
        "reply_b_pasted_quoted",
        "reply_b_pasted_soft_broken_then_quoted",
        "reply_b_pasted_crlf",
    ] {
        assert_eq!(ReplyB::find_in(&unescape(&f[k])).unwrap().to_line(), f["reply_b_line"], "{k}");
    }
    // The open request with a proof: both signatures hold over the same bytes, bound to the challenge.
    let o = OpenRequest::from_bytes(&h(&f["open_request_with_proof"])).unwrap();
    assert_eq!(o.to_frame().unwrap(), h(&f["open_request_with_proof"]));
    assert!(o.signature_valid(&CHALLENGE));
    let m = o.signed_bytes(&CHALLENGE).unwrap();
    assert!(crypto::ed25519_verify(&old.public().ed25519, &m, &o.proof.unwrap()));
    assert!(!crypto::ed25519_verify(&old.public().ed25519, &o.signed_bytes(&[0; 32]).unwrap(), &o.proof.unwrap()));
}

#[test]
fn session_key_schedule_matches_the_independent_implementation() {
    use sslx::session::keys;
    for p in files("session") {
        let f = read_fields(&p);
        if matches!(
            f.get("kind").map(String::as_str),
            Some("transcript") | Some("listener_hello") | Some("exec_records")
        ) {
            continue;
        }
        let a32 = |k: &str| -> [u8; 32] { h(&f[k]).try_into().unwrap() };
        let dh = f.get("dh").map(|d| h(d));
        let mk = keys::master_key(
            &a32("psk"),
            &a32("server_nonce"),
            &a32("client_nonce"),
            &h(&f["m1"]),
            &h(&f["m2"]),
            dh.as_deref(),
        );
        assert_eq!(hex::encode(mk.expose()), f["master_key"], "{}", p.display());
        assert_eq!(hex::encode(keys::key_id(&mk)), f["key_id"]);
        assert_eq!(hex::encode(keys::direction_key(&mk, &f["client_name"]).expose()), f["client_key"]);
        assert_eq!(hex::encode(keys::direction_key(&mk, &f["server_name"]).expose()), f["server_key"]);
        assert_eq!(hex::encode(keys::finished(&mk, &a32("client_nonce"), &a32("server_nonce"))), f["client_finished"]);
        assert_eq!(hex::encode(keys::finished(&mk, &a32("server_nonce"), &a32("client_nonce"))), f["server_finished"]);
    }
}

/// A whole session with a fixed PSK and no ephemeral keys: M1, M2, M3, M4, a data record each
/// way and the final records. Written once, then always checked.
fn session_transcript() -> BTreeMap<String, String> {
    use sslx::session::handshake::{ClientParams, ServerParams};
    use sslx::session::*;
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap();
    let path = dir("session/transcript_aes256gcm_no_fs.txt");
    if must_write(&path) {
        let rng = crypto::system_rng();
        let psk = Secret::new(crypto::sha256(b"vector session psk"));
        let cp = ClientParams {
            name: "alice".into(),
            key_ref: KeyRef::Ticket(b"opaque ticket bytes".to_vec()),
            psk: psk.clone(),
            forward_secrecy: false,
            suites: vec![1, 2],
            expect_server: Some("bob".into()),
        };
        let (c, m1) = client_start(cp, &rng).unwrap();
        let m1m = M1::from_bytes(&m1).unwrap();
        let (mut s, m2, m4) = server_accept(
            &m1m,
            &m1,
            ServerParams { name: "bob".into(), psk: psk.clone(), suites: vec![1, 2], forward_secrecy: true },
            &rng,
        )
        .unwrap();
        let (mut cs, m3) = c.on_m2(&sslx::wire::Frame::parse(&m2).unwrap()).unwrap();
        let c_data = cs.sender.seal(b"hello bob", false).unwrap();
        let c_final = cs.sender.seal(b"", true).unwrap();
        let s_final = s.sender.seal(b"bye", true).unwrap();
        let mut text = String::from(
            "# A session with a fixed PSK, no ephemeral keys, AES-256-GCM. Frames in hex.\nkind: transcript\n",
        );
        for (k, v) in [
            ("psk", hex::encode(psk.expose())),
            ("m1", hex::encode(&m1)),
            ("m2", hex::encode(&m2)),
            ("m3", hex::encode(&m3)),
            ("m4", hex::encode(&m4)),
            ("client_data", hex::encode(&c_data)),
            ("client_final", hex::encode(&c_final)),
            ("server_final", hex::encode(&s_final)),
        ] {
            text.push_str(&format!("{k}: {v}\n"));
        }
        std::fs::write(&path, text).unwrap();
    }
    read_fields(&path)
}

/// Opens the transcript's records `frames` (keys of `f`) as `sender`'s, in order, with the
/// direction key and finished value of `mk`: (plaintext or "finished", final flag) each.
fn open_records(
    f: &BTreeMap<String, String>,
    mk: &Secret<32>,
    suite: sslx::session::Suite,
    sender: &str,
    own: [u8; 32],
    other: [u8; 32],
    frames: &[&str],
) -> Vec<(Vec<u8>, bool)> {
    use sslx::session::keys;
    use sslx::session::record::{Received, RecordReceiver};
    let mut r = RecordReceiver::new(suite, &keys::direction_key(mk, sender), keys::finished(mk, &own, &other));
    frames
        .iter()
        .map(|k| {
            let fr = sslx::wire::Frame::parse(&h(&f[*k])).unwrap();
            let mut body = fr.body.clone();
            match r.open(&fr.header(), &mut body).unwrap() {
                Received::Finished => (b"finished".to_vec(), false),
                Received::Data { data, last, .. } => (data.to_vec(), last),
            }
        })
        .collect()
}

#[test]
fn session_transcript_vector() {
    use sslx::session::keys;
    use sslx::session::{Suite, M1, M2};
    let f = session_transcript();
    let (m1b, m2b) = (h(&f["m1"]), h(&f["m2"]));
    let m1 = M1::from_bytes(&m1b).unwrap();
    let m2 = M2::from_bytes(&m2b).unwrap();
    assert_eq!(m1.to_frame().unwrap(), m1b);
    assert_eq!(m2.to_frame().unwrap(), m2b);
    assert_eq!((m2.client_nonce, m2.suite, m2.ephemeral), (m1.client_nonce, 1, None));
    let psk: [u8; 32] = h(&f["psk"]).try_into().unwrap();
    let mk = keys::master_key(&psk, &m2.server_nonce, &m1.client_nonce, &m1b, &m2b, None);
    let open_all =
        |sender: &str, own, other, frames: &[&str]| open_records(&f, &mk, Suite::Aes256Gcm, sender, own, other, frames);
    let from_client = open_all("alice", m1.client_nonce, m2.server_nonce, &["m3", "client_data", "client_final"]);
    assert_eq!(from_client, vec![(b"finished".to_vec(), false), (b"hello bob".to_vec(), false), (vec![], true)]);
    let from_server = open_all("bob", m2.server_nonce, m1.client_nonce, &["m4", "server_final"]);
    assert_eq!(from_server, vec![(b"finished".to_vec(), false), (b"bye".to_vec(), true)]);
}

#[test]
fn ah_cds_messages_vector() {
    use sslx::broker::msgs::*;
    use sslx::broker::{Ticket, TicketBody};
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap();
    let path = dir("wire/ah_cds.txt");
    let cdsk_a = Secret::new(crypto::sha256(b"vector cdsk a"));
    let cdsk_b = Secret::new(crypto::sha256(b"vector cdsk b"));
    let dsmk = Secret::new(crypto::sha256(b"vector dsmk"));
    let nonce = [0x11u8; 16];
    if must_write(&path) {
        let rng = crypto::system_rng();
        let req = SessionRequest::new("alice", &cdsk_a, &CHALLENGE, &RequestBody { peer: "bob".into(), nonce }, &rng)
            .unwrap();
        let ticket = Ticket::seal(
            [0x22; 16],
            "bob",
            &cdsk_b,
            &TicketBody { dsmk: dsmk.clone(), caller: "alice".into(), expires: 1_790_000_600 },
            &rng,
        )
        .unwrap();
        let grant = SessionGrant::new(
            &cdsk_a,
            &nonce,
            &GrantBody {
                session_id: [0x22; 16],
                expires: 1_790_000_600,
                dsmk: dsmk.clone(),
                peer: "bob".into(),
                ticket: ticket.encode().unwrap(),
            },
            &rng,
        )
        .unwrap();
        let text = format!(
            "# AH-CDS with fixed CDS keys (sha256 of 'vector cdsk a' / 'vector cdsk b'), DSMK sha256('vector dsmk').\n# The request is bound to the connection challenge.\nchallenge: {}\nsession_request: {}\nsession_grant: {}\nticket: {}\n",
            hex::encode(CHALLENGE),
            hex::encode(req.to_frame().unwrap()),
            hex::encode(grant.to_frame().unwrap()),
            hex::encode(ticket.encode().unwrap())
        );
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    let challenge: [u8; 32] = h(&f["challenge"]).try_into().unwrap();
    let req = SessionRequest::from_bytes(&h(&f["session_request"])).unwrap();
    assert_eq!(req.to_frame().unwrap(), h(&f["session_request"]));
    let body = req.open(&cdsk_a, &challenge).unwrap();
    assert_eq!((body.peer.as_str(), body.nonce), ("bob", nonce));
    assert!(req.open(&cdsk_b, &challenge).is_none());
    assert!(req.open(&cdsk_a, &[0; 32]).is_none(), "bound to its connection");
    let grant = SessionGrant::from_bytes(&h(&f["session_grant"])).unwrap();
    let g = grant.open(&cdsk_a, &nonce).unwrap();
    assert!(g.dsmk.ct_eq(&dsmk));
    assert!(grant.open(&cdsk_a, &[0u8; 16]).is_none(), "a grant is bound to its request's nonce");
    assert_eq!(hex::encode(&g.ticket), f["ticket"]);
    let t = Ticket::decode(&h(&f["ticket"])).unwrap();
    assert_eq!(t.encode().unwrap(), h(&f["ticket"]));
    let tb = t.open(&cdsk_b).unwrap();
    assert!(tb.dsmk.ct_eq(&dsmk));
    assert_eq!((tb.caller.as_str(), tb.expires), ("alice", 1_790_000_600));
    assert!(t.open(&cdsk_a).is_none());
}

#[test]
fn relay_messages_vector() {
    use sslx::relay::*;
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap();
    let path = dir("wire/relay.txt");
    let cdsk_a = Secret::new(crypto::sha256(b"vector cdsk a"));
    let cdsk_b = Secret::new(crypto::sha256(b"vector cdsk b"));
    let (hook_nonce, call_nonce, call_id) = ([0x31u8; 16], [0x32u8; 16], [0x33u8; 16]);
    // The ticket push carries the ticket of wire/ah_cds.txt (bob's, for a call from alice).
    let ticket = h(&read_fields(&dir("wire/ah_cds.txt"))["ticket"]);
    if must_write(&path) {
        let rng = crypto::system_rng();
        let ch = &CHALLENGE;
        let lines = [
            (
                "on_hook",
                OnHook::new(
                    "bob",
                    &cdsk_b,
                    ch,
                    &HookBody { nonce: hook_nonce, service: "session".into() }.encode().unwrap(),
                    &rng,
                )
                .unwrap()
                .to_frame(),
            ),
            (
                "hook_ok",
                HookOk::new(&cdsk_b, &hook_nonce, &HookOkBody { time: 1_790_000_001, keepalive: 30 }.encode(), &rng)
                    .to_frame(),
            ),
            (
                "call",
                Call::new(
                    "alice",
                    &cdsk_a,
                    ch,
                    &CallBody { callee: "bob".into(), nonce: call_nonce, service: "session".into() }.encode().unwrap(),
                    &rng,
                )
                .unwrap()
                .to_frame(),
            ),
            (
                "ring",
                Ring::new(
                    &cdsk_b,
                    &hook_nonce,
                    &RingBody { call_id, caller: "alice".into(), answer_at: None }.encode().unwrap(),
                    &rng,
                )
                .to_frame(),
            ),
            // A ring from another instance over the same store: it names where to answer.
            (
                "ring_answer_elsewhere",
                Ring::new(
                    &cdsk_b,
                    &hook_nonce,
                    &RingBody { call_id, caller: "alice".into(), answer_at: Some("cds2.example:7450".into()) }
                        .encode()
                        .unwrap(),
                    &rng,
                )
                .to_frame(),
            ),
            ("answer", Answer::new("bob", &cdsk_b, ch, &call_id, &rng).unwrap().to_frame()),
            ("call_ok", CallOk::new(&cdsk_a, &call_nonce, &call_id, &rng).to_frame()),
            ("ticket_push", TicketPush::new(&cdsk_b, &hook_nonce, &ticket, &rng).to_frame()),
            (
                "keepalive",
                Keepalive::new(&cdsk_b, &hook_nonce, &TimeBody { time: 1_790_000_031 }.encode(), &rng).to_frame(),
            ),
            (
                "hook_replaced",
                HookReplaced::new(&cdsk_b, &hook_nonce, &TimeBody { time: 1_790_000_099 }.encode(), &rng).to_frame(),
            ),
            (
                "mailbox_notice",
                MailboxNotice::new(
                    &cdsk_b,
                    &hook_nonce,
                    &NoticeBody { time: 1_790_000_050, sender: "alice".into(), bundle_id: [0xb0; 8] }.encode().unwrap(),
                    &rng,
                )
                .to_frame(),
            ),
        ];
        let mut text = format!(
            "# Relay messages (docs/PROTOCOL.md 5C) with fixed CDS keys: alice's CDSK is SHA-256('vector cdsk a'),\n\
             # bob's SHA-256('vector cdsk b'); bob hooks for the service 'session', alice calls him there. Participant messages are bound to the\n\
             # connection challenge; each CDS message opens under its recipient's CDSK and the binding of the\n\
             # message it answers (the hook nonce for hook OK, ring, ticket push, keepalive, hook replaced and mailbox notice; the call\n\
             # nonce for call OK). Hook OK says the CDS time 1790000001 and a keepalive every 30 s.\n\
             # The ticket push's body is the ticket of wire/ah_cds.txt.\n\
             challenge: {}\nhook_nonce: {}\ncall_nonce: {}\ncall_id: {}\n",
            hex::encode(CHALLENGE),
            hex::encode(hook_nonce),
            hex::encode(call_nonce),
            hex::encode(call_id)
        );
        for (k, v) in lines {
            text.push_str(&format!("{k}: {}\n", hex::encode(v.unwrap())));
        }
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    let ch: [u8; 32] = h(&f["challenge"]).try_into().unwrap();
    let on_hook = OnHook::from_bytes(&h(&f["on_hook"])).unwrap();
    assert_eq!(on_hook.to_frame().unwrap(), h(&f["on_hook"]));
    assert_eq!(
        HookBody::decode(&on_hook.open(&cdsk_b, &ch).unwrap()).unwrap(),
        HookBody { nonce: hook_nonce, service: "session".into() }
    );
    assert!(on_hook.open(&cdsk_a, &ch).is_none());
    assert!(on_hook.open(&cdsk_b, &[0; 32]).is_none(), "an on-hook verifies on its own connection only");
    let call = Call::from_bytes(&h(&f["call"])).unwrap();
    assert_eq!(
        CallBody::decode(&call.open(&cdsk_a, &ch).unwrap()).unwrap(),
        CallBody { callee: "bob".into(), nonce: call_nonce, service: "session".into() }
    );
    // The wrap is bound to the message type: a call's bytes do not verify as an answer.
    assert!(Answer { sender: call.sender.clone(), wrapped: call.wrapped.clone() }.open(&cdsk_a, &ch).is_none());
    let ring = Ring::from_bytes(&h(&f["ring"])).unwrap();
    assert_eq!(
        RingBody::decode(&ring.open(&cdsk_b, &hook_nonce).unwrap()).unwrap(),
        RingBody { call_id, caller: "alice".into(), answer_at: None }
    );
    let elsewhere = Ring::from_bytes(&h(&f["ring_answer_elsewhere"])).unwrap();
    assert_eq!(
        RingBody::decode(&elsewhere.open(&cdsk_b, &hook_nonce).unwrap()).unwrap(),
        RingBody { call_id, caller: "alice".into(), answer_at: Some("cds2.example:7450".into()) }
    );
    assert!(ring.open(&cdsk_b, &call_nonce).is_none(), "a ring is bound to its hook");
    assert_eq!(Answer::from_bytes(&h(&f["answer"])).unwrap().open(&cdsk_b, &ch).unwrap(), call_id);
    assert_eq!(
        HookOkBody::decode(&HookOk::from_bytes(&h(&f["hook_ok"])).unwrap().open(&cdsk_b, &hook_nonce).unwrap())
            .unwrap(),
        HookOkBody { time: 1_790_000_001, keepalive: 30 }
    );
    let keepalive = Keepalive::from_bytes(&h(&f["keepalive"])).unwrap();
    assert_eq!(TimeBody::decode(&keepalive.open(&cdsk_b, &hook_nonce).unwrap()).unwrap().time, 1_790_000_031);
    let replaced = HookReplaced::from_bytes(&h(&f["hook_replaced"])).unwrap();
    assert_eq!(TimeBody::decode(&replaced.open(&cdsk_b, &hook_nonce).unwrap()).unwrap().time, 1_790_000_099);
    let notice = MailboxNotice::from_bytes(&h(&f["mailbox_notice"])).unwrap();
    assert_eq!(
        NoticeBody::decode(&notice.open(&cdsk_b, &hook_nonce).unwrap()).unwrap(),
        NoticeBody { time: 1_790_000_050, sender: "alice".into(), bundle_id: [0xb0; 8] }
    );
    // Bound to their type: a keepalive's bytes are no hook-replaced notice (which ends a hook).
    assert!(HookReplaced { wrapped: keepalive.wrapped.clone() }.open(&cdsk_b, &hook_nonce).is_none());
    assert_eq!(CallOk::from_bytes(&h(&f["call_ok"])).unwrap().open(&cdsk_a, &call_nonce).unwrap(), call_id);
    let push = TicketPush::from_bytes(&h(&f["ticket_push"])).unwrap();
    assert_eq!(push.open(&cdsk_b, &hook_nonce).unwrap(), ticket);
    let t = sslx::broker::Ticket::decode(&push.open(&cdsk_b, &hook_nonce).unwrap()).unwrap();
    assert!(t.open(&cdsk_b).is_some(), "the pushed ticket opens under bob's CDSK");
    assert_eq!(
        (hex::encode(hook_nonce), hex::encode(call_nonce), hex::encode(call_id)),
        (f["hook_nonce"].clone(), f["call_nonce"].clone(), f["call_id"].clone())
    );
    assert!(push.open(&cdsk_a, &hook_nonce).is_none());
}

/// A `listen --exec` listener's direction (PROTOCOL 5B, "A listener's command"): M4, stdout,
/// stderr, and the final record with the exit status, made by the production sealer.
#[test]
fn exec_records_vector() {
    use sslx::session::msgs::RemoteExit;
    use sslx::session::record::*;
    use sslx::session::Suite;
    let path = dir("session/exec_records.txt");
    let key = Secret::new(sslx::crypto::sha256(b"vector exec direction key"));
    let finished = sslx::crypto::sha256(b"vector exec finished value");
    let records: [(&str, Vec<u8>, u8); 4] = [
        ("m4", finished.to_vec(), 0),
        ("stdout", b"hi\n".to_vec(), 0),
        ("stderr", b"oops\n".to_vec(), FLAG_STDERR),
        ("exit", RemoteExit::Exited(3).encode().to_vec(), FLAG_FINAL | FLAG_EXIT),
    ];
    if must_write(&path) {
        let mut sender = RecordSender::new(Suite::Aes256Gcm, &key);
        let mut text = String::from(
            "# A listen --exec listener's records (type 0x32, AES-256-GCM, counters 0-3) under the direction key\n\
             # SHA-256('vector exec direction key'); record 0 is M4, the finished value SHA-256('vector exec finished value').\n\
             # Then the command's stdout 'hi\\n' (flags 0), its stderr 'oops\\n' (flags 0x02), and the final record\n\
             # (flags 0x05) holding its exit status: exited (0) with 3.\n",
        );
        text.push_str(&format!(
            "kind: exec_records\nkey: {}\nfinished: {}\n",
            hex::encode(key.expose()),
            hex::encode(finished)
        ));
        for (name, plain, flags) in &records {
            let mut frame = vec![0u8; RECORD_PREFIX + plain.len() + RECORD_TAG];
            frame[RECORD_PREFIX..RECORD_PREFIX + plain.len()].copy_from_slice(plain);
            let n = sender.seal_prepared_flagged(&mut frame, plain.len(), *flags).unwrap();
            text.push_str(&format!("{name}: {}\n", hex::encode(&frame[..n])));
        }
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    let open_all = |take: bool| -> Vec<Result<(Vec<u8>, Stream), String>> {
        let mut r = RecordReceiver::new(Suite::Aes256Gcm, &key, finished);
        if take {
            r.take_command_output();
        }
        records
            .iter()
            .map(|(name, _, _)| {
                let fr = sslx::wire::Frame::parse(&h(&f[*name])).unwrap();
                let mut body = fr.body.clone();
                match r.open(&fr.header(), &mut body) {
                    Ok(Received::Finished) => Ok((b"finished".to_vec(), Stream::Out)),
                    Ok(Received::Data { data, stream, .. }) => Ok((data.to_vec(), stream)),
                    Err(e) => Err(e.to_string()),
                }
            })
            .collect()
    };
    let got = open_all(true);
    assert_eq!(got[0], Ok((b"finished".to_vec(), Stream::Out)));
    assert_eq!(got[1], Ok((b"hi\n".to_vec(), Stream::Out)));
    assert_eq!(got[2], Ok((b"oops\n".to_vec(), Stream::Err)));
    let (exit, stream) = got[3].clone().unwrap();
    assert_eq!((RemoteExit::decode(&exit).unwrap(), stream), (RemoteExit::Exited(3), Stream::Exit));
    // A receiver that is not a caller's (a courier session) refuses the command's flags.
    assert_eq!(open_all(false)[2], Err("a record has unknown flags".into()));
}

#[test]
fn listener_hello_vector() {
    use sslx::session::msgs::ListenerHello;
    let f = read_fields(&dir("session/listener_hello.txt"));
    let hello = ListenerHello::from_bytes(&h(&f["frame"])).unwrap();
    assert_eq!(hello.name, f["name"]);
    assert_eq!(hello.to_frame().unwrap(), h(&f["frame"]));
    // Truncated, and with a name length that runs past the body.
    let frame = h(&f["frame"]);
    assert!(ListenerHello::from_bytes(&frame[..frame.len() - 1]).is_err());
    let mut lying = frame.clone();
    lying[6] = 9;
    assert!(matches!(ListenerHello::from_bytes(&lying), Err(WireError::MissingData(_))));
}

/// One session transcript with the nonces and ephemeral secrets given: M1, M2, M3, M4, a data
/// record each way and the final records. `client_suites` are offered in that order, the listener
/// prefers `server_suites`' order.
struct TranscriptSpec<'a> {
    file: &'a str,
    header: &'a str,
    psk: Secret<32>,
    key_ref: sslx::session::KeyRef,
    forward_secrecy: bool,
    client_suites: Vec<u8>,
    server_suites: Vec<u8>,
    /// Seeds of the client nonce, client ephemeral, server nonce and server ephemeral.
    seed: &'a str,
}

fn fs_transcript(spec: TranscriptSpec<'_>) -> BTreeMap<String, String> {
    use sslx::session::handshake::{ClientParams, ServerParams};
    use sslx::session::*;
    let path = dir("session").join(spec.file);
    write_once(&path, spec.header, || {
        let v = |what: &str| crypto::sha256(format!("{} {what}", spec.seed).as_bytes());
        let (cn, ce, sn, se) = (v("client nonce"), v("client ephemeral"), v("server nonce"), v("server ephemeral"));
        let client_parts: Vec<&[u8]> = if spec.forward_secrecy { vec![&cn, &ce] } else { vec![&cn] };
        let server_parts: Vec<&[u8]> = if spec.forward_secrecy { vec![&sn, &se] } else { vec![&sn] };
        let cp = ClientParams {
            name: "alice".into(),
            key_ref: spec.key_ref.clone(),
            psk: spec.psk.clone(),
            forward_secrecy: spec.forward_secrecy,
            suites: spec.client_suites.clone(),
            expect_server: Some("bob".into()),
        };
        let (c, m1) = client_start(cp, &fixed_rng(&client_parts)).unwrap();
        let (mut s, m2, m4) = server_accept(
            &M1::from_bytes(&m1).unwrap(),
            &m1,
            ServerParams {
                name: "bob".into(),
                psk: spec.psk.clone(),
                suites: spec.server_suites.clone(),
                forward_secrecy: true,
            },
            &fixed_rng(&server_parts),
        )
        .unwrap();
        let (mut cs, m3) = c.on_m2(&sslx::wire::Frame::parse(&m2).unwrap()).unwrap();
        assert!(cs.master_key.ct_eq(&s.master_key));
        let mut f: Vec<(String, String)> = vec![
            ("kind".into(), "transcript".into()),
            ("client_name".into(), "alice".into()),
            ("server_name".into(), "bob".into()),
            ("psk".into(), hex::encode(spec.psk.expose())),
            ("client_nonce".into(), hex::encode(cn)),
            ("server_nonce".into(), hex::encode(sn)),
        ];
        if spec.forward_secrecy {
            f.push(("client_ephemeral_secret".into(), hex::encode(ce)));
            f.push(("server_ephemeral_secret".into(), hex::encode(se)));
        }
        for (k, b) in [
            ("m1", m1),
            ("m2", m2),
            ("m3", m3),
            ("m4", m4),
            ("client_data", cs.sender.seal(b"hello bob", false).unwrap()),
            ("server_data", s.sender.seal(b"hello alice", false).unwrap()),
            ("client_final", cs.sender.seal(b"", true).unwrap()),
            ("server_final", s.sender.seal(b"bye", true).unwrap()),
        ] {
            f.push((k.into(), hex::encode(b)));
        }
        f.push(("master_key".into(), hex::encode(cs.master_key.expose())));
        f.push(("key_id".into(), hex::encode(cs.key_id)));
        f
    })
}

/// Checks a transcript as a second implementation would from the doc: the frames re-encode,
/// the ephemerals are the given secrets' public keys, MK (with the DH when both carry one)
/// matches, and every record opens under its direction key and the chosen suite.
fn check_transcript(f: &BTreeMap<String, String>, suite: sslx::session::Suite) -> Secret<32> {
    use sslx::session::keys;
    use sslx::session::{M1, M2};
    let (m1b, m2b) = (h(&f["m1"]), h(&f["m2"]));
    let (m1, m2) = (M1::from_bytes(&m1b).unwrap(), M2::from_bytes(&m2b).unwrap());
    assert_eq!((m1.to_frame().unwrap(), m2.to_frame().unwrap()), (m1b.clone(), m2b.clone()));
    assert_eq!(hex::encode(m1.client_nonce), f["client_nonce"]);
    assert_eq!(hex::encode(m2.server_nonce), f["server_nonce"]);
    assert_eq!((m2.client_nonce, m2.suite, &m2.key_ref), (m1.client_nonce, suite as u8, &m1.key_ref));
    let dh = match (f.get("client_ephemeral_secret"), f.get("server_ephemeral_secret")) {
        (Some(c), Some(s)) => {
            let (c, s): ([u8; 32], [u8; 32]) = (array(c), array(s));
            let (ce, se) = (m1.ephemeral.expect("M1 carries an ephemeral"), m2.ephemeral.expect("M2 answers one"));
            let dh = x25519_dh(&c, &se);
            assert_eq!(dh, x25519_dh(&s, &ce), "both ends agree");
            let base = |sk: &[u8; 32]| {
                x25519_dh(sk, &{
                    let mut nine = [0u8; 32];
                    nine[0] = 9;
                    nine
                })
            };
            assert_eq!((base(&c), base(&s)), (ce, se), "the ephemerals are the given secrets' keys");
            Some(dh)
        }
        _ => {
            assert_eq!((m1.ephemeral, m2.ephemeral), (None, None));
            None
        }
    };
    let psk: [u8; 32] = array(&f["psk"]);
    let mk = keys::master_key(&psk, &m2.server_nonce, &m1.client_nonce, &m1b, &m2b, dh.as_ref().map(|d| &d[..]));
    assert_eq!(hex::encode(mk.expose()), f["master_key"]);
    assert_eq!(hex::encode(keys::key_id(&mk)), f["key_id"]);
    let open_all = |sender: &str, own, other, frames: &[&str]| open_records(f, &mk, suite, sender, own, other, frames);
    let from_client = open_all("alice", m1.client_nonce, m2.server_nonce, &["m3", "client_data", "client_final"]);
    assert_eq!(from_client, vec![(b"finished".to_vec(), false), (b"hello bob".to_vec(), false), (vec![], true)]);
    let from_server = open_all("bob", m2.server_nonce, m1.client_nonce, &["m4", "server_data", "server_final"]);
    assert_eq!(
        from_server,
        vec![(b"finished".to_vec(), false), (b"hello alice".to_vec(), false), (b"bye".to_vec(), true)]
    );
    mk
}

/// The chain grant → ticket → M1 → MK → Key-ID → resumed M1: a full handshake with forward
/// secrecy whose M1 carries the ticket of wire/ah_cds.txt (PSK = its DSMK), AES-256-GCM; then a
/// resumption by that session's Key-ID (PSK = its MK), with forward secrecy, ChaCha20-Poly1305.
#[test]
fn session_transcripts_with_ephemerals_a_real_ticket_and_a_resumption() {
    use sslx::broker::Ticket;
    use sslx::session::{KeyRef, Suite, M1};
    let ah = read_fields(&dir("wire/ah_cds.txt"));
    let ticket = h(&ah["ticket"]);
    let cdsk_b = Secret::new(crypto::sha256(b"vector cdsk b"));
    let dsmk = Ticket::decode(&ticket).unwrap().open(&cdsk_b).unwrap().dsmk;
    let full = fs_transcript(TranscriptSpec {
        file: "transcript_ticket_fs_aes256gcm.txt",
        header: "# A full handshake, alice calls bob, with forward secrecy. M1 carries the ticket of\n\
                 # wire/ah_cds.txt (it opens under bob's CDSK, SHA-256(\"vector cdsk b\"), to the DSMK that is\n\
                 # the PSK). alice offers suites [1, 2], bob prefers [1, 2]: AES-256-GCM. Nonces and X25519\n\
                 # ephemeral secrets are given. Frames in hex, header included; docs/PROTOCOL.md 5B.\n\
                 # The ticket expires at 1790000600: check it with a time before that.\n",
        psk: dsmk.clone(),
        key_ref: KeyRef::Ticket(ticket.clone()),
        forward_secrecy: true,
        client_suites: vec![1, 2],
        server_suites: vec![1, 2],
        seed: "vector fs session",
    });
    assert_eq!(full["psk"], hex::encode(dsmk.expose()), "the PSK is the ticket's DSMK");
    let m1 = M1::from_bytes(&h(&full["m1"])).unwrap();
    assert_eq!(m1.key_ref, KeyRef::Ticket(ticket), "M1 carries the ah_cds ticket");
    let mk = check_transcript(&full, Suite::Aes256Gcm);

    let key_id: [u8; 16] = array(&full["key_id"]);
    let resumed = fs_transcript(TranscriptSpec {
        file: "transcript_resumed_fs_chacha20.txt",
        header: "# A resumption of transcript_ticket_fs_aes256gcm.txt: M1 names that session's Key-ID\n\
                 # (kind 1) and the PSK is its master key; forward secrecy (both carry an ephemeral).\n\
                 # alice offers only suite 2: ChaCha20-Poly1305. Frames in hex; docs/PROTOCOL.md 5B.\n",
        psk: mk.clone(),
        key_ref: KeyRef::KeyId(key_id),
        forward_secrecy: true,
        client_suites: vec![2],
        server_suites: vec![1, 2],
        seed: "vector resumed session",
    });
    assert_eq!(resumed["psk"], hex::encode(mk.expose()), "a resumption's PSK is the earlier MK");
    assert_eq!(M1::from_bytes(&h(&resumed["m1"])).unwrap().key_ref, KeyRef::KeyId(key_id));
    check_transcript(&resumed, Suite::ChaCha20Poly1305);
    // M3 sealed with ChaCha20-Poly1305 does not open as AES-256-GCM.
    let fr = sslx::wire::Frame::parse(&h(&resumed["m3"])).unwrap();
    let rmk = Secret::new(array(&resumed["master_key"]));
    let (cn, sn): ([u8; 32], [u8; 32]) = (array(&resumed["client_nonce"]), array(&resumed["server_nonce"]));
    let mut r = sslx::session::record::RecordReceiver::new(
        Suite::Aes256Gcm,
        &sslx::session::keys::direction_key(&rmk, "alice"),
        sslx::session::keys::finished(&rmk, &cn, &sn),
    );
    let mut body = fr.body.clone();
    assert!(r.open(&fr.header(), &mut body).is_err());
}

// ---------------------------------------------------------------- courier (PROTOCOL.md 5D)

fn array<const N: usize>(s: &str) -> [u8; N] {
    h(s).try_into().unwrap()
}

#[test]
fn courier_pairing_matches_the_independent_implementation() {
    use sslx::courier::msgs::{PairA1, PairA2, PairB};
    use sslx::courier::pair::{self, Paired, Side};
    let f = read_fields(&dir("courier").join("pairing.txt"));
    let shared = Secret::new(array(&f["shared"]));
    let random_a: [u8; 32] = array(&f["random_a"]);
    let a1 = PairA1 {
        low_version: 1,
        high_version: 1,
        account: "alice".into(),
        x25519: array(&f["public_a"]),
        hash_random_a: crypto::sha256(&random_a),
    }
    .to_frame()
    .unwrap();
    assert_eq!(hex::encode(&a1), f["a1"]);
    let proof_b = pair::proof_b(&shared, &a1, "bob", &array(&f["public_b"]));
    assert_eq!(hex::encode(proof_b), f["proof_b"]);
    let b = PairB { version: 1, account: "bob".into(), x25519: array(&f["public_b"]), proof_b }.to_frame().unwrap();
    assert_eq!(hex::encode(&b), f["b"]);
    let a2 = PairA2 { random_a }.to_frame().unwrap();
    assert_eq!(hex::encode(&a2), f["a2"]);
    let acceptor = Paired::new("alice".into(), Side::Acceptor, &shared, &a1, &b, &a2);
    let initiator = Paired::new("bob".into(), Side::Initiator, &shared, &a1, &b, &a2);
    assert_eq!(acceptor.short_string, f["short_string"]);
    assert_eq!(hex::encode(acceptor.ltk().expose()), f["ltk"]);
    assert_eq!(encode_line(LineKind::PairKey, acceptor.ltk().expose()), f["ltk_line"]);
    // Each side's confirmation is the other's expected one.
    let conf = |p: &Paired| hex::encode(&sslx::wire::Frame::parse(&p.confirmation()).unwrap().body);
    assert_eq!(conf(&initiator), f["confirm_a"]);
    assert_eq!(conf(&acceptor), f["confirm_b"]);
    acceptor.check_confirmation(&sslx::wire::Frame::parse(&initiator.confirmation()).unwrap()).unwrap();
}

#[test]
fn courier_transfer_values_match_the_independent_implementation() {
    use sslx::courier::msgs::{BundleSuite, Mode, TransferA1};
    use sslx::courier::proofs::{aead_key, direction_key, triple_des_keys, Challenges, FileHash, Resume};
    let f = read_fields(&dir("courier").join("transfer.txt"));
    let ltk = Secret::new(array(&f["ltk"]));
    let skey = Secret::new(array(&f["skey"]));
    let a1 = TransferA1 {
        low_version: 1,
        high_version: 1,
        mode: Mode::Online,
        suite: BundleSuite::Aes256Gcm,
        account: f["sender"].clone(),
        recipient: f["recipient"].clone(),
        challenge_a: array(&f["challenge_a"]),
    }
    .to_frame()
    .unwrap();
    assert_eq!(hex::encode(&a1), f["a1"]);
    let kd = direction_key(&ltk, &f["sender"], &f["recipient"]).unwrap();
    assert_eq!(hex::encode(kd.expose()), f["direction_key"]);
    let c = Challenges::new(array(&f["challenge_a"]), array(&f["challenge_b"]), &a1);
    assert_eq!(hex::encode(c.proof_b(&kd)), f["proof_b"]);
    assert_eq!(hex::encode(c.proof_a(&kd)), f["proof_a"]);
    let delta = c.delta_key(&kd, skey.expose());
    assert_eq!(hex::encode(delta), f["delta_key"]);
    assert_eq!(hex::encode(c.key_proof(&skey)), f["key_proof"]);
    let back = c.open_a2(&kd, &c.proof_a(&kd), &delta, &c.key_proof(&skey)).unwrap();
    assert!(back.ct_eq(&skey));
    // The other direction's key does not open it (no reflection).
    let reverse = direction_key(&ltk, &f["recipient"], &f["sender"]).unwrap();
    assert!(c.open_a2(&reverse, &c.proof_a(&kd), &delta, &c.key_proof(&skey)).is_err());
    assert_eq!(hex::encode(aead_key(&skey).expose()), f["aead_key"]);
    assert_eq!(hex::encode(&triple_des_keys(&skey)[..]), f["des_keys"]);
    let mut fh = FileHash::new(&skey);
    for tag in h(&f["tags"]).chunks(16) {
        fh.update(tag);
    }
    let file_hash = fh.finish();
    assert_eq!(hex::encode(file_hash), f["file_hash"]);
    assert_eq!(hex::encode(c.file_proof(&kd, &file_hash, &Resume::WHOLE)), f["file_proof"]);
    let resumed = Resume { from: f["resume_from"].parse().unwrap(), prefix_hash: array(&f["held_hash"]) };
    assert_eq!(resumed.prefix_hash, crypto::sha256(&vec![0u8; resumed.from as usize]));
    assert_eq!(hex::encode(c.file_proof(&kd, &file_hash, &resumed)), f["file_proof_resumed"]);
}

#[test]
fn a_3des_bundle_written_by_the_independent_implementation_opens() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let f = read_fields(&dir("courier").join("bundle_3des.txt"));
    let home = tempfile::tempdir().unwrap();
    let sslx = || {
        let mut c = assert_cmd::Command::cargo_bin("sslx").unwrap();
        c.env_remove("SSLX_HOME").arg("--home").arg(home.path());
        c
    };
    sslx().args(["keygen", "--name", &f["recipient"]]).assert().success();
    sslx::courier::save_pair_key(&sslx::keys::Home::new(home.path()), &f["sender"], &Secret::new(array(&f["ltk"])))
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    sslx()
        .args(["recv", "--in"])
        .arg(dir("courier").join(&f["file"]))
        .arg("--into")
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("suite 3des"));
    let p = dest.path().join(&f["path"]);
    assert_eq!(hex::encode(crypto::sha256(&std::fs::read(&p).unwrap())), f["content_sha256"]);
    let md = std::fs::metadata(&p).unwrap();
    assert_eq!(format!("{:o}", md.permissions().mode() & 0o777), f["mode"]);
    assert_eq!(md.mtime().to_string(), f["mtime"]);
}

/// A whole offline bundle written by `sslx send --out` (the production encoder) whose payload
/// holds a zstd chunk (kind 1) spanning several records: a folder with 200,000 bytes of hex text
/// (compressible by about half), an empty folder and a link. Written once with a fixed pairing
/// key; `sslx recv --in` must open it to the same tree.
#[test]
fn a_bundle_with_a_zstd_chunk_opens() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = dir("courier/bundle_zstd.sslx");
    let ltk = Secret::new(crypto::sha256(b"vector zstd bundle ltk"));
    let text: String = (0..3125u32).map(|i| hex::encode(crypto::sha256(&i.to_be_bytes()))).collect();
    assert_eq!(text.len(), 200_000);
    let sslx = |home: &Path| {
        let mut c = assert_cmd::Command::cargo_bin("sslx").unwrap();
        c.env_remove("SSLX_HOME").arg("--home").arg(home);
        c
    };
    let f = write_once(
        &dir("courier/bundle_zstd.txt"),
        "# An offline bundle (docs/PROTOCOL.md 5D.2-5D.4) from alice to bob, written by `sslx send --out` with the\n\
         # pairing key below, suite 1 (AES-256-GCM). Its payload is one zstd chunk (kind 1) whose raw and stored\n\
         # lengths each span several records; the tar holds the files below (text: 3,125 SHA-256 values of\n\
         # u32 0..3124 big-endian, in lower-case hex, concatenated).\n",
        || {
            let home = tempfile::tempdir().unwrap();
            sslx(home.path()).args(["keygen", "--name", "alice"]).assert().success();
            sslx::courier::save_pair_key(&sslx::keys::Home::new(home.path()), "bob", &ltk).unwrap();
            let src = tempfile::tempdir().unwrap();
            let notes = src.path().join("notes");
            std::fs::create_dir_all(notes.join("empty")).unwrap();
            let p = notes.join("hex.txt");
            std::fs::write(&p, &text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_456);
            std::fs::File::options().write(true).open(&p).unwrap().set_modified(t).unwrap();
            std::os::unix::fs::symlink("hex.txt", notes.join("latest")).unwrap();
            sslx(home.path()).args(["send", "--to", "bob", "--out"]).arg(&file).arg(&notes).assert().success();
            [
                ("expect", "success".to_owned()),
                ("file", "bundle_zstd.sslx".into()),
                ("sender", "alice".into()),
                ("recipient", "bob".into()),
                ("ltk", hex::encode(ltk.expose())),
                ("path", "notes/hex.txt".into()),
                ("content_sha256", hex::encode(crypto::sha256(text.as_bytes()))),
                ("mode", "644".into()),
                ("mtime", "1700000456".into()),
                ("directory", "notes/empty".into()),
                ("link", "notes/latest -> hex.txt".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        },
    );
    let home = tempfile::tempdir().unwrap();
    sslx(home.path()).args(["keygen", "--name", &f["recipient"]]).assert().success();
    sslx::courier::save_pair_key(&sslx::keys::Home::new(home.path()), &f["sender"], &Secret::new(array(&f["ltk"])))
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    sslx(home.path()).args(["recv", "--in"]).arg(&file).arg("--into").arg(dest.path()).assert().success();
    let p = dest.path().join(&f["path"]);
    assert_eq!(hex::encode(crypto::sha256(&std::fs::read(&p).unwrap())), f["content_sha256"]);
    let md = std::fs::metadata(&p).unwrap();
    assert_eq!(format!("{:o}", md.permissions().mode() & 0o777), f["mode"]);
    assert_eq!(md.mtime().to_string(), f["mtime"]);
    assert!(dest.path().join(&f["directory"]).is_dir());
    let (link, target) = f["link"].split_once(" -> ").unwrap();
    assert_eq!(std::fs::read_link(dest.path().join(link)).unwrap(), Path::new(target));
    // The payload is compressed: the bundle is well under the 200,000 bytes of text.
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 65_280 && size < 150_000, "bundle of {size} bytes");
}

/// An aead bundle with a fixed SKey and challenges (the aead suite has no random IV, so the same
/// inputs give the same bytes). Written once, then checked: the encoder must reproduce it and
/// the reader must open it.
#[test]
fn aead_bundle_vector() {
    use sslx::courier::bundle::{BundleReader, BundleWriter};
    use sslx::courier::msgs::BundleSuite;
    use sslx::courier::proofs::{Challenges, ProofKey, Resume};
    use std::io::{Read, Write};
    let path = dir("courier/bundle_aead.txt");
    let skey = Secret::new(crypto::sha256(b"vector bundle skey"));
    let chs = Challenges {
        a: crypto::sha256(b"vector challenge a"),
        b: crypto::sha256(b"vector challenge b"),
        a1: crypto::sha256(b"vector transfer packet A1"),
    };
    let kd = Secret::new(crypto::sha256(b"vector direction key"));
    let key = ProofKey { challenges: chs, kd: kd.clone(), resume: Resume::WHOLE };
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = BundleWriter::new(Vec::new(), BundleSuite::Aes256Gcm, &skey);
    w.write_all(&payload).unwrap();
    let (mut bundle, sealed) = w.finish().unwrap();
    bundle.extend(sealed.trailer(&key).unwrap());
    if must_write(&path) {
        let fields = [
            ("expect", "success".to_owned()),
            ("suite", "1 (aead, AES-256-GCM)".to_owned()),
            ("skey", hex::encode(skey.expose())),
            ("challenge_a", hex::encode(chs.a)),
            ("challenge_b", hex::encode(chs.b)),
            ("a1_sha256", hex::encode(chs.a1)),
            ("direction_key", hex::encode(kd.expose())),
            ("resume_from", "0 (whole)".to_owned()),
            ("payload", "70000 bytes, byte i = i mod 251".to_owned()),
            ("bundle", hex::encode(&bundle)),
        ];
        let text: String = fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    assert_eq!(hex::encode(&bundle), f["bundle"], "the aead bundle encoding changed");
    let bytes = h(&f["bundle"]);
    let mut frames = sslx::session::io::FrameReader::new(&bytes[..]);
    let mut r = BundleReader::new(&mut frames, BundleSuite::Aes256Gcm, skey, key);
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(r.finish().unwrap(), payload.len() as u64);
    assert_eq!(out, payload);
}

/// A token minted with a fixed key, node, number and clock (Ed25519 signatures are deterministic),
/// unsealed; written once, then checked: the minter must reproduce it and the verifier accept it.
/// gen_independent.py checks its layout and CRC independently.
#[test]
fn token_vector() {
    use sslx::token::{Fields, Keyring, Mint, Verifier};
    let path = dir("token/token.txt");
    let id = Identity::from_file_text(&format!(
        "# sslx identity: node1\n{}\n",
        encode_line(
            LineKind::SecretKey,
            &[crypto::sha256(b"token vector x25519"), crypto::sha256(b"token vector ed25519")].concat()
        )
    ))
    .unwrap();
    let mut fields = Fields::default();
    for (k, v) in [
        ("User-ID", "Fred"),
        ("Email-Address", "fred@fred.org"),
        ("Telephone", "@123.Fred.Telephone"),
        ("Version", "3"),
    ] {
        fields.push(k, v).unwrap();
    }
    let signer = sslx::token::Signer::new(&id);
    let m = Mint {
        node: 1,
        signer: &signer,
        number: 0x0000_1234_5678,
        now: 1_780_000_000,
        ttl: 900,
        fields: &fields,
        to: None,
        max_len: 1024,
    };
    let token = sslx::token::mint(&m, &crypto::system_rng()).unwrap();
    if must_write(&path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = format!(
            "expect: success\nnode: 1\nnumber: 0x12345678\nnow: 1780000000\nttl: 900\npublic_key: {}\nsession_data: {}\ntoken: {token}\n",
            id.public().to_line(),
            fields.to_text().replace('\n', "\\n")
        );
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    assert_eq!(token, f["token"], "the token encoding changed");
    let ring = Keyring::parse(&format!("1 {}\n", f["public_key"])).unwrap();
    let v = sslx::token::verify(
        &token,
        &Verifier { keyring: &ring, me: None, now: 1_780_000_100, skew: 5, max_len: sslx::token::DEFAULT_MAX_LEN },
    )
    .unwrap();
    assert_eq!(v.fields.get("Telephone"), Some("@123.Fred.Telephone"));
    assert_eq!(v.session_id(), "0001:000012345678");
}

/// A node identity from two seeds (X25519 secret SHA-256("SEED x"), Ed25519 seed SHA-256("SEED ed")).
fn seeded_identity(seed: &str) -> Identity {
    Identity {
        name: seed.into(),
        x25519: Secret::new(crypto::sha256(format!("{seed} x").as_bytes())),
        ed25519_seed: Secret::new(crypto::sha256(format!("{seed} ed").as_bytes())),
    }
}

/// A sealed token (PROTOCOL.md 5E): node 1 mints for node 2 with a fixed salt, so the bytes are
/// fixed (the ephemeral derives from the minter's key, Ed25519 is deterministic). Written once;
/// the minter must reproduce it, and every intermediate value is recomputed here from the doc's
/// formulas: ikmE, the ephemeral (DeriveKeyPair), enc, the exported body key, the ciphertext.
#[test]
fn sealed_token_vector() {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    use sslx::token::layout::Token;
    use sslx::token::{Fields, Keyring, Mint, Signer, TokenError, Verifier};
    let (minter, target, other) =
        (seeded_identity("token node1"), seeded_identity("token node2"), seeded_identity("token node3"));
    let salt = crypto::sha256(b"token vector salt")[..16].to_vec();
    let mut fields = Fields::default();
    fields.push("User-ID", "Fred").unwrap();
    fields.push("Role", "admin").unwrap();
    let signer = Signer::new(&minter);
    let parts: [&[u8]; 1] = [&salt];
    let m = Mint {
        node: 1,
        signer: &signer,
        number: 0x42,
        now: 1_780_000_000,
        ttl: 900,
        fields: &fields,
        to: Some((2, target.public().x25519)),
        max_len: 1024,
    };
    let token = sslx::token::mint(&m, &fixed_rng(&parts)).unwrap();
    let f = write_once(
        &dir("token/sealed.txt"),
        "# A token sealed to node 2 (docs/PROTOCOL.md 5E). Node 1's keys: X25519 secret SHA-256(\"token node1 x\"),\n\
         # Ed25519 seed SHA-256(\"token node1 ed\"); node 2's: SHA-256(\"token node2 x\"), SHA-256(\"token node2 ed\").\n\
         # ikm_e = HKDF-SHA256(salt \"sslx-token-ephemeral-v1\", ikm = node 1's X25519 secret, info = salt ‖ session id ‖\n\
         # target, 32 bytes); the ephemeral is DeriveKeyPair(ikm_e) (RFC 9180 7.1.3), its public key is enc; the body key\n\
         # is Export(\"sslx-token-body-v1\", 32) of the base-mode context to node 2 with info \"sslx-token-v2\"; the body\n\
         # is ChaCha20-Poly1305 under it, nonce 12 zero bytes, aad = format id ‖ session id. session_data: \\n is LF.\n",
        || {
            let t = Token::decode(&token).unwrap();
            let s = t.sealed.unwrap();
            let mut info = s.salt.to_vec();
            info.extend_from_slice(&Token::aad(1, 0x42)[1..]);
            info.extend_from_slice(&2u16.to_be_bytes());
            let mut ikm = [0u8; 32];
            crypto::hkdf(b"sslx-token-ephemeral-v1", &info, minter.x25519.expose(), &mut ikm);
            let (sk_e, _) = crypto::derive_x25519_for_testing_only(&ikm);
            let mut key = [0u8; 32];
            crypto::hpke_export_from(&target.x25519, &s.enc, b"sslx-token-v2", b"sslx-token-body-v1", &mut key).unwrap();
            [
                ("expect", "success".to_owned()),
                ("node", "1".into()),
                ("number", "0x42".into()),
                ("now", "1780000000".into()),
                ("ttl", "900".into()),
                ("target_node", "2".into()),
                ("minter_public", minter.public().to_line()),
                ("target_public", target.public().to_line()),
                ("salt", hex::encode(s.salt)),
                ("ikm_e", hex::encode(ikm)),
                ("sk_e", hex::encode(sk_e.expose())),
                ("enc", hex::encode(s.enc)),
                ("body_key", hex::encode(key)),
                ("session_data", escape(&format!("Created: 1780000000\nExpires: 1780000900\n{}", fields.to_text()))),
                ("body", hex::encode(&t.body)),
                ("token", token.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        },
    );
    assert_eq!(f["token"], token, "the sealed token's encoding changed");
    let t = Token::decode(&f["token"]).unwrap();
    let s = t.sealed.unwrap();
    assert_eq!((s.target, hex::encode(s.salt)), (2, f["salt"].clone()));
    // ikm_e, the ephemeral and enc, from the formulas.
    let mut info = s.salt.to_vec();
    info.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0x42]);
    info.extend_from_slice(&[0, 2]);
    let mut ikm = [0u8; 32];
    crypto::hkdf(b"sslx-token-ephemeral-v1", &info, minter.x25519.expose(), &mut ikm);
    assert_eq!(hex::encode(ikm), f["ikm_e"]);
    let (sk_e, pk_e) = crypto::derive_x25519_for_testing_only(&ikm);
    assert_eq!((hex::encode(sk_e.expose()), pk_e), (f["sk_e"].clone(), s.enc));
    // The body key, from either end, and the body.
    let mut key = [0u8; 32];
    crypto::hpke_export_from(&target.x25519, &s.enc, b"sslx-token-v2", b"sslx-token-body-v1", &mut key).unwrap();
    assert_eq!(hex::encode(key), f["body_key"]);
    let mut key2 = [0u8; 32];
    let enc2 =
        crypto::hpke_export_to(&target.public().x25519, b"sslx-token-v2", &ikm, b"sslx-token-body-v1", &mut key2)
            .unwrap();
    assert_eq!((enc2, key2), (s.enc, key));
    let mut body = h(&f["body"]);
    assert_eq!(body, t.body);
    let aead = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    let lines = aead
        .open_in_place(Nonce::assume_unique_for_key([0; 12]), Aad::from([0, 0, 1, 0, 0, 0, 0, 0, 0x42]), &mut body)
        .unwrap();
    assert_eq!(std::str::from_utf8(lines).unwrap(), unescape(&f["session_data"]));
    // The verifier: node 2 reads it, node 3 cannot, the minter can.
    let ring = Keyring::parse(&format!("1 {}\n", f["minter_public"])).unwrap();
    let verify = |me: Option<(u16, &Identity)>| {
        sslx::token::verify(&f["token"], &Verifier { keyring: &ring, me, now: 1_780_000_100, skew: 5, max_len: 1024 })
    };
    let v = verify(Some((2, &target))).unwrap();
    assert!(v.sealed);
    assert_eq!(v.fields.get("Role"), Some("admin"));
    assert!(matches!(verify(Some((3, &other))), Err(TokenError::NotForUs(_))));
    assert!(matches!(verify(Some((2, &other))), Err(TokenError::NotForUs(_))), "node 2's number, another key");
    let opened = sslx::token::seal::open_as_minter(&minter.x25519, &target.public().x25519, &t).unwrap();
    assert_eq!(std::str::from_utf8(&opened).unwrap(), unescape(&f["session_data"]));
}

/// Tokens a verifier must refuse (tests/vectors/token/invalid/), each with the class of its
/// refusal, checked by node 2 against token/keyring.txt. Written once if the folder is missing.
#[test]
fn invalid_token_vectors() {
    use sslx::token::layout::Token;
    use sslx::token::{Fields, Keyring, Mint, Signer, TokenError, Verifier};
    let (n1, n2, n3, n9) = (
        seeded_identity("token node1"),
        seeded_identity("token node2"),
        seeded_identity("token node3"),
        seeded_identity("token node9"),
    );
    let keyring_path = dir("token/keyring.txt");
    let folder = dir("token/invalid");
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = WRITE.lock().unwrap_or_else(|p| p.into_inner());
    if must_write(&keyring_path) {
        std::fs::write(
            &keyring_path,
            format!(
                "# A keyring (docs/PROTOCOL.md 5E): NODE_ID PUBLIC-KEY-LINE [HOST:PORT]; '#' starts a comment.\n\
                 # Node N's keys: X25519 secret SHA-256(\"token nodeN x\"), Ed25519 seed SHA-256(\"token nodeN ed\"). Node 9 is not listed.\n\
                 1 {}   127.0.0.1:7460\n2 {}\n3 {} # no address\n",
                n1.public().to_line(),
                n2.public().to_line(),
                n3.public().to_line()
            ),
        )
        .unwrap();
    }
    if must_write(&folder) {
        std::fs::create_dir_all(&folder).unwrap();
        // A token of node 1 signed over whatever session data it is given (the minter would refuse it).
        let raw = |node: u16, id: &Identity, data: &str| {
            let signed = Token::signed_bytes(node, 5, None, data.as_bytes());
            let signature = crypto::ed25519_sign(id.ed25519_seed.expose(), &signed);
            Token { node, number: 5, sealed: None, body: data.as_bytes().to_vec(), signature }
        };
        let good = "Created: 1780000000\nExpires: 1780000900\nUser-ID: Fred\n";
        let mint = |node: u16, id: &Identity, to: Option<(u16, [u8; 32])>| {
            let signer = Signer::new(id);
            let mut fields = Fields::default();
            fields.push("User-ID", "Fred").unwrap();
            let salt = [7u8; 16];
            let parts: [&[u8]; 1] = [&salt];
            let m = Mint {
                node,
                signer: &signer,
                number: 5,
                now: 1_780_000_000,
                ttl: 900,
                fields: &fields,
                to,
                max_len: 1024,
            };
            if to.is_some() {
                sslx::token::mint(&m, &fixed_rng(&parts)).unwrap()
            } else {
                sslx::token::mint(&m, &crypto::system_rng()).unwrap()
            }
        };
        let mut cases: Vec<(&str, &str, &str, String)> = Vec::new();
        for (name, why, data) in [
            ("cr", "a line ends in CR LF", "Created: 1780000000\r\nExpires: 1780000900\r\n"),
            ("blank_line", "an empty line", "Created: 1780000000\nExpires: 1780000900\n\nUser-ID: Fred\n"),
            ("no_space", "`Key:Value` without the space", "Created: 1780000000\nExpires: 1780000900\nUser-ID:Fred\n"),
            ("two_spaces", "two spaces after the colon", "Created: 1780000000\nExpires: 1780000900\nUser-ID:  Fred\n"),
            (
                "trailing_space",
                "a value ending in a space",
                "Created: 1780000000\nExpires: 1780000900\nUser-ID: Fred \n",
            ),
            ("no_final_lf", "the last line without LF", "Created: 1780000000\nExpires: 1780000900\nUser-ID: Fred"),
            ("created_lower_case", "`created` is not `Created`", "created: 1780000000\nExpires: 1780000900\n"),
            ("expires_first", "Expires before Created", "Expires: 1780000900\nCreated: 1780000000\n"),
            ("leading_zero", "a time with a leading zero", "Created: 01780000000\nExpires: 1780000900\n"),
            (
                "twice",
                "a key given twice (case-insensitively)",
                "Created: 1780000000\nExpires: 1780000900\nuser-id: a\nUser-ID: b\n",
            ),
        ] {
            cases.push((name, "malformed", why, raw(1, &n1, data).encode()));
        }
        let ok = raw(1, &n1, good);
        let mut crc = ok.to_bytes();
        let last = crc.len() - 1;
        crc[last] ^= 1;
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        cases.push(("crc", "malformed", "the CRC-32's last byte changed", b64.encode(&crc)));
        let text = ok.encode();
        cases.push((
            "padding",
            "malformed",
            "base64url with `=` padding",
            format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4)),
        ));
        // Non-zero unused bits in the last character (the bytes decode the same under a lax decoder).
        let n = ok.to_bytes().len();
        assert_ne!(n % 3, 0, "the good token leaves unused bits");
        let mut t = text.clone().into_bytes();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let i = alphabet.iter().position(|c| *c == *t.last().unwrap()).unwrap();
        *t.last_mut().unwrap() = alphabet[i | 1];
        assert_ne!(*t.last().unwrap(), *text.as_bytes().last().unwrap());
        cases.push((
            "trailing_bits",
            "malformed",
            "non-zero unused bits in the last character",
            String::from_utf8(t).unwrap(),
        ));
        let mut tampered = ok.clone();
        tampered.body = good.replace("Fred", "Eve!").into_bytes();
        cases.push((
            "tampered",
            "bad signature",
            "the session data changed after signing (CRC recomputed)",
            tampered.encode(),
        ));
        cases.push((
            "signed_by_another",
            "bad signature",
            "node 1's token signed with node 3's key",
            raw(1, &n3, good).encode(),
        ));
        cases.push(("unknown_node", "unknown node", "minted by node 9, not in the keyring", mint(9, &n9, None)));
        cases.push((
            "sealed_to_node_3",
            "not for this node",
            "sealed to node 3 (the verifier is node 2)",
            mint(1, &n1, Some((3, n3.public().x25519))),
        ));
        cases.push((
            "sealed_with_another_key",
            "not for this node",
            "names node 2 but was sealed to node 3's key",
            mint(1, &n1, Some((2, n3.public().x25519))),
        ));
        cases.push(("expired", "expired", "checked at 1780001000, 95 s after Expires + 5 s skew", ok.encode()));
        for (name, expect, why, token) in cases {
            let now = if name == "expired" { 1_780_001_000 } else { 1_780_000_100 };
            std::fs::write(
                folder.join(format!("{name}.txt")),
                format!(
                    "# Refused by node 2 (X25519 secret SHA-256(\"token node2 x\")) with token/keyring.txt, skew 5 s.\n\
                     expect: {expect}\nwhy: {why}\nnow: {now}\ntoken: {token}\n"
                ),
            )
            .unwrap();
        }
    }
    drop(guard);
    let ring = Keyring::parse(&std::fs::read_to_string(&keyring_path).unwrap()).unwrap();
    assert_eq!(ring.len(), 3);
    assert_eq!((ring.addr(1), ring.addr(3)), (Some("127.0.0.1:7460"), None));
    let mut seen = 0;
    for p in files("token/invalid") {
        let f = read_fields(&p);
        let now: u64 = f["now"].parse().unwrap();
        let e = sslx::token::verify(
            &f["token"],
            &Verifier { keyring: &ring, me: Some((2, &n2)), now, skew: 5, max_len: 1024 },
        )
        .expect_err(&p.display().to_string());
        let class = match e {
            TokenError::Malformed(_) => "malformed",
            TokenError::BadSignature(_) => "bad signature",
            TokenError::UnknownNode(_) => "unknown node",
            TokenError::NotForUs(_) => "not for this node",
            TokenError::Expired { .. } => "expired",
            other => panic!("{}: {other}", p.display()),
        };
        assert_eq!(class, f["expect"], "{}: {e}", p.display());
        seen += 1;
    }
    assert!(seen >= 18, "{seen} invalid tokens");
}

/// The out-of-band query dialogue (PROTOCOL.md 5E) between node 456 (asking) and node 123, with
/// fixed keys, nonces and token. The client's lines are deterministic (Ed25519 is); the server's
/// signed, sealed answer was written once. The client must write exactly the vector's lines,
/// accept the signed answer and open it to the stored values; with one byte of the answer or
/// its signature changed, it must refuse it.
#[test]
fn token_query_dialogue_vector() {
    use sslx::token::{oob, Fields, Mint, Signer};
    let id = |seed: &str| {
        Identity::from_file_text(&format!(
            "# sslx identity: {seed}\n{}\n",
            encode_line(
                LineKind::SecretKey,
                &[crypto::sha256(format!("{seed} x").as_bytes()), crypto::sha256(format!("{seed} ed").as_bytes())]
                    .concat()
            )
        ))
        .unwrap()
    };
    let (server, client) = (id("node123"), id("node456"));
    let mut fields = Fields::default();
    fields.push("User-ID", "Fred").unwrap();
    fields.push("Telephone", "@123.Fred.Telephone").unwrap();
    fields.push("Postal-Address", "@123.Fred.Address").unwrap();
    let signer = Signer::new(&server);
    let m = Mint {
        node: 123,
        signer: &signer,
        number: 7,
        now: 1_780_000_000,
        ttl: 900,
        fields: &fields,
        to: None,
        max_len: 1024,
    };
    let token = sslx::token::mint(&m, &crypto::system_rng()).unwrap();
    let (sn, cn) = (crypto::sha256(b"dialogue nonce"), crypto::sha256(b"dialogue client nonce"));
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    };
    let ids = vec!["Fred.Telephone".to_owned(), "Fred.Address".to_owned()];
    let request = ids.join(", ");
    // The client's lines are deterministic: Ed25519 over the label, both nonces and both nodes.
    let sig =
        client.sign(&[&b"sslx-token-query-v2"[..], &sn, &cn, &123u16.to_be_bytes(), &456u16.to_be_bytes()].concat());
    let client_lines = [
        format!("Server: 456 Nonce {} Signature {}", b64(&cn), b64(&sig)),
        format!("Token: {token}"),
        request.clone(),
        "QUIT".into(),
    ];
    let path = dir("token/dialogue.txt");
    if must_write(&path) {
        let db = tempfile::tempdir().unwrap();
        let mut store = oob::DataStore::open(&db.path().join("d.db")).unwrap();
        store
            .put(&[
                ("Fred.Telephone".into(), "(345) 555-1212".into()),
                ("Fred.Address".into(), "12345 Main Street Anytown, USA 98765-1234".into()),
            ])
            .unwrap();
        let d = oob::Dialogue { sn, cn, server: 123, client: 456 };
        let answer = oob::answer_line(
            &d,
            &server,
            &client.public().x25519,
            &store,
            &token,
            &request,
            &ids,
            &crypto::system_rng(),
        )
        .unwrap();
        let text = format!(
            "# The out-of-band query dialogue (docs/PROTOCOL.md 5E): node 456 asks node 123. Keys: node N's X25519\n\
             # secret is SHA-256(\"nodeN x\"), its Ed25519 seed SHA-256(\"nodeN ed\"). Lines end in CRLF on the wire;\n\
             # sN are the server's lines, cN the client's (exactly these bytes). s3's Data is b64url(enc ‖ ct): HPKE\n\
             # base mode to node 456's X25519 key, info \"sslx-token-data-v2\", aad server_nonce ‖ client_nonce; it\n\
             # opens to answer_plaintext (the order of JSON keys is not significant). The token is valid from\n\
             # 1780000000 to 1780000900: the server's check ran at a time between.\n\
             expect: success\nserver_public: {}\nclient_public: {}\ntoken: {token}\nserver_nonce: {}\nclient_nonce: {}\n\
             s1: 123 Connected to server 123, please identify and authenticate self. Nonce: {}\n\
             c1: {}\ns2: 123 Server 456 authenticated, please make your requests.\nc2: {}\nc3: {}\ns3: {answer}\nc4: {}\n\
             s4: 123 Goodbye, server 456.\nanswer_plaintext: {}\n",
            server.public().to_line(),
            client.public().to_line(),
            hex::encode(sn),
            hex::encode(cn),
            b64(&sn),
            client_lines[0],
            client_lines[1],
            client_lines[2],
            client_lines[3],
            r#"{"values":{"Fred.Address":"12345 Main Street Anytown, USA 98765-1234","Fred.Telephone":"(345) 555-1212"},"version":1}"#
        );
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    assert_eq!(f["token"], token);
    let server_key = server.public().ed25519;
    let run = |s3: &str| {
        let script = format!("{}\r\n{}\r\n{s3}\r\n{}\r\n", f["s1"], f["s2"], f["s4"]);
        let mut from_server = std::io::BufReader::new(script.as_bytes());
        let mut to_server = Vec::new();
        let r = oob::query_with_nonce(
            &mut from_server,
            &mut to_server,
            (456, &client),
            (123, &server_key),
            &token,
            &ids,
            &cn,
        );
        (r, String::from_utf8(to_server).unwrap())
    };
    let (answer, sent) = run(&f["s3"]);
    let answer = answer.unwrap();
    let expect: String = ["c1", "c2", "c3", "c4"].iter().map(|k| format!("{}\r\n", f[*k])).collect();
    assert_eq!(sent, expect);
    assert_eq!(client_lines.iter().map(|l| format!("{l}\r\n")).collect::<String>(), expect);
    // The answer's data opens, as the file says, to answer_plaintext.
    let data = {
        use base64::Engine;
        let d = f["s3"].strip_prefix("123 Data ").unwrap().split_once(" Signature ").unwrap().0;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(d).unwrap()
    };
    let plain = crypto::hpke_open(
        &client.x25519,
        data[..32].try_into().unwrap(),
        b"sslx-token-data-v2",
        &[sn, cn].concat(),
        &data[32..],
    )
    .unwrap();
    let as_json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    assert_eq!(as_json(&plain), as_json(f["answer_plaintext"].as_bytes()));
    assert_eq!(answer.version, 1);
    assert_eq!(answer.values["Fred.Telephone"].as_deref(), Some("(345) 555-1212"));
    // An answer not signed by node 123 for this dialogue is refused, whatever it says.
    let s3 = &f["s3"];
    let (data, sig) = s3.strip_prefix("123 Data ").unwrap().split_once(" Signature ").unwrap();
    let flip = |t: &str| {
        let mut b = t.as_bytes().to_vec();
        b[10] = if b[10] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for bad in [
        format!("123 Data {} Signature {sig}", flip(data)),
        format!("123 Data {data} Signature {}", flip(sig)),
        format!("123 Data {data}"),
    ] {
        let (r, _) = run(&bad);
        assert!(r.is_err(), "accepted {bad}");
    }
}

/// The mailbox messages (PROTOCOL.md 5D.5) with fixed CDS keys, and the live courier packets that
/// carry no secret (transfer packet B, acknowledge, receipt) with fixed values. Written once, then
/// checked: each decodes, re-encodes identically, and opens under the right key only.
#[test]
fn mailbox_and_courier_packets_vector() {
    use sslx::courier::msgs::{
        Ack, BundleSuite, Mode, PairConfirm, Receipt, Trailer, TransferA1, TransferA2, TransferB,
    };
    use sslx::relay::*;
    let path = dir("wire/mailbox.txt");
    let cdsk_a = Secret::new(crypto::sha256(b"vector cdsk a"));
    let cdsk_b = Secret::new(crypto::sha256(b"vector cdsk b"));
    let (n1, n2, n3) = ([0x41u8; 16], [0x42u8; 16], [0x43u8; 16]);
    let bid = [0x44u8; 8];
    let deposit_body =
        DepositBody { recipient: "bob".into(), nonce: n1, size: 4096, bundle_id: bid, sha256: [0x47; 32] }
            .encode()
            .unwrap();
    let mut delivery_body = vec![1u8];
    delivery_body.extend_from_slice(&7u64.to_be_bytes());
    delivery_body.extend_from_slice(&[5, b'a', b'l', b'i', b'c', b'e']);
    delivery_body.extend_from_slice(&4096u64.to_be_bytes());
    delivery_body.extend_from_slice(&bid);
    let collected_body = [&n2[..], &7u64.to_be_bytes(), &[1]].concat();
    let status_body = [&n3[..], &1u16.to_be_bytes(), &bid].concat();
    let status_ok_body = [&1u16.to_be_bytes()[..], &bid, &[2], &1_790_000_003u64.to_be_bytes()].concat();
    // Transfer packet B with the real ProofB of courier/transfer.txt.
    let tv = read_fields(&dir("courier").join("transfer.txt"));
    let b = TransferB {
        version: 1,
        account: tv["recipient"].clone(),
        challenge_b: array(&tv["challenge_b"]),
        proof_b: array(&tv["proof_b"]),
        held: tv["resume_from"].parse().unwrap(),
        held_hash: array(&tv["held_hash"]),
    };
    let collected_refused = [&n2[..], &8u64.to_be_bytes(), &[0]].concat();
    let collected_kept = [&n2[..], &9u64.to_be_bytes(), &[2]].concat();
    let status_none = [&n3[..], &0u16.to_be_bytes()].concat();
    // The bodies above are spelled out from PROTOCOL.md 5D.5; the production encoders must give
    // exactly these bytes and the decoders read them back.
    let item = MailboxItem { item: 7, sender: "alice".into(), size: 4096, bundle_id: bid };
    let structured: [(Vec<u8>, &Vec<u8>); 7] = [
        (DeliveryBody::Item(item.clone()).encode().unwrap(), &delivery_body),
        (CollectedBody { nonce: n2, item: 7, outcome: Outcome::Opened }.encode(), &collected_body),
        (CollectedBody { nonce: n2, item: 8, outcome: Outcome::Refused }.encode(), &collected_refused),
        (CollectedBody { nonce: n2, item: 9, outcome: Outcome::Keep }.encode(), &collected_kept),
        (StatusBody { nonce: n3, ids: vec![bid] }.encode().unwrap(), &status_body),
        (StatusBody { nonce: n3, ids: vec![] }.encode().unwrap(), &status_none),
        (
            StatusOkBody { entries: vec![(bid, DeliveryState::Delivered, 1_790_000_003)] }.encode().unwrap(),
            &status_ok_body,
        ),
    ];
    for (i, (encoded, spelled)) in structured.iter().enumerate() {
        assert_eq!(&encoded, spelled, "body {i}");
    }
    assert_eq!(DeliveryBody::decode(&delivery_body).unwrap(), DeliveryBody::Item(item));
    assert_eq!(DeliveryBody::decode(&[0]).unwrap(), DeliveryBody::Empty);
    assert_eq!(CollectedBody::decode(&collected_kept).unwrap().outcome, Outcome::Keep);
    assert!(CollectedBody::decode(&[&n2[..], &9u64.to_be_bytes(), &[3]].concat()).is_err(), "outcome 3");
    assert_eq!(StatusOkBody::decode(&status_ok_body).unwrap().entries[0].1, DeliveryState::Delivered);
    assert!(StatusBody::decode(&[&n3[..], &3001u16.to_be_bytes()].concat()).is_err(), "over 3,000 ids");
    assert_eq!(TimeBody { time: 1_790_604_800 }.encode(), 1_790_604_800u64.to_be_bytes());
    let receipt = Receipt { status: 0, files: 3, bytes: 51, reason: String::new() };
    let a1 = TransferA1 {
        low_version: 1,
        high_version: 1,
        mode: Mode::Online,
        suite: BundleSuite::ChaCha20Poly1305,
        account: "alice".into(),
        recipient: "bob".into(),
        challenge_a: [0x48; 32],
    };
    let a2 = TransferA2 {
        account_b: "bob".into(),
        proof_a: [0x49; 32],
        delta_key: [0x4a; 32],
        key_proof: [0x4b; 32],
        size_hint: 70_000,
        resume_from: 0,
    };
    let trailer = Trailer { file_proof: [0x4c; 32], payload_len: 69_999 };
    let confirm = PairConfirm { mac: [0x4d; 32] };
    if must_write(&path) {
        let rng = crypto::system_rng();
        let ch = &CHALLENGE;
        let lines = [
            ("deposit", Deposit::new("alice", &cdsk_a, ch, &deposit_body, &rng).unwrap().to_frame()),
            ("deposit_ok", DepositOk::new(&cdsk_a, &n1, &1_790_604_800u64.to_be_bytes(), &rng).to_frame()),
            ("collect", Collect::new("bob", &cdsk_b, ch, &n2, &rng).unwrap().to_frame()),
            ("delivery", Delivery::new(&cdsk_b, &n2, &delivery_body, &rng).to_frame()),
            ("delivery_empty", Delivery::new(&cdsk_b, &n2, &[0], &rng).to_frame()),
            ("collected", Collected::new("bob", &cdsk_b, ch, &collected_body, &rng).unwrap().to_frame()),
            ("collected_refused", Collected::new("bob", &cdsk_b, ch, &collected_refused, &rng).unwrap().to_frame()),
            ("collected_kept", Collected::new("bob", &cdsk_b, ch, &collected_kept, &rng).unwrap().to_frame()),
            ("status", Status::new("alice", &cdsk_a, ch, &status_body, &rng).unwrap().to_frame()),
            ("status_none", Status::new("alice", &cdsk_a, ch, &status_none, &rng).unwrap().to_frame()),
            ("status_ok", StatusOk::new(&cdsk_a, &n3, &status_ok_body, &rng).to_frame()),
            ("transfer_a1", a1.to_frame()),
            ("transfer_b", b.to_frame()),
            ("transfer_a2", a2.to_frame()),
            ("ack", Ack.to_frame()),
            ("trailer", trailer.to_frame()),
            ("receipt", receipt.to_frame()),
            ("pairing_confirmation", confirm.to_frame()),
        ];
        let mut text = format!(
            "# Mailbox messages (docs/PROTOCOL.md 5D.5) with fixed CDS keys: alice's CDSK is SHA-256('vector cdsk a'),\n\
             # bob's SHA-256('vector cdsk b'); alice deposits for bob and asks the status, bob collects.\n\
             # Participant messages are bound to the connection challenge; deposit OK opens with the deposit's\n\
             # nonce (n1), delivery with the collect's (n2), status OK with the status's (n3). collected: outcome 1\n\
             # (item 7), collected_refused: 0 (item 8), collected_kept: 2 (item 9); delivery_empty: the body u8 0;\n\
             # status_none: n = 0 (each an encoding on its own, not one dialogue: a CDS would refuse these collected\n\
             # for items it did not deliver). Then the courier's packets (5D.2): transfer_b carries the ProofB of\n\
             # courier/transfer.txt; acknowledge and receipt; transfer_a1, transfer_a2, trailer and\n\
             # pairing_confirmation are layout checks only (their proofs and keys are filler bytes).\n\
             challenge: {}\nn1: {}\nn2: {}\nn3: {}\n",
            hex::encode(CHALLENGE),
            hex::encode(n1),
            hex::encode(n2),
            hex::encode(n3)
        );
        for (k, v) in lines {
            text.push_str(&format!("{k}: {}\n", hex::encode(v.unwrap())));
        }
        std::fs::write(&path, text).unwrap();
    }
    let f = read_fields(&path);
    let ch: [u8; 32] = h(&f["challenge"]).try_into().unwrap();
    let d = Deposit::from_bytes(&h(&f["deposit"])).unwrap();
    assert_eq!(d.to_frame().unwrap(), h(&f["deposit"]));
    assert_eq!(d.open(&cdsk_a, &ch).unwrap(), deposit_body);
    assert_eq!(DepositBody::decode(&deposit_body).unwrap().sha256, [0x47; 32]);
    assert!(d.open(&cdsk_b, &ch).is_none());
    assert!(d.open(&cdsk_a, &[0; 32]).is_none(), "a deposit verifies on its own connection only");
    assert_eq!(
        DepositOk::from_bytes(&h(&f["deposit_ok"])).unwrap().open(&cdsk_a, &n1).unwrap(),
        1_790_604_800u64.to_be_bytes()
    );
    assert_eq!(
        NonceBody::decode(&Collect::from_bytes(&h(&f["collect"])).unwrap().open(&cdsk_b, &ch).unwrap()).unwrap().nonce,
        n2
    );
    let dl = Delivery::from_bytes(&h(&f["delivery"])).unwrap();
    assert_eq!(dl.open(&cdsk_b, &n2).unwrap(), delivery_body);
    assert!(dl.open(&cdsk_b, &n1).is_none(), "a delivery is bound to its collect");
    assert_eq!(Collected::from_bytes(&h(&f["collected"])).unwrap().open(&cdsk_b, &ch).unwrap(), collected_body);
    assert_eq!(Delivery::from_bytes(&h(&f["delivery_empty"])).unwrap().open(&cdsk_b, &n2).unwrap(), [0]);
    for (k, body) in [("collected_refused", &collected_refused), ("collected_kept", &collected_kept)] {
        assert_eq!(&Collected::from_bytes(&h(&f[k])).unwrap().open(&cdsk_b, &ch).unwrap(), body, "{k}");
    }
    assert_eq!(Status::from_bytes(&h(&f["status_none"])).unwrap().open(&cdsk_a, &ch).unwrap(), status_none);
    assert_eq!(
        (f["n1"].as_str(), f["n2"].as_str(), f["n3"].as_str()),
        (&*hex::encode(n1), &*hex::encode(n2), &*hex::encode(n3))
    );
    assert_eq!(Status::from_bytes(&h(&f["status"])).unwrap().open(&cdsk_a, &ch).unwrap(), status_body);
    assert_eq!(StatusOk::from_bytes(&h(&f["status_ok"])).unwrap().open(&cdsk_a, &n3).unwrap(), status_ok_body);
    assert_eq!(TransferB::from_bytes(&h(&f["transfer_b"])).unwrap(), b);
    assert_eq!(b.to_frame().unwrap(), h(&f["transfer_b"]));
    assert_eq!(Ack.to_frame().unwrap(), h(&f["ack"]));
    assert_eq!(Receipt::from_bytes(&h(&f["receipt"])).unwrap(), receipt);
    for (k, frame) in [
        ("transfer_a1", a1.to_frame()),
        ("transfer_a2", a2.to_frame()),
        ("trailer", trailer.to_frame()),
        ("pairing_confirmation", confirm.to_frame()),
    ] {
        assert_eq!(hex::encode(frame.unwrap()), f[k], "{k}");
    }
    assert_eq!(TransferA1::from_bytes(&h(&f["transfer_a1"])).unwrap(), a1);
    assert_eq!(TransferA2::from_bytes(&h(&f["transfer_a2"])).unwrap(), a2);
    assert_eq!(Trailer::from_bytes(&h(&f["trailer"])).unwrap(), trailer);
    assert_eq!(PairConfirm::from_bytes(&h(&f["pairing_confirmation"])).unwrap(), confirm);
}
