//! Files and directories to and from the tar stream. Packing keeps modes, mtimes and symbolic
//! links as they are. Unpacking is for bytes from elsewhere: it goes into a temp dir beside the
//! destination, refuses absolute paths, `..`, links that point outside, hard links, device
//! files and names that collide within the bundle, and moves the result into place only when
//! told to (after every proof held), as the destination's [`OnConflict`] says for a name that
//! is there already.

use super::error::CourierError;
use crate::{Error, Result};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// One thing to pack: where it is, and its name in the bundle.
#[derive(Debug, Clone)]
struct Item {
    path: PathBuf,
    name: PathBuf,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
}

/// What will be sent: every entry, in order, with the totals (known before packing starts, so a
/// progress bar has an end).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    items: Vec<Item>,
    pub files: u64,
    pub bytes: u64,
    /// The top-level names, as the recipient will see them.
    pub names: Vec<String>,
    /// Things skipped (sockets, FIFOs, devices), for a warning.
    pub skipped: Vec<PathBuf>,
    /// The payload is a tar stream read from stdin, sent as it is (`sslx send -`).
    pub tar_from_stdin: bool,
    /// Its first block, read (and checked to be a tar header) before anything is sent.
    stdin_head: Vec<u8>,
}

/// What a pack wrote: regular files and their bytes, and the top-level names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    pub files: u64,
    pub bytes: u64,
    pub names: Vec<String>,
}

/// Checks that `block` (the first 512 bytes of a stream) is a tar header: its checksum holds.
fn check_tar_head(block: &[u8]) -> Result<()> {
    let not_tar = |why: &str| {
        Error::Usage(format!(
            "stdin is not a tar stream ({why}): `sslx send -` sends what `tar c` writes (tar c DIR | sslx send - \
             --to PEER); to send a file, name it"
        ))
    };
    if block.len() < 512 {
        return Err(not_tar(if block.is_empty() { "it is empty" } else { "it is shorter than one tar block" }));
    }
    if block.iter().all(|&b| b == 0) {
        return Err(not_tar("an empty archive: nothing to send"));
    }
    let h = tar::Header::from_byte_slice(&block[..512]);
    let stored = h.cksum().map_err(|_| not_tar("its first block is not a tar header"))?;
    let mut again = h.clone();
    again.set_cksum();
    if again.cksum().ok() != Some(stored) {
        return Err(not_tar("its first block is not a tar header"));
    }
    Ok(())
}

impl Plan {
    /// Walks `paths` (files, directories, symbolic links), each sent under its own file name.
    pub fn new(paths: &[PathBuf]) -> Result<Self> {
        let mut plan = Plan::default();
        if paths.iter().any(|p| p.as_os_str() == "-") {
            if paths.len() > 1 {
                return Err(Error::Usage("- (a tar stream on stdin) cannot be mixed with paths".into()));
            }
            plan.tar_from_stdin = true;
            let mut head = Vec::with_capacity(512);
            std::io::Read::take(std::io::stdin().lock(), 512)
                .read_to_end(&mut head)
                .map_err(|e| Error::io("reading stdin", e))?;
            check_tar_head(&head)?;
            plan.stdin_head = head;
            return Ok(plan);
        }
        let mut seen = HashSet::new();
        for p in paths {
            // A path named on the command line is followed if it is a link (as `cp -H` does):
            // the peer gets what it points to, under the link's name. Links inside
            // directories stay links.
            let md = std::fs::metadata(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
            let name = p
                .file_name()
                .map(PathBuf::from)
                .or_else(|| p.canonicalize().ok().and_then(|c| c.file_name().map(PathBuf::from)))
                .ok_or_else(|| Error::Usage(format!("{}: cannot send a path without a name", p.display())))?;
            let shown = name.to_string_lossy().into_owned();
            if !seen.insert(shown.clone()) {
                return Err(Error::Usage(format!(
                    "two of the paths given are named {shown:?}: the recipient would get one over the other"
                )));
            }
            plan.names.push(shown);
            plan.add(p, &name, &md)?;
        }
        Ok(plan)
    }

    fn add(&mut self, path: &Path, name: &Path, md: &std::fs::Metadata) -> Result<()> {
        let ft = md.file_type();
        if ft.is_symlink() {
            self.items.push(Item { path: path.into(), name: name.into(), kind: Kind::Symlink });
        } else if ft.is_file() {
            self.files += 1;
            self.bytes += md.len();
            self.items.push(Item { path: path.into(), name: name.into(), kind: Kind::File });
        } else if ft.is_dir() {
            self.items.push(Item { path: path.into(), name: name.into(), kind: Kind::Dir });
            let mut children: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| Error::io(format!("listing {}", path.display()), e))?
                .collect::<std::io::Result<_>>()
                .map_err(|e| Error::io(format!("listing {}", path.display()), e))?;
            children.sort_by_key(|e| e.file_name());
            for c in children {
                let cp = c.path();
                let cmd =
                    std::fs::symlink_metadata(&cp).map_err(|e| Error::io(format!("reading {}", cp.display()), e))?;
                self.add(&cp, &name.join(c.file_name()), &cmd)?;
            }
        } else {
            self.skipped.push(path.into());
        }
        Ok(())
    }
}

