//! The call manager of seed 004 (Fig. 4), as sslx's relay in the CDS: a callee stays reachable
//! "on hook" over a connection to the CDS; a caller names the callee *encrypted* (wrapped in its
//! CDSK); the CDS checks both accounts and the caller's registered source (the seed's ANI check),
//! rings the callee, which answers on a new connection, and splices the two, logging the call.
//! The relay only ever sees the session's ciphertext.

pub mod client;
pub mod msgs;

pub use msgs::*;

/// Seconds the CDS waits for a rung callee to answer.
pub const ANSWER_TIMEOUT_SECS: u64 = 15;
