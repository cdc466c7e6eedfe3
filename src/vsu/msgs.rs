//! VSU messages, one type each with one encoder and one decoder. Byte layouts: docs/PROTOCOL.md.

use crate::crypto::{self, labels, HPKE_ENC_LEN};
use crate::keys::{decode_line, encode_line, LineKind, PublicIdentity};
use crate::wire::{put_str16, put_str8, Msg, Reader, WireError, CHALLENGE_LEN, VERSION};
use base64::Engine;

pub const TYPE_OPEN_REQUEST: u8 = 0x10;
pub const TYPE_REPLY_A: u8 = 0x11;
pub const TYPE_CONFIRM: u8 = 0x12;
pub const TYPE_CONFIRMED: u8 = 0x13;
pub const TYPE_DENIED: u8 = 0x14;
pub const TYPE_RENEW: u8 = 0x15;
pub const TYPE_RENEWED: u8 = 0x16;
pub const TYPE_RENEW_CONFIRM: u8 = 0x17;
pub const TYPE_RENEW_CONFIRMED: u8 = 0x18;
pub use crate::wire::{Refused, TYPE_REFUSED};

pub type RequestId = [u8; 16];

pub fn request_id_hex(id: &RequestId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Open request DS → CDS (VD-DS1), signed with the DS's Ed25519 key over the fields and the
/// challenge of the connection it is sent on (so it cannot be replayed on another connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// Authentication-request value: `VSU-DS`.
    pub ar: String,
    pub name: String,
    pub public: PublicIdentity,
    pub email: String,
    pub oob: String,
    /// Ed25519 signature by `public.ed25519` over `signed_bytes(challenge)`.
    pub signature: [u8; 64],
    /// For re-enrolling a registered name under a new key: the same bytes signed by the current key.
    pub proof: Option<[u8; 64]>,
}

impl OpenRequest {
    fn encode_fields(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.ar)?;
        put_str8(out, &self.name)?;
        out.extend_from_slice(&self.public.x25519);
        out.extend_from_slice(&self.public.ed25519);
        put_str16(out, &self.email)?;
        put_str16(out, &self.oob)
    }

    /// `"sslx-vsu-open-request-v1" ‖ challenge ‖ ar … oob` as encoded.
    pub fn signed_bytes(&self, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, WireError> {
        let mut out = labels::VSU_OPEN_REQUEST.to_vec();
        out.extend_from_slice(challenge);
        self.encode_fields(&mut out)?;
        Ok(out)
    }

    /// Whether the signature holds for a request sent on the connection with `challenge`.
    pub fn signature_valid(&self, challenge: &[u8; CHALLENGE_LEN]) -> bool {
        self.signed_bytes(challenge).is_ok_and(|m| crypto::ed25519_verify(&self.public.ed25519, &m, &self.signature))
    }
}

impl Msg for OpenRequest {
    const TYPE: u8 = TYPE_OPEN_REQUEST;
    const NAME: &'static str = "open request";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        self.encode_fields(out)?;
        out.extend_from_slice(&self.signature);
        match &self.proof {
            None => out.push(0),
            Some(p) => {
                out.push(64);
                out.extend_from_slice(p);
            }
        }
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ar = r.str8("authentication-request value")?.to_owned();
        let name = r.str8("name")?.to_owned();
        let x25519 = r.take_array("X25519 public key")?;
        let ed25519 = r.take_array("Ed25519 public key")?;
        let email = r.str16("email address")?.to_owned();
        let oob = r.str16("out-of-band URI")?.to_owned();
        let signature = r.take_array("signature")?;
        let proof = match r.u8("proof length")? {
            0 => None,
            64 => Some(r.take_array("proof")?),
            _ => return Err(WireError::Invalid("proof length must be 0 or 64")),
        };
        Ok(OpenRequest { ar, name, public: PublicIdentity { x25519, ed25519 }, email, oob, signature, proof })
    }
}

/// Reply A CDS → DS (VD-CDS2): `offset(H1, PIN)` sealed to the DS's X25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyA {
    pub request_id: RequestId,
    /// Unix seconds after which the CDS no longer accepts the confirmation.
    pub expires: u64,
    /// The CDS's public HTTP base URL (standing), as it announces it.
    pub cds_http: String,
    /// The CDS's Ed25519 key, which signs "denied" messages.
    pub cds_sign_key: [u8; 32],
    pub enc: [u8; HPKE_ENC_LEN],
    /// HPKE ciphertext of the 16-byte offset H1, with its 16-byte tag.
    pub sealed_h1: Vec<u8>,
    /// The protocol addresses the participant is to remember (several instances of one CDS,
    /// comma-separated `HOST:PORT`s); empty when the CDS announces none (it keeps the one it used).
    pub cds_addresses: String,
}