/// Counts bytes written for a progress callback.
struct Counting<'a, W: Write> {
    inner: W,
    done: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.done += n as u64;
        if self.done >> 20 != (self.done - n as u64) >> 20 {
            (self.progress)(self.done);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads through to a writer: what is read is written on.
struct Tee<R: Read, W: Write> {
    from: R,
    to: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Passes a tar stream from `input` (its first block `head` already read) into `out` as it is,
/// reading its headers on the way to tell what it held.
fn pass_tar<W: Write>(head: &[u8], input: impl Read, out: W) -> std::io::Result<(W, Packed)> {
    let mut packed = Packed::default();
    let mut archive = tar::Archive::new(Tee { from: std::io::Cursor::new(head.to_vec()).chain(input), to: out });
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if let Some(top) = path.components().find_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        }) {
            if !packed.names.contains(&top) {
                packed.names.push(top);
            }
        }
        if matches!(entry.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Continuous) {
            packed.files += 1;
            packed.bytes += entry.size();
        }
        std::io::copy(&mut entry, &mut std::io::sink())?;
    }
    // The end-of-archive blocks and whatever padding follows go on as they are.
    let mut tee = archive.into_inner();
    std::io::copy(&mut tee.from, &mut tee.to)?;
    Ok((tee.to, packed))
}

/// Writes the plan as a tar stream into `out` (modes, mtimes, links kept); returns `out` and
/// what went in.
pub fn pack<W: Write>(plan: &Plan, out: W, progress: &mut dyn FnMut(u64)) -> std::io::Result<(W, Packed)> {
    if plan.tar_from_stdin {
        let c = Counting { inner: out, done: 0, progress };
        let (c, packed) = pass_tar(&plan.stdin_head, std::io::stdin().lock(), c)?;
        (c.progress)(c.done);
        return Ok((c.inner, packed));
    }
    let packed = Packed { files: plan.files, bytes: plan.bytes, names: plan.names.clone() };
    let mut b = tar::Builder::new(Counting { inner: out, done: 0, progress });
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    for item in &plan.items {
        match item.kind {
            Kind::Dir => b.append_dir(&item.name, &item.path)?,
            Kind::Symlink => b.append_path_with_name(&item.path, &item.name)?,
            Kind::File => {
                // Read in 1 MiB pieces (tar's own append copies through an 8 KiB buffer).
                let f = std::fs::File::open(&item.path)?;
                let md = f.metadata()?;
                let mut h = tar::Header::new_gnu();
                h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
                b.append_data(&mut h, &item.name, std::io::BufReader::with_capacity(1 << 20, f.take(md.len())))?;
            }
        }
    }
    let c = b.into_inner()?;
    (c.progress)(c.done);
    Ok((c.inner, packed))
}

/// A receive's temp dir inside its destination (`.sslx-recv-XXXXXX`), locked (flock) while the
/// receive runs, removed when dropped, read-only directories in it included. One whose lock
/// nobody holds was left by a receive that was killed: [`sweep_interrupted`] removes it.
pub struct ReceiveDir {
    path: PathBuf,
    _lock: std::fs::File,
}

const RECEIVE_PREFIX: &str = ".sslx-recv-";

