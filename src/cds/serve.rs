//! The CDS daemon: the TCP protocol listener (framed messages) and the public HTTP side.
//! `serve(listener, http, cds, shutdown)` runs both until `shutdown` resolves; tests and
//! `--dev` bind port 0.

use super::mail::{reply_b_email, Mailer};
use super::oob::Oob;
use super::registrar::{ConfirmOutcome, Refusal, Registrar};
use super::standing::Standing;
use crate::vsu::{request_id_hex, Confirm, OpenRequest, TYPE_CONFIRM, TYPE_OPEN_REQUEST};
use crate::wire::{Frame, Header, Msg, RefusalCode, HEADER_LEN};
use ring::rand::SystemRandom;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a peer may take to send one frame.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 1024;

pub struct CdsConfig {
    pub mail_from: String,
}

pub struct Cds {
    pub registrar: Registrar,
    pub relay: super::relay::Relay,
    pub mailer: Mailer,
    pub oob: Oob,
    pub cfg: CdsConfig,
    pub rng: SystemRandom,
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
    // Expired requests are kept a day (so a late confirmation hears "expired", not "unknown"), then purged.
    let purger = cds.clone();
    let purge_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let c = purger.clone();
            let _ = tokio::task::spawn_blocking(move || c.registrar.store.purge_expired(crate::cli::now_unix(), 86400))
                .await;
        }
    });
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
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
                let permit = limit.clone().acquire_owned().await.expect("semaphore open");
                let cds = cds.clone();
                tokio::spawn(async move {
                    let _ = connection(sock, peer, cds, permit).await;
                });
            }
        }
    }
    let _ = stop_tx.send(true);
    purge_task.abort();
    let _ = http_task.await;
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean EOF between frames. Reads exactly the frame: what
/// follows stays in the socket (a relayed session after a call or an answer).
pub(crate) async fn read_frame(sock: &mut TcpStream) -> Result<Option<Frame>, String> {
    read_frame_within(sock, READ_TIMEOUT).await
}

/// `read_frame`, waiting up to `first` for the frame to begin (a client busy between frames).
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

/// Serves one connection. `permit` is one of MAX_CONNECTIONS slots for work in progress; an
/// authenticated hook gives its slot back (it is idle until a ring), so how many participants
/// can be on hook is bounded by file descriptors, not by this.
async fn connection(
    mut sock: TcpStream,
    peer: std::net::SocketAddr,
    cds: Arc<Cds>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> std::io::Result<()> {
    sock.set_nodelay(true).ok();
    loop {
        let frame = match read_frame(&mut sock).await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                let r = Refusal::new(RefusalCode::Malformed, format!("malformed frame: {e}"));
                sock.write_all(&r.to_msg(crate::cli::now_unix()).to_frame()).await?;
                return Ok(());
            }
        };
        // Relay messages take the socket over: a hook stays open, a call or an answer becomes a splice.
        match frame.msg_type {
            crate::relay::TYPE_ON_HOOK => {
                super::relay::on_hook(sock, frame, cds, permit).await;
                return Ok(());
            }
            crate::relay::TYPE_ANSWER => {
                super::relay::answer(sock, frame, cds).await;
                return Ok(());
            }
            crate::relay::TYPE_CALL => {
                super::relay::call(sock, frame, peer, cds).await;
                return Ok(());
            }
            crate::relay::TYPE_DEPOSIT => {
                super::mailbox::deposit(sock, frame, cds).await;
                return Ok(());
            }
            crate::relay::TYPE_COLLECT => {
                super::mailbox::collect(sock, frame, cds).await;
                return Ok(());
            }
            crate::relay::TYPE_STATUS => {
                super::mailbox::status(sock, frame, cds).await;
                return Ok(());
            }
            _ => {}
        }
        let answer = match handle(&frame, peer, &cds).await {
            Ok(bytes) => bytes,
            Err(r) => r.to_msg(crate::cli::now_unix()).to_frame(),
        };
        sock.write_all(&answer).await?;
    }
}

fn malformed(e: crate::wire::WireError) -> Refusal {
    Refusal::new(RefusalCode::Malformed, format!("malformed message: {e}"))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Refusal::new(RefusalCode::Internal, format!("CDS internal error: {e}")))?
}

async fn handle(frame: &Frame, peer: std::net::SocketAddr, cds: &Arc<Cds>) -> Result<Vec<u8>, Refusal> {
    match frame.msg_type {
        TYPE_OPEN_REQUEST => {
            let req = OpenRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let opened = blocking(move || {
                let now = crate::cli::now_unix();
                c.registrar.open(&req, now, |uri| c.oob.check(uri), &c.rng)
            })
            .await?;
            let rid = request_id_hex(&opened.request_id);
            let name = opened.replies.c.name.clone();
            let (subject, body) = reply_b_email(&name, &rid, &opened.replies.b.to_armor(), &cds.registrar.cfg.cds_http);
            let delivered = async {
                cds.mailer.send(&cds.cfg.mail_from, &opened.email, &subject, body).await.map_err(|e| {
                    Refusal::new(RefusalCode::EmailFailed, format!("reply B could not be emailed: {e}"))
                })?;
                cds.oob.deliver(&opened.oob, &opened.replies.c, &cds.mailer, &cds.cfg.mail_from).await.map_err(|e| {
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
            Ok(opened.replies.a.to_frame())
        }
        TYPE_CONFIRM => {
            let conf = Confirm::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let source = peer.ip().to_string();
            let out =
                blocking(move || c.registrar.confirm(&conf, Some(&source), crate::cli::now_unix(), &c.rng)).await?;
            Ok(match out {
                ConfirmOutcome::Confirmed(m, _) => m.to_frame(),
                ConfirmOutcome::Denied(d, _) => d.to_frame(),
            })
        }
        crate::broker::TYPE_SESSION_REQUEST => {
            let req = crate::broker::SessionRequest::from_frame(frame).map_err(malformed)?;
            let c = cds.clone();
            let (g, copy) =
                blocking(move || super::broker::grant(&c.registrar.store, &req, crate::cli::now_unix(), &c.rng))
                    .await?;
            // Pushed to the peer if it is on hook, kept in its mailbox otherwise.
            if !cds.relay.push_ticket(&copy.peer, copy.ticket.clone()).await {
                let c = cds.clone();
                blocking(move || {
                    copy.keep(&c.registrar.store).map_err(|e| Refusal::new(RefusalCode::Internal, e.to_string()))
                })
                .await?;
            }
            Ok(g.to_frame())
        }
        t => Err(Refusal::new(RefusalCode::Malformed, format!("unexpected message type 0x{t:02x}"))),
    }
}

async fn health(axum::extract::State(cds): axum::extract::State<Arc<Cds>>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"ok": true, "on_hook": cds.relay.on_hook_count()}))
}

async fn standing(
    axum::extract::State(cds): axum::extract::State<Arc<Cds>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let n = name.clone();
    let got = tokio::task::spawn_blocking(move || {
        let now = crate::cli::now_unix();
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
