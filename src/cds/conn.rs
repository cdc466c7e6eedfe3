//! What every CDS handler shares (PROTOCOL.md 2): the `Cds` handle, reading a frame within its
//! deadlines, refusing, authenticating a participant by its CDSK, a place among the long-lived
//! streams, and running store work off the async threads. `serve` accepts and dispatches;
//! `relay`, `mailbox` and the request handlers build on this module, never on each other.

use super::limits::{ConnLimits, Full, TallyGuard};
use super::mail::Mailer;
use super::oob::Oob;
use super::refusal::Refusal;
use super::registrar::Registrar;
use crate::crypto::Secret;
use crate::wire::{Frame, Header, RefusalCode, CHALLENGE_LEN, HEADER_LEN};
use ring::rand::SystemRandom;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a peer may take to send one frame once it has begun.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
pub struct CdsConfig {
    pub mail_from: String,
    pub conn: ConnLimits,
    /// `/v1/health` says how many participants are on hook (off: it says only that it is up).
    pub health_detail: bool,
    /// On stop: how long connections under way (relayed calls, deposits) get to finish.
    pub drain: std::time::Duration,
}

pub struct Cds {
    pub registrar: Registrar,
    pub relay: super::switchboard::Relay,
    pub mailer: Mailer,
    pub oob: Oob,
    pub cfg: CdsConfig,
    pub rng: SystemRandom,
    /// The CDS's clock: every time it stamps, checks or records is read here.
    pub clock: Box<dyn crate::clock::Clock>,
}

/// What one connection knows about itself.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The challenge the CDS's hello gave this connection.
    pub challenge: [u8; CHALLENGE_LEN],
}

/// Reads one frame, waiting up to `first` for it to begin (a client busy between frames) and
/// `READ_TIMEOUT` for the rest; `Ok(None)` on a clean EOF between frames. Reads exactly the
/// frame: what follows stays in the socket (a relayed session after a call or an answer).
pub(crate) async fn read_frame_within(sock: &mut TcpStream, first: Duration) -> Result<Option<Frame>, String> {
    let mut hb = [0u8; HEADER_LEN];
    match tokio::time::timeout(first, sock.read(&mut hb[..1])).await {
        Err(_) => return Err("timed out waiting for a frame".into()),
        Ok(Ok(0)) => return Ok(None),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.to_string()),
    }
    let rest = async {
        sock.read_exact(&mut hb[1..]).await?;
        let h = Header::parse(&hb).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut body = vec![0u8; h.len as usize];
        sock.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(Frame { msg_type: h.msg_type, version: h.version, body })
    };
    match tokio::time::timeout(READ_TIMEOUT, rest).await {
        Err(_) => Err("timed out inside a frame".into()),
        Ok(Ok(f)) => Ok(Some(f)),
        Ok(Err(e)) => Err(e.to_string()),
    }
}

/// Sends a refusal, stamped with the CDS's clock, and ends the connection.
pub(crate) async fn refuse(cds: &Cds, sock: &mut TcpStream, code: RefusalCode, reason: String) {
    let _ = sock.write_all(&Refusal::new(code, reason).frame(cds.clock.now())).await;
}

/// A place among the long-lived streams for `participant`, or the refusal to send.
pub(crate) fn stream_place(cds: &Cds, participant: &str) -> Result<TallyGuard<String>, Refusal> {
    let l = &cds.cfg.conn;
    cds.relay.streams.enter(participant.to_owned(), l.streams_per_participant, l.max_streams).map_err(|full| {
        let why = match full {
            Full::Key => format!(
                "{participant:?} has {} calls, deposits and collects open at this CDS already; finish one first",
                l.streams_per_participant
            ),
            Full::Total => "the CDS has too many calls, deposits and collects open; try again shortly".into(),
        };
        Refusal::new(RefusalCode::RateLimited, why)
    })
}

pub(crate) fn malformed(e: crate::wire::WireError) -> Refusal {
    Refusal::new(RefusalCode::Malformed, format!("malformed message: {e}"))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.map_err(Refusal::internal)?
}

/// Finds the sender's CDSK and opens its wrapped body: the sender is authenticated by it.
pub(crate) async fn authenticate(
    cds: &Arc<Cds>,
    sender: &str,
    open: impl FnOnce(&Secret<32>) -> Option<Vec<u8>> + Send + 'static,
) -> Result<(Secret<32>, Vec<u8>), Refusal> {
    let c = cds.clone();
    let name = sender.to_owned();
    let found = blocking(move || c.registrar.store.participant_cdsk(&name).map_err(Refusal::internal)).await?;
    let now = cds.clock.now();
    let (cdsk, expires) = found.ok_or_else(|| {
        Refusal::new(
            RefusalCode::NotEnrolled,
            format!("{sender:?} is not enrolled at this CDS: no confirmed CDS key (run sslx vsu)"),
        )
    })?;
    if expires <= now {
        return Err(Refusal::new(RefusalCode::Expired, format!("the CDS key of {sender:?} has expired; enroll again")));
    }
    let body = open(&cdsk).ok_or_else(|| {
        Refusal::new(
            RefusalCode::BadSignature,
            format!("the message does not verify under the CDS key of {sender:?} (wrong or replaced key)"),
        )
    })?;
    Ok((cdsk, body))
}
