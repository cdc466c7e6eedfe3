//! Property tests for the courier's stream decoders: bundles (both suites), the payload's chunks
//! and the tar unpacker get random and mutated bytes. None may panic; a mutated bundle is never
//! accepted with different contents; the unpacker never writes outside its temp dir.

use proptest::prelude::*;
use sslx::courier::bundle::BundleReader;
use sslx::courier::msgs::BundleSuite;
use sslx::courier::payload::PayloadReader;
use sslx::courier::proofs::{Challenges, ProofKey, Resume};
use sslx::crypto::Secret;
use sslx::session::io::FrameReader;
use std::collections::BTreeMap;
use std::io::Read;

fn vectors(file: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("{}/tests/vectors/courier/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.lines().filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The aead vector bundle: its bytes, key, challenges and payload.
fn aead_bundle() -> (Vec<u8>, Secret<32>, ProofKey, Vec<u8>) {
    let f = vectors("bundle_aead.txt");
    let skey = Secret::new(hex::decode(&f["skey"]).unwrap().try_into().unwrap());
    let a = hex::decode(&f["challenge_a"]).unwrap().try_into().unwrap();
    let b = hex::decode(&f["challenge_b"]).unwrap().try_into().unwrap();
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let a1 = hex::decode(&f["a1_sha256"]).unwrap().try_into().unwrap();
    let kd = Secret::new(hex::decode(&f["direction_key"]).unwrap().try_into().unwrap());
    (
        hex::decode(&f["bundle"]).unwrap(),
        skey,
        ProofKey { challenges: Challenges { a, b, a1 }, kd, resume: Resume::WHOLE },
        payload,
    )
}

/// Reads a bundle; Ok(payload) only if every record and the trailer verified.
fn open(bytes: &[u8], suite: BundleSuite, skey: &Secret<32>, key: &ProofKey) -> Result<Vec<u8>, sslx::Error> {
    let mut frames = FrameReader::new(bytes);
    let mut r = BundleReader::new(&mut frames, suite, skey.clone(), key.clone());
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(|e| r.take_failure().unwrap_or(sslx::Error::io("reading", e)))?;
    r.finish()?;
    Ok(out)
}

/// A tar stream unpacked into a fresh temp dir; nothing may appear outside it.
fn unpack(tar: &[u8]) {
    let root = tempfile::tempdir().unwrap();
    let (tmp, dest) = (root.path().join("tmp"), root.path().join("dest"));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    let _ =
        sslx::courier::tree::unpack(&mut tar::Archive::new(tar), &tmp, &sslx::courier::tree::Destination::new(&dest));
    let mut names: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["dest", "tmp"], "the unpacker wrote outside its temp dir");
    assert!(std::fs::read_dir(&dest).unwrap().next().is_none(), "the unpacker wrote into the destination");
}

fn small_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(12);
    h.set_mode(0o644);
    b.append_data(&mut h, "d/a.txt", &b"hello world\n"[..]).unwrap();
    b.append_data(&mut h, "d/b.txt", &b"second file\n"[..]).unwrap();
    b.into_inner().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn a_mutated_aead_bundle_is_refused_or_unchanged(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let (mut b, skey, chs, payload) = aead_bundle();
        let original = b.clone();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if truncate {
            b.truncate(cut.index(b.len()));
        }
        match open(&b, BundleSuite::Aes256Gcm, &skey, &chs) {
            Ok(out) => {
                prop_assert_eq!(&b, &original, "a changed bundle was accepted");
                prop_assert_eq!(out, payload);
            }
            Err(_) => prop_assert!(b != original),
        }
    }

    #[test]
    fn a_mutated_3des_bundle_is_refused_or_unchanged(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let f = vectors("bundle_3des.txt");
        let file = std::fs::read(format!("{}/tests/vectors/courier/bundle_3des.sslx", env!("CARGO_MANIFEST_DIR"))).unwrap();
        // Skip A1 and A2: the records and trailer start after them.
        let mut at = 0;
        for _ in 0..2 {
            at += 6 + u32::from_be_bytes(file[at + 2..at + 6].try_into().unwrap()) as usize;
        }
        let original = file[at..].to_vec();
        let mut b = original.clone();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        // The keys: the bundle's SKey is not in the vector (only the LTK is), so recover it
        // from A2 as a recipient does.
        use sslx::wire::Msg;
        let a2_start = 6 + u32::from_be_bytes(file[2..6].try_into().unwrap()) as usize;
        let a1 = sslx::courier::msgs::TransferA1::from_bytes(&file[..a2_start]).unwrap();
        let a2 = sslx::courier::msgs::TransferA2::from_bytes(&file[a2_start..at]).unwrap();
        let ltk = Secret::new(hex::decode(&f["ltk"]).unwrap().try_into().unwrap());
        let kd = sslx::courier::proofs::direction_key(&ltk, &a1.account, &a1.recipient).unwrap();
        let chs = Challenges::new(a1.challenge_a, [0; 32], &file[..a2_start]);
        let skey = chs.open_a2(&kd, &a2.proof_a, &a2.delta_key, &a2.key_proof).unwrap();
        let key = ProofKey { challenges: chs, kd, resume: Resume::WHOLE };
        let good = open(&original, BundleSuite::TripleDes, &skey, &key).unwrap();
        match open(&b, BundleSuite::TripleDes, &skey, &key) {
            Ok(out) => {
                prop_assert_eq!(&b, &original, "a changed bundle was accepted");
                prop_assert_eq!(out, good);
            }
            Err(_) => prop_assert!(b != original),
        }
    }

    #[test]
    fn random_bytes_as_a_bundle_or_a_payload_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let key = Secret::new([5; 32]);
        let chs = Challenges { a: [1; 32], b: [2; 32], a1: [3; 32] };
        let pk = ProofKey { challenges: chs, kd: Secret::new([4; 32]), resume: Resume::WHOLE };
        for suite in [BundleSuite::Aes256Gcm, BundleSuite::ChaCha20Poly1305, BundleSuite::TripleDes] {
            prop_assert!(open(&bytes, suite, &key, &pk).is_err());
        }
        let mut out = Vec::new();
        let _ = PayloadReader::new(&bytes[..]).unwrap().read_to_end(&mut out);
    }

    #[test]
    fn random_and_mutated_tar_streams_stay_inside(bytes in proptest::collection::vec(any::<u8>(), 0..2048), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        unpack(&bytes);
        let mut t = small_tar();
        for (i, v) in edits {
            let i = i.index(t.len());
            t[i] = v;
        }
        unpack(&t);
    }
}

