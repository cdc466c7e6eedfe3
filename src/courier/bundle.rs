//! The bundle: the packed payload in records of one of the two suites, the last record flagged
//! final, then the trailer with FileProof. Written and read in one streaming pass with a few
//! 64 KiB buffers, whatever the size.
//!
//! `aead` records are the session layer's record construction under the bundle key (frame type
//! 0x5c). `3des` records (0x5d) are `flags u8 | IV [8] | 3DES-EDE-CBC(PKCS#7 padded plaintext) |
//! HMAC(SKey, "Record" ‖ counter u64 ‖ frame header ‖ flags ‖ IV ‖ ciphertext)`; the MAC is
//! checked before the padding is looked at (encrypt-then-MAC: no padding oracle).

use super::error::CourierError;
use super::msgs::{BundleSuite, Trailer, TYPE_RECORD_3DES, TYPE_RECORD_AEAD, TYPE_TRAILER};
use super::proofs::{aead_key, triple_des_keys, FileHash, ProofKey};
use crate::crypto::{self, Secret};
use crate::session::io::FrameReader;
use crate::session::record::{Received, RecordError, RecordReceiver, RecordSender, FLAG_FINAL, RECORD_PREFIX};
use crate::session::Suite;
use crate::wire::{Header, Msg, HEADER_LEN, VERSION};
use crate::{Error, Result};
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use std::io::{Read, Write};

/// Plaintext bytes per record (both suites fit a 64 KiB frame with it).
pub const RECORD_PLAINTEXT: usize = 65_280;
const IV_LEN: usize = 8;
const MAC_LEN: usize = 32;
const AEAD_TAG_LEN: usize = 16;
/// Bytes in front of a 3des record's plaintext: frame header, flags, IV.
const TDES_PREFIX: usize = HEADER_LEN + 1 + IV_LEN;

type TdesEnc = cbc::Encryptor<des::TdesEde3>;
type TdesDec = cbc::Decryptor<des::TdesEde3>;

fn cut_off(what: &'static str) -> Error {
    CourierError::CutOff(what).into()
}

struct TripleDes {
    keys: zeroize::Zeroizing<[u8; 24]>,
    mac: ring::hmac::Key,
    counter: u64,
}

impl TripleDes {
    fn new(skey: &Secret<32>) -> Self {
        TripleDes {
            keys: triple_des_keys(skey),
            mac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, skey.expose()),
            counter: 0,
        }
    }

    fn record_mac(&self, counter: u64, header: &[u8], body_before_mac: &[u8]) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.mac);
        ctx.update(b"Record");
        ctx.update(&counter.to_be_bytes());
        ctx.update(header);
        ctx.update(body_before_mac);
        ctx.sign()
    }

    /// Seals record `counter` in place: `frame` holds TDES_PREFIX bytes of room, the plaintext,
    /// then room for padding (8) and the MAC. Returns the finished frame's length.
    fn seal_at(
        &self,
        counter: u64,
        frame: &mut [u8],
        plaintext_len: usize,
        last: bool,
        iv: &[u8; IV_LEN],
    ) -> Result<usize> {
        let padded = (plaintext_len / 8 + 1) * 8;
        let body_len = 1 + IV_LEN + padded + MAC_LEN;
        let header = Header { msg_type: TYPE_RECORD_3DES, version: VERSION, len: body_len as u32 }.to_bytes();
        frame[..HEADER_LEN].copy_from_slice(&header);
        frame[HEADER_LEN] = if last { FLAG_FINAL } else { 0 };
        frame[HEADER_LEN + 1..TDES_PREFIX].copy_from_slice(iv);
        TdesEnc::new(self.keys.as_slice().into(), iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut frame[TDES_PREFIX..TDES_PREFIX + padded], plaintext_len)
            .map_err(|_| RecordError::SealFailed)?;
        let end = TDES_PREFIX + padded;
        let tag = self.record_mac(counter, &header, &frame[HEADER_LEN..end]);
        frame[end..end + MAC_LEN].copy_from_slice(tag.as_ref());
        Ok(end + MAC_LEN)
    }

    /// Opens record `counter` in place; returns where its plaintext is in `body` and whether it
    /// is the final one.
    fn open_at(&self, counter: u64, h: &Header, body: &mut [u8]) -> Result<(std::ops::Range<usize>, bool)> {
        if h.msg_type != TYPE_RECORD_3DES {
            return Err(RecordError::UnexpectedType { got: h.msg_type, want: TYPE_RECORD_3DES }.into());
        }
        if body.len() < 1 + IV_LEN + 8 + MAC_LEN || !(body.len() - 1 - IV_LEN - MAC_LEN).is_multiple_of(8) {
            return Err(RecordError::ImpossibleLength.into());
        }
        let (before, mac) = body.split_at_mut(body.len() - MAC_LEN);
        let want = self.record_mac(counter, &h.to_bytes(), before);
        if !crypto::ct_eq(want.as_ref(), mac) {
            return Err(RecordError::Forged { what: "bundle" }.into());
        }
        let flags = before[0];
        if flags & !FLAG_FINAL != 0 {
            return Err(RecordError::UnknownFlags.into());
        }
        let iv: [u8; IV_LEN] = before[1..1 + IV_LEN].try_into().expect("8 bytes");
        let plain = TdesDec::new(self.keys.as_slice().into(), &iv.into())
            .decrypt_padded_mut::<Pkcs7>(&mut before[1 + IV_LEN..])
            .map_err(|_| RecordError::BadPadding)?;
        Ok((1 + IV_LEN..1 + IV_LEN + plain.len(), flags & FLAG_FINAL != 0))
    }
}

