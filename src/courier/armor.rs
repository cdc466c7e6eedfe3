//! Armored bundles (`sslx send --armor`): the bundle's bytes as base64 between two marker lines,
//! 64 characters a line, safe to paste into an email or a terminal (as age's armor is).
//! `sslx recv --in` tells an armored bundle from a binary one by its first line.
//!
//! ```text
//! -----BEGIN SSLX BUNDLE-----
//! WAIAAACOAQEAAAAAAwNhbGljZQNib2…
//! -----END SSLX BUNDLE-----
//! ```

use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};

pub const BEGIN: &str = "-----BEGIN SSLX BUNDLE-----";
pub const END: &str = "-----END SSLX BUNDLE-----";
/// Base64 characters per line.
pub const LINE: usize = 64;
/// The longest line a reader takes (a pasted bundle may be rewrapped, not unbounded).
const MAX_LINE: usize = 4096;

/// Writes what it is given as an armored bundle; [`ArmorWriter::finish`] writes the last line.
pub struct ArmorWriter<W: Write> {
    out: W,
    /// Bytes not yet encoded (fewer than 48: one line's worth).
    pending: Vec<u8>,
    started: bool,
}

impl<W: Write> ArmorWriter<W> {
    pub fn new(out: W) -> Self {
        ArmorWriter { out, pending: Vec::with_capacity(LINE / 4 * 3), started: false }
    }

    fn begin(&mut self) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            writeln!(self.out, "{BEGIN}")?;
        }
        Ok(())
    }

    fn line(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.push('\n');
        self.out.write_all(text.as_bytes())
    }

    /// Writes the rest and the END line; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.begin()?;
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&rest)?;
        }
        writeln!(self.out, "{END}")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ArmorWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.begin()?;
        let per_line = LINE / 4 * 3;
        self.pending.extend_from_slice(buf);
        let whole = self.pending.len() / per_line * per_line;
        if whole > 0 {
            let mut text = String::with_capacity(whole / 3 * 4 + whole / per_line);
            for chunk in self.pending[..whole].chunks(per_line) {
                base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut text);
                text.push('\n');
            }
            self.out.write_all(text.as_bytes())?;
            self.pending.drain(..whole);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Reads an armored bundle's bytes (after its BEGIN line), line by line.
pub struct ArmorReader<R: BufRead> {
    input: R,
    decoded: Vec<u8>,
    at: usize,
    /// Base64 characters not yet decoded (fewer than 4).
    pending: String,
    line_no: usize,
    ended: bool,
}

