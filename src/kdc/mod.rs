//! The key distribution center of seed 003's first patent (Shambroom), living in the CDS: users
//! are principals whose key is derived from the password (Argon2id), hosts and gateways are
//! principals whose key is in a key table. A gateway logs a user in (a ticket-granting ticket
//! and the KDC session key: the credentials cache it hands to the client and forgets) and, for
//! each command, gets a service ticket for the host with the server session key.
//!
//! `msgs` holds the messages, `tickets` what is sealed inside them, `keytab` the key tables,
//! `client` the gateway's side of the exchanges.

pub mod client;
pub mod keytab;
pub mod msgs;
pub mod tickets;

pub use msgs::*;
pub use tickets::{CredentialsCache, TicketBody};

/// Seconds a ticket-granting ticket (and so a login) lasts.
pub const TGT_LIFE: u64 = 10 * 3600;
/// Seconds a service ticket lasts (one is fetched per command).
pub const SERVICE_TICKET_LIFE: u64 = 300;
/// The largest difference between a gateway's clock and the KDC's that an authenticator or a
/// pre-authentication may show.
pub const MAX_SKEW: u64 = 300;

/// The Argon2id costs of a new user principal: 64 MiB, 3 passes, one lane (RFC 9106's second
/// recommended option with one lane: the argon2 crate computes lanes one after another).
pub const DEFAULT_ARGON2: (u32, u32, u32) = (64 * 1024, 3, 1);

/// What kind of principal a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person: the key comes from a password.
    User,
    /// A managed host running `sslx-execd`: the key is in its key table.
    Host,
    /// An `sslx-gateway`: its key (in its key table) wraps what it asks the KDC.
    Gateway,
}

impl crate::db::Column for PrincipalKind {
    const COLUMN: &'static str = "principals.kind";
    const ALL: &'static [(Self, &'static str)] =
        &[(PrincipalKind::User, "user"), (PrincipalKind::Host, "host"), (PrincipalKind::Gateway, "gateway")];
}