pub const SEALED_H1_LEN: usize = 16 + 16;

impl ReplyA {
    /// The clear fields before `enc`, as encoded.
    fn leading_fields(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.request_id);
        out.extend_from_slice(&self.expires.to_be_bytes());
        put_str16(&mut out, &self.cds_http)?;
        out.extend_from_slice(&self.cds_sign_key);
        Ok(out)
    }

    /// Associated data of the HPKE seal: the clear fields as encoded (the announced addresses,
    /// when there are, last).
    pub fn aad(&self) -> Result<Vec<u8>, WireError> {
        let mut out = self.leading_fields()?;
        if !self.cds_addresses.is_empty() {
            put_str16(&mut out, &self.cds_addresses)?;
        }
        Ok(out)
    }

    /// Reply A as pasteable text (what `sslx vsu --out` writes).
    pub fn to_armor(&self) -> Result<String, WireError> {
        Ok(armor("SSLX REPLY A", &self.to_frame()?))
    }

    pub fn from_armor(text: &str) -> Result<Self, WireError> {
        Self::from_bytes(&dearmor("SSLX REPLY A", text)?)
    }
}

impl Msg for ReplyA {
    const TYPE: u8 = TYPE_REPLY_A;
    const NAME: &'static str = "reply A";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.leading_fields()?);
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.sealed_h1);
        if !self.cds_addresses.is_empty() {
            put_str16(out, &self.cds_addresses)?;
        }
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let request_id = r.take_array("request id")?;
        let expires = r.u64("expiry")?;
        let cds_http = r.str16("CDS HTTP address")?.to_owned();
        let cds_sign_key = r.take_array("CDS signing key")?;
        let enc = r.take_array("HPKE encapsulated key")?;
        let sealed_h1 = r.take(SEALED_H1_LEN, "sealed first half")?.to_vec();
        // Announced addresses, when the CDS sends them: never an empty string (that is "none").
        let cds_addresses = if r.remaining() > 0 {
            let a = r.str16("CDS addresses")?;
            if a.is_empty() {
                return Err(WireError::Invalid("reply A's announced CDS addresses are empty"));
            }
            a.to_owned()
        } else {
            String::new()
        };
        Ok(ReplyA { request_id, expires, cds_http, cds_sign_key, enc, sealed_h1, cds_addresses })
    }
}

/// Reply B CDS → DS by email (VD-CDS3): `offset(H2, H1)` and the request id, as a key line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyB {
    pub request_id: RequestId,
    pub offset_h2: [u8; 16],
}

pub const REPLY_B_BEGIN: &str = "-----BEGIN SSLX REPLY B-----";
pub const REPLY_B_END: &str = "-----END SSLX REPLY B-----";

impl ReplyB {
    pub fn to_line(&self) -> String {
        let mut d = [0u8; 32];
        d[..16].copy_from_slice(&self.request_id);
        d[16..].copy_from_slice(&self.offset_h2);
        encode_line(LineKind::ReplyB, &d)
    }

    pub fn to_armor(&self) -> String {
        format!("{REPLY_B_BEGIN}\n{}\n{REPLY_B_END}\n", self.to_line())
    }

    /// Finds reply B in any text: the armored block alone, or the whole email it came in
    /// (quoted-printable soft breaks and `>` quoting are tolerated).
    pub fn find_in(text: &str) -> Result<Self, crate::keys::KeyError> {
        let cleaned = unquote_email(text);
        let line = cleaned
            .iter()
            .map(|l| l.trim())
            .find(|l| l.get(..13).is_some_and(|p| p.eq_ignore_ascii_case("sslx-reply-b1")))
            .ok_or_else(|| crate::keys::KeyError::BadLine {
                expected: "reply B",
                class: crate::keys::LineFailure::Malformed,
                why: if text.contains("BEGIN SSLX REPLY A") {
                    "this is reply A (the halves are swapped): reply B is the block that came by email".into()
                } else {
                    "no 'sslx-reply-b1…' line found in the input".into()
                },
            })?;
        let d = decode_line(LineKind::ReplyB, line)?;
        Ok(ReplyB { request_id: d[..16].try_into().unwrap(), offset_h2: d[16..].try_into().unwrap() })
    }
}

/// Reply C CDS → DS on the out-of-band channel (VD-CDS4): the PIN and the request id only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyC {
    pub request_id: RequestId,
    pub name: String,
    pub pin: String,
}

