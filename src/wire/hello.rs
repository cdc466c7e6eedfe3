//! The CDS hello: the first frame on every connection to the CDS's protocol port. Its challenge
//! binds each authenticated request to the connection it arrives on, so a recorded request
//! replayed on another connection does not verify (docs/PROTOCOL.md section 2).

use super::{Msg, Reader, WireError};

pub const TYPE_CDS_HELLO: u8 = 0x0e;
/// Bytes of the connection challenge.
pub const CHALLENGE_LEN: usize = 32;

/// CDS → participant, unasked, as soon as the connection is accepted:
/// `[32] challenge ‖ u64 CDS time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdsHello {
    pub challenge: [u8; CHALLENGE_LEN],
    /// The CDS's clock (Unix seconds), for messages about clock skew.
    pub cds_time: u64,
}

impl Msg for CdsHello {
    const TYPE: u8 = TYPE_CDS_HELLO;
    const NAME: &'static str = "CDS hello";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.challenge);
        out.extend_from_slice(&self.cds_time.to_be_bytes());
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(CdsHello { challenge: r.take_array("challenge")?, cds_time: r.u64("CDS time")? })
    }
}
