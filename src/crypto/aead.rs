//! "SSLX-EA message wrapped in key K": ChaCha20-Poly1305 under `HKDF(K, label)`, a random 96-bit
//! nonce carried in front, associated data (the frame header and clear fields) bound in.

use super::{hkdf, random_array};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::SecureRandom;
use zeroize::Zeroize;

pub const AEAD_NONCE_LEN: usize = 12;
/// Nonce plus tag.
pub const AEAD_OVERHEAD: usize = AEAD_NONCE_LEN + 16;

fn key(k: &[u8], label: &[u8]) -> LessSafeKey {
    let mut raw = [0u8; 32];
    hkdf(b"", label, k, &mut raw);
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &raw).expect("32-byte key"));
    raw.zeroize();
    key
}

/// `nonce ‖ ciphertext ‖ tag`.
pub fn wrap(k: &[u8], label: &[u8], aad: &[u8], plaintext: &[u8], rng: &dyn SecureRandom) -> Vec<u8> {
    let nonce: [u8; AEAD_NONCE_LEN] = random_array(rng);
    let mut out = Vec::with_capacity(plaintext.len() + AEAD_OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(AEAD_NONCE_LEN);
    key(k, label)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
        .expect("seal cannot fail for in-range lengths");
    out.extend_from_slice(&body);
    out
}

/// Opens what `wrap` made; `None` on any failure (wrong key, tampered, truncated).
pub fn unwrap(k: &[u8], label: &[u8], aad: &[u8], wrapped: &[u8]) -> Option<Vec<u8>> {
    if wrapped.len() < AEAD_OVERHEAD {
        return None;
    }
    let nonce: [u8; AEAD_NONCE_LEN] = wrapped[..AEAD_NONCE_LEN].try_into().ok()?;
    let mut body = wrapped[AEAD_NONCE_LEN..].to_vec();
    let n = key(k, label).open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body).ok()?.len();
    body.truncate(n);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let rng = ring::rand::SystemRandom::new();
        let w = wrap(b"k", b"l", b"aad", b"hello", &rng);
        assert_eq!(unwrap(b"k", b"l", b"aad", &w).unwrap(), b"hello");
        assert!(unwrap(b"k2", b"l", b"aad", &w).is_none());
        assert!(unwrap(b"k", b"l2", b"aad", &w).is_none());
        assert!(unwrap(b"k", b"l", b"aad2", &w).is_none());
        for i in 0..w.len() {
            let mut t = w.clone();
            t[i] ^= 1;
            assert!(unwrap(b"k", b"l", b"aad", &t).is_none());
        }
        assert!(unwrap(b"k", b"l", b"aad", &w[..w.len() - 1]).is_none());
    }
}
