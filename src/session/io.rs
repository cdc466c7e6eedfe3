//! The handshake and the data pump over a blocking stream (a TCP socket): one thread sends
//! (input → records), the caller's thread receives (records → output). Each direction ends with
//! its own final record, so half-close works and a cut-off stream is an error.

use super::error::SessionError;
use super::handshake::{client_start, server_accept, ClientParams, ServerParams, Session};
use super::msgs::{KeyRef, RemoteExit, M1};
use super::record::{Received, RecordReceiver, RecordSender, Stream, MAX_RECORD_PLAINTEXT, RECORD_PREFIX, RECORD_TAG};
use crate::crypto::Secret;
use crate::wire::{Frame, Header, Msg, RefusalCode};
use crate::wire::{Refused, TYPE_REFUSED};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads frames from a stream into one reused buffer.
pub struct FrameReader<R: Read> {
    inner: BufReader<R>,
    body: Vec<u8>,
}

fn cut_off(what: &'static str) -> Error {
    SessionError::CutOff(what).into()
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        // A small buffer: headers come through it, while most of each 64 KiB body is read
        // straight into `body` (BufReader bypasses its buffer for reads larger than it).
        FrameReader { inner: BufReader::with_capacity(8 * 1024, inner), body: Vec::with_capacity(64 * 1024) }
    }

    /// The next frame, or `None` at EOF on a frame boundary.
    pub fn next_record(&mut self) -> Result<Option<(Header, &mut [u8])>> {
        match crate::wire::read_frame_into(&mut self.inner, &mut self.body) {
            Ok(Some(h)) => Ok(Some((h, &mut self.body[..]))),
            Ok(None) => Ok(None),
            Err(e) => Err(frame_err(e)),
        }
    }

    /// The body of the frame `next_record` returned last (as the caller left it: opened in place).
    pub fn last_body(&self) -> &[u8] {
        &self.body
    }

    /// The next frame as an owned `Frame` (handshake messages); EOF is an error here.
    pub fn next_frame(&mut self, expecting: &str) -> Result<Frame> {
        match self.next_record()? {
            Some((h, body)) => Ok(Frame { msg_type: h.msg_type, version: h.version, body: body.to_vec() }),
            None => Err(Error::Unavailable(format!("the peer closed the connection before sending {expecting}"))),
        }
    }
}

/// What the frame reader's error means here: a cut-off stream, a header that does not parse, or
/// the connection's own failure.
fn frame_err(e: std::io::Error) -> Error {
    let wire = e.get_ref().and_then(|i| i.downcast_ref::<crate::wire::WireError>()).cloned();
    match (e.kind(), wire) {
        (std::io::ErrorKind::UnexpectedEof, Some(crate::wire::WireError::MissingData("frame header"))) => {
            cut_off("inside a frame header")
        }
        (std::io::ErrorKind::UnexpectedEof, _) => cut_off("inside a record"),
        (std::io::ErrorKind::InvalidData, Some(w)) => Error::Wire(w),
        _ => io_err(e),
    }
}

fn io_err(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            Error::Unavailable(format!("the peer stopped answering: {e}"))
        }
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => SessionError::ConnectionCut(e).into(),
        _ => Error::io("session I/O", e),
    }
}

/// A connection: frames in through a buffered reader, out through the socket.
pub struct Conn {
    pub reader: FrameReader<TcpStream>,
    pub writer: TcpStream,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Result<Self> {
        stream.set_nodelay(true).ok();
        let writer = stream.try_clone().map_err(|e| Error::io("cloning the socket", e))?;
        Ok(Conn { reader: FrameReader::new(stream), writer })
    }

    /// The read timeout for what follows (none once the session carries data at its own pace).
    pub fn reader_timeout(&mut self, t: Option<std::time::Duration>) {
        let _ = self.reader.inner.get_ref().set_read_timeout(t);
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer.write_all(bytes).map_err(io_err)
    }

    /// A frame that must be `M`, or the peer's refusal as an error.
    pub fn expect<M: Msg>(&mut self) -> Result<(M, Frame)> {
        let f = self.reader.next_frame(M::NAME)?;
        if f.msg_type == TYPE_REFUSED {
            return Err(crate::error::refusal_error(Refused::from_frame(&f)?));
        }
        Ok((M::from_frame(&f)?, f))
    }

    pub fn refuse(&mut self, code: RefusalCode, reason: &str) {
        let r = Refused { code: code as u16, server_time: crate::clock::now_unix(), reason: reason.to_owned() };
        let _ = self.send(&r.frame());
    }
}

