//! "X offset by V": `X XOR HKDF-Expand(HKDF-Extract("sslx-offset-v1", V), label, len(X))`.
//! Removing the offset is the same operation.

use super::{hkdf, labels::OFFSET_SALT};
use zeroize::Zeroize;

pub fn offset(x: &[u8], v: &[u8], label: &[u8]) -> Vec<u8> {
    let mut pad = vec![0u8; x.len()];
    hkdf(OFFSET_SALT, label, v, &mut pad);
    let out = x.iter().zip(&pad).map(|(a, b)| a ^ b).collect();
    pad.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let x = [7u8; 16];
        let o = offset(&x, b"1A2B3C", b"l");
        assert_ne!(o, x);
        assert_eq!(offset(&o, b"1A2B3C", b"l"), x);
        assert_ne!(offset(&o, b"1A2B3D", b"l"), x);
    }
}
