//! Bundles (both suites) from any bytes, read with a fixed key: never a panic, and never
//! accepted (nothing but the key's holder can make records that verify).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::courier::bundle::BundleReader;
use sslx::courier::msgs::BundleSuite;
use sslx::courier::proofs::{Challenges, ProofKey, Resume};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let key = sslx::crypto::Secret::new([5; 32]);
    let chs = Challenges { a: [1; 32], b: [2; 32], a1: [3; 32] };
    let pk = ProofKey { challenges: chs, kd: sslx::crypto::Secret::new([4; 32]), resume: Resume::WHOLE };
    for suite in [BundleSuite::Aes256Gcm, BundleSuite::ChaCha20Poly1305, BundleSuite::TripleDes] {
        let mut frames = sslx::session::io::FrameReader::new(data);
        let mut r = BundleReader::new(&mut frames, suite, key.clone(), pk.clone());
        let mut out = Vec::new();
        let read = r.read_to_end(&mut out);
        assert!(read.is_err() || r.finish().is_err(), "a bundle nobody sealed was accepted");
    }
});
