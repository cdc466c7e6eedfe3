//! The participant's side of the relay: go on hook (callee), answer a ring, place a call (caller).
//! Frames are read unbuffered here: after "call OK" and after an answer, the next bytes on the
//! socket belong to the peer's session, not to the relay.

use super::msgs::*;
use crate::crypto::{self, Secret};
use crate::vsu::{Refused, TYPE_REFUSED};
use crate::wire::{read_frame, write_frame, Frame, Msg};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::net::TcpStream;
use std::time::Duration;

fn connect(cds: &str) -> Result<TcpStream> {
    crate::net::connect(cds, &format!("the CDS at {cds}"))
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
        return Err(crate::vsu::client::refusal_error(Refused::from_frame(&f)?));
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

/// Goes on hook at the CDS as `name`.
pub fn on_hook(cds: &str, name: &str, cdsk: &Secret<32>, rng: &dyn SecureRandom) -> Result<Hook> {
    let mut s = connect(cds)?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    send(&mut s, &OnHook::new(name, cdsk, &nonce_time_body(&nonce, crate::cli::now_unix()), rng).to_frame())?;
    let ok = HookOk::from_frame(&receive(&mut s, "accepting the hook")?)?;
    ok.open(cdsk, &nonce).ok_or_else(|| {
        Error::VerifyFailed("the CDS's hook answer did not verify under this machine's CDS key".into())
    })?;
    s.set_read_timeout(None).ok();
    Ok(Hook { stream: s, nonce, name: name.to_owned(), cdsk: cdsk.clone(), cds: cds.to_owned() })
}

impl Hook {
    /// Waits for the next message on the hook. An error when the CDS goes away.
    pub fn next_event(&mut self) -> Result<HookEvent> {
        let f = receive(&mut self.stream, "a ring")?;
        let unverified =
            |what: &str| Error::VerifyFailed(format!("{what} did not verify under this machine's CDS key"));
        if f.msg_type == TYPE_TICKET_PUSH {
            let bytes =
                TicketPush::from_frame(&f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a ticket push"))?;
            let ticket = crate::broker::Ticket::decode(&bytes)?;
            let body = ticket.open(&self.cdsk).ok_or_else(|| unverified("a pushed ticket"))?;
            return Ok(HookEvent::Ticket { caller: body.caller, session_id: ticket.session_id, expires: body.expires });
        }
        let body = Ring::from_frame(&f)?.open(&self.cdsk, &self.nonce).ok_or_else(|| unverified("a ring"))?;
        let (call_id, caller) = parse_ring(&body).ok_or_else(|| Error::VerifyFailed("a ring is malformed".into()))?;
        Ok(HookEvent::Ring { call_id, caller })
    }

    /// Answers a ring on a new connection, which the CDS splices to the caller's.
    pub fn answer(&self, call_id: &[u8; 16], rng: &dyn SecureRandom) -> Result<TcpStream> {
        let mut s = connect(&self.cds)?;
        send(&mut s, &Answer::new(&self.name, &self.cdsk, call_id, rng).to_frame())?;
        Ok(s)
    }
}

/// Places a call to `callee` through the CDS. On call-OK, returns the spliced connection (the
/// callee's listener hello comes next) and the call's tracking id.
pub fn call(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    callee: &str,
    rng: &dyn SecureRandom,
) -> Result<(TcpStream, [u8; 16])> {
    let mut s = connect(cds)?;
    s.set_read_timeout(Some(Duration::from_secs(super::ANSWER_TIMEOUT_SECS + 15))).ok();
    let nonce: [u8; 16] = crypto::random_array(rng);
    send(&mut s, &Call::new(name, cdsk, &call_body(callee, &nonce, crate::cli::now_unix()), rng).to_frame())?;
    let ok = CallOk::from_frame(&receive(&mut s, "answering the call")?)?;
    let body = ok
        .open(cdsk, &nonce)
        .ok_or_else(|| Error::VerifyFailed("the CDS's call-OK did not verify under this machine's CDS key".into()))?;
    let tracking: [u8; 16] = body
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::VerifyFailed("call-OK is malformed".into()))?;
    s.set_read_timeout(None).ok();
    Ok((s, tracking))
}