/// Reads the peer's finished record (M3 or M4) and checks it.
fn expect_finished(conn: &mut Conn, s: &mut Session) -> Result<()> {
    let (h, body) = conn.reader.next_record()?.ok_or_else(|| cut_off("before the peer's finished record"))?;
    if h.msg_type == TYPE_REFUSED {
        let f = Frame { msg_type: h.msg_type, version: h.version, body: body.to_vec() };
        return Err(crate::error::refusal_error(Refused::from_frame(&f)?));
    }
    match s.receiver.open(&h, body)? {
        Received::Finished => Ok(()),
        Received::Data { .. } => unreachable!("the first record is always the finished value"),
    }
}

/// Client side: M1 → M2 → M3, then the server's M4 is checked before this returns.
pub fn client_handshake(conn: &mut Conn, p: ClientParams, rng: &dyn SecureRandom) -> Result<Session> {
    let peer = p.expect_server.clone().unwrap_or_else(|| "the listener".into());
    let (state, m1) = client_start(p, rng)?;
    conn.send(&m1)?;
    let f = conn.reader.next_frame("M2")?;
    if f.msg_type == TYPE_REFUSED {
        // The listener refused (not the CDS): its code, its reason.
        let r = Refused::from_frame(&f)?;
        return Err(Error::PeerRefused { peer, code: r.code, reason: r.reason });
    }
    let (mut s, m3) = state.on_m2(&f)?;
    conn.send(&m3)?;
    expect_finished(conn, &mut s)?;
    Ok(s)
}

/// Server side: M1 → (resolve the pre-shared key) → M2 + M4, then the client's M3 is checked.
/// A failure to resolve is sent to the client as a refusal with its reason. `keys_ready` runs
/// before M2 leaves (the resumption cache entry must exist before the client can use it; it is
/// useless to anyone who cannot finish the handshake).
#[allow(clippy::too_many_arguments)]
pub fn server_handshake(
    conn: &mut Conn,
    name: &str,
    suites: &[u8],
    forward_secrecy: bool,
    resolve: impl FnOnce(&M1) -> std::result::Result<Secret<32>, (RefusalCode, String)>,
    keys_ready: impl FnOnce(&Session) -> Result<()>,
    rng: &dyn SecureRandom,
) -> Result<Session> {
    let (m1, f) = conn.expect::<M1>()?;
    let psk = match resolve(&m1) {
        Ok(k) => k,
        Err((code, reason)) => {
            conn.refuse(code, &reason);
            return Err(Error::Refused { code: code as u16, reason });
        }
    };
    let accepted = server_accept(
        &m1,
        &f.to_bytes(),
        ServerParams { name: name.to_owned(), psk, suites: suites.to_vec(), forward_secrecy },
        rng,
    );
    let (mut s, m2, m4) = match accepted {
        Ok(x) => x,
        Err(Error::Refused { code, reason }) => {
            conn.refuse(RefusalCode::from_u16(code).unwrap_or(RefusalCode::BadRequest), &reason);
            return Err(Error::Refused { code, reason });
        }
        Err(e) => return Err(e),
    };
    keys_ready(&s)?;
    let mut both = m2;
    both.extend_from_slice(&m4);
    conn.send(&both)?;
    expect_finished(conn, &mut s)?;
    Ok(s)
}

/// Bytes each way, once both directions have ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    pub sent: u64,
    pub received: u64,
}

/// Sends `input` as records until its EOF, then the final record, then (`half_close`)
/// half-closes the socket. The input is read straight into the frame buffer and sealed in place;
/// `sent` counts the bytes as they go.
fn send_all(
    mut sender: RecordSender,
    mut writer: TcpStream,
    mut input: impl Read,
    sent: &AtomicU64,
    half_close: bool,
) -> Result<u64> {
    let mut frame = vec![0u8; RECORD_PREFIX + MAX_RECORD_PLAINTEXT + RECORD_TAG];
    loop {
        let n = match input.read(&mut frame[RECORD_PREFIX..RECORD_PREFIX + MAX_RECORD_PLAINTEXT]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the input", e)),
        };
        let len = sender.seal_prepared(&mut frame, n, n == 0)?;
        writer.write_all(&frame[..len]).map_err(io_err)?;
        sent.fetch_add(n as u64, Ordering::Relaxed);
        if n == 0 {
            if half_close {
                let _ = writer.shutdown(Shutdown::Write);
            }
            return Ok(sent.load(Ordering::Relaxed));
        }
    }
}

/// Runs both directions of an established session until each has sent its final record.
/// `output` gets the peer's data and is closed (dropped) when the peer's final record arrives,
/// so a command reading it sees EOF while its own output still flows back.
pub fn pump(session: Session, conn: Conn, input: impl Read + Send + 'static, output: impl Write) -> Result<Transfer> {
    let count = AtomicU64::new(0);
    let send = move |sender, writer| send_all(sender, writer, input, &count, true);
    let (sent, (received, _)) = run_both(session, conn, send, output, None, Peer::Plain, None)?;
    Ok(Transfer { sent, received })
}

