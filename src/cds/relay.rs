//! The relay in the CDS (seed 004's call manager): participants on hook, rings, answers, the
//! splice, and the call log. Each handler owns its socket: a hook stays open, a call becomes a
//! splice.

use super::conn::{authenticate, blocking, refuse, stream_place, Cds, ConnInfo};
use super::registrar::Refusal;
use super::store::{CallOutcome, CallResult};
use crate::crypto::{self};
use crate::relay::msgs::*;
use crate::wire::{Frame, Msg, RefusalCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

/// How long a write down a hook (a ring, a ticket push) may take before the hook is dropped:
/// a callee that does not read its hook cannot hold up callers.
const HOOK_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Refused calls of one caller written to the billing tape per hour (more are refused unlogged).
pub const REFUSED_CALLS_LOGGED: u32 = 60;
/// Messages waiting to go down one hook; a ticket push finding it full is dropped (the peer
/// gets the ticket in M1 anyway), a ring waits for room at most `RING_WAIT`.
const HOOK_QUEUE: usize = 16;
const RING_WAIT: Duration = Duration::from_secs(5);

pub use super::switchboard::Relay;
use super::switchboard::{AllServicesTaken, HookMsg, MAX_SERVICES_ON_HOOK};

/// A callee goes on hook: its connection stays open, and rings go down it.
pub async fn on_hook(mut sock: TcpStream, frame: Frame, conn: ConnInfo, cds: Arc<Cds>, permit: OwnedSemaphorePermit) {
    let hook = match OnHook::from_frame(&frame) {
        Ok(h) => h,
        Err(e) => {
            return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed on-hook message: {e}")).await
        }
    };
    let name = hook.sender.clone();
    let (cdsk, body) = match authenticate(&cds, &name, move |k| hook.open(k, &conn.challenge)).await {
        Ok(x) => x,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    let Ok(HookBody { nonce, service: svc }) = HookBody::decode(&body) else {
        return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed on-hook body".into()).await;
    };
    if let Err(e) = service::check(&svc) {
        return refuse(&cds, &mut sock, RefusalCode::BadRequest, e).await;
    }
    let keepalive = cds.cfg.conn.hook_keepalive;
    let secs = u16::try_from(keepalive.as_secs()).unwrap_or(u16::MAX);
    let now = HookOkBody { time: cds.clock.now(), keepalive: secs };
    let Ok(ok) = HookOk::new(&cdsk, &nonce, &now.encode(), &cds.rng).to_frame() else {
        return;
    };
    let mut closing = cds.relay.closing.0.subscribe();
    if *closing.borrow_and_update() {
        return refuse(&cds, &mut sock, RefusalCode::Internal, "the CDS is stopping".into()).await;
    }
    // On hook before hook OK leaves: a call made the moment the callee hears it rings.
    let (tx, mut rx) = mpsc::channel::<HookMsg>(HOOK_QUEUE);
    let id = cds.relay.next_hook.fetch_add(1, Ordering::Relaxed);
    match cds.relay.hook_up(&name, &svc, (id, tx)) {
        Err(AllServicesTaken) => {
            let why = format!("{name:?} has {MAX_SERVICES_ON_HOOK} services on hook already: end one first");
            return refuse(&cds, &mut sock, RefusalCode::RateLimited, why).await;
        }
        // The hook this one replaces hears why it ends (a callee told nothing would hook again).
        Ok(Some(older)) => drop(older.try_send(HookMsg::Replaced)),
        Ok(None) => {}
    }
    // The other instances learn where this hook is up; one held at another instance is
    // replaced there as it would be here. A store that cannot say so leaves a hook that takes
    // this instance's calls only.
    if let Some(cl) = &cds.relay.cluster {
        match cl.hook_up(&name, &svc, id).await {
            Ok(Some((at, older))) => {
                let replaced =
                    super::cluster::Signal::Replaced { name: name.clone(), service: svc.clone(), hook: older };
                let _ = cl.send(&at, replaced).await;
            }
            Ok(None) => {}
            Err(e) => log::warn!("recording {name:?}'s hook for the other instances: {e}"),
        }
    }
    let unhook = |relay: &Relay| relay.hang_up(&name, &svc, id);
    if sock.write_all(&ok).await.is_err() {
        return unhook(&cds.relay);
    }
    drop(permit);
    crate::net::keep_tcp_alive(&sock);
    let mut probe = [0u8; 1];
    let idle = |keepalive: Duration| tokio::time::Instant::now() + keepalive;
    let mut next_keepalive = idle(keepalive);
    loop {
        let frame = tokio::select! {
            msg = rx.recv() => match msg {
                Some(HookMsg::Ring(body)) => Ring::new(&cdsk, &nonce, &body, &cds.rng).to_frame(),
                Some(HookMsg::Ticket(ticket)) => TicketPush::new(&cdsk, &nonce, &ticket, &cds.rng).to_frame(),
                Some(HookMsg::Notice(body)) => MailboxNotice::new(&cdsk, &nonce, &body, &cds.rng).to_frame(),
                // The switchboard let go of this hook's sender only for a newer hook in its
                // place: told so even when the notice itself did not fit in the queue (a callee
                // closed on silently would hook again and push the newer one out).
                Some(HookMsg::Rekeyed) => break,
                Some(HookMsg::Replaced) | None => {
                    let now = TimeBody { time: cds.clock.now() }.encode();
                    if let Ok(f) = HookReplaced::new(&cdsk, &nonce, &now, &cds.rng).to_frame() {
                        let _ = tokio::time::timeout(HOOK_WRITE_TIMEOUT, sock.write_all(&f)).await;
                    }
                    break;
                }
            },
            _ = tokio::time::sleep_until(next_keepalive), if !keepalive.is_zero() => {
                // A key renewed since (at another CDS on the store, or a word that did not fit
                // in the queue): a hook opened with the old one ends, and is put up again.
                if !still_the_key(&cds, &name, &cdsk).await {
                    break;
                }
                Keepalive::new(&cdsk, &nonce, &TimeBody { time: cds.clock.now() }.encode(), &cds.rng).to_frame()
            }
            // The callee sends nothing on its hook: EOF or anything else ends it.
            _ = sock.read(&mut probe) => break,
            // The CDS stops: the connection closes, and the callee hooks again when it can.
            _ = closing.changed() => break,
        };
        let Ok(frame) = frame else { continue };
        match tokio::time::timeout(HOOK_WRITE_TIMEOUT, sock.write_all(&frame)).await {
            Ok(Ok(())) => next_keepalive = idle(keepalive),
            _ => break,
        }
    }
    unhook(&cds.relay);
}

/// Whether `cdsk` is still `name`'s key at the store (a failing store does not end hooks).
async fn still_the_key(cds: &Arc<Cds>, name: &str, cdsk: &crate::crypto::Secret<32>) -> bool {
    let (c, n) = (cds.clone(), name.to_owned());
    match blocking(move || c.registrar.store.participant_cdsk(&n).map_err(Refusal::internal)).await {
        Ok(Some((key, _))) => key.ct_eq(cdsk),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// A rung callee answers on a new connection: hand it to the waiting call (whose stream
/// place covers it).
pub async fn answer(mut sock: TcpStream, frame: Frame, conn: ConnInfo, cds: Arc<Cds>, permit: OwnedSemaphorePermit) {
    let ans = match Answer::from_frame(&frame) {
        Ok(a) => a,
        Err(e) => return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed answer: {e}")).await,
    };
    let name = ans.sender.clone();
    let body = match authenticate(&cds, &name, move |k| ans.open(k, &conn.challenge)).await {
        Ok((_, b)) => b,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    drop(permit);
    let Ok(IdBody { id: call_id }) = IdBody::decode(&body) else {
        return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed answer body".into()).await;
    };
    let waiting = {
        let mut p = cds.relay.pending.lock().unwrap();
        match p.get(&call_id) {
            Some((callee, _)) if *callee == name => p.remove(&call_id),
            _ => None,
        }
    };
    match waiting {
        Some((_, tx)) => {
            let _ = tx.send(sock);
        }
        None => {
            refuse(
                &cds,
                &mut sock,
                RefusalCode::NotFound,
                "no call is waiting for that answer (it was given up)".into(),
            )
            .await
        }
    }
}

/// A caller names its callee (encrypted); the CDS checks, rings, waits for the answer, splices.
pub async fn call(mut sock: TcpStream, frame: Frame, conn: ConnInfo, cds: Arc<Cds>, permit: OwnedSemaphorePermit) {
    let peer: SocketAddr = conn.peer;
    let call = match Call::from_frame(&frame) {
        Ok(c) => c,
        Err(e) => return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed call: {e}")).await,
    };
    let caller = call.sender.clone();
    let tracking: [u8; 16] = crypto::random_array(&cds.rng);
    let start = cds.clock.now();
    let (cdsk, body) = match authenticate(&cds, &caller, move |k| call.open(k, &conn.challenge)).await {
        Ok(x) => x,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    let Ok(CallBody { callee, nonce, service: svc }) = CallBody::decode(&body) else {
        return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed call body".into()).await;
    };
    if let Err(e) = service::check(&svc) {
        return refuse(&cds, &mut sock, RefusalCode::BadRequest, e).await;
    }
    // Only a valid name reaches the billing tape (the caller chose these bytes).
    if let Err(e) = crate::keys::check_name(&callee) {
        return refuse(&cds, &mut sock, RefusalCode::BadRequest, format!("the callee is not a participant name: {e}"))
            .await;
    }
    let log = |result: CallResult| {
        let (c, caller, callee) = (cds.clone(), caller.clone(), callee.clone());
        async move {
            let _ = blocking(move || {
                c.registrar.store.call_started(&tracking, &caller, &callee, start, &result).map_err(Refusal::internal)
            })
            .await;
        }
    };
    let checked = async {
        if callee == caller {
            return Err(Refusal::new(RefusalCode::BadRequest, "a participant cannot call itself"));
        }
        if cds.relay.source_check {
            let c = cds.clone();
            let name = caller.clone();
            let source =
                blocking(move || c.registrar.store.participant_source(&name).map_err(Refusal::internal)).await?;
            if let Some(src) = source {
                if !same_source(&src, peer.ip()) {
                    return Err(Refusal::new(
                        RefusalCode::SourceMismatch,
                        format!("calls from {caller:?} must come from its registered source {src}, not {}", peer.ip()),
                    ));
                }
            }
        }
        let c = cds.clone();
        let name = callee.clone();
        let known = blocking(move || c.registrar.store.participant_cdsk(&name).map_err(Refusal::internal)).await?;
        if known.is_none() {
            return Err(Refusal::new(RefusalCode::NotFound, format!("no participant named {callee:?} at this CDS")));
        }
        if let Some(tx) = cds.relay.line(&callee, &svc) {
            return Ok(Line::Here(tx));
        }
        // On hook at another instance: rung there, and told to answer here.
        if let Some(cl) = &cds.relay.cluster {
            if let Some(at) = cl.find(&callee, &svc).await.map_err(Refusal::internal)? {
                return Ok(Line::There(cl.clone(), at));
            }
        }
        Err(Refusal::new(RefusalCode::NotListening, not_listening(&callee, &svc)))
    }
    .await;
    // The call is a stream of the caller's from here: it gives its work slot back.
    let checked = checked.and_then(|tx| Ok((tx, stream_place(&cds, &caller)?)));
    drop(permit);
    let (ring_tx, _place) = match checked {
        Ok(x) => x,
        Err(r) => {
            // The tape keeps a caller's refused calls up to REFUSED_CALLS_LOGGED an hour: a
            // caller probing names cannot grow it without bound.
            let (c, key) = (cds.clone(), format!("refused-call:{caller}"));
            let room = blocking(move || {
                let limit = crate::cds::store::Limit { count: REFUSED_CALLS_LOGGED, window: 3600 };
                c.registrar.store.rate_take(&[(key, limit)], start).map_err(Refusal::internal)
            })
            .await;
            if matches!(room, Ok(None)) {
                log(CallResult::new(CallOutcome::Refused, r.reason.clone())).await;
            }
            return refuse(&cds, &mut sock, r.code, r.reason).await;
        }
    };
    let (tx, rx) = oneshot::channel();
    cds.relay.pending.lock().unwrap().insert(tracking, (callee.clone(), tx));
    let rang = match ring_tx {
        Line::Here(ring_tx) => match (RingBody { call_id: tracking, caller: caller.clone(), answer_at: None }).encode()
        {
            Ok(body) => ring_tx.send_timeout(HookMsg::Ring(body), RING_WAIT).await.is_ok(),
            Err(_) => false,
        },
        Line::There(cl, at) => {
            let ring = RingBody { call_id: tracking, caller: caller.clone(), answer_at: Some(cl.address().to_owned()) };
            match ring.encode() {
                Ok(body) => {
                    let s = super::cluster::Signal::Ring {
                        name: callee.clone(),
                        service: svc.clone(),
                        body: hex::encode(body),
                    };
                    cl.send(&at, s).await.is_ok()
                }
                Err(_) => false,
            }
        }
    };
    let answered = if rang {
        tokio::time::timeout(Duration::from_secs(crate::relay::ANSWER_TIMEOUT_SECS), rx).await.ok().and_then(Result::ok)
    } else {
        None
    };
    cds.relay.pending.lock().unwrap().remove(&tracking);
    let Some(callee_sock) = answered else {
        log(CallResult::new(CallOutcome::NoAnswer, "")).await;
        return refuse(&cds, &mut sock, RefusalCode::NotListening, format!("{callee:?} did not answer")).await;
    };
    log(CallResult::new(CallOutcome::Connected, "")).await;
    let Ok(ok) = CallOk::new(&cdsk, &nonce, &IdBody { id: tracking }.encode(), &cds.rng).to_frame() else { return };
    if sock.write_all(&ok).await.is_err() {
        return;
    }
    let _ = callee_sock.set_nodelay(true);
    let (up, down, result) = splice(sock, callee_sock, cds.cfg.conn.splice_idle).await;
    let c = cds.clone();
    let _ = blocking(move || {
        c.registrar.store.call_ended(&tracking, c.clock.now(), up, down, &result).map_err(Refusal::internal)
    })
    .await;
}

/// Where a callee's hook is: here (its queue), or at another instance (rung through it).
enum Line {
    Here(mpsc::Sender<HookMsg>),
    There(Arc<dyn super::cluster::Cluster>, String),
}

/// The refusal's reason for a callee with no hook for the service: what the callee must run.
fn not_listening(callee: &str, svc: &str) -> String {
    match svc {
        service::FILES => format!("{callee:?} is not receiving files: {callee} must run `sslx recv`"),
        service::PAIR => format!("{callee:?} is not waiting to pair: {callee} must run `sslx pair --accept`"),
        service::SESSION => format!("{callee:?} is not listening: {callee} must run `sslx listen`"),
        other => {
            format!("{callee:?} is not listening for {other:?}: {callee} must run `sslx listen --service {other}`")
        }
    }
}

/// Bytes moved per read in a splice: large, since a relayed session is bulk traffic.
const SPLICE_BUFFER: usize = 256 * 1024;

/// The error that ends a splice when neither direction moved a byte for `idle`.
fn idle_for(idle: Duration, start: tokio::time::Instant, last: &AtomicU64) -> Option<std::io::Error> {
    let quiet = start.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
    (quiet >= idle).then(|| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("idle for {} s", idle.as_secs())))
}

/// Copies one direction until EOF, then half-closes the other side's sending half. Gives up
/// when neither direction has moved a byte for `idle` (`last` is shared by both directions:
/// milliseconds since `start` of the last byte moved).
async fn copy_one_way(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    idle: Duration,
    start: tokio::time::Instant,
    last: &AtomicU64,
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; SPLICE_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match tokio::time::timeout(idle, from.read(&mut buf)).await {
            Ok(n) => n?,
            Err(_) => {
                if let Some(e) = idle_for(idle, start, last) {
                    return Err(e);
                }
                continue;
            }
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(total);
        }
        to.write_all(&buf[..n]).await?;
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        total += n as u64;
    }
}

/// `copy_one_way` without the bytes passing through user space (Linux): `splice(2)` moves them
/// from the socket into a pipe and from the pipe into the other socket, each step when tokio
/// says the socket is ready. Falls back to the copy when no pipe can be made.
#[cfg(target_os = "linux")]
async fn splice_one_way(
    from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    idle: Duration,
    start: tokio::time::Instant,
    last: &AtomicU64,
) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    let Ok(pipe) = zero_copy::Pipe::new() else { return copy_one_way(from, to, idle, start, last).await };
    let (from_fd, to_fd) = (from.as_ref().as_raw_fd(), to.as_ref().as_raw_fd());
    let mut total = 0u64;
    loop {
        match tokio::time::timeout(idle, from.readable()).await {
            Ok(ready) => ready?,
            Err(_) => {
                if let Some(e) = idle_for(idle, start, last) {
                    return Err(e);
                }
                continue;
            }
        }
        let n = match from.as_ref().try_io(Interest::READABLE, || pipe.fill_from(from_fd, SPLICE_BUFFER)) {
            Ok(0) => {
                let _ = to.shutdown().await;
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        // Everything taken into the pipe goes out before more is read, so at EOF it is empty.
        let mut left = n;
        while left > 0 {
            to.writable().await?;
            match to.as_ref().try_io(Interest::WRITABLE, || pipe.drain_into(to_fd, left)) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        total += n as u64;
    }
}

#[cfg(not(target_os = "linux"))]
use copy_one_way as splice_one_way;

/// A pipe for `splice(2)`, both ends non-blocking, closed on drop.
#[cfg(target_os = "linux")]
mod zero_copy {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    pub struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
    }

    fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
        // SAFETY: two open descriptors, no offsets (both are sockets or pipes).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    impl Pipe {
        pub fn new() -> io::Result<Pipe> {
            let mut fds = [0; 2];
            // SAFETY: `fds` has room for the two descriptors pipe2 writes.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: pipe2 succeeded: both are open descriptors that nothing else owns.
            let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // A pipe as large as the copy's buffer, when the system allows it (64 KiB otherwise).
            // SAFETY: an fcntl on a descriptor we own.
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, super::SPLICE_BUFFER as libc::c_int) };
            Ok(Pipe { read, write })
        }
        /// Moves up to `len` bytes from the socket `from` into the pipe (0: the socket's EOF).
        pub fn fill_from(&self, from: RawFd, len: usize) -> io::Result<usize> {
            splice(from, self.write.as_raw_fd(), len)
        }
        /// Moves up to `len` bytes from the pipe into the socket `to`.
        pub fn drain_into(&self, to: RawFd, len: usize) -> io::Result<usize> {
            splice(self.read.as_raw_fd(), to, len)
        }
    }
}

/// Copies both ways until each side has closed its sending half, or the session has been idle
/// for `idle`; counts the bytes.
async fn splice(a: TcpStream, b: TcpStream, idle: Duration) -> (u64, u64, CallResult) {
    let (ar, aw) = a.into_split();
    let (br, bw) = b.into_split();
    let start = tokio::time::Instant::now();
    let last = AtomicU64::new(0);
    let up = splice_one_way(ar, bw, idle, start, &last);
    let down = splice_one_way(br, aw, idle, start, &last);
    let (u, d) = tokio::join!(up, down);
    let result = match (&u, &d) {
        (Ok(_), Ok(_)) => CallResult::new(CallOutcome::Completed, ""),
        (Err(e), _) | (_, Err(e)) => CallResult::new(CallOutcome::Cut, e.to_string()),
    };
    (u.unwrap_or(0), d.unwrap_or(0), result)
}

/// Whether a call from `peer` comes from the caller's registered source: the same source bucket
/// (`net::source_bucket`: the /64 of an IPv6 address, so rotating privacy addresses pass).
fn same_source(registered: &str, peer: std::net::IpAddr) -> bool {
    use crate::net::source_bucket;
    registered.parse().map(source_bucket) == Ok(source_bucket(peer))
}

#[cfg(test)]
mod tests {
    use super::same_source;

    #[test]
    fn a_registered_source_is_compared_by_its_bucket() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(same_source("192.0.2.1", ip("192.0.2.1")));
        assert!(!same_source("192.0.2.1", ip("192.0.2.2")));
        assert!(same_source("192.0.2.1", ip("::ffff:192.0.2.1")), "IPv4-mapped is the IPv4 address");
        assert!(same_source("2001:db8:1:2::10", ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "same /64");
        assert!(!same_source("2001:db8:1:2::10", ip("2001:db8:1:3::10")));
        assert!(!same_source("not an address", ip("192.0.2.1")));
    }
}
