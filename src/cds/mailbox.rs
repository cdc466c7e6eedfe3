//! Store-and-forward (seed 004: "cache communications at the telephony server, and forward them
//! later"): a sender whose recipient is not listening deposits the bundle; the CDS keeps it in a
//! file under its mailbox directory (per-recipient quota, expiry) and hands it over when the
//! recipient collects; the sender asks what became of it. The CDS only ever holds sealed bundles.

use super::conn::{authenticate, blocking, read_frame_within, refuse, stream_place, Cds, ConnInfo};
use super::registrar::Refusal;
use super::store::{MailboxLimits, StoredBundle};
use crate::relay::msgs::*;
use crate::wire::{Msg, RefusalCode};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

pub use super::limits::MailboxConfig;

/// A deposit's bytes must arrive at this rate at least (after `DEPOSIT_GRACE`): a sender
/// cannot hold a stream open by trickling.
pub const DEPOSIT_MIN_RATE: u64 = 64 * 1024;
pub const DEPOSIT_GRACE: Duration = Duration::from_secs(30);
/// How long a recipient may take to open a bundle and say how it went: `ACK_GRACE` plus a
/// second per `ACK_RATE` bytes.
pub const ACK_GRACE: Duration = Duration::from_secs(300);
pub const ACK_RATE: u64 = 1 << 20;

/// `grace` plus one second per `rate` bytes of `size`.
fn allowance(size: u64, rate: u64, grace: Duration) -> Duration {
    grace + Duration::from_secs(size / rate)
}

/// Bytes free for an unprivileged user on the filesystem holding `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: statvfs writes only the struct passed; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// How long a deposit's temp file may go unwritten before the purge takes it for the leftover
/// of an instance that died mid-deposit (a live deposit writes at least once a minute).
pub const INCOMING_ABANDONED: Duration = Duration::from_secs(3600);

/// The time by the clock that stamps files in `dir`: on a shared (network) directory that is
/// the file server's, which may differ from this machine's. Read off a temp file made there.
pub fn dir_clock(dir: &std::path::Path) -> std::io::Result<std::time::SystemTime> {
    let probe = tempfile::Builder::new().prefix(".clock-").tempfile_in(dir)?;
    probe.as_file().metadata()?.modified()
}

/// Removes the temp files (`.incoming-*`, and `dir_clock`'s `.clock-*`) of deposits cut off by a
/// kill, unwritten for `idle` (`INCOMING_ABANDONED`) by `now` (by the clock that stamped them:
/// [`dir_clock`]); returns how many went. With several instances on one mailbox directory, another's live deposit is
/// never one of them.
pub fn sweep_incoming(dir: &std::path::Path, now: std::time::SystemTime, idle: Duration) -> std::io::Result<usize> {
    let mut gone = 0;
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        if ![&b".incoming-"[..], b".clock-"].iter().any(|p| name.as_encoded_bytes().starts_with(p)) {
            continue;
        }
        let Ok(m) = e.metadata() else { continue };
        let unwritten = m.modified().ok().and_then(|t| now.duration_since(t).ok());
        if m.is_file() && unwritten.is_some_and(|d| d >= idle) && std::fs::remove_file(e.path()).is_ok() {
            gone += 1;
        }
    }
    Ok(gone)
}

/// The mailbox directory, made 0700 if it is gone (bundles inside are 0600); one that others
/// can write in takes no bundle.
fn make_dir(dir: &std::path::Path) -> std::io::Result<()> {
    crate::keys::private_dir(dir).map_err(std::io::Error::other)
}

