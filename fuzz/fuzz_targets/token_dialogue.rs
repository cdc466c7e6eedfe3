//! The out-of-band dialogue from both ends: the querying node reading any server's lines, and
//! the serving node reading any client's lines. Never a panic; the client never accepts an
//! answer (no server key signed it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::keys::Identity;

fn id(seed: u8) -> Identity {
    let line = sslx::keys::encode_line(sslx::keys::LineKind::SecretKey, &[seed; 64]);
    Identity::from_file_text(&format!("# sslx identity: node{seed}\n{line}\n")).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let (me, server) = (id(2), id(1));
    let mut r = std::io::BufReader::new(data);
    let mut w = Vec::new();
    let got = sslx::token::oob::query_with_nonce(
        &mut r,
        &mut w,
        (2, &me),
        (1, &server.public().ed25519),
        "token",
        &["A".to_owned()],
        &[0; 32],
    );
    assert!(got.is_err(), "an unsigned answer was accepted");
    // The server side, over the same bytes as the client's lines.
    static STORE: std::sync::OnceLock<(tempfile::TempDir, std::sync::Mutex<sslx::token::oob::DataStore>)> =
        std::sync::OnceLock::new();
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut store = sslx::token::oob::DataStore::open(&dir.path().join("d.db")).unwrap();
        store.put(&[("A".into(), "a value".into())]).unwrap();
        (dir, std::sync::Mutex::new(store))
    });
    let store = store.lock().unwrap();
    let ring = sslx::token::Keyring::parse(&format!("2 {}\n", me.public().to_line())).unwrap();
    let s = sslx::token::oob::Server {
        node: 1,
        identity: &server,
        keyring: &ring,
        store: &store,
        now: &|| 1_780_000_000,
        skew: 5,
    };
    let mut r = std::io::BufReader::new(data);
    let mut w = Vec::new();
    let _ = s.serve(&mut r, &mut w, &sslx::crypto::system_rng());
});
