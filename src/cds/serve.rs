//! The CDS daemon: the TCP protocol listener (framed messages) and the public HTTP side.
//! `serve(listener, http, cds, shutdown)` runs both until `shutdown` resolves; tests and
//! `--dev` bind port 0.
//!
//! Every protocol connection starts with the CDS's hello (a fresh challenge that each request
//! on it binds) and carries one request (a mailbox collection: one sequence of collects). A
//! connection that has not sent its first complete frame within `FIRST_FRAME_TIMEOUT` is
//! closed; while it waits it counts against its source's share of waiting connections, and
//! the accept loop never waits for a slot, so idle sockets cannot deny service to others.

use super::mail::reply_b_email;
use super::registrar::{ConfirmOutcome, Refusal};
use super::standing::Standing;
use crate::vsu::{request_id_hex, Confirm, OpenRequest, TYPE_CONFIRM, TYPE_OPEN_REQUEST};
use crate::wire::{CdsHello, Frame, Msg, RefusalCode, CHALLENGE_LEN};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// How long a new connection may take to send its first whole frame (its request).
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a work slot before it is refused as "busy".
pub const SLOT_WAIT: Duration = Duration::from_secs(10);

use super::conn::{blocking, malformed, read_frame_within, refuse};
pub use super::conn::{Cds, CdsConfig, ConnInfo, READ_TIMEOUT};
pub use super::limits::ConnLimits;
use super::limits::{bucket, Pending, PendingGuard, Tally};

/// How long a starting instance waits for its first LISTEN before it takes connections anyway.
const LISTEN_WAIT: Duration = Duration::from_secs(15);

/// With several instances on one store: listens for the other instances' signals for
/// participants hooked here (rings, tickets, notices), and returns once that is under way (or
/// after `LISTEN_WAIT`, said in the log). Call it before saying the CDS is ready: hooks taken
/// before would miss their rings. Nothing to do for a CDS on its own.
pub async fn listen_to_cluster(cds: &Arc<Cds>) {
    let Some(cl) = &cds.relay.cluster else { return };
    let weak = Arc::downgrade(cds);
    let listening = cl.listen(Arc::new(move |s| {
        if let Some(c) = weak.upgrade() {
            c.relay.on_signal(s);
        }
    }));
    // A database slow to answer delays the start; one that does not answer is said, and tried on.
    if tokio::time::timeout(LISTEN_WAIT, listening).await.is_err() {
        log::warn!(
            "not yet listening for the other instances' signals after {} s (trying on): until then, \
             calls from participants at other instances to those hooked here go unanswered",
            LISTEN_WAIT.as_secs()
        );
    }
}