/// 3des records are sealed and opened a batch at a time, the batch split between two threads
/// (one per core): each record has its own IV and counter, so they are independent, and the
/// cipher (16 MB/s a core) is what limits the suite.
const TDES_BATCH: usize = 8;

/// Runs `f` over the items, the first half on another thread; results in order.
fn side_by_side<T: Send, U: Send>(items: &mut [T], f: impl Fn(usize, &mut T) -> U + Sync) -> Vec<U> {
    if items.len() < 2 {
        return items.iter_mut().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let mid = items.len().div_ceil(2);
    let (a, b) = items.split_at_mut(mid);
    std::thread::scope(|s| {
        let f = &f;
        let first = s.spawn(move || a.iter_mut().enumerate().map(|(i, t)| f(i, t)).collect::<Vec<_>>());
        let second: Vec<U> = b.iter_mut().enumerate().map(|(i, t)| f(mid + i, t)).collect();
        let mut out = first.join().expect("a sealing thread panicked");
        out.extend(second);
        out
    })
}

// One per bundle: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Sealer {
    Aead(RecordSender),
    TripleDes(TripleDes),
}

#[allow(clippy::large_enum_variant)]
enum Opener {
    Aead(RecordReceiver),
    TripleDes(TripleDes),
}

fn aead_suite(s: BundleSuite) -> Suite {
    if s == BundleSuite::ChaCha20Poly1305 {
        Suite::ChaCha20Poly1305
    } else {
        Suite::Aes256Gcm
    }
}

/// What a bundle's records came to: the FileHash over their tags, the payload bytes they
/// carry, and their bytes on the wire. The trailer ([`Sealed::trailer`]) is made from it for
/// each recipient: the records are the same for all of them.
#[derive(Debug, Clone, Copy)]
pub struct Sealed {
    pub file_hash: [u8; 32],
    pub payload_len: u64,
    pub written: u64,
}

impl Sealed {
    /// The trailer frame for one recipient.
    pub fn trailer(&self, key: &ProofKey) -> Result<Vec<u8>> {
        Ok(Trailer { file_proof: key.file_proof(&self.file_hash), payload_len: self.payload_len }.to_frame()?)
    }
}

/// Writes the bundle's records: payload bytes in, sealed records out; the trailer is the
/// caller's ([`Sealed::trailer`]).
pub struct BundleWriter<W: Write> {
    out: W,
    sealer: Sealer,
    rng: ring::rand::SystemRandom,
    hash: FileHash,
    /// The record being filled: room for its prefix, then the plaintext, then room for the tag.
    frame: Vec<u8>,
    prefix: usize,
    plain_len: usize,
    payload_len: u64,
    written: u64,
    /// 3des: records filled and waiting to be sealed together (frame, plaintext length, last),
    /// and buffers to fill next.
    batch: Vec<(Vec<u8>, usize, bool)>,
    spare: Vec<Vec<u8>>,
}

const FRAME_ROOM: usize = TDES_PREFIX + RECORD_PLAINTEXT + 8 + MAC_LEN;

