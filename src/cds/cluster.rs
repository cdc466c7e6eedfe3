//! Several CDS instances on one store (issue 16): who is on hook where, and the signals one
//! instance sends another.
//!
//! Each participant's hook is a connection to one instance; the store shared by all (PostgreSQL)
//! records which instance holds each (name, service) hook. A call reaching another instance
//! finds the callee's instance there and sends it a [`Signal::Ring`] (over the database's
//! `LISTEN/NOTIFY`); the ring names the caller's instance (its advertised address), the callee
//! answers there, and that instance splices. Mailbox notices, pushed tickets, a renewal's end of
//! the old key's hooks and a hook replaced by a newer one at another instance travel the same way.
//! Everything else an instance knows (registrations, requests, the call log, the mailbox's
//! index, rate-limit counters) is in the store already; replay protection needs nothing shared,
//! since every request binds the challenge of the connection it came on (PROTOCOL.md 2).

use crate::Result;
use std::future::Future;
use std::pin::Pin;

/// A future the cluster hands back (it runs on the store's runtime; awaited from any).
pub type ClusterFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What one instance asks another to do for a participant hooked there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Signal {
    /// Ring `name`'s `service` hook with this ring body (hex; it names where to answer).
    Ring { name: String, service: String, body: String },
    /// Push this AH-CDS ticket (hex) down each of `name`'s hooks.
    Ticket { name: String, ticket: String },
    /// A bundle waits for `name`: this mailbox notice body (hex) down its files hook.
    Notice { name: String, body: String },
    /// `name`'s `service` hook `hook` here was replaced by a newer one at another instance.
    Replaced { name: String, service: String, hook: u64 },
    /// `name`'s key was renewed: its hooks (opened with the old key) end.
    Rekeyed { name: String },
}

impl Signal {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a signal serializes")
    }

    pub fn decode(s: &str) -> Option<Signal> {
        serde_json::from_str(s).ok()
    }

    /// The signal as sent to `channel` at `now`: `hex(tag) "." time "." json`, the tag an
    /// HMAC-SHA256 under `key` of `channel ‖ 0 ‖ time ‖ 0 ‖ json`. Anyone who can connect to the
    /// database can NOTIFY any channel; only an instance with the key file can make a tag.
    pub fn seal(&self, key: &crate::crypto::Secret<32>, channel: &str, now: u64) -> String {
        let (json, t) = (self.encode(), now.to_string());
        let tag = crate::crypto::hmac_sha256(
            key.expose(),
            &[channel.as_bytes(), b"\0", t.as_bytes(), b"\0", json.as_bytes()],
        );
        format!("{}.{t}.{json}", hex::encode(tag))
    }

    /// A signal [`Signal::seal`] made for `channel`, if its tag verifies and its time is within
    /// `SIGNAL_WINDOW` of `now` (a recorded one replayed later is dropped).
    pub fn open(payload: &str, key: &crate::crypto::Secret<32>, channel: &str, now: u64) -> Option<Signal> {
        let (tag, rest) = payload.split_once('.')?;
        let (t, json) = rest.split_once('.')?;
        let want = crate::crypto::hmac_sha256(
            key.expose(),
            &[channel.as_bytes(), b"\0", t.as_bytes(), b"\0", json.as_bytes()],
        );
        let tag = hex::decode(tag).ok()?;
        if !crate::crypto::ct_eq(&tag, &want) || t.parse::<u64>().ok()?.abs_diff(now) > SIGNAL_WINDOW {
            return None;
        }
        Signal::decode(json)
    }
}

/// How far a signal's time may be from the receiver's clock (instances keep their clocks
/// right; a ring is answered within 15 s anyway).
pub const SIGNAL_WINDOW: u64 = 30;

/// Where signals for this instance go once it listens.
pub type SignalHandler = std::sync::Arc<dyn Fn(Signal) + Send + Sync>;

/// The instances of one CDS over a shared store, as one of them sees it.
pub trait Cluster: Send + Sync {
    /// The address participants reach this instance at (rings from here name it).
    fn address(&self) -> &str;
    /// Records that `name`'s `service` hook is `hook` at this instance; returns the instance and
    /// hook that held it before when that was another instance (to be told it was replaced).
    fn hook_up(&self, name: &str, service: &str, hook: u64) -> ClusterFuture<Result<Option<(String, u64)>>>;
    /// Forgets hook `hook` of `name`'s `service` at this instance (unless a newer one replaced it).
    fn hang_up(&self, name: &str, service: &str, hook: u64) -> ClusterFuture<Result<()>>;
    /// This instance stops (after its hooks ended): the others stop counting it as live and
    /// forget its hooks at once, rather than after the heartbeat's timeout.
    fn leave(&self) -> ClusterFuture<Result<()>>;
    /// The live instance other than this one where `name`'s `service` hook is up.
    fn find(&self, name: &str, service: &str) -> ClusterFuture<Result<Option<String>>>;
    /// The live instances other than this one where `name` has any hook up.
    fn instances_of(&self, name: &str) -> ClusterFuture<Result<Vec<String>>>;
    /// Sends `signal` to `instance`.
    fn send(&self, instance: &str, signal: Signal) -> ClusterFuture<Result<()>>;
    /// Starts listening for this instance's signals; each goes to `handler` (on the store's
    /// runtime: it must not block). A dropped listening connection is made again. The future
    /// resolves once the first is listening: an instance taking hooks before would miss their
    /// rings.
    fn listen(&self, handler: SignalHandler) -> ClusterFuture<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_their_encoding() {
        for s in [
            Signal::Ring { name: "bob".into(), service: "session".into(), body: "00ff".into() },
            Signal::Ticket { name: "bob".into(), ticket: "ab".into() },
            Signal::Notice { name: "bob".into(), body: "cd".into() },
            Signal::Replaced { name: "bob".into(), service: "files".into(), hook: 7 },
            Signal::Rekeyed { name: "bob".into() },
        ] {
            assert_eq!(Signal::decode(&s.encode()), Some(s));
        }
        assert_eq!(Signal::decode("{\"k\":\"launch\"}"), None);
    }

    #[test]
    fn a_signal_opens_only_with_its_key_on_its_channel_and_in_its_window() {
        let key = crate::crypto::Secret::from_slice(&[7; 32]).unwrap();
        let other = crate::crypto::Secret::from_slice(&[8; 32]).unwrap();
        let s = Signal::Rekeyed { name: "bob".into() };
        let p = s.seal(&key, "sslx_a", 1000);
        assert_eq!(Signal::open(&p, &key, "sslx_a", 1010), Some(s.clone()));
        assert_eq!(Signal::open(&p, &other, "sslx_a", 1010), None, "another key");
        assert_eq!(Signal::open(&p, &key, "sslx_b", 1010), None, "another channel");
        assert_eq!(Signal::open(&p, &key, "sslx_a", 1000 + SIGNAL_WINDOW + 1), None, "replayed late");
        let forged = p.replace("bob", "eve");
        assert_eq!(Signal::open(&forged, &key, "sslx_a", 1010), None, "changed");
        assert_eq!(Signal::open(&s.encode(), &key, "sslx_a", 1000), None, "no tag");
    }
}
