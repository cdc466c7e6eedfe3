//! Resuming a cut live transfer (PROTOCOL.md 5D.2 "Resume").
//!
//! The recipient keeps the tar stream it got from a sender's cut transfer, byte for byte, in
//! `.sslx-resume-PEER` in the destination (0600): every byte of it came out of records that
//! verified, though the bundle as a whole never did, so nothing of it is placed. The next live
//! transfer from that sender offers it in transfer packet B (its length and SHA-256); a sender
//! whose own tar stream starts with exactly those bytes (same files, same modes and times)
//! answers in A2 that the bundle starts there, and seals only the rest. The recipient unpacks
//! the kept bytes and then the new ones into a fresh temp dir, and FileProof covers where the
//! bundle started and the hash of what came before, so a resumed transfer is verified end to
//! end under the pair key exactly as a whole one is, and places nothing before that.

use super::proofs::Resume;
use crate::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Transfers whose tar stream the sender estimates under this are not kept when cut: sending
/// them again costs less than keeping them costs every transfer.
pub const KEEP_FROM: u64 = 1 << 20;

/// Keeping a copy costs a local write of every byte; it pays when the link is slower than that.
/// After the first [`PROBE`] bytes, a transfer arriving faster than [`FAST`] bytes a second is no
/// longer kept (sending it again is cheap); a slower one is kept to its end.
pub const PROBE: u64 = 32 << 20;
pub const FAST: f64 = 250e6;

const KEPT_PREFIX: &str = ".sslx-resume-";

/// Where the tar stream of `peer`'s cut transfer into `dir` is kept.
pub fn kept_path(dir: &Path, peer: &str) -> PathBuf {
    dir.join(format!("{KEPT_PREFIX}{peer}"))
}

/// What a receive under way writes the tar stream to, beside its temp dir (`TMP.part-PEER`):
/// kept under [`kept_path`] if the transfer is cut, removed otherwise. A receive killed half-way
/// leaves it; the next receive into the folder keeps it (the sweep of interrupted receives).
pub struct Partial {
    path: PathBuf,
    kept: PathBuf,
    file: Option<File>,
    /// Bytes held from before (offered in transfer packet B) and their hash.
    held: u64,
    held_hash: [u8; 32],
    /// Set once the transfer ended in a way that makes the bytes worth keeping.
    keep: bool,
    /// Set once the sender's A2 said where the transfer starts: until then what was held is
    /// untouched, and goes back in place whatever happens.
    started: bool,
    /// Appends stop here (twice the sender's size hint, and a MiB): a sender cannot make the
    /// recipient keep much more than it said it would send.
    cap: u64,
    /// Where new bytes go (buffered: the tar reader hands them over in small reads), and the
    /// length the file will have once it is flushed.
    out: Option<std::io::BufWriter<File>>,
    len: u64,
    /// When the first new byte came (the link's rate decides whether keeping pays).
    since: Option<std::time::Instant>,
    /// Cleared once nothing more is kept.
    appending: bool,
}

fn sha256_of(f: &mut File, len: u64) -> std::io::Result<[u8; 32]> {
    f.rewind()?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut r = (&mut *f).take(len);
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().try_into().expect("32 bytes"))
}

/// Opens an existing file for appending, refusing one others could have written.
fn open_kept(p: &Path) -> Option<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW).open(p).ok()?;
    let md = f.metadata().ok()?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    (md.is_file() && md.uid() == me && md.mode() & 0o022 == 0 && md.nlink() == 1).then_some(f)
}

