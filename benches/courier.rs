//! Courier throughput in memory, one thread: the bundle suites against the primitives under
//! them (the `des` crate's own 3DES-EDE-CBC, ring's AES-256-GCM), the payload layer (zstd per
//! chunk, stored when it does not pay), and the reader. Prints a markdown table.
//! `cargo bench --bench courier` (bench/courier.sh runs it beside the end-to-end comparison).

use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use sslx::courier::bundle::{BundleReader, BundleWriter};
use sslx::courier::msgs::BundleSuite;
use sslx::courier::payload::{Compression, PayloadReader, PayloadWriter};
use sslx::courier::proofs::{Challenges, ProofKey, Resume};
use sslx::crypto::Secret;
use sslx::session::io::FrameReader;
use std::io::{Read, Write};
use std::time::Instant;

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut v).unwrap();
    v
}

fn text(n: usize) -> Vec<u8> {
    let words = ["ledger ", "batch ", "2026-11-25 ", "total=", "4711 ", "ok\n", "account ", "transfer "];
    let mut v = Vec::with_capacity(n + 16);
    let mut i = 7usize;
    while v.len() < n {
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v.extend_from_slice(words[(i >> 33) % words.len()].as_bytes());
    }
    v.truncate(n);
    v
}

/// Median MB/s over `runs` of `f`, which processes `bytes`.
fn rate(bytes: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn seal(suite: BundleSuite, data: &[u8]) -> Vec<u8> {
    seal_into(Vec::with_capacity(data.len() + (data.len() >> 8)), suite, data)
}

fn seal_into<W: Write>(out: W, suite: BundleSuite, data: &[u8]) -> W {
    let mut w = BundleWriter::new(out, suite, &Secret::new([7u8; 32]));
    w.write_all(data).unwrap();
    let (mut out, sealed) = w.finish().unwrap();
    out.write_all(&sealed.trailer(&key()).unwrap()).unwrap();
    out
}

fn key() -> ProofKey {
    ProofKey {
        challenges: Challenges { a: [1; 32], b: [2; 32], a1: [3; 32] },
        kd: Secret::new([4; 32]),
        resume: Resume::WHOLE,
    }
}

fn open(suite: BundleSuite, bundle: &[u8]) -> u64 {
    let mut frames = FrameReader::new(bundle);
    let mut r = BundleReader::new(&mut frames, suite, Secret::new([7u8; 32]), key());
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    r.finish().unwrap()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds and runs benches without --bench: skip.
    }
    let big = random(256 << 20);
    let small = &big[..16 << 20];
    println!("| what | MB/s | note |\n|---|---:|---|");
    // The 3DES anchor: the des crate alone, 64 KiB records, key schedule per record.
    let key = [9u8; 24];
    let des = rate(small.len(), 3, || {
        let mut buf = vec![0u8; 64 * 1024];
        for c in small.chunks(64 * 1024) {
            buf[..c.len()].copy_from_slice(c);
            cbc::Encryptor::<des::TdesEde3>::new(&key.into(), &[0u8; 8].into())
                .encrypt_padded_mut::<NoPadding>(&mut buf[..c.len()], c.len())
                .unwrap();
        }
    });
    println!("| des crate 3DES-EDE-CBC encrypt, 64 KiB records | {des:.1} | anchor for the 3des suite |");
    let tdes = rate(small.len(), 3, || {
        seal_into(std::io::sink(), BundleSuite::TripleDes, small);
    });
    println!(
        "| sslx 3des bundle seal (3DES-EDE-CBC + HMAC-SHA-256 per record) | {tdes:.1} | {:.2}x the des crate |",
        tdes / des
    );
    let sealed = seal(BundleSuite::TripleDes, small);
    let tdes_open = rate(small.len(), 3, || {
        open(BundleSuite::TripleDes, &sealed);
    });
    println!("| sslx 3des bundle open | {tdes_open:.1} | {:.2}x the des crate's encrypt |", tdes_open / des);
    let gcm = rate(big.len(), 5, || {
        let k =
            ring::aead::LessSafeKey::new(ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[3u8; 32]).unwrap());
        let mut buf = vec![0u8; 64 * 1024];
        for (i, c) in big.chunks(64 * 1024).enumerate() {
            buf[..c.len()].copy_from_slice(c);
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let _tag = k
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(n),
                    ring::aead::Aad::empty(),
                    &mut buf[..c.len()],
                )
                .unwrap();
        }
    });
    println!("| ring AES-256-GCM seal, 64 KiB records | {gcm:.0} | anchor for the aead suite |");
    let aead = rate(big.len(), 5, || {
        seal_into(std::io::sink(), BundleSuite::Aes256Gcm, &big);
    });
    println!("| sslx aead bundle seal (AES-256-GCM) | {aead:.0} | {:.2}x ring alone |", aead / gcm);
    let sealed = seal(BundleSuite::Aes256Gcm, &big);
    let aead_open = rate(big.len(), 5, || {
        open(BundleSuite::Aes256Gcm, &sealed);
    });
    println!("| sslx aead bundle open | {aead_open:.0} | |");
    let chacha = rate(big.len(), 3, || {
        seal_into(std::io::sink(), BundleSuite::ChaCha20Poly1305, &big);
    });
    println!("| sslx aead bundle seal (ChaCha20-Poly1305) | {chacha:.0} | |");
    // The payload layer: random data is detected and stored; text is compressed.
    let text = text(64 << 20);
    for (name, data, mode) in [
        ("random, auto", &big, Compression::Auto),
        ("text, always compress", &text, Compression::Always),
        ("text, auto into a free sink (stores: shipping costs nothing)", &text, Compression::Auto),
    ] {
        let packed = rate(data.len(), 3, || {
            let mut w = PayloadWriter::new(std::io::sink(), mode).unwrap();
            w.write_all(data).unwrap();
            w.finish().unwrap();
        });
        let mut w = PayloadWriter::new(Vec::new(), mode).unwrap();
        w.write_all(data).unwrap();
        let (out, raw, stored) = w.finish().unwrap();
        let unpacked = rate(data.len(), 3, || {
            let mut r = PayloadReader::new(&out[..]).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            while r.read(&mut buf).unwrap() > 0 {}
        });
        println!(
            "| payload pack, {name}: zstd level {} per 1 MiB chunk, 2 lanes | {packed:.0} | ratio {:.2}x; unpack {unpacked:.0} MB/s |",
            sslx::courier::payload::LEVEL,
            raw as f64 / stored as f64
        );
    }
}
