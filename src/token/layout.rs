//! The token's binary layout (seed 003, second patent, Table 2) and its text form:
//!
//! ```text
//! u8  format id (0)
//! u64 session id = u16 node id ‖ u48 session number
//! u16 length N
//! N   session data = u8 flags ‖ [u16 target node ‖ [16] salt ‖ [32] HPKE enc, if sealed] ‖ body ‖ [64] Ed25519 signature
//! u32 CRC-32 (IEEE) of everything before it
//! ```
//!
//! encoded as base64url without padding. The signature covers every byte before it (format id to
//! the end of the body); the body is the `Key: Value` lines, or their ciphertext (sealed: see
//! `super::seal`).

use super::TokenError;
use base64::Engine;

pub const FORMAT_ID: u8 = 0;
pub const FLAG_SEALED: u8 = 0x01;
pub const SIG_LEN: usize = 64;
pub const ENC_LEN: usize = 32;
pub const SALT_LEN: usize = 16;
/// Bytes around the session data: format, session id, length, CRC.
pub const OVERHEAD: usize = 1 + 8 + 2 + 4;
/// Bytes of a sealed token's target, salt and encapsulated key.
pub const SEALED_HEAD: usize = 2 + SALT_LEN + ENC_LEN;
/// Session numbers are 48 bits.
pub const MAX_NUMBER: u64 = (1 << 48) - 1;

/// How a sealed body was sealed: to which node, the minter's salt, the HPKE encapsulated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub target: u16,
    pub salt: [u8; SALT_LEN],
    pub enc: [u8; ENC_LEN],
}

/// A decoded token, signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub node: u16,
    pub number: u64,
    /// Set when the body is sealed.
    pub sealed: Option<Sealed>,
    pub body: Vec<u8>,
    pub signature: [u8; SIG_LEN],
}

impl Token {
    /// The 64-bit session id: node ‖ number.
    pub fn session_id(&self) -> u64 {
        ((self.node as u64) << 48) | self.number
    }

    /// The bytes the signature covers: everything before it.
    pub fn signed_bytes(node: u16, number: u64, sealed: Option<Sealed>, body: &[u8]) -> Vec<u8> {
        let data_len = 1 + sealed.map_or(0, |_| SEALED_HEAD) + body.len() + SIG_LEN;
        let mut v = Vec::with_capacity(OVERHEAD + data_len);
        v.push(FORMAT_ID);
        v.extend_from_slice(&(((node as u64) << 48) | number).to_be_bytes());
        v.extend_from_slice(&(data_len as u16).to_be_bytes());
        v.push(if sealed.is_some() { FLAG_SEALED } else { 0 });
        if let Some(s) = sealed {
            v.extend_from_slice(&s.target.to_be_bytes());
            v.extend_from_slice(&s.salt);
            v.extend_from_slice(&s.enc);
        }
        v.extend_from_slice(body);
        v
    }

    /// The header that HPKE binds a sealed body to: format id ‖ session id.
    pub fn aad(node: u16, number: u64) -> [u8; 9] {
        let mut a = [0u8; 9];
        a[0] = FORMAT_ID;
        a[1..].copy_from_slice(&(((node as u64) << 48) | number).to_be_bytes());
        a
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Self::signed_bytes(self.node, self.number, self.sealed, &self.body);
        v.extend_from_slice(&self.signature);
        let crc = crc32fast::hash(&v);
        v.extend_from_slice(&crc.to_be_bytes());
        v
    }

    /// The text form: base64url without padding.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.to_bytes())
    }

    /// Parses the binary form: length, CRC, format, flags; never panics on any input.
    pub fn from_bytes(b: &[u8]) -> Result<Self, TokenError> {
        let bad = |w: &str| TokenError::Malformed(w.to_owned());
        if b.len() < OVERHEAD + 1 + SIG_LEN {
            return Err(bad(&format!("{} bytes is too short for a token", b.len())));
        }
        let n = u16::from_be_bytes([b[9], b[10]]) as usize;
        if b.len() != OVERHEAD + n {
            return Err(bad(&format!(
                "the length field says {n} bytes of data, the token holds {} (truncated or padded)",
                b.len().saturating_sub(OVERHEAD)
            )));
        }
        let (content, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(content) != u32::from_be_bytes(crc.try_into().expect("4 bytes")) {
            return Err(bad("the CRC-32 does not match (a character was changed, lost or added)"));
        }
        if b[0] != FORMAT_ID {
            return Err(bad(&format!("unknown token format {}", b[0])));
        }
        let sid = u64::from_be_bytes(b[1..9].try_into().expect("8 bytes"));
        let data = &content[11..];
        let flags = data[0];
        if flags & !FLAG_SEALED != 0 {
            return Err(bad("unknown flags"));
        }
        let mut at = 1;
        let sealed = if flags & FLAG_SEALED != 0 {
            if data.len() < 1 + SEALED_HEAD + SIG_LEN {
                return Err(bad("too short for a sealed token"));
            }
            let target = u16::from_be_bytes([data[1], data[2]]);
            let salt: [u8; SALT_LEN] = data[3..3 + SALT_LEN].try_into().expect("16 bytes");
            let enc: [u8; ENC_LEN] = data[3 + SALT_LEN..3 + SALT_LEN + ENC_LEN].try_into().expect("32 bytes");
            at += SEALED_HEAD;
            Some(Sealed { target, salt, enc })
        } else {
            None
        };
        let body = data[at..data.len() - SIG_LEN].to_vec();
        let signature = data[data.len() - SIG_LEN..].try_into().expect("64 bytes");
        Ok(Token { node: (sid >> 48) as u16, number: sid & MAX_NUMBER, sealed, body, signature })
    }

    /// Parses the text form (whitespace around it is ignored).
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let t = text.trim();
        if t.len() > 64 * 1024 {
            return Err(TokenError::Malformed(format!("{} characters is far too long for a token", t.len())));
        }
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .map_err(|e| TokenError::Malformed(format!("not base64url without padding: {e}")))?;
        Self::from_bytes(&b)
    }
}
