//! A participant as a session endpoint: who it is (name, CDSK), its session cache, and the two
//! ways a session starts: calling a listener, or accepting a call.

use super::cache::{Role, SessionCache, DEFAULT_RESUME_LIFE};
use super::error::SessionError;
use super::handshake::{ClientParams, Session};
use super::io::{client_handshake, server_handshake, ClientKey, Conn};
use super::msgs::{KeyRef, ListenerHello, Suite};
use crate::broker::Ticket;
use crate::clock::{Clock, SystemClock};
use crate::crypto::Secret;
use crate::keys::Home;
use crate::wire::{Msg, RefusalCode};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Which callers a listener takes: a test on the caller's name (authenticated by its ticket or
/// its cached session before it is asked).
pub type AllowFn = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How a session is made.
#[derive(Clone)]
pub struct Options {
    /// X25519 ephemeral keys (forward secrecy), in full handshakes and resumptions alike (PSK +
    /// DHE, as TLS 1.3's psk_dhe_ke). Off (`--no-fs`): the seed's PSK-only mode; a listener
    /// without it refuses callers that ask for a key exchange.
    pub forward_secrecy: bool,
    /// Try a cached session with the peer first.
    pub resume: bool,
    /// Ciphers, in order of preference.
    pub suites: Vec<u8>,
    /// Dialing a bare HOST:PORT whose listener this home has not met there: go ahead, and
    /// remember its name (`--yes`). Otherwise such a dial is refused before anything is sent.
    pub accept_new_listener: bool,
    /// Accepting: only callers this allows (None: any participant enrolled at the CDS).
    pub allow: Option<AllowFn>,
    /// Dialing through the relay: the callee's service to call (`relay::service`; a direct dial
    /// reaches whatever listens at the address).
    pub service: String,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("forward_secrecy", &self.forward_secrecy)
            .field("resume", &self.resume)
            .field("suites", &self.suites)
            .field("accept_new_listener", &self.accept_new_listener)
            .field("allow", &self.allow.as_ref().map(|_| "[a list]"))
            .field("service", &self.service)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            forward_secrecy: true,
            resume: true,
            suites: vec![Suite::Aes256Gcm as u8, Suite::ChaCha20Poly1305 as u8],
            accept_new_listener: false,
            allow: None,
            service: crate::relay::service::SESSION.to_owned(),
        }
    }
}

/// What `dial` is given: a name (through the relay), `NAME@HOST:PORT` (directly, expecting
/// NAME), or a bare `HOST:PORT` (directly, expecting whoever this home met there before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Relay(String),
    Direct { addr: String, expect: Option<String> },
}

impl Target {
    pub fn parse(t: &str) -> Result<Self> {
        match t.split_once('@') {
            Some((name, addr)) => {
                crate::keys::check_name(name)?;
                if !addr.contains(':') {
                    return Err(Error::Usage(format!("{t:?}: give NAME@HOST:PORT")));
                }
                Ok(Target::Direct { addr: addr.to_owned(), expect: Some(name.to_owned()) })
            }
            None if t.contains(':') => Ok(Target::Direct { addr: t.to_owned(), expect: None }),
            None => {
                crate::keys::check_name(t)?;
                Ok(Target::Relay(t.to_owned()))
            }
        }
    }
}

/// The listeners this home has met at an address (`known-listeners`: `HOST:PORT NAME` lines),
/// so that a bare `sslx dial HOST:PORT` knows whom to expect there, as ssh's known hosts do.
pub struct KnownListeners {
    path: std::path::PathBuf,
}

pub const KNOWN_LISTENERS_FILE: &str = "known-listeners";

impl KnownListeners {
    pub fn of(home: &Home) -> Self {
        KnownListeners { path: home.path(KNOWN_LISTENERS_FILE) }
    }

