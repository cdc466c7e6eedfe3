//! `sslx-gateway` (seed 003's network server, boxes 601-613): HTTPS in front of the KDC. It logs
//! a user in (derives the user key from the password, runs the KDC's login, hands the
//! credentials cache back) and keeps nothing: no file, and nothing in memory once the answer
//! has gone (claims 3 and 10). Its HTTPS API is PROTOCOL.md 5G.

pub mod tls;
pub mod web;

use crate::kdc::keytab::KeyTable;
use crate::remote::{error_name, ErrorAnswer, ExecEvent, ExecRequest, LoginAnswer, LoginRequest};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What one gateway needs: where the KDC is, its own key table, and how many logins may derive
/// keys at once (each takes the principal's Argon2id memory).
pub struct Gateway {
    pub cds: String,
    pub keytab: KeyTable,
    pub logins: tokio::sync::Semaphore,
    /// Commands that may be asked for at once (each one a KDC request and a host connection).
    pub commands: Arc<tokio::sync::Semaphore>,
    /// The least Argon2id memory it accepts from the KDC, KiB.
    pub min_argon2_memory: u32,
    /// Where each host's `sslx-execd` listens (`--host NAME=ADDR`); a host not named is
    /// reached at `NAME:7460`.
    pub hosts: std::collections::HashMap<String, String>,
    /// The face for web browsers, when it has its key (`--web-key`).
    pub web: Option<web::Web>,
    /// Logins by source address (each makes the gateway derive a key and ask the KDC).
    pub login_rate: LoginRate,
}

/// Logins a source address (an IPv6 address's /64) may start: a burst of [`LOGIN_BURST`], then
/// one per [`LOGIN_REFILL`]. Only counts in memory, never per user.
#[derive(Default)]
pub struct LoginRate {
    buckets: std::sync::Mutex<std::collections::HashMap<IpAddr, (u32, std::time::Instant)>>,
}

/// Logins one address may start at once before it has to wait.
pub const LOGIN_BURST: u32 = 10;
/// How often an address gets one login back.
pub const LOGIN_REFILL: Duration = Duration::from_secs(6);
/// Addresses kept at most (full buckets are dropped first).
const LOGIN_RATE_ADDRESSES: usize = 65_536;

impl LoginRate {
    /// Takes one login for `ip` at `now`, or says how long until there is one.
    pub fn take(&self, ip: IpAddr, now: std::time::Instant) -> Result<(), Duration> {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let refill = |(left, at): (u32, std::time::Instant)| {
            let back = (now.saturating_duration_since(at).as_secs_f64() / LOGIN_REFILL.as_secs_f64()) as u32;
            if back == 0 {
                (left, at)
            } else {
                ((left + back).min(LOGIN_BURST), now)
            }
        };
        if b.len() >= LOGIN_RATE_ADDRESSES {
            b.retain(|_, v| refill(*v).0 < LOGIN_BURST);
            if b.len() >= LOGIN_RATE_ADDRESSES {
                return Err(LOGIN_REFILL);
            }
        }
        let key = crate::net::source_bucket(ip);
        let (left, at) = refill(*b.get(&key).unwrap_or(&(LOGIN_BURST, now)));
        if left == 0 {
            return Err(LOGIN_REFILL.saturating_sub(now.saturating_duration_since(at)));
        }
        b.insert(key, (left - 1, at));
        Ok(())
    }
}

/// The port of `sslx-execd` when the gateway is not told a host's address.
pub const EXECD_PORT: u16 = 7460;
/// The body of `POST /v1/exec` at most: 1 MiB of stdin in base64 and the rest.
pub const MAX_EXEC_BODY: usize = 3 << 19;
/// Commands that may be under way at once by default.
pub const COMMANDS_AT_ONCE: usize = 64;
/// Connections at once in all.
pub const MAX_CONNECTIONS: usize = 1024;

