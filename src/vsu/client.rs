//! The DS's side of the conversation with the CDS: one request frame out, one answer frame in,
//! over a blocking TCP connection with timeouts.

use super::msgs::*;
use crate::crypto::Secret;
use crate::wire::{Frame, Msg, CHALLENGE_LEN};
use crate::{Error, Result};
use std::time::Duration;

pub use crate::net::{IO_TIMEOUT, MAX_CLOCK_SKEW};

/// How long a client waits for the CDS's answer: an open request may wait 20 s for its slots,
/// then on a webhook, gateway or site command (up to 60 s) and on the mail server (30 s a step)
/// before reply A comes back (PROTOCOL.md §2, client timeouts).
pub const ANSWER_WAIT: Duration = Duration::from_secs(150);

/// One VSU request to the CDS at `addr` (`net::exchange` with the VSU's answer wait).
pub fn exchange(addr: &str, request: impl FnOnce(&[u8; CHALLENGE_LEN]) -> Result<Vec<u8>>) -> Result<Frame> {
    crate::net::exchange(addr, ANSWER_WAIT, request)
}

pub use crate::error::refusal_error;

// ---- the participant's VSU, over the home's state files ----

use super::assemble::{self, Cdsk};
use crate::keys::{encode_line, Home, Identity, LineKind};
use ring::rand::SecureRandom;

use crate::enrollment::read_cdsk_file;
pub use crate::enrollment::{
    cds_addr, cds_http, load_cdsk, CdsState, PendingVsu, ASSEMBLED_FILE, CDSK_FILE, CDS_STATE_FILE, PENDING_FILE,
    RENEWING_FILE,
};

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// `sslx vsu`: signs and sends the open request; keeps reply A (and `now`, when it was made) as
/// the pending request.
pub fn open(
    home: &Home,
    cds: &str,
    email: &str,
    oob: &str,
    prove_with: Option<&Identity>,
    now: u64,
) -> Result<PendingVsu> {
    let id = home.load_identity()?;
    let created = now;
    if email.len() > 1024 || oob.len() > 2048 {
        return Err(Error::Usage("email address or out-of-band URI too long".into()));
    }
    let answer = exchange(cds, |challenge| {
        let mut req = OpenRequest {
            ar: super::AR_VSU_DS.into(),
            name: id.name.clone(),
            public: id.public(),
            email: email.into(),
            oob: oob.into(),
            signature: [0; 64],
            proof: None,
        };
        let signed = req.signed_bytes(challenge)?;
        req.signature = id.sign(&signed);
        req.proof = prove_with.map(|old| old.sign(&signed));
        Ok(req.to_frame()?)
    })?;
    let a = ReplyA::from_frame(&answer)?;
    let pending = PendingVsu {
        request_id: request_id_hex(&a.request_id),
        name: id.name.clone(),
        cds: cds.into(),
        cds_http: a.cds_http.clone(),
        cds_sign_key: hex::encode(a.cds_sign_key),
        email: email.into(),
        oob: oob.into(),
        created,
        expires: a.expires,
        reply_a: a.to_armor()?,
        announced: Some(a.cds_addresses.clone()).filter(|s| !s.is_empty()),
    };
    home.write_json(PENDING_FILE, &pending, false)?;
    home.remove(ASSEMBLED_FILE)?;
    Ok(pending)
}

pub fn load_pending(home: &Home) -> Result<PendingVsu> {
    home.read_json(PENDING_FILE)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no verified setup is under way in {} (run sslx vsu --email ADDR --oob URI first)",
            home.dir.display()
        ))
    })
}

/// `sslx assemble-key`: reply A (pending, or given), reply B and the PIN give the CDSK.
pub fn assemble(
    home: &Home,
    reply_b_text: &str,
    pin: &str,
    reply_a: Option<ReplyA>,
    now: u64,
) -> Result<(Cdsk, RequestId)> {
    let id = home.load_identity()?;
    let a = match reply_a {
        Some(a) => a,
        None => ReplyA::from_armor(&load_pending(home)?.reply_a)?,
    };
    let b = ReplyB::find_in(reply_b_text)?;
    let cdsk = assemble::assemble_cdsk(&id, &a, &b, pin)?;
    if now >= a.expires {
        return Err(Error::Expired {
            what: format!("request {} has expired; run sslx vsu again", request_id_hex(&a.request_id)),
            now: crate::clock::fmt_time(now),
            edge: format!("expired {}", crate::clock::fmt_time(a.expires)),
        });
    }
    Ok((cdsk, a.request_id))
}

/// Installs an assembled key as pending confirmation (0600, atomically).
pub fn install_assembled(home: &Home, cdsk: &Cdsk, request_id: &RequestId) -> Result<()> {
    let text = format!(
        "# sslx CDS key, assembled for request {}, not yet confirmed\n{}\n",
        request_id_hex(request_id),
        encode_line(LineKind::Cdsk, cdsk.expose())
    );
    home.ensure()?;
    crate::keys::write_secret_atomic(&home.path(ASSEMBLED_FILE), text.as_bytes())
}

