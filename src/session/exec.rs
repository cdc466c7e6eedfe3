//! `sslx listen --exec`: a call's stream through a command. The command is driven by the peer:
//! it gets this process's environment but for sslx's own variables (PINs, passwords, short
//! strings), and the peer's proven name in `SSLX_PEER`; the peer's bytes are its stdin, its
//! stdout goes back.

use super::io::{pump, Conn, Transfer};
use super::Session;
use crate::{Error, Result};

/// Runs `cmd` (`sh -c`) for this session; returns what moved and how the command ended.
pub fn run(session: Session, conn: Conn, cmd: &str) -> Result<(Transfer, std::process::ExitStatus)> {
    let mut command = std::process::Command::new("sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SSLX_") {
            command.env_remove(k);
        }
    }
    let mut child = command
        .arg("-c")
        .arg(cmd)
        .env("SSLX_PEER", &session.summary.peer)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("starting --exec {cmd:?}"), e))?;
    let (stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
    let t = pump(session, conn, stdout, stdin);
    let status = child.wait().map_err(|e| Error::io("waiting for the --exec command", e))?;
    Ok((t?, status))
}
