//! The ticket for DS-B (AC-CDS2): the DSMK wrapped in B's CDSK, handed over by A in M1.

use crate::crypto::{self, Secret};
use crate::wire::{put_bytes16, put_str8, Reader, WireError};
use ring::rand::SecureRandom;

pub use crate::crypto::labels::ticket::TICKET_LABEL;

/// `[16] session id ‖ str8 holder (B) ‖ bytes16 wrap(CDSK_B, body)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub session_id: [u8; 16],
    pub holder: String,
    pub wrapped: Vec<u8>,
}

pub struct TicketBody {
    pub dsmk: Secret<32>,
    /// The participant the session is with (A).
    pub caller: String,
    pub expires: u64,
}

impl Ticket {
    fn aad(session_id: &[u8; 16], holder: &str) -> Result<Vec<u8>, WireError> {
        let mut a = session_id.to_vec();
        put_str8(&mut a, holder)?;
        Ok(a)
    }

    pub fn seal(
        session_id: [u8; 16],
        holder: &str,
        holder_cdsk: &Secret<32>,
        body: &TicketBody,
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let mut plain = zeroize::Zeroizing::new(body.dsmk.expose().to_vec());
        put_str8(&mut plain, &body.caller)?;
        plain.extend_from_slice(&body.expires.to_be_bytes());
        let wrapped = crypto::wrap(holder_cdsk.expose(), TICKET_LABEL, &Self::aad(&session_id, holder)?, &plain, rng);
        Ok(Ticket { session_id, holder: holder.to_owned(), wrapped })
    }

    /// `None` if the ticket does not open under `cdsk` (not ours, altered, or an old key).
    pub fn open(&self, cdsk: &Secret<32>) -> Option<TicketBody> {
        let plain = zeroize::Zeroizing::new(crypto::unwrap(
            cdsk.expose(),
            TICKET_LABEL,
            &Self::aad(&self.session_id, &self.holder).ok()?,
            &self.wrapped,
        )?);
        let mut r = Reader::new(&plain);
        let b = TicketBody {
            dsmk: Secret::new(r.take_array("DSMK").ok()?),
            caller: r.str8("caller").ok()?.to_owned(),
            expires: r.u64("expires").ok()?,
        };
        r.finish().ok()?;
        Some(b)
    }

    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = self.session_id.to_vec();
        put_str8(&mut out, &self.holder)?;
        put_bytes16(&mut out, &self.wrapped)?;
        Ok(out)
    }

    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let t = Ticket {
            session_id: r.take_array("session id")?,
            holder: r.str8("ticket holder")?.to_owned(),
            wrapped: r.bytes16("wrapped ticket")?.to_vec(),
        };
        r.finish()?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_round_trips_refuses_cut_or_longer_bytes_and_opens_only_for_its_holder() {
        let rng = crate::crypto::system_rng();
        let (k, other) = (Secret::new([1; 32]), Secret::new([2; 32]));
        let body = TicketBody { dsmk: Secret::new([3; 32]), caller: "alice".into(), expires: 1_796_218_337 };
        let t = Ticket::seal([4; 16], "bob", &k, &body, &rng).unwrap();
        let b = t.encode().unwrap();
        assert_eq!(Ticket::decode(&b).unwrap(), t);
        for n in 0..b.len() {
            assert!(Ticket::decode(&b[..n]).is_err(), "cut to {n}");
        }
        assert!(Ticket::decode(&[b.as_slice(), &[0]].concat()).is_err(), "a byte more");
        let opened = t.open(&k).unwrap();
        assert_eq!((opened.caller.as_str(), opened.expires, opened.dsmk.expose()), ("alice", 1_796_218_337, &[3; 32]));
        assert!(t.open(&other).is_none(), "another key");
        let moved = Ticket { holder: "carol".into(), ..t.clone() };
        assert!(moved.open(&k).is_none(), "the holder is bound");
        let renumbered = Ticket { session_id: [5; 16], ..t };
        assert!(renumbered.open(&k).is_none(), "the session id is bound");
    }
}