impl<W: Write> BundleWriter<W> {
    pub fn new(out: W, suite: BundleSuite, skey: &Secret<32>) -> Self {
        let (sealer, prefix) = match suite {
            BundleSuite::TripleDes => (Sealer::TripleDes(TripleDes::new(skey)), TDES_PREFIX),
            s => {
                (Sealer::Aead(RecordSender::with_type(aead_suite(s), &aead_key(skey), TYPE_RECORD_AEAD)), RECORD_PREFIX)
            }
        };
        BundleWriter {
            out,
            sealer,
            rng: ring::rand::SystemRandom::new(),
            hash: FileHash::new(skey),
            frame: vec![0u8; FRAME_ROOM],
            prefix,
            plain_len: 0,
            payload_len: 0,
            written: 0,
            batch: Vec::new(),
            spare: Vec::new(),
        }
    }

    fn seal(&mut self, last: bool) -> Result<()> {
        self.payload_len += self.plain_len as u64;
        let len = match &mut self.sealer {
            Sealer::Aead(s) => s.seal_prepared(&mut self.frame, self.plain_len, last)?,
            Sealer::TripleDes(_) => {
                let next = self.spare.pop().unwrap_or_else(|| vec![0u8; FRAME_ROOM]);
                self.batch.push((std::mem::replace(&mut self.frame, next), self.plain_len, last));
                self.plain_len = 0;
                if last || self.batch.len() == TDES_BATCH {
                    self.seal_batch()?;
                }
                return Ok(());
            }
        };
        let tag_len = AEAD_TAG_LEN;
        self.plain_len = 0;
        // FileHash goes over the records' tags: each covers its record, in order, final flag
        // included, so the bundle is hashed once (by the record MAC), not twice.
        self.hash.update(&self.frame[len - tag_len..len]);
        self.out.write_all(&self.frame[..len]).map_err(|e| Error::io("writing the bundle", e))?;
        self.written += len as u64;
        Ok(())
    }

    /// Seals the 3des records waiting, side by side, and writes them in order.
    fn seal_batch(&mut self) -> Result<()> {
        let Sealer::TripleDes(t) = &mut self.sealer else { return Ok(()) };
        let base = t.counter;
        let ivs: Vec<[u8; IV_LEN]> = self.batch.iter().map(|_| crypto::random_array(&self.rng)).collect();
        let t: &TripleDes = t;
        let lens =
            side_by_side(&mut self.batch, |i, (frame, n, last)| t.seal_at(base + i as u64, frame, *n, *last, &ivs[i]));
        if let Sealer::TripleDes(t) = &mut self.sealer {
            t.counter += lens.len() as u64;
        }
        for ((frame, _, _), len) in self.batch.drain(..).zip(lens) {
            let len = len?;
            self.hash.update(&frame[len - MAC_LEN..len]);
            self.out.write_all(&frame[..len]).map_err(|e| Error::io("writing the bundle", e))?;
            self.written += len as u64;
            self.spare.push(frame);
        }
        Ok(())
    }

    /// Seals the rest as the final record; returns the output and what the records came to.
    pub fn finish(mut self) -> Result<(W, Sealed)> {
        self.seal(true)?;
        self.out.flush().map_err(|e| Error::io("writing the bundle", e))?;
        let sealed = Sealed { file_hash: self.hash.finish(), payload_len: self.payload_len, written: self.written };
        Ok((self.out, sealed))
    }
}

impl<W: Write> Write for BundleWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.plain_len == RECORD_PLAINTEXT {
            self.seal(false).map_err(std::io::Error::other)?;
        }
        let n = buf.len().min(RECORD_PLAINTEXT - self.plain_len);
        let at = self.prefix + self.plain_len;
        self.frame[at..at + n].copy_from_slice(&buf[..n]);
        self.plain_len += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A record opened ahead: its body, where its plaintext is in it, and whether it is the last.
type OpenedRecord = (Vec<u8>, std::ops::Range<usize>, bool);

