//! The registrar's rules for the verified setup (claims 1, 6, 7): what an open request must
//! hold, request expiry, bounded confirmation attempts, who may enroll a registered name.
//! The clock is an argument; delivery of replies B and C is the caller's.

use super::store::{Confirmation, Limit, Participant, RequestRow, RequestStatus, Store};
use crate::crypto::{self, Secret};
use crate::keys::check_name;
use crate::vsu::assemble::{self, Replies, ReplyParams};
use crate::vsu::*;
use crate::wire::{RefusalCode, CHALLENGE_LEN};
use ring::rand::SecureRandom;

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Seconds an open request may wait for its confirmation (default 24 h).
    pub request_ttl: u64,
    /// Failed confirmations before a request is dead (default 3).
    pub max_attempts: u32,
    /// Seconds a confirmed CDSK stays valid (default 365 days).
    pub key_life: u64,
    /// Hex digits in a PIN, 4–6 (default 6).
    pub pin_digits: usize,
    /// The public HTTP base URL announced in reply A.
    pub cds_http: String,
    /// The protocol addresses announced in reply A, which participants remember (several
    /// instances: comma-separated); empty: none (they keep the one they enrolled through).
    pub cds_addresses: String,
    /// How many open requests (each one an email and an out-of-band message) may come from one
    /// source, for one email address, and for one out-of-band destination.
    pub limits: RateLimits,
}

/// Limits on open requests, the only unauthenticated requests that make the CDS send
/// anything. `None`: no limit of that kind.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per source address (an IPv6 source counts by its /64).
    pub per_source: Option<Limit>,
    /// Per mailbox (lowercased, a `+tag` dropped).
    pub per_email: Option<Limit>,
    /// Per out-of-band destination: a mailbox as above, a phone number whatever the scheme
    /// (`sms:`, `voice:`), a webhook by its host.
    pub per_oob: Option<Limit>,
    /// All open requests together.
    pub total: Option<Limit>,
    /// All texts and voice calls together (they cost money).
    pub phone_total: Option<Limit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_source: Some(Limit { count: 30, window: 3600 }),
            per_email: Some(Limit { count: 10, window: 3600 }),
            per_oob: Some(Limit { count: 10, window: 3600 }),
            total: Some(Limit { count: 1000, window: 3600 }),
            phone_total: Some(Limit { count: 100, window: 3600 }),
        }
    }
}

impl RateLimits {
    /// No limits at all (tests, benches, a closed network).
    pub fn off() -> Self {
        RateLimits { per_source: None, per_email: None, per_oob: None, total: None, phone_total: None }
    }

    /// The longest window (how long rate events are kept).
    pub fn longest_window(&self) -> u64 {
        [self.per_source, self.per_email, self.per_oob, self.total, self.phone_total]
            .iter()
            .flatten()
            .map(|l| l.window)
            .max()
            .unwrap_or(0)
    }
}

/// A mailbox as it counts in the limits: lowercased, a `+tag` in its local part dropped
/// (`Alice+1@Example.com` and `alice@example.com` are one mailbox).
pub fn mailbox_key(addr: &str) -> String {
    let a = addr.trim().to_ascii_lowercase();
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(l, _)| l);
            format!("{local}@{domain}")
        }
        None => a,
    }
}

/// An out-of-band destination as it counts in the limits: `mailbox:` as `mailbox_key`,
/// `phone:` the number for `sms:` and `voice:` alike, `webhook:` the URL's host as the URL
/// standard normalises it (lower case, IDNA to punycode, IPv4 forms canonical), without a
/// trailing dot (its paths, ports, queries and scheme are one destination), else `uri:` and
/// the URI lowercased.
pub fn destination_key(uri: &str) -> String {
    let uri = uri.trim();
    let (scheme, rest) = uri.split_once(':').unwrap_or(("", uri));
    match scheme.to_ascii_lowercase().as_str() {
        "mailto" => format!("mailbox:{}", mailbox_key(rest)),
        "sms" | "voice" => format!("phone:{}", rest.trim()),
        "https" | "http" => match url::Url::parse(uri).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)) {
            Some(host) => format!("webhook:{}", host.strip_suffix('.').unwrap_or(&host)),
            None => format!("uri:{}", uri.to_ascii_lowercase()),
        },
        _ => format!("uri:{}", uri.to_ascii_lowercase()),
    }
}

