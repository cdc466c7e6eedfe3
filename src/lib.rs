//! sslx: trust between machines over a public network.
//!
//! One module per protocol, over shared pieces: `wire` (frames), `crypto` (the primitives of
//! DESIGN.md's "Crypto mapping"), `keys` (key lines, identity, keystore),
//! `db` (the SQLite files and their versioned schemas). The binaries in
//! `src/bin/` parse arguments, call into here, and print.

pub mod broker;
pub mod cds;
pub mod cli;
pub mod clock;
pub mod courier;
pub mod crypto;
pub mod db;
pub mod enrollment;
pub mod error;
pub mod execd;
pub mod gateway;
pub mod kdc;
pub mod keys;
pub mod net;
pub mod relay;
pub mod remote;
pub mod session;
pub mod token;
pub mod vsu;
pub mod wire;

pub use error::{Error, ErrorKind, Result};
