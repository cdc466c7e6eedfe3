//! A participant's identity: an X25519 key (to be wrapped to) and an Ed25519 key (to sign).

use super::{decode_line, encode_line, KeyError, LineKind};
use crate::crypto::{ed25519_public, ed25519_sign, x25519_public, Secret, X25519Secret};
use ring::rand::SecureRandom;

pub struct Identity {
    pub name: String,
    pub x25519: X25519Secret,
    pub ed25519_seed: Secret<32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
}

impl PublicIdentity {
    pub fn to_line(&self) -> String {
        let mut d = [0u8; 64];
        d[..32].copy_from_slice(&self.x25519);
        d[32..].copy_from_slice(&self.ed25519);
        encode_line(LineKind::Public, &d)
    }

    pub fn from_line(line: &str) -> Result<Self, KeyError> {
        let d = decode_line(LineKind::Public, line)?;
        Ok(PublicIdentity { x25519: d[..32].try_into().unwrap(), ed25519: d[32..].try_into().unwrap() })
    }
}

/// Whether `s` is 1 to `max_len` of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or
/// digit: the shape of participant names and of the relay's service names.
pub fn is_name_shaped(s: &str, max_len: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max_len
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Names are what other participants and the CDS call a machine: 1–64 of `a-z 0-9 . _ -`,
/// starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), KeyError> {
    if is_name_shaped(name, 64) {
        Ok(())
    } else {
        Err(KeyError::Invalid(format!(
            "invalid name {name:?}: use 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )))
    }
}

impl Identity {
    pub fn generate(name: &str, rng: &dyn SecureRandom) -> Result<Self, KeyError> {
        check_name(name)?;
        Ok(Identity { name: name.to_owned(), x25519: Secret::random(rng), ed25519_seed: Secret::random(rng) })
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity { x25519: x25519_public(&self.x25519), ed25519: ed25519_public(self.ed25519_seed.expose()) }
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        ed25519_sign(self.ed25519_seed.expose(), msg)
    }

    /// The identity file: comments, then the secret line. The name is in the first comment.
    pub fn to_file_text(&self) -> zeroize::Zeroizing<String> {
        let mut d = zeroize::Zeroizing::new([0u8; 64]);
        d[..32].copy_from_slice(self.x25519.expose());
        d[32..].copy_from_slice(self.ed25519_seed.expose());
        let secret_line = zeroize::Zeroizing::new(encode_line(LineKind::SecretKey, &d[..]));
        zeroize::Zeroizing::new(format!(
            "# sslx identity: {}\n# public key: {}\n{}\n",
            self.name,
            self.public().to_line(),
            secret_line.as_str()
        ))
    }

    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let name =
            text.lines().find_map(|l| l.strip_prefix("# sslx identity:")).map(|n| n.trim().to_owned()).ok_or_else(
                || KeyError::BadLine {
                    expected: "identity file",
                    why: "no '# sslx identity: NAME' line".into(),
                    class: super::LineFailure::Malformed,
                },
            )?;
        check_name(&name)?;
        let line = super::find_line(LineKind::SecretKey, text).ok_or_else(|| KeyError::BadLine {
            expected: "secret key",
            why: "no SSLX-SECRET-KEY-1 line found".into(),
            class: super::LineFailure::Malformed,
        })?;
        let d = zeroize::Zeroizing::new(decode_line(LineKind::SecretKey, line)?);
        Ok(Identity {
            name,
            x25519: Secret::from_slice(&d[..32]).unwrap(),
            ed25519_seed: Secret::from_slice(&d[32..]).unwrap(),
        })
    }
}
