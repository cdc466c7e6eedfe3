//! HMAC-SHA-256, HKDF-SHA-256, SHA-256 and constant-time comparison.

use ring::{digest, hkdf as rhkdf, hmac};

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().try_into().expect("32-byte HMAC-SHA-256")
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, data).as_ref().try_into().expect("32-byte SHA-256")
}

struct Len(usize);
impl rhkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// `HKDF-Expand(HKDF-Extract(salt, ikm), label, out.len())`, out at most 8,160 bytes.
pub fn hkdf(salt: &[u8], label: &[u8], ikm: &[u8], out: &mut [u8]) {
    let prk = rhkdf::Salt::new(rhkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [label];
    prk.expand(&info, Len(out.len())).and_then(|okm| okm.fill(out)).expect("HKDF output length within 255 * 32 bytes");
}

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