impl ReceiveDir {
    pub fn new(dest: &Path) -> Result<Self> {
        let made = |e| Error::io(format!("creating a temp dir in {}", dest.display()), e);
        // Made and locked under another name first, so that a sweep never sees it unlocked.
        let new = tempfile::Builder::new().prefix(".sslx-new-").tempdir_in(dest).map_err(made)?.keep();
        let lock = std::fs::File::open(&new).map_err(made)?;
        let suffix = new.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(".sslx-new-"));
        let path = dest.join(format!("{RECEIVE_PREFIX}{}", suffix.unwrap_or("x")));
        if !try_lock(&lock) || rename_no_replace(&new, &path).is_err() {
            remove_tree(&new);
            return Err(Error::Other(format!("could not set up a temp dir in {}", dest.display())));
        }
        Ok(ReceiveDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ReceiveDir {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// An exclusive flock on `f`, without waiting.
fn try_lock(f: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this process owns.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes a tree this process made, read-only directories in it included (a sender's modes
/// can make one).
fn remove_tree(p: &Path) {
    if std::fs::remove_dir_all(p).is_ok() || !p.exists() {
        return;
    }
    fn writable(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(md) = p.symlink_metadata() else { return };
        if md.is_dir() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                writable(&e.path());
            }
        }
    }
    writable(p);
    let _ = std::fs::remove_dir_all(p);
}

/// Removes the temp dirs in `dest` that receives killed half-way left (their lock is free: no
/// process has them); returns them. Those of receives under way are left alone.
pub fn sweep_interrupted(dest: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for e in std::fs::read_dir(dest).into_iter().flatten().flatten() {
        let (name, p) = (e.file_name(), e.path());
        let is_ours = name.to_str().is_some_and(|n| n.starts_with(RECEIVE_PREFIX));
        if !is_ours || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(f) = std::fs::File::open(&p) else { continue };
        if try_lock(&f) {
            remove_tree(&p);
            removed.push(p);
        }
    }
    // What such a receive had of its tar stream is kept for the sender's next transfer.
    for e in std::fs::read_dir(dest).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some((dir, peer)) =
            name.to_str().filter(|n| n.starts_with(RECEIVE_PREFIX)).and_then(|n| n.split_once(".part"))
        else {
            continue;
        };
        // Only plain files of this user's, whose receive is gone.
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        let mine = e.metadata().is_ok_and(|m| m.is_file() && m.uid() == unsafe { libc::geteuid() });
        if dest.join(dir).exists() || !e.file_type().is_ok_and(|t| t.is_file()) || !mine {
            continue;
        }
        // Kept unless a newer cut already left its own (that one stays).
        let kept = peer.strip_prefix('-').filter(|p| crate::keys::check_name(p).is_ok());
        if kept.is_none_or(|peer| rename_no_replace(&e.path(), &super::resume::kept_path(dest, peer)).is_err()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    removed
}

/// What happens to a top-level name of a transfer that already exists in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// The transfer is refused before anything is placed (a live one goes to the mailbox).
    #[default]
    Fail,
    /// The new one is placed under the first free name `stem.N.ext` (N from 1).
    Rename,
    /// The new one takes the name; what was there is removed (a directory whole, not merged).
    Overwrite,
    /// What is there stays; the new one is dropped.
    Skip,
}

impl OnConflict {
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Fail => "fail",
            OnConflict::Rename => "rename",
            OnConflict::Overwrite => "overwrite",
            OnConflict::Skip => "skip",
        }
    }
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "fail" => OnConflict::Fail,
            "rename" => OnConflict::Rename,
            "overwrite" => OnConflict::Overwrite,
            "skip" => OnConflict::Skip,
            _ => return Err(format!("{s:?} is not one of fail, rename, overwrite, skip")),
        })
    }
}

/// Where a transfer's top-level names go, and what becomes of one that is there already.
#[derive(Debug, Clone)]
pub struct Destination {
    pub dir: PathBuf,
    pub on_conflict: OnConflict,
    /// A path (canonical) that [`OnConflict::Overwrite`] never replaces, nor a directory holding
    /// it: the receiver's sslx home.
    pub keep: Option<PathBuf>,
}

impl Destination {
    /// `dir`, refusing a transfer with a name that exists there.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Destination { dir: dir.into(), on_conflict: OnConflict::Fail, keep: None }
    }
}

/// What arrived.
#[derive(Debug, Clone, Default)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
    /// Top-level names, in order; once placed, the names they were placed under.
    pub names: Vec<String>,
    /// Names placed under another name (`--on-conflict rename`): (the bundle's, the one given).
    pub renamed: Vec<(String, String)>,
    /// Names that replaced what was there (`--on-conflict overwrite`).
    pub replaced: Vec<String>,
    /// Names not placed because one was there (`--on-conflict skip`).
    pub skipped: Vec<String>,
    /// The modes of top-level directories, applied once they are in place (a read-only
    /// directory could not be moved there otherwise).
    top_dir_modes: Vec<(String, u32)>,
}

fn unsafe_entry(why: String) -> Error {
    CourierError::UnsafeEntry(why).into()
}

/// The entry's path as plain names, or why it is not acceptable.
fn clean_path(raw: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(unsafe_entry(format!("the bundle holds a path with '..': {}", raw.display())))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(format!("the bundle holds an absolute path: {}", raw.display())))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(unsafe_entry("the bundle holds an entry without a name".into()));
    }
    Ok(out)
}