/// Reads a bundle's records as payload bytes; `finish` checks the trailer's FileProof. Any
/// failure is kept (`take_failure`) so the caller reports it rather than the I/O error a
/// reader above it (tar) wrapped it in.
pub struct BundleReader<'a, R: Read> {
    frames: &'a mut FrameReader<R>,
    opener: Opener,
    hash: Option<FileHash>,
    key: ProofKey,
    /// The current record's plaintext: `start..end` of the frame reader's last body (opened in
    /// place there, so the bytes are not copied again).
    start: usize,
    end: usize,
    pos: usize,
    eof: bool,
    payload_len: u64,
    failure: Option<Error>,
    /// 3des: records read ahead and opened side by side, in order (a failure ends them), the
    /// one being read (its plaintext at `start..end`), and buffers to read into next.
    ahead: std::collections::VecDeque<Result<OpenedRecord>>,
    current: Option<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl<'a, R: Read> BundleReader<'a, R> {
    pub fn new(frames: &'a mut FrameReader<R>, suite: BundleSuite, skey: Secret<32>, key: ProofKey) -> Self {
        let opener = match suite {
            BundleSuite::TripleDes => Opener::TripleDes(TripleDes::new(&skey)),
            s => Opener::Aead(RecordReceiver::with_type(aead_suite(s), &aead_key(&skey), TYPE_RECORD_AEAD)),
        };
        BundleReader {
            frames,
            opener,
            hash: Some(FileHash::new(&skey)),
            key,
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
            payload_len: 0,
            failure: None,
            ahead: std::collections::VecDeque::new(),
            current: None,
            spare: Vec::new(),
        }
    }

    /// Reads up to a batch of 3des records (to the one flagged final, the end of the stream, or
    /// a frame that is no such record), hashes their tags in order and opens them side by side.
    fn read_ahead(&mut self) {
        let mut raw: Vec<(Header, Vec<u8>)> = Vec::with_capacity(TDES_BATCH);
        let mut end = None;
        while raw.len() < TDES_BATCH {
            match self.frames.next_record() {
                Ok(Some((h, body))) => {
                    if h.msg_type == crate::wire::TYPE_REFUSED {
                        end = Some(cut_off("by the sender"));
                        break;
                    }
                    let stop = h.msg_type != TYPE_RECORD_3DES || body.first().is_some_and(|f| f & FLAG_FINAL != 0);
                    let mut v = self.spare.pop().unwrap_or_default();
                    v.clear();
                    v.extend_from_slice(body);
                    raw.push((h, v));
                    if stop {
                        break;
                    }
                }
                Ok(None) => {
                    end = Some(cut_off("before its final record"));
                    break;
                }
                Err(e) => {
                    end = Some(e);
                    break;
                }
            }
        }
        let hash = self.hash.as_mut().expect("before finish");
        for (_, body) in &raw {
            if body.len() >= MAC_LEN {
                hash.update(&body[body.len() - MAC_LEN..]);
            }
        }
        let Opener::TripleDes(t) = &self.opener else { unreachable!("3des only") };
        let base = t.counter;
        let opened = side_by_side(&mut raw, |i, (h, body)| t.open_at(base + i as u64, h, body));
        let mut n = 0;
        for ((_, body), r) in raw.into_iter().zip(opened) {
            match r {
                Ok((range, last)) => {
                    n += 1;
                    self.ahead.push_back(Ok((body, range, last)));
                }
                Err(e) => {
                    self.ahead.push_back(Err(e));
                    end = None;
                    break;
                }
            }
        }
        if let Opener::TripleDes(t) = &mut self.opener {
            t.counter += n;
        }
        if let Some(e) = end {
            self.ahead.push_back(Err(e));
        }
    }

    /// The next 3des record from those read ahead.
    fn next_3des(&mut self) -> Result<()> {
        if self.ahead.is_empty() {
            self.read_ahead();
        }
        let (body, range, last) = self.ahead.pop_front().expect("read_ahead adds one at least")?;
        if range.len() > RECORD_PLAINTEXT {
            return Err(CourierError::RecordTooLarge { len: range.len(), max: RECORD_PLAINTEXT }.into());
        }
        self.payload_len += range.len() as u64;
        (self.start, self.end, self.pos, self.eof) = (range.start, range.end, range.start, last);
        if let Some(old) = self.current.replace(body) {
            self.spare.push(old);
        }
        Ok(())
    }

    fn next_record(&mut self) -> Result<()> {
        if matches!(self.opener, Opener::TripleDes(_)) {
            return self.next_3des();
        }
        let (h, body) = self.frames.next_record()?.ok_or_else(|| cut_off("before its final record"))?;
        if h.msg_type == crate::wire::TYPE_REFUSED {
            return Err(cut_off("by the sender"));
        }
        let base = body.as_ptr() as usize;
        if body.len() >= AEAD_TAG_LEN {
            self.hash.as_mut().expect("before finish").update(&body[body.len() - AEAD_TAG_LEN..]);
        }
        let (data, last) = match &mut self.opener {
            Opener::Aead(r) => match r.open(&h, body)? {
                Received::Data { data, last, .. } => (data, last),
                Received::Finished => unreachable!("bundle records have no finished value"),
            },
            Opener::TripleDes(_) => unreachable!("3des records are read ahead"),
        };
        if data.len() > RECORD_PLAINTEXT {
            return Err(CourierError::RecordTooLarge { len: data.len(), max: RECORD_PLAINTEXT }.into());
        }
        self.payload_len += data.len() as u64;
        self.start = data.as_ptr() as usize - base;
        self.end = self.start + data.len();
        self.pos = self.start;
        self.eof = last;
        Ok(())
    }

    /// The failure behind the last I/O error, if it came from here.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// Reads to the final record (whatever the reader above left), then checks the trailer.
    pub fn finish(&mut self) -> Result<u64> {
        std::io::copy(self, &mut std::io::sink())
            .map_err(|e| self.take_failure().unwrap_or_else(|| Error::io("reading the bundle", e)))?;
        let (h, body) = self.frames.next_record()?.ok_or_else(|| cut_off("before its trailer"))?;
        if h.msg_type != TYPE_TRAILER {
            return Err(CourierError::NotTheTrailer(h.msg_type).into());
        }
        let t =
            Trailer::from_frame(&crate::wire::Frame { msg_type: h.msg_type, version: h.version, body: body.to_vec() })?;
        let file_hash = self.hash.take().expect("finish once").finish();
        let want = self.key.file_proof(&file_hash);
        if !crypto::ct_eq(&t.file_proof, &want) {
            return Err(CourierError::FileProof.into());
        }
        if t.payload_len != self.payload_len {
            return Err(CourierError::LengthMismatch { said: t.payload_len, carried: self.payload_len }.into());
        }
        Ok(self.payload_len)
    }
}

