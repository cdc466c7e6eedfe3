//! The participant's side of the relay: go on hook (callee), answer a ring, place a call (caller).
//! Frames are read unbuffered here: after "call OK" and after an answer, the next bytes on the
//! socket belong to the peer's session, not to the relay.

use super::msgs::*;
pub use super::msgs::{DeliveryState, MailboxItem, Outcome};
use crate::crypto::{self, Secret};
use crate::wire::{read_frame, write_frame, Frame, Msg};
use crate::wire::{Refused, TYPE_REFUSED};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::net::TcpStream;
use std::time::Duration;

fn connect(cds: &str) -> Result<crate::net::CdsConn> {
    crate::net::connect_cds(cds)
}

fn send(s: &mut TcpStream, bytes: &[u8]) -> Result<()> {
    write_frame(s, bytes).map_err(|e| Error::Unavailable(format!("writing to the CDS: {e}")))
}

/// One frame from the CDS; a refusal (a NAK) becomes the error it carries.
fn receive(s: &mut TcpStream, expecting: &str) -> Result<Frame> {
    let f = read_frame(s)
        .map_err(|e| Error::Unavailable(format!("reading from the CDS: {e}")))?
        .ok_or_else(|| Error::Unavailable(format!("the CDS closed the connection before {expecting}")))?;
    if f.msg_type == TYPE_REFUSED {
        return Err(crate::error::refusal_error(Refused::from_frame(&f)?));
    }
    Ok(f)
}

/// What arrives on a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// A call: answer it with `Hook::answer`.
    /// `answer_at`: where to answer, when the ring names another CDS instance than the hook's.
    Ring { call_id: [u8; 16], caller: String, answer_at: Option<String> },
    /// The CDS granted `caller` a session with us; its ticket will come in the caller's M1.
    Ticket { caller: String, session_id: [u8; 16], expires: u64 },
    /// ([`StayingHook`] only) The hook is down (the CDS went away, the connection died, the CDS
    /// is busy): the next try is in `retry_in`. `again`: a try that failed, not the drop itself.
    Down { why: String, retry_in: Duration, again: bool },
    /// ([`StayingHook`] only) On hook again after a drop.
    Back,
    /// `sender` left bundle `bundle_id` in this participant's mailbox (told on a `files` hook).
    Mailbox { sender: String, bundle_id: [u8; 8] },
}

/// A callee's connection to the CDS while it is on hook.
pub struct Hook {
    stream: TcpStream,
    nonce: [u8; 16],
    name: String,
    cdsk: Secret<32>,
    cds: String,
    service: String,
    /// How often the CDS sends a keepalive down the idle hook (its hook OK says), in seconds.
    keepalive: u16,
    /// Silence past this (from the last frame that verified) means a dead connection.
    silence: Option<Duration>,
    /// When the last frame that verified arrived.
    heard: std::time::Instant,
    /// The CDS time of the newest keepalive (or hook OK): an older or equal one is a replay.
    latest: u64,
}

/// Keepalives a hook may miss in a row before the connection counts as dead.
pub const KEEPALIVES_MISSED: u32 = 3;

/// Goes on hook at the CDS as `name`, for calls naming `service` (`msgs::service`). Hooks for
/// other services of the same name stay; an older hook for this one is replaced (and told so).
pub fn on_hook(cds: &str, name: &str, cdsk: &Secret<32>, service: &str, rng: &dyn SecureRandom) -> Result<Hook> {
    let c = connect(cds)?;
    let mut s = c.stream;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    send(
        &mut s,
        &OnHook::new(name, cdsk, &c.challenge, &HookBody { nonce, service: service.to_owned() }.encode()?, rng)?
            .to_frame()?,
    )?;
    let ok = HookOk::from_frame(&receive(&mut s, "accepting the hook")?)?;
    let body = ok.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("the CDS's hook answer"))?;
    let HookOkBody { keepalive, time } = HookOkBody::decode(&body)?;
    // Silence past a few keepalives means a dead connection (a CDS that sends none: only TCP's
    // own keepalive tells).
    let silence = (keepalive > 0).then(|| Duration::from_secs(u64::from(keepalive)) * KEEPALIVES_MISSED);
    s.set_read_timeout(silence).ok();
    crate::net::keep_tcp_alive(&s);
    Ok(Hook {
        stream: s,
        nonce,
        name: name.to_owned(),
        cdsk: cdsk.clone(),
        // The instance that took the hook: its rings are answered there.
        cds: c.addr.clone(),
        service: service.to_owned(),
        keepalive,
        silence,
        heard: std::time::Instant::now(),
        latest: time,
    })
}