/// `N/PERIOD` as given on the command line: `30/h`, `10/1h`, `100/d`, `5/90m`; `off` for none.
pub fn parse_limit(s: &str) -> std::result::Result<Option<Limit>, String> {
    if s.trim() == "off" {
        return Ok(None);
    }
    let (n, per) = s.split_once('/').ok_or_else(|| format!("{s:?}: give N/PERIOD, like 30/h (or off)"))?;
    let count: u32 = n.trim().parse().map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit()) { per.to_owned() } else { format!("1{per}") };
    let window = crate::clock::parse_duration(&per).map_err(|e| format!("{s:?}: {e}"))?;
    if count == 0 || window == 0 {
        return Err(format!("{s:?}: a limit needs a count and a period above 0 (or off)"));
    }
    Ok(Some(Limit { count, window }))
}

/// The key a source address counts under: the address, or its /64 for IPv6.
fn source_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("source:{v4}"),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("source:{v4}"),
            None => {
                let s = v6.segments();
                format!("source:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn human_secs(s: u64) -> String {
    match s {
        0..=90 => format!("{s} s"),
        91..=5400 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h", s.div_ceil(3600)),
    }
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            request_ttl: 24 * 3600,
            max_attempts: 3,
            key_life: 365 * 24 * 3600,
            pin_digits: 6,
            cds_http: String::new(),
            cds_addresses: String::new(),
            limits: RateLimits::default(),
        }
    }
}

pub struct Registrar {
    pub store: Box<dyn Store>,
    pub cfg: RegistrarConfig,
    sign_seed: Secret<32>,
    /// The KDC's own key (5F), read once.
    kdc_key: Secret<32>,
}

pub use super::refusal::Refusal;

/// The kind of out-of-band channel a URI names, as recorded in standing.
pub fn channel_kind(uri: &str) -> &str {
    match uri.split_once(':').map(|(s, _)| s) {
        Some("http") | Some("https") => "webhook",
        Some(s) => s,
        None => "unknown",
    }
}

/// What the registrar hands back for an accepted open request.
pub struct Opened {
    pub request_id: RequestId,
    pub replies: Replies,
    pub email: String,
    pub oob: String,
}

/// What the registrar answers a confirmation with.
pub enum ConfirmOutcome {
    Confirmed(Confirmed, Participant),
    Denied(Denied, u8),
}

impl Registrar {
    pub fn new(store: Box<dyn Store>, cfg: RegistrarConfig, rng: &dyn SecureRandom) -> crate::Result<Self> {
        let sign_seed = store.sign_seed(rng)?;
        let kdc_key = store.kdc_key(rng)?;
        Ok(Registrar { store, cfg, sign_seed, kdc_key })
    }

    /// The KDC's key, which seals ticket-granting tickets.
    pub fn kdc_key(&self) -> &Secret<32> {
        &self.kdc_key
    }

    pub fn sign_key(&self) -> [u8; 32] {
        crypto::ed25519_public(self.sign_seed.expose())
    }

