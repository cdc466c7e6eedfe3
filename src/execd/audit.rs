//! The audit trail of `sslx-execd` (seed 003 box 1518): a record for every command an
//! authenticated principal asks for (denied; or started, then finished), written to two sinks:
//!
//! - a **hash-chained file** of JSON lines, appended under an exclusive lock (several
//!   `sslx-execd --inetd` processes may share it): each record carries `seq` and `prev`, the
//!   SHA-256 of the line before it (64 zeros for the first), so [`verify`] finds any changed,
//!   removed or inserted line. The chain alone shows what changed to whoever holds a later hash:
//!   each syslog line carries its record's hash for that;
//! - **syslog** (the `syslog` crate, RFC 3164 lines: the local socket, a Unix socket, or UDP/TCP
//!   to a collector), from a thread of its own behind a bounded queue: a sink that is down or
//!   stalled loses lines (counted, and said in the daemon's log), it never holds up a command
//!   (Vault#5361); each line is cut to the size limit, the command's words first (Vault#28136).
//!
//! Connections that never authenticate are not in the trail (they are in the daemon's log):
//! no one without a ticket can grow the file.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// The ACL refused the command (or its local user or program is missing).
    Denied,
    /// The ACL allowed it and it is about to run.
    Started,
    /// It ended (its exit code or signal), was killed at a limit, or lost its gateway.
    Finished,
}

/// One record of the trail, as a line of the chained file (fields in this order; the absent
/// ones left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seq: Option<u64>,
    /// RFC 3339, UTC, from the daemon's clock.
    pub time: String,
    /// The host principal (its key table's name).
    pub host: String,
    pub event: Event,
    /// The remote user: the ticket's principal.
    pub principal: String,
    /// The user's address the KDC saw at login ("" when it saw none).
    pub from: String,
    /// The address the connection came from (the gateway), "-" under inetd over a Unix socket.
    pub gateway: String,
    pub argv: Vec<String>,
    /// When the command was longer than a record keeps ([`MAX_ARGV_JSON`]): its size and
    /// SHA-256 (of its 5H encoding), each argument in `argv` cut.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub argv_cut: Option<ArgvCut>,
    /// The local user the gateway asked for (`sslx exec --as`), when it asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub as_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_user: Option<String>,
    /// Why it was denied.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signal: Option<i32>,
    /// The limit it was killed at.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped: Option<String>,
    /// Bytes of stdout and stderr sent back.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_out: Option<u64>,
    /// How the session failed (the gateway gone, say).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// In the file: the `hash` of the line before, 64 zeros for the first.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev: Option<String>,
    /// In the file: the SHA-256 (hex) of this line without this member (the bytes before
    /// `,"hash":` and then `}`), always the last member.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hash: Option<String>,
}

/// What a record says of a command it keeps cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgvCut {
    /// Bytes of the command record's plaintext (PROTOCOL.md 5H).
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The most a record's `argv` takes as JSON; past it each argument is cut to its share.
pub const MAX_ARGV_JSON: usize = 8 * 1024;

/// `s` cut (at a character) so that it takes at most `max` bytes as a JSON string's content.
fn cut_json(s: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let n = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + n > max {
            return &s[..i];
        }
        used += n;
    }
    s
}

/// The command as a record keeps it: whole when its JSON fits [`MAX_ARGV_JSON`], otherwise each
/// argument cut to an equal share, with the whole command's size and hash.
pub fn recorded_argv(argv: &[String], encoded: &[u8]) -> (Vec<String>, Option<ArgvCut>) {
    let json = serde_json::to_string(argv).map(|j| j.len()).unwrap_or(usize::MAX);
    if json <= MAX_ARGV_JSON {
        return (argv.to_vec(), None);
    }
    let share = (MAX_ARGV_JSON / argv.len().max(1)).saturating_sub(3).max(16);
    let cut = argv.iter().map(|a| cut_json(a, share).to_owned()).collect();
    (cut, Some(ArgvCut { bytes: encoded.len() as u64, sha256: sha256_hex(encoded) }))
}

