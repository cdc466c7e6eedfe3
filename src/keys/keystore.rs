//! The participant's home (`$SSLX_HOME`, default `$XDG_CONFIG_HOME/sslx`): its files, written
//! atomically (temp file, then rename), secrets 0600 and refused when others can read them.

use super::{Identity, KeyError};
use crate::{Error, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Home { dir: dir.into() }
    }

    /// An exclusive lock on `name` in the home (a 0600 file made for it), held while the file
    /// returned lives; `None` when another process holds it.
    pub fn try_lock(&self, name: &str) -> Result<Option<std::fs::File>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        self.ensure()?;
        let p = self.path(name);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&p)
            .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
        // SAFETY: flock on a descriptor this process owns; released when `f` is closed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(f));
        }
        match std::io::Error::last_os_error() {
            e if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            e => Err(Error::io(format!("locking {}", p.display()), e)),
        }
    }

    /// `$SSLX_HOME` is handled by clap; this is the fallback: `$XDG_CONFIG_HOME/sslx` or `~/.config/sslx`.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("sslx");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".config").join("sslx")
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn identity_path(&self) -> PathBuf {
        self.path("identity.key")
    }

    /// Creates the home (0700) if it is missing.
    pub fn ensure(&self) -> Result<()> {
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(format!("creating {}", self.dir.display()), e))?;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(format!("chmod {}", self.dir.display()), e))?;
        }
        Ok(())
    }

    /// Where one of the home's state files (`db::open`) lives, the home made first if missing.
    pub fn state_file(&self, file: &str) -> Result<PathBuf> {
        self.ensure()?;
        Ok(self.path(file))
    }

    pub fn has_identity(&self) -> bool {
        self.identity_path().exists()
    }

    pub fn load_identity(&self) -> Result<Identity> {
        let p = self.identity_path();
        if !p.exists() {
            return Err(KeyError::NoIdentity(self.dir.display().to_string()).into());
        }
        load_identity_file(&p)
    }

    pub fn save_identity(&self, id: &Identity) -> Result<()> {
        self.ensure()?;
        write_secret_atomic(&self.identity_path(), id.to_file_text().as_bytes())?;
        write_atomic(&self.path("identity.pub"), format!("{} {}\n", id.name, id.public().to_line()).as_bytes(), 0o644)
    }

    /// Where `replace_identity` keeps the identity it replaced.
    pub fn old_identity_path(&self) -> PathBuf {
        self.path("identity.key.old")
    }

    /// Installs `id` as this home's identity. An identity already there is refused unless
    /// `force`, and then kept as `identity.key.old` (0600, as it was) for `sslx vsu
    /// --prove-with`; returns where the old one went, if there was one.
    pub fn replace_identity(&self, id: &Identity, force: bool) -> Result<Option<PathBuf>> {
        let kept = if self.has_identity() {
            if !force {
                return Err(KeyError::IdentityExists(self.dir.display().to_string()).into());
            }
            let old = self.old_identity_path();
            std::fs::rename(self.identity_path(), &old).map_err(|e| Error::io("keeping the old identity", e))?;
            Some(old)
        } else {
            None
        };
        self.save_identity(id)?;
        Ok(kept)
    }

    /// Reads a JSON state file; `None` if it does not exist.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, file: &str) -> Result<Option<T>> {
        let p = self.path(file);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| KeyError::Damaged { path: p.display().to_string(), what: e.to_string() }.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", p.display()), e)),
        }
    }

    pub fn write_json<T: serde::Serialize>(&self, file: &str, v: &T, secret: bool) -> Result<()> {
        self.ensure()?;
        let mut b = serde_json::to_vec_pretty(v).expect("serializable");
        b.push(b'\n');
        if secret {
            write_secret_atomic(&self.path(file), &b)
        } else {
            write_atomic(&self.path(file), &b, 0o644)
        }
    }

    pub fn remove(&self, file: &str) -> Result<()> {
        match std::fs::remove_file(self.path(file)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.path(file).display()), e)),
        }
    }
}

