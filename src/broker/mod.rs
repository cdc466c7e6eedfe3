//! AH-CDS (seeds 000/001 claims 14–20): a participant asks the CDS, wrapped in its CDSK, for a
//! session with a peer; the CDS makes a DSMK and answers the caller with it and a ticket for the
//! peer (the DSMK wrapped in the peer's CDSK), which the caller hands over in M1.

pub mod client;
pub mod msgs;
pub mod ticket;

pub use msgs::{SessionGrant, SessionRequest, TYPE_SESSION_GRANT, TYPE_SESSION_REQUEST};
pub use ticket::{Ticket, TicketBody};

/// Seconds a DSMK and its ticket stay valid (default).
pub const DEFAULT_TICKET_LIFE: u64 = 600;
