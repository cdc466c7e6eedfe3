//! The Common Directory Server: registrar (VSU), key broker (AH-CDS), relay and call log,
//! store-and-forward mailbox.
//!
//! `store` keeps state in SQLite; `registrar` holds the VSU rules, free of I/O but the store;
//! `mail` and `oob` deliver replies B and C; `serve` runs the TCP protocol listener and the
//! public HTTP side (standing).

pub mod broker;
pub mod cluster;
pub mod conn;
pub mod kdc;
pub mod limits;
pub mod mail;
pub mod mailbox;
pub mod oob;
pub mod refusal;
pub mod registrar;
pub mod relay;
pub mod serve;
pub mod standing;
pub mod store;
pub mod switchboard;

pub use registrar::{RateLimits, Registrar, RegistrarConfig};
pub use serve::{serve, Cds, CdsConfig};
pub use store::{SqliteStore, Store};