    fn entries(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(' ').map(|(a, n)| (a.trim().to_owned(), n.trim().to_owned())))
            .collect()
    }

    pub fn get(&self, addr: &str) -> Option<String> {
        self.entries().into_iter().find(|(a, _)| a == addr).map(|(_, n)| n)
    }

    pub fn remember(&self, home: &Home, addr: &str, name: &str) -> Result<()> {
        let mut e: Vec<(String, String)> = self.entries().into_iter().filter(|(a, _)| a != addr).collect();
        e.push((addr.to_owned(), name.to_owned()));
        home.ensure()?;
        let text: String = std::iter::once("# HOST:PORT NAME: the listener sslx met at that address\n".to_owned())
            .chain(e.iter().map(|(a, n)| format!("{a} {n}\n")))
            .collect();
        crate::keys::write_atomic(&self.path, text.as_bytes(), 0o644)
    }
}

/// How long a caller has, from the listener's hello, to finish its side of the handshake.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

pub struct Endpoint {
    pub home: Home,
    pub name: String,
    /// The CDSK, read again when a renewal replaced it (see [`Endpoint::cdsk`]).
    keys: Arc<crate::enrollment::CurrentCdsk>,
    /// The CDS's protocol address, for tickets.
    pub cds: String,
    /// What the endpoint reads the time from: the lives of cached sessions, tickets' validity.
    pub clock: Arc<dyn Clock>,
}

impl Endpoint {
    /// The enrolled participant of `home` (its confirmed CDSK and remembered CDS).
    pub fn load(home: &Home, cds_flag: Option<&str>) -> Result<Self> {
        let (name, cdsk) = crate::broker::client::enrolled(home)?;
        let cds = crate::enrollment::cds_addr(home, cds_flag)?;
        let keys = Arc::new(crate::enrollment::CurrentCdsk::new(home, cdsk));
        Ok(Endpoint { home: home.clone(), name, keys, cds, clock: Arc::new(SystemClock) })
    }

    /// The participant's CDSK as the home holds it now (a renewal by another process shows).
    pub fn cdsk(&self) -> Secret<32> {
        self.keys.get()
    }