/// The `prev` of a file's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// A record's line: its JSON without `hash`, then `hash` (the SHA-256 of that JSON) as the last
/// member. Returns the line and the hash.
pub fn sealed_line(rec: &AuditRecord) -> Result<(String, String)> {
    let mut rec = rec.clone();
    rec.hash = None;
    let body = serde_json::to_string(&rec).map_err(|e| Error::Other(format!("encoding an audit record: {e}")))?;
    let hash = sha256_hex(body.as_bytes());
    Ok((format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]), hash))
}

/// The `,"hash":"<64 hex>"}` a line ends with.
const HASH_SUFFIX: usize = 9 + 64 + 2;

/// The hash a line says it has, if it checks: the line without its `hash` member hashes to it.
fn checked_hash(line: &[u8]) -> Option<String> {
    let cut = line.len().checked_sub(HASH_SUFFIX)?;
    let (body, suffix) = line.split_at(cut);
    let hex = suffix.strip_prefix(b",\"hash\":\"")?.strip_suffix(b"\"}")?;
    if !hex.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        return None;
    }
    let mut whole = body.to_vec();
    whole.push(b'}');
    let hash = sha256_hex(&whole);
    (hash.as_bytes() == hex).then_some(hash)
}

/// The last line of `f` (without its newline), whether the file ends in a newline, and where
/// that line starts.
fn last_line(f: &std::fs::File) -> std::io::Result<(Vec<u8>, bool, u64)> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok((Vec::new(), true, 0));
    }
    let mut last = [0u8];
    f.read_exact_at(&mut last, len - 1)?;
    let ends = last[0] == b'\n';
    let end = if ends { len - 1 } else { len };
    // Backwards in chunks until the newline before the last line, then joined once.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut at = end;
    let mut start = 0;
    while at > 0 {
        let n = at.min(64 * 1024);
        let mut chunk = vec![0u8; n as usize];
        f.read_exact_at(&mut chunk, at - n)?;
        at -= n;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            chunk.drain(..=i);
            start = at + i as u64 + 1;
            chunks.push(chunk);
            break;
        }
        chunks.push(chunk);
    }
    chunks.reverse();
    Ok((chunks.concat(), ends, start))
}

/// The `seq` a line holds, if it is a record.
fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<AuditRecord>(line).ok()?.seq
}

/// The chained file, opened for appending.
pub struct ChainFile {
    path: PathBuf,
    state: Mutex<Open>,
}

struct Open {
    file: std::fs::File,
    /// The last record this process wrote (seq, hash): a file that logrotate moved away and an
    /// empty one put in its place continues the chain from it.
    last: Option<(u64, String)>,
}

/// Opens `path` for appending: a regular file of this user's (not a link), in a directory
/// others cannot write to, that others cannot write to either; created 0600.
fn open_audit_file(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let usage = |why: String| Error::Usage(format!("the audit file {}: {why}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let d = std::fs::metadata(&dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    // A directory others may write to (without the sticky bit) lets them swap the file.
    if d.permissions().mode() & 0o022 != 0 && d.permissions().mode() & 0o1000 == 0 {
        return Err(usage(format!("its directory {} may be written by others: chmod go-w it", dir.display())));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => usage("it is a symbolic link".into()),
            _ => Error::io(format!("opening the audit file {}", path.display()), e),
        })?;
    let m = file.metadata().map_err(|e| Error::io("reading the audit file's mode", e))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.is_file() {
        return Err(usage("it is not a regular file".into()));
    }
    if m.uid() != me {
        return Err(usage(format!("it belongs to uid {}, not to this process's {me}", m.uid())));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(usage(format!(
            "others may write to it (mode {:o}): chmod go-w it",
            m.permissions().mode() & 0o777
        )));
    }
    Ok(file)
}

struct Flock<'a>(&'a std::fs::File);

