//! What the KDC seals and what the gateway and the host open (PROTOCOL.md 5F): the
//! ticket-granting ticket (the seed's permission indicator), the service ticket (its access
//! indicator), the session keys wrapped for their holders, the pre-authentication and the
//! authenticator, and the user key derived from the password.

use super::msgs::{Argon2Params, Nonce};
use crate::crypto::{self, labels::kdc as labels, Secret};
use crate::wire::{put_str16, put_str8, Reader, WireError, CHALLENGE_LEN};
use crate::{Error, Result};
use ring::rand::SecureRandom;

/// What a ticket carries: who, from where, when, and the session key it hands out. The TGT's
/// key is the KDC session key; a service ticket's, the server session key. `user_kvno` is the
/// version of the user's key at the login: a new password (or the name deleted and added again)
/// ends the logins made before.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketBody {
    pub user: String,
    pub client: String,
    pub issued: u64,
    pub expires: u64,
    pub user_kvno: u32,
    pub key: Secret<32>,
}

impl std::fmt::Debug for TicketBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketBody")
            .field("user", &self.user)
            .field("client", &self.client)
            .field("issued", &self.issued)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl TicketBody {
    /// `str8 user ‖ str16 client ‖ u64 issued ‖ u64 expires ‖ u32 user_kvno ‖ [32] key`.
    pub fn encode(&self) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, WireError> {
        let mut o = zeroize::Zeroizing::new(Vec::new());
        put_str8(&mut o, &self.user)?;
        put_str16(&mut o, &self.client)?;
        o.extend_from_slice(&self.issued.to_be_bytes());
        o.extend_from_slice(&self.expires.to_be_bytes());
        o.extend_from_slice(&self.user_kvno.to_be_bytes());
        o.extend_from_slice(self.key.expose());
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> std::result::Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = TicketBody {
            user: r.str8("user")?.to_owned(),
            client: r.str16("client address")?.to_owned(),
            issued: r.u64("issued")?,
            expires: r.u64("expires")?,
            user_kvno: u32::from_be_bytes(r.take_array("user key version")?),
            key: Secret::new(r.take_array("session key")?),
        };
        r.finish()?;
        Ok(v)
    }
}

fn host_aad(host: &str, kvno: u32) -> std::result::Result<Vec<u8>, WireError> {
    let mut a = Vec::new();
    put_str8(&mut a, host)?;
    a.extend_from_slice(&kvno.to_be_bytes());
    Ok(a)
}

/// KDC: the TGT, sealed under the KDC's own key (only the KDC opens it).
pub fn seal_tgt(kdc_key: &Secret<32>, body: &TicketBody, rng: &dyn SecureRandom) -> Result<Vec<u8>> {
    Ok(crypto::wrap(kdc_key.expose(), labels::TGT, b"", &body.encode()?, rng))
}

/// KDC: a TGT it issued, or `None` (another KDC's, tampered with, or not a TGT).
pub fn open_tgt(kdc_key: &Secret<32>, tgt: &[u8]) -> Option<TicketBody> {
    let plain = zeroize::Zeroizing::new(crypto::unwrap(kdc_key.expose(), labels::TGT, b"", tgt)?);
    TicketBody::decode(&plain).ok()
}