/// How a link at `at` (a clean relative path) pointing to `target` resolves, as text: the
/// paths it walks through on the way (each one must be a real directory, never another link
/// of the bundle, or the kernel would resolve it differently), and where it ends. `None` when
/// it leaves the top-level directory it belongs to (a top-level link points outside the bundle
/// by definition), or is absolute.
fn link_walk(at: &Path, target: &Path) -> Option<(Vec<PathBuf>, PathBuf)> {
    if target.is_absolute() {
        return None;
    }
    let mut stack: Vec<&std::ffi::OsStr> = at.parent().map(|p| p.iter().collect()).unwrap_or_default();
    if stack.is_empty() {
        return None;
    }
    let mut walked = Vec::new();
    let mut comps = target.components().peekable();
    while let Some(c) = comps.next() {
        match c {
            Component::Normal(n) => {
                stack.push(n);
                if comps.peek().is_some() {
                    walked.push(stack.iter().collect());
                }
            }
            Component::CurDir => {}
            Component::ParentDir => {
                stack.pop();
                if stack.is_empty() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some((walked, stack.iter().collect()))
}

/// Whether a link at `at` pointing to `target` stays inside its top-level directory, as text.
#[cfg(test)]
fn link_stays_inside(at: &Path, target: &Path) -> bool {
    link_walk(at, target).is_some()
}

/// The process's umask (Linux: `/proc/self/status`, read without changing it; 022 otherwise).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok()))
        })
        .unwrap_or(0o022)
}

/// Checks with the kernel that the link `rel` (inside the directory `top`) resolves beneath
/// `top`: `openat2(RESOLVE_BENEATH)` refuses any resolution that would leave it. A link to
/// nothing (yet) is fine; a kernel without openat2 leaves the textual checks alone.
#[cfg(target_os = "linux")]
fn resolves_beneath(top: &Path, rel: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let dir = std::fs::File::open(top)?;
    let path = std::ffi::CString::new(rel.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: open_how is plain integers; all zeros is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH;
    // SAFETY: a valid directory descriptor, a NUL-terminated path and a properly sized
    // `open_how`; the descriptor returned, if any, is closed at once.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` is a descriptor this call just opened.
        unsafe { libc::close(fd as i32) };
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => Ok(false),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ENOSYS) | Some(libc::EPERM) => Ok(true),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn resolves_beneath(_top: &Path, _rel: &Path) -> std::io::Result<bool> {
    Ok(true)
}

/// Unpacks a tar stream into `tmp` (an empty directory), checking every entry. `dest` is where
/// the top-level names will go: with [`OnConflict::Fail`], one that already exists there is
/// refused at once.
pub fn unpack<R: Read>(archive: &mut tar::Archive<R>, tmp: &Path, dest: &Destination) -> Result<Unpacked> {
    let (on_conflict, dest) = (dest.on_conflict, dest.dir.as_path());
    archive.set_preserve_permissions(false); // modes & 0o777: no set-id bits from a peer
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    let mut got = Unpacked::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    // Links and the paths their targets walk through are compared case-folded: on a
    // case-insensitive filesystem `a/UP` and `a/up` are one path.
    let mut links: HashSet<PathBuf> = HashSet::new();
    // Links are made after everything else, so nothing is ever written through one.
    let mut pending_links: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    // Every path some link's target walks through: none of them may become a link.
    let mut walked_through: HashSet<PathBuf> = HashSet::new();
    let mut dirs: Vec<(PathBuf, PathBuf, u32, u64)> = Vec::new();
    let mask = umask();
    let mut buf = vec![0u8; 1 << 20];
    let mut made: HashSet<PathBuf> = HashSet::new();
    let io = |what: &str, e: std::io::Error| Error::io(what.to_owned(), e);
    for entry in archive.entries().map_err(|e| io("reading the bundle", e))? {
        let mut entry = entry.map_err(|e| io("reading the bundle", e))?;
        let raw = entry.path().map_err(|e| io("reading an entry's name", e))?.into_owned();
        let path = clean_path(&raw)?;
        if !seen.insert(path.clone()) {
            return Err(unsafe_entry(format!("the bundle holds {} twice", path.display())));
        }
        if path.ancestors().skip(1).any(|a| links.contains(&fold(a))) {
            return Err(unsafe_entry(format!("{} would be written through a symbolic link", path.display())));
        }
        let top = path.components().next().expect("non-empty").as_os_str().to_string_lossy().into_owned();
        if top.starts_with(".sslx-") {
            // sslx's own names in a receive folder (temp dirs, what a cut transfer kept).
            return Err(unsafe_entry(format!("the bundle holds {top}, a name sslx keeps for itself")));
        }
        if path.components().count() == 1 {
            if on_conflict == OnConflict::Fail && dest.join(&top).symlink_metadata().is_ok() {
                return Err(exists(dest, &top));
            }
            got.names.push(top);
        } else if !got.names.contains(&top) {
            return Err(unsafe_entry(format!("{} comes before its directory", path.display())));
        }
        let out = tmp.join(&path);
        let et = entry.header().entry_type();
        match et {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                got.files += 1;
                got.bytes += entry.size();
            }
            tar::EntryType::Directory => {
                let mtime = entry.header().mtime().unwrap_or(0);
                let mode = entry.header().mode().unwrap_or(0o755) & 0o777 & !mask;
                dirs.push((out.clone(), path.clone(), mode, mtime));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| io("reading a link", e))?
                    .ok_or_else(|| unsafe_entry(format!("the link {} has no target", path.display())))?;
                let outside = || {
                    unsafe_entry(format!(
                        "the link {} points outside the bundle ({})",
                        path.display(),
                        target.display()
                    ))
                };
                let (walked, _) = link_walk(&path, &target).ok_or_else(outside)?;
                let walked: Vec<PathBuf> = walked.iter().map(|w| fold(w)).collect();
                links.insert(fold(&path));
                if walked.iter().any(|w| links.contains(w)) || walked_through.contains(&fold(&path)) {
                    return Err(unsafe_entry(format!(
                        "the link {} resolves through another link of the bundle ({})",
                        path.display(),
                        target.display()
                    )));
                }
                walked_through.extend(walked);
                pending_links.push((out.clone(), path.clone(), target.into_owned()));
            }
            tar::EntryType::Link => {
                return Err(unsafe_entry(format!("{} is a hard link (not accepted)", path.display())))
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                return Err(unsafe_entry(format!("{} is a device or FIFO (not accepted)", path.display())))
            }
            other => {
                return Err(unsafe_entry(format!(
                    "{} has an entry type sslx does not accept ({other:?})",
                    path.display()
                )))
            }
        }
        if let Some(parent) = out.parent() {
            if !made.contains(parent) {
                std::fs::create_dir_all(parent).map_err(|e| io(&format!("creating {}", parent.display()), e))?;
                made.insert(parent.to_owned());
            }
        }
        match et {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                write_file(&mut entry, &out, &mut buf).map_err(|e| io(&format!("writing {}", path.display()), e))?
            }
            // Made writable for now (its entries come next); its own mode is set at the end.
            tar::EntryType::Directory => make_dir(&out).map_err(|e| io(&format!("creating {}", path.display()), e))?,
            _ => {} // a link: made below
        }
    }
    // Now the links, each where its name says: every directory above it must be a real
    // directory (on a case-insensitive filesystem `a/up/l` could otherwise land through the
    // link `a/UP`).
    for (out, rel, target) in &pending_links {
        let mut above = out.parent();
        while let Some(d) = above.filter(|d| d.starts_with(tmp) && *d != tmp) {
            if !d.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                return Err(unsafe_entry(format!("the link {} would be made through another link", rel.display())));
            }
            above = d.parent();
        }
        std::os::unix::fs::symlink(target, out).map_err(|e| io(&format!("making the link {}", rel.display()), e))?;
    }
    // The kernel's word on every link: none may resolve outside its top-level directory.
    for (_, l, _) in &pending_links {
        let mut comps = l.components();
        let top = tmp.join(comps.next().expect("non-empty"));
        let rel: PathBuf = comps.collect();
        if !resolves_beneath(&top, &rel).map_err(|e| io(&format!("checking the link {}", l.display()), e))? {
            return Err(unsafe_entry(format!("the link {} resolves outside its directory", l.display())));
        }
    }
    // Directories last, deepest first: writing their files changed their mtimes, and a
    // read-only directory could not have been written into. Modes are `mode & 0o777 & !umask`;
    // a top-level directory's mode waits until it is in place.
    for (dir, rel, mode, mtime) in dirs.iter().rev() {
        use std::os::unix::fs::PermissionsExt;
        if rel.components().count() == 1 {
            got.top_dir_modes.push((rel.to_string_lossy().into_owned(), *mode));
        } else {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| io(&format!("chmod {}", rel.display()), e))?;
        }
        let t = filetime::FileTime::from_unix_time(*mtime as i64, 0);
        let _ = filetime::set_file_mtime(dir, t);
    }
    Ok(got)
}

