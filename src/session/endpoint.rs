//! A participant as a session endpoint: who it is (name, CDSK), its session cache, and the two
//! ways a session starts: calling a listener, or accepting a call.

use super::cache::{Role, SessionCache, DEFAULT_RESUME_LIFE};
use super::handshake::{ClientParams, Session};
use super::io::{client_handshake, server_handshake, ClientKey, Conn};
use super::msgs::{KeyRef, ListenerHello, Suite};
use crate::broker::Ticket;
use crate::crypto::Secret;
use crate::keys::Home;
use crate::wire::{Msg, RefusalCode};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::net::TcpStream;
use std::time::Duration;

/// How a session is made.
#[derive(Debug, Clone)]
pub struct Options {
    /// X25519 ephemeral keys in a full handshake (forward secrecy). Resumption never does DH.
    pub forward_secrecy: bool,
    /// Try a cached session with the peer first.
    pub resume: bool,
    /// Ciphers, in order of preference.
    pub suites: Vec<u8>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            forward_secrecy: true,
            resume: true,
            suites: vec![Suite::Aes256Gcm as u8, Suite::ChaCha20Poly1305 as u8],
        }
    }
}

pub struct Endpoint {
    pub home: Home,
    pub name: String,
    pub cdsk: Secret<32>,
    /// The CDS's protocol address, for tickets.
    pub cds: String,
}

impl Endpoint {
    /// The enrolled participant of `home` (its confirmed CDSK and remembered CDS).
    pub fn load(home: &Home, cds_flag: Option<&str>) -> Result<Self> {
        let (name, cdsk) = crate::broker::client::enrolled(home)?;
        let cds = crate::vsu::client::cds_addr(home, cds_flag)?;
        Ok(Endpoint { home: home.clone(), name, cdsk, cds })
    }

