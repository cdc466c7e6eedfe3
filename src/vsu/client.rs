//! The DS's side of the conversation with the CDS: one request frame out, one answer frame in,
//! over a blocking TCP connection with timeouts.

use super::msgs::*;
use crate::wire::{read_frame, write_frame, Frame, Msg, CHALLENGE_LEN};
use crate::{Error, Result};
use std::time::Duration;

pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client waits for the CDS's answer: an open request may wait 20 s for its slots,
/// then on a webhook, gateway or site command (up to 60 s) and on the mail server (30 s a step)
/// before reply A comes back (PROTOCOL.md §2, client timeouts).
pub const ANSWER_WAIT: Duration = Duration::from_secs(150);
/// How far this machine's clock may be from the CDS's (its hello says) before a request is
/// not even sent: expiries (of requests, keys, tickets) would be judged wrongly.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// Connects to the CDS at `addr`, builds the request from the connection's challenge, sends
/// it and returns the answer frame; a `Refused` answer is turned into `Error::Refused`.
pub fn exchange(addr: &str, request: impl FnOnce(&[u8; CHALLENGE_LEN]) -> Result<Vec<u8>>) -> Result<Frame> {
    let unavailable = |e: std::io::Error| Error::Unavailable(format!("cannot reach the CDS at {addr}: {e}"));
    let conn = crate::net::connect_cds(addr)?;
    let now = crate::clock::now_unix();
    if now.abs_diff(conn.cds_time) > MAX_CLOCK_SKEW {
        return Err(Error::Expired {
            what: format!(
                "this machine's clock and the CDS's differ by more than {MAX_CLOCK_SKEW} s: set the clock right"
            ),
            now: crate::clock::fmt_time(now),
            edge: format!("CDS clock {}", crate::clock::fmt_time(conn.cds_time)),
        });
    }
    let mut s = conn.stream;
    s.set_read_timeout(Some(ANSWER_WAIT)).ok();
    s.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let frame = request(&conn.challenge)?;
    write_frame(&mut s, &frame).map_err(unavailable)?;
    let f = read_frame(&mut s)
        .map_err(|e| Error::Unavailable(format!("reading the CDS's answer: {e}")))?
        .ok_or_else(|| Error::Unavailable(format!("the CDS at {addr} closed the connection without answering")))?;
    if f.msg_type == TYPE_REFUSED {
        let r = Refused::from_frame(&f)?;
        return Err(refusal_error(r));
    }
    Ok(f)
}

pub use crate::error::refusal_error;

// ---- the participant's VSU, over the home's state files ----

use super::assemble::{self, Cdsk};
use crate::crypto::Secret;
use crate::keys::{decode_line, encode_line, Home, Identity, LineKind};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

