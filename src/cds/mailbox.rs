//! Store-and-forward (seed 004: "cache communications at the telephony server, and forward them
//! later"): a sender whose recipient is not listening deposits the bundle; the CDS keeps it in a
//! file under its mailbox directory (per-recipient quota, expiry) and hands it over when the
//! recipient collects; the sender asks what became of it. The CDS only ever holds sealed bundles.

use super::registrar::Refusal;
use super::relay::{authenticate, refuse, skew};
use super::serve::{blocking, read_frame_within, Cds};
use super::store::StoredBundle;
use crate::relay::msgs::*;
use crate::wire::{put_str8, Msg, Reader, RefusalCode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where bundles wait and for how long.
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    /// Directory for the bundles' bytes (created 0700). None: store-and-forward is off.
    pub dir: Option<PathBuf>,
    /// Bytes that may wait for one recipient.
    pub quota: u64,
    /// Seconds a bundle waits before it is dropped.
    pub ttl: u64,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig { dir: None, quota: 1 << 30, ttl: 7 * 86400 }
    }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(RefusalCode::Internal, e.to_string())
}

/// A deposit body: recipient, nonce, timestamp, size, bundle id.
type DepositBody = (String, [u8; 16], u64, u64, [u8; 8]);

fn parse_deposit(b: &[u8]) -> Option<DepositBody> {
    let mut r = Reader::new(b);
    let v = (
        r.str8("recipient").ok()?.to_owned(),
        r.take_array("nonce").ok()?,
        r.u64("timestamp").ok()?,
        r.u64("size").ok()?,
        r.take_array("bundle id").ok()?,
    );
    r.finish().ok()?;
    Some(v)
}

pub fn deposit_body(recipient: &str, nonce: &[u8; 16], ts: u64, size: u64, bundle_id: &[u8; 8]) -> Vec<u8> {
    let mut b = Vec::new();
    put_str8(&mut b, recipient);
    b.extend_from_slice(nonce);
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(bundle_id);
    b
}

/// A sender deposits a bundle for a recipient.
pub async fn deposit(mut sock: TcpStream, frame: crate::wire::Frame, cds: Arc<Cds>) {
    let msg = match Deposit::from_frame(&frame) {
        Ok(m) => m,
        Err(e) => return refuse(&mut sock, RefusalCode::Malformed, format!("malformed deposit: {e}")).await,
    };
    let sender = msg.sender.clone();
    let (cdsk, body) = match authenticate(&cds, &sender, move |k| msg.open(k)).await {
        Ok(x) => x,
        Err(r) => return refuse(&mut sock, r.code, r.reason).await,
    };
    let Some((recipient, nonce, ts, size, bundle_id)) = parse_deposit(&body) else {
        return refuse(&mut sock, RefusalCode::Malformed, "malformed deposit body".into()).await;
    };
    let cfg = cds.relay.mailbox.clone();
    let checked = async {
        skew(ts)?;
        let dir = cfg.dir.clone().ok_or_else(|| {
            Refusal::new(RefusalCode::BadRequest, "this CDS keeps no mailbox (store-and-forward is off)")
        })?;
        let (c, r) = (cds.clone(), recipient.clone());
        let (known, used) = blocking(move || {
            let known = c.registrar.store.participant_cdsk(&r).map_err(internal)?.is_some();
            Ok((known, c.registrar.store.bundles_size(&r).map_err(internal)?))
        })
        .await?;
        if !known {
            return Err(Refusal::new(RefusalCode::NotFound, format!("no participant named {recipient:?} at this CDS")));
        }
        if used + size > cfg.quota {
            return Err(Refusal::new(
                RefusalCode::BadRequest,
                format!("{recipient:?}'s mailbox is full: {used} of {} bytes wait, this bundle is {size}", cfg.quota),
            ));
        }
        Ok(dir)
    }
    .await;
    let dir = match checked {
        Ok(d) => d,
        Err(r) => return refuse(&mut sock, r.code, r.reason).await,
    };
    // The bytes go to a temp file, renamed once all of them arrived.
    let stored = async {
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = tempfile::Builder::new().prefix(".incoming-").tempfile_in(&dir)?;
        let (file, path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut left = size;
        let mut buf = vec![0u8; 256 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = tokio::time::timeout(Duration::from_secs(60), sock.read(&mut buf[..want]))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the sender stopped sending"))??;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the bundle was cut off"));
            }
            file.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        file.sync_all().await?;
        let name: String = bundle_id.iter().map(|b| format!("{b:02x}")).collect();
        let fin = dir.join(format!("{name}-{}.bundle", hex_nonce(&nonce)));
        path.persist(&fin).map_err(|e| e.error)?;
        Ok::<_, std::io::Error>(fin)
    }
    .await;
    let path = match stored {
        Ok(p) => p,
        Err(e) => return refuse(&mut sock, RefusalCode::Internal, format!("the bundle was not stored: {e}")).await,
    };
    let now = crate::cli::now_unix();
    let b = StoredBundle {
        recipient,
        sender,
        bundle_id,
        size,
        path: path.display().to_string(),
        created: now,
        expires: now + cfg.ttl,
    };
    let expires = b.expires;
    let c = cds.clone();
    if let Err(r) = blocking(move || c.registrar.store.bundle_put(&b).map_err(internal)).await {
        let _ = std::fs::remove_file(&path);
        return refuse(&mut sock, r.code, r.reason).await;
    }
    let _ = sock.write_all(&DepositOk::new(&cdsk, &nonce, &expires.to_be_bytes(), &cds.rng).to_frame()).await;
}