/// A path as links are compared: lowercased, as a case-insensitive filesystem sees it.
fn fold(p: &Path) -> PathBuf {
    PathBuf::from(p.to_string_lossy().to_lowercase())
}

/// A directory of the bundle, 0700 while it is being filled (an existing one is kept).
fn make_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(p) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.symlink_metadata()?.is_dir() => Ok(()),
        other => other,
    }
}

/// Writes a regular file's bytes in 1 MiB pieces; created with its mode (no set-id bits; the
/// kernel applies the umask), then its mtime.
fn write_file<R: Read>(entry: &mut tar::Entry<'_, R>, out: &Path, buf: &mut [u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
    let mtime = entry.header().mtime().unwrap_or(0);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(out)?;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match entry.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            break;
        }
        f.write_all(&buf[..filled])?;
    }
    filetime::set_file_handle_times(&f, None, Some(filetime::FileTime::from_unix_time(mtime as i64, 0)))?;
    Ok(())
}

/// Moves the unpacked top-level names from `tmp` into the destination, all or nothing, as its
/// [`OnConflict`] says for a name that is there already (`unpacked` then holds the names as
/// placed), then gives the top-level directories their modes.
pub fn place(tmp: &Path, dest: &Destination, unpacked: &mut Unpacked) -> Result<()> {
    let dir = dest.dir.as_path();
    // The old versions of replaced names end up here, removed with it.
    let old = tempfile::Builder::new()
        .prefix(".sslx-replaced-")
        .tempdir_in(tmp)
        .map_err(|e| Error::io(format!("creating a temp dir in {}", tmp.display()), e))?;
    let mut done: Vec<Placed> = Vec::new();
    let mut placed_as = Vec::new();
    for n in &unpacked.names {
        match place_one(tmp, dir, n, dest.on_conflict, old.path(), dest.keep.as_deref()) {
            Ok(p) => {
                placed_as.push(p.clone());
                done.push(p);
            }
            Err(e) => {
                // Put back what this call already did.
                for p in done.iter().rev() {
                    p.undo(tmp, dir, old.path());
                }
                return Err(e);
            }
        }
    }
    let mut names = Vec::new();
    for (n, p) in unpacked.names.iter().zip(&placed_as) {
        match p {
            Placed::New(_) => names.push(n.clone()),
            Placed::Renamed(_, to) => {
                unpacked.renamed.push((n.clone(), to.clone()));
                names.push(to.clone());
            }
            Placed::Replaced(..) => {
                unpacked.replaced.push(n.clone());
                names.push(n.clone());
            }
            Placed::Skipped(_) => unpacked.skipped.push(n.clone()),
        }
    }
    unpacked.names = names;
    for (name, mode) in &unpacked.top_dir_modes {
        use std::os::unix::fs::PermissionsExt;
        let Some(Placed::New(to) | Placed::Renamed(_, to) | Placed::Replaced(to, _)) =
            placed_as.iter().find(|p| p.bundle_name() == name)
        else {
            continue;
        };
        let p = dir.join(to);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))
            .map_err(|e| Error::io(format!("chmod {}", p.display()), e))?;
    }
    Ok(())
}