/// A sender deposits a bundle for a recipient.
pub async fn deposit(
    mut sock: TcpStream,
    frame: crate::wire::Frame,
    conn: ConnInfo,
    cds: Arc<Cds>,
    permit: OwnedSemaphorePermit,
) {
    let msg = match Deposit::from_frame(&frame) {
        Ok(m) => m,
        Err(e) => return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed deposit: {e}")).await,
    };
    let sender = msg.sender.clone();
    let (cdsk, body) = match authenticate(&cds, &sender, move |k| msg.open(k, &conn.challenge)).await {
        Ok(x) => x,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    let Ok(DepositBody { recipient, nonce, size, bundle_id, sha256 }) = DepositBody::decode(&body) else {
        return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed deposit body".into()).await;
    };
    if let Err(e) = crate::keys::check_name(&recipient) {
        return refuse(
            &cds,
            &mut sock,
            RefusalCode::BadRequest,
            format!("the recipient is not a participant name: {e}"),
        )
        .await;
    }
    if recipient == sender {
        return refuse(&cds, &mut sock, RefusalCode::BadRequest, "a participant cannot deposit for itself".into())
            .await;
    }
    let _place = match stream_place(&cds, &sender) {
        Ok(p) => p,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    let cfg = cds.relay.mailbox.clone();
    let now = cds.clock.now();
    let mut b = StoredBundle {
        recipient: recipient.clone(),
        sender: sender.clone(),
        bundle_id,
        size,
        path: String::new(),
        created: now,
        expires: now.saturating_add(cfg.ttl),
    };
    // Room is reserved (atomically with the quota checks) before a byte is read.
    let checked = async {
        let dir = cfg.dir.clone().ok_or_else(|| {
            Refusal::new(RefusalCode::BadRequest, "this CDS keeps no mailbox (store-and-forward is off)")
        })?;
        let (c, r, d) = (cds.clone(), b.clone(), dir.clone());
        let limits = MailboxLimits {
            quota: cfg.quota,
            per_sender: cfg.per_sender,
            sender_total: cfg.sender_total,
            total: cfg.total,
        };
        let min_free = cfg.min_free;
        let reserved = blocking(move || {
            if c.registrar.store.participant_cdsk(&r.recipient).map_err(Refusal::internal)?.is_none() {
                return Err(Refusal::new(
                    RefusalCode::NotFound,
                    format!("no participant named {:?} at this CDS", r.recipient),
                ));
            }
            let reserved = c.registrar.store.bundle_reserve(&r, limits).map_err(Refusal::internal)?;
            // The quotas hold; the disk must too (room reserved by others not yet written
            // is not counted: the floor is a margin, not an account).
            if let Ok(id) = reserved {
                let free = make_dir(&d).and_then(|()| free_bytes(&d)).map_err(Refusal::internal);
                if free.as_ref().map_or(true, |f| f.saturating_sub(r.size) < min_free) {
                    let _ = c.registrar.store.bundle_cancel(id);
                    free?;
                    return Err(Refusal::new(
                        RefusalCode::BadRequest,
                        format!("the CDS is short of disk space for a bundle of {} bytes; try later", r.size),
                    ));
                }
            }
            Ok(reserved)
        })
        .await?;
        let id = reserved.map_err(|why| Refusal::new(RefusalCode::BadRequest, why))?;
        Ok::<_, Refusal>((dir, id))
    }
    .await;
    // A stream of the sender's from here, not a work slot.
    drop(permit);
    let (dir, reservation) = match checked {
        Ok(d) => d,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    // The bytes go to a temp file (0600, in a 0700 directory), hashed on the way, and move to a
    // name of their own (never replacing a file) once all of them arrived and hash right.
    let unique: [u8; 16] = crate::crypto::random_array(&cds.rng);
    let stored = async {
        let tmp = tempfile::Builder::new().prefix(".incoming-").tempfile_in(&dir)?;
        let (file, path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut left = size;
        let mut buf = vec![0u8; 256 * 1024];
        // All of it within the allowance for its size, and no pause over a minute.
        let deadline = tokio::time::Instant::now() + allowance(size, DEPOSIT_MIN_RATE, DEPOSIT_GRACE);
        while left > 0 {
            let want = buf.len().min(left as usize);
            let by = deadline.min(tokio::time::Instant::now() + Duration::from_secs(60));
            let n = tokio::time::timeout_at(by, sock.read(&mut buf[..want])).await.map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    if tokio::time::Instant::now() >= deadline {
                        format!(
                            "the bundle did not arrive in time (at least {} KiB/s after {} s)",
                            DEPOSIT_MIN_RATE / 1024,
                            DEPOSIT_GRACE.as_secs()
                        )
                    } else {
                        "the sender stopped sending".to_owned()
                    },
                )
            })??;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the bundle was cut off"));
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        if !crate::crypto::ct_eq(hash.finish().as_ref(), &sha256) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the bundle's bytes do not match the hash in the deposit",
            ));
        }
        file.sync_all().await?;
        let name: String = bundle_id.iter().chain(&unique).map(|b| format!("{b:02x}")).collect();
        let fin = dir.join(format!("{name}.bundle"));
        path.persist_noclobber(&fin).map_err(|e| e.error)?;
        Ok::<_, std::io::Error>(fin)
    }
    .await;
    let cancel = |c: Arc<Cds>| async move {
        let _ = blocking(move || c.registrar.store.bundle_cancel(reservation).map_err(Refusal::internal)).await;
    };
    let path = match stored {
        Ok(p) => p,
        Err(e) => {
            cancel(cds.clone()).await;
            // What the sender's bytes did is the sender's to hear; the CDS's own disk (paths)
            // stays in the CDS's log.
            let code = match e.kind() {
                std::io::ErrorKind::InvalidData => Some(RefusalCode::BadSignature),
                std::io::ErrorKind::TimedOut => Some(RefusalCode::RateLimited),
                std::io::ErrorKind::UnexpectedEof => Some(RefusalCode::Malformed),
                _ => None,
            };
            let r = match code {
                Some(code) => Refusal::new(code, format!("the bundle was not stored: {e}")),
                None => Refusal::internal(format!("storing a bundle: {e}")),
            };
            return refuse(&cds, &mut sock, r.code, r.reason).await;
        }
    };
    b.path = path.display().to_string();
    let expires = b.expires;
    let c = cds.clone();
    if let Err(r) = blocking(move || c.registrar.store.bundle_stored(reservation, &b).map_err(Refusal::internal)).await
    {
        let _ = std::fs::remove_file(&path);
        cancel(cds.clone()).await;
        return refuse(&cds, &mut sock, r.code, r.reason).await;
    }
    if let Ok(ok) = DepositOk::new(&cdsk, &nonce, &TimeBody { time: expires }.encode(), &cds.rng).to_frame() {
        let _ = sock.write_all(&ok).await;
    }
    // A recipient on hook for files (busy when the sender called, or refusing a name) hears
    // of it and collects.
    if let Ok(body) = (NoticeBody { time: cds.clock.now(), sender, bundle_id }).encode() {
        cds.relay.notify_deposit(&recipient, body);
    }
}

