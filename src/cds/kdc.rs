//! The KDC in the CDS (seed 003, first patent; PROTOCOL.md 5F): a gateway's login request
//! (after the user's key-derivation parameters) gets a ticket-granting ticket and the KDC
//! session key wrapped in the user key; a ticket request (the TGT and an authenticator under the
//! KDC session key) gets a service ticket for a host and the server session key wrapped in the
//! KDC session key. Every request comes wrapped under a known gateway's key and bound to its
//! connection; the KDC keeps nothing per request.

use super::refusal::Refusal;
use super::store::{PrincipalRow, Store};
use crate::crypto::{self, labels::kdc as labels, Secret};
use crate::kdc::tickets::{self, TicketBody};
use crate::kdc::*;
use crate::wire::{Msg, RefusalCode, CHALLENGE_LEN};
use ring::rand::SecureRandom;

fn bad(code: RefusalCode, why: impl Into<String>) -> Refusal {
    Refusal::new(code, why.into())
}

/// The gateway's principal and the key its request opens under (the current one, or the
/// previous while a rotation's grace lasts), and the request's body.
fn gateway_request<const T: u8>(
    store: &dyn Store,
    m: &FromGateway<T>,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
) -> Result<(Secret<32>, Vec<u8>), Refusal> {
    let p = store.principal(&m.gateway).map_err(Refusal::internal)?;
    let Some(p) = p.filter(|p| p.kind == PrincipalKind::Gateway) else {
        return Err(bad(
            RefusalCode::NotEnrolled,
            format!("{:?} is not a gateway of this KDC (sslx-cds gateway add)", m.gateway),
        ));
    };
    if p.disabled {
        return Err(bad(RefusalCode::Disabled, format!("the gateway {:?} is disabled at this KDC", m.gateway)));
    }
    let keys = std::iter::once(&p.key).chain(p.previous.iter().filter(|(_, _, until)| *until > now).map(|(_, k, _)| k));
    for k in keys {
        if let Some(body) = m.open(k, challenge) {
            return Ok((k.clone(), body));
        }
    }
    Err(bad(
        RefusalCode::BadSignature,
        format!("the request does not verify under the key of the gateway {:?}", m.gateway),
    ))
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

/// A user principal that may log in now, or why not. Unknown names and wrong passwords get the
/// same answer (the name is not confirmed to anyone without the password).
fn wrong() -> Refusal {
    bad(RefusalCode::BadSignature, "the user name or the password is wrong")
}

/// The parameters (0x70 → 0x71). For a name that is not a user, a decoy salt (the same for the
/// same name, from the KDC key) and the default costs, so the answer says nothing.
pub fn params(
    store: &dyn Store,
    m: &ParamsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = ParamsRequestBody::decode(&body).map_err(malformed)?;
    let user = store.principal(&req.user).map_err(Refusal::internal)?;
    let p = match user.filter(|u| u.kind == PrincipalKind::User).and_then(|u| u.argon2) {
        Some(p) => p,
        None => {
            let kdc_key = store.kdc_key(rng).map_err(Refusal::internal)?;
            let mac = crypto::hmac_sha256(kdc_key.expose(), &[labels::DECOY_SALT, req.user.as_bytes()]);
            let (m_kib, t, p) = DEFAULT_ARGON2;
            Argon2Params { salt: mac[..16].try_into().expect("16 bytes"), m_kib, t, p }
        }
    };
    Params::new(&gw_key, &req.nonce, &p.encode(), rng).to_frame().map_err(Refusal::internal)
}

/// The login (0x72 → 0x73, boxes 606-608).
pub fn login(
    store: &dyn Store,
    m: &AsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = AsRequestBody::decode(&body).map_err(malformed)?;
    let Some(user) = store.principal(&req.user).map_err(Refusal::internal)?.filter(|u| u.kind == PrincipalKind::User)
    else {
        return Err(wrong());
    };
    let time = tickets::open_preauth(&user.key, &req.user, challenge, &req.nonce, &req.preauth).ok_or_else(wrong)?;
    // Said only to whoever holds the password.
    if user.disabled {
        return Err(bad(RefusalCode::Disabled, format!("the principal {:?} is disabled", req.user)));
    }
    if let Some(r) = skewed(time, now) {
        return Err(r);
    }
    let kdc_key = store.kdc_key(rng).map_err(Refusal::internal)?;
    let session: Secret<32> = Secret::random(rng);
    let expires = now + TGT_LIFE;
    let tgt = TicketBody { user: req.user.clone(), client: req.client, issued: now, expires, key: session.clone() };
    let reply = AsReplyBody {
        tgt: tickets::seal_tgt(&kdc_key, &tgt, rng).map_err(Refusal::internal)?,
        key_for_user: tickets::wrap_for_user(&user.key, &req.user, &req.nonce, &session, expires, rng),
    };
    log::info!("KDC: {} logged in through the gateway {}", req.user, m.gateway);
    AsReply::new(&gw_key, &req.nonce, &reply.encode().map_err(Refusal::internal)?, rng)
        .to_frame()
        .map_err(Refusal::internal)
}

/// A service ticket (0x74 → 0x75, boxes 1506-1510).
pub fn ticket(
    store: &dyn Store,
    m: &TgsRequest,
    challenge: &[u8; CHALLENGE_LEN],
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Refusal> {
    let (gw_key, body) = gateway_request(store, m, challenge, now)?;
    let req = TgsRequestBody::decode(&body).map_err(malformed)?;
    let kdc_key = store.kdc_key(rng).map_err(Refusal::internal)?;
    let tgt = tickets::open_tgt(&kdc_key, &req.tgt)
        .ok_or_else(|| bad(RefusalCode::BadSignature, "not a ticket-granting ticket of this KDC (tampered with?)"))?;
    if tgt.expires <= now {
        return Err(bad(
            RefusalCode::Expired,
            format!("the login of {} expired at {}: log in again", tgt.user, crate::clock::fmt_time(tgt.expires)),
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
    // A principal disabled or deleted since the login is refused at once.
    match store.principal(&tgt.user).map_err(Refusal::internal)? {
        Some(u) if u.kind == PrincipalKind::User && !u.disabled => {}
        Some(u) if u.disabled => {
            return Err(bad(RefusalCode::Disabled, format!("the principal {:?} is disabled", tgt.user)));
        }
        _ => return Err(bad(RefusalCode::NotFound, format!("{:?} is no longer a principal of this KDC", tgt.user))),
    }
    let host: PrincipalRow =
        store.principal(&req.host).map_err(Refusal::internal)?.filter(|h| h.kind == PrincipalKind::Host).ok_or_else(
            || bad(RefusalCode::NotFound, format!("no host {:?} at this KDC (sslx-cds host add)", req.host)),
        )?;
    if host.disabled {
        return Err(bad(RefusalCode::Disabled, format!("the host {:?} is disabled at this KDC", req.host)));
    }
    let server: Secret<32> = Secret::random(rng);
    let expires = (now + SERVICE_TICKET_LIFE).min(tgt.expires);
    let body =
        TicketBody { user: tgt.user.clone(), client: tgt.client.clone(), issued: now, expires, key: server.clone() };
    let reply = TgsReplyBody {
        kvno: host.kvno,
        ticket: tickets::seal_service_ticket(&host.key, &req.host, host.kvno, &body, rng).map_err(Refusal::internal)?,
        key_for_gateway: tickets::wrap_for_gateway(&tgt.key, &req.host, &req.nonce, &server, expires, rng),
    };
    TgsReply::new(&gw_key, &req.nonce, &reply.encode().map_err(Refusal::internal)?, rng)
        .to_frame()
        .map_err(Refusal::internal)
}
