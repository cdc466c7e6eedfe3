//! Refused: the one negative answer of every sslx protocol (the CDS's refusals, a listener's,
//! a courier peer's negative acknowledge), with a code from `RefusalCode`.

use super::{put_str16, Msg, Reader, WireError};

pub const TYPE_REFUSED: u8 = 0x1f;

/// The CDS refuses a request, with a reason code, its clock, and a reason to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: u16,
    pub server_time: u64,
    pub reason: String,
}

impl Msg for Refused {
    const TYPE: u8 = TYPE_REFUSED;
    const NAME: &'static str = "refused";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.code.to_be_bytes());
        out.extend_from_slice(&self.server_time.to_be_bytes());
        put_str16(out, Self::cut(&self.reason))
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let (code, server_time, reason) = (r.u16("code")?, r.u64("server time")?, r.str16("reason")?);
        if reason.len() > Self::MAX_REASON {
            return Err(WireError::Invalid("a refusal's reason is over 1,000 bytes"));
        }
        Ok(Refused { code, server_time, reason: reason.to_owned() })
    }
}

impl Refused {
    /// Reasons are sentences; a longer one is cut at a character boundary.
    pub const MAX_REASON: usize = 1000;

    fn cut(reason: &str) -> &str {
        let mut end = reason.len().min(Self::MAX_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        &reason[..end]
    }

    /// The whole frame (a refusal always encodes: its reason is cut to `MAX_REASON`).
    pub fn frame(&self) -> Vec<u8> {
        self.to_frame().expect("a refusal's fields always fit")
    }
}