impl<'a> Flock<'a> {
    fn exclusive(f: &'a std::fs::File) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this process holds open.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Flock(f))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above; unlocking cannot fail in a way we could act on.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl ChainFile {
    /// Opens (or creates) the file; see [`open_audit_file`] for what is refused.
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_audit_file(path)?;
        Ok(ChainFile { path: path.to_owned(), state: Mutex::new(Open { file, last: None }) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `rec` (its `seq` and `prev` set here from the file's last line) and returns the
    /// new line's hash. A file renamed away since (logrotate) is followed by a new one at the
    /// path, which continues the chain.
    pub fn append(&self, rec: &mut AuditRecord) -> Result<String> {
        use std::os::unix::fs::MetadataExt;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let io = |e| Error::io(format!("appending to the audit file {}", self.path.display()), e);
        let moved = match (std::fs::symlink_metadata(&self.path), st.file.metadata()) {
            (Ok(now), Ok(open)) => now.ino() != open.ino() || now.dev() != open.dev(),
            _ => true,
        };
        if moved {
            st.file = open_audit_file(&self.path)?;
        }
        let Open { file, last } = &mut *st;
        let _lock = Flock::exclusive(file).map_err(io)?;
        let (mut tail, mut ends, start) = last_line(file).map_err(io)?;
        if !ends {
            // A write cut short (a full disk): never a record, so it goes, and the line before
            // it is the chain's end again.
            log::warn!(
                "the audit file {} ended in a line cut short ({} bytes): removed",
                self.path.display(),
                tail.len()
            );
            file.set_len(start).map_err(io)?;
            (tail, ends, _) = last_line(file).map_err(io)?;
        }
        let len = file.metadata().map_err(io)?.len();
        match (len, &*last) {
            (0, None) => {
                rec.seq = Some(1);
                rec.prev = Some(GENESIS.to_owned());
            }
            (0, Some((seq, hash))) => {
                rec.seq = Some(seq + 1);
                rec.prev = Some(hash.clone());
            }
            _ => {
                // A line that is not a record (changed by hand) is chained over by the hash of
                // its bytes: `audit verify` names it.
                rec.seq = Some(seq_of(&tail).unwrap_or(0) + 1);
                rec.prev = Some(checked_hash(&tail).unwrap_or_else(|| sha256_hex(&tail)));
            }
        }
        let (line, hash) = sealed_line(rec)?;
        rec.hash = Some(hash.clone());
        let mut out = Vec::with_capacity(line.len() + 2);
        if !ends {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        (&*file).write_all(&out).map_err(io)?;
        *last = rec.seq.map(|s| (s, hash.clone()));
        Ok(hash)
    }
}

/// What [`verify`] found in a file whose chain holds.
#[derive(Debug, PartialEq)]
pub struct Verified {
    /// The last record's `seq` (the number of records, when the chain starts in these files).
    pub records: u64,
    /// The hash of the last line: a later copy or a syslog collector can confirm it.
    pub last_hash: String,
}

/// Checks a chained file line by line: each a record whose `hash` is its own, `seq` one more
/// than the one before, its `prev` the `hash` of the line before. The error names the first line
/// that breaks the chain.
pub fn verify(path: &Path) -> Result<Verified> {
    verify_files(&[path.to_owned()])
}

/// [`verify`] for files in order (rotated ones first): each continues the chain of the one
/// before (its first `prev` the last `hash` before it, its `seq` the next).
pub fn verify_files(paths: &[PathBuf]) -> Result<Verified> {
    let mut end: Option<Verified> = None;
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        let v = verify_chain(&bytes, end.as_ref()).map_err(|e| match e {
            Error::VerifyFailed(why) => Error::VerifyFailed(format!("{}: {why}", p.display())),
            e => e,
        })?;
        end = Some(v);
    }
    Ok(end.unwrap_or(Verified { records: 0, last_hash: GENESIS.to_owned() }))
}

pub fn verify_bytes(bytes: &[u8]) -> Result<Verified> {
    verify_chain(bytes, None)
}

/// One file's chain, from `after` (the end of the file before it) or from its start.
fn verify_chain(bytes: &[u8], after: Option<&Verified>) -> Result<Verified> {
    let bad = |n: usize, why: String| Error::VerifyFailed(format!("line {n}: {why}"));
    let (mut seq, mut prev) = match after {
        Some(v) => (v.records, v.last_hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    if bytes.is_empty() {
        return Ok(Verified { records: seq, last_hash: prev });
    }
    if bytes.last() != Some(&b'\n') {
        let n = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(bad(n, "the last line has no end (a write cut short, or the file was cut)".into()));
    }
    for (i, line) in bytes[..bytes.len() - 1].split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let rec: AuditRecord = serde_json::from_slice(line)
            .map_err(|e| bad(n, format!("not an audit record ({e}): the line was changed")))?;
        let (Some(s), Some(p)) = (rec.seq, rec.prev.as_deref()) else {
            return Err(bad(n, "a record without its seq or prev".into()));
        };
        let Some(hash) = checked_hash(line) else {
            return Err(bad(n, "the line does not hash to its hash: it was changed".into()));
        };
        if p != prev {
            return Err(bad(
                n,
                if n == 1 && after.is_some() {
                    format!("the file does not continue the one before it: prev is {p}, that file ended at {prev}")
                } else if n == 1 {
                    format!(
                        "the chain does not start here (prev is {p}, not 64 zeros): give the files before it \
                         (rotated away) first"
                    )
                } else {
                    format!(
                        "the chain breaks: prev is {p}, the hash of the line before is {prev} (a line before it was \
                         removed or inserted, or the chain rewritten)"
                    )
                },
            ));
        }
        if s != seq + 1 {
            return Err(bad(n, format!("seq {s} follows seq {seq}")));
        }
        seq = s;
        prev = hash;
    }
    Ok(Verified { records: seq, last_hash: prev })
}

/// Where syslog lines go.
#[derive(Debug, Clone, PartialEq)]
pub enum SyslogTarget {
    /// The system's socket (/dev/log).
    Local,
    Unix(PathBuf),
    Udp(String),
    Tcp(String),
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let addr = |a: &str| {
            if a.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
                Ok(a.to_owned())
            } else {
                Err(format!("{a:?} is not HOST:PORT"))
            }
        };
        match s.split_once(':') {
            None if s == "local" => Ok(SyslogTarget::Local),
            Some(("unix", p)) if !p.is_empty() => Ok(SyslogTarget::Unix(p.into())),
            Some(("udp", a)) => Ok(SyslogTarget::Udp(addr(a)?)),
            Some(("tcp", a)) => Ok(SyslogTarget::Tcp(addr(a)?)),
            _ => Err(format!("{s:?} is not a syslog target: local, unix:PATH, udp:HOST:PORT or tcp:HOST:PORT")),
        }
    }
}

impl std::fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogTarget::Local => f.write_str("local"),
            SyslogTarget::Unix(p) => write!(f, "unix:{}", p.display()),
            SyslogTarget::Udp(a) => write!(f, "udp:{a}"),
            SyslogTarget::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// The smallest line limit taken: RFC 5424 has every receiver take 480 bytes.
pub const MIN_SYSLOG_LINE: usize = 480;
/// The longest line taken (a UDP datagram carries at most 65,507 bytes).
pub const MAX_SYSLOG_LINE: usize = 65_000;
/// Lines waiting for the syslog thread; more are dropped.
const SYSLOG_QUEUE: usize = 1024;
/// How long the syslog thread waits to connect to, or write to, a TCP collector.
const TCP_TIMEOUT: Duration = Duration::from_secs(3);

/// The syslog side: a thread writing lines, fed through a bounded queue.
pub struct SyslogSink {
    target: SyslogTarget,
    tx: Option<mpsc::SyncSender<String>>,
    done: mpsc::Receiver<()>,
    dropped: Arc<AtomicU64>,
    /// Whether the queue was full at the last line.
    full: std::sync::atomic::AtomicBool,
    /// The bytes a line may have after the header (the whole line within the limit).
    budget: usize,
}

fn formatter(target: &SyslogTarget, facility: syslog::Facility) -> syslog::Formatter3164 {
    // The crate's own: this host's name (which a collector elsewhere is told; the local daemon
    // adds it itself) and pid.
    let mut f = syslog::Formatter3164 { facility, process: "sslx-execd".into(), ..Default::default() };
    if !matches!(target, SyslogTarget::Udp(_) | SyslogTarget::Tcp(_)) {
        f.hostname = None;
    }
    f
}

fn connect(target: &SyslogTarget) -> std::io::Result<syslog::LoggerBackend> {
    use std::net::ToSocketAddrs;
    // The crate's connection (a datagram socket, or a stream one where the daemon listens so),
    // a stream one given a write timeout.
    let unix =
        |l: syslog::Result<syslog::Logger<syslog::LoggerBackend, ()>>| -> std::io::Result<syslog::LoggerBackend> {
            let backend = l.map_err(|e| std::io::Error::other(e.to_string()))?.backend;
            if let syslog::LoggerBackend::UnixStream(s) = &backend {
                s.get_ref().set_write_timeout(Some(TCP_TIMEOUT))?;
            }
            Ok(backend)
        };
    let resolve = |a: &str| {
        a.to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{a} has no address")))
    };
    match target {
        SyslogTarget::Local => unix(syslog::unix(())),
        SyslogTarget::Unix(p) => unix(syslog::unix_custom((), p)),
        SyslogTarget::Udp(a) => {
            let to = resolve(a)?;
            let local = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            Ok(syslog::LoggerBackend::Udp(std::net::UdpSocket::bind(local)?, to))
        }
        SyslogTarget::Tcp(a) => {
            let s = std::net::TcpStream::connect_timeout(&resolve(a)?, TCP_TIMEOUT)?;
            s.set_write_timeout(Some(TCP_TIMEOUT))?;
            Ok(syslog::LoggerBackend::Tcp(std::io::BufWriter::new(s)))
        }
    }
}

impl SyslogSink {
    /// Starts the thread; it connects on its first line (and again after a failure).
    pub fn start(target: SyslogTarget, facility: syslog::Facility, max_line: usize) -> Result<Self> {
        use syslog::LogFormat;
        if !(MIN_SYSLOG_LINE..=MAX_SYSLOG_LINE).contains(&max_line) {
            return Err(Error::Usage(format!(
                "--syslog-max-line is {max_line}: it must be {MIN_SYSLOG_LINE} to {MAX_SYSLOG_LINE}"
            )));
        }
        let format = formatter(&target, facility);
        let mut header = Vec::new();
        format
            .format(&mut header, syslog::Severity::LOG_INFO, "")
            .map_err(|e| Error::Other(format!("formatting a syslog line: {e}")))?;
        // TCP lines end in a newline (RFC 6587's non-transparent framing).
        let budget = max_line.saturating_sub(header.len() + 1);
        let (tx, rx) = mpsc::sync_channel::<String>(SYSLOG_QUEUE);
        let (done_tx, done) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let (t, lost) = (target.clone(), dropped.clone());
        std::thread::spawn(move || {
            let mut backend: Option<syslog::LoggerBackend> = None;
            let mut down = false;
            for msg in rx {
                let mut line = Vec::with_capacity(msg.len() + 64);
                let sent = format
                    .format(&mut line, syslog::Severity::LOG_INFO, &msg)
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|()| {
                        if matches!(t, SyslogTarget::Tcp(_)) {
                            line.push(b'\n');
                        }
                        if backend.is_none() {
                            backend = Some(connect(&t)?);
                        }
                        let b = backend.as_mut().expect("connected");
                        b.write_all(&line)?;
                        b.flush()
                    });
                match sent {
                    Ok(()) if down => {
                        down = false;
                        log::warn!(
                            "the syslog sink {t} takes lines again ({} audit lines were lost)",
                            lost.load(Ordering::Relaxed)
                        );
                    }
                    Ok(()) => {}
                    Err(e) => {
                        backend = None;
                        lost.fetch_add(1, Ordering::Relaxed);
                        if !down {
                            down = true;
                            log::warn!("the syslog sink {t} is down ({e}): audit lines are lost until it is back");
                        }
                    }
                }
            }
            let _ = done_tx.send(());
        });
        Ok(SyslogSink { target, tx: Some(tx), done, dropped, full: Default::default(), budget })
    }

    pub fn target(&self) -> &SyslogTarget {
        &self.target
    }

    /// Queues a line (already cut to [`SyslogSink::budget`]); dropped when the queue is full
    /// (said once each time the queue fills).
    fn send(&self, msg: String) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(msg) {
            Err(mpsc::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.full.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "the syslog sink {} is stalled: its queue is full and audit lines are lost",
                        self.target
                    );
                }
            }
            Ok(()) => self.full.store(false, Ordering::Relaxed),
            Err(mpsc::TrySendError::Disconnected(_)) => {}
        }
    }

    /// Lines lost so far (sink down, stalled or its queue full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lets the thread write what is queued, for at most `wait`; says how many lines were lost.
    pub fn close(&mut self, wait: Duration) {
        if self.tx.take().is_none() {
            return;
        }
        let _ = self.done.recv_timeout(wait);
        let lost = self.dropped();
        if lost > 0 {
            log::warn!("{lost} audit lines did not reach the syslog sink {}", self.target);
        }
    }
}