impl Hook {
    /// Waits for the next ring or ticket push (keepalives are checked and passed over). An error
    /// when the CDS goes away, falls silent for `KEEPALIVES_MISSED` keepalives, or says a newer
    /// hook replaced this one ([`Error::HookReplaced`]). After hook OK only the CDS's sealed
    /// messages count: anything else on the connection (a refusal, an unknown type, a message
    /// that does not open or decode: bytes anyone on the path can write) means the connection is
    /// not the CDS's any more, and ends it as a dead one ([`Error::Unavailable`], worth another
    /// try), never the hook for good; silence is counted from the last message that verified,
    /// and a keepalive not newer than the last is not a sign of life.
    pub fn next_event(&mut self) -> Result<HookEvent> {
        loop {
            if let Some(silence) = self.silence {
                let left = silence.saturating_sub(self.heard.elapsed());
                if left.is_zero() {
                    let (ka, missed) = (self.keepalive, KEEPALIVES_MISSED);
                    return Err(Error::Unavailable(format!(
                        "nothing from the CDS in {} s (it sends a keepalive every {ka} s): the connection is dead",
                        u32::from(ka) * missed
                    )));
                }
                self.stream.set_read_timeout(Some(left)).ok();
            }
            let f = match read_frame(&mut self.stream) {
                Ok(Some(f)) => f,
                Ok(None) => return Err(Error::Unavailable("the CDS closed the hook".into())),
                // The silence is checked at the top.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(e) => return Err(Error::Unavailable(format!("reading the hook: {e}"))),
            };
            match self.open(&f) {
                Ok(Some(ev)) => {
                    self.heard = std::time::Instant::now();
                    return Ok(ev);
                }
                Ok(None) => {}
                Err(e @ Error::HookReplaced { .. }) => return Err(e),
                Err(e) => {
                    return Err(Error::Unavailable(format!(
                        "the hook's connection carried what is not the CDS's ({e}): taken for a dead one"
                    )))
                }
            }
        }
    }