/// A recipient collects what waits for it, one bundle at a time, each acknowledged.
pub async fn collect(
    mut sock: TcpStream,
    frame: crate::wire::Frame,
    conn: ConnInfo,
    cds: Arc<Cds>,
    permit: OwnedSemaphorePermit,
) {
    let mut frame = frame;
    // The first collect is authenticated with the work slot; the collection is then a stream
    // of the recipient's.
    let mut permit = Some(permit);
    let mut place = None;
    // Items the recipient kept on this connection: the next collect moves past them.
    let mut kept: HashSet<i64> = HashSet::new();
    // The collects of one connection: one participant, each with a nonce of its own.
    let mut collector: Option<String> = None;
    let mut nonces: HashSet<[u8; 16]> = HashSet::new();
    loop {
        let msg = match Collect::from_frame(&frame) {
            Ok(m) => m,
            Err(e) => return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed collect: {e}")).await,
        };
        let name = msg.sender.clone();
        if collector.as_ref().is_some_and(|c| *c != name) {
            return refuse(&cds, &mut sock, RefusalCode::BadRequest, "one collector per connection".into()).await;
        }
        collector = Some(name.clone());
        let (cdsk, body) = match authenticate(&cds, &name, move |k| msg.open(k, &conn.challenge)).await {
            Ok(x) => x,
            Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
        };
        let Ok(NonceBody { nonce }) = NonceBody::decode(&body) else {
            return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed collect body".into()).await;
        };
        if place.is_none() {
            match stream_place(&cds, &name) {
                Ok(p) => place = Some(p),
                Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
            }
            drop(permit.take());
        }
        if !nonces.insert(nonce) {
            return refuse(
                &cds,
                &mut sock,
                RefusalCode::AlreadyConfirmed,
                "a collect's nonce was used before on this connection (replayed)".into(),
            )
            .await;
        }
        let (c, n, skip) = (cds.clone(), name.clone(), kept.clone());
        let next =
            blocking(move || c.registrar.store.bundle_next(&n, c.clock.now(), &skip).map_err(Refusal::internal)).await;
        let (item, gone) = match next {
            Ok(x) => x,
            Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
        };
        for p in gone {
            let _ = tokio::fs::remove_file(p).await;
        }
        let Some((id, b)) = item else {
            if let Ok(f) =
                Delivery::new(&cdsk, &nonce, &DeliveryBody::Empty.encode().expect("one byte"), &cds.rng).to_frame()
            {
                let _ = sock.write_all(&f).await;
            }
            return;
        };
        let item = MailboxItem { item: id as u64, sender: b.sender.clone(), size: b.size, bundle_id: b.bundle_id };
        let Ok(head) = DeliveryBody::Item(item).encode() else { return };
        let mut file = match tokio::fs::File::open(&b.path).await {
            Ok(f) => f,
            Err(e) => {
                let r = Refusal::internal(format!("the stored bundle {}: {e}", b.path));
                return refuse(&cds, &mut sock, r.code, r.reason).await;
            }
        };
        let Ok(delivery) = Delivery::new(&cdsk, &nonce, &head, &cds.rng).to_frame() else { return };
        if sock.write_all(&delivery).await.is_err() {
            return;
        }
        if tokio::io::copy(&mut (&mut file).take(b.size), &mut sock).await.is_err() {
            return;
        }
        // The recipient opens it (which may take a while, but not for ever), then says how it went.
        let done = match read_frame_within(&mut sock, allowance(b.size, ACK_RATE, ACK_GRACE)).await {
            Ok(Some(f)) => f,
            _ => return,
        };
        let Ok(ack) = Collected::from_frame(&done) else {
            return refuse(&cds, &mut sock, RefusalCode::Malformed, "expected collected".into()).await;
        };
        if ack.sender != name {
            return refuse(&cds, &mut sock, RefusalCode::BadRequest, "collected by another participant".into()).await;
        }
        let Some(ack_body) = ack.open(&cdsk, &conn.challenge) else {
            return refuse(&cds, &mut sock, RefusalCode::BadSignature, "collected does not verify".into()).await;
        };
        let collected = match CollectedBody::decode(&ack_body) {
            Ok(c) => c,
            Err(e) => {
                return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed collected body: {e}")).await
            }
        };
        if collected.nonce != nonce || collected.item != id as u64 {
            return refuse(&cds, &mut sock, RefusalCode::BadRequest, "collected names another collect or item".into())
                .await;
        }
        let state = match collected.outcome {
            Outcome::Opened => Some(DeliveryState::Delivered),
            Outcome::Refused => Some(DeliveryState::Refused),
            Outcome::Keep => None, // kept for a later collection; this one moves past it
        };
        match state {
            None => {
                kept.insert(id);
            }
            Some(state) => {
                let (c, n) = (cds.clone(), name.clone());
                let done = blocking(move || {
                    c.registrar.store.bundle_done(&n, id, state, c.clock.now()).map_err(Refusal::internal)
                })
                .await;
                if let Ok(Some(path)) = done {
                    let _ = tokio::fs::remove_file(path).await;
                }
            }
        }
        // The next collect on the same connection, or the end.
        frame = match read_frame_within(&mut sock, Duration::from_secs(30)).await {
            Ok(Some(f)) if f.msg_type == TYPE_COLLECT => f,
            _ => return,
        };
    }
}