/// Logins that may run at once by default.
pub const LOGINS_AT_ONCE: usize = 4;
/// A request's body at most.
pub const MAX_BODY: usize = 16 * 1024;
/// A connection's life at most (one request each: a command's output streams through it).
pub const CONNECTION_LIFE: Duration = Duration::from_secs(3600);
/// The request's headers within.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

fn answer(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    // Pages carrying credentials are never kept by a cache on the way.
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, "no-store".parse().expect("valid header"));
    r
}

fn failure(e: &crate::Error) -> Response {
    let (status, error) = error_name(e);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The KDC's reason as it gave it (the client says where it came from).
    let message = match e {
        crate::Error::Refused { reason, .. } => reason.clone(),
        e => e.to_string(),
    };
    answer(status, ErrorAnswer { error: error.into(), message })
}

/// Why a login did not give a credentials cache.
pub enum NotLoggedIn {
    /// All of the gateway's login slots are taken (each derives a key).
    Busy,
    /// Too many logins from this address: the next in so long.
    TooMany(Duration),
    Failed(crate::Error),
}

/// Logs `user` in at the KDC with `password` (boxes 601-610), for a client at `client`; the
/// password is gone when this returns.
pub async fn log_in(
    gw: &Arc<Gateway>,
    user: String,
    password: zeroize::Zeroizing<String>,
    client: IpAddr,
) -> Result<crate::kdc::CredentialsCache, NotLoggedIn> {
    crate::keys::check_name(&user).map_err(|e| NotLoggedIn::Failed(e.into()))?;
    gw.login_rate.take(client, std::time::Instant::now()).map_err(NotLoggedIn::TooMany)?;
    let _slot = gw.logins.try_acquire().map_err(|_| NotLoggedIn::Busy)?;
    let g = gw.clone();
    let done = tokio::task::spawn_blocking(move || {
        let rng = crate::crypto::system_rng();
        let now = crate::clock::now_unix();
        let from = client.to_string();
        crate::kdc::client::login(&g.cds, &g.keytab, &user, password.as_bytes(), &from, g.min_argon2_memory, now, &rng)
    })
    .await;
    match done {
        Ok(Ok(cache)) => {
            log::info!("{} logged in from {client}", cache.user);
            Ok(cache)
        }
        Ok(Err(e)) => {
            log::info!("a login from {client} was refused: {e}");
            Err(NotLoggedIn::Failed(e))
        }
        Err(e) => Err(NotLoggedIn::Failed(crate::Error::Other(format!("the login failed: {e}")))),
    }
}

/// `POST /v1/login`.
async fn login(
    State(gw): State<Arc<Gateway>>,
    axum::Extension(peer): axum::Extension<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    let mut req: LoginRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failure(&crate::Error::Usage(format!("the login request is not valid: {e}"))),
    };
    let password = zeroize::Zeroizing::new(std::mem::take(&mut req.password));
    match log_in(&gw, req.user.clone(), password, peer.ip()).await {
        Ok(cache) => match cache.to_text() {
            Ok(text) => answer(
                StatusCode::OK,
                LoginAnswer { user: cache.user.clone(), credentials_cache: text.to_string(), expires: cache.expires },
            ),
            Err(e) => failure(&e.into()),
        },
        Err(NotLoggedIn::Busy) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorAnswer {
                error: "busy".into(),
                message: "the gateway is busy with other logins; try again shortly".into(),
            },
        ),
        Err(NotLoggedIn::TooMany(wait)) => answer(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorAnswer {
                error: "busy".into(),
                message: format!("too many logins from this address: the next in {} s", wait.as_secs().max(1)),
            },
        ),
        Err(NotLoggedIn::Failed(e)) => failure(&e),
    }
}

/// A writer that turns what it is given into events for the answer's stream.
struct Events {
    tx: tokio::sync::mpsc::Sender<ExecEvent>,
    err: bool,
}

