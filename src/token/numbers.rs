//! Session numbers, unique per node without any central service and across restarts: a small
//! state file beside the node's key holds the next free number; a minter reserves a block under
//! an exclusive lock (so several processes can mint at once) and syncs the file before using any
//! number of it. A fresh or lost file starts from the clock (`unix seconds × 2^16`), so numbers
//! stay unique even then as long as a node mints fewer than 65,536 tokens a second.

use super::layout::MAX_NUMBER;
use crate::{Error, Result};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct SessionNumbers {
    path: PathBuf,
}

impl SessionNumbers {
    /// The numbers of the node whose key is `key_file` (state in `KEY_FILE.seq`).
    pub fn for_key(key_file: &Path) -> Self {
        let mut p = key_file.as_os_str().to_owned();
        p.push(".seq");
        SessionNumbers { path: p.into() }
    }

    /// Reserves `n` consecutive numbers; returns the first.
    pub fn reserve(&self, n: u64, now: u64) -> Result<u64> {
        use std::os::unix::fs::OpenOptionsExt;
        let ctx = |what: &str| format!("{what} {}", self.path.display());
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| Error::io(ctx("opening"), e))?;
        // SAFETY: flock on a descriptor we own; the lock is released when `f` is closed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(ctx("locking"), std::io::Error::last_os_error()));
        }
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(|e| Error::io(ctx("reading"), e))?;
        let stored: u64 = match text.trim() {
            "" => 0,
            t => t.parse().map_err(|_| crate::keys::KeyError::Damaged {
                path: self.path.display().to_string(),
                what: format!("{t:?} is not a session number"),
            })?,
        };
        let first = stored.max(now << 16).max(1);
        let next = first.checked_add(n).filter(|&x| x <= MAX_NUMBER + 1).ok_or_else(|| {
            Error::Other(format!("session numbers of this node are exhausted ({})", self.path.display()))
        })?;
        f.set_len(0).and_then(|_| f.rewind()).map_err(|e| Error::io(ctx("writing"), e))?;
        f.write_all(format!("{next}\n").as_bytes()).map_err(|e| Error::io(ctx("writing"), e))?;
        f.sync_all().map_err(|e| Error::io(ctx("syncing"), e))?;
        Ok(first)
    }
}