    /// Checks an open request that arrived on the connection with `challenge` from `source`,
    /// counts it against the rate limits, prepares its out-of-band channel (`prepare(uri,
    /// email)`: the channel's own checks, a webhook's lookup), then makes the CDSK and PIN,
    /// records the request, and returns the three replies for delivery with the prepared channel.
    #[allow(clippy::too_many_arguments)]
    pub fn open<T>(
        &self,
        req: &OpenRequest,
        challenge: &[u8; CHALLENGE_LEN],
        source: Option<std::net::IpAddr>,
        now: u64,
        prepare: impl FnOnce(&str, &str) -> Result<T, String>,
        rng: &dyn SecureRandom,
    ) -> Result<(Opened, T), Refusal> {
        use RefusalCode::*;
        if req.ar != AR_VSU_DS {
            return Err(Refusal::new(
                BadRequest,
                format!("authentication-request value {:?} is not {AR_VSU_DS}", req.ar),
            ));
        }
        check_name(&req.name).map_err(|e| Refusal::new(BadRequest, e.to_string()))?;
        if req.email.len() > 254 || req.email.parse::<lettre::Address>().is_err() {
            return Err(Refusal::new(BadRequest, format!("{:?} is not an email address", req.email)));
        }
        if !req.signature_valid(challenge) {
            return Err(Refusal::new(
                BadSignature,
                "the open request's signature does not verify (for this connection's challenge)",
            ));
        }
        let mut prior_ed25519 = None;
        if let Some(p) = self.store.participant(&req.name).map_err(Refusal::internal)? {
            let same_key = crypto::ct_eq(&p.ed25519, &req.public.ed25519);
            let proven = req.proof.is_some_and(|proof| {
                req.signed_bytes(challenge).is_ok_and(|m| crypto::ed25519_verify(&p.ed25519, &m, &proof))
            });
            if !same_key && !proven {
                return Err(Refusal::new(
                    NameTaken,
                    format!(
                        "the name {:?} is registered to another key; enroll it again with proof of the current key (sslx vsu --prove-with OLD-IDENTITY), or ask the CDS admin to release it",
                        req.name
                    ),
                ));
            }
            if !same_key {
                prior_ed25519 = Some(p.ed25519);
            }
        }
        self.charge(req, source, now)?;
        let target = prepare(&req.oob, &req.email).map_err(|e| Refusal::new(BadRequest, e))?;
        let request_id: RequestId = crypto::random_array(rng);
        let cdsk: Secret<32> = Secret::random(rng);
        let pin = assemble::random_pin(self.cfg.pin_digits, rng);
        let expires = now + self.cfg.request_ttl;
        let params = ReplyParams {
            request_id,
            name: &req.name,
            ds_public: &req.public,
            expires,
            cds_http: &self.cfg.cds_http,
            cds_addresses: &self.cfg.cds_addresses,
            cds_sign_key: self.sign_key(),
        };
        let replies =
            assemble::make_replies(&cdsk, &pin, &params, rng).map_err(|e| Refusal::new(BadRequest, e.to_string()))?;
        self.store
            .insert_request(&RequestRow {
                id: request_id,
                name: req.name.clone(),
                x25519: req.public.x25519,
                ed25519: req.public.ed25519,
                email: req.email.clone(),
                oob: req.oob.clone(),
                created: now,
                expires,
                cdsk: Some(cdsk),
                attempts: 0,
                status: RequestStatus::Pending,
                prior_ed25519,
            })
            .map_err(Refusal::internal)?;
        Ok((Opened { request_id, replies, email: req.email.clone(), oob: req.oob.clone() }, target))
    }

