//! What the binaries share: time formatting, the home's VSU state, secret input, output.

pub mod args;
pub mod exit;
pub mod input;
pub mod progress;

pub use crate::clock::{fmt_time, now_unix};

/// Grows the pipe on `fd` (stdin 0, stdout 1) to 1 MiB when it is one: a bundle streamed
/// through the default 64 KiB pipe costs a context switch per record. Anything else is left alone.
pub fn widen_pipe(fd: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: fcntl on a descriptor this process owns; F_GETPIPE_SZ/F_SETPIPE_SZ fail harmlessly
    // (EBADF, EINVAL) on anything that is not a pipe.
    unsafe {
        if libc::fcntl(fd, libc::F_GETPIPE_SZ) >= 0 {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// A duration as people write it: `90` (seconds), `30s`, `15m`, `24h`, `7d`.
pub fn parse_duration(t: &str) -> std::result::Result<u64, String> {
    let t = t.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let unit = t.chars().last().ok_or_else(|| "an empty duration".to_owned())?;
    let num = &t[..t.len() - unit.len_utf8()];
    let n: u64 = num.parse().map_err(|_| format!("{t:?} is not a duration (like 30s, 15m, 24h, 7d)"))?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(format!("{t:?}: unknown unit (use s, m, h or d)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{t:?} is too long"))
}
