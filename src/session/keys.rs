//! The key schedule of DESIGN.md "Handshake" (seed 002 claims 29–35, with the pre-shared key
//! keying the HMAC, since the nonces travel in clear).

use crate::crypto::{hmac_sha256, sha256, Secret};

pub use crate::crypto::labels::session::{FINISHED_LABEL, KEY_ID_LABEL, MK_LABEL};

/// `MK = HMAC(PSK, "sslx-mk-v1" ‖ SN ‖ CN ‖ SHA256(M1) ‖ SHA256(M2) [‖ X25519 shared])`.
pub fn master_key(psk: &[u8; 32], sn: &[u8; 32], cn: &[u8; 32], m1: &[u8], m2: &[u8], dh: Option<&[u8]>) -> Secret<32> {
    let (h1, h2) = (sha256(m1), sha256(m2));
    let mut parts: Vec<&[u8]> = vec![MK_LABEL, sn, cn, &h1, &h2];
    if let Some(dh) = dh {
        parts.push(dh);
    }
    Secret::new(hmac_sha256(psk, &parts))
}

/// Key-ID = the first 16 bytes of `SHA256("sslx-key-id-v1" ‖ MK)`.
pub fn key_id(mk: &Secret<32>) -> [u8; 16] {
    let mut b = KEY_ID_LABEL.to_vec();
    b.extend_from_slice(mk.expose());
    sha256(&b)[..16].try_into().unwrap()
}

/// The key of the direction whose sender is `name`: `HMAC(MK, name)`.
pub fn direction_key(mk: &Secret<32>, sender_name: &str) -> Secret<32> {
    Secret::new(hmac_sha256(mk.expose(), &[sender_name.as_bytes()]))
}

/// The finished value a side sends: `HMAC(MK, "sslx-finished-v1" ‖ own nonce ‖ other nonce)`;
/// the client's has CN first, the server's SN first (the roles swapped per direction).
pub fn finished(mk: &Secret<32>, own_nonce: &[u8; 32], other_nonce: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(mk.expose(), &[FINISHED_LABEL, own_nonce, other_nonce])
}
