//! Every fixed, versioned label sslx feeds to a KDF, MAC, signature or HPKE `info`.

/// Salt of the offset function: `X offset by V`.
pub const OFFSET_SALT: &[u8] = b"sslx-offset-v1";
/// Offset of H1 by the PIN (reply A).
pub const VSU_H1_BY_PIN: &[u8] = b"sslx-vsu-h1-by-pin-v1";
/// Offset of H2 by H1 (reply B).
pub const VSU_H2_BY_H1: &[u8] = b"sslx-vsu-h2-by-h1-v1";
/// HPKE `info` of reply A.
pub const VSU_REPLY_A: &[u8] = b"sslx-vsu-reply-a-v1";
/// Ed25519 context of the open request.
pub const VSU_OPEN_REQUEST: &[u8] = b"sslx-vsu-open-request-v1";
/// Symmetric wrap of the confirmation under the CDSK.
pub const VSU_CONFIRM: &[u8] = b"sslx-vsu-confirm-v1";
/// The sent value inside the confirmation: `HMAC(CDSK, "confirm" ‖ request id ‖ nonce)`.
pub const VSU_SENT_VALUE: &[u8] = b"confirm";
/// Symmetric wrap of the CDS's "confirmed" answer under the CDSK.
pub const VSU_CONFIRMED: &[u8] = b"sslx-vsu-confirmed-v1";
/// HPKE `info` of the denied message, and the context of the CDS's signature over it.
pub const VSU_DENIED: &[u8] = b"sslx-vsu-denied-v1";