/// Where `p` leads on disk, as far as it exists: the canonical form of its longest existing
/// prefix (following every link on the way), then the rest as text. A link whose target does
/// not exist yet still shows where it would lead.
fn leads_to(p: &std::path::Path) -> std::path::PathBuf {
    let comps: Vec<_> = p.components().collect();
    for cut in (1..=comps.len()).rev() {
        let prefix: std::path::PathBuf = comps[..cut].iter().collect();
        if let Ok(c) = std::fs::canonicalize(&prefix) {
            let mut out = c;
            for rest in &comps[cut..] {
                match rest {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            return out;
        }
    }
    p.to_owned()
}

/// Where the links sit, and the targets they get: the pieces an escape is built of.
const LINK_AT: [&str; 5] = ["t/l0", "t/l1", "t/l2", "t/d0/l6", "t/d0/l7"];
const LINK_TO: [&str; 12] =
    ["..", "../..", "l6/..", "d0/l6/..", "l0/..", "l1/..", "d0", "l0", "f", "l0/../..", "d0/l7/../..", "../l0/.."];

fn link_set() -> impl Strategy<Value = Vec<(usize, usize)>> {
    proptest::collection::vec((0..LINK_AT.len(), 0..LINK_TO.len()), 1..7)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever set of links a bundle holds, every one the unpacker accepts leads inside the
    /// top-level directory it belongs to, on disk (issue 10, finding 5).
    #[test]
    fn accepted_links_never_lead_outside_their_directory(links in link_set()) {
        let at = |i: usize| LINK_AT[i].to_owned();
        let mut b = tar::Builder::new(Vec::new());
        let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, p, std::io::empty()).unwrap();
        };
        dir(&mut b, "t");
        dir(&mut b, "t/d0");
        let mut used = std::collections::HashSet::new();
        for (i, target) in &links {
            if !used.insert(*i) {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, at(*i), LINK_TO[*target]).unwrap();
        }
        let tar_bytes = b.into_inner().unwrap();
        let work = tempfile::tempdir().unwrap();
        let (tmp, dest) = (work.path().join("tmp"), work.path().join("dest"));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&dest).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        if sslx::courier::tree::unpack(&mut archive, &tmp, &sslx::courier::tree::Destination::new(&dest)).is_ok() {
            let top = std::fs::canonicalize(tmp.join("t")).unwrap();
            for i in &used {
                let l = tmp.join(at(*i));
                let target = std::fs::read_link(&l).unwrap();
                let to = leads_to(&l.parent().unwrap().join(target));
                prop_assert!(to.starts_with(&top), "{} leads to {}", at(*i), to.display());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The armor (send --armor) round-trips any bytes, and any text after a BEGIN line decodes
    /// or is refused, never panics, never yields more than base64 can carry.
    #[test]
    fn armor_round_trips_and_random_text_is_refused_or_decoded(bytes in proptest::collection::vec(any::<u8>(), 0..3000), noise in proptest::collection::vec(any::<u8>(), 0..3000)) {
        use std::io::{Read, Write};
        use sslx::courier::armor::{dearmored, ArmorWriter, BEGIN};
        let mut w = ArmorWriter::new(Vec::new());
        w.write_all(&bytes).unwrap();
        let text = w.finish().unwrap();
        let mut back = Vec::new();
        dearmored(&text[..]).unwrap().read_to_end(&mut back).unwrap();
        prop_assert_eq!(&back, &bytes);
        let mut junk = format!("{BEGIN}\n").into_bytes();
        junk.extend_from_slice(&noise);
        let mut out = Vec::new();
        let decoded = dearmored(&junk[..]).and_then(|mut r| r.read_to_end(&mut out));
        if decoded.is_ok() {
            prop_assert!(out.len() <= noise.len() * 3 / 4 + 3);
        }
    }
}