    fn client_key(&self, peer: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<ClientKey> {
        if opts.resume {
            if let Some((key_id, mk)) = SessionCache::open(&self.home)?.take_for_peer(peer, crate::cli::now_unix())? {
                return Ok(ClientKey::Resume { key_id, mk });
            }
        }
        let g = crate::broker::client::request_session(&self.cds, &self.name, &self.cdsk, peer, rng)?;
        Ok(ClientKey::Ticket { ticket: g.ticket, dsmk: g.dsmk })
    }

    /// Calls `target`: a peer's name (through the CDS relay), or the HOST:PORT of a
    /// `sslx listen --bind` (directly). The listener's hello names it, the CDS gives a ticket (or
    /// the cache a resumable session), the handshake runs. A resumption the listener no longer
    /// knows falls back to a full handshake on a new connection.
    pub fn dial(&self, target: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<(Session, Conn)> {
        let (mut conn, peer) = self.connect(target, rng)?;
        let key = self.client_key(&peer, opts, rng)?;
        let resuming = matches!(key, ClientKey::Resume { .. });
        let (session, mut conn) = match self.handshake_as_client(&mut conn, &peer, key, opts, rng) {
            Err(Error::Refused { code, .. }) if resuming && code == RefusalCode::UnknownKeyId as u16 => {
                let (mut conn, _) = self.connect(target, rng)?;
                let opts = Options { resume: false, ..opts.clone() };
                let key = self.client_key(&peer, &opts, rng)?;
                (self.handshake_as_client(&mut conn, &peer, key, &opts, rng)?, conn)
            }
            other => (other?, conn),
        };
        conn.reader_timeout(None);
        Ok((session, conn))
    }

    /// A connection to the listener, after its hello: directly, or through the relay.
    fn connect(&self, target: &str, rng: &dyn SecureRandom) -> Result<(Conn, String)> {
        if target.contains(':') {
            return connect(target);
        }
        crate::keys::check_name(target)?;
        let (stream, _tracking) = crate::relay::client::call(&self.cds, &self.name, &self.cdsk, target, rng)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut conn = Conn::new(stream)?;
        let (hello, _) = conn.expect::<ListenerHello>()?;
        if hello.name != target {
            return Err(Error::VerifyFailed(format!(
                "the relay connected a listener calling itself {:?}, not {target:?}",
                hello.name
            )));
        }
        Ok((conn, hello.name))
    }

    fn handshake_as_client(
        &self,
        conn: &mut Conn,
        peer: &str,
        key: ClientKey,
        opts: &Options,
        rng: &dyn SecureRandom,
    ) -> Result<Session> {
        let resuming = matches!(key, ClientKey::Resume { .. });
        let (key_ref, psk) = key.split();
        let p = ClientParams {
            name: self.name.clone(),
            key_ref,
            psk,
            forward_secrecy: opts.forward_secrecy && !resuming,
            suites: opts.suites.clone(),
            expect_server: Some(peer.to_owned()),
        };
        let s = client_handshake(conn, p, rng)?;
        SessionCache::open(&self.home)?.put(
            &s.key_id,
            &s.master_key,
            peer,
            Role::Client,
            crate::cli::now_unix(),
            DEFAULT_RESUME_LIFE,
        )?;
        Ok(s)
    }

    /// Accepts one call on `stream`: hello, then the handshake with the caller's ticket or Key-ID.
    pub fn accept(&self, stream: TcpStream, opts: &Options, rng: &dyn SecureRandom) -> Result<(Session, Conn)> {
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut conn = Conn::new(stream)?;
        conn.send(&ListenerHello { name: self.name.clone() }.to_frame())?;
        let cache = SessionCache::open(&self.home)?;
        let now = crate::cli::now_unix();
        let s = server_handshake(
            &mut conn,
            &self.name,
            &opts.suites,
            |m1| self.resolve(&cache, m1, now),
            |s| cache.put(&s.key_id, &s.master_key, &s.summary.peer, Role::Server, now, DEFAULT_RESUME_LIFE),
            rng,
        )?;
        conn.reader_timeout(None);
        Ok((s, conn))
    }

    /// The pre-shared key M1 names, or why it is refused.
    fn resolve(
        &self,
        cache: &SessionCache,
        m1: &super::msgs::M1,
        now: u64,
    ) -> std::result::Result<Secret<32>, (RefusalCode, String)> {
        use RefusalCode::*;
        let internal = |e: Error| (Internal, format!("session cache: {e}"));
        match &m1.key_ref {
            KeyRef::Ticket(bytes) => {
                let t = Ticket::decode(bytes).map_err(|e| (Malformed, format!("the ticket is malformed: {e}")))?;
                if t.holder != self.name {
                    return Err((BadRequest, format!("the ticket is for {:?}, this is {:?}", t.holder, self.name)));
                }
                let body = t.open(&self.cdsk).ok_or((
                    BadSignature,
                    format!(
                        "the ticket does not open under the CDS key of {:?} (altered, or made for an older key)",
                        self.name
                    ),
                ))?;
                if body.caller != m1.client_name {
                    return Err((
                        BadSignature,
                        format!("the ticket was issued to {:?}, not {:?}", body.caller, m1.client_name),
                    ));
                }
                if body.expires <= now {
                    return Err((Expired, format!("the ticket expired at {}", crate::cli::fmt_time(body.expires))));
                }
                if !cache.first_use_of_ticket(&t.session_id, body.expires, now).map_err(internal)? {
                    return Err((AlreadyConfirmed, "this ticket was used before: a replayed M1 is refused".into()));
                }
                Ok(body.dsmk)
            }
            KeyRef::KeyId(id) => {
                let (mk, peer) = cache
                    .take_by_id(id, now)
                    .map_err(internal)?
                    .ok_or((UnknownKeyId, "unknown or already used Key-ID: a full handshake is needed".to_owned()))?;
                if peer != m1.client_name {
                    return Err((BadSignature, format!("that Key-ID belongs to a session with {peer:?}")));
                }
                Ok(mk)
            }
        }
    }
}

/// Connects and reads the listener's hello.
fn connect(addr: &str) -> Result<(Conn, String)> {
    let stream = crate::net::connect(addr, addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut conn = Conn::new(stream)?;
    let (hello, _) = conn.expect::<ListenerHello>()?;
    crate::keys::check_name(&hello.name)?;
    Ok((conn, hello.name))
}