/// The syslog message for a record: its JSON (with the file line's hash first, when there is a
/// file), cut to `budget` bytes by shortening the command's words, then the reason, noting how
/// many bytes of the command were cut.
pub fn syslog_message(rec: &AuditRecord, hash: Option<&str>, budget: usize) -> String {
    fn with_hash(rec: &AuditRecord, hash: Option<&str>) -> String {
        let json = serde_json::to_string(rec).unwrap_or_default();
        match hash {
            Some(h) => format!("{{\"hash\":\"{h}\",{}", &json[1..]),
            None => json,
        }
    }
    fn cut(s: &str, max: usize) -> String {
        let mut end = max.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    }
    let mut rec = rec.clone();
    rec.prev = None;
    rec.hash = None;
    let full = with_hash(&rec, hash);
    if full.len() <= budget {
        return full;
    }
    let command = rec.argv.join(" ");
    let over = full.len() - budget;
    // The words as one string, shortened by what is over and room for the note (JSON escapes
    // may take more: shorten again until it fits, then drop the reason and the words).
    let mut keep = command.len().saturating_sub(over + 48);
    for _ in 0..4 {
        let kept = cut(&command, keep);
        rec.argv = vec![kept.clone(), format!("[{} bytes cut]", command.len() - kept.len())];
        let line = with_hash(&rec, hash);
        if line.len() <= budget {
            return line;
        }
        keep = keep.saturating_sub(line.len() - budget + 16);
    }
    rec.argv = vec![format!("[{} bytes cut]", command.len())];
    if let Some(r) = &rec.reason {
        rec.reason = Some(cut(r, 64));
    }
    let line = with_hash(&rec, hash);
    cut(&line, budget)
}

