//! The participant's side of AH-CDS: ask the CDS for a session with a peer.

use super::msgs::*;
use crate::crypto::{self, Secret};
use crate::keys::Home;
use crate::wire::Msg;
use crate::{Error, Result};
use ring::rand::SecureRandom;

/// The confirmed CDSK and this participant's name, or a clear "not enrolled".
pub fn enrolled(home: &Home) -> Result<(String, Secret<32>)> {
    let state: Option<crate::vsu::client::CdsState> = home.read_json(crate::vsu::client::CDS_STATE_FILE)?;
    let cdsk = crate::vsu::client::load_cdsk(home)?;
    match (state, cdsk) {
        (Some(s), Some(k)) => Ok((s.name, k)),
        _ => Err(Error::NotFound(format!(
            "{} holds no confirmed CDS key: enroll first (sslx vsu, sslx assemble-key, sslx vsu --confirm)",
            home.dir.display()
        ))),
    }
}

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
    let answer = crate::vsu::client::exchange(cds, |challenge| {
        Ok(SessionRequest::new(name, cdsk, challenge, &body, rng)?.to_frame()?)
    })?;
    let grant = SessionGrant::from_frame(&answer)?;
    let g = grant.open(cdsk, &nonce).ok_or_else(|| {
        Error::VerifyFailed("the CDS's session grant did not verify under this machine's CDS key".into())
    })?;
    if g.peer != peer {
        return Err(Error::VerifyFailed(format!("the CDS granted a session with {:?}, not {peer:?}", g.peer)));
    }
    Ok(g)
}