/// What [`place`] did with one name (the bundle's name first), so it can be undone.
#[derive(Debug, Clone)]
enum Placed {
    New(String),
    Renamed(String, String),
    /// `swapped`: the old one is in `tmp` (the two were exchanged), else in `old`.
    Replaced(String, bool),
    Skipped(String),
}

impl Placed {
    fn bundle_name(&self) -> &str {
        match self {
            Placed::New(n) | Placed::Renamed(n, _) | Placed::Replaced(n, _) | Placed::Skipped(n) => n,
        }
    }

    fn undo(&self, tmp: &Path, dir: &Path, old: &Path) {
        match self {
            Placed::New(n) => drop(std::fs::rename(dir.join(n), tmp.join(n))),
            Placed::Renamed(n, to) => drop(std::fs::rename(dir.join(to), tmp.join(n))),
            Placed::Replaced(n, true) => drop(exchange(&tmp.join(n), &dir.join(n))),
            Placed::Replaced(n, false) => {
                if std::fs::rename(dir.join(n), tmp.join(n)).is_ok() {
                    let _ = std::fs::rename(old.join(n), dir.join(n));
                }
            }
            Placed::Skipped(_) => {}
        }
    }
}

fn place_one(
    tmp: &Path,
    dir: &Path,
    n: &str,
    on_conflict: OnConflict,
    old: &Path,
    keep: Option<&Path>,
) -> Result<Placed> {
    let (from, to) = (tmp.join(n), dir.join(n));
    let moving = |to: &Path, e: std::io::Error| Error::io(format!("moving {} into place", to.display()), e);
    match rename_no_replace(&from, &to) {
        Ok(()) => return Ok(Placed::New(n.to_owned())),
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(moving(&to, e)),
        Err(_) => {}
    }
    match on_conflict {
        OnConflict::Fail => Err(exists(dir, n)),
        OnConflict::Skip => Ok(Placed::Skipped(n.to_owned())),
        OnConflict::Rename => {
            for i in 1..=9999 {
                let other = numbered(n, i);
                match rename_no_replace(&from, &dir.join(&other)) {
                    Ok(()) => return Ok(Placed::Renamed(n.to_owned(), other)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(moving(&dir.join(&other), e)),
                }
            }
            Err(Error::Usage(format!("{} and 9999 numbered names beside it exist: nothing was placed", to.display())))
        }
        OnConflict::Overwrite => {
            if let Some(home) = keep {
                holds(dir, n, home)?;
            }
            // What is there (a link stays a link: it is moved, never followed) leaves, the new
            // one takes its place: at once where the kernel can swap the two (the old one is then
            // in `tmp`, removed with it), else through `old`.
            if exchange(&from, &to).map_err(|e| moving(&to, e))? {
                return Ok(Placed::Replaced(n.to_owned(), true));
            }
            std::fs::rename(&to, old.join(n)).map_err(|e| moving(&to, e))?;
            if let Err(e) = rename_no_replace(&from, &to) {
                let _ = std::fs::rename(old.join(n), &to);
                return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    exists(dir, n)
                } else {
                    moving(&to, e)
                });
            }
            Ok(Placed::Replaced(n.to_owned(), false))
        }
    }
}

