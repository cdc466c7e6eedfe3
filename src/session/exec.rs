//! `sslx listen --exec`: a call's stream through a command. The command is driven by the peer:
//! it gets this process's environment but for sslx's own variables (PINs, passwords, short
//! strings), and the peer's proven name in `SSLX_PEER`; the peer's bytes are its stdin, its
//! stdout goes back as the stream, its stderr as records flagged `FLAG_STDERR`, and how it ended
//! in the final record (`FLAG_EXIT`, `msgs::RemoteExit`).

use super::io::{run_both, CallerWatch, Conn, Peer, Transfer};
use super::msgs::RemoteExit;
use super::record::{
    RecordSender, FLAG_EXIT, FLAG_FINAL, FLAG_STDERR, MAX_RECORD_PLAINTEXT, RECORD_PREFIX, RECORD_TAG,
};
use super::Session;
use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

/// Runs `cmd` (`sh -c`) for this session; returns what moved and how the command ended.
pub fn run(session: Session, conn: Conn, cmd: &str) -> Result<Ran> {
    let mut command = std::process::Command::new("sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SSLX_") {
            command.env_remove(k);
        }
    }
    command.arg("-c").arg(cmd).env_remove("NOTIFY_SOCKET").env("SSLX_PEER", &session.summary.peer);
    run_command(session, conn, command, &format!("--exec {cmd:?}"), CommandLimits::default())
}

/// How long a command may run and how much output it may give; past either it is killed, and a
/// line on its stderr says so before its exit status.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandLimits {
    pub timeout: Option<std::time::Duration>,
    pub max_output: Option<u64>,
    /// The caller keeps its side open until the command's end (PROTOCOL.md 5H): the end of its
    /// connection before then stops the command.
    pub end_with_caller: bool,
}

/// How a command ran: what moved, how it ended, and the limit it was killed at.
#[derive(Debug)]
pub struct Ran {
    pub transfer: Transfer,
    pub status: std::process::ExitStatus,
    /// Why it was killed ("ran past its limit of 5 s"), when a limit stopped it.
    pub stopped: Option<String>,
}

/// Runs a prepared command for this session (its stdin, stdout and stderr are set here): the
/// peer's data is its stdin, its outputs and how it ended go back.
pub fn run_command(
    session: Session,
    conn: Conn,
    mut command: std::process::Command,
    what: &str,
    limits: CommandLimits,
) -> Result<Ran> {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("starting {what}"), e))?;
    let stdin = child.stdin.take().expect("piped");
    let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = gone.clone();
    let send = move |sender, writer| send_outputs(sender, writer, stdout, stderr, child, limits, watch);
    let w = CallerWatch { gone, end_is_gone: limits.end_with_caller };
    let r = run_both(session, conn, send, stdin, None, Peer::CallerOfCommand, Some(w));
    let ((sent, status, stopped), (received, _)) = r?;
    Ok(Ran { transfer: Transfer { sent, received }, status, stopped })
}