    /// Counts an open request against the limits of its source, its email address and its
    /// out-of-band destination; refuses it (nothing counted) when one is reached.
    fn charge(&self, req: &OpenRequest, source: Option<std::net::IpAddr>, now: u64) -> Result<(), Refusal> {
        let l = &self.cfg.limits;
        let mut keys = Vec::new();
        if let (Some(limit), Some(ip)) = (l.per_source, source) {
            keys.push((source_key(ip), limit));
        }
        if let Some(limit) = l.per_email {
            keys.push((format!("email:{}", mailbox_key(&req.email)), limit));
        }
        let destination = destination_key(&req.oob);
        if let Some(limit) = l.phone_total.filter(|_| destination.starts_with("phone:")) {
            keys.push(("total:texts and voice calls".to_owned(), limit));
        }
        if let Some(limit) = l.per_oob {
            keys.push((format!("oob:{destination}"), limit));
        }
        if let Some(limit) = l.total {
            keys.push(("total:open requests".to_owned(), limit));
        }
        match self.store.rate_take(&keys, now).map_err(Refusal::internal)? {
            None => Ok(()),
            Some((key, frees)) => {
                let limit = keys.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).expect("one of ours");
                let (what, who) = key.split_once(':').unwrap_or(("", &key));
                if what == "total" {
                    return Err(Refusal::new(
                        RefusalCode::RateLimited,
                        format!(
                            "this CDS has sent as many {who} as it allows just now (at most {} in {}); try again in {}",
                            limit.count,
                            human_secs(limit.window),
                            human_secs(frees)
                        ),
                    ));
                }
                let what = match what {
                    "source" => "from the address",
                    "email" => "for the email address",
                    _ => "for the out-of-band destination",
                };
                Err(Refusal::new(
                    RefusalCode::RateLimited,
                    format!(
                        "too many open requests {what} {who}: at most {} in {}; try again in {}",
                        limit.count,
                        human_secs(limit.window),
                        human_secs(frees)
                    ),
                ))
            }
        }
    }

    /// Forgets a request whose replies could not be delivered, so it can simply be made again.
    pub fn abandon(&self, id: &RequestId) {
        let _ = self.store.delete_request(id);
    }

    /// The participant's current CDSK and its X25519 key, refusing one that is not enrolled (14)
    /// or whose key has expired (3): a renewal needs a key that still works.
    fn renewable(&self, name: &str, now: u64) -> Result<(Secret<32>, u64, Participant), Refusal> {
        use RefusalCode::*;
        let found = self.store.participant_cdsk(name).map_err(Refusal::internal)?;
        let p = self.store.participant(name).map_err(Refusal::internal)?;
        let (Some((cdsk, expires)), Some(p)) = (found, p) else {
            return Err(Refusal::new(
                NotEnrolled,
                format!("{name:?} is not enrolled at this CDS: no confirmed CDS key to renew (run sslx vsu)"),
            ));
        };
        if expires <= now {
            return Err(Refusal::new(
                Expired,
                format!(
                    "the CDS key of {name:?} expired at {}: an expired key cannot be renewed; enroll again (sslx vsu)",
                    crate::clock::fmt_time(expires)
                ),
            ));
        }
        Ok((cdsk, expires, p))
    }

    /// A renewal (PROTOCOL.md 5.8): proved with the current key on this connection, answered with
    /// the new key sealed to the registered X25519 key. Nothing is stored: the new key is derived
    /// again at the confirmation.
    pub fn renew(
        &self,
        m: &Renew,
        challenge: &[u8; CHALLENGE_LEN],
        now: u64,
        rng: &dyn SecureRandom,
    ) -> Result<Renewed, Refusal> {
        check_name(&m.name).map_err(|e| Refusal::new(RefusalCode::BadRequest, e.to_string()))?;
        let (current, _, p) = self.renewable(&m.name, now)?;
        let nonce = renew::open_renew(m, &current, challenge).ok_or_else(|| {
            Refusal::new(
                RefusalCode::BadSignature,
                format!("the renewal does not verify under the CDS key of {:?} (wrong or replaced key)", m.name),
            )
        })?;
        let new = renew::derive_renewed_cdsk(&self.sign_seed, &current, &m.name, &nonce).map_err(Refusal::internal)?;
        renew::make_renewed(&self.sign_seed, challenge, &current, &p.x25519, &m.name, &nonce, &new, rng)
            .map_err(Refusal::internal)
    }

    /// The confirmation of a renewal: proved with the new key (derived again from the current
    /// one and the nonce), which then replaces the current one for `key_life`. One proved with
    /// the current key is a confirmation whose answer was lost after the swap (or that raced
    /// another copy of itself): answered again, changing nothing. Also says whether this one
    /// installed the key (the participant's hooks, under the old key, are then ended).
    pub fn renew_confirm(
        &self,
        m: &RenewConfirm,
        challenge: &[u8; CHALLENGE_LEN],
        now: u64,
        rng: &dyn SecureRandom,
    ) -> Result<(RenewConfirmed, bool), Refusal> {
        check_name(&m.name).map_err(|e| Refusal::new(RefusalCode::BadRequest, e.to_string()))?;
        let (current, expires, p) = self.renewable(&m.name, now)?;
        let new =
            renew::derive_renewed_cdsk(&self.sign_seed, &current, &m.name, &m.nonce).map_err(Refusal::internal)?;
        let installed = |key: Secret<32>| -> Result<(Secret<32>, RenewConfirmedBody), Refusal> {
            let p = self.store.participant(&m.name).map_err(Refusal::internal)?.unwrap_or(p.clone());
            let (_, key_expires) =
                self.store.participant_cdsk(&m.name).map_err(Refusal::internal)?.unwrap_or((key.clone(), expires));
            Ok((key, RenewConfirmedBody { renewed_at: p.key_renewed.unwrap_or(p.last_vsu), key_expires }))
        };
        let (key, body, swapped) = if renew::check_renew_confirm(m, &new, challenge) {
            let key_expires = now + self.cfg.key_life;
            if self.store.renew_key(&m.name, &current, &new, now, key_expires).map_err(Refusal::internal)? {
                log::info!("{}: CDS key renewed, valid until {}", m.name, crate::clock::fmt_time(key_expires));
                (new, RenewConfirmedBody { renewed_at: now, key_expires }, true)
            } else {
                // Another copy of this confirmation installed it first: answered as one whose
                // answer was lost. Anything else changed the key: refused.
                let now_held = self.store.participant_cdsk(&m.name).map_err(Refusal::internal)?;
                if !now_held.is_some_and(|(k, _)| k.ct_eq(&new)) {
                    return Err(Refusal::new(
                        RefusalCode::BadSignature,
                        format!("the CDS key of {:?} changed while this renewal was confirmed; renew again", m.name),
                    ));
                }
                let (k, b) = installed(new)?;
                (k, b, false)
            }
        } else if renew::check_renew_confirm(m, &current, challenge) {
            let (k, b) = installed(current)?;
            (k, b, false)
        } else {
            return Err(Refusal::new(
                RefusalCode::BadSignature,
                format!(
                    "the renewal's confirmation does not verify under the key renewed for {:?} (another renewal or a new VSU took its place; renew again)",
                    m.name
                ),
            ));
        };
        Ok((renew::make_renew_confirmed(&self.sign_seed, challenge, &key, &m.nonce, &body, rng), swapped))
    }

    /// Checks a confirmation (claims 6–7).
    /// `source`: the address the confirmation came from (recorded as the registered source).
    /// `challenge`: the connection's (the confirmation is bound to it).
    pub fn confirm(
        &self,
        c: &Confirm,
        challenge: &[u8; CHALLENGE_LEN],
        source: Option<&str>,
        now: u64,
        rng: &dyn SecureRandom,
    ) -> Result<ConfirmOutcome, Refusal> {
        use RefusalCode::*;
        let id = request_id_hex(&c.request_id);
        let req = self
            .store
            .request(&c.request_id)
            .map_err(Refusal::internal)?
            .ok_or_else(|| Refusal::new(NotFound, format!("no request {id} at this CDS")))?;
        match req.status {
            RequestStatus::Confirmed => {
                return Err(Refusal::new(
                    AlreadyConfirmed,
                    format!("request {id} is already confirmed; a confirmation is accepted once (replay refused)"),
                ))
            }
            RequestStatus::Denied => {
                return Err(Refusal::new(
                    TooManyAttempts,
                    format!("request {id} was denied after {} failed confirmations; run sslx vsu again", req.attempts),
                ))
            }
            RequestStatus::Pending => {}
        }
        if now >= req.expires {
            return Err(Refusal::new(
                Expired,
                format!("request {id} expired at {}; run sslx vsu again", crate::clock::fmt_time(req.expires)),
            ));
        }
        let cdsk = req.cdsk.clone().ok_or_else(|| Refusal::new(Expired, format!("request {id} is no longer open")))?;
        // An attempt is taken (atomically, in the store) before the confirmation is looked at,
        // so no number of concurrent confirmations gets more than max_attempts tries.
        let Some(attempts) =
            self.store.take_attempt(&c.request_id, self.cfg.max_attempts).map_err(Refusal::internal)?
        else {
            return Err(Refusal::new(
                TooManyAttempts,
                format!("request {id} has no confirmation attempts left; run sslx vsu again"),
            ));
        };
        match assemble::check_confirm(&cdsk, c, challenge) {
            Some(nonce) => {
                let channels = format!("email,{}", channel_kind(&req.oob));
                let key_expires = now + self.cfg.key_life;
                let p = match self
                    .store
                    .confirm(&req, &nonce, &channels, source, now, key_expires)
                    .map_err(Refusal::internal)?
                {
                    Confirmation::Confirmed(p) => p,
                    Confirmation::Replay => {
                        return Err(Refusal::new(
                            AlreadyConfirmed,
                            format!(
                                "request {id} is already confirmed; a confirmation is accepted once (replay refused)"
                            ),
                        ))
                    }
                    // The name belongs to another key, and this request did not prove that key
                    // when it was opened (someone else registered it meanwhile): first come wins.
                    Confirmation::NameTaken => {
                        return Err(Refusal::new(
                            NameTaken,
                            format!(
                                "the name {:?} was registered to another key while request {id} was pending",
                                req.name
                            ),
                        ))
                    }
                };
                let body = ConfirmedBody { nonce, confirmed_at: now, key_expires };
                Ok(ConfirmOutcome::Confirmed(assemble::make_confirmed(&cdsk, &c.request_id, &body, rng), p))
            }
            None => {
                let left = self.cfg.max_attempts.saturating_sub(attempts);
                if left == 0 {
                    self.store.deny_for_good(&c.request_id).map_err(Refusal::internal)?;
                }
                let reason = if left == 0 {
                    "the confirmation did not match the key this CDS issued; no attempts left: run sslx vsu again"
                        .to_owned()
                } else {
                    format!("the confirmation did not match the key this CDS issued (wrong PIN, or replies from another request); {left} attempt(s) left")
                };
                let d = assemble::make_denied(
                    &self.sign_seed,
                    &req.x25519,
                    &c.request_id,
                    challenge,
                    left as u8,
                    &reason,
                    rng,
                )
                .map_err(Refusal::internal)?;
                Ok(ConfirmOutcome::Denied(d, left as u8))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;

    const CH: [u8; 32] = [5; 32];

    fn registrar(dir: &std::path::Path, limits: RateLimits) -> (Registrar, ring::rand::SystemRandom) {
        let rng = ring::rand::SystemRandom::new();
        let store = super::super::SqliteStore::open(&dir.join("cds.db")).unwrap();
        (
            Registrar::new(Box::new(store), RegistrarConfig { max_attempts: 2, limits, ..Default::default() }, &rng)
                .unwrap(),
            rng,
        )
    }

    fn no_limits() -> RateLimits {
        RateLimits::off()
    }

    fn request(id: &Identity, email: &str) -> OpenRequest {
        let mut r = OpenRequest {
            ar: AR_VSU_DS.into(),
            name: id.name.clone(),
            public: id.public(),
            email: email.into(),
            oob: "sms:+15551234567".into(),
            signature: [0; 64],
            proof: None,
        };
        r.signature = id.sign(&r.signed_bytes(&CH).unwrap());
        r
    }

    fn ok(_: &str, _: &str) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn expiry_attempts_replay_and_purge_follow_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, rng) = registrar(dir.path(), no_limits());
        let id = Identity::generate("alice", &rng).unwrap();
        let now = 1_800_000_000;
        let (opened, ()) = reg.open(&request(&id, "a@example.com"), &CH, None, now, ok, &rng).unwrap();
        let cdsk = assemble::assemble_cdsk(&id, &opened.replies.a, &opened.replies.b, &opened.replies.c.pin).unwrap();
        let (c, _) = assemble::make_confirm(&cdsk, &opened.request_id, &CH, &rng);
        // At the expiry second the request is dead.
        let late = reg.confirm(&c, &CH, None, now + reg.cfg.request_ttl, &rng).err().unwrap();
        assert_eq!(late.code, RefusalCode::Expired);
        // Bound to its connection: on another one (another challenge) it is a failed attempt.
        assert!(matches!(reg.confirm(&c, &[6; 32], None, now + 9, &rng), Ok(ConfirmOutcome::Denied(_, 1))));
        assert!(matches!(reg.confirm(&c, &CH, None, now + 10, &rng), Ok(ConfirmOutcome::Confirmed(..))));
        let replay = reg.confirm(&c, &CH, None, now + 11, &rng).err().unwrap();
        assert_eq!(replay.code, RefusalCode::AlreadyConfirmed);
        // The confirmed request keeps no key.
        assert!(reg.store.request(&c.request_id).unwrap().unwrap().cdsk.is_none());

        // A second request, denied twice, is dead (and its key wiped); purged a day after it expires.
        let (opened, ()) = reg.open(&request(&id, "a@example.com"), &CH, None, now, ok, &rng).unwrap();
        let wrong = Secret::random(&rng);
        let (bad, _) = assemble::make_confirm(&wrong, &opened.request_id, &CH, &rng);
        assert!(matches!(reg.confirm(&bad, &CH, None, now + 1, &rng), Ok(ConfirmOutcome::Denied(_, 1))));
        assert!(matches!(reg.confirm(&bad, &CH, None, now + 2, &rng), Ok(ConfirmOutcome::Denied(_, 0))));
        assert_eq!(reg.confirm(&bad, &CH, None, now + 3, &rng).err().unwrap().code, RefusalCode::TooManyAttempts);
        assert!(reg.store.request(&opened.request_id).unwrap().unwrap().cdsk.is_none());
        assert_eq!(reg.store.purge_expired(now + reg.cfg.request_ttl + 10, 86400, 3600).unwrap().requests, 0);
        assert_eq!(reg.store.purge_expired(now + reg.cfg.request_ttl + 86401, 86400, 3600).unwrap().requests, 1);
        assert_eq!(reg.confirm(&bad, &CH, None, now + 3, &rng).err().unwrap().code, RefusalCode::NotFound);
        // The confirmed request stays.
        assert!(reg.store.request(&c.request_id).unwrap().is_some());
    }

    #[test]
    fn concurrent_wrong_confirmations_get_no_more_than_the_allowed_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, rng) = registrar(dir.path(), no_limits());
        let id = Identity::generate("carol", &rng).unwrap();
        let now = 1_800_000_000;
        let (opened, ()) = reg.open(&request(&id, "c@example.com"), &CH, None, now, ok, &rng).unwrap();
        let reg = std::sync::Arc::new(reg);
        let denied: usize = (0..16)
            .map(|_| {
                let (reg, rid) = (reg.clone(), opened.request_id);
                std::thread::spawn(move || {
                    let rng = ring::rand::SystemRandom::new();
                    let (bad, _) = assemble::make_confirm(&Secret::random(&rng), &rid, &CH, &rng);
                    matches!(reg.confirm(&bad, &CH, None, now + 1, &rng), Ok(ConfirmOutcome::Denied(..)))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap() as usize)
            .sum();
        assert_eq!(denied, 2, "16 concurrent tries, 2 attempts allowed");
        assert_eq!(reg.store.request(&opened.request_id).unwrap().unwrap().attempts, 2);
    }

    #[test]
    fn rejects_a_bad_signature_a_wrong_ar_and_another_connections_challenge() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, rng) = registrar(dir.path(), no_limits());
        let id = Identity::generate("bob", &rng).unwrap();
        let now = 1_800_000_000;
        let mut r = request(&id, "b@example.com");
        r.email = "b@example.org".into();
        assert_eq!(reg.open(&r, &CH, None, now, ok, &rng).err().unwrap().code, RefusalCode::BadSignature);
        let mut r = request(&id, "b@example.com");
        r.ar = "VSU".into();
        r.signature = id.sign(&r.signed_bytes(&CH).unwrap());
        assert_eq!(reg.open(&r, &CH, None, now, ok, &rng).err().unwrap().code, RefusalCode::BadRequest);
        let r = request(&id, "b@example.com");
        assert_eq!(reg.open(&r, &[9; 32], None, now, ok, &rng).err().unwrap().code, RefusalCode::BadSignature);
    }

    #[test]
    fn destinations_count_by_what_they_reach_not_how_they_are_spelled() {
        assert_eq!(destination_key("sms:+15551234567"), destination_key("voice:+15551234567"));
        assert_eq!(
            destination_key("https://Victim.example/hook?n=1"),
            destination_key("https://victim.example:8443/other")
        );
        assert_eq!(destination_key("mailto:Bob+x@Example.com"), "mailbox:bob@example.com");
        assert_ne!(destination_key("https://a.example/"), destination_key("https://b.example/"));
        assert_eq!(destination_key("https://Victim.Example./x"), "webhook:victim.example");
        assert_eq!(mailbox_key(" Alice+tag@Example.COM "), "alice@example.com");
    }

    #[test]
    fn texts_and_all_open_requests_have_budgets_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let limits = RateLimits {
            phone_total: Some(Limit { count: 2, window: 3600 }),
            total: Some(Limit { count: 3, window: 3600 }),
            ..RateLimits::off()
        };
        let (reg, rng) = registrar(dir.path(), limits);
        let id = Identity::generate("dave", &rng).unwrap();
        let now = 1_800_000_000;
        let open = |oob: &str, n: u8| {
            let mut r = request(&id, &format!("d{n}@example.com"));
            r.oob = oob.into();
            r.signature = id.sign(&r.signed_bytes(&CH).unwrap());
            reg.open(&r, &CH, Some(std::net::IpAddr::from([192, 0, 2, n])), now, ok, &rng).map(drop)
        };
        assert!(open("sms:+15550000001", 1).is_ok());
        assert!(open("voice:+15550000002", 2).is_ok());
        let r = open("sms:+15550000003", 3).unwrap_err();
        assert!(r.reason.contains("texts and voice calls"), "{}", r.reason);
        assert!(open("mailto:x@example.org", 4).is_ok());
        let r = open("mailto:y@example.org", 5).unwrap_err();
        assert!(r.reason.contains("open requests"), "{}", r.reason);
    }

    #[test]
    fn open_requests_are_limited_per_source_email_and_destination() {
        let dir = tempfile::tempdir().unwrap();
        let limits = RateLimits {
            per_source: Some(Limit { count: 3, window: 3600 }),
            per_email: Some(Limit { count: 2, window: 3600 }),
            ..RateLimits::off()
        };
        let (reg, rng) = registrar(dir.path(), limits);
        let id = Identity::generate("dave", &rng).unwrap();
        let now = 1_800_000_000;
        let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let open = |email: &str, ip, at| reg.open(&request(&id, email), &CH, Some(ip), at, ok, &rng).map(drop);
        assert!(open("d@example.com", ip, now).is_ok());
        assert!(open("D@Example.com", ip, now).is_ok());
        let r = open("d@example.com", ip, now).unwrap_err();
        assert_eq!(r.code, RefusalCode::RateLimited);
        assert!(r.reason.contains("email address"), "{}", r.reason);
        assert!(open("e@example.com", ip, now).is_ok());
        let r = open("f@example.com", ip, now).unwrap_err();
        assert!(r.reason.contains("from the address 192.0.2.7"), "{}", r.reason);
        // Another /64 is another source; an hour later the first one may ask again.
        assert!(open("g@example.com", "2001:db8:1::1".parse().unwrap(), now).is_ok());
        assert!(open("h@example.com", ip, now + 3601).is_ok());
        // A +tag is the same mailbox.
        assert!(open("e+other@example.com", "192.0.2.8".parse().unwrap(), now).is_ok());
        let r = open("E+third@EXAMPLE.com", "192.0.2.8".parse().unwrap(), now).unwrap_err();
        assert!(r.reason.contains("email address e@example.com"), "{}", r.reason);
        assert_eq!(parse_limit("30/h").unwrap(), Some(Limit { count: 30, window: 3600 }));
        assert_eq!(parse_limit("5/90m").unwrap(), Some(Limit { count: 5, window: 5400 }));
        assert_eq!(parse_limit("off").unwrap(), None);
        assert!(parse_limit("0/h").is_err() && parse_limit("ten").is_err());
    }
}
