//! The CDS daemon: the TCP protocol listener (framed messages) and the public HTTP side.
//! `serve(listener, http, cds, shutdown)` runs both until `shutdown` resolves; tests and
//! `--dev` bind port 0.
//!
//! Every protocol connection starts with the CDS's hello (a fresh challenge that each request
//! on it binds) and carries one request (a mailbox collection: one sequence of collects). A
//! connection that has not sent its first complete frame within `FIRST_FRAME_TIMEOUT` is
//! closed; while it waits it counts against its source's share of waiting connections, and
//! the accept loop never waits for a slot, so idle sockets cannot deny service to others.

use super::mail::{reply_b_email, Mailer};
use super::oob::Oob;
use super::registrar::{ConfirmOutcome, Refusal, Registrar};
use super::standing::Standing;
use crate::vsu::{request_id_hex, Confirm, OpenRequest, TYPE_CONFIRM, TYPE_OPEN_REQUEST};
use crate::wire::{CdsHello, Frame, Header, Msg, RefusalCode, CHALLENGE_LEN, HEADER_LEN};
use ring::rand::SystemRandom;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a peer may take to send one frame once it has begun.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new connection may take to send its first whole frame (its request).
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a work slot before it is refused as "busy".
pub const SLOT_WAIT: Duration = Duration::from_secs(10);

/// Limits on connections.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Connections from one source (an IPv6 source by its /64) that have not yet sent their
    /// request; more are refused at once.
    pub per_source: usize,
    /// Connections, from all sources, that have not yet sent their request.
    pub max_pending: usize,
    /// Requests being worked on at once (an authenticated hook gives its slot back).
    pub max_working: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits { per_source: 64, max_pending: 16_384, max_working: 1024 }
    }
}

pub struct CdsConfig {
    pub mail_from: String,
    pub conn: ConnLimits,
    /// `/v1/health` says how many participants are on hook (off: it says only that it is up).
    pub health_detail: bool,
}

pub struct Cds {
    pub registrar: Registrar,
    pub relay: super::relay::Relay,
    pub mailer: Mailer,
    pub oob: Oob,
    pub cfg: CdsConfig,
    pub rng: SystemRandom,
}

/// What one connection knows about itself.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The challenge the CDS's hello gave this connection.
    pub challenge: [u8; CHALLENGE_LEN],
}

/// Connections waiting for their first frame, per source and in all.
#[derive(Default)]
struct Pending {
    /// Per source, and the sum of all (kept beside it, under the same lock).
    by_source: Mutex<(HashMap<IpAddr, usize>, usize)>,
}

/// One waiting connection; gives its place back when dropped.
struct PendingGuard {
    pending: Arc<Pending>,
    source: IpAddr,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut guard = self.pending.by_source.lock().unwrap_or_else(|p| p.into_inner());
        let (m, total) = &mut *guard;
        if let Some(n) = m.get_mut(&self.source) {
            *n -= 1;
            *total -= 1;
            if *n == 0 {
                m.remove(&self.source);
            }
        }
    }
}

/// The bucket a source counts in: its address, or the /64 of an IPv6 address.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Pending {
    /// A place for a new connection from `ip`, or why not.
    fn enter(self: &Arc<Self>, ip: IpAddr, limits: &ConnLimits) -> Result<PendingGuard, String> {
        let source = bucket(ip);
        let mut guard = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
        let (m, total) = &mut *guard;
        if *total >= limits.max_pending {
            return Err("the CDS has too many connections waiting; try again shortly".into());
        }
        let n = m.entry(source).or_insert(0);
        if *n >= limits.per_source {
            return Err(format!(
                "too many connections from {source} are waiting to send their request; try again shortly"
            ));
        }
        *n += 1;
        *total += 1;
        Ok(PendingGuard { pending: self.clone(), source })
    }
}

