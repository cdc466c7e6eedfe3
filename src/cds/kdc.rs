//! The KDC in the CDS (seed 003, first patent; PROTOCOL.md 5F): a gateway's login request
//! (after the user's key-derivation parameters) gets a ticket-granting ticket and the KDC
//! session key wrapped in the user key; a ticket request (the TGT and an authenticator under the
//! KDC session key) gets a service ticket for a host and the server session key wrapped in the
//! KDC session key. Every request comes wrapped under a known gateway's key and bound to its
//! connection; the KDC keeps nothing per request. Refusals travel in clear, so their reasons
//! name no user and no host.

use super::refusal::Refusal;
use super::registrar::Registrar;
use super::store::{Limit, PrincipalRow, Store};
use crate::crypto::{self, labels::kdc as labels, Secret};
use crate::kdc::tickets::{self, TicketBody};
use crate::kdc::*;
use crate::wire::{Msg, RefusalCode, CHALLENGE_LEN};
use ring::rand::SecureRandom;

/// Logins one user name may be tried with, through any gateway: online guessing, even with a
/// stolen gateway key, gets 20 tries a quarter of an hour.
pub const LOGINS_PER_USER: Limit = Limit { count: 20, window: 900 };

fn bad(code: RefusalCode, why: impl Into<String>) -> Refusal {
    Refusal::new(code, why.into())
}

/// The gateway's key its request opens under (the current one, or the previous while a
/// rotation's grace lasts), and the request's body. The wrap is checked before anything is said
/// about the gateway, so an unauthenticated sender learns only "does not verify".
fn gateway_request<const T: u8>(
    store: &dyn Store,
    m: &FromGateway<T>,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
) -> Result<(Secret<32>, Vec<u8>), Refusal> {
    let not_verified = || bad(RefusalCode::BadSignature, "the request does not verify under a gateway key of this KDC");
    let p = store.principal(&m.gateway).map_err(Refusal::internal)?;
    let Some(p) = p.filter(|p| p.kind == PrincipalKind::Gateway) else { return Err(not_verified()) };
    let keys = std::iter::once(&p.key).chain(p.previous.iter().filter(|(_, _, until)| *until > now).map(|(_, k, _)| k));
    for k in keys {
        if let Some(body) = m.open(k, challenge) {
            if p.disabled {
                return Err(bad(RefusalCode::Disabled, "this gateway is disabled at the KDC"));
            }
            return Ok((k.clone(), body));
        }
    }
    Err(not_verified())
}

fn malformed(e: crate::wire::WireError) -> Refusal {
    bad(RefusalCode::Malformed, format!("malformed KDC request: {e}"))
}

fn skewed(time: u64, now: u64) -> Option<Refusal> {
    (time.abs_diff(now) > MAX_SKEW).then(|| {
        bad(
            RefusalCode::ClockSkew,
            format!(
                "the gateway's clock ({}) and the KDC's ({}) differ by more than {MAX_SKEW} s: set the clocks right",
                crate::clock::fmt_time(time),
                crate::clock::fmt_time(now)
            ),
        )
    })
}

/// Unknown names and wrong passwords get the same answer (the name is not confirmed to anyone
/// without the password).
fn wrong() -> Refusal {
    bad(RefusalCode::BadSignature, "the user name or the password is wrong")
}

fn disabled() -> Refusal {
    bad(RefusalCode::Disabled, "the principal is disabled at the KDC")
}

/// The parameters (0x70 → 0x71). For a name that is not a user, a decoy: the default costs and
/// a salt from the KDC key, the same for the same name, so the answer says nothing.
pub fn params(
    reg: &Registrar,
    m: &ParamsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let store = &*reg.store;
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = ParamsRequestBody::decode(&body).map_err(malformed)?;
    let user = store.principal(&req.user).map_err(Refusal::internal)?;
    let p = match user.filter(|u| u.kind == PrincipalKind::User).and_then(|u| u.argon2) {
        Some(p) => p,
        None => {
            let mac = crypto::hmac_sha256(reg.kdc_key().expose(), &[labels::DECOY_SALT, req.user.as_bytes()]);
            let (m_kib, t, p) = DEFAULT_ARGON2;
            Argon2Params { salt: mac[..16].try_into().expect("16 bytes"), m_kib, t, p }
        }
    };
    Params::new(&gw_key, &req.nonce, &p.encode(), rng).to_frame().map_err(Refusal::internal)
}

/// Whether `client` looks like what a gateway puts there: an address (at most 64 characters of
/// hex digits, `.` and `:`), or nothing. It goes into tickets and audit lines.
fn valid_client(client: &str) -> bool {
    client.len() <= 64 && client.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
}