/// KDC: a service ticket for `host`, under its key of version `kvno`.
pub fn seal_service_ticket(
    host_key: &Secret<32>,
    host: &str,
    kvno: u32,
    body: &TicketBody,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>> {
    Ok(crypto::wrap(host_key.expose(), labels::SERVICE_TICKET, &host_aad(host, kvno)?, &body.encode()?, rng))
}

/// Host: a service ticket for `host` under its key of version `kvno` (from its key table).
pub fn open_service_ticket(host_key: &Secret<32>, host: &str, kvno: u32, ticket: &[u8]) -> Option<TicketBody> {
    let aad = host_aad(host, kvno).ok()?;
    let plain = zeroize::Zeroizing::new(crypto::unwrap(host_key.expose(), labels::SERVICE_TICKET, &aad, ticket)?);
    TicketBody::decode(&plain).ok()
}

/// A session key handed to its holder, wrapped: `[32] key ‖ u64 expires`.
fn wrap_session_key(
    under: &Secret<32>,
    label: &[u8],
    aad: &[u8],
    key: &Secret<32>,
    expires: u64,
    rng: &dyn SecureRandom,
) -> Vec<u8> {
    let plain = zeroize::Zeroizing::new([&key.expose()[..], &expires.to_be_bytes()].concat());
    crypto::wrap(under.expose(), label, aad, &plain, rng)
}

fn unwrap_session_key(under: &Secret<32>, label: &[u8], aad: &[u8], wrapped: &[u8]) -> Option<(Secret<32>, u64)> {
    let plain = zeroize::Zeroizing::new(crypto::unwrap(under.expose(), label, aad, wrapped)?);
    if plain.len() != 40 {
        return None;
    }
    Some((Secret::from_slice(&plain[..32])?, u64::from_be_bytes(plain[32..].try_into().ok()?)))
}

fn name_nonce(name: &str, nonce: &Nonce) -> Vec<u8> {
    let mut a = Vec::new();
    let _ = put_str8(&mut a, name);
    a.extend_from_slice(nonce);
    a
}

/// KDC: the KDC session key for the user, under the user key (box 608), bound to the request.
pub fn wrap_for_user(
    user_key: &Secret<32>,
    user: &str,
    nonce: &Nonce,
    kdc_session_key: &Secret<32>,
    expires: u64,
    rng: &dyn SecureRandom,
) -> Vec<u8> {
    wrap_session_key(user_key, labels::KEY_FOR_USER, &name_nonce(user, nonce), kdc_session_key, expires, rng)
}

/// Gateway: the KDC session key, with the password-derived user key (box 609).
pub fn unwrap_for_user(user_key: &Secret<32>, user: &str, nonce: &Nonce, wrapped: &[u8]) -> Option<(Secret<32>, u64)> {
    unwrap_session_key(user_key, labels::KEY_FOR_USER, &name_nonce(user, nonce), wrapped)
}

/// KDC: the server session key for the gateway, under the KDC session key (box 1510).
pub fn wrap_for_gateway(
    kdc_session_key: &Secret<32>,
    host: &str,
    nonce: &Nonce,
    server_key: &Secret<32>,
    expires: u64,
    rng: &dyn SecureRandom,
) -> Vec<u8> {
    wrap_session_key(kdc_session_key, labels::KEY_FOR_GATEWAY, &name_nonce(host, nonce), server_key, expires, rng)
}

/// Gateway: the server session key.
pub fn unwrap_for_gateway(
    kdc_session_key: &Secret<32>,
    host: &str,
    nonce: &Nonce,
    wrapped: &[u8],
) -> Option<(Secret<32>, u64)> {
    unwrap_session_key(kdc_session_key, labels::KEY_FOR_GATEWAY, &name_nonce(host, nonce), wrapped)
}

/// The pre-authentication of a login: `wrap(user key, "sslx-kdc-preauth-v1", aad = str8 user ‖
/// nonce ‖ challenge, u64 time)`. The KDC hands out nothing for a user unless the requester
/// holds the user key (no offline guessing from a reply anyone could ask for).
pub fn make_preauth(
    user_key: &Secret<32>,
    user: &str,
    challenge: &[u8; CHALLENGE_LEN],
    nonce: &Nonce,
    time: u64,
    rng: &dyn SecureRandom,
) -> Vec<u8> {
    let aad = [&name_nonce(user, nonce)[..], challenge].concat();
    crypto::wrap(user_key.expose(), labels::PREAUTH, &aad, &time.to_be_bytes(), rng)
}

/// KDC: the time in a pre-authentication made with `user_key` on this connection.
pub fn open_preauth(
    user_key: &Secret<32>,
    user: &str,
    challenge: &[u8; CHALLENGE_LEN],
    nonce: &Nonce,
    preauth: &[u8],
) -> Option<u64> {
    let aad = [&name_nonce(user, nonce)[..], challenge].concat();
    let plain = crypto::unwrap(user_key.expose(), labels::PREAUTH, &aad, preauth)?;
    Some(u64::from_be_bytes(plain.try_into().ok()?))
}

/// An authenticator (the seed's: user and time stamp, under a session key), bound to where it
/// goes (`to`: the host named, or the host itself), the request's nonce and the connection's
/// challenge, so a copy proves nothing anywhere else: `wrap(session key, label, aad = str8 to ‖
/// nonce ‖ challenge, str8 user ‖ u64 time)`.
#[allow(clippy::too_many_arguments)]
pub fn make_authenticator(
    session_key: &Secret<32>,
    label: &[u8],
    to: &str,
    challenge: &[u8; CHALLENGE_LEN],
    nonce: &Nonce,
    user: &str,
    time: u64,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>> {
    let aad = [&name_nonce(to, nonce)[..], challenge].concat();
    let mut plain = Vec::new();
    put_str8(&mut plain, user)?;
    plain.extend_from_slice(&time.to_be_bytes());
    Ok(crypto::wrap(session_key.expose(), label, &aad, &plain, rng))
}

/// The user and time of an authenticator, if it opens under `session_key` for this place.
pub fn open_authenticator(
    session_key: &Secret<32>,
    label: &[u8],
    to: &str,
    challenge: &[u8; CHALLENGE_LEN],
    nonce: &Nonce,
    authenticator: &[u8],
) -> Option<(String, u64)> {
    let aad = [&name_nonce(to, nonce)[..], challenge].concat();
    let plain = crypto::unwrap(session_key.expose(), label, &aad, authenticator)?;
    let mut r = Reader::new(&plain);
    let user = r.str8("user").ok()?.to_owned();
    let time = r.u64("time").ok()?;
    r.finish().ok()?;
    Some((user, time))
}

/// The user key: Argon2id of the password with the principal's salt and costs (box 609: "a
/// secure one-way hash of the password"), 32 bytes.
pub fn user_key(password: &[u8], p: &Argon2Params) -> Result<Secret<32>> {
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
        .map_err(|e| Error::Usage(format!("Argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    argon.hash_password_into(password, &p.salt, out.as_mut()).map_err(|e| Error::Other(format!("Argon2id: {e}")))?;
    Ok(Secret::new(*out))
}

/// A login's result, kept by the client between commands (the seed's credentials cache, boxes
/// 609-613): the user, the TGT and the KDC session key, and when they expire. Its text form is
/// `sslx-ccache1:` and base64url (no padding) of `str8 user ‖ u64 expires ‖ bytes16 tgt ‖ [32]
/// kdc session key`.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialsCache {
    pub user: String,
    pub expires: u64,
    pub tgt: Vec<u8>,
    pub key: Secret<32>,
}

impl std::fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsCache")
            .field("user", &self.user)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The text form's prefix.
pub const CCACHE_PREFIX: &str = "sslx-ccache1:";

impl CredentialsCache {
    pub fn encode(&self) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, WireError> {
        let mut o = zeroize::Zeroizing::new(Vec::new());
        put_str8(&mut o, &self.user)?;
        o.extend_from_slice(&self.expires.to_be_bytes());
        crate::wire::put_bytes16(&mut o, &self.tgt)?;
        o.extend_from_slice(self.key.expose());
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> std::result::Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = CredentialsCache {
            user: r.str8("user")?.to_owned(),
            expires: r.u64("expires")?,
            tgt: r.bytes16("ticket-granting ticket")?.to_vec(),
            key: Secret::new(r.take_array("KDC session key")?),
        };
        r.finish()?;
        Ok(v)
    }
    pub fn to_text(&self) -> std::result::Result<zeroize::Zeroizing<String>, WireError> {
        use base64::Engine;
        let b = self.encode()?;
        Ok(zeroize::Zeroizing::new(format!(
            "{CCACHE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b[..])
        )))
    }
    pub fn from_text(text: &str) -> std::result::Result<Self, WireError> {
        use base64::Engine;
        let body = text.trim().strip_prefix(CCACHE_PREFIX).ok_or(WireError::Invalid("credentials cache prefix"))?;
        if body.len() > 8192 {
            return Err(WireError::Invalid("credentials cache length"));
        }
        let b = zeroize::Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| WireError::Invalid("credentials cache base64"))?,
        );
        Self::decode(&b)
    }
}