/// A sender asks what became of its deposited bundles.
pub async fn status(mut sock: TcpStream, frame: crate::wire::Frame, conn: ConnInfo, cds: Arc<Cds>) {
    let msg = match Status::from_frame(&frame) {
        Ok(m) => m,
        Err(e) => {
            return refuse(&cds, &mut sock, RefusalCode::Malformed, format!("malformed status request: {e}")).await
        }
    };
    let name = msg.sender.clone();
    let (cdsk, body) = match authenticate(&cds, &name, move |k| msg.open(k, &conn.challenge)).await {
        Ok(x) => x,
        Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
    };
    let Ok(StatusBody { nonce, ids }) = StatusBody::decode(&body) else {
        return refuse(&cds, &mut sock, RefusalCode::Malformed, "malformed status body".into()).await;
    };
    let c = cds.clone();
    let ids2 = ids.clone();
    let states =
        match blocking(move || c.registrar.store.delivery_states(&name, &ids2).map_err(Refusal::internal)).await {
            Ok(s) => s,
            Err(r) => return refuse(&cds, &mut sock, r.code, r.reason).await,
        };
    let entries = ids.iter().zip(states).map(|(id, (state, time))| (*id, state, time)).collect();
    let Ok(out) = (StatusOkBody { entries }).encode() else { return };
    if let Ok(f) = StatusOk::new(&cdsk, &nonce, &out, &cds.rng).to_frame() {
        let _ = sock.write_all(&f).await;
    }
}