pub enum ConfirmResult {
    Confirmed(CdsState),
    /// The CDS denied: the assembled key was removed. Attempts left and the CDS's reason.
    Denied {
        attempts_left: u8,
        reason: String,
    },
}

/// `sslx vsu --confirm`.
pub fn confirm(home: &Home, cds_override: Option<&str>, rng: &dyn SecureRandom) -> Result<ConfirmResult> {
    let id = home.load_identity()?;
    let _lock = lock_key(home)?;
    let pending = load_pending(home)?;
    let cdsk = read_cdsk_file(home, ASSEMBLED_FILE)?.ok_or_else(|| {
        Error::NotFound(
            "no assembled key to confirm (run sslx assemble-key --reply-b FILE first: it asks for the PIN)".into(),
        )
    })?;
    let a = ReplyA::from_armor(&pending.reply_a)?;
    let cds = cds_override.unwrap_or(&pending.cds);
    let mut nonce = [0u8; 32];
    let mut challenge = [0u8; crate::wire::CHALLENGE_LEN];
    let answer = exchange(cds, |ch| {
        let (c, n) = assemble::make_confirm(&cdsk, &a.request_id, ch, rng);
        nonce = n;
        challenge = *ch;
        Ok(c.to_frame()?)
    })?;
    match answer.msg_type {
        TYPE_CONFIRMED => {
            let m = Confirmed::from_frame(&answer)?;
            let body = assemble::open_confirmed(&cdsk, &m, &a.request_id, &nonce)?;
            let state = CdsState {
                name: pending.name.clone(),
                // The addresses the CDS announced (all its instances), else the one used.
                cds: pending.announced.clone().unwrap_or_else(|| cds.into()),
                cds_http: pending.cds_http.clone(),
                cds_sign_key: pending.cds_sign_key.clone(),
                request_id: pending.request_id.clone(),
                confirmed_at: body.confirmed_at,
                key_expires: body.key_expires,
                renewed_at: None,
            };
            let text = format!(
                "# sslx CDS key of {} at the CDS {cds}, request {}, confirmed {}, valid until {}\n{}\n",
                pending.name,
                pending.request_id,
                crate::clock::fmt_time(body.confirmed_at),
                crate::clock::fmt_time(body.key_expires),
                encode_line(LineKind::Cdsk, cdsk.expose())
            );
            crate::keys::write_secret_atomic(&home.path(CDSK_FILE), text.as_bytes())?;
            home.remove(ASSEMBLED_FILE)?;
            home.write_json(CDS_STATE_FILE, &state, false)?;
            home.remove(PENDING_FILE)?;
            // A renewal of the key this VSU replaced can never be confirmed now.
            home.remove(RENEWING_FILE)?;
            Ok(ConfirmResult::Confirmed(state))
        }
        TYPE_DENIED => {
            let d = Denied::from_frame(&answer)?;
            let sign_key = hex32(&pending.cds_sign_key).ok_or_else(|| crate::keys::KeyError::Damaged {
                path: home.path(PENDING_FILE).display().to_string(),
                what: "the CDS signing key is not 64 hex digits".into(),
            })?;
            let (left, reason) = assemble::open_denied(&id, &sign_key, &d, &a.request_id, &challenge)?;
            home.remove(ASSEMBLED_FILE)?;
            if left == 0 {
                home.remove(PENDING_FILE)?;
            }
            Ok(ConfirmResult::Denied { attempts_left: left, reason })
        }
        t => Err(crate::wire::WireError::UnexpectedType { expected: "confirmed or denied", got: t }.into()),
    }
}

/// What `sslx vsu --renew` did.
pub struct Renewal {
    pub state: CdsState,
    /// It finished a renewal an earlier run began (whose answer was lost), instead of a new one.
    pub finished_earlier: bool,
}

const RENEWAL_NONCE_LINE: &str = "# renewal nonce: ";
/// The lock `sslx vsu --confirm` and `--renew` hold while they change the home's CDS key.
pub const KEY_LOCK: &str = "key.lock";

/// Takes [`KEY_LOCK`], or says another change of the key is under way.
fn lock_key(home: &Home) -> Result<std::fs::File> {
    home.try_lock(KEY_LOCK)?.ok_or_else(|| {
        Error::Usage(format!(
            "another sslx vsu --renew or --confirm is running for {}; let it finish",
            home.dir.display()
        ))
    })
}
/// Renewals a home keeps unconfirmed at most (each run that cannot finish one may add one).
const MAX_UNCONFIRMED_RENEWALS: usize = 8;

