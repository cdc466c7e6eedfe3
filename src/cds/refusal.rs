//! A refusal the CDS sends (PROTOCOL.md 5.7): its code and the reason the client prints.

use crate::wire::{RefusalCode, Refused};

/// The reason every internal failure is refused with.
pub const INTERNAL_REASON: &str = "CDS internal error (the CDS's log has the detail)";

/// A refusal with its reason, as the client will print it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Self {
        Refusal { code, reason: reason.into() }
    }

    /// A failure of the CDS's own (its database, its disk): the detail goes to the CDS's log,
    /// the peer gets one generic reason (file names, SQL and paths are not the peer's business).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        log::error!("internal error: {e}");
        Refusal::new(RefusalCode::Internal, INTERNAL_REASON)
    }
    pub fn to_msg(&self, now: u64) -> Refused {
        Refused { code: self.code as u16, server_time: now, reason: self.reason.clone() }
    }
    /// The refused frame, stamped with the CDS's clock.
    pub fn frame(&self, now: u64) -> Vec<u8> {
        self.to_msg(now).frame()
    }
}
