//! The payload inside a bundle's records: the tar stream cut into chunks of up to 1 MiB, each
//! `kind u8 | raw length u32 | stored length u32 | data`, kind 0 stored as is, kind 1 a zstd
//! frame. Each chunk is compressed on its own so incompressible data (already compressed
//! files, media, random bytes) is detected and stored, and compression never makes a transfer
//! slower than sending it as is: after an incompressible chunk only a 64 KiB sample of the next
//! one is tried before paying for the whole.

use crate::{Error, Result};
use std::io::{Read, Write};

/// Tar bytes per chunk.
pub const CHUNK: usize = 1 << 20;
const HEADER: usize = 9;
const STORED: u8 = 0;
const ZSTD: u8 = 1;
const SAMPLE: usize = 64 * 1024;
/// zstd level: the fast end, where it keeps up with the network and the ciphers.
pub const LEVEL: i32 = 1;

fn malformed(why: &str) -> Error {
    Error::VerifyFailed(format!("the payload is malformed: {why}"))
}

/// Compression per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd where it pays (the default).
    Auto,
    /// Store every chunk as is.
    Off,
}

/// Tar bytes in, chunks out to `W` (the bundle writer).
pub struct PayloadWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    packed: Vec<u8>,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    /// The last chunk did not compress: sample before compressing the next.
    incompressible: bool,
    /// Bytes in and bytes stored, for the summary.
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

impl<W: Write> PayloadWriter<W> {
    pub fn new(out: W, compression: Compression) -> Result<Self> {
        let compressor = match compression {
            Compression::Off => None,
            Compression::Auto => {
                Some(zstd::bulk::Compressor::new(LEVEL).map_err(|e| Error::io("starting the zstd compressor", e))?)
            }
        };
        Ok(PayloadWriter {
            out,
            buf: Vec::with_capacity(CHUNK),
            packed: Vec::with_capacity(zstd::zstd_safe::compress_bound(CHUNK)),
            compressor,
            incompressible: false,
            raw_bytes: 0,
            stored_bytes: 0,
        })
    }

