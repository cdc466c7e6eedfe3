//! Tokens: the text and binary layouts (what decodes re-encodes identically), the session
//! data lines, keyrings, and a full verify against a fixed keyring (never a panic, never a
//! token accepted that its node did not sign).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::token::{Fields, Keyring, Token, Verifier};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = Token::from_bytes(data) {
        assert_eq!(t.to_bytes(), data, "a token is not canonical");
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = Token::decode(&text) {
        assert_eq!(t.encode(), text.trim());
    }
    let _ = Fields::parse(&text);
    let _ = Keyring::parse(&text);
    // A keyring of one node whose key nobody uses to sign here.
    let public = sslx::keys::PublicIdentity { x25519: [9; 32], ed25519: sslx::crypto::ed25519_public(&[7; 32]) };
    let ring = Keyring::parse(&format!("1 {}\n", public.to_line())).unwrap();
    let v = Verifier { keyring: &ring, me: None, now: 1_780_000_000, skew: 5, max_len: sslx::token::DEFAULT_MAX_LEN };
    assert!(sslx::token::verify(&text, &v).is_err(), "a token verified under a key nobody used");
});