/// Serves the protocol on `listener` and HTTP on `http` until `shutdown` (with several instances,
/// after [`listen_to_cluster`]).
pub async fn serve(
    listener: TcpListener,
    http: TcpListener,
    cds: Arc<Cds>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // No deposit is under way when the CDS starts: reservations left by a stop are free again.
    let store = cds.clone();
    match tokio::task::spawn_blocking(move || store.registrar.store.forget_reservations()).await {
        Ok(Ok(n)) if n > 0 => log::info!("{n} deposit(s) cut off by the last stop forgotten"),
        Ok(Err(e)) => log::warn!("forgetting the last stop's deposits: {e}"),
        _ => {}
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = axum::Router::new()
        .route("/v1/standing/{name}", axum::routing::get(standing))
        .route("/v1/health", axum::routing::get(health))
        .with_state(cds.clone());
    let http_task = tokio::spawn(serve_http(http, app, cds.cfg.conn.clone(), stop_rx.clone()));
    // Hourly: expired requests lose their keys (and are purged a day later, so that a late
    // confirmation hears "expired", not "unknown"); expired bundles and their files go.
    let purger = cds.clone();
    let purge_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let c = purger.clone();
            let window = c.registrar.cfg.limits.longest_window().max(3600); // refused calls: an hour
            let purged =
                tokio::task::spawn_blocking(move || c.registrar.store.purge_expired(c.clock.now(), 86400, window))
                    .await;
            if let Ok(Ok(p)) = purged {
                for f in p.bundle_files {
                    let _ = tokio::fs::remove_file(f).await;
                }
            }
            // Deposits cut off by a kill (of this instance or another on the same directory).
            if let Some(dir) = purger.relay.mailbox.dir.clone() {
                let swept = tokio::task::spawn_blocking(move || {
                    // A disk too full for the probe is when the sweep matters most: then by this
                    // machine's clock, with a day's margin for a file server's that differs.
                    let (now, idle) = match super::mailbox::dir_clock(&dir) {
                        Ok(t) => (t, super::mailbox::INCOMING_ABANDONED),
                        Err(_) => (std::time::SystemTime::now(), Duration::from_secs(86400)),
                    };
                    super::mailbox::sweep_incoming(&dir, now, idle)
                })
                .await;
                match swept {
                    Ok(Ok(n)) if n > 0 => log::info!("{n} deposit temp file(s) left by a cut-off deposit removed"),
                    Ok(Err(e)) => log::warn!("sweeping the mailbox's abandoned deposit files: {e}"),
                    _ => {}
                }
            }
        }
    });
    let slots = Arc::new(Slots {
        working: Arc::new(tokio::sync::Semaphore::new(cds.cfg.conn.max_working)),
        opening: Arc::new(tokio::sync::Semaphore::new(cds.cfg.conn.max_opening)),
    });
    let pending = Arc::new(Pending::default());
    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
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
                        let _ = sock.try_write(&r.frame(cds.clock.now()));
                        continue;
                    }
                };
                let (cds, slots) = (cds.clone(), slots.clone());
                let under_way = UnderWay::enter(&active);
                tokio::spawn(async move {
                    let _under_way = under_way;
                    connection(sock, peer, cds, guard, slots).await
                });
            }
        }
    }
    // Draining: no new connections (the port is closed: callers are refused at once and try
    // again), the hooks end, and what is under way gets `drain` to finish.
    drop(listener);
    let _ = stop_tx.send(true);
    purge_task.abort();
    cds.relay.close_hooks();
    let left = active.load(std::sync::atomic::Ordering::SeqCst);
    if left > 0 {
        log::info!("stopping: {left} connection(s) under way get up to {} s to finish", cds.cfg.drain.as_secs());
    }
    let deadline = tokio::time::Instant::now() + cds.cfg.drain;
    while active.load(std::sync::atomic::Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cut = active.load(std::sync::atomic::Ordering::SeqCst);
    if cut > 0 {
        log::warn!("stopping: {cut} connection(s) still under way after {} s are cut", cds.cfg.drain.as_secs());
    }
    let _ = http_task.await;
    // The others forget this instance's hooks now, not after its heartbeat's timeout.
    if let Some(cl) = &cds.relay.cluster {
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), cl.leave()).await {
            log::warn!("telling the other instances this one stops: {e}");
        }
    }
    Ok(())
}

/// A protocol connection being served (counted, so a stop can wait for it).
struct UnderWay(Arc<std::sync::atomic::AtomicUsize>);

impl UnderWay {
    fn enter(n: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        UnderWay(n.clone())
    }
}

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Work slots: all requests take one; open requests also take one of their own pool.
struct Slots {
    working: Arc<tokio::sync::Semaphore>,
    opening: Arc<tokio::sync::Semaphore>,
}

/// The longest an HTTP connection lives: one request (no keep-alive), headers within
/// `HTTP_HEADER_TIMEOUT`.
pub const HTTP_LIFETIME: Duration = Duration::from_secs(20);
const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The public HTTP side: one request per connection, each connection bounded in time, and
/// bounded in number per source and in all (over that, a 503 and the connection is closed).
async fn serve_http(
    http: TcpListener,
    app: axum::Router,
    limits: ConnLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let held = Arc::new(Tally::<IpAddr>::default());
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            acc = http.accept() => {
                let (sock, peer) = match acc {
                    Ok(x) => x,
                    Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
                };
                let Ok(place) = held.enter(bucket(peer.ip()), limits.http_per_source, limits.http_max) else {
                    let _ = sock.try_write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    continue;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _place = place;
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HTTP_HEADER_TIMEOUT)
                        .keep_alive(false)
                        .serve_connection(hyper_util::rt::TokioIo::new(sock), svc);
                    let _ = tokio::time::timeout(HTTP_LIFETIME, conn).await;
                });
            }
        }
    }
}

