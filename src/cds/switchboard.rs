//! The relay's switchboard (seed 004's call manager): who is on hook, which calls wait for their
//! callee's answer, and the long-lived streams each participant holds. The handlers that use it
//! are in `relay` and `mailbox`.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// What goes down a hook.
pub(super) enum HookMsg {
    /// A ring body: `[16] call id ‖ str8 caller`.
    Ring(Vec<u8>),
    /// An AH-CDS ticket for the participant (AC-CDS2 pushed).
    Ticket(Vec<u8>),
}

/// A participant on hook: which hook (a newer one for the same service replaces it) and where
/// its messages go.
pub(super) type HookEntry = (u64, mpsc::Sender<HookMsg>);
/// A hook's key: the participant and the service it answers for.
pub(super) type HookKey = (String, String);
/// Services one participant may have on hook at once (each hook is a connection the CDS keeps).
pub const MAX_SERVICES_ON_HOOK: usize = 8;
/// A call waiting for its callee's answer: the callee, and where its answering socket goes.
pub(super) type PendingCall = (String, oneshot::Sender<TcpStream>);

/// Who is on hook and which calls wait for an answer.
#[derive(Default)]
pub struct Relay {
    pub(super) hooks: Mutex<HashMap<HookKey, HookEntry>>,
    pub(super) pending: Mutex<HashMap<[u8; 16], PendingCall>>,
    pub(super) next_hook: AtomicU64,
    /// Refuse calls from an address other than the caller's registered source.
    pub source_check: bool,
    /// Store-and-forward: where bundles wait, and the limits.
    pub mailbox: super::limits::MailboxConfig,
    /// Long-lived streams (calls, deposits, collects) held per participant and in all.
    pub streams: Arc<super::limits::Tally<String>>,
}

impl Relay {
    pub fn new(source_check: bool) -> Self {
        Relay { source_check, ..Default::default() }
    }

    /// Pushes a ticket down each of `peer`'s hooks (the caller's call will name one of them),
    /// never waiting: `false` if it is on none or every queue is full.
    pub fn push_ticket(&self, peer: &str, ticket: Vec<u8>) -> bool {
        let txs: Vec<_> =
            self.hooks.lock().unwrap().iter().filter(|((n, _), _)| n == peer).map(|(_, (_, tx))| tx.clone()).collect();
        txs.iter().filter(|tx| tx.try_send(HookMsg::Ticket(ticket.clone())).is_ok()).count() > 0
    }

    /// How many participants have a hook now (whatever the services).
    pub fn on_hook_count(&self) -> usize {
        let hooks = self.hooks.lock().unwrap();
        hooks.keys().map(|(n, _)| n).collect::<std::collections::HashSet<_>>().len()
    }
}