pub fn load_identity_file(p: &Path) -> Result<Identity> {
    let text = read_secret_file(p)?;
    Identity::from_file_text(&text).map_err(Error::from)
}

/// Before a secret file (a database) is opened: refuses it if group or others can read it, or
/// creates it empty with mode 0600 if it does not exist.
pub fn prepare_secret_file(p: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if p.exists() {
        return check_secret_file_mode(p);
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_secret_file_mode(p),
        Err(e) => Err(Error::io(format!("creating {}", p.display()), e)),
    }
}

/// A directory secrets are written into, made 0700 (with any missing parents) if it does not
/// exist. An existing one must belong to this process's user; one that group or others can
/// write in (a shared one such as `/tmp`, given by mistake) is refused and left as it was; one
/// only its owner writes in but others may read is tightened to 0700 (said in the log). The
/// checks and the chmod are made on one open handle (a path swapped in between changes nothing).
pub fn private_dir(p: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let made = !p.exists();
    if made {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
    }
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(p)
        .map_err(|e| Error::io(format!("opening the directory {}", p.display()), e))?;
    let md = dir.metadata().map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    let mode = md.permissions().mode() & 0o7777;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me {
        return Err(KeyError::ForeignDir { path: p.display().to_string(), owner: md.uid() }.into());
    }
    if !made && mode & 0o022 != 0 {
        return Err(KeyError::SharedDir { path: p.display().to_string(), mode }.into());
    }
    if mode & 0o077 != 0 || (made && mode != 0o700) {
        if !made {
            log::warn!("{}: others could read it (mode {mode:o}): made 0700", p.display());
        }
        dir.set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("chmod 700 {}", p.display()), e))?;
    }
    Ok(())
}

/// Refuses a secret file that group or others can read.
pub fn check_secret_file_mode(p: &Path) -> Result<()> {
    let md = std::fs::metadata(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
    let mode = md.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed { path: p.display().to_string(), mode }.into());
    }
    Ok(())
}

/// Reads a secret file after checking its mode.
pub fn read_secret_file(p: &Path) -> Result<String> {
    check_secret_file_mode(p)?;
    std::fs::read_to_string(p).map_err(|e| Error::io(format!("reading {}", p.display()), e))
}

/// Writes `bytes` to `path` through a temp file in the same directory, then renames: a reader
/// sees the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(mut f) = open_special(path)? {
        return f.write_all(bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".sslx-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(ctx("creating a temp file for"), e))?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| Error::io(ctx("chmod"), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(ctx("writing"), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(ctx("syncing"), e))?;
    tmp.persist(path).map_err(|e| Error::io(ctx("renaming into"), e.error))?;
    Ok(())
}

/// A path that already names something other than a regular file (a device such as /dev/null
/// or /dev/stdout, a FIFO): it is written in place, never replaced by a rename. A directory is
/// an error.
pub fn open_special(path: &Path) -> Result<Option<std::fs::File>> {
    match std::fs::metadata(path) {
        Ok(md) if md.is_dir() => Err(Error::Usage(format!("{} is a directory", path.display()))),
        Ok(md) if !md.is_file() => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(Some)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e)),
        _ => Ok(None),
    }
}

pub fn write_secret_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes, 0o600)?;
    // The rename itself survives a crash only once the directory is synced (a key the CDS was
    // told about must not vanish with it).
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_an_identity_needs_force_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let rng = crate::crypto::system_rng();
        let (first, second) = (Identity::generate("n", &rng).unwrap(), Identity::generate("n", &rng).unwrap());
        assert_eq!(home.replace_identity(&first, false).unwrap(), None);
        assert!(matches!(home.replace_identity(&second, false), Err(Error::Key(KeyError::IdentityExists(_)))));
        assert_eq!(home.load_identity().unwrap().public(), first.public(), "nothing replaced without force");
        let old = home.replace_identity(&second, true).unwrap().unwrap();
        assert_eq!(home.load_identity().unwrap().public(), second.public());
        assert_eq!(load_identity_file(&old).unwrap().public(), first.public());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&old).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