/// A renewal the CDS has not confirmed: its new key and nonce.
type Candidate = (Cdsk, RenewalNonce);

/// The renewals not yet confirmed (`cdsk.renewing`), oldest first: each a `# renewal nonce:
/// HEX` line followed by its key line. Any of them may be the key the CDS holds now (a
/// confirmation whose answer was lost), so none is dropped until the CDS confirms one.
fn read_renewing(home: &Home) -> Result<Vec<Candidate>> {
    let p = home.path(RENEWING_FILE);
    if !p.exists() {
        return Ok(Vec::new());
    }
    let text = zeroize::Zeroizing::new(crate::keys::read_secret_file(&p)?);
    let damaged = |what: &str| crate::keys::KeyError::Damaged { path: p.display().to_string(), what: what.into() };
    let mut out = Vec::new();
    let mut nonce = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix(RENEWAL_NONCE_LINE) {
            let mut n = [0u8; 16];
            hex::decode_to_slice(h.trim(), &mut n).map_err(|_| damaged("a renewal nonce is not 32 hex digits"))?;
            nonce = Some(n);
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let n = nonce.take().ok_or_else(|| damaged("a key line without its renewal nonce line"))?;
            let d = zeroize::Zeroizing::new(crate::keys::decode_line(LineKind::Cdsk, line.trim())?);
            out.push((Secret::from_slice(&d).ok_or_else(|| damaged("a key that is not 32 bytes"))?, n));
        }
    }
    if out.is_empty() {
        return Err(damaged("no renewal in it").into());
    }
    Ok(out)
}

fn write_renewing(home: &Home, name: &str, cds: &str, candidates: &[Candidate]) -> Result<()> {
    let mut text = zeroize::Zeroizing::new(format!(
        "# sslx CDS keys renewing the current one of {name} at the CDS {cds}, not yet confirmed (sslx vsu --renew finishes it)\n"
    ));
    for (key, nonce) in candidates {
        text.push_str(&format!(
            "{RENEWAL_NONCE_LINE}{}\n{}\n",
            hex::encode(nonce),
            encode_line(LineKind::Cdsk, key.expose())
        ));
    }
    crate::keys::write_secret_atomic(&home.path(RENEWING_FILE), text.as_bytes())
}

fn is_bad_signature(e: &Error) -> bool {
    matches!(e, Error::Refused { code, .. } if *code == crate::wire::RefusalCode::BadSignature as u16)
}

/// The renew confirmation for one candidate; the CDS's signed answer.
fn confirm_renewal(
    cds: &str,
    name: &str,
    cds_sign_key: &[u8; 32],
    (new, nonce): &Candidate,
    rng: &dyn SecureRandom,
) -> Result<RenewConfirmedBody> {
    let mut challenge = [0u8; CHALLENGE_LEN];
    let answer = exchange(cds, |ch| {
        challenge = *ch;
        Ok(super::renew::make_renew_confirm(name, new, nonce, ch, rng)?.to_frame()?)
    })?;
    super::renew::open_renew_confirmed(&RenewConfirmed::from_frame(&answer)?, cds_sign_key, &challenge, new, nonce)
}

