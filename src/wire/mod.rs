//! Frames and the codec every protocol message uses.
//!
//! A frame is `type u8 | version u8 | length u32 BE | body` (seed 002 claim 9's common header);
//! `docs/PROTOCOL.md` gives each body. Decoders check, in order: the length cap, the expected
//! type and version, the fields, and that nothing is left over. They never allocate from a
//! length the peer chose before checking it against what is actually there.

mod frame;
mod hello;
mod reader;
mod refused;

pub use frame::{read_frame, read_frame_into, write_frame, Frame, Header, HEADER_LEN, MAX_BODY, VERSION};
pub use hello::{CdsHello, CHALLENGE_LEN, TYPE_CDS_HELLO};
pub use reader::{put_bytes16, put_str16, put_str8, Reader};
pub use refused::{Refused, TYPE_REFUSED};

use crate::ErrorKind;

/// Why bytes from the wire (or a file) were not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: {0} is missing")]
    MissingData(&'static str),
    #[error("malformed: {0} unexpected bytes after the message")]
    TrailingData(usize),
    #[error("malformed: frame body of {got} bytes is over the {max}-byte limit")]
    TooLarge { got: usize, max: usize },
    #[error("unexpected message type 0x{got:02x} (expected {expected})")]
    UnexpectedType { expected: &'static str, got: u8 },
    #[error("unsupported protocol version {0} (this sslx speaks version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("malformed: {0}")]
    Invalid(&'static str),
    /// An encoder was given a field longer than its length prefix can say.
    #[error("a field of {len} bytes does not fit its {max}-byte limit")]
    FieldTooLong { len: usize, max: usize },
}

/// A protocol message: one encoder and one decoder, over the body of a frame of type `TYPE`.
pub trait Msg: Sized {
    const TYPE: u8;
    const NAME: &'static str;
    /// Writes the body; a field too long for its length prefix, or a body over `MAX_BODY`, is
    /// an error (never a silently cut field).
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError>;
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError>;

    /// The whole frame: header, then body.
    fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        let mut body = Vec::new();
        self.encode_body(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(WireError::TooLarge { got: body.len(), max: MAX_BODY });
        }
        Ok(Frame { msg_type: Self::TYPE, version: VERSION, body }.to_bytes())
    }

    /// Decodes a frame that must be of this type.
    fn from_frame(frame: &Frame) -> Result<Self, WireError> {
        if frame.msg_type != Self::TYPE {
            return Err(WireError::UnexpectedType { expected: Self::NAME, got: frame.msg_type });
        }
        let mut r = Reader::new(&frame.body);
        let msg = Self::decode_body(&mut r)?;
        r.finish()?;
        Ok(msg)
    }

    /// Decodes a whole frame given as bytes (header included).
    fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        Self::from_frame(&Frame::parse(bytes)?)
    }
}

/// Reasons the CDS gives when it refuses a request; carried in a `Refused` frame as a u16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum RefusalCode {
    Malformed = 1,
    NotFound = 2,
    Expired = 3,
    AlreadyConfirmed = 4,
    NameTaken = 5,
    BadSignature = 6,
    TooManyAttempts = 7,
    EmailFailed = 8,
    OutOfBandFailed = 9,
    Internal = 10,
    BadRequest = 11,
    ClockSkew = 12,
    Incompatible = 13,
    NotEnrolled = 14,
    UnknownKeyId = 15,
    NotListening = 16,
    SourceMismatch = 17,
    /// The callee accepts calls only from its allowed peers (`sslx listen --allow`).
    NotAllowed = 18,
    /// Too many requests, or connections, from this source or for this destination: try later.
    RateLimited = 19,
    /// The KDC's principal is disabled (5F).
    Disabled = 20,
}

impl RefusalCode {
    pub fn from_u16(v: u16) -> Option<Self> {
        use RefusalCode::*;
        Some(match v {
            1 => Malformed,
            2 => NotFound,
            3 => Expired,
            4 => AlreadyConfirmed,
            5 => NameTaken,
            6 => BadSignature,
            7 => TooManyAttempts,
            8 => EmailFailed,
            9 => OutOfBandFailed,
            10 => Internal,
            11 => BadRequest,
            12 => ClockSkew,
            13 => Incompatible,
            14 => NotEnrolled,
            15 => UnknownKeyId,
            16 => NotListening,
            17 => SourceMismatch,
            18 => NotAllowed,
            19 => RateLimited,
            20 => Disabled,
            _ => return None,
        })
    }