/// The open request waiting for replies B and C (`vsu-pending.json`).
pub const PENDING_FILE: &str = "vsu-pending.json";
/// The assembled, not yet confirmed CDSK (secret).
pub const ASSEMBLED_FILE: &str = "cdsk.pending";
/// The confirmed CDSK (secret).
pub const CDSK_FILE: &str = "cdsk";
/// Where the CDS is and what it confirmed (`cds.json`).
pub const CDS_STATE_FILE: &str = "cds.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingVsu {
    pub request_id: String,
    pub name: String,
    pub cds: String,
    pub cds_http: String,
    pub cds_sign_key: String,
    pub email: String,
    pub oob: String,
    pub created: u64,
    pub expires: u64,
    pub reply_a: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CdsState {
    pub name: String,
    pub cds: String,
    pub cds_http: String,
    pub cds_sign_key: String,
    pub request_id: String,
    pub confirmed_at: u64,
    pub key_expires: u64,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let v: Vec<u8> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect::<Option<_>>()?;
    v.try_into().ok()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `sslx vsu`: signs and sends the open request; keeps reply A as the pending request.
pub fn open(home: &Home, cds: &str, email: &str, oob: &str, prove_with: Option<&Identity>) -> Result<PendingVsu> {
    let id = home.load_identity()?;
    let created = crate::clock::now_unix();
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
        cds_sign_key: hex(&a.cds_sign_key),
        email: email.into(),
        oob: oob.into(),
        created,
        expires: a.expires,
        reply_a: a.to_armor()?,
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
pub fn assemble(home: &Home, reply_b_text: &str, pin: &str, reply_a: Option<ReplyA>) -> Result<(Cdsk, RequestId)> {
    let id = home.load_identity()?;
    let a = match reply_a {
        Some(a) => a,
        None => ReplyA::from_armor(&load_pending(home)?.reply_a)?,
    };
    let b = ReplyB::find_in(reply_b_text)?;
    let cdsk = assemble::assemble_cdsk(&id, &a, &b, pin)?;
    let now = crate::clock::now_unix();
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

fn read_cdsk_file(home: &Home, file: &str) -> Result<Option<Cdsk>> {
    let p = home.path(file);
    if !p.exists() {
        return Ok(None);
    }
    let text = crate::keys::read_secret_file(&p)?;
    let line = crate::keys::find_line(LineKind::Cdsk, &text)
        .ok_or_else(|| Error::Other(format!("{}: no SSLX-CDSK-1 line", p.display())))?;
    let d = zeroize::Zeroizing::new(decode_line(LineKind::Cdsk, line)?);
    Ok(Secret::from_slice(&d))
}

/// The confirmed CDSK, if any.
pub fn load_cdsk(home: &Home) -> Result<Option<Cdsk>> {
    read_cdsk_file(home, CDSK_FILE)
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
    let pending = load_pending(home)?;
    let cdsk = read_cdsk_file(home, ASSEMBLED_FILE)?.ok_or_else(|| {
        Error::NotFound("no assembled key to confirm (run sslx assemble-key --reply-b FILE --pin PIN first)".into())
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
                cds: cds.into(),
                cds_http: pending.cds_http.clone(),
                cds_sign_key: pending.cds_sign_key.clone(),
                request_id: pending.request_id.clone(),
                confirmed_at: body.confirmed_at,
                key_expires: body.key_expires,
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
            Ok(ConfirmResult::Confirmed(state))
        }
        TYPE_DENIED => {
            let d = Denied::from_frame(&answer)?;
            let sign_key = hex32(&pending.cds_sign_key)
                .ok_or_else(|| Error::Other("corrupt pending state: CDS signing key".into()))?;
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

/// The CDS HTTP base URL for `standing`: the flag, else what the CDS announced.
pub fn cds_http(home: &Home, flag: Option<&str>) -> Result<String> {
    if let Some(f) = flag {
        return Ok(f.trim_end_matches('/').to_owned());
    }
    if let Some(s) = home.read_json::<CdsState>(CDS_STATE_FILE)? {
        return Ok(s.cds_http);
    }
    if let Some(p) = home.read_json::<PendingVsu>(PENDING_FILE)? {
        return Ok(p.cds_http);
    }
    Err(Error::Usage("no CDS HTTP address known: give --cds-http URL (or SSLX_CDS_HTTP)".into()))
}

/// The CDS protocol address: the flag, else the remembered one.
pub fn cds_addr(home: &Home, flag: Option<&str>) -> Result<String> {
    if let Some(f) = flag {
        return Ok(f.to_owned());
    }
    if let Some(s) = home.read_json::<CdsState>(CDS_STATE_FILE)? {
        return Ok(s.cds);
    }
    if let Some(p) = home.read_json::<PendingVsu>(PENDING_FILE)? {
        return Ok(p.cds);
    }
    Err(Error::Usage("no CDS address known: give --cds HOST:PORT (or SSLX_CDS)".into()))
}

/// `sslx standing NAME`: the CDS's public record.
pub async fn fetch_standing(base: &str, name: &str) -> Result<crate::cds::standing::Standing> {
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