/// The first of `candidates`, newest first, whose renew confirmation the CDS answers (a refusal
/// with 6 goes on to the next; any other failure ends the search).
fn first_taken(
    cds: &str,
    name: &str,
    cds_sign_key: &[u8; 32],
    candidates: &[Candidate],
    rng: &dyn SecureRandom,
) -> Result<Option<(Cdsk, RenewConfirmedBody)>> {
    for c in candidates.iter().rev() {
        match confirm_renewal(cds, name, cds_sign_key, c, rng) {
            Ok(body) => return Ok(Some((c.0.clone(), body))),
            Err(e) if is_bad_signature(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// `sslx vsu --renew` (PROTOCOL.md 5.8): asks the CDS for a new CDSK, proved with the current
/// one, and confirms it on a second connection. New keys wait in `cdsk.renewing` until the CDS
/// says (signed) which one it installed; a run that finds some there tries them first. Nothing
/// is ever removed on an answer the CDS did not sign (a refusal is not signed).
pub fn renew(home: &Home, cds_override: Option<&str>, rng: &dyn SecureRandom) -> Result<Renewal> {
    let id = home.load_identity()?;
    let _lock = lock_key(home)?;
    let not_enrolled = || {
        Error::NotFound(format!(
            "{} is not enrolled: no CDS key to renew (enroll with sslx vsu --email ADDR --oob URI)",
            home.dir.display()
        ))
    };
    let mut state: CdsState = home.read_json(CDS_STATE_FILE)?.ok_or_else(not_enrolled)?;
    let current = load_cdsk(home)?.ok_or_else(not_enrolled)?;
    let cds_sign_key = hex32(&state.cds_sign_key).ok_or_else(|| crate::keys::KeyError::Damaged {
        path: home.path(CDS_STATE_FILE).display().to_string(),
        what: "the CDS signing key is not 64 hex digits".into(),
    })?;
    let cds = cds_override.unwrap_or(&state.cds).to_owned();
    let unfinished = |e: Error| {
        match e {
        Error::Unavailable(m) => Error::Unavailable(format!(
            "{m}; the renewal is not finished: the CDS may have installed the new key already, which waits in {}: run sslx vsu --renew again to finish it",
            home.path(RENEWING_FILE).display()
        )),
        e => e,
    }
    };
    let mut candidates = read_renewing(home)?;
    let earlier = candidates.len();
    // An earlier run's renewal, newest first: the CDS answers for the one it holds.
    let mut done = first_taken(&cds, &id.name, &cds_sign_key, &candidates, rng).map_err(unfinished)?;
    let finished_earlier = done.is_some();
    if done.is_none() {
        if candidates.len() >= MAX_UNCONFIRMED_RENEWALS {
            return Err(Error::VerifyFailed(format!(
                "the CDS took none of the {} renewals kept in {} (all refused, or their answers lost or forged on the way): check that --cds names this home's CDS and run again later; if it still fails, enroll again",
                candidates.len(),
                home.path(RENEWING_FILE).display()
            )));
        }
        let nonce: RenewalNonce = crate::crypto::random_array(rng);
        let mut challenge = [0u8; CHALLENGE_LEN];
        let answer = exchange(&cds, |ch| {
            challenge = *ch;
            Ok(super::renew::make_renew(&id.name, &current, ch, &nonce, rng)?.to_frame()?)
        })
        .map_err(|e| match e {
            // The CDS holds neither the current key nor (by what came back) a kept one.
            Error::Refused { code, reason } if earlier > 0 => Error::Refused {
                code,
                reason: format!(
                    "{reason}; the keys of an unfinished renewal are kept in {}: run sslx vsu --renew again later",
                    home.path(RENEWING_FILE).display()
                ),
            },
            e => e,
        })?;
        let m = Renewed::from_frame(&answer)?;
        let new = super::renew::open_renewed(&m, &cds_sign_key, &challenge, &current, &id, &nonce)?;
        candidates.push((new, nonce));
        write_renewing(home, &id.name, &cds, &candidates)?;
        let fresh = candidates.last().expect("just pushed").clone();
        match confirm_renewal(&cds, &id.name, &cds_sign_key, &fresh, rng) {
            Ok(body) => done = Some((fresh.0, body)),
            // Meanwhile an earlier renewal's confirmation (one cut on its way) may have been
            // installed: each earlier one is asked once more.
            Err(e) if is_bad_signature(&e) && earlier > 0 => {
                done = first_taken(&cds, &id.name, &cds_sign_key, &candidates[..earlier], rng).map_err(unfinished)?;
                if done.is_none() {
                    return Err(e);
                }
            }
            Err(e) => return Err(unfinished(e)),
        }
    }
    let (new, body) = done.expect("set above");
    let text = zeroize::Zeroizing::new(format!(
        "# sslx CDS key of {} at the CDS {cds}, request {}, confirmed {}, renewed {}, valid until {}\n{}\n",
        id.name,
        state.request_id,
        crate::clock::fmt_time(state.confirmed_at),
        crate::clock::fmt_time(body.renewed_at),
        crate::clock::fmt_time(body.key_expires),
        encode_line(LineKind::Cdsk, new.expose())
    ));
    crate::keys::write_secret_atomic(&home.path(CDSK_FILE), text.as_bytes())?;
    state.key_expires = body.key_expires;
    state.renewed_at = Some(body.renewed_at);
    home.write_json(CDS_STATE_FILE, &state, false)?;
    home.remove(RENEWING_FILE)?;
    Ok(Renewal { state, finished_earlier })
}

/// `sslx standing NAME`: the CDS's public record.
pub async fn fetch_standing(base: &str, name: &str) -> Result<super::standing::Standing> {
    crate::keys::check_name(name)?;
    let url = format!("{base}/v1/standing/{name}");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build().expect("HTTP client");
    let r = client
        .get(&url)
        .send()
        .await
        .map_err(|e| Error::Unavailable(format!("cannot reach the CDS at {base}: {e}")))?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(Error::NotFound(format!("no participant named {name:?} at the CDS {base}")));
    }
    if !r.status().is_success() {
        return Err(Error::Unavailable(format!("the CDS at {base} answered {}", r.status())));
    }
    let bytes = r.bytes().await.map_err(|e| Error::Unavailable(format!("reading the CDS's answer: {e}")))?;
    if bytes.len() > 64 * 1024 {
        return Err(Error::Other("the CDS's standing answer is over 64 KiB".into()));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Other(format!("the CDS's standing answer is not valid: {e}")))
}
