//! `sslx listen --exec`: a call's stream through a command. The command is driven by the peer:
//! it gets this process's environment but for sslx's own variables (PINs, passwords, short
//! strings), and the peer's proven name in `SSLX_PEER`; the peer's bytes are its stdin, its
//! stdout goes back as the stream, its stderr as records flagged `FLAG_STDERR`, and how it ended
//! in the final record (`FLAG_EXIT`, `msgs::RemoteExit`).

use super::io::{run_both, Conn, Transfer};
use super::msgs::RemoteExit;
use super::record::{
    RecordSender, FLAG_EXIT, FLAG_FINAL, FLAG_STDERR, MAX_RECORD_PLAINTEXT, RECORD_PREFIX, RECORD_TAG,
};
use super::Session;
use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

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
        .env_remove("NOTIFY_SOCKET")
        .env("SSLX_PEER", &session.summary.peer)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("starting --exec {cmd:?}"), e))?;
    let stdin = child.stdin.take().expect("piped");
    let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let r =
        run_both(session, conn, move |sender, writer| send_outputs(sender, writer, stdout, stderr, child), stdin, None);
    let ((sent, status), (received, _)) = r?;
    Ok((Transfer { sent, received }, status))
}

/// One chunk of the command's output, from the thread that read it.
enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Sends the command's stdout and stderr as they come (each read by a thread of its own, so
/// neither pipe fills while the other is read), then, when both have ended, waits for the
/// command and sends how it ended as the final record.
fn send_outputs(
    mut sender: RecordSender,
    mut writer: TcpStream,
    stdout: impl Read + Send + 'static,
    stderr: impl Read + Send + 'static,
    mut child: std::process::Child,
) -> Result<(u64, std::process::ExitStatus)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let reader = |mut from: Box<dyn Read + Send>, tx: std::sync::mpsc::SyncSender<Chunk>, err: bool| {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_RECORD_PLAINTEXT];
            loop {
                match from.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        let c = buf[..n].to_vec();
                        if tx.send(if err { Chunk::Err(c) } else { Chunk::Out(c) }).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        })
    };
    let out_thread = reader(Box::new(stdout), tx.clone(), false);
    let err_thread = reader(Box::new(stderr), tx, true);
    let mut frame = vec![0u8; RECORD_PREFIX + MAX_RECORD_PLAINTEXT + RECORD_TAG];
    let mut total = 0u64;
    let mut seal = |data: &[u8], flags: u8, frame: &mut Vec<u8>| -> Result<()> {
        frame[RECORD_PREFIX..RECORD_PREFIX + data.len()].copy_from_slice(data);
        let len = sender.seal_prepared_flagged(frame, data.len(), flags)?;
        writer.write_all(&frame[..len]).map_err(|e| Error::io("sending the command's output", e))
    };
    let mut failed = None;
    for chunk in rx {
        let (data, flags) = match &chunk {
            Chunk::Out(d) => (d, 0),
            Chunk::Err(d) => (d, FLAG_STDERR),
        };
        if let Err(e) = seal(data, flags, &mut frame) {
            failed = Some(e);
            break;
        }
        total += data.len() as u64;
    }
    if let Some(e) = failed {
        // The caller is gone: the command gets no more of its input, and ends.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let _ = (out_thread.join(), err_thread.join());
    let status = child.wait().map_err(|e| Error::io("waiting for the --exec command", e))?;
    seal(&RemoteExit::of(status).encode(), FLAG_FINAL | FLAG_EXIT, &mut frame)?;
    let _ = writer.shutdown(Shutdown::Write);
    Ok((total, status))
}
