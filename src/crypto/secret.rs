//! Fixed-size secrets: zeroized on drop, redacted in Debug, compared in constant time.

use zeroize::Zeroize;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Secret<N> {
    pub fn new(bytes: [u8; N]) -> Self {
        Secret(bytes)
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        Some(Secret(b.try_into().ok()?))
    }

    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }

    pub fn random(rng: &dyn ring::rand::SecureRandom) -> Self {
        Secret(super::random_array(rng))
    }

    pub fn ct_eq(&self, other: &Self) -> bool {
        super::ct_eq(&self.0, &other.0)
    }
}

impl<const N: usize> Drop for Secret<N> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<const N: usize> std::fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}