impl ReplyC {
    pub fn text(&self) -> String {
        format!(
            "sslx verified setup of {} (request {}): PIN {}. Enter it in sslx assemble-key; never send it by email.",
            self.name,
            request_id_hex(&self.request_id),
            self.pin
        )
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "sslx.vsu.reply_c",
            "name": self.name,
            "request_id": request_id_hex(&self.request_id),
            "pin": self.pin,
            "text": self.text(),
        })
    }

    /// Finds the PIN in a reply C text (the OOB message as delivered, an email included).
    pub fn pin_in(text: &str) -> Option<String> {
        let text = unquote_email(text).join("\n");
        text.match_indices("PIN ").find_map(|(i, _)| {
            let rest = &text[i + 4..];
            let pin: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            let ends = rest[pin.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric());
            ((4..=6).contains(&pin.len()) && ends).then_some(pin)
        })
    }
}

/// Confirmation DS → CDS (VD-DS5), wrapped in the CDSK: `nonce ‖ HMAC(CDSK, "confirm" ‖ request id ‖ nonce)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub request_id: RequestId,
    pub wrapped: Vec<u8>,
}

/// Plaintext of a confirmation: 32-byte nonce, 32-byte sent value.
pub const CONFIRM_PLAIN_LEN: usize = 64;

pub fn wrap_aad(msg_type: u8, request_id: &RequestId) -> Vec<u8> {
    let mut a = vec![msg_type, VERSION];
    a.extend_from_slice(request_id);
    a
}

/// The confirmation's associated data: `0x12 ‖ version ‖ request id ‖ challenge` (bound to its
/// connection).
pub fn confirm_aad(request_id: &RequestId, challenge: &[u8; CHALLENGE_LEN]) -> Vec<u8> {
    let mut a = wrap_aad(TYPE_CONFIRM, request_id);
    a.extend_from_slice(challenge);
    a
}

impl Msg for Confirm {
    const TYPE: u8 = TYPE_CONFIRM;
    const NAME: &'static str = "confirmation";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.request_id);
        out.extend_from_slice(&self.wrapped);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let request_id = r.take_array("request id")?;
        let wrapped = r.take(CONFIRM_PLAIN_LEN + crypto::AEAD_OVERHEAD, "wrapped confirmation")?.to_vec();
        Ok(Confirm { request_id, wrapped })
    }
}

/// CDS → DS when the sent value matched, wrapped in the CDSK (so the DS knows the CDS holds it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub request_id: RequestId,
    pub wrapped: Vec<u8>,
}

/// What a `Confirmed` carries inside its wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedBody {
    pub nonce: [u8; 32],
    pub confirmed_at: u64,
    pub key_expires: u64,
}

impl ConfirmedBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = self.nonce.to_vec();
        o.extend_from_slice(&self.confirmed_at.to_be_bytes());
        o.extend_from_slice(&self.key_expires.to_be_bytes());
        o
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = ConfirmedBody {
            nonce: r.take_array("nonce")?,
            confirmed_at: r.u64("confirmed at")?,
            key_expires: r.u64("key expiry")?,
        };
        r.finish()?;
        Ok(v)
    }
}

impl Msg for Confirmed {
    const TYPE: u8 = TYPE_CONFIRMED;
    const NAME: &'static str = "confirmed";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.request_id);
        out.extend_from_slice(&self.wrapped);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let request_id = r.take_array("request id")?;
        let wrapped = r.take(48 + crypto::AEAD_OVERHEAD, "wrapped confirmed body")?.to_vec();
        Ok(Confirmed { request_id, wrapped })
    }
}

/// Denied CDS → DS (VD-CDS7): sealed to the DS's X25519 key and signed by the CDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub request_id: RequestId,
    pub enc: [u8; HPKE_ENC_LEN],
    /// HPKE ciphertext of `attempts left u8 ‖ reason (len u16 | UTF-8)`.
    pub sealed: Vec<u8>,
    /// Ed25519 by the CDS over `"sslx-vsu-denied-v1" ‖ request id ‖ challenge ‖ enc ‖
    /// sealed`, the challenge being that of the connection the confirmation came on (a denial
    /// answers one confirmation, and cannot be replayed against another).
    pub signature: [u8; 64],
}

impl Denied {
    pub fn signed_bytes(&self, challenge: &[u8; CHALLENGE_LEN]) -> Vec<u8> {
        let mut o = labels::VSU_DENIED.to_vec();
        o.extend_from_slice(&self.request_id);
        o.extend_from_slice(challenge);
        o.extend_from_slice(&self.enc);
        o.extend_from_slice(&self.sealed);
        o
    }
}