fn hex_nonce(n: &[u8; 16]) -> String {
    n[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A recipient collects what waits for it, one bundle at a time, each acknowledged.
pub async fn collect(mut sock: TcpStream, frame: crate::wire::Frame, cds: Arc<Cds>) {
    let mut frame = frame;
    loop {
        let msg = match Collect::from_frame(&frame) {
            Ok(m) => m,
            Err(e) => return refuse(&mut sock, RefusalCode::Malformed, format!("malformed collect: {e}")).await,
        };
        let name = msg.sender.clone();
        let (cdsk, body) = match authenticate(&cds, &name, move |k| msg.open(k)).await {
            Ok(x) => x,
            Err(r) => return refuse(&mut sock, r.code, r.reason).await,
        };
        let Some((nonce, ts)) = parse_nonce_time(&body) else {
            return refuse(&mut sock, RefusalCode::Malformed, "malformed collect body".into()).await;
        };
        if let Err(r) = skew(ts) {
            return refuse(&mut sock, r.code, r.reason).await;
        }
        let (c, n) = (cds.clone(), name.clone());
        let next = blocking(move || c.registrar.store.bundle_next(&n, crate::cli::now_unix()).map_err(internal)).await;
        let (item, gone) = match next {
            Ok(x) => x,
            Err(r) => return refuse(&mut sock, r.code, r.reason).await,
        };
        for p in gone {
            let _ = tokio::fs::remove_file(p).await;
        }
        let Some((id, b)) = item else {
            let _ = sock.write_all(&Delivery::new(&cdsk, &nonce, &[0], &cds.rng).to_frame()).await;
            return;
        };
        let mut head = vec![1u8];
        head.extend_from_slice(&id.to_be_bytes());
        put_str8(&mut head, &b.sender);
        head.extend_from_slice(&b.size.to_be_bytes());
        head.extend_from_slice(&b.bundle_id);
        let Ok(mut file) = tokio::fs::File::open(&b.path).await else {
            return refuse(&mut sock, RefusalCode::Internal, "a stored bundle is missing".into()).await;
        };
        if sock.write_all(&Delivery::new(&cdsk, &nonce, &head, &cds.rng).to_frame()).await.is_err() {
            return;
        }
        if tokio::io::copy(&mut (&mut file).take(b.size), &mut sock).await.is_err() {
            return;
        }
        // The recipient opens it (which may take a while), then says how it went.
        let done = match read_frame_within(&mut sock, Duration::from_secs(6 * 3600)).await {
            Ok(Some(f)) => f,
            _ => return,
        };
        let Ok(ack) = Collected::from_frame(&done) else { return };
        let Some(ack_body) = ack.open(&cdsk) else { return };
        let mut r = Reader::new(&ack_body);
        let parsed = (|| Some((r.take_array::<16>("nonce").ok()?, r.u64("item").ok()?, r.u8("outcome").ok()?)))();
        let Some((n2, item_id, outcome)) = parsed else { return };
        if n2 != nonce || item_id != id as u64 {
            return;
        }
        let state = match outcome {
            1 => 2,
            0 => 3,
            _ => return, // kept for a later collect
        };
        let (c, n) = (cds.clone(), name.clone());
        if let Ok(Some(path)) =
            blocking(move || c.registrar.store.bundle_done(&n, id, state, crate::cli::now_unix()).map_err(internal))
                .await
        {
            let _ = tokio::fs::remove_file(path).await;
        }
        // The next collect on the same connection, or the end.
        frame = match read_frame_within(&mut sock, Duration::from_secs(30)).await {
            Ok(Some(f)) if f.msg_type == TYPE_COLLECT => f,
            _ => return,
        };
    }
}

/// A sender asks what became of its deposited bundles.
pub async fn status(mut sock: TcpStream, frame: crate::wire::Frame, cds: Arc<Cds>) {
    let msg = match Status::from_frame(&frame) {
        Ok(m) => m,
        Err(e) => return refuse(&mut sock, RefusalCode::Malformed, format!("malformed status request: {e}")).await,
    };
    let name = msg.sender.clone();
    let (cdsk, body) = match authenticate(&cds, &name, move |k| msg.open(k)).await {
        Ok(x) => x,
        Err(r) => return refuse(&mut sock, r.code, r.reason).await,
    };
    let mut r = Reader::new(&body);
    let parsed = (|| {
        let nonce: [u8; 16] = r.take_array("nonce").ok()?;
        let _ts = r.u64("timestamp").ok()?;
        let n = r.u16("count").ok()? as usize;
        let ids = (0..n).map(|_| r.take_array::<8>("bundle id").ok()).collect::<Option<Vec<_>>>()?;
        r.finish().ok()?;
        Some((nonce, ids))
    })();
    let Some((nonce, ids)) = parsed else {
        return refuse(&mut sock, RefusalCode::Malformed, "malformed status body".into()).await;
    };
    let c = cds.clone();
    let ids2 = ids.clone();
    let states = match blocking(move || c.registrar.store.delivery_states(&name, &ids2).map_err(internal)).await {
        Ok(s) => s,
        Err(r) => return refuse(&mut sock, r.code, r.reason).await,
    };
    let mut out = (ids.len() as u16).to_be_bytes().to_vec();
    for (id, (state, time)) in ids.iter().zip(states) {
        out.extend_from_slice(id);
        out.push(state);
        out.extend_from_slice(&time.to_be_bytes());
    }
    let _ = sock.write_all(&StatusOk::new(&cdsk, &nonce, &out, &cds.rng).to_frame()).await;
}
