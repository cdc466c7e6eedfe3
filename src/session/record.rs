//! Data records: `frame header (type 0x32) | flags u8 | AEAD(ciphertext ‖ tag)`, under the
//! direction key, nonce = 4 zero bytes ‖ record counter (u64 BE), associated data = the frame
//! header ‖ flags. Flag bit 0 marks the final record of a direction: a stream that ends without
//! it was cut off. The first record each way is the finished value (M3 / M4).

use super::msgs::{Suite, TYPE_RECORD};
use crate::crypto::Secret;
use crate::wire::{Header, HEADER_LEN, MAX_BODY, VERSION};
use crate::{ErrorKind, Result};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

/// Why a record was not sealed, or not taken: the session's records and a bundle's (whose
/// frame type is named in `want`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Sending after the final record (a bug of the sender's).
    #[error("nothing may be sent after the final record")]
    AfterFinal,
    /// A sender asked for more than one record carries (a bug of the sender's).
    #[error("a record of {0} bytes is over the {MAX_RECORD_PLAINTEXT}-byte limit")]
    TooLarge(usize),
    #[error("the record counter is exhausted")]
    CounterExhausted,
    #[error("sealing a record failed")]
    SealFailed,
    /// The peer's frame is not a record of this stream.
    #[error("unexpected message type 0x{got:02x} where a record (0x{want:02x}) belongs")]
    UnexpectedType { got: u8, want: u8 },
    #[error("data arrived after the peer's final record")]
    AfterPeersFinal,
    #[error("a record is too short")]
    TooShort,
    /// A 3des record whose length is no whole number of blocks.
    #[error("a 3des record has an impossible length")]
    ImpossibleLength,
    #[error("a record has unknown flags")]
    UnknownFlags,
    /// The tag (or a 3des record's MAC) does not verify: `what` is the stream or the bundle.
    #[error("a record failed authentication: the {what} was altered, replayed or reordered")]
    Forged { what: &'static str },
    #[error("a 3des record has bad padding")]
    BadPadding,
    #[error("the peer's finished value is wrong: it does not hold the session key")]
    WrongFinished,
    #[error("the finished record may not be final")]
    FinalFinished,
}

impl RecordError {
    /// A sender's own mistake is a failure (exit 1); anything about the peer's bytes did not
    /// verify (exit 3).
    pub fn kind(&self) -> ErrorKind {
        match self {
            RecordError::AfterFinal
            | RecordError::TooLarge(_)
            | RecordError::CounterExhausted
            | RecordError::SealFailed => ErrorKind::Failure,
            _ => ErrorKind::VerifyFailed,
        }
    }
}

pub const FLAG_FINAL: u8 = 0x01;
/// (`listen --exec`, listener → caller only) This record's data is the command's stderr.
pub const FLAG_STDERR: u8 = 0x02;
/// (`listen --exec`, listener → caller only; with `FLAG_FINAL`) The final record's plaintext is
/// the command's exit status (`msgs::RemoteExit`).
pub const FLAG_EXIT: u8 = 0x04;
const TAG_LEN: usize = 16;
/// Bytes in front of a record's ciphertext: the frame header and the flags byte.
pub const RECORD_PREFIX: usize = HEADER_LEN + 1;
/// The tag after a record's ciphertext.
pub const RECORD_TAG: usize = TAG_LEN;
/// The most plaintext one record carries.
pub const MAX_RECORD_PLAINTEXT: usize = MAX_BODY - 1 - TAG_LEN;

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aead_key(suite: Suite, key: &Secret<32>) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(suite.algorithm(), key.expose()).expect("32-byte key"))
}

pub struct RecordSender {
    key: LessSafeKey,
    msg_type: u8,
    counter: u64,
    done: bool,
}

impl RecordSender {
    pub fn new(suite: Suite, key: &Secret<32>) -> Self {
        Self::with_type(suite, key, TYPE_RECORD)
    }

    /// Records of another frame type under the same construction (a courier bundle's records).
    pub fn with_type(suite: Suite, key: &Secret<32>, msg_type: u8) -> Self {
        RecordSender { key: aead_key(suite, key), msg_type, counter: 0, done: false }
    }

