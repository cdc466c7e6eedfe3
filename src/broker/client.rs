//! The participant's side of AH-CDS: ask the CDS for a session with a peer.

use super::msgs::*;
use crate::crypto::{self, Secret};
use crate::wire::Msg;
use crate::{Error, Result};
use ring::rand::SecureRandom;

pub use crate::enrollment::enrolled;

/// How long to wait for the CDS's grant (as for any request to the CDS, PROTOCOL.md 2).
pub const GRANT_WAIT: std::time::Duration = std::time::Duration::from_secs(150);

/// `AC-DSA1` then `AC-CDS3`: returns the DSMK, its session id and expiry, and the peer's ticket.
pub fn request_session(
    cds: &str,
    name: &str,
    cdsk: &Secret<32>,
    peer: &str,
    rng: &dyn SecureRandom,
) -> Result<GrantBody> {
    let nonce: [u8; 16] = crypto::random_array(rng);
    let body = RequestBody { peer: peer.to_owned(), nonce };
    let answer = crate::net::exchange(cds, GRANT_WAIT, |challenge| {
        Ok(SessionRequest::new(name, cdsk, challenge, &body, rng)?.to_frame()?)
    })?;
    let grant = SessionGrant::from_frame(&answer)?;
    let g = grant.open(cdsk, &nonce).ok_or_else(|| Error::NotFromTheCds("the CDS's session grant"))?;
    if g.peer != peer {
        return Err(Error::CdsNamedOther { what: "granted a session with", said: g.peer, expected: peer.to_owned() });
    }
    Ok(g)
}
