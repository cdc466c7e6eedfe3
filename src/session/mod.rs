//! Sessions between participants: the seed-002 handshake and its record layer.
//!
//! M1 (client → server) and M2 (server → client) have the same format: key reference, nonces,
//! optional X25519 ephemeral, names. The master key comes from the pre-shared key (a DSMK from
//! the CDS, or a cached master key when resuming) and the transcript; each direction has its own
//! key. M3 and M4 are ordinary records carrying finished values; the last record of a direction
//! is flagged final inside its authenticated header, so closing the socket ends the session and
//! a cut-off stream is an error. `handshake` is I/O-free; `io` runs it over a blocking stream.

pub mod admission;
pub mod allow;
pub mod cache;
pub mod endpoint;
pub mod error;
pub mod exec;
pub mod handshake;
pub mod io;
pub mod keys;
pub mod msgs;
pub mod record;

pub use error::SessionError;
pub use handshake::{client_start, server_accept, ClientAwaitM2, HandshakeSummary, Session};
pub use msgs::{KeyRef, Suite, M1, M2};
pub use record::{RecordError, RecordReceiver, RecordSender, MAX_RECORD_PLAINTEXT};
