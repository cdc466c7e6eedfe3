//! One bundle for several recipients (PROTOCOL.md 5D.2 "Several recipients"): one pass over
//! the data (packed, compressed and sealed once, under one SKey), and for each recipient its
//! own A1 (its own Challenge A), its own A2 (SKey offset under its pair key's direction key)
//! and its own trailer (FileProof under that same key, so no recipient can pass altered
//! records to another as the sender's). Live to those listening, through the mailbox for the
//! rest; one log line per recipient.

use super::bundle::Sealed;
use super::log::{bundle_id, Outcome as LogOutcome, Via};
use super::mailbox::{BundleId, Delivered};
use super::msgs::{Mode, Receipt};
use super::proofs::{direction_key, Challenges, ProofKey, Resume, OFFLINE_CHALLENGE_B};
use super::transfer::{self, Channel, SendSpec, Sent};
use crate::crypto::{self, Secret};
use crate::session::endpoint::{Endpoint, Options};
use crate::wire::RefusalCode;
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

/// One recipient: its name and the pair key shared with it.
pub struct Recipient {
    pub name: String,
    pub ltk: Secret<32>,
}

/// What the pass writes to each live recipient's connection, in order.
enum Piece {
    Records(Arc<Vec<u8>>),
    Trailer(Vec<u8>),
}

/// A recipient whose handshake is done: the bundle goes down `ch` next.
struct Live {
    idx: usize,
    ch: Channel,
    key: ProofKey,
    challenge_a: [u8; 32],
    line: Option<i64>,
    tx: Option<SyncSender<Piece>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<u64>>>,
}

/// Writes the records once: to every live connection (each fed by its own thread, so the
/// slowest sets the pace and a dead one drops out) and to a temp file for the mailbox.
struct FanOut<'a> {
    buf: Vec<u8>,
    live: &'a mut [Live],
    file: Option<std::io::BufWriter<std::fs::File>>,
}

const PIECE: usize = 256 * 1024;

impl FanOut<'_> {
    fn ship(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Arc::new(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        for l in self.live.iter_mut() {
            if let Some(tx) = &l.tx {
                if tx.send(Piece::Records(piece.clone())).is_err() {
                    l.tx = None; // its connection failed: the thread says why at the end
                }
            }
        }
        if let Some(f) = &mut self.file {
            f.write_all(&piece)?;
        }
        if self.file.is_none() && self.live.iter().all(|l| l.tx.is_none()) {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "every recipient's connection failed"));
        }
        Ok(())
    }
}

impl Write for FanOut<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE {
            self.ship()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.ship()
    }
}

/// An offline bundle made of its head (A1 ‖ A2), the shared records (a region of a file) and
/// its trailer, read as one file for the deposit.
struct Spliced<'a> {
    head: Vec<u8>,
    records: &'a mut std::fs::File,
    records_len: u64,
    trailer: Vec<u8>,
    pos: u64,
}

impl Spliced<'_> {
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.records_len + self.trailer.len() as u64
    }
}

