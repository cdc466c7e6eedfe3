//! Every primitive sslx uses, in DESIGN.md's notation ("Crypto mapping"). Randomness comes in as
//! an argument (`&dyn SecureRandom`, ring's SystemRandom in production).

mod aead;
mod hpke;
pub mod labels;
mod mac;
mod offset;
mod rng;
mod secret;
mod x25519;

pub use self::aead::{unwrap, wrap, AEAD_NONCE_LEN, AEAD_OVERHEAD};
pub use self::hpke::{
    derive_x25519_for_testing_only, hpke_export_from, hpke_export_to, hpke_open, hpke_seal, x25519_public,
    X25519Secret, HPKE_ENC_LEN,
};
pub use mac::{ct_eq, hkdf, hmac_sha256, sha256};
pub use offset::offset;
pub use rng::{random_array, system_rng, RingRng};
pub use secret::Secret;
pub use x25519::Ephemeral;

use ring::signature::{self, Ed25519KeyPair, KeyPair};

/// Ed25519 signing key from its 32-byte seed.
pub fn ed25519_keypair(seed: &[u8; 32]) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(seed).expect("any 32-byte seed is a valid Ed25519 key")
}

pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_keypair(seed).public_key().as_ref().try_into().expect("32-byte public key")
}

pub fn ed25519_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    ed25519_keypair(seed).sign(msg).as_ref().try_into().expect("64-byte signature")
}

pub fn ed25519_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public).verify(msg, sig).is_ok()
}