pub async fn serve(
    listener: TcpListener,
    http: TcpListener,
    cds: Arc<Cds>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = axum::Router::new()
        .route("/v1/standing/{name}", axum::routing::get(standing))
        .route("/v1/health", axum::routing::get(health))
        .with_state(cds.clone());
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(http, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.changed().await;
            })
            .await
    });
    // Hourly: expired requests lose their keys (and are purged a day later, so that a late
    // confirmation hears "expired", not "unknown"); expired bundles and their files go.
    let purger = cds.clone();
    let purge_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let c = purger.clone();
            let window = c.registrar.cfg.limits.longest_window();
            let purged = tokio::task::spawn_blocking(move || {
                c.registrar.store.purge_expired(crate::clock::now_unix(), 86400, window)
            })
            .await;
            if let Ok(Ok(p)) = purged {
                for f in p.bundle_files {
                    let _ = tokio::fs::remove_file(f).await;
                }
            }
        }
    });
    let working = Arc::new(tokio::sync::Semaphore::new(cds.cfg.conn.max_working));
    let pending = Arc::new(Pending::default());
    let mut stop = stop_rx;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = stop.changed() => break,
            acc = listener.accept() => {
                let (sock, peer) = match acc {
                    Ok(x) => x,
                    Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
                };
                // Never waits here: a connection that cannot be taken is told so and closed.
                let guard = match pending.enter(peer.ip(), &cds.cfg.conn) {
                    Ok(g) => g,
                    Err(why) => {
                        let r = Refusal::new(RefusalCode::RateLimited, why);
                        let _ = sock.try_write(&r.frame(crate::clock::now_unix()));
                        continue;
                    }
                };
                let (cds, working) = (cds.clone(), working.clone());
                tokio::spawn(connection(sock, peer, cds, guard, working));
            }
        }
    }
    let _ = stop_tx.send(true);
    purge_task.abort();
    let _ = http_task.await;
    Ok(())
}

/// Reads one frame, waiting up to `first` for it to begin (a client busy between frames) and
/// `READ_TIMEOUT` for the rest; `Ok(None)` on a clean EOF between frames. Reads exactly the
/// frame: what follows stays in the socket (a relayed session after a call or an answer).
pub(crate) async fn read_frame_within(sock: &mut TcpStream, first: Duration) -> Result<Option<Frame>, String> {
    let mut hb = [0u8; HEADER_LEN];
    match tokio::time::timeout(first, sock.read(&mut hb[..1])).await {
        Err(_) => return Err("timed out waiting for a frame".into()),
        Ok(Ok(0)) => return Ok(None),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.to_string()),
    }
    let rest = async {
        sock.read_exact(&mut hb[1..]).await?;
        let h = Header::parse(&hb).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut body = vec![0u8; h.len as usize];
        sock.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(Frame { msg_type: h.msg_type, version: h.version, body })
    };
    match tokio::time::timeout(READ_TIMEOUT, rest).await {
        Err(_) => Err("timed out inside a frame".into()),
        Ok(Ok(f)) => Ok(Some(f)),
        Ok(Err(e)) => Err(e.to_string()),
    }
}

/// Sends a refusal and ends the connection.
pub(crate) async fn refuse(sock: &mut TcpStream, code: RefusalCode, reason: String) {
    let _ = sock.write_all(&Refusal::new(code, reason).frame(crate::clock::now_unix())).await;
}

/// Serves one connection: the hello, then its one request.
async fn connection(
    mut sock: TcpStream,
    peer: SocketAddr,
    cds: Arc<Cds>,
    waiting: PendingGuard,
    working: Arc<tokio::sync::Semaphore>,
) {
    sock.set_nodelay(true).ok();
    let challenge: [u8; CHALLENGE_LEN] = crate::crypto::random_array(&cds.rng);
    let hello = CdsHello { challenge, cds_time: crate::clock::now_unix() }.to_frame().expect("fixed-size hello");
    if sock.write_all(&hello).await.is_err() {
        return;
    }
    // The whole first frame within FIRST_FRAME_TIMEOUT, however slowly it trickles in.
    let first = tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame_within(&mut sock, FIRST_FRAME_TIMEOUT)).await;
    let frame = match first {
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return refuse(&mut sock, RefusalCode::Malformed, format!("malformed frame: {e}")).await,
        Err(_) => {
            let why = format!("no request within {} s of connecting", FIRST_FRAME_TIMEOUT.as_secs());
            return refuse(&mut sock, RefusalCode::Malformed, why).await;
        }
    };
    drop(waiting);
    let Ok(Ok(permit)) = tokio::time::timeout(SLOT_WAIT, working.acquire_owned()).await else {
        return refuse(&mut sock, RefusalCode::Internal, "the CDS is busy; try again shortly".into()).await;
    };
    let conn = ConnInfo { peer, challenge };
    // Relay messages take the socket over: a hook stays open, a call or an answer becomes a splice.
    match frame.msg_type {
        crate::relay::TYPE_ON_HOOK => return super::relay::on_hook(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_ANSWER => return super::relay::answer(sock, frame, conn, cds).await,
        crate::relay::TYPE_CALL => return super::relay::call(sock, frame, conn, cds).await,
        crate::relay::TYPE_DEPOSIT => return super::mailbox::deposit(sock, frame, conn, cds).await,
        crate::relay::TYPE_COLLECT => return super::mailbox::collect(sock, frame, conn, cds).await,
        crate::relay::TYPE_STATUS => return super::mailbox::status(sock, frame, conn, cds).await,
        _ => {}
    }
    let answer = match handle(&frame, conn, &cds).await {
        Ok(bytes) => bytes,
        Err(r) => r.frame(crate::clock::now_unix()),
    };
    if sock.write_all(&answer).await.is_ok() {
        let _ = sock.shutdown().await;
    }
    drop(permit);
}