/// Refuses to replace `dir/n` when it is `keep` or a directory holding it (the sslx home, whose
/// settings file runs commands): a link there is replaced itself, never what it points at.
fn holds(dir: &Path, n: &str, keep: &Path) -> Result<()> {
    let at = dir.join(n);
    let is_dir = at.symlink_metadata().is_ok_and(|m| m.is_dir());
    let real = std::fs::canonicalize(dir).map(|d| d.join(n));
    match real {
        Ok(real) if is_dir && keep.starts_with(&real) => Err(Error::Usage(format!(
            "{} holds the sslx home {}: --on-conflict overwrite never replaces it",
            at.display(),
            keep.display()
        ))),
        _ => Ok(()),
    }
}

/// `name` with a number before its extension: `report.pdf` → `report.1.pdf`, `backup.tar.gz`
/// → `backup.1.tar.gz`, `notes` or `.profile` → `notes.1`, `.profile.1`.
pub fn numbered(name: &str, n: u32) -> String {
    match name.char_indices().skip(1).find(|&(_, c)| c == '.') {
        Some((i, _)) if !name.starts_with('.') => format!("{}.{n}{}", &name[..i], &name[i..]),
        _ => format!("{name}.{n}"),
    }
}

fn exists(dir: &Path, name: &str) -> Error {
    Error::Exists { name: name.to_owned(), path: dir.join(name).display().to_string() }
}

/// renameat2 with `flags`: Ok(false) where the filesystem or system does not take them.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn renameat2(from: &Path, to: &Path, flags: u32) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: two NUL-terminated paths, relative to the working directory.
        let rc = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), flags) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    let _ = (from, to, flags);
    Ok(false)
}

/// Swaps `from` and `to` in one step (RENAME_EXCHANGE); false where the filesystem or system
/// cannot.
fn exchange(from: &Path, to: &Path) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        renameat2(from, to, libc::RENAME_EXCHANGE)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Ok(false)
    }
}