/// Kills the command and, when it leads a group of its own (sslx-execd starts it so), all it
/// started: they let go of its pipes too.
fn kill_group(child: &mut std::process::Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: getpgid and killpg on the pid of our own child.
    unsafe {
        if libc::getpgid(pid) == pid {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// One chunk of the command's output, from the thread that read it.
enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
    /// The command's stdout reached its end.
    OutEnded,
}

/// How long the command's stderr is still read once the command has exited and its stdout
/// ended: a process it left in the background may hold stderr open for good.
const STDERR_AFTER_EXIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Sends the command's stdout and stderr as they come (each read by a thread of its own, so
/// neither pipe fills while the other is read), then, once stdout has ended and the command has
/// exited (stderr read to its end, or for [`STDERR_AFTER_EXIT`] more), sends how it ended as the
/// final record.
fn send_outputs(
    mut sender: RecordSender,
    mut writer: TcpStream,
    stdout: impl Read + Send + 'static,
    stderr: impl Read + Send + 'static,
    mut child: std::process::Child,
    limits: CommandLimits,
    caller_gone: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<(u64, std::process::ExitStatus, Option<String>)> {
    use std::sync::mpsc::RecvTimeoutError;
    let deadline = limits.timeout.map(|t| std::time::Instant::now() + t);
    let mut stopped: Option<String> = None;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
    let reader = |mut from: Box<dyn Read + Send>, tx: std::sync::mpsc::SyncSender<Chunk>, err: bool| {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_RECORD_PLAINTEXT];
            loop {
                match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let c = buf[..n].to_vec();
                        if tx.send(if err { Chunk::Err(c) } else { Chunk::Out(c) }).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if !err {
                let _ = tx.send(Chunk::OutEnded);
            }
        })
    };
    // Neither thread is joined: one may block on a pipe a background process holds; each ends
    // when its pipe does, or at its next chunk once `rx` is gone.
    reader(Box::new(stdout), tx.clone(), false);
    reader(Box::new(stderr), tx, true);
    let mut frame = vec![0u8; RECORD_PREFIX + MAX_RECORD_PLAINTEXT + RECORD_TAG];
    let mut total = 0u64;
    let mut seal = |data: &[u8], flags: u8, frame: &mut Vec<u8>| -> Result<()> {
        frame[RECORD_PREFIX..RECORD_PREFIX + data.len()].copy_from_slice(data);
        let len = sender.seal_prepared_flagged(frame, data.len(), flags)?;
        writer.write_all(&frame[..len]).map_err(|e| Error::io("sending the command's output", e))
    };
    let mut out_ended = false;
    let mut exited: Option<(std::process::ExitStatus, std::time::Instant)> = None;
    let mut failed = None;
    loop {
        // Never a wait without end: the limits, and a caller that went away, are looked at
        // between chunks.
        let chunk = if out_ended {
            rx.recv_timeout(std::time::Duration::from_millis(50))
        } else {
            rx.recv_timeout(std::time::Duration::from_millis(100))
        };
        if caller_gone.load(std::sync::atomic::Ordering::SeqCst) {
            kill_group(&mut child);
            failed = Some(Error::Unavailable("the caller went away: the command was stopped".into()));
            break;
        }
        if stopped.is_none() {
            let why = match (deadline, limits.max_output) {
                (Some(d), _) if std::time::Instant::now() >= d => {
                    Some(format!("ran past its limit of {} s", limits.timeout.unwrap_or_default().as_secs()))
                }
                (_, Some(max)) if total > max => Some(format!("gave more than its limit of {max} bytes of output")),
                _ => None,
            };
            if let Some(why) = why {
                // The whole group when the command leads one (sslx-execd starts it so): what it
                // started goes too, and lets go of its pipes.
                kill_group(&mut child);
                let notice = format!("\nsslx: the command {why}: it was killed\n");
                if let Err(e) = seal(notice.as_bytes(), FLAG_STDERR, &mut frame) {
                    failed = Some(e);
                    break;
                }
                stopped = Some(why);
            }
        }
        if stopped.is_some() && matches!(chunk, Ok(Chunk::Out(_)) | Ok(Chunk::Err(_))) {
            continue; // what comes after the limit is dropped
        }
        let (data, flags) = match chunk {
            Ok(Chunk::Out(d)) => (d, 0),
            Ok(Chunk::Err(d)) => (d, FLAG_STDERR),
            Ok(Chunk::OutEnded) => {
                out_ended = true;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) if !out_ended => continue,
            Err(RecvTimeoutError::Timeout) => {
                if exited.is_none() {
                    match child.try_wait() {
                        Ok(Some(st)) => exited = Some((st, std::time::Instant::now())),
                        Ok(None) => {}
                        Err(e) => return Err(Error::io("waiting for the --exec command", e)),
                    }
                }
                match exited {
                    Some((_, at)) if at.elapsed() >= STDERR_AFTER_EXIT => break,
                    _ => continue,
                }
            }
        };
        if let Err(e) = seal(&data, flags, &mut frame) {
            failed = Some(e);
            break;
        }
        total += data.len() as u64;
    }
    drop(rx);
    if let Some(e) = failed {
        // The caller is gone: the command and what it started end.
        kill_group(&mut child);
        let _ = child.wait();
        return Err(e);
    }
    let status = match exited {
        Some((st, _)) => st,
        None => child.wait().map_err(|e| Error::io("waiting for the --exec command", e))?,
    };
    seal(&RemoteExit::of(status).encode(), FLAG_FINAL | FLAG_EXIT, &mut frame)?;
    let _ = writer.shutdown(Shutdown::Write);
    Ok((total, status, stopped))
}