impl std::io::Write for Events {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(buf);
        let ev = if self.err { ExecEvent::Stderr { data } } else { ExecEvent::Stdout { data } };
        self.tx
            .blocking_send(ev)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a command did not start.
pub enum NotStarted {
    /// All of the gateway's command slots are taken.
    Busy,
    /// The KDC or the host refused, or could not be reached.
    Failed(crate::Error),
}

/// Starts `cmd` on `host` for the holder of `cache` (boxes 1506-1515): a service ticket from the
/// KDC, the host's `sslx-execd`, its decision. On success, the events of the command as they
/// come (the first is `Started`, the last how it ended); the command stops when the receiver is
/// dropped (at its next output).
pub async fn start_command(
    gw: &Arc<Gateway>,
    cache: crate::kdc::CredentialsCache,
    host: String,
    cmd: crate::execd::ExecCommand,
    stdin: Vec<u8>,
) -> Result<tokio::sync::mpsc::Receiver<ExecEvent>, NotStarted> {
    crate::keys::check_name(&host).map_err(|e| NotStarted::Failed(e.into()))?;
    cmd.encode().map_err(|e| NotStarted::Failed(crate::Error::Usage(format!("the command: {e}"))))?;
    let slot = gw.commands.clone().try_acquire_owned().map_err(|_| NotStarted::Busy)?;
    let (h, g) = (host.clone(), gw.clone());
    let argv = cmd.argv.clone();
    let started = tokio::task::spawn_blocking(move || {
        let rng = crate::crypto::system_rng();
        let now = crate::clock::now_unix();
        let grant = crate::kdc::client::service_ticket(&g.cds, &g.keytab, &cache, &h, now, &rng)?;
        let addr = g.hosts.get(&h).cloned().unwrap_or_else(|| format!("{h}:{EXECD_PORT}"));
        crate::execd::client::start(&addr, &grant, &cache.user, &cmd, &rng).map(|s| (s, cache.user.clone()))
    })
    .await;
    let (started, user) = match started {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            log::info!("a command on {host} was refused: {e}");
            return Err(NotStarted::Failed(e));
        }
        Err(e) => return Err(NotStarted::Failed(crate::Error::Other(format!("the command failed: {e}")))),
    };
    log::info!("{user} runs {argv:?} on {host} as {}", started.local_user);
    let (tx, rx) = tokio::sync::mpsc::channel::<ExecEvent>(16);
    let _ = tx.try_send(ExecEvent::Started { host, local_user: started.local_user.clone() });
    // The caller gone (the receiver dropped), the host connection is cut at once: a command that
    // prints nothing would otherwise hold its slot until it ends.
    let (sock, watch) = (started.socket(), tx.clone());
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = watch.closed() => {
                if let Ok(s) = sock {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
            _ = finished => {}
        }
    });
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let _done = done;
        let mut err = Events { tx: tx.clone(), err: true };
        let end = match crate::execd::client::finish(
            started,
            std::io::Cursor::new(stdin),
            Events { tx: tx.clone(), err: false },
            &mut err,
        ) {
            Ok(Some(crate::session::msgs::RemoteExit::Exited(code))) => ExecEvent::Exit { code },
            Ok(Some(crate::session::msgs::RemoteExit::Signal(signal))) => ExecEvent::Signal { signal },
            Ok(None) => ExecEvent::Error {
                error: "internal".into(),
                message: "the host did not say how the command ended".into(),
            },
            Err(e) => ExecEvent::Error { error: error_name(&e).1.into(), message: e.to_string() },
        };
        let _ = tx.blocking_send(end);
    });
    Ok(rx)
}

/// The answer of a command that did not start.
fn not_started(n: NotStarted) -> Response {
    match n {
        NotStarted::Busy => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorAnswer {
                error: "busy".into(),
                message: "the gateway is busy with other commands; try again shortly".into(),
            },
        ),
        NotStarted::Failed(e) => failure(&e),
    }
}