    /// Whether `data` compresses to less than 97% of its size (then the whole chunk is tried).
    fn worth_compressing(&mut self, data: &[u8]) -> std::io::Result<bool> {
        let Some(c) = self.compressor.as_mut() else { return Ok(false) };
        if !self.incompressible || data.len() <= SAMPLE {
            return Ok(true);
        }
        let sample = &data[..SAMPLE];
        let n = c.compress_to_buffer(sample, &mut self.packed)?;
        Ok(n * 100 < sample.len() * 97)
    }

    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut kind = STORED;
        let mut stored_len = self.buf.len();
        let raw = std::mem::take(&mut self.buf);
        if self.worth_compressing(&raw)? {
            let c = self.compressor.as_mut().expect("checked");
            let n = c.compress_to_buffer(&raw, &mut self.packed)?;
            if n * 100 < raw.len() * 97 {
                kind = ZSTD;
                stored_len = n;
            }
        }
        self.buf = raw;
        self.incompressible = kind == STORED && self.compressor.is_some();
        let mut h = [0u8; HEADER];
        h[0] = kind;
        h[1..5].copy_from_slice(&(self.buf.len() as u32).to_be_bytes());
        h[5..9].copy_from_slice(&(stored_len as u32).to_be_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(if kind == ZSTD { &self.packed[..stored_len] } else { &self.buf })?;
        self.raw_bytes += self.buf.len() as u64;
        self.stored_bytes += (stored_len + HEADER) as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes the last chunk; returns the writer underneath.
    pub fn finish(mut self) -> std::io::Result<(W, u64, u64)> {
        self.emit()?;
        Ok((self.out, self.raw_bytes, self.stored_bytes))
    }
}

impl<W: Write> Write for PayloadWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() == CHUNK {
            self.emit()?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Chunks in (from the bundle reader), tar bytes out. Every length is checked before use.
pub struct PayloadReader<R: Read> {
    inner: R,
    out: Vec<u8>,
    pos: usize,
    /// Bytes of a stored chunk still to pass through.
    stored_left: usize,
    packed: Vec<u8>,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl<R: Read> PayloadReader<R> {
    pub fn new(inner: R) -> Result<Self> {
        Ok(PayloadReader {
            inner,
            out: Vec::with_capacity(CHUNK),
            pos: 0,
            stored_left: 0,
            packed: Vec::new(),
            decompressor: zstd::bulk::Decompressor::new()
                .map_err(|e| Error::io("starting the zstd decompressor", e))?,
        })
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads the next chunk header; false at the end of the payload.
    fn next_chunk(&mut self) -> std::io::Result<bool> {
        let mut h = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            match self.inner.read(&mut h[got..])? {
                0 if got == 0 => return Ok(false),
                0 => return Err(std::io::Error::other(malformed("it ends inside a chunk header"))),
                n => got += n,
            }
        }
        let raw_len = u32::from_be_bytes(h[1..5].try_into().unwrap()) as usize;
        let stored_len = u32::from_be_bytes(h[5..9].try_into().unwrap()) as usize;
        if raw_len > CHUNK {
            return Err(std::io::Error::other(malformed("a chunk is larger than 1 MiB")));
        }
        match h[0] {
            STORED if stored_len == raw_len => self.stored_left = raw_len,
            ZSTD if stored_len <= zstd::zstd_safe::compress_bound(CHUNK) => {
                self.packed.resize(stored_len, 0);
                self.inner.read_exact(&mut self.packed).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        std::io::Error::other(malformed("it ends inside a chunk"))
                    } else {
                        e
                    }
                })?;
                self.out.clear();
                self.out.reserve(raw_len);
                let n = self
                    .decompressor
                    .decompress_to_buffer(&self.packed, &mut self.out)
                    .map_err(|_| std::io::Error::other(malformed("a zstd chunk does not decompress")))?;
                if n != raw_len {
                    return Err(std::io::Error::other(malformed("a chunk decompresses to the wrong length")));
                }
                self.pos = 0;
            }
            _ => return Err(std::io::Error::other(malformed("unknown chunk kind or impossible lengths"))),
        }
        Ok(true)
    }
}

impl<R: Read> Read for PayloadReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.stored_left > 0 {
                let want = buf.len().min(self.stored_left);
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(std::io::Error::other(malformed("it ends inside a chunk")));
                }
                self.stored_left -= n;
                return Ok(n);
            }
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            self.out.clear();
            self.pos = 0;
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8], c: Compression) -> (Vec<u8>, u64) {
        let mut w = PayloadWriter::new(Vec::new(), c).unwrap();
        w.write_all(data).unwrap();
        let (packed, _, stored) = w.finish().unwrap();
        let mut out = Vec::new();
        PayloadReader::new(&packed[..]).unwrap().read_to_end(&mut out).unwrap();
        (out, stored)
    }

    #[test]
    fn text_compresses_and_random_is_stored() {
        let text: Vec<u8> = (0..3 * CHUNK + 77).map(|i| b"sslx courier "[i % 13]).collect();
        let (out, stored) = round_trip(&text, Compression::Auto);
        assert_eq!(out, text);
        assert!(stored < text.len() as u64 / 10);
        let mut random = vec![0u8; 2 * CHUNK + 5];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).unwrap();
        let (out, stored) = round_trip(&random, Compression::Auto);
        assert_eq!(out, random);
        assert_eq!(stored, random.len() as u64 + 3 * HEADER as u64);
        assert_eq!(round_trip(b"", Compression::Off).0, b"");
    }

    #[test]
    fn a_lying_chunk_header_is_refused() {
        let mut w = PayloadWriter::new(Vec::new(), Compression::Auto).unwrap();
        w.write_all(&[b'a'; 5000]).unwrap();
        let (mut packed, _, _) = w.finish().unwrap();
        packed[4] ^= 1; // raw length
        let mut out = Vec::new();
        assert!(PayloadReader::new(&packed[..]).unwrap().read_to_end(&mut out).is_err());
    }
}
