//! One-time X25519 key pairs (ring): the forward secrecy of the session handshake and the key
//! agreement of pairing. The private half never leaves ring and is consumed by the agreement.

use super::Secret;
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::rand::SecureRandom;

/// An ephemeral X25519 key pair, used for one agreement.
pub struct Ephemeral {
    private: EphemeralPrivateKey,
    public: [u8; 32],
}

impl Ephemeral {
    /// A fresh key pair from `rng` (the OS RNG in production; its failure is fatal, as
    /// everywhere in sslx).
    pub fn generate(rng: &dyn SecureRandom) -> Self {
        let private = EphemeralPrivateKey::generate(&X25519, rng).expect("the OS random number generator failed");
        let public = private.compute_public_key().expect("an X25519 public key from a private one");
        Ephemeral { private, public: public.as_ref().try_into().expect("32-byte X25519 public key") }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The shared secret with `peer`'s public key; `None` when it is a low-order point (the
    /// result would be all zeros: ring refuses it), which callers report as a failed check.
    pub fn agree(self, peer: &[u8; 32]) -> Option<Secret<32>> {
        agreement::agree_ephemeral(self.private, &UnparsedPublicKey::new(&X25519, peer), Secret::from_slice)
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_one_secret_and_a_low_order_point_is_refused() {
        let rng = crate::crypto::system_rng();
        let (a, b) = (Ephemeral::generate(&rng), Ephemeral::generate(&rng));
        let (pa, pb) = (a.public(), b.public());
        assert_ne!(pa, pb);
        assert_eq!(a.agree(&pb).unwrap().expose(), b.agree(&pa).unwrap().expose());
        assert!(Ephemeral::generate(&rng).agree(&[0; 32]).is_none(), "the zero point");
    }
}