impl Msg for Denied {
    const TYPE: u8 = TYPE_DENIED;
    const NAME: &'static str = "denied";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.request_id);
        out.extend_from_slice(&self.enc);
        crate::wire::put_bytes16(out, &self.sealed)?;
        out.extend_from_slice(&self.signature);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let request_id = r.take_array("request id")?;
        let enc = r.take_array("HPKE encapsulated key")?;
        let sealed = r.bytes16("sealed reason")?.to_vec();
        let signature = r.take_array("signature")?;
        Ok(Denied { request_id, enc, sealed, signature })
    }
}

// ---- renewal of a CDSK before it expires (PROTOCOL.md 5.8) ----

/// A renewal's nonce: drawn by the participant, it binds the four messages of one renewal.
pub type RenewalNonce = [u8; 16];

/// Bytes of the new CDSK sealed to the participant (HPKE ciphertext and tag).
pub const RENEWED_KEY_SEALED_LEN: usize = 32 + 16;

/// Participant → CDS: renew my CDSK. `str8 name ‖ wrap(current CDSK, "sslx-vsu-renew-v1", aad =
/// 0x15 ‖ version ‖ str8 name ‖ challenge, nonce)`: proved with the current key on this
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renew {
    pub name: String,
    pub wrapped: Vec<u8>,
}

impl Msg for Renew {
    const TYPE: u8 = TYPE_RENEW;
    const NAME: &'static str = "renew";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.name)?;
        out.extend_from_slice(&self.wrapped);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let name = r.str8("name")?.to_owned();
        let wrapped = r.take(16 + crypto::AEAD_OVERHEAD, "wrapped renewal nonce")?.to_vec();
        Ok(Renew { name, wrapped })
    }
}

/// CDS → participant: the new CDSK, sealed to the participant's registered X25519 key inside a
/// wrap under the current CDSK bound to the renewal nonce, and signed by the CDS over the
/// connection's challenge (so a holder of the current CDSK alone cannot hand out a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewed {
    pub wrapped: Vec<u8>,
    /// Ed25519 by the CDS over `"sslx-vsu-renewed-v1" ‖ challenge ‖ nonce ‖ wrapped`.
    pub signature: [u8; 64],
}

/// What a [`Renewed`] carries inside its wrap: `[32] enc ‖ [48] sealed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewedBody {
    pub enc: [u8; HPKE_ENC_LEN],
    pub sealed: [u8; RENEWED_KEY_SEALED_LEN],
}

impl RenewedBody {
    pub fn encode(&self) -> Vec<u8> {
        [self.enc.as_slice(), &self.sealed].concat()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = RenewedBody { enc: r.take_array("HPKE encapsulated key")?, sealed: r.take_array("sealed new key")? };
        r.finish()?;
        Ok(v)
    }
}

impl Msg for Renewed {
    const TYPE: u8 = TYPE_RENEWED;
    const NAME: &'static str = "renewed";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.wrapped);
        out.extend_from_slice(&self.signature);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = HPKE_ENC_LEN + RENEWED_KEY_SEALED_LEN + crypto::AEAD_OVERHEAD;
        let wrapped = r.take(n, "wrapped renewed body")?.to_vec();
        Ok(Renewed { wrapped, signature: r.take_array("signature")? })
    }
}

/// Participant → CDS, on a new connection: I hold the new key. `str8 name ‖ [16] nonce ‖
/// wrap(new CDSK, "sslx-vsu-renew-confirm-v1", aad = 0x17 ‖ version ‖ str8 name ‖ challenge ‖
/// nonce, empty)`. The nonce travels in clear: the CDS needs it to derive the new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewConfirm {
    pub name: String,
    pub nonce: RenewalNonce,
    pub wrapped: Vec<u8>,
}

impl Msg for RenewConfirm {
    const TYPE: u8 = TYPE_RENEW_CONFIRM;
    const NAME: &'static str = "renew confirmation";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.name)?;
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.wrapped);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let name = r.str8("name")?.to_owned();
        let nonce = r.take_array("renewal nonce")?;
        let wrapped = r.take(crypto::AEAD_OVERHEAD, "wrapped proof of the new key")?.to_vec();
        Ok(RenewConfirm { name, nonce, wrapped })
    }
}

/// CDS → participant: the new key is the participant's now. `wrap(new CDSK,
/// "sslx-vsu-renew-confirmed-v1", aad = 0x18 ‖ version ‖ nonce, body)`, signed by the CDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewConfirmed {
    pub wrapped: Vec<u8>,
    /// Ed25519 by the CDS over `"sslx-vsu-renew-confirmed-v1" ‖ challenge ‖ nonce ‖ wrapped`.
    pub signature: [u8; 64],
}

