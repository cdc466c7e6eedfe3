//! The gateway's side of a command (seed 003 boxes 1511-1523): connect to the host's
//! `sslx-execd`, check that it names itself as the host asked for, run the handshake with the
//! service ticket, send the command, read the decision, then pass stdin and take the outputs.

use super::msgs::{ExecCommand, ExecDecision};
use crate::kdc::client::ServiceGrant;
use crate::session::handshake::ClientParams;
use crate::session::io::{client_handshake, pump_command, Conn};
use crate::session::msgs::{KeyRef, ListenerHello, RemoteExit, Suite};
use crate::session::record::Received;
use crate::wire::Msg;
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::io::{Read, Write};

/// A command the host accepted, about to run: what is left is its input and outputs.
pub struct Started {
    session: crate::session::Session,
    conn: Conn,
    /// The local user it runs as.
    pub local_user: String,
}

/// Connects to the host at `addr` (which must call itself `grant.host`), proves the ticket,
/// sends `cmd` and reads the host's decision. A command the host's ACL refuses is an error
/// (refusal 18, its reason).
pub fn start(
    addr: &str,
    grant: &ServiceGrant,
    user: &str,
    cmd: &ExecCommand,
    rng: &dyn SecureRandom,
) -> Result<Started> {
    let host = &grant.host;
    let stream = crate::net::connect(addr, &format!("the host {host} at {addr}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).ok();
    let mut conn = Conn::new(stream)?;
    let f = conn.reader.next_frame(ListenerHello::NAME)?;
    if f.msg_type == crate::wire::TYPE_REFUSED {
        let r = crate::wire::Refused::from_frame(&f)?;
        return Err(Error::PeerRefused { peer: host.clone(), code: r.code, reason: r.reason });
    }
    let hello = ListenerHello::from_frame(&f)?;
    if &hello.name != host {
        return Err(Error::VerifyFailed(format!("{addr} is {:?}, not the host {host:?}", hello.name)));
    }
    let params = ClientParams {
        name: user.to_owned(),
        key_ref: KeyRef::ServiceTicket { kvno: grant.kvno, ticket: grant.ticket.clone() },
        psk: grant.key.clone(),
        forward_secrecy: true,
        suites: vec![Suite::Aes256Gcm as u8, Suite::ChaCha20Poly1305 as u8],
        expect_server: Some(host.clone()),
    };
    let mut session = client_handshake(&mut conn, params, rng)?;
    let record = session.sender.seal(&cmd.encode()?, false)?;
    conn.writer.write_all(&record).map_err(|e| Error::io("sending the command", e))?;
    let (h, body) =
        conn.reader.next_record()?.ok_or_else(|| Error::Unavailable(format!("{host} hung up before its decision")))?;
    let decision = match session.receiver.open(&h, body)? {
        Received::Data { data, .. } => ExecDecision::decode(data)?,
        Received::Finished => return Err(Error::Other("a second finished record".into())),
    };
    if !decision.allowed {
        return Err(Error::Refused {
            code: crate::wire::RefusalCode::NotAllowed as u16,
            reason: format!("denied by the ACL of {host}: {}", decision.reason),
        });
    }
    conn.reader_timeout(None);
    Ok(Started { session, conn, local_user: decision.local_user })
}

/// Runs a started command to its end: `stdin` is its input, its stdout and stderr go to
/// `stdout` and `stderr` as they come; returns how it ended.
pub fn finish(
    started: Started,
    stdin: impl Read + Send + 'static,
    stdout: impl Write,
    stderr: &mut dyn Write,
) -> Result<Option<RemoteExit>> {
    Ok(pump_command(started.session, started.conn, stdin, stdout, stderr)?.1)
}

impl Started {
    /// The connection to the host, to cut it from elsewhere (the caller gone: the host then
    /// stops the command).
    pub fn socket(&self) -> std::io::Result<std::net::TcpStream> {
        self.conn.writer.try_clone()
    }
}

/// [`start`] then [`finish`]: the local user it ran as, and how it ended.
#[allow(clippy::too_many_arguments)]
pub fn exec(
    addr: &str,
    grant: &ServiceGrant,
    user: &str,
    cmd: &ExecCommand,
    stdin: impl Read + Send + 'static,
    stdout: impl Write,
    stderr: &mut dyn Write,
    rng: &dyn SecureRandom,
) -> Result<(String, Option<RemoteExit>)> {
    let started = start(addr, grant, user, cmd, rng)?;
    let user = started.local_user.clone();
    Ok((user, finish(started, stdin, stdout, stderr)?))
}