/// The login (0x72 → 0x73, boxes 606-608).
pub fn login(
    reg: &Registrar,
    m: &AsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let store = &*reg.store;
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = AsRequestBody::decode(&body).map_err(malformed)?;
    if !valid_client(&req.client) {
        return Err(bad(RefusalCode::BadRequest, "the client address is not an address"));
    }
    let over =
        store.rate_take(&[(format!("kdc-login:{}", req.user), LOGINS_PER_USER)], now).map_err(Refusal::internal)?;
    if let Some((_, frees)) = over {
        return Err(bad(
            RefusalCode::RateLimited,
            format!("too many logins with this name lately; try again in {} min", frees.div_ceil(60)),
        ));
    }
    let Some(user) = store.principal(&req.user).map_err(Refusal::internal)?.filter(|u| u.kind == PrincipalKind::User)
    else {
        return Err(wrong());
    };
    let time = tickets::open_preauth(&user.key, &req.user, challenge, &req.nonce, &req.preauth).ok_or_else(wrong)?;
    // Said only to whoever holds the password.
    if user.disabled {
        return Err(disabled());
    }
    if let Some(r) = skewed(time, now) {
        return Err(r);
    }
    let session: Secret<32> = Secret::random(rng);
    let expires = now + TGT_LIFE;
    let tgt = TicketBody {
        user: req.user.clone(),
        client: req.client,
        issued: now,
        expires,
        user_kvno: user.kvno,
        key: session.clone(),
    };
    let reply = AsReplyBody {
        tgt: tickets::seal_tgt(reg.kdc_key(), &tgt, rng).map_err(Refusal::internal)?,
        key_for_user: tickets::wrap_for_user(&user.key, &req.user, &req.nonce, &session, expires, rng),
    };
    log::info!("KDC: {} logged in through the gateway {}", req.user, m.gateway);
    AsReply::new(&gw_key, &req.nonce, &reply.encode().map_err(Refusal::internal)?, rng)
        .to_frame()
        .map_err(Refusal::internal)
}

/// The key tickets for `host` are made under now, with its version: during a rotation's grace
/// still the previous one (the host may not have the new key table yet; it has the old key),
/// after it the new one.
fn issuing_key(host: &PrincipalRow, now: u64) -> (u32, &Secret<32>) {
    match &host.previous {
        Some((kvno, key, until)) if *until > now => (*kvno, key),
        _ => (host.kvno, &host.key),
    }
}

/// A service ticket (0x74 → 0x75, boxes 1506-1510; the seed's authenticator #2 of box 1507 is
/// the reply's wrap under the KDC session key).
pub fn ticket(
    reg: &Registrar,
    m: &TgsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let store = &*reg.store;
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = TgsRequestBody::decode(&body).map_err(malformed)?;
    let tgt = tickets::open_tgt(reg.kdc_key(), &req.tgt)
        .ok_or_else(|| bad(RefusalCode::BadSignature, "not a ticket-granting ticket of this KDC (tampered with?)"))?;
    if tgt.expires <= now {
        return Err(bad(
            RefusalCode::Expired,
            format!("the login expired at {}: log in again", crate::clock::fmt_time(tgt.expires)),
        ));
    }
    let (user, time) = tickets::open_authenticator(
        &tgt.key,
        labels::TGS_AUTHENTICATOR,
        &req.host,
        challenge,
        &req.nonce,
        &req.authenticator,
    )
    .ok_or_else(|| {
        bad(RefusalCode::BadSignature, "the authenticator does not verify under the ticket's session key")
    })?;
    if user != tgt.user {
        return Err(bad(RefusalCode::BadSignature, "the authenticator names another user than the ticket"));
    }
    if let Some(r) = skewed(time, now) {
        return Err(r);
    }
    // A user disabled since the login is refused at once; one whose password changed, or that
    // was deleted (and perhaps added again), is no longer the one who logged in.
    match store.principal(&tgt.user).map_err(Refusal::internal)? {
        Some(u) if u.kind == PrincipalKind::User && u.kvno == tgt.user_kvno && u.created <= tgt.issued => {
            if u.disabled {
                return Err(disabled());
            }
        }
        _ => {
            return Err(bad(
                RefusalCode::Expired,
                "the login is no longer valid (the password changed, or the principal was deleted): log in again",
            ))
        }
    }
    let host: PrincipalRow = store
        .principal(&req.host)
        .map_err(Refusal::internal)?
        .filter(|h| h.kind == PrincipalKind::Host)
        .ok_or_else(|| bad(RefusalCode::NotFound, "no such host at this KDC"))?;
    if host.disabled {
        return Err(disabled());
    }
    let server: Secret<32> = Secret::random(rng);
    let expires = (now + SERVICE_TICKET_LIFE).min(tgt.expires);
    let body = TicketBody {
        user: tgt.user.clone(),
        client: tgt.client.clone(),
        issued: now,
        expires,
        user_kvno: tgt.user_kvno,
        key: server.clone(),
    };
    let (kvno, host_key) = issuing_key(&host, now);
    let reply = TgsReplyBody {
        kvno,
        ticket: tickets::seal_service_ticket(host_key, &req.host, kvno, &body, rng).map_err(Refusal::internal)?,
        key_for_gateway: tickets::wrap_for_gateway(&tgt.key, &req.host, &req.nonce, &server, expires, rng),
    };
    TgsReply::new(&gw_key, &req.nonce, &reply.encode().map_err(Refusal::internal)?, rng)
        .to_frame()
        .map_err(Refusal::internal)
}