    /// Appends one record frame carrying `plaintext` to `out`.
    pub fn seal_into(&mut self, plaintext: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        if self.done {
            return Err(RecordError::AfterFinal.into());
        }
        if plaintext.len() > MAX_RECORD_PLAINTEXT {
            return Err(RecordError::TooLarge(plaintext.len()).into());
        }
        let flags = if last { FLAG_FINAL } else { 0 };
        let header = Header { msg_type: self.msg_type, version: VERSION, len: (1 + plaintext.len() + TAG_LEN) as u32 }
            .to_bytes();
        let mut aad = [0u8; HEADER_LEN + 1];
        aad[..HEADER_LEN].copy_from_slice(&header);
        aad[HEADER_LEN] = flags;
        let start = out.len();
        out.extend_from_slice(&aad);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.counter), Aad::from(aad), &mut out[start + HEADER_LEN + 1..])
            .map_err(|_| RecordError::SealFailed)?;
        out.extend_from_slice(tag.as_ref());
        self.counter = self.counter.checked_add(1).ok_or(RecordError::CounterExhausted)?;
        self.done = last;
        Ok(())
    }

    /// Seals in place: `frame` holds `RECORD_PREFIX` bytes of room, then `plaintext_len` bytes of
    /// plaintext, then room for the tag. Returns the length of the finished frame. Saves a copy
    /// on the bulk path: the input is read straight into the frame buffer.
    pub fn seal_prepared(&mut self, frame: &mut [u8], plaintext_len: usize, last: bool) -> Result<usize> {
        self.seal_prepared_flagged(frame, plaintext_len, if last { FLAG_FINAL } else { 0 })
    }

    /// `seal_prepared` with these flags (`FLAG_STDERR`, `FLAG_FINAL | FLAG_EXIT`).
    pub fn seal_prepared_flagged(&mut self, frame: &mut [u8], plaintext_len: usize, flags: u8) -> Result<usize> {
        let last = flags & FLAG_FINAL != 0;
        if self.done {
            return Err(RecordError::AfterFinal.into());
        }
        let total = RECORD_PREFIX + plaintext_len + TAG_LEN;
        if plaintext_len > MAX_RECORD_PLAINTEXT || frame.len() < total {
            return Err(RecordError::TooLarge(plaintext_len).into());
        }
        let header =
            Header { msg_type: self.msg_type, version: VERSION, len: (1 + plaintext_len + TAG_LEN) as u32 }.to_bytes();
        frame[..HEADER_LEN].copy_from_slice(&header);
        frame[HEADER_LEN] = flags;
        let aad: [u8; RECORD_PREFIX] = frame[..RECORD_PREFIX].try_into().unwrap();
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(self.counter),
                Aad::from(aad),
                &mut frame[RECORD_PREFIX..RECORD_PREFIX + plaintext_len],
            )
            .map_err(|_| RecordError::SealFailed)?;
        frame[RECORD_PREFIX + plaintext_len..total].copy_from_slice(tag.as_ref());
        self.counter = self.counter.checked_add(1).ok_or(RecordError::CounterExhausted)?;
        self.done = last;
        Ok(total)
    }

    pub fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(HEADER_LEN + 1 + plaintext.len() + TAG_LEN);
        self.seal_into(plaintext, last, &mut v)?;
        Ok(v)
    }

    pub fn finished(&self) -> bool {
        self.done
    }
}

pub struct RecordReceiver {
    key: LessSafeKey,
    msg_type: u8,
    counter: u64,
    done: bool,
    /// The peer's finished value, checked against its first record.
    expect_finished: Option<[u8; 32]>,
    /// `FLAG_STDERR` and `FLAG_EXIT` are taken (a caller's side of `listen --exec`).
    command_output: bool,
}

/// What one received record held.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// The peer's finished value, verified (M3 / M4).
    Finished,
    Data {
        data: &'a [u8],
        last: bool,
        /// Which of a command's outputs it is (always `Out` unless the receiver takes them).
        stream: Stream,
    },
}

/// Which output of a `listen --exec` command a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The stream itself (the command's stdout; any other session's data).
    Out,
    /// The command's stderr (`FLAG_STDERR`).
    Err,
    /// The final record holds the command's exit status (`FLAG_FINAL | FLAG_EXIT`).
    Exit,
}

impl RecordReceiver {
    pub fn new(suite: Suite, key: &Secret<32>, expect_finished: [u8; 32]) -> Self {
        RecordReceiver {
            key: aead_key(suite, key),
            msg_type: TYPE_RECORD,
            counter: 0,
            done: false,
            expect_finished: Some(expect_finished),
            command_output: false,
        }
    }

    /// Records of another frame type, without a finished value first (a courier bundle's records).
    pub fn with_type(suite: Suite, key: &Secret<32>, msg_type: u8) -> Self {
        RecordReceiver {
            key: aead_key(suite, key),
            msg_type,
            counter: 0,
            done: false,
            expect_finished: None,
            command_output: false,
        }
    }

    /// Takes a command's stderr and exit status as well (`FLAG_STDERR`, `FLAG_EXIT`): a caller's
    /// receiver. Every other receiver refuses those flags as unknown.
    pub fn take_command_output(&mut self) {
        self.command_output = true;
    }