/// What a [`RenewConfirmed`] carries: `u64 renewed_at ‖ u64 key_expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewConfirmedBody {
    pub renewed_at: u64,
    pub key_expires: u64,
}

impl RenewConfirmedBody {
    pub fn encode(&self) -> Vec<u8> {
        [self.renewed_at.to_be_bytes(), self.key_expires.to_be_bytes()].concat()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = RenewConfirmedBody { renewed_at: r.u64("renewed at")?, key_expires: r.u64("key expiry")? };
        r.finish()?;
        Ok(v)
    }
}

impl Msg for RenewConfirmed {
    const TYPE: u8 = TYPE_RENEW_CONFIRMED;
    const NAME: &'static str = "renew confirmed";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.wrapped);
        out.extend_from_slice(&self.signature);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let wrapped = r.take(16 + crypto::AEAD_OVERHEAD, "wrapped renew-confirmed body")?.to_vec();
        Ok(RenewConfirmed { wrapped, signature: r.take_array("signature")? })
    }
}

/// The lines of an email as a person pasted it, made readable again (docs/PROTOCOL.md 5.3):
/// split at LF (a CR before it dropped); from each line, its quoting stripped first (any run of
/// `>`, spaces and tabs at its start); then each line that ends in `=` (trailing spaces and tabs
/// ignored) joined to the next without the `=` (a quoted-printable soft line break).
pub fn unquote_email(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for raw in text.split('\n') {
        let l = raw.strip_suffix('\r').unwrap_or(raw).trim_start_matches(['>', ' ', '\t']);
        let t = l.trim_end_matches([' ', '\t']);
        let (piece, soft) = match t.strip_suffix('=') {
            Some(head) => (head, true),
            None => (l, false),
        };
        match (open, out.last_mut()) {
            (true, Some(last)) => last.push_str(piece),
            _ => out.push(piece.to_owned()),
        }
        open = soft;
    }
    out
}

/// `-----BEGIN LABEL-----`, base64 in 64-column lines, `-----END LABEL-----`.
pub fn armor(label: &str, bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

pub fn dearmor(label: &str, text: &str) -> Result<Vec<u8>, WireError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(WireError::Invalid("no BEGIN line of the armored block"))? + begin.len();
    let stop = text[start..].find(&end).ok_or(WireError::MissingData("END line of the armored block"))? + start;
    let b64: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| WireError::Invalid("armored block is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_b() -> ReplyB {
        ReplyB { request_id: [7; 16], offset_h2: [9; 16] }
    }

    #[test]
    fn finds_reply_b_soft_broken_then_quoted_and_quoted_then_soft_broken() {
        let line = reply_b().to_line();
        let (head, tail) = line.split_at(30);
        // Quoted after the soft break (a reply quoting the quoted-printable mail): `…=` then `> rest`.
        let a = format!("Hi,\n> {REPLY_B_BEGIN}\n> {head}=\n> {tail}\n> {REPLY_B_END}\n");
        assert_eq!(ReplyB::find_in(&a).unwrap(), reply_b());
        // Soft-broken, unquoted, CRLF, with spaces after the `=`.
        let b = format!("{REPLY_B_BEGIN}\r\n{head}=  \r\n{tail}\r\n{REPLY_B_END}\r\n");
        assert_eq!(ReplyB::find_in(&b).unwrap(), reply_b());
        // Quoted twice, broken in three.
        let (t1, t2) = tail.split_at(10);
        let c = format!(">> {head}=\n>>{t1}=\n>> {t2}\n");
        assert_eq!(ReplyB::find_in(&c).unwrap(), reply_b());
        // The armor alone, the line alone.
        assert_eq!(ReplyB::find_in(&reply_b().to_armor()).unwrap(), reply_b());
        assert_eq!(ReplyB::find_in(&line.to_uppercase()).unwrap(), reply_b());
    }

    #[test]
    fn a_pin_soft_broken_inside_a_quoted_message_is_found() {
        let c = ReplyC { request_id: [1; 16], name: "alice".into(), pin: "1A2B3C".into() };
        let t = c.text();
        let at = t.find("PIN ").unwrap() + 6;
        let quoted = format!("> {}=\n> {}\n", &t[..at], &t[at..]);
        assert_eq!(ReplyC::pin_in(&quoted).as_deref(), Some("1A2B3C"));
    }
}
