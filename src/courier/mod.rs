//! Secure courier (seed 004): pairing with a short string read over the phone, then files sent
//! as compressed, encrypted, HMAC-proven bundles, live through the CDS relay or offline as a
//! file, with send and receive logs. Byte layouts: docs/PROTOCOL.md "Courier".

pub mod armor;
pub mod bundle;
pub mod channel;
pub mod error;
pub mod fanout;
pub mod inbox;
pub mod log;
pub mod mailbox;
pub mod msgs;
pub mod pair;
pub mod payload;
pub mod proofs;
pub mod resume;
pub mod transfer;
pub mod tree;

pub use crate::keys::{load_pair_key, paired_peers, save_pair_key};
pub use error::CourierError;
pub use msgs::BundleSuite;
pub use transfer::{Channel, Got, SendSpec, Sent};
