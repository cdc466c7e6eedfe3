//! Store-and-forward (PROTOCOL.md 5D.5), the participant's side: a bundle for a peer who is not
//! listening goes into its mailbox at the CDS; what waits in this participant's mailbox is
//! opened, kept for later or refused; the send log learns what became of deposited bundles.

use super::error::CourierError;
use super::log::{CourierLog, Direction, Outcome as LogOutcome, Via};
use super::transfer::{self, Got, SendSpec, Sent};
use super::tree::Destination;
use crate::relay::client::{DeliveryState, MailboxItem, Outcome};
use crate::session::endpoint::{Endpoint, Options};
use crate::{Error, ErrorKind, Result};
use ring::rand::SecureRandom;

/// A bundle's id: the first 8 bytes of its Challenge A (shown as 16 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleId(pub [u8; 8]);

impl BundleId {
    /// From the 16 hex digits the logs show.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(BundleId(id))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// How [`send_or_deposit`] delivered a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Live: through the CDS relay, or straight to the peer's listener.
    Live,
    /// Left in the peer's mailbox at the CDS, which keeps it until `expires`.
    Queued { expires: u64 },
}

/// Sends `spec` to its peer live, through the CDS (or `direct` to the address where the peer's
/// listener is); when the CDS says the peer is not listening and `mailbox` allows it, the bundle
/// goes to the peer's mailbox instead, `on_fallback` hearing the CDS's reason first. The
/// listener reached must be the peer `spec` names: another is refused before anything is sent.
pub fn send_or_deposit(
    ep: &Endpoint,
    spec: &SendSpec<'_>,
    direct: Option<&str>,
    mailbox: bool,
    on_fallback: &mut dyn FnMut(&str),
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<(Sent, Delivered)> {
    let target = match direct {
        Some(d) => format!("{}@{}", spec.peer, d.split_once('@').map_or(d, |(_, addr)| addr)),
        None => spec.peer.to_owned(),
    };
    let opts = Options { service: crate::relay::service::FILES.into(), ..Options::default() };
    match ep.dial(&target, &opts, rng) {
        Ok((session, conn)) => {
            if session.summary.peer != spec.peer {
                let (said, expected) = (session.summary.peer, spec.peer.to_owned());
                return Err(CourierError::ListenerIsAnother { target, said, expected }.into());
            }
            let ch = super::channel::Channel::new(session, conn);
            // A live transfer the recipient refused for a reason of its own that it can mend (a
            // name that exists where it receives) goes to its mailbox instead of being lost.
            let refused_live =
                |code: &u16| mailbox && direct.is_none() && *code == crate::wire::RefusalCode::NameTaken as u16;
            let goes_elsewhere = |e: &Error| matches!(e, Error::PeerRefused { code, .. } if refused_live(code));
            let via = if direct.is_some() { Via::Direct } else { Via::Relay };
            match transfer::send_live_or(&ep.home, ch, spec, via, rng, progress, &goes_elsewhere) {
                Ok(sent) => Ok((sent, Delivered::Live)),
                Err(Error::PeerRefused { peer, code, reason }) if refused_live(&code) => {
                    let what = format!(
                        "{peer}'s sslx recv refused it ({reason}): {peer} must move that away, then run \
                         `sslx recv --from-mailbox`, or receive with --on-conflict rename"
                    );
                    on_fallback(&what);
                    let (sent, expires) = deposit(ep, spec, rng, progress)?;
                    Ok((sent, Delivered::Queued { expires }))
                }
                Err(e) => Err(e),
            }
        }
        Err(Error::Refused { code, reason })
            if code == crate::wire::RefusalCode::NotListening as u16 && direct.is_none() && mailbox =>
        {
            on_fallback(&reason);
            let (sent, expires) = deposit(ep, spec, rng, progress)?;
            Ok((sent, Delivered::Queued { expires }))
        }
        // Busy after the retries: the bundle waits in the mailbox, which a busy recv collects
        // once a transfer ends.
        Err(Error::PeerRefused { code, reason, .. })
            if code == crate::wire::RefusalCode::RateLimited as u16 && direct.is_none() && mailbox =>
        {
            on_fallback(&reason);
            let (sent, expires) = deposit(ep, spec, rng, progress)?;
            Ok((sent, Delivered::Queued { expires }))
        }
        Err(e) => Err(e),
    }
}

/// Writes the offline bundle to a temp file, then deposits it in the peer's mailbox at the
/// CDS; returns what was sent and when the CDS will drop it. A failed deposit is logged as
/// failed (the send log has the bundle as queued until then).
pub fn deposit(
    ep: &Endpoint,
    spec: &SendSpec<'_>,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<(Sent, u64)> {
    use std::io::Seek;
    let tmp = tempfile::tempfile().map_err(|e| Error::io("creating a temp file for the bundle", e))?;
    let out = std::io::BufWriter::with_capacity(256 * 1024, tmp);
    // Interrupted until the CDS has it (a Ctrl-C during the upload queued nothing).
    let (out, sent) =
        transfer::send_offline(&ep.home, out, spec, Via::Mailbox, LogOutcome::Interrupted, rng, progress)?;
    let mut file = out.into_inner().map_err(|e| Error::io("writing the bundle", e.into_error()))?;
    file.rewind().map_err(|e| Error::io("rewinding the bundle", e))?;
    let id = BundleId::from_hex(&sent.bundle).expect("bundle ids are 16 hex digits");
    match crate::relay::client::deposit(&ep.cds, &ep.name, &ep.cdsk(), spec.peer, &id.0, &mut file, rng) {
        Ok(expires) => {
            CourierLog::open(&ep.home)?.set_sent_result(&sent.bundle, LogOutcome::Queued, "")?;
            Ok((sent, expires))
        }
        Err(e) => {
            CourierLog::open(&ep.home)?.set_sent_result(&sent.bundle, LogOutcome::Failed, &e.to_string())?;
            Err(e)
        }
    }
}

/// What `collect` tells its caller about each bundle.
pub trait CollectEvents {
    /// A bundle from `item.sender` is being opened: bytes so far and in all.
    fn progress(&mut self, item: &MailboxItem, done: u64, total: u64);
    /// It was opened into the destination.
    fn opened(&mut self, got: &Got);
    /// It could not be opened: kept in the mailbox for later (`kept`), or refused for good.
    fn failed(&mut self, item: &MailboxItem, error: &Error, kept: bool);
}

/// What to answer the CDS for a bundle that did not open: a proof that failed (altered,
/// replayed, not from its depositor) is refused for good; anything else (a name that exists,
/// a full disk, a sender not paired yet) is kept for a later collection.
pub fn outcome_of_failure(e: &Error) -> Outcome {
    if e.kind() == ErrorKind::VerifyFailed {
        Outcome::Refused
    } else {
        Outcome::Keep
    }
}

/// Opens what waits in this participant's mailbox into `into`; returns how many bundles were
/// opened. When none opened and one failed, that failure is the error.
pub fn collect(
    ep: &Endpoint,
    into: &Destination,
    rng: &dyn SecureRandom,
    events: &mut dyn CollectEvents,
) -> Result<usize> {
    let mut failed = None;
    let n = crate::relay::client::collect(&ep.cds, &ep.name, &ep.cdsk(), rng, |item, bytes| {
        let from = Some(item.sender.as_str());
        let mut progress = |done, total| events.progress(item, done, total);
        match transfer::recv_offline(&ep.home, &ep.name, bytes, into, Via::Mailbox, from, &mut progress) {
            Ok(g) => {
                events.opened(&g);
                Outcome::Opened
            }
            Err(e) => {
                let outcome = outcome_of_failure(&e);
                events.failed(item, &e, outcome == Outcome::Keep);
                failed = Some(e);
                outcome
            }
        }
    })?;
    match failed {
        Some(e) if n == 0 => Err(e),
        _ => Ok(n),
    }
}

/// Asks the CDS what became of the bundles the send log has as queued, and records the
/// answers (delivered, refused, expired); returns how many entries changed.
pub fn refresh_queued(ep: &Endpoint, rng: &dyn SecureRandom) -> Result<usize> {
    let log = CourierLog::open(&ep.home)?;
    let queued: Vec<(String, BundleId)> = log
        .list(Some(Direction::Sent))?
        .into_iter()
        .filter(|e| e.result == LogOutcome::Queued)
        .filter_map(|e| BundleId::from_hex(&e.bundle).map(|id| (e.bundle, id)))
        .collect();
    if queued.is_empty() {
        return Ok(0);
    }
    let ids: Vec<[u8; 8]> = queued.iter().map(|(_, id)| id.0).collect();
    let states = crate::relay::client::status(&ep.cds, &ep.name, &ep.cdsk(), &ids, rng)?;
    let mut changed = 0;
    for ((bundle, _), (_, state, time)) in queued.iter().zip(states) {
        let (result, detail) = match state {
            DeliveryState::Delivered => (LogOutcome::Delivered, format!("collected {}", crate::clock::fmt_time(time))),
            DeliveryState::Refused => (LogOutcome::Failed, "the recipient refused it".to_owned()),
            DeliveryState::Expired => (LogOutcome::Failed, "expired in the mailbox".to_owned()),
            DeliveryState::Queued | DeliveryState::Unknown => continue,
        };
        changed += log.set_sent_result(bundle, result, &detail)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_ids_round_trip_and_reject_what_is_not_16_hex_digits() {
        let id = BundleId::from_hex("4cd80957d66f8220").unwrap();
        assert_eq!(id.0, [0x4c, 0xd8, 0x09, 0x57, 0xd6, 0x6f, 0x82, 0x20]);
        assert_eq!(id.to_hex(), "4cd80957d66f8220");
        for bad in ["", "4cd80957d66f822", "4cd80957d66f82200", "4cd80957d66f822g"] {
            assert_eq!(BundleId::from_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bundle_that_fails_a_proof_is_refused_and_anything_else_is_kept() {
        assert_eq!(outcome_of_failure(&Error::VerifyFailed("altered".into())), Outcome::Refused);
        assert_eq!(outcome_of_failure(&Error::Usage("a name already exists".into())), Outcome::Keep);
        assert_eq!(outcome_of_failure(&Error::NotFound("not paired".into())), Outcome::Keep);
    }
}