/// Both sinks, as `sslx-execd` writes to them.
#[derive(Default)]
pub struct Audit {
    pub file: Option<ChainFile>,
    pub syslog: Option<Mutex<SyslogSink>>,
}

impl Audit {
    /// The sinks as `sslx-execd`'s flags give them: `syslog` is a [`SyslogTarget`] or `none`.
    pub fn open(file: Option<&Path>, syslog: &str, facility: &str, max_line: usize) -> Result<Audit> {
        let file = file.map(ChainFile::open).transpose()?;
        let syslog = match syslog {
            "none" => None,
            t => {
                let target: SyslogTarget = t.parse().map_err(Error::Usage)?;
                let facility = facility.parse::<syslog::Facility>().map_err(|()| {
                    Error::Usage(format!(
                        "{facility:?} is not a syslog facility (auth, authpriv, daemon, local0..local7)"
                    ))
                })?;
                Some(Mutex::new(SyslogSink::start(target, facility, max_line)?))
            }
        };
        Ok(Audit { file, syslog })
    }

    /// Writes one record to both sinks; a sink that fails is said in the daemon's log. False
    /// when there is a file and it did not take the record.
    pub fn record(&self, mut rec: AuditRecord) -> bool {
        let (hash, taken) = match &self.file {
            Some(f) => match f.append(&mut rec) {
                Ok(h) => (Some(h), true),
                Err(e) => {
                    log::error!("the audit trail: {e}");
                    (None, false)
                }
            },
            None => (None, true),
        };
        if let Some(s) = &self.syslog {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            let msg = syslog_message(&rec, hash.as_deref(), s.budget);
            s.send(msg);
        }
        taken
    }

