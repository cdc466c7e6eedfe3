//! The host's side (`sslx-execd`, seed 003 boxes 1512-1522): one connection from a gateway. The
//! listener hello names the host; the seed-002 handshake runs with the KDC service ticket as
//! its key reference (the pre-shared key is the server session key inside: the ticket proves the
//! user, the handshake's finished values are the seed's authenticators #3 and #4, fresh on every
//! connection); the first record is the command, checked against the ACL; the answer's first
//! record is the decision; then the command runs, its stdin, stdout, stderr and exit status in
//! the session's records.

use super::acl::{Acl, Decision};
use super::audit::{Audit, AuditRecord, Event};
use super::msgs::{ExecCommand, ExecDecision};
use crate::clock::Clock;
use crate::kdc::keytab::KeyTable;
use crate::kdc::TicketBody;
use crate::session::io::{server_handshake, Conn};
use crate::session::msgs::{KeyRef, ListenerHello, Suite};
use crate::session::record::Received;
use crate::session::Session;
use crate::wire::{Msg, RefusalCode};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::net::TcpStream;
use std::time::Duration;

/// How long a gateway has, from the hello, to finish the handshake and send its command.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);

/// What one `sslx-execd` serves with.
pub struct Host {
    pub keytab: KeyTable,
    pub acl: Acl,
    pub clock: std::sync::Arc<dyn Clock>,
    /// How long a command may run and how much output it may give.
    pub limits: crate::session::exec::CommandLimits,
    /// Where each command's records go.
    pub audit: Audit,
    /// Refuse a command whose "started" record the chained file did not take.
    pub audit_required: bool,
}

/// The first data record of the session.
fn first_record(conn: &mut Conn, s: &mut Session) -> Result<Vec<u8>> {
    let (h, body) = conn
        .reader
        .next_record()?
        .ok_or_else(|| Error::Unavailable("the gateway hung up before its command".into()))?;
    match s.receiver.open(&h, body)? {
        Received::Data { data, .. } => Ok(data.to_vec()),
        Received::Finished => Err(Error::Other("a second finished record".into())),
    }
}

/// A local user's ids and home, from the system's user database.
pub fn local_user(name: &str) -> Option<(u32, u32, std::path::PathBuf)> {
    let c = std::ffi::CString::new(name).ok()?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into `pw` and `buf`, which outlive the call; `out` points to `pw`
    // or is null.
    let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string in `buf`.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) }.to_string_lossy().into_owned();
    Some((pw.pw_uid, pw.pw_gid, dir.into()))
}

