//! The key broker (AH-CDS, claims 14–20): checks a session request under the caller's CDSK,
//! makes a DSMK, answers the caller with it and a ticket for the peer, and pushes the peer's
//! copy down its hook when it is on hook (otherwise the peer gets the ticket from the caller, in
//! M1, and nothing is kept).

use super::registrar::Refusal;
use super::store::Store;
use crate::broker::msgs::{GrantBody, SessionGrant, SessionRequest};
use crate::broker::{Ticket, TicketBody, DEFAULT_TICKET_LIFE};
use crate::crypto::{self, Secret};
use crate::wire::RefusalCode;
use ring::rand::SecureRandom;

/// The peer's copy of a granted session (AC-CDS2), pushed over its hook if it is on hook.
pub struct PeerCopy {
    pub peer: String,
    pub caller: String,
    pub session_id: [u8; 16],
    pub ticket: Vec<u8>,
    pub expires: u64,
}

/// Answers a session request that arrived on the connection with `challenge`: the grant for
/// the caller (AC-CDS3) and the peer's copy (AC-CDS2).
pub fn grant(
    store: &dyn Store,
    req: &SessionRequest,
    challenge: &[u8; crate::wire::CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<(SessionGrant, PeerCopy), Refusal> {
    use RefusalCode::*;
    let a = &req.requester;
    let (cdsk_a, a_expires) = store.participant_cdsk(a).map_err(Refusal::internal)?.ok_or_else(|| {
        Refusal::new(NotEnrolled, format!("{a:?} is not enrolled at this CDS: no confirmed CDS key (run sslx vsu)"))
    })?;
    if a_expires <= now {
        return Err(Refusal::new(
            Expired,
            format!("the CDS key of {a:?} expired at {}; enroll again (sslx vsu)", crate::clock::fmt_time(a_expires)),
        ));
    }
    let body = req.open(&cdsk_a, challenge).ok_or_else(|| {
        Refusal::new(
            BadSignature,
            format!(
                "the session request does not verify under the CDS key of {a:?} on this connection (wrong or replaced key, or replayed)"
            ),
        )
    })?;
    crate::keys::check_name(&body.peer).map_err(|e| Refusal::new(BadRequest, e.to_string()))?;
    let b = &body.peer;
    if b == a {
        return Err(Refusal::new(BadRequest, "a participant cannot open a session with itself"));
    }
    let (cdsk_b, b_expires) = store
        .participant_cdsk(b)
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::new(NotFound, format!("no participant named {b:?} at this CDS")))?;
    if b_expires <= now {
        return Err(Refusal::new(Expired, format!("the CDS key of {b:?} has expired")));
    }
    let dsmk: Secret<32> = Secret::random(rng);
    let session_id: [u8; 16] = crypto::random_array(rng);
    let expires = now + DEFAULT_TICKET_LIFE;
    let wire = Refusal::internal;
    let ticket =
        Ticket::seal(session_id, b, &cdsk_b, &TicketBody { dsmk: dsmk.clone(), caller: a.clone(), expires }, rng)
            .and_then(|t| t.encode())
            .map_err(wire)?;
    let copy = PeerCopy { peer: b.clone(), caller: a.clone(), session_id, ticket: ticket.clone(), expires };
    let grant =
        SessionGrant::new(&cdsk_a, &body.nonce, &GrantBody { session_id, expires, dsmk, peer: b.clone(), ticket }, rng)
            .map_err(wire)?;
    Ok((grant, copy))
}