    /// Lets queued syslog lines go (at most `wait`): before a process of one connection exits.
    pub fn close(&self, wait: Duration) {
        if let Some(s) = &self.syslog {
            s.lock().unwrap_or_else(|p| p.into_inner()).close(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(argv: &[&str]) -> AuditRecord {
        AuditRecord {
            seq: None,
            time: "2026-12-04T01:00:00Z".into(),
            host: "web1".into(),
            event: Event::Finished,
            principal: "alice".into(),
            from: "127.0.0.1".into(),
            gateway: "127.0.0.1:40000".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            argv_cut: None,
            as_user: None,
            local_user: Some("alice".into()),
            reason: None,
            exit: Some(0),
            signal: None,
            stopped: None,
            bytes_out: Some(3),
            error: None,
            prev: None,
            hash: None,
        }
    }

    #[test]
    fn the_chain_holds_and_breaks_at_any_changed_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let f = ChainFile::open(&path).unwrap();
        let mut hashes = Vec::new();
        for i in 0..5 {
            hashes.push(f.append(&mut record(&["/bin/echo", &i.to_string()])).unwrap());
        }
        let v = verify(&path).unwrap();
        assert_eq!(v, Verified { records: 5, last_hash: hashes[4].clone() });
        let bytes = std::fs::read(&path).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(verify_bytes(&b).is_err(), "byte {i} changed and the chain held");
        }
        // A line removed, two swapped.
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let without: Vec<u8> =
            lines.iter().enumerate().filter(|(i, _)| *i != 2).flat_map(|(_, l)| l.to_vec()).collect();
        assert!(verify_bytes(&without).unwrap_err().to_string().contains("line 3"));
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert!(verify_bytes(&swapped.concat()).is_err());
        // The last line removed is not seen by the chain: the last hash (which syslog holds) is
        // what tells.
        let shorter = lines[..4].concat();
        assert_eq!(verify_bytes(&shorter).unwrap().last_hash, hashes[3]);
    }

    #[test]
    fn a_second_writer_of_the_file_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let a = ChainFile::open(&path).unwrap();
        let b = ChainFile::open(&path).unwrap();
        a.append(&mut record(&["/bin/true"])).unwrap();
        b.append(&mut record(&["/bin/true"])).unwrap();
        a.append(&mut record(&["/bin/true"])).unwrap();
        assert_eq!(verify(&path).unwrap().records, 3);
    }

