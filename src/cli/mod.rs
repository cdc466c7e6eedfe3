//! What the binaries share: time formatting, the home's VSU state, secret input, output.

pub mod args;
pub mod config;
pub mod exit;
pub mod input;
pub mod logfile;
pub mod progress;
pub mod prompts;
pub mod report;
pub mod running;

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

pub use crate::clock::parse_duration;
