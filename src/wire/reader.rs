//! A cursor over a borrowed body: every take checks what is there first.

use super::WireError;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far (for "everything before the signature" computations).
    pub fn consumed(&self) -> &'a [u8] {
        &self.buf[..self.pos]
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::MissingData(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let s = self.take(N, what)?;
        Ok(s.try_into().expect("length checked"))
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.take_array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take_array(what)?))
    }

    /// `len u16 BE | bytes`.
    pub fn bytes16(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }

    /// `len u8 | UTF-8`.
    pub fn str8(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        let n = self.u8(what)? as usize;
        std::str::from_utf8(self.take(n, what)?).map_err(|_| WireError::Invalid(what))
    }

    /// `len u16 BE | UTF-8`.
    pub fn str16(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes16(what)?).map_err(|_| WireError::Invalid(what))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails if anything is left over: encodings are canonical.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::TrailingData(n)),
        }
    }
}

/// `len u8 | UTF-8`; a string over 255 bytes is an error (in every build), never cut short.
pub fn put_str8(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    let len = u8::try_from(s.len()).map_err(|_| WireError::FieldTooLong { len: s.len(), max: u8::MAX as usize })?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// `len u16 BE | UTF-8`; over 65,535 bytes is an error.
pub fn put_str16(out: &mut Vec<u8>, s: &str) -> Result<(), WireError> {
    put_bytes16(out, s.as_bytes())
}

/// `len u16 BE | bytes`; over 65,535 bytes is an error.
pub fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(b.len()).map_err(|_| WireError::FieldTooLong { len: b.len(), max: u16::MAX as usize })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fields_over_their_length_prefix() {
        let mut out = Vec::new();
        assert!(put_str8(&mut out, &"a".repeat(255)).is_ok());
        assert_eq!(put_str8(&mut out, &"a".repeat(256)), Err(WireError::FieldTooLong { len: 256, max: 255 }));
        assert!(put_bytes16(&mut out, &vec![0; 65_535]).is_ok());
        assert_eq!(put_bytes16(&mut out, &vec![0; 65_536]), Err(WireError::FieldTooLong { len: 65_536, max: 65_535 }));
        assert_eq!(
            put_str16(&mut out, &"é".repeat(40_000)).unwrap_err(),
            WireError::FieldTooLong { len: 80_000, max: 65_535 }
        );
    }
}