    /// Opens one record in place: `header` as read, `body` its bytes.
    pub fn open<'a>(&mut self, header: &Header, body: &'a mut [u8]) -> Result<Received<'a>> {
        if header.msg_type != self.msg_type {
            return Err(RecordError::UnexpectedType { got: header.msg_type, want: self.msg_type }.into());
        }
        if self.done {
            return Err(RecordError::AfterPeersFinal.into());
        }
        if body.len() < 1 + TAG_LEN {
            return Err(RecordError::TooShort.into());
        }
        let flags = body[0];
        let known = if self.command_output { FLAG_FINAL | FLAG_STDERR | FLAG_EXIT } else { FLAG_FINAL };
        let stream = match (flags & FLAG_FINAL != 0, flags & FLAG_STDERR != 0, flags & FLAG_EXIT != 0) {
            _ if flags & !known != 0 => return Err(RecordError::UnknownFlags.into()),
            (_, false, false) => Stream::Out,
            (false, true, false) => Stream::Err,
            (true, false, true) => Stream::Exit,
            // stderr as the final record, an exit status not final, or both.
            _ => return Err(RecordError::UnknownFlags.into()),
        };
        let mut aad = [0u8; HEADER_LEN + 1];
        aad[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        aad[HEADER_LEN] = flags;
        let plain = self
            .key
            .open_in_place(nonce(self.counter), Aad::from(aad), &mut body[1..])
            .map_err(|_| RecordError::Forged { what: "stream" })?;
        self.counter += 1;
        let last = flags & FLAG_FINAL != 0;
        if let Some(expected) = self.expect_finished.take() {
            if !crate::crypto::ct_eq(plain, &expected) {
                return Err(RecordError::WrongFinished.into());
            }
            if last {
                return Err(RecordError::FinalFinished.into());
            }
            if stream != Stream::Out {
                return Err(RecordError::UnknownFlags.into());
            }
            return Ok(Received::Finished);
        }
        self.done = last;
        Ok(Received::Data { data: plain, last, stream })
    }

    /// Whether the peer's final record has arrived.
    pub fn finished(&self) -> bool {
        self.done
    }

    /// Whether the peer's finished value has been checked.
    pub fn authenticated(&self) -> bool {
        self.expect_finished.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The finished value, then a 2-byte record with each of `flags`.
    fn frames(flags: &[u8]) -> (Secret<32>, Vec<Vec<u8>>) {
        let key = Secret::new([7; 32]);
        let mut s = RecordSender::new(Suite::ChaCha20Poly1305, &key);
        let mut out = vec![s.seal(&[9; 32], false).unwrap()];
        for f in flags {
            let mut frame = vec![0u8; RECORD_PREFIX + 2 + RECORD_TAG];
            let n = s.seal_prepared_flagged(&mut frame, 2, *f).unwrap();
            out.push(frame[..n].to_vec());
        }
        (key, out)
    }

    fn open_last(flags: &[u8], take: bool) -> std::result::Result<Stream, String> {
        let (key, frames) = frames(flags);
        let mut r = RecordReceiver::new(Suite::ChaCha20Poly1305, &key, [9; 32]);
        if take {
            r.take_command_output();
        }
        let mut last = Err("nothing".into());
        for f in frames {
            let mut body = f[HEADER_LEN..].to_vec();
            let header = Header::parse(f[..HEADER_LEN].try_into().unwrap()).unwrap();
            last = match r.open(&header, &mut body) {
                Ok(Received::Finished) => Ok(Stream::Out),
                Ok(Received::Data { stream, .. }) => Ok(stream),
                Err(e) => return Err(e.to_string()),
            };
        }
        last
    }

    #[test]
    fn a_commands_flags_are_taken_only_by_a_caller_and_only_in_their_shapes() {
        assert_eq!(open_last(&[FLAG_STDERR], true), Ok(Stream::Err));
        assert_eq!(open_last(&[0, FLAG_FINAL | FLAG_EXIT], true), Ok(Stream::Exit));
        assert_eq!(open_last(&[FLAG_FINAL], true), Ok(Stream::Out));
        let unknown = Err("a record has unknown flags".to_string());
        for flags in [FLAG_STDERR, FLAG_FINAL | FLAG_EXIT] {
            assert_eq!(open_last(&[flags], false), unknown, "flags {flags:#x} outside a caller");
        }
        for flags in [FLAG_STDERR | FLAG_FINAL, FLAG_EXIT, FLAG_STDERR | FLAG_EXIT | FLAG_FINAL, 0x08] {
            assert_eq!(open_last(&[flags], true), unknown, "flags {flags:#x}");
        }
    }
}
