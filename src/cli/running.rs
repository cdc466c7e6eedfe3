//! The listeners running on this machine for a home (`sslx recv`, `listen`, `pair --accept`),
//! for `sslx status`: each writes `run/SERVICE.PID.json` in the home and holds an flock on it
//! for as long as it lives. A file whose lock nobody holds is left by a process that is gone,
//! and is removed when listed.

use crate::keys::Home;
use serde::{Deserialize, Serialize};
use std::os::fd::AsRawFd;

/// One listener: its service, process, where it takes calls and since when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Listening {
    pub service: String,
    pub pid: u32,
    pub on: String,
    pub since: u64,
}

fn locked(f: &std::fs::File, how: libc::c_int) -> bool {
    // SAFETY: flock on a descriptor this process owns.
    unsafe { libc::flock(f.as_raw_fd(), how | libc::LOCK_NB) == 0 }
}

/// Records this process as listening for `service` on `on`, until it exits (the lock goes with
/// the process; nothing to clean up). Failing to record is no reason to stop listening.
pub fn register(home: &Home, service: &str, on: &str, now: u64) {
    let dir = home.path("run");
    let entry = Listening { service: service.to_owned(), pid: std::process::id(), on: on.to_owned(), since: now };
    let path = dir.join(format!("{service}.{}.json", entry.pid));
    if path.exists() {
        return; // put up again after a drop: recorded already
    }
    let Ok(body) = serde_json::to_vec(&entry) else { return };
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    // Written and locked under another name first, so a listing never sees it unlocked.
    let new = dir.join(format!(".{service}.{}.new", entry.pid));
    let Ok(f) = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&new) else {
        return;
    };
    use std::io::Write;
    let mut w = &f;
    if locked(&f, libc::LOCK_EX) && w.write_all(&body).is_ok() && std::fs::rename(&new, &path).is_ok() {
        // The descriptor (and so the lock) lives as long as the process.
        std::mem::forget(f);
    } else {
        let _ = std::fs::remove_file(&new);
    }
}

/// The listeners alive for `home`; files of processes that are gone are removed.
pub fn listening(home: &Home) -> Vec<Listening> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(home.path("run")).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue; // being written
        }
        let Ok(f) = std::fs::File::open(&p) else { continue };
        if locked(&f, libc::LOCK_SH) {
            // Nobody holds it: its process is gone.
            let _ = std::fs::remove_file(&p);
            continue;
        }
        if let Some(l) = std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<Listening>(&b).ok()) {
            out.push(l);
        }
    }
    out.sort_by(|a, b| (&a.service, a.pid).cmp(&(&b.service, b.pid)));
    out
}