/// The command as it runs: as `user` (its ids set when this process is root; otherwise `user`
/// must be the one it runs as), in its home, with a clean environment.
fn command(
    user: &str,
    principal: &str,
    client: &str,
    argv: &[String],
) -> std::result::Result<std::process::Command, String> {
    use std::os::unix::process::CommandExt;
    let (uid, gid, home) = local_user(user).ok_or_else(|| format!("there is no local user {user:?} on this host"))?;
    if !std::path::Path::new(&argv[0]).is_file() {
        return Err(format!("there is no program {} on this host", argv[0]));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut c = std::process::Command::new(&argv[0]);
    // A group of its own: a limit kills all it started.
    c.args(&argv[1..]).env_clear().process_group(0);
    if me == 0 {
        // std drops the supplementary groups when it sets the uid as root.
        c.uid(uid).gid(gid);
    } else if me != uid {
        return Err(format!(
            "sslx-execd does not run as root here: it runs commands only as its own user, not as {user}"
        ));
    }
    c.env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("USER", user)
        .env("LOGNAME", user)
        .env("SSLX_PRINCIPAL", principal)
        .env("SSLX_CLIENT", client)
        .current_dir(if home.is_dir() { home } else { "/".into() });
    Ok(c)
}

/// Serves one gateway connection to its end: the command's last audit record, or why the
/// connection ended before a command (`peer` is its address, for the trail).
/// `admitted` is told when the gateway is authenticated (it stops counting against its source).
pub fn serve(
    host: &Host,
    stream: TcpStream,
    peer: &str,
    admitted: &mut crate::session::admission::Admitted,
    rng: &dyn SecureRandom,
) -> Result<AuditRecord> {
    let name = host.keytab.principal.clone();
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let watchdog = crate::net::Watchdog::arm(&stream, HANDSHAKE_DEADLINE);
    let mut conn = Conn::new(stream)?;
    conn.send(&ListenerHello { name: name.clone() }.to_frame()?)?;
    let now = host.clock.now();
    let mut ticket: Option<TicketBody> = None;
    let suites = [Suite::Aes256Gcm as u8, Suite::ChaCha20Poly1305 as u8];
    let handshake = server_handshake(
        &mut conn,
        &name,
        &suites,
        true,
        |m1| {
            let KeyRef::ServiceTicket { kvno, ticket: t } = &m1.key_ref else {
                return Err((
                    RefusalCode::BadRequest,
                    format!("{name} is a host of remote execution: it takes KDC service tickets only"),
                ));
            };
            let key = host.keytab.key(*kvno, now).ok_or_else(|| {
                (
                    RefusalCode::BadSignature,
                    format!("{name} has no key of version {kvno} (its key table is older or newer than the KDC's)"),
                )
            })?;
            let body = crate::kdc::tickets::open_service_ticket(key, &name, *kvno, t).ok_or_else(|| {
                (RefusalCode::BadSignature, format!("the ticket does not open under the key of {name}"))
            })?;
            if body.user != m1.client_name {
                return Err((RefusalCode::BadSignature, "the ticket was issued to another user".to_owned()));
            }
            if body.expires <= now {
                return Err((
                    RefusalCode::Expired,
                    format!("the ticket expired at {}", crate::clock::fmt_time(body.expires)),
                ));
            }
            let k = body.key.clone();
            ticket = Some(body);
            Ok(k)
        },
        |_| Ok(()),
        rng,
    );
    let mut session = match handshake {
        Ok(s) => s,
        Err(e) => {
            watchdog.disarm();
            return Err(e);
        }
    };
    let ticket = ticket.expect("resolved before the handshake finished");
    admitted.handshake_done();
    let plain = first_record(&mut conn, &mut session);
    if watchdog.disarm() {
        return Err(Error::Unavailable(format!(
            "the gateway did not send its command within {} s",
            HANDSHAKE_DEADLINE.as_secs()
        )));
    }
    conn.reader_timeout(None);
    let plain = plain?;
    let mut rec = AuditRecord {
        seq: None,
        time: crate::clock::fmt_time(host.clock.now()),
        host: name,
        event: Event::Denied,
        principal: ticket.user.clone(),
        from: ticket.client.clone(),
        gateway: peer.to_owned(),
        argv: Vec::new(),
        argv_cut: None,
        as_user: None,
        local_user: None,
        reason: None,
        exit: None,
        signal: None,
        stopped: None,
        bytes_out: None,
        error: None,
        prev: None,
        hash: None,
    };
    let cmd = match ExecCommand::decode(&plain) {
        Ok(c) => c,
        Err(e) => {
            // An authenticated principal's: in the trail too.
            rec.reason = Some(format!("the command record does not parse: {e}"));
            host.audit.record(rec);
            return Err(e.into());
        }
    };
    (rec.argv, rec.argv_cut) = super::audit::recorded_argv(&cmd.argv, &plain);
    rec.as_user = (!cmd.as_user.is_empty()).then(|| cmd.as_user.clone());
    let decided = match host.acl.decide(&ticket.user, &cmd) {
        Decision::Allowed(user) => command(&user, &ticket.user, &ticket.client, &cmd.argv).map(|c| (user, c)),
        Decision::Denied(why) => Err(why),
    };
    // The record first: nothing runs that the trail has not been given.
    let decision = match &decided {
        Ok((user, _)) => {
            rec.event = Event::Started;
            rec.local_user = Some(user.clone());
            ExecDecision { allowed: true, local_user: user.clone(), reason: String::new() }
        }
        Err(why) => {
            rec.reason = Some(why.clone());
            ExecDecision { allowed: false, local_user: String::new(), reason: why.clone() }
        }
    };
    let (mut decision, mut decided) = (decision, decided);
    if !host.audit.record(rec.clone()) && decided.is_ok() && host.audit_required {
        // --audit-required: what the trail could not be given does not run.
        let why = "this host cannot write its audit trail (--audit-required): the command was not run".to_owned();
        rec.event = Event::Denied;
        rec.local_user = None;
        rec.reason = Some(why.clone());
        decision = ExecDecision { allowed: false, local_user: String::new(), reason: why.clone() };
        decided = Err(why);
    }
    let record = session.sender.seal(&decision.encode()?, !decision.allowed)?;
    if let Err(e) = std::io::Write::write_all(&mut conn.writer, &record) {
        if decided.is_ok() {
            rec.event = Event::Finished;
            rec.error = Some(format!("the gateway went away before the command started: {e}"));
            host.audit.record(rec.clone());
        }
        return Err(Error::io("answering the gateway", e));
    }
    let Ok((_, command)) = decided else {
        return Ok(rec);
    };
    let ran = crate::session::exec::run_command(session, conn, command, &cmd.argv[0], host.limits);
    rec.event = Event::Finished;
    rec.time = crate::clock::fmt_time(host.clock.now());
    match ran {
        Ok(r) => {
            use std::os::unix::process::ExitStatusExt;
            rec.exit = r.status.code();
            rec.signal = r.status.signal();
            rec.stopped = r.stopped;
            rec.bytes_out = Some(r.transfer.sent);
        }
        Err(e) => rec.error = Some(e.to_string()),
    }
    host.audit.record(rec.clone());
    Ok(rec)
}

/// The connection inetd (or a systemd socket with `Accept=yes`) hands over on stdin, and the
/// peer's address ("-" over a Unix socket). Standard input and output, and standard error when
/// it is the same socket (inetd sets all three so), are pointed at /dev/null: nothing printed can
/// reach the connection but its records.
pub fn inetd_stream() -> Result<(TcpStream, String)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let not_socket = || {
        Error::Usage(
            "--inetd serves the connection on stdin, and stdin is not a stream socket (run it from inetd, or \
             from a systemd socket unit with Accept=yes: contrib/sslx-execd.socket)"
                .into(),
        )
    };
    let stat = |fd: i32| {
        // SAFETY: fstat writes into `st`, which outlives the call.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
    };
    let st = stat(0).ok_or_else(not_socket)?;
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `kind`.
    let rc = unsafe {
        libc::getsockopt(0, libc::SOL_SOCKET, libc::SO_TYPE, (&mut kind as *mut libc::c_int).cast(), &mut len)
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK || rc != 0 || kind != libc::SOCK_STREAM {
        return Err(not_socket());
    }
    // SAFETY: fcntl duplicates fd 0, open (checked above); the new descriptor is ours alone.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(Error::io("taking the connection from stdin", std::io::Error::last_os_error()));
    }
    // A socket of any family carries the session: the calls made on it (read, write, shutdown,
    // timeouts, dup) are the same for TCP and Unix stream sockets; TCP's own options fail
    // harmlessly on a Unix socket and are not relied on.
    // SAFETY: `fd` is an open socket owned by nothing else.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("opening /dev/null", e))?;
    let err_is_socket = stat(2).is_some_and(|e| e.st_dev == st.st_dev && e.st_ino == st.st_ino);
    for target in [0, 1].into_iter().chain(err_is_socket.then_some(2)) {
        // SAFETY: dup2 onto a standard descriptor from one we hold open.
        unsafe { libc::dup2(null.as_raw_fd(), target) };
    }
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "-".into());
    Ok((stream, peer))
}