    /// The exit-code kind a refusal maps to.
    pub fn kind_of(code: u16) -> ErrorKind {
        match Self::from_u16(code) {
            Some(RefusalCode::NotFound) | Some(RefusalCode::UnknownKeyId) => ErrorKind::NotFound,
            Some(RefusalCode::Expired) | Some(RefusalCode::ClockSkew) => ErrorKind::Expired,
            Some(RefusalCode::BadSignature) | Some(RefusalCode::AlreadyConfirmed) => ErrorKind::VerifyFailed,
            Some(RefusalCode::Internal) | Some(RefusalCode::NotListening) => ErrorKind::Unavailable,
            _ => ErrorKind::Refused,
        }
    }
}

/// For the codecs' unit tests beside each message: `m` round-trips through its frame; a frame
/// cut anywhere, or of another type or version, is refused; a body cut short or one byte longer
/// (its length fixed up) is refused or decodes to a message that encodes to exactly those bytes.
#[cfg(test)]
pub(crate) fn check_codec<M: Msg + PartialEq + std::fmt::Debug>(m: &M) {
    let f = m.to_frame().unwrap();
    assert_eq!(&M::from_bytes(&f).unwrap(), m, "{} round-trips", M::NAME);
    for n in 0..f.len() {
        assert!(M::from_bytes(&f[..n]).is_err(), "{} cut to {n} of {} bytes", M::NAME, f.len());
    }
    let reframed = |body: &[u8]| Frame { msg_type: M::TYPE, version: VERSION, body: body.to_vec() }.to_bytes();
    let body = &f[HEADER_LEN..];
    let mut longer = body.to_vec();
    longer.push(0x5a);
    for b in (0..body.len()).map(|k| reframed(&body[..k])).chain([reframed(&longer)]) {
        if let Ok(other) = M::from_bytes(&b) {
            assert_eq!(
                other.to_frame().unwrap(),
                b,
                "{}: {} body bytes decode but are not canonical",
                M::NAME,
                b.len()
            );
        }
    }
    let (mut other_type, mut other_version) = (f.clone(), f.clone());
    other_type[0] ^= 0x01;
    other_version[1] = VERSION + 1;
    assert!(matches!(M::from_bytes(&other_type), Err(WireError::UnexpectedType { .. })), "{}", M::NAME);
    assert!(matches!(M::from_bytes(&other_version), Err(WireError::UnsupportedVersion(_))), "{}", M::NAME);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_and_refusals_round_trip_and_reject_bad_frames() {
        check_codec(&CdsHello { challenge: [7; CHALLENGE_LEN], cds_time: 1_796_218_337 });
        check_codec(&Refused { code: 19, server_time: 1_796_218_337, reason: "busy: try again shortly".into() });
        check_codec(&Refused { code: 10, server_time: 0, reason: String::new() });
    }

    #[test]
    fn a_frame_parses_exactly_and_a_header_over_the_cap_is_refused_before_the_body() {
        let f = Frame { msg_type: 0x42, version: VERSION, body: vec![1, 2, 3] };
        assert_eq!(Frame::parse(&f.to_bytes()).unwrap(), f);
        assert!(matches!(Frame::parse(&f.to_bytes()[..8]), Err(WireError::MissingData("frame body"))));
        assert!(matches!(Frame::parse(&[f.to_bytes(), vec![0]].concat()), Err(WireError::TrailingData(1))));
        let huge = Header { msg_type: 0x42, version: VERSION, len: MAX_BODY as u32 + 1 }.to_bytes();
        assert!(matches!(Header::parse(&huge), Err(WireError::TooLarge { .. })));
        let mut body = Vec::new();
        let mut cut = &f.to_bytes()[..7];
        let e = read_frame_into(&mut cut, &mut body).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(read_frame_into(&mut &[][..], &mut body).unwrap(), None, "EOF on a boundary");
    }
}