    #[test]
    fn a_line_cut_short_is_removed_and_a_changed_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let f = ChainFile::open(&path).unwrap();
        f.append(&mut record(&["/bin/true"])).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"seq\":2,\"ti").unwrap();
        assert!(verify(&path).unwrap_err().to_string().contains("line 2"));
        f.append(&mut record(&["/bin/true"])).unwrap();
        assert_eq!(verify(&path).unwrap().records, 2, "the cut write is gone, the chain goes on");
        // An empty line (echo >> file) is not a new start of the chain.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"\n").unwrap();
        f.append(&mut record(&["/bin/true"])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.lines().last().unwrap().contains(GENESIS), "{text}");
        assert!(verify(&path).unwrap_err().to_string().contains("line 3: not an audit record"));
    }

    #[test]
    fn a_rotated_file_is_followed_and_the_chain_goes_on_in_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let (path, old) = (dir.path().join("audit.jsonl"), dir.path().join("audit.jsonl.1"));
        let f = ChainFile::open(&path).unwrap();
        f.append(&mut record(&["/bin/true"])).unwrap();
        f.append(&mut record(&["/bin/true"])).unwrap();
        std::fs::rename(&path, &old).unwrap();
        f.append(&mut record(&["/bin/true"])).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap().lines().count(), 2, "nothing more in the moved file");
        let v = verify_files(&[old.clone(), path.clone()]).unwrap();
        assert_eq!(v.records, 3);
        let e = verify_files(&[path.clone(), old.clone()]).unwrap_err().to_string();
        assert!(e.contains("line 1: the chain does not start here"), "{e}");
        let e = verify_files(&[old.clone(), old.clone()]).unwrap_err().to_string();
        assert!(e.contains("does not continue the one before"), "{e}");
    }

    #[test]
    fn links_foreign_files_and_open_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(ChainFile::open(&link).err().unwrap().to_string().contains("symbolic link"));
        use std::os::unix::fs::PermissionsExt;
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ChainFile::open(&open.join("audit.jsonl")).err().unwrap().to_string();
        assert!(e.contains("may be written by others"), "{e}");
        if unsafe { libc::geteuid() } == 0 {
            let theirs = dir.path().join("theirs");
            std::fs::write(&theirs, b"").unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            assert!(ChainFile::open(&theirs).err().unwrap().to_string().contains("belongs to uid 65534"));
        }
    }

    #[test]
    fn a_long_command_is_kept_cut_with_its_size_and_hash() {
        let argv: Vec<String> = (0..256).map(|_| "\u{1}".repeat(4096)).collect();
        let encoded = vec![7u8; 2_000_000];
        let (kept, cut) = recorded_argv(&argv, &encoded);
        assert!(serde_json::to_string(&kept).unwrap().len() <= MAX_ARGV_JSON + 256 * 8, "bounded");
        let cut = cut.unwrap();
        assert_eq!((cut.bytes, cut.sha256), (2_000_000, sha256_hex(&encoded)));
        let short = vec!["/bin/echo".to_owned(), "hi".to_owned()];
        assert_eq!(recorded_argv(&short, b"x"), (short.clone(), None));
    }

    #[test]
    fn syslog_messages_fit_their_budget_and_keep_the_start_of_the_command() {
        let rec = record(&["/bin/echo", &"x".repeat(5000), "ü€"]);
        for budget in [400, 480, 1000, 2000] {
            let m = syslog_message(&rec, Some(GENESIS), budget);
            assert!(m.len() <= budget, "{} > {budget}", m.len());
            assert!(m.contains("/bin/echo xxx"), "{m}");
            assert!(m.contains("bytes cut]"), "{m}");
            assert!(m.contains("\"principal\":\"alice\""));
            serde_json::from_str::<serde_json::Value>(&m).expect("still JSON");
        }
        let short = record(&["/bin/true"]);
        let m = syslog_message(&short, Some(GENESIS), 1000);
        assert!(m.starts_with(&format!("{{\"hash\":\"{GENESIS}\",\"time\"")), "{m}");
        // Escapes (quotes, control bytes) take more room than their characters.
        let rec = record(&["/bin/echo", &"\"\u{1}".repeat(3000)]);
        assert!(syslog_message(&rec, None, 480).len() <= 480);
    }

    #[test]
    fn syslog_targets_parse() {
        assert_eq!("local".parse(), Ok(SyslogTarget::Local));
        assert_eq!("udp:127.0.0.1:514".parse(), Ok(SyslogTarget::Udp("127.0.0.1:514".into())));
        assert_eq!("tcp:[::1]:514".parse(), Ok(SyslogTarget::Tcp("[::1]:514".into())));
        assert_eq!("unix:/dev/log".parse(), Ok(SyslogTarget::Unix("/dev/log".into())));
        assert!("udp:nohost".parse::<SyslogTarget>().is_err());
        assert!("syslog".parse::<SyslogTarget>().is_err());
    }
}
