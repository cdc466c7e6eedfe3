//! The registrar's rules for the verified setup (claims 1, 6, 7): what an open request must
//! hold, request expiry, bounded confirmation attempts, who may enroll a registered name.
//! The clock is an argument; delivery of replies B and C is the caller's.

use super::store::{Participant, RequestRow, RequestStatus, Store};
use crate::crypto::{self, Secret};
use crate::keys::check_name;
use crate::vsu::assemble::{self, Replies, ReplyParams};
use crate::vsu::*;
use crate::wire::RefusalCode;
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
    /// Largest clock difference accepted in an open request, seconds (default 300).
    pub max_skew: u64,
    /// The public HTTP base URL announced in reply A.
    pub cds_http: String,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            request_ttl: 24 * 3600,
            max_attempts: 3,
            key_life: 365 * 24 * 3600,
            pin_digits: 6,
            max_skew: 300,
            cds_http: String::new(),
        }
    }
}

pub struct Registrar {
    pub store: Store,
    pub cfg: RegistrarConfig,
    sign_seed: Secret<32>,
}

/// A refusal with its reason, as the client will print it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: RefusalCode,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Self {
        Refusal { code, reason: reason.into() }
    }
    pub fn to_msg(&self, now: u64) -> Refused {
        Refused { code: self.code as u16, server_time: now, reason: self.reason.clone() }
    }
}

