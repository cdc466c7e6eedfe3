//! AH-CDS messages. Byte layouts: docs/PROTOCOL.md section "AH-CDS".

use crate::crypto::{self, Secret};
use crate::wire::{put_bytes16, put_str8, Msg, Reader, WireError, CHALLENGE_LEN, VERSION};
use ring::rand::SecureRandom;

pub const TYPE_SESSION_REQUEST: u8 = 0x20;
pub const TYPE_SESSION_GRANT: u8 = 0x21;

pub use crate::crypto::labels::broker::{GRANT_LABEL, REQUEST_LABEL};

/// DS-A → CDS (AC-DSA1): `str8 A ‖ bytes16 wrap(CDSK_A, request body)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub requester: String,
    pub wrapped: Vec<u8>,
}

/// What a session request carries inside its wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBody {
    pub peer: String,
    pub nonce: [u8; 16],
}

/// `0x20 ‖ version ‖ str8 requester ‖ challenge`: the request verifies on its connection only.
fn request_aad(requester: &str, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, WireError> {
    let mut a = vec![TYPE_SESSION_REQUEST, VERSION];
    put_str8(&mut a, requester)?;
    a.extend_from_slice(challenge);
    Ok(a)
}

impl SessionRequest {
    pub fn new(
        requester: &str,
        cdsk: &Secret<32>,
        challenge: &[u8; CHALLENGE_LEN],
        body: &RequestBody,
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let mut plain = Vec::new();
        put_str8(&mut plain, &body.peer)?;
        plain.extend_from_slice(&body.nonce);
        let wrapped = crypto::wrap(cdsk.expose(), REQUEST_LABEL, &request_aad(requester, challenge)?, &plain, rng);
        Ok(SessionRequest { requester: requester.to_owned(), wrapped })
    }

    /// `None` if it does not open under `cdsk` on the connection with `challenge`, or does not parse.
    pub fn open(&self, cdsk: &Secret<32>, challenge: &[u8; CHALLENGE_LEN]) -> Option<RequestBody> {
        let aad = request_aad(&self.requester, challenge).ok()?;
        let plain = crypto::unwrap(cdsk.expose(), REQUEST_LABEL, &aad, &self.wrapped)?;
        let mut r = Reader::new(&plain);
        let body = RequestBody { peer: r.str8("peer").ok()?.to_owned(), nonce: r.take_array("nonce").ok()? };
        r.finish().ok()?;
        Some(body)
    }
}

impl Msg for SessionRequest {
    const TYPE: u8 = TYPE_SESSION_REQUEST;
    const NAME: &'static str = "session request";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.requester)?;
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SessionRequest {
            requester: r.str8("requester")?.to_owned(),
            wrapped: r.bytes16("wrapped request")?.to_vec(),
        })
    }
}

/// CDS → DS-A (AC-CDS3): `bytes16 wrap(CDSK_A, grant body)`, bound to the request's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub wrapped: Vec<u8>,
}

/// What a grant carries inside its wrap.
pub struct GrantBody {
    pub session_id: [u8; 16],
    pub expires: u64,
    pub dsmk: Secret<32>,
    pub peer: String,
    pub ticket: Vec<u8>,
}

fn grant_aad(nonce: &[u8; 16]) -> Vec<u8> {
    let mut a = vec![TYPE_SESSION_GRANT, VERSION];
    a.extend_from_slice(nonce);
    a
}

impl SessionGrant {
    pub fn new(
        cdsk: &Secret<32>,
        request_nonce: &[u8; 16],
        g: &GrantBody,
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        plain.extend_from_slice(&g.session_id);
        plain.extend_from_slice(&g.expires.to_be_bytes());
        plain.extend_from_slice(g.dsmk.expose());
        put_str8(&mut plain, &g.peer)?;
        put_bytes16(&mut plain, &g.ticket)?;
        Ok(SessionGrant { wrapped: crypto::wrap(cdsk.expose(), GRANT_LABEL, &grant_aad(request_nonce), &plain, rng) })
    }

    pub fn open(&self, cdsk: &Secret<32>, request_nonce: &[u8; 16]) -> Option<GrantBody> {
        let plain = zeroize::Zeroizing::new(crypto::unwrap(
            cdsk.expose(),
            GRANT_LABEL,
            &grant_aad(request_nonce),
            &self.wrapped,
        )?);
        let mut r = Reader::new(&plain);
        let g = GrantBody {
            session_id: r.take_array("session id").ok()?,
            expires: r.u64("expires").ok()?,
            dsmk: Secret::new(r.take_array("DSMK").ok()?),
            peer: r.str8("peer").ok()?.to_owned(),
            ticket: r.bytes16("ticket").ok()?.to_vec(),
        };
        r.finish().ok()?;
        Some(g)
    }
}

impl Msg for SessionGrant {
    const TYPE: u8 = TYPE_SESSION_GRANT;
    const NAME: &'static str = "session grant";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SessionGrant { wrapped: r.bytes16("wrapped grant")?.to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::check_codec;

    #[test]
    fn the_session_request_and_grant_round_trip_and_reject_bad_frames() {
        check_codec(&SessionRequest { requester: "alice".into(), wrapped: vec![6; 60] });
        check_codec(&SessionGrant { wrapped: vec![7; 200] });
    }

    #[test]
    fn the_wrapped_bodies_open_only_under_their_key_and_binding() {
        let rng = crate::crypto::system_rng();
        let (k, other) = (Secret::new([1; 32]), Secret::new([2; 32]));
        let body = RequestBody { peer: "bob".into(), nonce: [3; 16] };
        let req = SessionRequest::new("alice", &k, &[4; CHALLENGE_LEN], &body, &rng).unwrap();
        assert_eq!(req.open(&k, &[4; CHALLENGE_LEN]), Some(body.clone()));
        assert_eq!(req.open(&other, &[4; CHALLENGE_LEN]), None, "another key");
        assert_eq!(req.open(&k, &[5; CHALLENGE_LEN]), None, "another connection's challenge");
        let renamed = SessionRequest { requester: "mallory".into(), ..req };
        assert_eq!(renamed.open(&k, &[4; CHALLENGE_LEN]), None, "the requester is bound");
        let g = GrantBody {
            session_id: [6; 16],
            expires: 9,
            dsmk: Secret::new([7; 32]),
            peer: "bob".into(),
            ticket: vec![8; 90],
        };
        let grant = SessionGrant::new(&k, &body.nonce, &g, &rng).unwrap();
        let opened = grant.open(&k, &body.nonce).unwrap();
        assert_eq!((opened.session_id, opened.peer.as_str(), opened.ticket.len()), ([6; 16], "bob", 90));
        assert!(grant.open(&k, &[0; 16]).is_none(), "the grant answers one request's nonce");
    }
}