/// A rename that fails (AlreadyExists) instead of replacing what is there: RENAME_NOREPLACE on
/// Linux, so two transfers racing for one name cannot overwrite each other.
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if renameat2(from, to, libc::RENAME_NOREPLACE)? {
        return Ok(());
    }
    // Filesystems without RENAME_NOREPLACE: check, then rename.
    if to.symlink_metadata().is_ok() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists"));
    }
    std::fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_walking_through_another_link_is_seen() {
        let (walked, end) = link_walk(Path::new("a/x1"), Path::new("up/../etc")).unwrap();
        assert_eq!(walked, vec![PathBuf::from("a/up")]);
        assert_eq!(end, PathBuf::from("a/etc"));
    }

    #[test]
    fn link_targets() {
        assert!(link_stays_inside(Path::new("a/b"), Path::new("c")));
        assert!(link_stays_inside(Path::new("a/b/c"), Path::new("../d")));
        assert!(!link_stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!link_stays_inside(Path::new("a/b"), Path::new("../../c")));
        assert!(!link_stays_inside(Path::new("a/b"), Path::new("/etc/passwd")));
        assert!(!link_stays_inside(Path::new("a"), Path::new("b")));
    }

    /// A tar of directories (`d`), links (`l`, with a target) and files (`f`).
    fn tar_of(entries: &[(&str, char, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, target) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            match kind {
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
                'l' => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, target).unwrap();
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(1);
                    b.append_data(&mut h, path, &b"x"[..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Unpacked>) {
        let root = tempfile::tempdir().unwrap();
        let (tmp, dest) = (root.path().join("tmp"), root.path().join("dest"));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&dest).unwrap();
        let r = unpack(&mut tar::Archive::new(bytes), &tmp, &Destination::new(&dest));
        (root, r)
    }

    #[test]
    fn a_name_that_exists_fails_or_is_renamed_replaced_or_skipped_as_asked() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        std::fs::create_dir_all(dest.join("d")).unwrap();
        std::fs::write(dest.join("d/old"), "old").unwrap();
        std::fs::write(dest.join("r.txt"), "mine").unwrap();
        std::fs::write(dest.join("r.1.txt"), "mine too").unwrap();
        let bundle = tar_of(&[("d", 'd', ""), ("d/new", 'f', ""), ("r.txt", 'f', ""), ("n", 'f', "")]);
        let run = |on_conflict| {
            let tmp = tempfile::tempdir_in(&dest).unwrap();
            let d = Destination { dir: dest.clone(), on_conflict, keep: None };
            let mut u = unpack(&mut tar::Archive::new(&bundle[..]), tmp.path(), &d)?;
            place(tmp.path(), &d, &mut u).map(|()| u)
        };
        // fail: refused while unpacking, nothing placed.
        assert!(matches!(run(OnConflict::Fail), Err(Error::Exists { ref name, .. }) if name == "d"));
        assert!(!dest.join("n").exists());
        // skip: only the new name lands.
        let u = run(OnConflict::Skip).unwrap();
        assert_eq!(
            (u.names.clone(), u.skipped.clone()),
            (vec!["n".to_owned()], vec!["d".to_owned(), "r.txt".to_owned()])
        );
        assert_eq!(std::fs::read_to_string(dest.join("r.txt")).unwrap(), "mine");
        std::fs::remove_file(dest.join("n")).unwrap();
        // rename: the first free numbered name.
        let u = run(OnConflict::Rename).unwrap();
        assert_eq!(u.names, ["d.1", "r.2.txt", "n"]);
        assert!(dest.join("d.1/new").exists() && dest.join("d/old").exists());
        assert_eq!(std::fs::read_to_string(dest.join("r.1.txt")).unwrap(), "mine too");
        // overwrite: a directory is replaced whole (not merged), a file in place.
        std::fs::remove_file(dest.join("n")).unwrap();
        let u = run(OnConflict::Overwrite).unwrap();
        assert_eq!(
            (u.names.clone(), u.replaced.clone()),
            (vec!["d".into(), "r.txt".into(), "n".into()], vec!["d".into(), "r.txt".into()])
        );
        assert!(dest.join("d/new").exists() && !dest.join("d/old").exists());
        assert_eq!(std::fs::read(dest.join("r.txt")).unwrap(), b"x");
        // Nothing is left beside them.
        let mut left: Vec<String> =
            std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["d", "d.1", "n", "r.1.txt", "r.2.txt", "r.txt"]);
        // Never over the sslx home, nor a directory holding it.
        std::fs::create_dir_all(dest.join("cfg/sslx")).unwrap();
        let home = std::fs::canonicalize(dest.join("cfg/sslx")).unwrap();
        let evil = tar_of(&[("cfg", 'd', ""), ("cfg/sslx.toml", 'f', "")]);
        let tmp = tempfile::tempdir_in(&dest).unwrap();
        let d = Destination { dir: dest.clone(), on_conflict: OnConflict::Overwrite, keep: Some(home) };
        let mut u = unpack(&mut tar::Archive::new(&evil[..]), tmp.path(), &d).unwrap();
        let e = place(tmp.path(), &d, &mut u).unwrap_err().to_string();
        assert!(e.contains("holds the sslx home"), "{e}");
        assert!(dest.join("cfg/sslx").is_dir());
        drop(tmp);
        assert_eq!(
            (numbered("backup.tar.gz", 3), numbered(".profile", 1), numbered("x", 2)),
            ("backup.3.tar.gz".into(), ".profile.1".into(), "x.2".into())
        );
    }

    #[test]
    fn links_are_compared_as_a_case_insensitive_filesystem_sees_them() {
        // `a/b/up` is `a/b/UP` on macOS or a casefold directory: a target walking through it
        // walks through a link, and an entry beneath it is written through one.
        let walk = tar_of(&[("a", 'd', ""), ("a/b", 'd', ""), ("a/b/UP", 'l', ".."), ("a/c", 'l', "b/up/../..")]);
        let (_root, r) = unpack_bytes(&walk);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("through another link"), "{e}");
        let beneath = tar_of(&[("a", 'd', ""), ("a/b", 'd', ""), ("a/b/UP", 'l', ".."), ("a/b/Up/evil", 'f', "")]);
        let (_root, r) = unpack_bytes(&beneath);
        assert!(r.unwrap_err().to_string().contains("through a symbolic link"));
    }

    #[test]
    fn links_are_made_after_every_file_and_directory() {
        let t = tar_of(&[("a", 'd', ""), ("a/l", 'l', "f"), ("a/f", 'f', ""), ("a/d", 'd', "")]);
        let (root, r) = unpack_bytes(&t);
        r.unwrap();
        let l = root.path().join("tmp/a/l");
        assert!(l.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&l).unwrap(), b"x");
    }

    #[test]
    fn paths() {
        assert!(clean_path(Path::new("/etc/x")).is_err());
        assert!(clean_path(Path::new("a/../../x")).is_err());
        assert_eq!(clean_path(Path::new("./a/b")).unwrap(), PathBuf::from("a/b"));
    }
}