    /// The same endpoint reading time from `clock` (a test's `FixedClock`).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Endpoint { clock, ..self }
    }

    pub(crate) fn client_key(&self, peer: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<ClientKey> {
        if opts.resume {
            if let Some((key_id, mk)) = SessionCache::open(&self.home)?.take_for_peer(peer, self.clock.now())? {
                return Ok(ClientKey::Resume { key_id, mk });
            }
        }
        let g = crate::broker::client::request_session(&self.cds, &self.name, &self.cdsk(), peer, rng)?;
        Ok(ClientKey::Ticket { ticket: g.ticket, dsmk: g.dsmk })
    }

    /// Calls `target` (`Target::parse`): a peer's name (through the CDS relay), or the
    /// `[NAME@]HOST:PORT` of a `sslx listen --bind` (directly). The listener's hello names it;
    /// a name other than the one expected is refused before anything is sent; the CDS gives a
    /// ticket for that name (or the cache a resumable session), the handshake runs and proves
    /// it. A resumption the listener no longer knows falls back to a full handshake on a new
    /// connection.
    pub fn dial(&self, target: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<(Session, Conn)> {
        let (mut conn, peer) = self.connect(target, opts, rng)?;
        let key = self.client_key(&peer, opts, rng)?;
        let resuming = matches!(key, ClientKey::Resume { .. });
        let (session, mut conn) = match self.handshake_as_client(&mut conn, &peer, key, opts, rng) {
            Err(Error::PeerRefused { code, .. }) if resuming && code == RefusalCode::UnknownKeyId as u16 => {
                let (mut conn, _) = self.connect(target, opts, rng)?;
                let opts = Options { resume: false, ..opts.clone() };
                let key = self.client_key(&peer, &opts, rng)?;
                (self.handshake_as_client(&mut conn, &peer, key, &opts, rng)?, conn)
            }
            other => (other?, conn),
        };
        // A listener met at an address is remembered once the handshake proved its name.
        if let Target::Direct { addr, .. } = Target::parse(target)? {
            let known = KnownListeners::of(&self.home);
            if known.get(&addr).as_deref() != Some(peer.as_str()) {
                known.remember(&self.home, &addr, &peer)?;
            }
        }
        conn.reader_timeout(None);
        Ok((session, conn))
    }

    /// A connection to the listener, after its hello: directly, or through the relay.
    /// A listener that says it is busy is asked again a few times (50 ms, doubling: about
    /// 12 s in all) before its refusal is the answer.
    fn connect(&self, target: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<(Conn, String)> {
        let mut delay = Duration::from_millis(50);
        for _ in 0..8 {
            match self.connect_once(target, opts, rng) {
                Err(Error::PeerRefused { code, .. }) if code == RefusalCode::RateLimited as u16 => {
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                other => return other,
            }
        }
        self.connect_once(target, opts, rng)
    }

    fn connect_once(&self, target: &str, opts: &Options, rng: &dyn SecureRandom) -> Result<(Conn, String)> {
        let target = match Target::parse(target)? {
            Target::Direct { addr, expect } => return self.connect_direct(&addr, expect, opts),
            Target::Relay(name) => name,
        };
        let target = target.as_str();
        let (stream, _tracking) =
            crate::relay::client::call(&self.cds, &self.name, &self.cdsk(), target, &opts.service, rng)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut conn = Conn::new(stream)?;
        let hello = listener_hello(&mut conn, target)?;
        if hello.name != target {
            return Err(SessionError::RelayConnectedOther { said: hello.name, expected: target.to_owned() }.into());
        }
        Ok((conn, hello.name))
    }

    /// Directly to `addr`: the listener's hello must name `expect`, else the listener this home
    /// met at `addr` before, else (with `accept_new_listener`) whoever it is, remembered.
    fn connect_direct(&self, addr: &str, expect: Option<String>, opts: &Options) -> Result<(Conn, String)> {
        let (conn, name) = connect(addr)?;
        let known = KnownListeners::of(&self.home);
        let expect = expect.or_else(|| known.get(addr));
        match expect {
            Some(e) if e != name => {
                return Err(SessionError::ListenerNamedOther { addr: addr.to_owned(), said: name, expected: e }.into())
            }
            Some(_) => {}
            None if opts.accept_new_listener => {}
            None => {
                return Err(Error::Usage(format!(
                    "the listener at {addr} says it is {name:?}, and this home has not met it there: \
                     dial {name}@{addr} if that is whom you meant (or add --yes to accept it and remember it)"
                )))
            }
        }
        if name == self.name {
            return Err(Error::Usage(format!("the listener at {addr} is this participant ({name}) itself")));
        }
        Ok((conn, name))
    }

    fn handshake_as_client(
        &self,
        conn: &mut Conn,
        peer: &str,
        key: ClientKey,
        opts: &Options,
        rng: &dyn SecureRandom,
    ) -> Result<Session> {
        let (key_ref, psk) = key.split();
        let p = ClientParams {
            name: self.name.clone(),
            key_ref,
            psk,
            forward_secrecy: opts.forward_secrecy,
            suites: opts.suites.clone(),
            expect_server: Some(peer.to_owned()),
        };
        let s = client_handshake(conn, p, rng)?;
        SessionCache::open(&self.home)?.put(
            &s.key_id,
            &s.master_key,
            peer,
            Role::Client,
            self.clock.now(),
            DEFAULT_RESUME_LIFE,
        )?;
        Ok(s)
    }

    /// Accepts one call on `stream`: hello, then the handshake with the caller's ticket or Key-ID.
    /// The whole handshake, from the hello through the caller's M3, must be done within
    /// `HANDSHAKE_DEADLINE`: a caller trickling bytes cannot hold the listener's slot.
    pub fn accept(&self, stream: TcpStream, opts: &Options, rng: &dyn SecureRandom) -> Result<(Session, Conn)> {
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let watchdog = crate::net::Watchdog::arm(&stream, HANDSHAKE_DEADLINE);
        let mut conn = Conn::new(stream)?;
        conn.send(&ListenerHello { name: self.name.clone() }.to_frame()?)?;
        let cache = SessionCache::open(&self.home)?;
        let now = self.clock.now();
        let s = server_handshake(
            &mut conn,
            &self.name,
            &opts.suites,
            opts.forward_secrecy,
            |m1| {
                let psk = self.resolve(&cache, m1, now)?;
                // The caller's name is proven by its ticket (or its cached session) by now.
                if let Some(allow) = &opts.allow {
                    if !allow(&m1.client_name) {
                        return Err((
                            RefusalCode::NotAllowed,
                            format!("{} does not take calls from {}", self.name, m1.client_name),
                        ));
                    }
                }
                Ok(psk)
            },
            |s| cache.put(&s.key_id, &s.master_key, &s.summary.peer, Role::Server, now, DEFAULT_RESUME_LIFE),
            rng,
        );
        if watchdog.disarm() {
            return Err(Error::Unavailable(format!(
                "the caller did not finish the handshake within {} s",
                HANDSHAKE_DEADLINE.as_secs()
            )));
        }
        let s = s?;
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
        // The detail (the cache's file) is this side's business, not an unauthenticated caller's.
        let internal = |e: Error| {
            eprintln!("sslx: the session cache: {e}");
            (Internal, "the listener's session cache failed".to_owned())
        };
        match &m1.key_ref {
            KeyRef::Ticket(bytes) => {
                let t = Ticket::decode(bytes).map_err(|e| (Malformed, format!("the ticket is malformed: {e}")))?;
                if t.holder != self.name {
                    return Err((BadRequest, format!("the ticket is for {:?}, this is {:?}", t.holder, self.name)));
                }
                let body = t.open(&self.cdsk()).ok_or((
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
                    return Err((Expired, format!("the ticket expired at {}", crate::clock::fmt_time(body.expires))));
                }
                if !cache.first_use_of_ticket(&t.session_id, body.expires, now).map_err(internal)? {
                    return Err((AlreadyConfirmed, "this ticket was used before: a replayed M1 is refused".into()));
                }
                Ok(body.dsmk)
            }
            KeyRef::ServiceTicket { .. } => {
                Err((BadRequest, format!("{} is a participant, not a host of remote execution", self.name)))
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

/// What happens on a hook while it waits for calls (for the person watching).
#[derive(Debug)]
pub enum HookNote {
    /// The CDS granted `caller` a session with this participant (its ticket will be in M1).
    Granted { caller: String },
    /// `caller` rings.
    Ring { caller: String },
    /// A ring that could not be answered: that call is lost, the hook stays.
    AnswerFailed { caller: String, error: Error },
    /// The hook dropped (`again`: a try to put it up again failed); the next try in `retry_in`.
    Down { why: String, retry_in: Duration, again: bool },
    /// On hook again after a drop (bundles sent meanwhile may wait in the mailbox).
    Back,
    /// `sender` left a bundle in this participant's mailbox (the CDS says so on a `files` hook).
    Mailbox { sender: String },
}

/// Calls as they arrive: sockets whose first job is the listener hello (`Endpoint::accept`).
pub struct Incoming {
    /// Where calls come from: `ADDR` bound, or `hook at the CDS ADDR`.
    pub listening_on: String,
    /// A bound socket (each call from its own source), or the hook at the CDS.
    pub bound: bool,
    calls: Box<dyn Iterator<Item = Result<TcpStream>> + Send>,
}

impl Incoming {
    /// Serves every call on its own thread once `admission` admits it
    /// ([`admission::serve_each`](super::admission::serve_each)): `serve` runs the handshake and
    /// the rest. Returns the hook's error when it ends, after the calls under way.
    pub fn serve_admitted(
        self,
        admission: &super::admission::Admission,
        me: &str,
        serve: impl Fn(TcpStream, super::admission::Admitted) + Sync,
        on_error: impl FnMut(&Error),
    ) -> Result<()> {
        let bound = self.bound;
        super::admission::serve_each(self, bound, admission, me, serve, on_error)
    }
}

impl Iterator for Incoming {
    type Item = Result<TcpStream>;
    fn next(&mut self) -> Option<Result<TcpStream>> {
        self.calls.next()
    }
}

impl Endpoint {
    /// Calls arrive from a socket bound at `bind`, or (None) as rings on this participant's hook
    /// for `service` at the CDS, each answered with its own connection. A hook that drops is put
    /// up again (`relay::client::StayingHook`: `note` hears `Down` and `Back`); one that ends for
    /// good yields its error (nothing more will ring). An error accepting on a bound socket is
    /// yielded and the next call follows. `note` hears what happens on the hook.
    pub fn incoming(
        &self,
        bind: Option<&str>,
        service: &str,
        note: impl Fn(HookNote) + Send + 'static,
    ) -> Result<Incoming> {
        let rng = crate::crypto::system_rng();
        Ok(match bind {
            Some(bind) => {
                let listener = std::net::TcpListener::bind(bind)
                    .map_err(|e| Error::Unavailable(format!("cannot listen on {bind}: {e}")))?;
                let at = listener.local_addr().map_err(|e| Error::io("the bound address", e))?;
                Incoming {
                    listening_on: at.to_string(),
                    bound: true,
                    calls: Box::new(std::iter::from_fn(move || {
                        Some(listener.accept().map(|(s, _)| s).map_err(|e| Error::io("accepting a call", e)))
                    })),
                }
            }
            None => {
                let mut hook =
                    crate::relay::client::StayingHook::new(&self.cds, &self.name, self.keys.clone(), service, &rng)?;
                Incoming {
                    listening_on: format!("hook at the CDS {} (service {service})", self.cds),
                    bound: false,
                    calls: Box::new(std::iter::from_fn(move || {
                        use crate::relay::client::HookEvent;
                        let rng = crate::crypto::system_rng();
                        loop {
                            match hook.next_event(&rng) {
                                Err(e) => return Some(Err(e)),
                                Ok(HookEvent::Ticket { caller, .. }) => note(HookNote::Granted { caller }),
                                Ok(HookEvent::Down { why, retry_in, again }) => {
                                    note(HookNote::Down { why, retry_in, again })
                                }
                                Ok(HookEvent::Back) => note(HookNote::Back),
                                Ok(HookEvent::Mailbox { sender, .. }) => note(HookNote::Mailbox { sender }),
                                Ok(HookEvent::Ring { call_id, caller, answer_at }) => {
                                    note(HookNote::Ring { caller: caller.clone() });
                                    match hook.answer(&call_id, answer_at.as_deref(), &rng) {
                                        Ok(s) => return Some(Ok(s)),
                                        Err(error) => note(HookNote::AnswerFailed { caller, error }),
                                    }
                                }
                            }
                        }
                    })),
                }
            }
        })
    }
}

/// Connects and reads the listener's hello.
fn connect(addr: &str) -> Result<(Conn, String)> {
    let stream = crate::net::connect(addr, addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut conn = Conn::new(stream)?;
    let hello = listener_hello(&mut conn, addr)?;
    crate::keys::check_name(&hello.name)?;
    Ok((conn, hello.name))
}

/// The listener's hello, or its refusal (busy, say) as the listener's, not the CDS's.
fn listener_hello(conn: &mut Conn, who: &str) -> Result<ListenerHello> {
    let f = conn.reader.next_frame(ListenerHello::NAME)?;
    if f.msg_type == crate::wire::TYPE_REFUSED {
        let r = crate::wire::Refused::from_frame(&f)?;
        return Err(Error::PeerRefused { peer: who.to_owned(), code: r.code, reason: r.reason });
    }
    Ok(ListenerHello::from_frame(&f)?)
}