/// Serves one connection: the hello, then its one request.
async fn connection(mut sock: TcpStream, peer: SocketAddr, cds: Arc<Cds>, waiting: PendingGuard, slots: Arc<Slots>) {
    sock.set_nodelay(true).ok();
    let challenge: [u8; CHALLENGE_LEN] = crate::crypto::random_array(&cds.rng);
    let hello = CdsHello { challenge, cds_time: cds.clock.now() }.to_frame().expect("fixed-size hello");
    if sock.write_all(&hello).await.is_err() {
        return;
    }
    // The whole first frame within FIRST_FRAME_TIMEOUT, however slowly it trickles in, unless
    // the connection is evicted to make room first.
    let first = tokio::select! {
        f = tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame_within(&mut sock, FIRST_FRAME_TIMEOUT)) => f,
        _ = waiting.evicted() => {
            let why = "closed to make room: the CDS has too many connections waiting; try again shortly";
            return refuse(&cds, &mut sock, RefusalCode::RateLimited, why.into()).await;
        }
    };
    let frame = match first {
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed frame: {e}")).await,
        Err(_) => {
            let why = format!("no request within {} s of connecting", FIRST_FRAME_TIMEOUT.as_secs());
            return refuse(&cds, &mut sock, RefusalCode::Malformed, why).await;
        }
    };
    drop(waiting);
    // Open requests wait on mail servers and webhooks: they have a pool of their own within
    // the work slots, so they cannot take those that everything else needs.
    let opening = if frame.msg_type == TYPE_OPEN_REQUEST {
        match tokio::time::timeout(SLOT_WAIT, slots.opening.clone().acquire_owned()).await {
            Ok(Ok(p)) => Some(p),
            _ => {
                let why = "the CDS is busy with other enrolments; try again shortly";
                return refuse(&cds, &mut sock, RefusalCode::RateLimited, why.into()).await;
            }
        }
    } else {
        None
    };
    let Ok(Ok(permit)) = tokio::time::timeout(SLOT_WAIT, slots.working.clone().acquire_owned()).await else {
        return refuse(&cds, &mut sock, RefusalCode::RateLimited, "the CDS is busy; try again shortly".into()).await;
    };
    let conn = ConnInfo { peer, challenge };
    // Relay messages take the socket over (a hook stays open, a call or an answer becomes a
    // splice, a deposit or a collect streams a bundle); each gives its slot back once the
    // sender is authenticated and the stream counted against it.
    match frame.msg_type {
        crate::relay::TYPE_ON_HOOK => return super::relay::on_hook(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_ANSWER => return super::relay::answer(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_CALL => return super::relay::call(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_DEPOSIT => return super::mailbox::deposit(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_COLLECT => return super::mailbox::collect(sock, frame, conn, cds, permit).await,
        crate::relay::TYPE_STATUS => return super::mailbox::status(sock, frame, conn, cds).await,
        _ => {}
    }
    let answer = match handle(&frame, conn, &cds).await {
        Ok(bytes) => bytes,
        Err(r) => r.frame(cds.clock.now()),
    };
    if sock.write_all(&answer).await.is_ok() {
        let _ = sock.shutdown().await;
    }
    drop((permit, opening));
}

async fn handle(frame: &Frame, conn: ConnInfo, cds: &Arc<Cds>) -> Result<Vec<u8>, Refusal> {
    match frame.msg_type {
        TYPE_OPEN_REQUEST => {
            let req = OpenRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            // Checks, rate limits and the channel's own checks (a webhook's lookup) all come
            // before anything is sent.
            let (opened, target) = blocking(move || {
                let now = c.clock.now();
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
            // The out-of-band message first (the requester chose where it goes, so it is the
            // likelier to fail), then the email: a request that fails sends no reply B. What
            // went wrong is logged; the requester hears only which delivery failed.
            let delivered = async {
                let kind = super::registrar::channel_kind(&opened.oob).to_owned();
                cds.oob.deliver(&target, &opened.replies.c, &cds.mailer, &cds.cfg.mail_from).await.map_err(|e| {
                    log::warn!("request {rid}: reply C ({kind}) not delivered: {e}");
                    Refusal::new(
                        RefusalCode::OutOfBandFailed,
                        format!("reply C could not be delivered to the {kind} channel; check the destination, or try another"),
                    )
                })?;
                let file = format!("{rid}.reply-b");
                cds.mailer.send(&cds.cfg.mail_from, &opened.email, &subject, body, &file).await.map_err(|e| {
                    log::warn!("request {rid}: reply B not emailed: {e}");
                    Refusal::new(
                        RefusalCode::EmailFailed,
                        format!("reply B could not be emailed to {} (the CDS's mail server did not take it)", opened.email),
                    )
                })
            }
            .await;
            if delivered.is_ok() {
                // Where a person finds the two halves (with --dev: the files named by request).
                log::info!(
                    "request {rid} for {}: reply B {}, reply C (the PIN) {}",
                    opened.replies.c.name,
                    cds.mailer.destination(&opened.email, &format!("{rid}.reply-b")),
                    super::oob::Oob::destination(&target, &opened.request_id, &cds.mailer)
                );
            }
            if let Err(r) = delivered {
                let c = cds.clone();
                let id = opened.request_id;
                let _ = tokio::task::spawn_blocking(move || c.registrar.abandon(&id)).await;
                return Err(r);
            }
            opened.replies.a.to_frame().map_err(Refusal::internal)
        }
        TYPE_CONFIRM => {
            let conf = Confirm::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let source = conn.peer.ip().to_string();
            let now = cds.clock.now();
            let out = blocking(move || c.registrar.confirm(&conf, &conn.challenge, Some(&source), now, &c.rng)).await?;
            match out {
                ConfirmOutcome::Confirmed(m, _) => m.to_frame(),
                ConfirmOutcome::Denied(d, _) => d.to_frame(),
            }
            .map_err(Refusal::internal)
        }
        crate::kdc::TYPE_PARAMS_REQUEST => {
            let m = crate::kdc::ParamsRequest::from_frame(frame).map_err(malformed)?;
            let (c, now) = (cds.clone(), cds.clock.now());
            blocking(move || super::kdc::params(&c.registrar, &m, &conn.challenge, now, &c.rng)).await
        }
        crate::kdc::TYPE_AS_REQUEST => {
            let m = crate::kdc::AsRequest::from_frame(frame).map_err(malformed)?;
            let (c, now) = (cds.clone(), cds.clock.now());
            blocking(move || super::kdc::login(&c.registrar, &m, &conn.challenge, now, &c.rng)).await
        }
        crate::kdc::TYPE_TGS_REQUEST => {
            let m = crate::kdc::TgsRequest::from_frame(frame).map_err(malformed)?;
            let (c, now) = (cds.clone(), cds.clock.now());
            blocking(move || super::kdc::ticket(&c.registrar, &m, &conn.challenge, now, &c.rng)).await
        }
        crate::vsu::TYPE_RENEW => {
            let m = crate::vsu::Renew::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let now = cds.clock.now();
            blocking(move || c.registrar.renew(&m, &conn.challenge, now, &c.rng))
                .await?
                .to_frame()
                .map_err(Refusal::internal)
        }
        crate::vsu::TYPE_RENEW_CONFIRM => {
            let m = crate::vsu::RenewConfirm::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let now = cds.clock.now();
            let name = m.name.clone();
            let (answer, swapped) =
                blocking(move || c.registrar.renew_confirm(&m, &conn.challenge, now, &c.rng)).await?;
            if swapped {
                // The hooks up were opened with the old key (and seal under it): they end, and
                // the participant hooks again with the new one.
                cds.relay.rekeyed(&name);
            }
            answer.to_frame().map_err(Refusal::internal)
        }
        crate::broker::TYPE_SESSION_REQUEST => {
            let req = crate::broker::SessionRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let now = cds.clock.now();
            let (g, copy) =
                blocking(move || super::broker::grant(&*c.registrar.store, &req, &conn.challenge, now, &c.rng)).await?;
            // Pushed to the peer if it is on hook (never waiting on it); it also gets the
            // ticket from the caller in M1, so nothing is kept when it is not.
            cds.relay.push_ticket(&copy.peer, copy.ticket.clone());
            g.to_frame().map_err(Refusal::internal)
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
        let now = cds.clock.now();
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
