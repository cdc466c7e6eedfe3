//! Verified setup (VSU) of a participant with a CDS: seeds 000/001, claims 1–13.
//!
//! `msgs` holds the messages (open request, replies A/B/C, confirmation, confirmed, denied,
//! refused, and the renewal's four); `assemble` undoes the two offsets and yields the CDSK;
//! `renew` renews a CDSK before it expires; `client` talks to the CDS.

pub mod assemble;
pub mod client;
pub mod msgs;
pub mod renew;
pub mod standing;

pub use assemble::{assemble_cdsk, normalize_pin, Cdsk};
pub use msgs::*;

/// The authentication-request value that marks an open request as a verified setup of a DS.
pub const AR_VSU_DS: &str = "VSU-DS";