impl Partial {
    /// Takes what is kept of `peer`'s cut transfer into `dir` (moving it beside `tmp`, the
    /// receive's locked temp dir, so no other receive takes it too), or starts empty (whether
    /// this transfer is worth keeping at all is [`Partial::start`]'s to say, from A2).
    pub fn claim(dir: &Path, peer: &str, tmp: &Path) -> Partial {
        let kept = kept_path(dir, peer);
        let path = PathBuf::from(format!("{}.part-{peer}", tmp.display()));
        let mut p = Partial {
            path,
            kept,
            file: None,
            held: 0,
            held_hash: [0; 32],
            keep: false,
            started: false,
            cap: 0,
            out: None,
            len: 0,
            since: None,
            appending: true,
        };
        if std::fs::rename(&p.kept, &p.path).is_ok() {
            if let Some(mut f) = open_kept(&p.path) {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if let (true, Ok(h)) = (len > 0, sha256_of(&mut f, len)) {
                    (p.held, p.held_hash, p.len) = (len, h, len);
                    p.file = Some(f);
                    return p;
                }
            }
            let _ = std::fs::remove_file(&p.path);
        }
        use std::os::unix::fs::OpenOptionsExt;
        p.file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p.path)
            .ok();
        p
    }

    /// Nothing held and nothing kept (offline bundles: they do not resume).
    pub fn claim_nothing(tmp: &Path) -> Partial {
        let path = PathBuf::from(format!("{}.part", tmp.display()));
        Partial {
            kept: path.clone(),
            path,
            file: None,
            held: 0,
            held_hash: [0; 32],
            keep: false,
            started: true,
            cap: 0,
            out: None,
            len: 0,
            since: None,
            appending: false,
        }
    }

    /// What transfer packet B offers: the bytes held and their SHA-256 (0 and zeros: none).
    pub fn offer(&self) -> (u64, [u8; 32]) {
        (self.held, self.held_hash)
    }

    /// What the sender answered in A2 (`from`: 0, or exactly what was offered), as the values
    /// FileProof covers; the bytes held are dropped when the transfer starts over.
    pub fn start(&mut self, from: u64, size_hint: u64) -> Result<Resume> {
        if from != 0 && from != self.held {
            return Err(Error::Wire(crate::wire::WireError::Invalid(
                "transfer packet A2 resumes at a point transfer packet B did not offer",
            )));
        }
        self.started = true;
        self.cap = size_hint.saturating_mul(2).saturating_add(1 << 20).max(self.held);
        let keeping = size_hint >= KEEP_FROM;
        if from == 0 {
            self.held = 0;
            self.held_hash = [0; 32];
            self.len = 0;
            if let Some(f) = &self.file {
                if !keeping || f.set_len(0).is_err() {
                    self.file = None;
                }
            }
            return Ok(Resume::WHOLE);
        }
        Ok(Resume { from, prefix_hash: self.held_hash })
    }

    /// The bytes held, to be unpacked before the new ones: a reader over them that checks on
    /// the way that they are still what was offered.
    pub fn prefix(&mut self) -> Result<Option<File>> {
        match (&self.file, self.held) {
            (Some(f), n) if n > 0 => {
                let mut f = f.try_clone().map_err(|e| Error::io("reading the kept transfer", e))?;
                f.rewind().map_err(|e| Error::io("reading the kept transfer", e))?;
                Ok(Some(f))
            }
            _ => Ok(None),
        }
    }

    /// Appends new bytes of the tar stream; a failure to write (a full disk) only means they
    /// will not be kept: the transfer goes on.
    fn append(&mut self, bytes: &[u8]) {
        let Some(f) = self.file.as_ref().filter(|_| self.appending) else { return };
        if self.out.is_none() {
            let end = f.try_clone().and_then(|mut c| c.seek(std::io::SeekFrom::End(0)).map(|_| c));
            match end {
                Ok(c) => self.out = Some(std::io::BufWriter::with_capacity(1 << 20, c)),
                Err(_) => return self.give_up(),
            }
        }
        let fits = self.len + bytes.len() as u64 <= self.cap;
        if !fits || self.out.as_mut().is_some_and(|o| o.write_all(bytes).is_err()) {
            return self.give_up();
        }
        let new_before = self.len - self.held;
        self.len += bytes.len() as u64;
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        // A fresh transfer that arrives fast is not worth a second copy (one that resumed
        // already holds its start, and goes on keeping).
        if self.held == 0 && new_before < PROBE && self.len - self.held >= PROBE {
            let rate = PROBE as f64 / since.elapsed().as_secs_f64().max(1e-6);
            if rate > FAST {
                self.give_up();
            }
        }
    }

    /// Nothing more of this transfer is kept (the disk is full, the sender sent more than it
    /// said, the link is fast): what was held from before stays, the rest goes.
    fn give_up(&mut self) {
        self.out = None;
        self.appending = false;
        if self.held > 0 {
            if let Some(f) = &self.file {
                if f.set_len(self.held).is_ok() {
                    self.len = self.held;
                    return;
                }
            }
        }
        self.file = None;
        self.len = 0;
        let _ = std::fs::remove_file(&self.path);
    }

    /// Whether this transfer takes up bytes held from before.
    pub fn resumed(&self) -> bool {
        self.held > 0
    }

    /// Keep the bytes for the next transfer from this sender (the transfer was cut, or failed
    /// for a reason that does not make them suspect).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.out.take().is_some_and(|mut o| o.flush().is_err()) {
            self.give_up();
        }
        let len = self.file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        // Before A2 (a handshake that failed: a wrong key, a refusal) nothing was touched.
        let keep = self.keep || !self.started;
        if keep && len > 0 && std::fs::rename(&self.path, &self.kept).is_ok() {
            return;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The tar stream a recipient unpacks: the bytes held from a cut transfer (hashed again on the
/// way), then those the bundle carries (appended to the [`Partial`] as they come).
pub struct Resumed<'p, R: Read> {
    prefix: Option<(std::io::Take<File>, ring::digest::Context)>,
    prefix_hash: Option<[u8; 32]>,
    pub rest: R,
    partial: &'p mut Partial,
    /// The tar stream ended (its end-of-archive blocks read): what follows is not kept.
    ended: bool,
}

impl<'p, R: Read> Resumed<'p, R> {
    pub fn new(partial: &'p mut Partial, rest: R) -> Result<Self> {
        let held = partial.held;
        let prefix = partial.prefix()?.map(|f| (f.take(held), ring::digest::Context::new(&ring::digest::SHA256)));
        Ok(Resumed { prefix, prefix_hash: None, rest, partial, ended: false })
    }

    /// The tar stream's end is reached: bytes read after it (padding, anything a sender put
    /// there) are not kept.
    pub fn archive_ended(&mut self) {
        self.ended = true;
    }

    /// Whether the bytes held that were unpacked are those offered (and covered by FileProof).
    pub fn prefix_intact(&self) -> bool {
        match (&self.prefix, self.prefix_hash) {
            (None, None) => self.partial.held == 0,
            (None, Some(h)) => h == self.partial.held_hash,
            (Some(_), _) => false,
        }
    }
}

impl<R: Read> Read for Resumed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some((f, ctx)) = &mut self.prefix {
            let n = f.read(buf)?;
            if n > 0 {
                ctx.update(&buf[..n]);
                return Ok(n);
            }
            let (f, ctx) = self.prefix.take().expect("checked");
            if f.limit() > 0 {
                return Err(std::io::Error::other("the kept transfer got shorter while it was read"));
            }
            self.prefix_hash = Some(ctx.finish().as_ref().try_into().expect("32 bytes"));
        }
        let n = self.rest.read(buf)?;
        if !self.ended {
            self.partial.append(&buf[..n]);
        }
        Ok(n)
    }
}