/// A command's events as an NDJSON answer, to its last (how it ended).
fn ndjson(rx: tokio::sync::mpsc::Receiver<ExecEvent>) -> Response {
    let lines = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let ev = rx.recv().await?;
        let last = matches!(ev, ExecEvent::Exit { .. } | ExecEvent::Signal { .. } | ExecEvent::Error { .. });
        let mut line = serde_json::to_vec(&ev).expect("an event serializes");
        line.push(b'\n');
        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(line)), (!last).then_some(rx)))
    });
    let mut r = Response::new(axum::body::Body::from_stream(lines));
    let h = r.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, "application/x-ndjson".parse().expect("valid header"));
    h.insert(axum::http::header::CACHE_CONTROL, "no-store".parse().expect("valid header"));
    r
}

/// `POST /v1/exec` (boxes 1501-1525): a service ticket for the host from the credentials cache,
/// the command to its `sslx-execd`; the answer is NDJSON events as the output comes. Failures
/// before the host accepted the command are ordinary error answers.
async fn exec(State(gw): State<Arc<Gateway>>, body: axum::body::Bytes) -> Response {
    use base64::Engine;
    let req: ExecRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return failure(&crate::Error::Usage(format!("the exec request is not valid: {e}"))),
    };
    let cache = match crate::kdc::CredentialsCache::from_text(&req.credentials_cache) {
        Ok(c) => c,
        Err(e) => return failure(&crate::Error::Usage(format!("the credentials cache is not valid: {e}"))),
    };
    let stdin = match base64::engine::general_purpose::STANDARD.decode(&req.stdin) {
        Ok(s) => s,
        Err(_) => return failure(&crate::Error::Usage("stdin is not base64".into())),
    };
    let cmd = crate::execd::ExecCommand { as_user: req.as_user.clone(), argv: req.argv.clone() };
    match start_command(&gw, cache, req.host.clone(), cmd, stdin).await {
        Ok(rx) => ndjson(rx),
        Err(n) => not_started(n),
    }
}

/// `GET /v1/health`.
async fn health() -> Response {
    answer(StatusCode::OK, serde_json::json!({"ok": true}))
}

pub fn router(gw: Arc<Gateway>) -> axum::Router {
    axum::Router::new()
        .route("/v1/login", axum::routing::post(login).layer(DefaultBodyLimit::max(MAX_BODY)))
        .route("/v1/exec", axum::routing::post(exec).layer(DefaultBodyLimit::max(MAX_EXEC_BODY)))
        .route("/v1/health", axum::routing::get(health))
        .merge(web::routes())
        .with_state(gw)
}

/// Serves HTTPS on `listener` until `stop` turns true: one request per connection, each
/// connection bounded in time, at most `per_source` at once from one address.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    per_source: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let held = Arc::new(crate::cds::limits::Tally::<IpAddr>::default());
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            acc = listener.accept() => {
                let Ok((sock, peer)) = acc else { continue };
                let Ok(place) = held.enter(peer.ip(), per_source, MAX_CONNECTIONS) else { continue };
                let (acceptor, app) = (acceptor.clone(), app.clone().layer(axum::Extension(peer)));
                tokio::spawn(async move {
                    let _place = place;
                    let work = async {
                        let Ok(tls) = acceptor.accept(sock).await else { return };
                        let svc = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .keep_alive(false)
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                            .await;
                    };
                    let _ = tokio::time::timeout(CONNECTION_LIFE, work).await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_a_burst_of_logins_then_one_per_refill_and_a_64_is_one_address() {
        let rate = LoginRate::default();
        let t = std::time::Instant::now();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        for _ in 0..LOGIN_BURST / 2 {
            rate.take(a, t).unwrap();
            rate.take(same_64, t).unwrap();
        }
        let wait = rate.take(a, t).unwrap_err();
        assert!(wait <= LOGIN_REFILL && wait > Duration::ZERO);
        rate.take("2001:db9::1".parse().unwrap(), t).unwrap();
        rate.take(a, t + LOGIN_REFILL).unwrap();
        assert!(rate.take(a, t + LOGIN_REFILL).is_err(), "one back per refill");
        for _ in 0..LOGIN_BURST {
            rate.take(a, t + LOGIN_REFILL * 100).unwrap();
        }
        assert!(rate.take(a, t + LOGIN_REFILL * 100).is_err(), "never more than the burst");
    }
}
