//! The relay's switchboard (seed 004's call manager): who is on hook, which calls wait for their
//! callee's answer, and the long-lived streams each participant holds. The handlers that use it
//! are in `relay` and `mailbox`.

use super::cluster::Signal;
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
    /// A mailbox notice body (`relay::NoticeBody`): a bundle waits for the recipient.
    Notice(Vec<u8>),
    /// A newer hook of the same name and service took this one's place: say so and end.
    Replaced,
    /// The participant's CDSK was renewed: the hook (opened with the old key) ends without a
    /// word, and the participant hooks again with the new key.
    Rekeyed,
}

/// `name` has `MAX_SERVICES_ON_HOOK` other services on hook: this one was not put up.
pub(super) struct AllServicesTaken;

/// A participant on hook: which hook (a newer one for the same service replaces it) and where
/// its messages go.
pub(super) type HookEntry = (u64, mpsc::Sender<HookMsg>);
/// Services one participant may have on hook at once (each hook is a connection the CDS keeps).
pub const MAX_SERVICES_ON_HOOK: usize = 8;
/// A call waiting for its callee's answer: the callee, and where its answering socket goes.
pub(super) type PendingCall = (String, oneshot::Sender<TcpStream>);

/// Who is on hook and which calls wait for an answer.
pub struct Relay {
    /// Per participant, its hooks by service.
    hooks: Mutex<HashMap<String, HashMap<String, HookEntry>>>,
    pub(super) pending: Mutex<HashMap<[u8; 16], PendingCall>>,
    pub(super) next_hook: AtomicU64,
    /// Refuse calls from an address other than the caller's registered source.
    pub source_check: bool,
    /// Store-and-forward: where bundles wait, and the limits.
    pub mailbox: super::limits::MailboxConfig,
    /// Long-lived streams (calls, deposits, collects) held per participant and in all.
    pub streams: Arc<super::limits::Tally<String>>,
    /// Set when the CDS stops: every hook ends (its callee puts it up again elsewhere or later).
    pub(super) closing: Closing,
    /// The other instances over the same store, when there are (PostgreSQL): where their
    /// participants are on hook, and how to signal them.
    pub cluster: Option<Arc<dyn super::cluster::Cluster>>,
    /// Signals to other instances under way (a notice, a pushed ticket, a renewal's end of
    /// hooks): past `SIGNALS_IN_FLIGHT` a new one is dropped, as a full hook queue drops it, so a
    /// flood of session requests cannot queue work without bound.
    signals: Arc<tokio::sync::Semaphore>,
}

/// Signals to other instances under way at once, at most.
pub const SIGNALS_IN_FLIGHT: usize = 256;

/// The stop signal hooks watch.
pub(super) struct Closing(pub(super) tokio::sync::watch::Sender<bool>);

impl Default for Relay {
    fn default() -> Self {
        Relay {
            hooks: Default::default(),
            pending: Default::default(),
            next_hook: Default::default(),
            source_check: false,
            mailbox: Default::default(),
            streams: Default::default(),
            closing: Default::default(),
            cluster: None,
            signals: Arc::new(tokio::sync::Semaphore::new(SIGNALS_IN_FLIGHT)),
        }
    }
}

impl Default for Closing {
    fn default() -> Self {
        Closing(tokio::sync::watch::channel(false).0)
    }
}

impl Relay {
    pub fn new(source_check: bool) -> Self {
        Relay { source_check, ..Default::default() }
    }

    /// Ends every hook (the CDS is stopping): their connections close, and callees hook again.
    pub fn close_hooks(&self) {
        self.closing.0.send_replace(true);
    }

    /// Tells `recipient`'s `files` hook (if up, and its queue has room) that a bundle waits;
    /// a hook at another instance is told through it.
    pub fn notify_deposit(&self, recipient: &str, body: Vec<u8>) {
        if let Some(tx) = self.line(recipient, crate::relay::service::FILES) {
            let _ = tx.try_send(HookMsg::Notice(body));
            return;
        }
        if let Some((cl, permit)) = self.signal_slot() {
            let name = recipient.to_owned();
            tokio::spawn(async move {
                let _permit = permit;
                if let Ok(Some(at)) = cl.find(&name, crate::relay::service::FILES).await {
                    let _ = cl.send(&at, Signal::Notice { name, body: hex::encode(body) }).await;
                }
            });
        }
    }

    /// Pushes a ticket down each of `peer`'s hooks (the caller's call will name one of them),
    /// never waiting, here and at the other instances where `peer` has hooks: `false` if none
    /// here took it.
    pub fn push_ticket(&self, peer: &str, ticket: Vec<u8>) -> bool {
        if let Some((cl, permit)) = self.signal_slot() {
            let (name, t) = (peer.to_owned(), hex::encode(&ticket));
            tokio::spawn(async move {
                let _permit = permit;
                for at in cl.instances_of(&name).await.unwrap_or_default() {
                    let _ = cl.send(&at, Signal::Ticket { name: name.clone(), ticket: t.clone() }).await;
                }
            });
        }
        self.push_ticket_here(peer, ticket)
    }