impl<R: Read> Read for BundleReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.end {
            if self.eof {
                return Ok(0);
            }
            if let Err(e) = self.next_record() {
                let msg = e.to_string();
                self.failure = Some(e);
                return Err(std::io::Error::other(msg));
            }
        }
        let n = buf.len().min(self.end - self.pos);
        let from = self.current.as_deref().unwrap_or_else(|| self.frames.last_body());
        buf[..n].copy_from_slice(&from[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::courier::proofs::{Challenges, Resume};

    fn key() -> ProofKey {
        ProofKey {
            challenges: Challenges { a: [1; 32], b: [2; 32], a1: [3; 32] },
            kd: Secret::new([4; 32]),
            resume: Resume::WHOLE,
        }
    }

    #[test]
    fn rejects_a_record_over_the_plaintext_cap() {
        let skey = Secret::new([9; 32]);
        // A record the session layer would seal (up to 65,519 bytes) but a bundle never holds.
        let mut s = RecordSender::with_type(Suite::Aes256Gcm, &aead_key(&skey), TYPE_RECORD_AEAD);
        let rec = s.seal(&vec![0u8; RECORD_PLAINTEXT + 1], true).unwrap();
        let mut frames = FrameReader::new(&rec[..]);
        let mut r = BundleReader::new(&mut frames, BundleSuite::Aes256Gcm, skey, key());
        assert!(r.read_to_end(&mut Vec::new()).is_err());
        assert!(r.take_failure().unwrap().to_string().contains("over the 65280-byte limit"));
    }

    #[test]
    fn a_wrong_payload_length_in_the_trailer_is_its_own_error() {
        let skey = Secret::new([9; 32]);
        let mut w = BundleWriter::new(Vec::new(), BundleSuite::Aes256Gcm, &skey);
        w.write_all(b"some payload").unwrap();
        let (mut bundle, sealed) = w.finish().unwrap();
        bundle.extend(sealed.trailer(&key()).unwrap());
        // The trailer's last 8 bytes: the payload length. FileProof does not cover it.
        let n = bundle.len();
        bundle[n - 1] ^= 1;
        let mut frames = FrameReader::new(&bundle[..]);
        let mut r = BundleReader::new(&mut frames, BundleSuite::Aes256Gcm, skey, key());
        let e = r.finish().unwrap_err().to_string();
        assert!(e.contains("the trailer says 13 payload bytes, the records carried 12"), "{e}");
    }
}