impl Read for Spliced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (h, r) = (self.head.len() as u64, self.records_len);
        let n = if self.pos < h {
            let from = &self.head[self.pos as usize..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        } else if self.pos < h + r {
            self.records.seek(SeekFrom::Start(self.pos - h))?;
            let want = ((h + r - self.pos) as usize).min(buf.len());
            self.records.read(&mut buf[..want])?
        } else {
            let at = (self.pos - h - r) as usize;
            let from = &self.trailer[at.min(self.trailer.len())..];
            let n = from.len().min(buf.len());
            buf[..n].copy_from_slice(&from[..n]);
            n
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Spliced<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.len() as i64;
        let p = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::End(d) => len + d,
            SeekFrom::Current(d) => self.pos as i64 + d,
        };
        if p < 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

/// Sends `plan` to every recipient in one pass: live to those whose `sslx recv` answers, to the
/// mailbox for those not listening or busy (when `mailbox`); `on_fallback(peer, reason)` hears
/// of each that goes to the mailbox. Returns each recipient's outcome, in order.
#[allow(clippy::too_many_arguments)]
pub fn send_to_all(
    ep: &Endpoint,
    recipients: &[Recipient],
    suite: super::BundleSuite,
    compression: super::payload::Compression,
    plan: &super::tree::Plan,
    mailbox: bool,
    on_fallback: &mut dyn FnMut(&str, &str),
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Vec<(String, Result<(Sent, Delivered)>)> {
    let me = ep.name.as_str();
    let specs: Vec<SendSpec<'_>> =
        recipients.iter().map(|r| SendSpec { me, peer: &r.name, ltk: &r.ltk, suite, compression, plan }).collect();
    let mut results: Vec<Option<Result<(Sent, Delivered)>>> = recipients.iter().map(|_| None).collect();
    let skey = Secret::<32>::random(rng);
    let mut live = Vec::new();
    let mut offline = Vec::new();
    let opts = Options { service: crate::relay::service::FILES.into(), ..Options::default() };
    for (idx, spec) in specs.iter().enumerate() {
        match ep.dial(spec.peer, &opts, rng) {
            Ok((session, conn)) => {
                if session.summary.peer != spec.peer {
                    let (said, expected) = (session.summary.peer, spec.peer.to_owned());
                    let target = expected.clone();
                    results[idx] = Some(Err(super::CourierError::ListenerIsAnother { target, said, expected }.into()));
                    continue;
                }
                let mut ch = Channel::new(session, conn);
                let challenge_a: [u8; 32] = crypto::random_array(rng);
                let line = transfer::log_send_start(&ep.home, spec, &bundle_id(&challenge_a), Via::Relay);
                match transfer::handshake_live(&mut ch, spec, challenge_a, &skey, false) {
                    Ok(key) => live.push(Live { idx, ch, key, challenge_a, line, tx: None, writer: None }),
                    Err(e) => {
                        transfer::log_send_failed(&ep.home, line, &e);
                        results[idx] = Some(Err(e));
                    }
                }
            }
            Err(Error::Refused { code, reason }) if code == RefusalCode::NotListening as u16 && mailbox => {
                on_fallback(spec.peer, &reason);
                offline.push(idx);
            }
            Err(Error::PeerRefused { code, reason, .. }) if code == RefusalCode::RateLimited as u16 && mailbox => {
                on_fallback(spec.peer, &reason);
                offline.push(idx);
            }
            Err(e) => results[idx] = Some(Err(e)),
        }
    }
    if !live.is_empty() || !offline.is_empty() {
        let delivered =
            deliver(ep, &specs, &skey, &mut live, &offline, &mut results, mailbox, on_fallback, rng, progress);
        if let Err(e) = delivered {
            // Nothing went (a socket that could not be set up, the temp file): every recipient
            // not yet answered failed with it.
            for l in live.iter().filter(|l| results[l.idx].is_none()) {
                transfer::log_send_failed(&ep.home, l.line, &e);
            }
            for r in results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(Err(again(&e)));
            }
        }
    }
    recipients
        .iter()
        .zip(results)
        .map(|(r, res)| (r.name.clone(), res.unwrap_or_else(|| Err(Error::Other("not sent".into())))))
        .collect()
}

/// How long a recipient's connection may take a piece of the bundle before it drops out: the
/// others go on (the slowest sets the pace, a stalled one does not stop everyone).
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);

/// Why a recipient's stream ended early: it stopped reading (no receipt will come), or
/// something else (its receipt says more).
enum Unsent {
    Stalled(Error),
    Going(Error),
}
use std::io::ErrorKind;
use Unsent::{Going, Stalled};