fn internal(e: crate::Error) -> Refusal {
    Refusal::new(RefusalCode::Internal, format!("CDS internal error: {e}"))
}

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
    pub fn new(store: Store, cfg: RegistrarConfig, rng: &dyn SecureRandom) -> crate::Result<Self> {
        let sign_seed = store.sign_seed(rng)?;
        Ok(Registrar { store, cfg, sign_seed })
    }

    pub fn sign_key(&self) -> [u8; 32] {
        crypto::ed25519_public(self.sign_seed.expose())
    }

    /// Checks an open request, makes the CDSK and PIN, records the request, and returns the
    /// three replies for delivery. `oob_ok` says whether this CDS can deliver on that channel.
    pub fn open(
        &self,
        req: &OpenRequest,
        now: u64,
        oob_ok: impl Fn(&str) -> Result<(), String>,
        rng: &dyn SecureRandom,
    ) -> Result<Opened, Refusal> {
        use RefusalCode::*;
        if req.ar != AR_VSU_DS {
            return Err(Refusal::new(
                BadRequest,
                format!("authentication-request value {:?} is not {AR_VSU_DS}", req.ar),
            ));
        }
        check_name(&req.name).map_err(|e| Refusal::new(BadRequest, e.to_string()))?;
        if req.email.parse::<lettre::Address>().is_err() {
            return Err(Refusal::new(BadRequest, format!("{:?} is not an email address", req.email)));
        }
        oob_ok(&req.oob).map_err(|e| Refusal::new(BadRequest, e))?;
        if !req.signature_valid() {
            return Err(Refusal::new(BadSignature, "the open request's signature does not verify"));
        }
        if now.abs_diff(req.timestamp) > self.cfg.max_skew {
            return Err(Refusal::new(
                ClockSkew,
                format!(
                    "the request's clock ({}) and the CDS's differ by more than {} s",
                    crate::cli::fmt_time(req.timestamp),
                    self.cfg.max_skew
                ),
            ));
        }
        let mut prior_ed25519 = None;
        if let Some(p) = self.store.participant(&req.name).map_err(internal)? {
            let same_key = crypto::ct_eq(&p.ed25519, &req.public.ed25519);
            let proven = req.proof.is_some_and(|proof| crypto::ed25519_verify(&p.ed25519, &req.signed_bytes(), &proof));
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
                cdsk,
                attempts: 0,
                status: RequestStatus::Pending,
                prior_ed25519,
            })
            .map_err(internal)?;
        Ok(Opened { request_id, replies, email: req.email.clone(), oob: req.oob.clone() })
    }

    /// Forgets a request whose replies could not be delivered, so it can simply be made again.
    pub fn abandon(&self, id: &RequestId) {
        let _ = self.store.delete_request(id);
    }

    /// Checks a confirmation (claims 6–7).
    /// `source`: the address the confirmation came from (recorded as the registered source).
    pub fn confirm(
        &self,
        c: &Confirm,
        source: Option<&str>,
        now: u64,
        rng: &dyn SecureRandom,
    ) -> Result<ConfirmOutcome, Refusal> {
        use RefusalCode::*;
        let id = request_id_hex(&c.request_id);
        let req = self
            .store
            .request(&c.request_id)
            .map_err(internal)?
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
                format!("request {id} expired at {}; run sslx vsu again", crate::cli::fmt_time(req.expires)),
            ));
        }
        match assemble::check_confirm(&req.cdsk, c) {
            Some(nonce) => {
                if let Some(p) = self.store.participant(&req.name).map_err(internal)? {
                    // The name belongs to another key, and this request did not prove that key when it was
                    // opened (someone else registered it meanwhile): first come wins.
                    let proven = req.prior_ed25519.is_some_and(|k| crypto::ct_eq(&k, &p.ed25519));
                    if !crypto::ct_eq(&p.ed25519, &req.ed25519) && !proven {
                        return Err(Refusal::new(
                            NameTaken,
                            format!(
                                "the name {:?} was registered to another key while request {id} was pending",
                                req.name
                            ),
                        ));
                    }
                }
                let channels = format!("email,{}", channel_kind(&req.oob));
                let key_expires = now + self.cfg.key_life;
                let p = self.store.confirm(&req, &nonce, &channels, source, now, key_expires).map_err(internal)?;
                let body = ConfirmedBody { nonce, confirmed_at: now, key_expires };
                Ok(ConfirmOutcome::Confirmed(assemble::make_confirmed(&req.cdsk, &c.request_id, &body, rng), p))
            }
            None => {
                let attempts = req.attempts + 1;
                let left = self.cfg.max_attempts.saturating_sub(attempts);
                let status = if left == 0 { RequestStatus::Denied } else { RequestStatus::Pending };
                self.store.record_failed_attempt(&c.request_id, attempts, status).map_err(internal)?;
                let reason = if left == 0 {
                    "the confirmation did not match the key this CDS issued; no attempts left: run sslx vsu again"
                        .to_owned()
                } else {
                    format!("the confirmation did not match the key this CDS issued (wrong PIN, or replies from another request); {left} attempt(s) left")
                };
                let d = assemble::make_denied(&self.sign_seed, &req.x25519, &c.request_id, left as u8, &reason, rng)
                    .map_err(internal)?;
                Ok(ConfirmOutcome::Denied(d, left as u8))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Identity;

    fn registrar(dir: &std::path::Path) -> (Registrar, ring::rand::SystemRandom) {
        let rng = ring::rand::SystemRandom::new();
        let store = Store::open(&dir.join("cds.db")).unwrap();
        (Registrar::new(store, RegistrarConfig { max_attempts: 2, ..Default::default() }, &rng).unwrap(), rng)
    }

    fn request(id: &Identity, now: u64) -> OpenRequest {
        let mut r = OpenRequest {
            ar: AR_VSU_DS.into(),
            name: id.name.clone(),
            public: id.public(),
            email: "a@example.com".into(),
            oob: "sms:+1".into(),
            timestamp: now,
            signature: [0; 64],
            proof: None,
        };
        r.signature = id.sign(&r.signed_bytes());
        r
    }

    #[test]
    fn expiry_attempts_replay_and_purge_follow_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, rng) = registrar(dir.path());
        let id = Identity::generate("alice", &rng).unwrap();
        let now = 1_800_000_000;
        let ok = |_: &str| Ok(());
        let opened = reg.open(&request(&id, now), now, ok, &rng).unwrap();
        let cdsk = assemble::assemble_cdsk(&id, &opened.replies.a, &opened.replies.b, &opened.replies.c.pin).unwrap();
        let (c, _) = assemble::make_confirm(&cdsk, &opened.request_id, &rng);
        // At the expiry second the request is dead.
        let late = reg.confirm(&c, None, now + reg.cfg.request_ttl, &rng).err().unwrap();
        assert_eq!(late.code, RefusalCode::Expired);
        assert!(matches!(reg.confirm(&c, None, now + 10, &rng), Ok(ConfirmOutcome::Confirmed(..))));
        let replay = reg.confirm(&c, None, now + 11, &rng).err().unwrap();
        assert_eq!(replay.code, RefusalCode::AlreadyConfirmed);

        // A second request, denied twice, is dead; purged a day after it expires.
        let opened = reg.open(&request(&id, now), now, ok, &rng).unwrap();
        let wrong = Secret::random(&rng);
        let (bad, _) = assemble::make_confirm(&wrong, &opened.request_id, &rng);
        assert!(matches!(reg.confirm(&bad, None, now + 1, &rng), Ok(ConfirmOutcome::Denied(_, 1))));
        assert!(matches!(reg.confirm(&bad, None, now + 2, &rng), Ok(ConfirmOutcome::Denied(_, 0))));
        assert_eq!(reg.confirm(&bad, None, now + 3, &rng).err().unwrap().code, RefusalCode::TooManyAttempts);
        assert_eq!(reg.store.purge_expired(now + reg.cfg.request_ttl + 10, 86400).unwrap(), 0);
        assert_eq!(reg.store.purge_expired(now + reg.cfg.request_ttl + 86401, 86400).unwrap(), 1);
        assert_eq!(reg.confirm(&bad, None, now + 3, &rng).err().unwrap().code, RefusalCode::NotFound);
        // The confirmed request stays.
        assert!(reg.store.request(&c.request_id).unwrap().is_some());
    }

    #[test]
    fn rejects_skew_bad_signature_and_wrong_ar() {
        let dir = tempfile::tempdir().unwrap();
        let (reg, rng) = registrar(dir.path());
        let id = Identity::generate("bob", &rng).unwrap();
        let now = 1_800_000_000;
        let ok = |_: &str| Ok(());
        let r = request(&id, now - 301);
        assert_eq!(reg.open(&r, now, ok, &rng).err().unwrap().code, RefusalCode::ClockSkew);
        let mut r = request(&id, now);
        r.email = "b@example.org".into();
        assert_eq!(reg.open(&r, now, ok, &rng).err().unwrap().code, RefusalCode::BadSignature);
        let mut r = request(&id, now);
        r.ar = "VSU".into();
        r.signature = id.sign(&r.signed_bytes());
        assert_eq!(reg.open(&r, now, ok, &rng).err().unwrap().code, RefusalCode::BadRequest);
    }
}
