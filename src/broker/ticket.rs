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