    /// One frame of the hook: an event, nothing (a keepalive), or why it is not the CDS's.
    fn open(&mut self, f: &Frame) -> Result<Option<HookEvent>> {
        let unverified = Error::NotFromTheCds;
        match f.msg_type {
            TYPE_KEEPALIVE => {
                let body =
                    Keepalive::from_frame(f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a keepalive"))?;
                let TimeBody { time } = TimeBody::decode(&body)?;
                if time > self.latest {
                    self.latest = time;
                    self.heard = std::time::Instant::now();
                }
                Ok(None)
            }
            TYPE_HOOK_REPLACED => {
                HookReplaced::from_frame(f)?
                    .open(&self.cdsk, &self.nonce)
                    .ok_or_else(|| unverified("a hook-replaced notice"))?;
                Err(Error::HookReplaced { name: self.name.clone(), service: self.service.clone() })
            }
            TYPE_TICKET_PUSH => {
                let bytes = TicketPush::from_frame(f)?
                    .open(&self.cdsk, &self.nonce)
                    .ok_or_else(|| unverified("a ticket push"))?;
                let ticket = crate::broker::Ticket::decode(&bytes)?;
                let body = ticket.open(&self.cdsk).ok_or_else(|| unverified("a pushed ticket"))?;
                Ok(Some(HookEvent::Ticket {
                    caller: body.caller,
                    session_id: ticket.session_id,
                    expires: body.expires,
                }))
            }
            TYPE_MAILBOX_NOTICE => {
                let body = MailboxNotice::from_frame(f)?
                    .open(&self.cdsk, &self.nonce)
                    .ok_or_else(|| unverified("a mailbox notice"))?;
                let NoticeBody { sender, bundle_id, .. } = NoticeBody::decode(&body)?;
                Ok(Some(HookEvent::Mailbox { sender, bundle_id }))
            }
            TYPE_RING => {
                let body = Ring::from_frame(f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a ring"))?;
                let RingBody { call_id, caller, answer_at } = RingBody::decode(&body)?;
                Ok(Some(HookEvent::Ring { call_id, caller, answer_at }))
            }
            t => Err(Error::Other(format!("a frame of type 0x{t:02x}"))),
        }
    }

    /// Answers a ring on a new connection, which the CDS splices to the caller's: at the
    /// address the ring named (the caller's CDS instance), else at the CDS this hook is up at.
    pub fn answer(&self, call_id: &[u8; 16], answer_at: Option<&str>, rng: &dyn SecureRandom) -> Result<TcpStream> {
        let c = connect(answer_at.unwrap_or(&self.cds))?;
        let mut s = c.stream;
        s.set_read_timeout(None).ok();
        send(
            &mut s,
            &Answer::new(&self.name, &self.cdsk, &c.challenge, &IdBody { id: *call_id }.encode(), rng)?.to_frame()?,
        )?;
        Ok(s)
    }
}

/// Whether a hook that ended this way is worth trying again: the CDS could not be reached or
/// went away, or it is busy (19) or failing (10). A refusal that will not change by itself (not
/// enrolled, a key expired or not verifying), an answer that is not the CDS's, or a newer hook
/// in this one's place end the hook for good.
fn is_bad_signature(e: &Error) -> bool {
    matches!(e, Error::Refused { code, .. } if *code == crate::wire::RefusalCode::BadSignature as u16)
}

pub fn worth_another_try(e: &Error) -> bool {
    use crate::wire::RefusalCode::{Internal, RateLimited};
    match e {
        Error::Unavailable(_) => true,
        Error::Refused { code, .. } => *code == RateLimited as u16 || *code == Internal as u16,
        _ => false,
    }
}

/// A hook that lasts: when it drops for a reason [`worth_another_try`], it is put up again
/// after a wait from [`Backoff`](crate::net::Backoff), and the drop, each failed try and the
/// return are events of their own.
pub struct StayingHook {
    hook: Option<Hook>,
    retry_at: std::time::Instant,
    up_since: std::time::Instant,
    backoff: crate::net::Backoff,
    cds: String,
    name: String,
    /// Read again at each hook: a renewal meanwhile ended the old hook at the CDS.
    keys: std::sync::Arc<crate::enrollment::CurrentCdsk>,
    service: String,
}

/// A hook up this long before it dropped starts its backoff over; one dropping sooner (a CDS
/// that takes hooks and falls over) goes on waiting longer.
const STAYED_UP: Duration = Duration::from_secs(60);

impl StayingHook {
    /// Goes on hook (as [`on_hook`]; a first failure is returned, not tried again).
    pub fn new(
        cds: &str,
        name: &str,
        keys: std::sync::Arc<crate::enrollment::CurrentCdsk>,
        service: &str,
        rng: &dyn SecureRandom,
    ) -> Result<Self> {
        let now = std::time::Instant::now();
        Ok(StayingHook {
            hook: Some(on_hook(cds, name, &keys.get(), service, rng)?),
            retry_at: now,
            up_since: now,
            backoff: crate::net::Backoff::new(),
            cds: cds.to_owned(),
            name: name.to_owned(),
            keys,
            service: service.to_owned(),
        })
    }

    /// The next ring, ticket push, drop or return; an error when the hook ends for good.
    pub fn next_event(&mut self, rng: &dyn SecureRandom) -> Result<HookEvent> {
        let e = match self.hook.as_mut() {
            Some(hook) => match hook.next_event() {
                Ok(ev) => return Ok(ev),
                Err(e) => e,
            },
            None => {
                std::thread::sleep(self.retry_at.saturating_duration_since(std::time::Instant::now()));
                match on_hook(&self.cds, &self.name, &self.keys.get(), &self.service, rng) {
                    Ok(hook) => {
                        self.hook = Some(hook);
                        self.up_since = std::time::Instant::now();
                        return Ok(HookEvent::Back);
                    }
                    Err(e) if worth_another_try(&e) => return Ok(self.down(e, true, rng)),
                    // A renewal is under way (5.8): the CDS may hold the new key before the
                    // home does; the key is read again at the next try.
                    Err(e) if is_bad_signature(&e) && self.keys.renewal_unfinished() => {
                        return Ok(self.down(e, true, rng))
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if !worth_another_try(&e) {
            return Err(e);
        }
        self.hook = None;
        if self.up_since.elapsed() >= STAYED_UP {
            self.backoff.reset();
        }
        Ok(self.down(e, false, rng))
    }

    fn down(&mut self, e: Error, again: bool, rng: &dyn SecureRandom) -> HookEvent {
        let retry_in = self.backoff.next_wait(rng);
        self.retry_at = std::time::Instant::now() + retry_in;
        HookEvent::Down { why: e.to_string(), retry_in, again }
    }

    /// Answers a ring (see [`Hook::answer`]).
    pub fn answer(&self, call_id: &[u8; 16], answer_at: Option<&str>, rng: &dyn SecureRandom) -> Result<TcpStream> {
        match &self.hook {
            Some(h) => h.answer(call_id, answer_at, rng),
            None => Err(Error::Unavailable("the hook is down".into())),
        }
    }
}

/// How long a caller waits for call OK: the CDS's slot wait (10 s), ring wait (5 s) and answer
/// timeout (15 s), with a margin.
pub const CALL_WAIT: Duration = Duration::from_secs(60);

/// Places a call to `callee`'s `service` through the CDS. On call-OK, returns the spliced
/// connection (the callee's listener hello comes next) and the call's tracking id.
pub fn call(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    callee: &str,
    service: &str,
    rng: &dyn SecureRandom,
) -> Result<(TcpStream, [u8; 16])> {
    let c = connect(cds)?;
    let mut s = c.stream;
    // The CDS may wait 10 s for a slot, 5 s for room on the hook and 15 s for the answer.
    s.set_read_timeout(Some(CALL_WAIT)).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    send(
        &mut s,
        &Call::new(
            name,
            cdsk,
            &c.challenge,
            &CallBody { callee: callee.to_owned(), nonce, service: service.to_owned() }.encode()?,
            rng,
        )?
        .to_frame()?,
    )?;
    let ok = CallOk::from_frame(&receive(&mut s, "answering the call")?)?;
    let body = ok.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("the CDS's call-OK"))?;
    let IdBody { id: tracking } = IdBody::decode(&body)?;
    s.set_read_timeout(None).ok();
    Ok((s, tracking))
}

/// Deposits the bundle in `bundle` (a file: it is read twice, once for its hash) in
/// `recipient`'s mailbox at the CDS (store-and-forward). Returns when the CDS has stored it:
/// the time it will be dropped.
pub fn deposit<F: std::io::Read + std::io::Seek>(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    recipient: &str,
    bundle_id: &[u8; 8],
    bundle: &mut F,
    rng: &dyn SecureRandom,
) -> Result<u64> {
    let io = |e: std::io::Error| Error::io("reading the bundle for the mailbox", e);
    bundle.rewind().map_err(io)?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = bundle.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    bundle.rewind().map_err(io)?;
    let sha256: [u8; 32] = hash.finish().as_ref().try_into().expect("32-byte SHA-256");
    let c = connect(cds)?;
    let mut s = c.stream;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    let body = DepositBody { recipient: recipient.to_owned(), nonce, size, bundle_id: *bundle_id, sha256 }.encode()?;
    send(&mut s, &Deposit::new(name, cdsk, &c.challenge, &body, rng)?.to_frame()?)?;
    let copied = std::io::copy(&mut std::io::Read::take(bundle, size), &mut s);
    // A refusal (full mailbox, unknown recipient) may come before all bytes went: read it first.
    let answer = receive(&mut s, "storing the bundle");
    let ok = match (copied, answer) {
        (_, Err(e @ Error::Refused { .. })) => return Err(e),
        (Ok(n), Ok(f)) if n == size => DepositOk::from_frame(&f)?,
        (Ok(_), _) => return Err(Error::Other("the bundle file is shorter than its size".into())),
        (Err(e), _) => return Err(Error::Unavailable(format!("sending the bundle to the CDS: {e}"))),
    };
    let body = ok.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("the CDS's deposit answer"))?;
    Ok(TimeBody::decode(&body)?.time)
}

/// Collects the bundles waiting in this participant's mailbox, one at a time: `open` gets each
/// one's bytes as a stream and says what became of it. Returns how many were opened.
pub fn collect(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    rng: &dyn SecureRandom,
    mut open: impl FnMut(&MailboxItem, &mut dyn std::io::Read) -> Outcome,
) -> Result<usize> {
    let c = connect(cds)?;
    let (mut s, challenge) = (c.stream, c.challenge);
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let mut count = 0;
    loop {
        let nonce: [u8; 16] = crypto::random_array(rng);
        send(&mut s, &Collect::new(name, cdsk, &challenge, &NonceBody { nonce }.encode(), rng)?.to_frame()?)?;
        let d = Delivery::from_frame(&receive(&mut s, "a delivery")?)?;
        let body = d.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("a mailbox delivery"))?;
        let item = match DeliveryBody::decode(&body)? {
            DeliveryBody::Empty => return Ok(count),
            DeliveryBody::Item(item) => item,
        };
        let mut bytes = std::io::Read::take(&mut s, item.size);
        let outcome = open(&item, &mut bytes);
        // Whatever the opener left unread belongs to this bundle, not to the next frame.
        std::io::copy(&mut bytes, &mut std::io::sink())
            .map_err(|e| Error::Unavailable(format!("reading a bundle from the CDS: {e}")))?;
        let ack = CollectedBody { nonce, item: item.item, outcome }.encode();
        send(&mut s, &Collected::new(name, cdsk, &challenge, &ack, rng)?.to_frame()?)?;
        match outcome {
            Outcome::Opened => count += 1,
            Outcome::Refused | Outcome::Keep => {}
        }
    }
}

/// Asks the CDS what became of bundles this participant deposited.
pub fn status(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    ids: &[[u8; 8]],
    rng: &dyn SecureRandom,
) -> Result<Vec<([u8; 8], DeliveryState, u64)>> {
    let c = connect(cds)?;
    let mut s = c.stream;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    // As many as fit in one frame; the rest are asked about next time.
    let ids = ids[..ids.len().min(MAX_STATUS_IDS)].to_vec();
    let body = StatusBody { nonce, ids }.encode()?;
    send(&mut s, &Status::new(name, cdsk, &c.challenge, &body, rng)?.to_frame()?)?;
    let ok = StatusOk::from_frame(&receive(&mut s, "the status")?)?;
    let body = ok.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("the CDS's status answer"))?;
    Ok(StatusOkBody::decode(&body)?.entries)
}