fn malformed(e: crate::wire::WireError) -> Refusal {
    Refusal::new(RefusalCode::Malformed, format!("malformed message: {e}"))
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(RefusalCode::Internal, format!("CDS internal error: {e}"))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

async fn handle(frame: &Frame, conn: ConnInfo, cds: &Arc<Cds>) -> Result<Vec<u8>, Refusal> {
    match frame.msg_type {
        TYPE_OPEN_REQUEST => {
            let req = OpenRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            // Checks, rate limits and the channel's own checks (a webhook's lookup) all come
            // before anything is sent.
            let (opened, target) = blocking(move || {
                let now = crate::clock::now_unix();
                c.registrar.open(
                    &req,
                    &conn.challenge,
                    Some(conn.peer.ip()),
                    now,
                    |uri, email| c.oob.prepare(uri, email),
                    &c.rng,
                )
            })
            .await?;
            let rid = request_id_hex(&opened.request_id);
            let name = opened.replies.c.name.clone();
            let armored = opened.replies.b.to_armor();
            let (subject, body) = reply_b_email(&name, &rid, &armored, &cds.registrar.cfg.cds_http);
            let delivered = async {
                let file = format!("{rid}.reply-b");
                cds.mailer.send(&cds.cfg.mail_from, &opened.email, &subject, body, &file).await.map_err(|e| {
                    Refusal::new(RefusalCode::EmailFailed, format!("reply B could not be emailed: {e}"))
                })?;
                cds.oob.deliver(&target, &opened.replies.c, &cds.mailer, &cds.cfg.mail_from).await.map_err(|e| {
                    Refusal::new(RefusalCode::OutOfBandFailed, format!("reply C could not be delivered: {e}"))
                })
            }
            .await;
            if let Err(r) = delivered {
                let c = cds.clone();
                let id = opened.request_id;
                let _ = tokio::task::spawn_blocking(move || c.registrar.abandon(&id)).await;
                return Err(r);
            }
            opened.replies.a.to_frame().map_err(internal)
        }
        TYPE_CONFIRM => {
            let conf = Confirm::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let source = conn.peer.ip().to_string();
            let now = crate::clock::now_unix();
            let out = blocking(move || c.registrar.confirm(&conf, &conn.challenge, Some(&source), now, &c.rng)).await?;
            match out {
                ConfirmOutcome::Confirmed(m, _) => m.to_frame(),
                ConfirmOutcome::Denied(d, _) => d.to_frame(),
            }
            .map_err(internal)
        }
        crate::broker::TYPE_SESSION_REQUEST => {
            let req = crate::broker::SessionRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let now = crate::clock::now_unix();
            let (g, copy) =
                blocking(move || super::broker::grant(&c.registrar.store, &req, &conn.challenge, now, &c.rng)).await?;
            // Pushed to the peer if it is on hook (never waiting on it); it also gets the
            // ticket from the caller in M1, so nothing is kept when it is not.
            cds.relay.push_ticket(&copy.peer, copy.ticket.clone());
            g.to_frame().map_err(internal)
        }
        t => Err(Refusal::new(RefusalCode::Malformed, format!("unexpected message type 0x{t:02x}"))),
    }
}

async fn health(axum::extract::State(cds): axum::extract::State<Arc<Cds>>) -> axum::Json<serde_json::Value> {
    if cds.cfg.health_detail {
        axum::Json(serde_json::json!({"ok": true, "on_hook": cds.relay.on_hook_count()}))
    } else {
        axum::Json(serde_json::json!({"ok": true}))
    }
}

async fn standing(
    axum::extract::State(cds): axum::extract::State<Arc<Cds>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if crate::keys::check_name(&name).is_err() {
        return (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "not_found", "message": "not a participant name"})),
        )
            .into_response();
    }
    let n = name.clone();
    let got = tokio::task::spawn_blocking(move || {
        let now = crate::clock::now_unix();
        let p = cds.registrar.store.participant(&n)?;
        Ok::<_, crate::Error>(match p {
            Some(p) => Some(Standing::of(&p, now)),
            None if cds.registrar.store.has_pending(&n, now)? => Some(Standing::pending(&n)),
            None => None,
        })
    })
    .await;
    match got {
        Ok(Ok(Some(s))) => axum::Json(s).into_response(),
        Ok(Ok(None)) => (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "not_found", "name": name, "message": format!("no participant named {name:?} at this CDS")})),
        )
            .into_response(),
        _ => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({"error": "internal"}))).into_response(),
    }
}
