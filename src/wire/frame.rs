//! The common frame header: `type u8 | version u8 | length u32 BE | body`.

use super::WireError;
use std::io::{Read, Write};

/// The protocol version this implementation speaks (2: every request to the CDS is bound to
/// its connection's challenge, docs/PROTOCOL.md section 2).
pub const VERSION: u8 = 2;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 6;
/// The largest body any frame may carry; larger lengths are refused before anything is read.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub msg_type: u8,
    pub version: u8,
    pub len: u32,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let l = self.len.to_be_bytes();
        [self.msg_type, self.version, l[0], l[1], l[2], l[3]]
    }

    /// Parses and checks a header: the version must be ours and the length under the cap.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Self, WireError> {
        let h = Header { msg_type: b[0], version: b[1], len: u32::from_be_bytes([b[2], b[3], b[4], b[5]]) };
        if h.version != VERSION {
            return Err(WireError::UnsupportedVersion(h.version));
        }
        if h.len as usize > MAX_BODY {
            return Err(WireError::TooLarge { got: h.len as usize, max: MAX_BODY });
        }
        Ok(h)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub msg_type: u8,
    pub version: u8,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self) -> Header {
        Header { msg_type: self.msg_type, version: self.version, len: self.body.len() as u32 }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(&self.header().to_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses exactly one frame from `bytes`: a short or long buffer is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let hb: &[u8; HEADER_LEN] =
            bytes.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(WireError::MissingData("frame header"))?;
        let h = Header::parse(hb)?;
        let rest = &bytes[HEADER_LEN..];
        let len = h.len as usize;
        if rest.len() < len {
            return Err(WireError::MissingData("frame body"));
        }
        if rest.len() > len {
            return Err(WireError::TrailingData(rest.len() - len));
        }
        Ok(Frame { msg_type: h.msg_type, version: h.version, body: rest.to_vec() })
    }
}

/// Reads one frame from a blocking reader. EOF before the first byte is `Ok(None)`; EOF inside a
/// frame is an error (a cut-off message is never taken as complete).
pub fn read_frame<R: Read>(r: &mut R) -> std::io::Result<Option<Frame>> {
    let mut body = Vec::new();
    Ok(read_frame_into(r, &mut body)?.map(|h| Frame { msg_type: h.msg_type, version: h.version, body }))
}

/// The one blocking frame reader: the next frame's header, its body into `body` (resized; the
/// caller keeps one buffer for a whole stream). EOF before the first byte is `Ok(None)`; EOF
/// after it is `UnexpectedEof` carrying [`WireError::MissingData`] (which part was cut off); a
/// header that does not parse is `InvalidData` carrying its [`WireError`], refused before any
/// of the body is read.
pub fn read_frame_into<R: Read>(r: &mut R, body: &mut Vec<u8>) -> std::io::Result<Option<Header>> {
    use std::io::{Error, ErrorKind};
    let mut hb = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut hb[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(Error::new(ErrorKind::UnexpectedEof, WireError::MissingData("frame header"))),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let h = Header::parse(&hb).map_err(|e| Error::new(ErrorKind::InvalidData, e))?;
    body.resize(h.len as usize, 0);
    r.read_exact(body).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => Error::new(ErrorKind::UnexpectedEof, WireError::MissingData("frame body")),
        _ => e,
    })?;
    Ok(Some(h))
}

pub fn write_frame<W: Write>(w: &mut W, frame_bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(frame_bytes)?;
    w.flush()
}