fn bad(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

impl<R: BufRead> ArmorReader<R> {
    /// One line, without its line ending (CRLF from email too); None at the end of the input.
    fn next_line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = Vec::new();
        let n = (&mut self.input).take(MAX_LINE as u64 + 2).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if line.len() > MAX_LINE + 1 && !line.ends_with(b"\n") {
            return Err(bad(format!("line {} of the armored bundle is over {MAX_LINE} characters", self.line_no)));
        }
        let text = String::from_utf8(line)
            .map_err(|_| bad(format!("line {} of the armored bundle is not text", self.line_no)))?;
        Ok(Some(text.trim_end_matches(['\n', '\r']).trim_end().to_owned()))
    }

    fn fill(&mut self) -> std::io::Result<()> {
        while self.at == self.decoded.len() && !self.ended {
            let Some(line) = self.next_line()? else {
                return Err(bad("the armored bundle is cut off: its END line is missing".into()));
            };
            if line == END {
                if !self.pending.is_empty() {
                    return Err(bad(format!(
                        "the armored bundle's base64 ends {} characters short of a whole group",
                        4 - self.pending.len() % 4
                    )));
                }
                self.ended = true;
                // Nothing but blank lines may follow.
                while let Some(l) = self.next_line()? {
                    if !l.trim().is_empty() {
                        return Err(bad(format!("line {} follows the armored bundle's END line", self.line_no)));
                    }
                }
                return Ok(());
            }
            // Lines may be rewrapped (an email client's 76 columns): groups of 4 decode as they come.
            self.pending.push_str(&line);
            let whole = self.pending.len() / 4 * 4;
            self.decoded = base64::engine::general_purpose::STANDARD
                .decode(&self.pending.as_bytes()[..whole])
                .map_err(|e| bad(format!("line {} of the armored bundle is not base64 ({e})", self.line_no)))?;
            self.pending.drain(..whole);
            self.at = 0;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for ArmorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.fill()?;
        let n = buf.len().min(self.decoded.len() - self.at);
        buf[..n].copy_from_slice(&self.decoded[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The bundle's bytes from `input`: decoded when it is armored (its first line, after blank
/// lines, is [`BEGIN`]), else as they are.
pub fn dearmored<'a>(input: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(256 * 1024, input);
    // Blank lines (and a CR) before the BEGIN line, as a pasted bundle may have.
    loop {
        let buf = r.fill_buf()?;
        match buf.first() {
            Some(b'\n' | b'\r' | b' ' | b'\t') => r.consume(1),
            _ => break,
        }
    }
    if !r.fill_buf()?.starts_with(b"-----BEGIN ") {
        return Ok(Box::new(r));
    }
    let mut first = String::new();
    (&mut r).take(MAX_LINE as u64).read_line(&mut first)?;
    if first.trim_end() != BEGIN {
        return Err(bad(format!("{:?} is not an sslx bundle's first line (that is {BEGIN})", first.trim_end())));
    }
    Ok(Box::new(ArmorReader { input: r, decoded: Vec::new(), at: 0, pending: String::new(), line_no: 1, ended: false }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armor(bytes: &[u8]) -> String {
        let mut w = ArmorWriter::new(Vec::new());
        for piece in bytes.chunks(7) {
            w.write_all(piece).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    fn open(text: &str) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        dearmored(text.as_bytes())?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn armor_round_trips_in_64_column_lines_and_survives_email() {
        for n in [0usize, 1, 47, 48, 49, 1000] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let text = armor(&bytes);
            assert!(text.starts_with("-----BEGIN SSLX BUNDLE-----\n") && text.ends_with("-----END SSLX BUNDLE-----\n"));
            assert!(text.lines().all(|l| l.len() <= LINE || l.starts_with("-----")), "{text}");
            assert_eq!(open(&text).unwrap(), bytes);
            // Pasted from an email: CRLF, blank lines before, trailing spaces.
            let mailed = format!("\r\n\n{}", text.replace('\n', " \r\n"));
            assert_eq!(open(&mailed).unwrap(), bytes);
            // Rewrapped at 76 columns.
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            let wrapped: Vec<String> =
                body.as_bytes().chunks(76).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
            assert_eq!(open(&format!("{BEGIN}\n{}\n{END}\n", wrapped.join("\n"))).unwrap(), bytes);
        }
        // Not armored: as it is.
        assert_eq!(open("XYZ").unwrap(), b"XYZ");
    }

    #[test]
    fn a_cut_altered_or_trailing_armor_is_refused_with_what_was_wrong() {
        let text = armor(&[9u8; 200]);
        let cut = &text[..text.len() - END.len() - 1];
        assert!(open(cut).unwrap_err().to_string().contains("END line is missing"));
        let altered = text.replacen("CQkJ", "CQ*J", 1);
        assert!(open(&altered).unwrap_err().to_string().contains("not base64"), "{altered}");
        let trailing = format!("{text}more\n");
        assert!(open(&trailing).unwrap_err().to_string().contains("follows the armored bundle's END line"));
        assert!(open("-----BEGIN PGP MESSAGE-----\n").unwrap_err().to_string().contains("not an sslx bundle"));
        let long = format!("{BEGIN}\n{}\n{END}\n", "A".repeat(MAX_LINE + 10));
        assert!(open(&long).unwrap_err().to_string().contains("over 4096 characters"));
    }
}
