//! Bulk enrollment straight into a CDS database through the registrar (for tests and benches
//! that need thousands of participants; the CLI path is tested elsewhere).

use sslx::cds::{Registrar, RegistrarConfig, SqliteStore};
use sslx::crypto::Secret;
use sslx::keys::Identity;
use sslx::vsu::{assemble, OpenRequest, AR_VSU_DS};
use std::path::Path;

/// Enrolls `n` participants named `{prefix}{i}` into the database at `db`; returns names and CDSKs.
pub fn enroll_into_db(db: &Path, prefix: &str, n: usize) -> Vec<(String, Secret<32>)> {
    enroll_into_store(Box::new(SqliteStore::open(db).unwrap()), prefix, n)
}

/// [`enroll_into_db`] into any store (a PostgreSQL one, say).
pub fn enroll_into_store(store: Box<dyn sslx::cds::Store>, prefix: &str, n: usize) -> Vec<(String, Secret<32>)> {
    let rng = sslx::crypto::system_rng();
    let limits = sslx::cds::RateLimits::off();
    let reg = Registrar::new(store, RegistrarConfig { limits, ..Default::default() }, &rng).unwrap();
    let now = sslx::cli::now_unix();
    let challenge = [0u8; 32];
    (0..n)
        .map(|i| {
            let id = Identity::generate(&format!("{prefix}{i}"), &rng).unwrap();
            let mut req = OpenRequest {
                ar: AR_VSU_DS.into(),
                name: id.name.clone(),
                public: id.public(),
                email: "p@example.com".into(),
                oob: "sms:+15551234567".into(),
                signature: [0; 64],
                proof: None,
            };
            req.signature = id.sign(&req.signed_bytes(&challenge).unwrap());
            let (opened, ()) = reg.open(&req, &challenge, None, now, |_, _| Ok(()), &rng).unwrap();
            let cdsk =
                assemble::assemble_cdsk(&id, &opened.replies.a, &opened.replies.b, &opened.replies.c.pin).unwrap();
            let (c, _) = assemble::make_confirm(&cdsk, &opened.request_id, &challenge, &rng);
            reg.confirm(&c, &challenge, None, now, &rng).unwrap();
            (id.name, cdsk)
        })
        .collect()
}

/// Puts a participant on hook over a raw connection; the connection is the hook.
pub fn hook(listen: &str, name: &str, cdsk: &Secret<32>) -> std::net::TcpStream {
    use sslx::relay::{HookBody, HookOk, OnHook};
    use sslx::wire::{read_frame, write_frame, Msg};
    let rng = sslx::crypto::system_rng();
    let nonce: [u8; 16] = sslx::crypto::random_array(&rng);
    let c = sslx::net::connect_cds(listen).unwrap();
    let mut s = c.stream;
    s.set_read_timeout(None).unwrap();
    let body = HookBody { nonce, service: sslx::relay::service::SESSION.into() }.encode().unwrap();
    write_frame(&mut s, &OnHook::new(name, cdsk, &c.challenge, &body, &rng).unwrap().to_frame().unwrap()).unwrap();
    let ok = HookOk::from_frame(&read_frame(&mut s).unwrap().unwrap()).unwrap();
    assert!(ok.open(cdsk, &nonce).is_some());
    s
}

/// `GET /v1/health` → how many participants are on hook.
pub fn on_hook_count(http: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(http.trim_start_matches("http://")).unwrap();
    write!(s, "GET /v1/health HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let json = &body[body.find('{').unwrap()..];
    serde_json::from_str::<serde_json::Value>(json).unwrap()["on_hook"].as_u64().unwrap()
}
