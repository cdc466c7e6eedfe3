//! "Wrapped in the public key": HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305; `info` is the message's label.

use super::{RingRng, Secret};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

use ring::rand::SecureRandom;

/// Bytes of the encapsulated key in front of every HPKE ciphertext.
pub const HPKE_ENC_LEN: usize = 32;

/// A static X25519 secret key (zeroized on drop).
pub type X25519Secret = Secret<32>;

pub fn x25519_public(sk: &X25519Secret) -> [u8; 32] {
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(sk.expose()).expect("32-byte X25519 key");
    let pk = X25519HkdfSha256::sk_to_pk(&sk);
    pk.to_bytes().into()
}

/// Derives an X25519 key pair from input keying material (RFC 9180 DeriveKeyPair), for vectors.
pub fn derive_x25519_for_testing_only(ikm: &[u8]) -> (X25519Secret, [u8; 32]) {
    let (sk, pk) = X25519HkdfSha256::derive_keypair(ikm);
    (Secret::new(sk.to_bytes().into()), pk.to_bytes().into())
}

/// Seals `plaintext` to `recipient`: returns `(enc, ciphertext ‖ tag)`.
pub fn hpke_seal(
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Option<([u8; HPKE_ENC_LEN], Vec<u8>)> {
    let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient).ok()?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
        &mut RingRng(rng),
    )
    .ok()?;
    Some((enc.to_bytes().into(), ct))
}

/// Opens an HPKE ciphertext; `None` on any failure.
pub fn hpke_open(sk: &X25519Secret, enc: &[u8; HPKE_ENC_LEN], info: &[u8], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(sk.expose()).ok()?;
    let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(enc).ok()?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(&OpModeR::Base, &sk, &enc, info, ct, aad)
        .ok()
}

/// An "RNG" that hands out one fixed 32-byte value: HPKE's ephemeral key becomes
/// `DeriveKeyPair(ikm)`, so whoever knows `ikm` can set up the same sender context again.
struct FixedIkm([u8; 32], bool);

impl rand_core::RngCore for FixedIkm {
    fn next_u32(&mut self) -> u32 {
        unreachable!("HPKE asks for key material only")
    }
    fn next_u64(&mut self) -> u64 {
        unreachable!("HPKE asks for key material only")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(!self.1 && dest.len() == 32, "one 32-byte ephemeral per setup");
        dest.copy_from_slice(&self.0);
        self.1 = true;
    }
}

impl rand_core::CryptoRng for FixedIkm {}

/// HPKE base-mode sender setup with the ephemeral key derived from `ikm` (RFC 9180
/// DeriveKeyPair), exporting `out.len()` bytes under `exporter_ctx`: returns the encapsulated
/// key. The same `ikm` gives the same ephemeral, so its holder can recompute the export later;
/// `ikm` must be secret and never used twice for different data.
pub fn hpke_export_to(
    recipient: &[u8; 32],
    info: &[u8],
    ikm: &[u8; 32],
    exporter_ctx: &[u8],
    out: &mut [u8],
) -> Option<[u8; HPKE_ENC_LEN]> {
    let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient).ok()?;
    let (enc, ctx) = hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &pk,
        info,
        &mut FixedIkm(*ikm, false),
    )
    .ok()?;
    ctx.export(exporter_ctx, out).ok()?;
    Some(enc.to_bytes().into())
}

/// The receiver's side of `hpke_export_to`: the same exported bytes, from the recipient's key.
pub fn hpke_export_from(
    sk: &X25519Secret,
    enc: &[u8; HPKE_ENC_LEN],
    info: &[u8],
    exporter_ctx: &[u8],
    out: &mut [u8],
) -> Option<()> {
    let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(sk.expose()).ok()?;
    let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(enc).ok()?;
    let ctx =
        hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(&OpModeR::Base, &sk, &enc, info).ok()?;
    ctx.export(exporter_ctx, out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let rng = ring::rand::SystemRandom::new();
        let sk = Secret::random(&rng);
        let pk = x25519_public(&sk);
        let (enc, ct) = hpke_seal(&pk, b"info", b"aad", b"msg", &rng).unwrap();
        assert_eq!(hpke_open(&sk, &enc, b"info", b"aad", &ct).unwrap(), b"msg");
        assert!(hpke_open(&sk, &enc, b"other", b"aad", &ct).is_none());
        let other = Secret::random(&rng);
        assert!(hpke_open(&other, &enc, b"info", b"aad", &ct).is_none());
    }

    #[test]
    fn export_is_the_same_on_both_sides_and_again_for_the_same_ikm() {
        let rng = ring::rand::SystemRandom::new();
        let sk = Secret::random(&rng);
        let pk = x25519_public(&sk);
        let (mut a, mut b, mut c) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        let enc = hpke_export_to(&pk, b"info", &[7; 32], b"ctx", &mut a).unwrap();
        hpke_export_from(&sk, &enc, b"info", b"ctx", &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(hpke_export_to(&pk, b"info", &[7; 32], b"ctx", &mut c).unwrap(), enc);
        assert_eq!(a, c);
        assert_ne!(hpke_export_to(&pk, b"info", &[8; 32], b"ctx", &mut c).unwrap(), enc);
    }
}