    /// The cluster and a place for one more signal under way, if there is a cluster and room.
    fn signal_slot(&self) -> Option<(Arc<dyn super::cluster::Cluster>, tokio::sync::OwnedSemaphorePermit)> {
        let cl = self.cluster.clone()?;
        let permit = self.signals.clone().try_acquire_owned().ok()?;
        Some((cl, permit))
    }

    fn push_ticket_here(&self, peer: &str, ticket: Vec<u8>) -> bool {
        let txs: Vec<_> =
            self.hooks.lock().unwrap().get(peer).into_iter().flatten().map(|(_, (_, tx))| tx.clone()).collect();
        txs.iter().filter(|tx| tx.try_send(HookMsg::Ticket(ticket.clone())).is_ok()).count() > 0
    }

    /// Ends every hook of `name` (its key was renewed), each as soon as its queue takes the word,
    /// here and at the other instances.
    pub fn rekeyed(&self, name: &str) {
        if let Some((cl, permit)) = self.signal_slot() {
            let name = name.to_owned();
            tokio::spawn(async move {
                let _permit = permit;
                for at in cl.instances_of(&name).await.unwrap_or_default() {
                    let _ = cl.send(&at, Signal::Rekeyed { name: name.clone() }).await;
                }
            });
        }
        self.rekeyed_here(name);
    }

    fn rekeyed_here(&self, name: &str) {
        for (_, (_, tx)) in self.hooks.lock().unwrap().get(name).into_iter().flatten() {
            let _ = tx.try_send(HookMsg::Rekeyed);
        }
    }

    /// A signal from another instance, for a participant on hook here (never waits: a full
    /// queue drops it, as a local one would be).
    pub fn on_signal(&self, s: Signal) {
        match s {
            Signal::Ring { name, service, body } => {
                if let (Some(tx), Ok(body)) = (self.line(&name, &service), hex::decode(body)) {
                    let _ = tx.try_send(HookMsg::Ring(body));
                }
            }
            Signal::Ticket { name, ticket } => {
                if let Ok(t) = hex::decode(ticket) {
                    self.push_ticket_here(&name, t);
                }
            }
            Signal::Notice { name, body } => {
                if let (Some(tx), Ok(body)) = (self.line(&name, crate::relay::service::FILES), hex::decode(body)) {
                    let _ = tx.try_send(HookMsg::Notice(body));
                }
            }
            Signal::Replaced { name, service, hook } => {
                // Let go of it as a newer local hook would: told why, or (its queue full) its
                // sender dropped, which it takes for the same.
                let older = {
                    let mut hooks = self.hooks.lock().unwrap();
                    let Some(services) = hooks.get_mut(&name) else { return };
                    let older = match services.get(&service) {
                        Some((i, _)) if *i == hook => services.remove(&service),
                        _ => None,
                    };
                    if services.is_empty() {
                        hooks.remove(&name);
                    }
                    older
                };
                if let Some((_, tx)) = older {
                    let _ = tx.try_send(HookMsg::Replaced);
                }
            }
            Signal::Rekeyed { name } => self.rekeyed_here(&name),
        }
    }

    /// How many participants have a hook now (whatever the services).
    pub fn on_hook_count(&self) -> usize {
        self.hooks.lock().unwrap().len()
    }

    /// Puts hook `entry` up for `name`'s `service`, replacing an older one of that service
    /// (returned: where to tell it); nothing changes when `name` has `MAX_SERVICES_ON_HOOK`
    /// other services up.
    pub(super) fn hook_up(
        &self,
        name: &str,
        service: &str,
        entry: HookEntry,
    ) -> Result<Option<mpsc::Sender<HookMsg>>, AllServicesTaken> {
        let mut hooks = self.hooks.lock().unwrap();
        let services = hooks.entry(name.to_owned()).or_default();
        if !services.contains_key(service) && services.len() >= MAX_SERVICES_ON_HOOK {
            return Err(AllServicesTaken);
        }
        Ok(services.insert(service.to_owned(), entry).map(|(_, tx)| tx))
    }

    /// Takes hook `id` of `name`'s `service` down, unless a newer hook replaced it (here or,
    /// for the other instances' record of it, anywhere).
    pub(super) fn hang_up(&self, name: &str, service: &str, id: u64) {
        if let Some(cl) = &self.cluster {
            drop(cl.hang_up(name, service, id)); // runs on without being awaited
        }
        let mut hooks = self.hooks.lock().unwrap();
        let Some(services) = hooks.get_mut(name) else { return };
        if services.get(service).is_some_and(|(i, _)| *i == id) {
            services.remove(service);
        }
        if services.is_empty() {
            hooks.remove(name);
        }
    }

    /// Where a ring for `name`'s `service` goes, if that hook is up.
    pub(super) fn line(&self, name: &str, service: &str) -> Option<mpsc::Sender<HookMsg>> {
        self.hooks.lock().unwrap().get(name)?.get(service).map(|(_, tx)| tx.clone())
    }
}