/// The same failure for another recipient (errors are not Clone; the kind and text stay).
fn again(e: &Error) -> Error {
    match e {
        Error::Io { context, io } => Error::io(context.clone(), std::io::Error::new(io.kind(), io.to_string())),
        Error::Unavailable(m) => Error::Unavailable(m.clone()),
        e => Error::Other(e.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    ep: &Endpoint,
    specs: &[SendSpec<'_>],
    skey: &Secret<32>,
    live: &mut [Live],
    offline: &[usize],
    results: &mut [Option<Result<(Sent, Delivered)>>],
    mailbox: bool,
    on_fallback: &mut dyn FnMut(&str, &str),
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    for l in live.iter_mut() {
        let (tx, rx) = sync_channel::<Piece>(8);
        let mut w = l.ch.conn.writer.try_clone().map_err(|e| Error::io("cloning the socket", e))?;
        w.set_write_timeout(Some(STALLED)).map_err(|e| Error::io("setting a write timeout", e))?;
        l.tx = Some(tx);
        l.writer = Some(std::thread::spawn(move || {
            let mut n = 0u64;
            for piece in rx {
                let bytes: &[u8] = match &piece {
                    Piece::Records(b) => b,
                    Piece::Trailer(t) => t,
                };
                w.write_all(bytes)?;
                n += bytes.len() as u64;
                if matches!(piece, Piece::Trailer(_)) {
                    break;
                }
            }
            w.flush()?;
            Ok(n)
        }));
    }
    let file = match offline.is_empty() {
        true => None,
        false => Some(tempfile::tempfile().map_err(|e| Error::io("creating a temp file for the bundle", e))?),
    };
    let fan = FanOut {
        buf: Vec::with_capacity(PIECE),
        live: &mut *live,
        file: file.map(|f| std::io::BufWriter::with_capacity(PIECE, f)),
    };
    // The one pass. If it fails (every connection refused or cut, a file unreadable), each
    // recipient's receipt still says what it made of it.
    let (pass, file) = match transfer::write_records(fan, &specs[0], skey, Resume::WHOLE, progress) {
        Ok((fan, sealed, packed)) => (Ok((sealed, packed)), fan.file),
        Err(e) => (Err(e), None),
    };
    // Every live recipient's trailer, then the end of its stream.
    let mut written = Vec::new();
    for l in live.iter_mut() {
        let tx = l.tx.take();
        let trailer = pass.as_ref().map_err(again).and_then(|(sealed, _)| sealed.trailer(&l.key));
        let tlen = trailer.as_ref().map_or(0, |t| t.len() as u64);
        if let (Some(tx), Ok(t)) = (tx, &trailer) {
            let _ = tx.send(Piece::Trailer(t.clone()));
        }
        let joined = l.writer.take().map(|h| h.join());
        let peer = specs[l.idx].peer;
        written.push(match (&pass, trailer, joined) {
            // Its own connection's failure first: a stalled one, or one that broke.
            (_, _, Some(Ok(Err(e)))) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(Stalled(Error::Unavailable(format!(
                    "{peer} took no more of the bundle for {} s: it was left out (the others went on); send to it again",
                    STALLED.as_secs()
                ))))
            }
            (_, _, Some(Ok(Err(e)))) => Err(Going(Error::io("sending the bundle", e))),
            (_, Err(e), _) => Err(Going(e)),
            (Ok((sealed, _)), Ok(_), Some(Ok(Ok(n)))) if n == sealed.written + tlen => Ok(tlen),
            _ => Err(Going(Error::io("sending the bundle", ErrorKind::BrokenPipe.into()))),
        });
    }
    // The receipts, side by side (one recipient slow to place its files holds up no other).
    let outcomes: Vec<Result<Sent>> = std::thread::scope(|s| {
        let handles: Vec<_> = live
            .iter_mut()
            .zip(written)
            .map(|(l, w)| {
                let (peer, pass) = (specs[l.idx].peer, &pass);
                s.spawn(move || {
                    let w = match w {
                        Ok(t) => Ok(t),
                        // A recipient that stopped reading will not send a receipt either.
                        Err(Stalled(e)) => {
                            let _ = l.ch.conn.writer.shutdown(std::net::Shutdown::Both);
                            return Err(e);
                        }
                        Err(Going(e)) => Err(e),
                    };
                    let r = transfer::live_outcome(&mut l.ch, peer, w)?;
                    let (sealed, packed) = pass.as_ref().map_err(again)?;
                    let (tlen, receipt) = r;
                    Ok(sent_as(&l.challenge_a, sealed, packed, specs[0].suite, tlen, Some(receipt)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Other("a sender thread panicked".into()))))
            .collect()
    });
    for (l, r) in live.iter_mut().zip(outcomes) {
        let spec = &specs[l.idx];
        let name_taken = matches!(&r, Err(Error::PeerRefused { code, .. }) if *code == RefusalCode::NameTaken as u16);
        match r {
            // As for one recipient: a name that exists there sends the bundle to its mailbox (packed
            // again for it: a tar stream from stdin cannot be, and stays refused).
            Err(Error::PeerRefused { peer, reason, .. }) if name_taken && mailbox && !spec.plan.tar_from_stdin => {
                transfer::log_send_removed(&ep.home, l.line);
                on_fallback(
                    &peer,
                    &format!(
                        "{peer}'s sslx recv refused it ({reason}): {peer} must move that away, then run \
                         `sslx recv --from-mailbox`, or receive with --on-conflict rename"
                    ),
                );
                results[l.idx] = Some(
                    super::mailbox::deposit(ep, spec, rng, &mut |_| {})
                        .map(|(s, e)| (s, Delivered::Queued { expires: e })),
                );
            }
            r => {
                transfer::log_send_end(&ep.home, l.line, &r, LogOutcome::Ok);
                results[l.idx] = Some(r.map(|s| (s, Delivered::Live)));
            }
        }
    }
    // Each recipient for the mailbox: its own head and trailer around the same records.
    let records = match (pass, file) {
        (Ok(p), Some(f)) => f.into_inner().map_err(|e| Error::io("writing the bundle", e.into_error())).map(|f| (p, f)),
        (Ok(_), None) => return Ok(()),
        (Err(e), _) => Err(e),
    };
    match records {
        Ok(((sealed, packed), mut file)) => {
            for &idx in offline {
                let r = deposit_one(ep, &specs[idx], skey, &sealed, &mut file, rng);
                results[idx] = Some(r.map(|(challenge_a, head, tlen, expires)| {
                    (
                        sent_as(&challenge_a, &sealed, &packed, specs[0].suite, head + tlen, None),
                        Delivered::Queued { expires },
                    )
                }));
            }
        }
        Err(e) => {
            for &idx in offline {
                results[idx] = Some(Err(again(&e)));
            }
        }
    }
    Ok(())
}

/// What was sent to one recipient: its bundle id, the shared records, its own head and trailer.
fn sent_as(
    challenge_a: &[u8; 32],
    sealed: &Sealed,
    packed: &super::tree::Packed,
    suite: super::BundleSuite,
    extra: u64,
    receipt: Option<Receipt>,
) -> Sent {
    Sent {
        bundle: bundle_id(challenge_a),
        files: packed.files,
        bytes: packed.bytes,
        payload: sealed.payload_len,
        wire: sealed.written + extra,
        suite,
        receipt,
        resumed_from: 0,
    }
}

/// Deposits the shared records as `spec.peer`'s own offline bundle; returns its Challenge A,
/// the lengths of its head and trailer, and when the CDS drops it.
fn deposit_one(
    ep: &Endpoint,
    spec: &SendSpec<'_>,
    skey: &Secret<32>,
    sealed: &Sealed,
    records: &mut std::fs::File,
    rng: &dyn SecureRandom,
) -> Result<([u8; 32], u64, u64, u64)> {
    let challenge_a: [u8; 32] = crypto::random_array(rng);
    let bundle = bundle_id(&challenge_a);
    let line = transfer::log_send_start(&ep.home, spec, &bundle, Via::Mailbox);
    let r = (|| {
        let a1 = transfer::a1_frame(spec, Mode::Offline, challenge_a)?;
        let kd = direction_key(spec.ltk, spec.me, spec.peer)?;
        let chs = Challenges::new(challenge_a, OFFLINE_CHALLENGE_B, &a1);
        let a2 = transfer::a2_frame(spec, &kd, &chs, skey)?;
        let trailer = sealed.trailer(&ProofKey { challenges: chs, kd, resume: Resume::WHOLE })?;
        let head = [a1, a2].concat();
        let (hlen, tlen) = (head.len() as u64, trailer.len() as u64);
        let mut b = Spliced { head, records, records_len: sealed.written, trailer, pos: 0 };
        let id = BundleId::from_hex(&bundle).expect("bundle ids are 16 hex digits");
        let expires = crate::relay::client::deposit(&ep.cds, &ep.name, &ep.cdsk(), spec.peer, &id.0, &mut b, rng)?;
        Ok((challenge_a, hlen, tlen, expires))
    })();
    match &r {
        Ok(_) => transfer::log_send_set(&ep.home, line, LogOutcome::Queued, ""),
        Err(e) => transfer::log_send_failed(&ep.home, line, e),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spliced_bundle_reads_and_rewinds_as_one_file() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"XXrecordsYY").unwrap();
        let mut s =
            Spliced { head: b"head-".to_vec(), records: &mut f, records_len: 9, trailer: b"-tail".to_vec(), pos: 0 };
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"head-XXrecords-tail");
        s.rewind().unwrap();
        let mut again = Vec::new();
        let mut small = [0u8; 3];
        loop {
            let n = s.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            again.extend_from_slice(&small[..n]);
        }
        assert_eq!(again, all);
    }
}
