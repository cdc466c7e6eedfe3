//! Remote execution on a managed host (seed 003, first patent): `sslx-execd` takes a gateway's
//! connection, proves the KDC service ticket with the seed-002 handshake, checks the command
//! against its ACL and runs it, its input and outputs in the session's records (PROTOCOL.md 5H).
//! `client` is the gateway's side.

pub mod acl;
pub mod audit;
pub mod client;
pub mod host;
pub mod msgs;

pub use msgs::{ExecCommand, ExecDecision};
