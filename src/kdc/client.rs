//! A gateway's side of the KDC exchanges (PROTOCOL.md 5F): the login (parameters, then the
//! pre-authenticated request for a ticket-granting ticket, boxes 606-609) and a service ticket
//! for a host (boxes 1506-1510). One request per connection, each bound to its challenge.

use super::keytab::KeyTable;
use super::msgs::*;
use super::tickets::{self, CredentialsCache};
use crate::crypto::{self, labels::kdc as labels, Secret};
use crate::wire::{Msg, CHALLENGE_LEN};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::time::Duration;

/// How long the gateway waits for the KDC's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(30);

fn not_from_the_kdc(what: &str) -> Error {
    Error::VerifyFailed(format!("the KDC's {what} does not verify under this gateway's key (not from the KDC)"))
}

/// The Argon2id parameters the KDC has for `user` (for a name it does not know, a decoy that
/// looks the same).
pub fn params(cds: &str, gw: &KeyTable, user: &str, rng: &dyn SecureRandom) -> Result<Argon2Params> {
    let key = &gw.current().key;
    let nonce: Nonce = crypto::random_array(rng);
    let body = ParamsRequestBody { nonce, user: user.to_owned() }.encode()?;
    let f = crate::net::exchange(cds, ANSWER_WAIT, |ch| {
        Ok(ParamsRequest::new(&gw.principal, key, ch, &body, rng)?.to_frame()?)
    })?;
    let plain = Params::from_frame(&f)?.open(key, &nonce).ok_or_else(|| not_from_the_kdc("parameters"))?;
    Ok(Argon2Params::decode(&plain)?)
}

/// The least Argon2id memory a gateway accepts from the KDC by default, KiB (OWASP's minimum):
/// someone answering in the KDC's place (with a stolen gateway key) cannot make the gateway send
/// a pre-authentication that is cheap to guess against.
pub const MIN_ARGON2_MEMORY: u32 = 19 * 1024;

/// Logs `user` in with `password` (the gateway derives the user key, proves it, and opens the
/// KDC session key with it): the credentials cache. `client` is where the user came from.
/// Parameters under `min_memory_kib` are refused before the password is used.
#[allow(clippy::too_many_arguments)]
pub fn login(
    cds: &str,
    gw: &KeyTable,
    user: &str,
    password: &[u8],
    client: &str,
    min_memory_kib: u32,
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<CredentialsCache> {
    let p = params(cds, gw, user, rng)?;
    if p.m_kib < min_memory_kib {
        return Err(Error::VerifyFailed(format!(
            "the KDC asks for an Argon2id memory of {} KiB for {user}, under this gateway's floor of {min_memory_kib} KiB (--min-argon2-memory): refused, the password was not used",
            p.m_kib
        )));
    }
    let user_key = tickets::user_key(password, &p)?;
    let key = &gw.current().key;
    let nonce: Nonce = crypto::random_array(rng);
    let f = crate::net::exchange(cds, ANSWER_WAIT, |ch| {
        let preauth = tickets::make_preauth(&user_key, user, ch, &nonce, now, rng);
        let body = AsRequestBody { nonce, user: user.to_owned(), client: client.to_owned(), preauth }.encode()?;
        Ok(AsRequest::new(&gw.principal, key, ch, &body, rng)?.to_frame()?)
    })?;
    let plain = AsReply::from_frame(&f)?.open(key, &nonce).ok_or_else(|| not_from_the_kdc("login reply"))?;
    let reply = AsReplyBody::decode(&plain)?;
    let (kdc_session_key, expires) = tickets::unwrap_for_user(&user_key, user, &nonce, &reply.key_for_user)
        .ok_or_else(|| not_from_the_kdc("session key for the user"))?;
    Ok(CredentialsCache { user: user.to_owned(), expires, tgt: reply.tgt, key: kdc_session_key })
}

/// What the KDC gives for one command: the service ticket for the host (under its key of
/// version `kvno`) and the server session key.
pub struct ServiceGrant {
    pub host: String,
    pub kvno: u32,
    pub ticket: Vec<u8>,
    pub key: Secret<32>,
    pub expires: u64,
}

/// A service ticket for `host`, from the credentials cache (its TGT and a fresh authenticator
/// under the KDC session key).
pub fn service_ticket(
    cds: &str,
    gw: &KeyTable,
    cache: &CredentialsCache,
    host: &str,
    now: u64,
    rng: &dyn SecureRandom,
) -> Result<ServiceGrant> {
    if cache.expires <= now {
        return Err(Error::Expired {
            what: format!("the login of {} has expired: log in again", cache.user),
            now: crate::clock::fmt_time(now),
            edge: format!("expired {}", crate::clock::fmt_time(cache.expires)),
        });
    }
    let key = &gw.current().key;
    let nonce: Nonce = crypto::random_array(rng);
    let f = crate::net::exchange(cds, ANSWER_WAIT, |ch: &[u8; CHALLENGE_LEN]| {
        let authenticator = tickets::make_authenticator(
            &cache.key,
            labels::TGS_AUTHENTICATOR,
            host,
            ch,
            &nonce,
            &cache.user,
            now,
            rng,
        )?;
        let body = TgsRequestBody { nonce, host: host.to_owned(), tgt: cache.tgt.clone(), authenticator }.encode()?;
        Ok(TgsRequest::new(&gw.principal, key, ch, &body, rng)?.to_frame()?)
    })?;
    let plain = TgsReply::from_frame(&f)?.open(key, &nonce).ok_or_else(|| not_from_the_kdc("ticket reply"))?;
    let reply = TgsReplyBody::decode(&plain)?;
    let (server_key, expires) = tickets::unwrap_for_gateway(&cache.key, host, &nonce, &reply.key_for_gateway)
        .ok_or_else(|| not_from_the_kdc("server session key"))?;
    Ok(ServiceGrant { host: host.to_owned(), kvno: reply.kvno, ticket: reply.ticket, key: server_key, expires })
}