/// A caller's `pump` (`sslx dial`): a listener running `--exec` also sends its command's
/// stderr, which goes to `errors`, and how the command ended, returned with the transfer
/// (`None` from a listener without a command). Once the command has ended, the rest of `input`
/// is of no use to anyone: the call ends without waiting for its EOF (a terminal's Ctrl-D).
pub fn pump_call(
    session: Session,
    conn: Conn,
    input: impl Read + Send + 'static,
    output: impl Write,
    errors: &mut dyn Write,
) -> Result<(Transfer, Option<RemoteExit>)> {
    pump_caller(session, conn, input, output, errors, true)
}

/// [`pump_call`] for a gateway's command on `sslx-execd` (PROTOCOL.md 5H): after its final
/// record its write side stays open until the command has ended, since the host takes the
/// connection's end before then as the caller gone (and stops the command).
pub fn pump_command(
    session: Session,
    conn: Conn,
    input: impl Read + Send + 'static,
    output: impl Write,
    errors: &mut dyn Write,
) -> Result<(Transfer, Option<RemoteExit>)> {
    pump_caller(session, conn, input, output, errors, false)
}

fn pump_caller(
    session: Session,
    conn: Conn,
    input: impl Read + Send + 'static,
    output: impl Write,
    errors: &mut dyn Write,
    half_close: bool,
) -> Result<(Transfer, Option<RemoteExit>)> {
    let Session { sender, mut receiver, .. } = session;
    let Conn { mut reader, writer } = conn;
    receiver.take_command_output();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let sending = std::thread::spawn(move || send_all(sender, writer, input, &counter, half_close));
    let mut received = 0;
    match receive_all(&mut reader, &mut receiver, output, Some(errors), false, &mut received) {
        Err(e) => {
            let _ = reader.inner.get_ref().shutdown(Shutdown::Both);
            let _ = sending.join();
            Err(e)
        }
        Ok(Some(exit)) => {
            // The sending thread may sit in a read of `input` for long: it is left to end on
            // its own (its next write fails), and is not waited for; whatever it meets after
            // the command's end (a listener that hung up) is no failure of the call.
            let _ = reader.inner.get_ref().shutdown(Shutdown::Write);
            drop(sending);
            Ok((Transfer { sent: sent.load(Ordering::Relaxed), received }, Some(exit)))
        }
        Ok(None) => {
            let sent = sending.join().map_err(|_| Error::Other("the sending thread panicked".into()))??;
            Ok((Transfer { sent, received }, None))
        }
    }
}

/// Who is on the other end of [`run_both`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    /// Its data goes to `output` until its final record.
    Plain,
    /// A caller feeding this listener's command (`output` is the command's stdin): a command
    /// that stops reading is no failure (the rest is read and dropped), and once `send` has
    /// sent how the command ended, the caller may hang up without its final record; a caller
    /// that does not within [`AFTER_EXIT`] is cut off.
    CallerOfCommand,
}

/// How long a listener waits for its caller to end once its command has ended.
pub(super) const AFTER_EXIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Both directions: `send` on a thread of its own with the sending half, the receiving half on
/// this thread into `output` (and `errors`, when the peer may send a command's stderr).
/// What tells a command's side that its caller went away.
pub(super) struct CallerWatch {
    /// Set when the caller is gone: cut off before its final record, or (`end_is_gone`) its
    /// connection's end after it.
    pub gone: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The caller keeps its side open until the command's end (5H): its end before then means
    /// it went away.
    pub end_is_gone: bool,
}