/// The sender's side: whether its tar stream starts with the `held` bytes hashing to `hash`
/// that the recipient offered; `pack` writes the tar stream into what it is given.
pub fn matches_offer(held: u64, hash: &[u8; 32], pack: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> bool {
    struct HashFirst {
        ctx: ring::digest::Context,
        left: u64,
    }
    impl Write for HashFirst {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                // Enough: the rest of the stream does not matter (ends the pack early).
                return Err(std::io::Error::other("enough"));
            }
            let n = (buf.len() as u64).min(self.left) as usize;
            self.ctx.update(&buf[..n]);
            self.left -= n as u64;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if held == 0 {
        return false;
    }
    let mut h = HashFirst { ctx: ring::digest::Context::new(&ring::digest::SHA256), left: held };
    let _ = pack(&mut h);
    h.left == 0 && crate::crypto::ct_eq(h.ctx.finish().as_ref(), hash)
}

/// Drops the first `skip` bytes written through it (those the recipient holds), hashing them:
/// [`SkipFirst::dropped_as_offered`] tells whether they were still the bytes offered (a file
/// that changed between the check of the offer and the send would splice two versions).
pub struct SkipFirst<W: Write> {
    pub inner: W,
    pub skip: u64,
    dropped: ring::digest::Context,
    /// The SHA-256 the dropped bytes must have (the offer's).
    want: [u8; 32],
}

impl<W: Write> SkipFirst<W> {
    pub fn new(inner: W, skip: u64, want: [u8; 32]) -> Self {
        SkipFirst { inner, skip, dropped: ring::digest::Context::new(&ring::digest::SHA256), want }
    }

    /// Whether all `skip` bytes came and hash to the offer's hash.
    pub fn dropped_as_offered(&self) -> bool {
        self.skip == 0 && crate::crypto::ct_eq(self.dropped.clone().finish().as_ref(), &self.want)
    }
}

impl<W: Write> Write for SkipFirst<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.skip > 0 {
            let n = (buf.len() as u64).min(self.skip) as usize;
            self.dropped.update(&buf[..n]);
            self.skip -= n as u64;
            // Checked before a byte after them goes: a changed file sends nothing more.
            if self.skip == 0 && !self.dropped_as_offered() {
                return Err(std::io::Error::other(crate::Error::Courier(super::error::CourierError::ChangedWhileSent)));
            }
            return Ok(n);
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_matches_only_the_same_first_bytes() {
        let stream = b"0123456789abcdef".repeat(1000);
        let hash: [u8; 32] = crate::crypto::sha256(&stream[..5000]);
        let pack = |s: &[u8]| {
            let s = s.to_vec();
            move |w: &mut dyn Write| w.write_all(&s)
        };
        assert!(matches_offer(5000, &hash, pack(&stream)));
        let mut other = stream.clone();
        other[4999] ^= 1;
        assert!(!matches_offer(5000, &hash, pack(&other)));
        assert!(!matches_offer(5000, &hash, pack(&stream[..4999])), "a shorter stream");
        assert!(!matches_offer(0, &[0; 32], pack(&stream)));
    }

    #[test]
    fn a_2_that_resumes_where_b_did_not_offer_is_refused_and_a_whole_one_drops_what_was_held() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".sslx-recv-t");
        std::fs::create_dir(&tmp).unwrap();
        let kept = kept_path(dir.path(), "alice");
        std::fs::write(&kept, b"0123456789").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut p = Partial::claim(dir.path(), "alice", &tmp);
        assert_eq!(p.offer(), (10, crate::crypto::sha256(b"0123456789")));
        for bad in [1, 9, 11, u64::MAX] {
            assert!(p.start(bad, 1 << 30).is_err(), "resume from {bad}");
        }
        assert_eq!(
            p.start(10, 1 << 30).unwrap(),
            Resume { from: 10, prefix_hash: crate::crypto::sha256(b"0123456789") }
        );
        let mut p2 = Partial::claim(dir.path(), "bob", &tmp);
        assert_eq!(p2.offer(), (0, [0; 32]), "nothing kept for bob");
        assert_eq!(p2.start(0, 1 << 30).unwrap(), Resume::WHOLE);
    }

    #[test]
    fn skip_first_drops_exactly_the_bytes_held() {
        let mut w = SkipFirst::new(Vec::new(), 7, crate::crypto::sha256(b"abcdefg"));
        w.write_all(b"abc").unwrap();
        w.write_all(b"defghij").unwrap();
        assert_eq!(w.inner, b"hij");
        assert!(w.dropped_as_offered());
        // Other first bytes: refused as soon as they are all there, before anything goes on.
        let mut w = SkipFirst::new(Vec::new(), 7, crate::crypto::sha256(b"abcdefg"));
        assert!(w.write_all(b"abcdefhij").is_err());
        assert!(w.inner.is_empty());
    }
}
