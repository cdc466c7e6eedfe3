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
    Ring { call_id: [u8; 16], caller: String },
    /// The CDS granted `caller` a session with us; its ticket will come in the caller's M1.
    Ticket { caller: String, session_id: [u8; 16], expires: u64 },
}

/// A callee's connection to the CDS while it is on hook.
pub struct Hook {
    stream: TcpStream,
    nonce: [u8; 16],
    name: String,
    cdsk: Secret<32>,
    cds: String,
}

/// Goes on hook at the CDS as `name`, for calls naming `service` (`msgs::service`). Hooks for
/// other services of the same name stay; an older hook for this one is replaced.
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
    TimeBody::decode(&body)?;
    s.set_read_timeout(None).ok();
    Ok(Hook { stream: s, nonce, name: name.to_owned(), cdsk: cdsk.clone(), cds: cds.to_owned() })
}

impl Hook {
    /// Waits for the next message on the hook. An error when the CDS goes away.
    pub fn next_event(&mut self) -> Result<HookEvent> {
        let f = receive(&mut self.stream, "a ring")?;
        let unverified = Error::NotFromTheCds;
        if f.msg_type == TYPE_TICKET_PUSH {
            let bytes =
                TicketPush::from_frame(&f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a ticket push"))?;
            let ticket = crate::broker::Ticket::decode(&bytes)?;
            let body = ticket.open(&self.cdsk).ok_or_else(|| unverified("a pushed ticket"))?;
            return Ok(HookEvent::Ticket { caller: body.caller, session_id: ticket.session_id, expires: body.expires });
        }
        let body = Ring::from_frame(&f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a ring"))?;
        let RingBody { call_id, caller } = RingBody::decode(&body)?;
        Ok(HookEvent::Ring { call_id, caller })
    }

    /// Answers a ring on a new connection, which the CDS splices to the caller's.
    pub fn answer(&self, call_id: &[u8; 16], rng: &dyn SecureRandom) -> Result<TcpStream> {
        let c = connect(&self.cds)?;
        let mut s = c.stream;
        s.set_read_timeout(None).ok();
        send(
            &mut s,
            &Answer::new(&self.name, &self.cdsk, &c.challenge, &IdBody { id: *call_id }.encode(), rng)?.to_frame()?,
        )?;
        Ok(s)
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