pub(super) fn run_both<T: Send + 'static>(
    session: Session,
    conn: Conn,
    send: impl FnOnce(RecordSender, TcpStream) -> Result<T> + Send + 'static,
    output: impl Write,
    errors: Option<&mut dyn Write>,
    peer: Peer,
    watch: Option<CallerWatch>,
) -> Result<(T, (u64, Option<RemoteExit>))> {
    let Session { sender, mut receiver, .. } = session;
    let Conn { mut reader, writer } = conn;
    if errors.is_some() {
        receiver.take_command_output();
    }
    let command = peer == Peer::CallerOfCommand;
    let sent_all = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (receiving_done, received_all) = std::sync::mpsc::channel::<()>();
    let (done, socket) = (sent_all.clone(), reader.inner.get_ref().try_clone());
    let sending = std::thread::spawn(move || {
        let r = send(sender, writer);
        if command && r.is_ok() {
            done.store(true, Ordering::SeqCst);
            // The caller hangs up once it has the exit status; one that does not is cut off.
            if let (Err(std::sync::mpsc::RecvTimeoutError::Timeout), Ok(s)) =
                (received_all.recv_timeout(AFTER_EXIT), socket.as_ref())
            {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        r
    });
    let mut received = 0;
    let recv_result = receive_all(&mut reader, &mut receiver, output, errors, command, &mut received);
    drop(receiving_done);
    if let (Ok(_), Some(CallerWatch { gone, end_is_gone: true })) = (&recv_result, &watch) {
        // The caller's input is complete; a caller that hangs up before the command has ended
        // is seen here (its socket's end, or anything more from it), not at the command's next
        // output, which may never come.
        if let Ok(mut s) = reader.inner.get_ref().try_clone() {
            let (gone, done) = (gone.clone(), sent_all.clone());
            std::thread::spawn(move || {
                let _ = std::io::Read::read(&mut s, &mut [0u8; 1]);
                if !done.load(Ordering::SeqCst) {
                    gone.store(true, Ordering::SeqCst);
                }
            });
        }
    }
    let exit = match recv_result {
        Ok(exit) => exit,
        // The command ended and said so: a caller gone without its final record is done. The
        // caller may have hung up the moment it had the exit status, before this side's sending
        // thread noted it had sent it: that thread says so once it ends.
        Err(_) if command && sent_all.load(Ordering::SeqCst) => None,
        Err(e) if command => {
            if let Some(w) = &watch {
                w.gone.store(true, Ordering::SeqCst);
            }
            let sent = sending.join().map_err(|_| Error::Other("the sending thread panicked".into()))?;
            return match sent {
                Ok(sent) if sent_all.load(Ordering::SeqCst) => Ok((sent, (received, None))),
                _ => {
                    let _ = reader.inner.get_ref().shutdown(Shutdown::Both);
                    Err(e)
                }
            };
        }
        Err(e) => {
            // The other direction cannot complete meaningfully: stop it.
            let _ = reader.inner.get_ref().shutdown(Shutdown::Both);
            let _ = sending.join();
            return Err(e);
        }
    };
    let sent = sending.join().map_err(|_| Error::Other("the sending thread panicked".into()))??;
    Ok((sent, (received, exit)))
}

fn output_err(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::OutputClosed
    } else {
        Error::io("writing the output", e)
    }
}

/// Receives records into `output` (a command's stderr into `errors`) until the peer's final
/// record, then closes `output`; `received` counts the bytes. Returns, if the final record said
/// so, how the peer's command ended. `may_close`: an `output` that goes away (a command that
/// stopped reading) is no failure, and the rest is read and dropped.
fn receive_all(
    reader: &mut FrameReader<TcpStream>,
    receiver: &mut RecordReceiver,
    output: impl Write,
    mut errors: Option<&mut dyn Write>,
    may_close: bool,
    received: &mut u64,
) -> Result<Option<RemoteExit>> {
    fn put<W: Write>(output: &mut Option<W>, data: &[u8], flush: bool, may_close: bool) -> Result<()> {
        let Some(o) = output.as_mut() else { return Ok(()) };
        let r = o.write_all(data).and_then(|()| if flush { o.flush() } else { Ok(()) }).map_err(output_err);
        match r {
            Err(Error::OutputClosed) if may_close => {
                *output = None;
                Ok(())
            }
            r => r,
        }
    }
    let mut output = Some(output);
    let write = |output: &mut Option<_>, data: &[u8], flush: bool| put(output, data, flush, may_close);
    loop {
        let (h, body) = reader.next_record()?.ok_or_else(|| cut_off("before the peer's final record"))?;
        match receiver.open(&h, body)? {
            Received::Finished => return Err(SessionError::SecondFinished.into()),
            Received::Data { data, stream: Stream::Err, .. } => {
                *received += data.len() as u64;
                if let Some(e) = errors.as_mut() {
                    // A caller's own stderr gone is no reason to stop the stream.
                    let _ = e.write_all(data).and_then(|()| e.flush());
                }
            }
            Received::Data { data, stream: Stream::Exit, .. } => {
                let exit = RemoteExit::decode(data).map_err(|_| SessionError::BadExitStatus)?;
                write(&mut output, &[], true)?;
                return Ok(Some(exit));
            }
            Received::Data { data, last, stream: Stream::Out } => {
                *received += data.len() as u64;
                write(&mut output, data, last)?;
                if last {
                    return Ok(None);
                }
            }
        }
    }
}

/// The key reference and pre-shared key a client uses: a cached session with the peer
/// (resumption), else a fresh ticket.
pub enum ClientKey {
    Resume { key_id: [u8; 16], mk: Secret<32> },
    Ticket { ticket: Vec<u8>, dsmk: Secret<32> },
}

impl ClientKey {
    pub fn split(self) -> (KeyRef, Secret<32>) {
        match self {
            ClientKey::Resume { key_id, mk } => (KeyRef::KeyId(key_id), mk),
            ClientKey::Ticket { ticket, dsmk } => (KeyRef::Ticket(ticket), dsmk),
        }
    }
}
