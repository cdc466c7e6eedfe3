//! The data exchange (seed 004 Fig. 7), live and offline.
//!
//! Live, over a session from the dial/listen machinery (AH-CDS ticket, seed-002 handshake,
//! through the CDS relay): A1 → B → A2 → ACK ride in session records, so the relay and anyone
//! on the wire see neither the accounts nor the challenges; the bundle follows on the same
//! connection as its own frames (it is sealed under SKey, which only the two paired sides can
//! recover, so it needs no second layer); the recipient ends with a receipt in the session.
//!
//! Offline (a file, a pipe, the CDS mailbox): A1 ‖ A2 ‖ bundle, with Challenge B all zeros;
//! the recipient refuses a Challenge A it has opened before.

use super::bundle::{self, BundleReader, BundleWriter};
use super::error::CourierError;
use super::log::{bundle_id, CourierLog, Direction, Entry, Outcome, Via};
use super::msgs::*;
use super::payload::{Compression, PayloadReader, PayloadWriter};
use super::proofs::{direction_key, Challenges, ProofKey, Resume, OFFLINE_CHALLENGE_B};
use super::resume::{self, Partial, Resumed, SkipFirst};
use super::tree::{self, Destination, Plan, Unpacked};
use crate::crypto::{self, Secret};
use crate::keys::load_pair_key;
use crate::keys::Home;
use crate::session::io::FrameReader;
use crate::wire::{Frame, Msg, RefusalCode};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use std::io::{Read, Write};
use std::path::Path;

pub use super::channel::Channel;

/// What to send.
pub struct SendSpec<'a> {
    pub me: &'a str,
    pub peer: &'a str,
    pub ltk: &'a Secret<32>,
    pub suite: BundleSuite,
    pub compression: Compression,
    pub plan: &'a Plan,
}

/// What a send did.
#[derive(Debug, Clone)]
pub struct Sent {
    pub bundle: String,
    pub files: u64,
    pub bytes: u64,
    /// Payload bytes (packed and compressed) and bytes written (records and trailer).
    pub payload: u64,
    pub wire: u64,
    pub suite: BundleSuite,
    /// The recipient's receipt (live transfers).
    pub receipt: Option<Receipt>,
    /// Bytes of the tar stream the recipient held from a cut transfer, not sent again.
    pub resumed_from: u64,
}

/// What a receive did.
#[derive(Debug, Clone)]
pub struct Got {
    pub peer: String,
    pub bundle: String,
    pub suite: BundleSuite,
    pub unpacked: Unpacked,
    /// Bytes of the tar stream held from a cut transfer (not carried by this bundle).
    pub resumed_from: u64,
}

/// Transfer Packet A1 of a send.
fn a1_for(spec: &SendSpec<'_>, mode: Mode, challenge_a: [u8; 32]) -> TransferA1 {
    TransferA1 {
        low_version: COURIER_VERSION,
        high_version: COURIER_VERSION,
        mode,
        suite: spec.suite,
        account: spec.me.to_owned(),
        recipient: spec.peer.to_owned(),
        challenge_a,
    }
}

/// Transfer Packet A2 of a send: the proofs, and SKey offset for the peer.
fn a2_for(spec: &SendSpec<'_>, kd: &Secret<32>, chs: &Challenges, skey: &Secret<32>, resume_from: u64) -> TransferA2 {
    TransferA2 {
        account_b: spec.peer.to_owned(),
        proof_a: chs.proof_a(kd),
        delta_key: chs.delta_key(kd, skey.expose()),
        key_proof: chs.key_proof(skey),
        size_hint: size_hint(spec.plan),
        resume_from,
    }
}

/// Where this send starts, given what the recipient offered in transfer packet B: after the
/// bytes it holds when this plan's tar stream starts with exactly them (a tar stream from
/// stdin cannot be read twice: it starts over).
fn resume_point(spec: &SendSpec<'_>, b: &TransferB) -> Resume {
    if spec.plan.tar_from_stdin || b.held == 0 {
        return Resume::WHOLE;
    }
    let same = resume::matches_offer(b.held, &b.held_hash, |w| tree::pack(spec.plan, w, &mut |_| {}).map(drop));
    if same {
        Resume { from: b.held, prefix_hash: b.held_hash }
    } else {
        Resume::WHOLE
    }
}

/// Rough size of the tar stream for a plan (progress bars only).
fn size_hint(plan: &Plan) -> u64 {
    plan.bytes + 1024 * (plan.files + plan.names.len() as u64 + 2)
}

/// Packs, compresses, hashes, seals and writes the bundle's records in one pass (the tar
/// stream from `from` on); returns the output, what the records came to and what was packed.
pub(super) fn write_records<W: Write>(
    out: W,
    spec: &SendSpec<'_>,
    skey: &Secret<32>,
    from: Resume,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, bundle::Sealed, tree::Packed)> {
    let bw = BundleWriter::new(out, spec.suite, skey);
    let pw = SkipFirst::new(PayloadWriter::new(bw, spec.compression)?, from.from, from.prefix_hash);
    let (pw, packed) = tree::pack(spec.plan, pw, progress).map_err(|e| io_to_error(e, "packing"))?;
    if from.from > 0 && !pw.dropped_as_offered() {
        // The stream got shorter than what the recipient kept: no trailer, nothing placed.
        return Err(CourierError::ChangedWhileSent.into());
    }
    let (bw, _, _) = pw.inner.finish().map_err(|e| io_to_error(e, "packing"))?;
    let (w, sealed) = bw.finish()?;
    Ok((w, sealed, packed))
}

/// [`write_records`] and the trailer for `key`; returns the output, the payload length, the
/// bytes written and what was packed.
fn write_bundle<W: Write>(
    out: W,
    spec: &SendSpec<'_>,
    skey: Secret<32>,
    key: &ProofKey,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, u64, u64, tree::Packed)> {
    let (mut w, sealed, packed) = write_records(out, spec, &skey, key.resume, progress)?;
    let trailer = sealed.trailer(key)?;
    w.write_all(&trailer).and_then(|_| w.flush()).map_err(|e| Error::io("writing the bundle", e))?;
    Ok((w, sealed.payload_len, sealed.written + trailer.len() as u64, packed))
}

/// An I/O error that carries one of ours (from a writer or reader in the chain) becomes it.
fn io_to_error(e: std::io::Error, what: &str) -> Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        Some(_) => *e.into_inner().expect("checked").downcast::<Error>().expect("checked"),
        None => Error::io(what, e),
    }
}

/// Counts bytes read for a progress callback.
struct Counting<'a, R: Read> {
    inner: R,
    done: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.done;
        self.done += n as u64;
        if self.done >> 20 != before >> 20 {
            (self.progress)(self.done);
        }
        Ok(n)
    }
}

/// Reads and checks a bundle, unpacking into `tmp` (a temp dir inside `dest`) after the bytes
/// `partial` holds from a cut transfer, if the bundle resumes one; the caller places the
/// result once its own checks hold.
#[allow(clippy::too_many_arguments)]
fn read_bundle<R: Read>(
    frames: &mut FrameReader<R>,
    suite: BundleSuite,
    skey: Secret<32>,
    key: ProofKey,
    dest: &Destination,
    tmp: &tree::ReceiveDir,
    partial: &mut Partial,
    progress: &mut dyn FnMut(u64),
) -> Result<Unpacked> {
    let mut br = BundleReader::new(frames, suite, skey, key);
    let unpacked = {
        let pr = PayloadReader::new(&mut br)?;
        let resumed = Resumed::new(partial, pr)?;
        let mut archive = tar::Archive::new(Counting { inner: resumed, done: 0, progress });
        let r = tree::unpack(&mut archive, tmp.path(), dest);
        let mut counting = archive.into_inner();
        counting.inner.archive_ended();
        let drained = r.and_then(|u| {
            std::io::copy(&mut counting.inner, &mut std::io::sink())
                .map_err(|e| io_to_error(e, "reading the bundle"))?;
            Ok(u)
        });
        // The deepest failure says what was wrong: a record (the bundle), then the payload.
        let u = drained.map_err(|e| {
            let rest = &mut counting.inner.rest;
            let bundle = rest.get_mut().take_failure();
            bundle.or_else(|| rest.take_failure()).unwrap_or(e)
        })?;
        if !counting.inner.prefix_intact() {
            return Err(Error::Other(
                "the bytes kept from the cut transfer changed while they were unpacked: nothing was placed; send again"
                    .into(),
            ));
        }
        u
    };
    br.finish()?;
    Ok(unpacked)
}

fn log_entry(direction: Direction, peer: &str, bundle: &str, suite: BundleSuite, via: Via) -> Entry {
    Entry {
        id: 0,
        direction,
        time: crate::clock::now_unix(),
        peer: peer.to_owned(),
        bundle: bundle.to_owned(),
        names: Vec::new(),
        files: 0,
        bytes: 0,
        suite: suite.family().to_owned(),
        via,
        result: Outcome::Failed,
        detail: String::new(),
    }
}

/// What an interrupted send's line says until the send ends.
const INTERRUPTED: &str = "the send did not end: its process was stopped (Ctrl-C, a signal, a crash)";

/// Logs a send as it starts, as interrupted: the line says so if the process never gets to
/// [`log_send_end`] (Ctrl-C, kill -9). None when the log cannot be written (the send goes on).
pub(super) fn log_send_start(home: &Home, spec: &SendSpec<'_>, bundle: &str, via: Via) -> Option<i64> {
    let mut e = log_entry(Direction::Sent, spec.peer, bundle, spec.suite, via);
    e.names = spec.plan.names.clone();
    e.files = spec.plan.files;
    e.bytes = spec.plan.bytes;
    e.result = Outcome::Interrupted;
    e.detail = INTERRUPTED.to_owned();
    CourierLog::open(home).ok()?.add(&e).ok()
}

/// A send's outcome on its line (failures too: the seed's housekeeping on every hang-up).
pub(super) fn log_send_end(home: &Home, id: Option<i64>, r: &Result<Sent>, ok_result: Outcome) {
    let (Some(id), Ok(log)) = (id, CourierLog::open(home)) else { return };
    let _ = match r {
        Ok(s) if s.resumed_from > 0 => {
            log.set_result(id, ok_result, &format!("resumed after {} bytes the recipient kept", s.resumed_from))
        }
        Ok(_) => log.set_result(id, ok_result, ""),
        Err(err) => log.set_result(id, Outcome::Failed, &err.to_string()),
    };
}

/// A send's line: failed with `e`.
pub(super) fn log_send_failed(home: &Home, id: Option<i64>, e: &Error) {
    log_send_set(home, id, Outcome::Failed, &e.to_string());
}

/// A send's line: its outcome and detail.
pub(super) fn log_send_set(home: &Home, id: Option<i64>, outcome: Outcome, detail: &str) {
    if let (Some(id), Ok(log)) = (id, CourierLog::open(home)) {
        let _ = log.set_result(id, outcome, detail);
    }
}

/// A send's line dropped: another delivery (the mailbox) has a line of its own.
pub(super) fn log_send_removed(home: &Home, id: Option<i64>) {
    if let (Some(id), Ok(log)) = (id, CourierLog::open(home)) {
        let _ = log.remove(id);
    }
}

/// Transfer packet A1 of a send, encoded.
pub(super) fn a1_frame(spec: &SendSpec<'_>, mode: Mode, challenge_a: [u8; 32]) -> Result<Vec<u8>> {
    Ok(a1_for(spec, mode, challenge_a).to_frame()?)
}

/// Transfer packet A2 of an offline bundle, encoded.
pub(super) fn a2_frame(spec: &SendSpec<'_>, kd: &Secret<32>, chs: &Challenges, skey: &Secret<32>) -> Result<Vec<u8>> {
    Ok(a2_for(spec, kd, chs, skey, 0).to_frame()?)
}

fn log_receive(home: &Home, peer: &str, bundle: &str, suite: BundleSuite, via: Via, r: &Result<Got>) {
    let mut e = log_entry(Direction::Received, peer, bundle, suite, via);
    match r {
        Ok(g) => {
            let u = &g.unpacked;
            e.names = u.names.clone();
            e.files = u.files;
            e.bytes = u.bytes;
            e.result = Outcome::Ok;
            let renamed = u.renamed.iter().map(|(a, b)| format!("{a} placed as {b}"));
            let replaced = u.replaced.iter().map(|n| format!("{n} replaced"));
            let skipped = u.skipped.iter().map(|n| format!("{n} skipped (it exists)"));
            let resumed = (g.resumed_from > 0).then(|| format!("resumed after {} bytes kept", g.resumed_from));
            e.detail = resumed.into_iter().chain(renamed).chain(replaced).chain(skipped).collect::<Vec<_>>().join("; ");
        }
        Err(err) => {
            e.result = Outcome::Failed;
            e.detail = err.to_string();
        }
    }
    if let Ok(log) = CourierLog::open(home) {
        let _ = log.add(&e);
    }
}

/// Sends over a live session (the sender's side of Fig. 7); logs the outcome.
pub fn send_live(
    home: &Home,
    ch: Channel,
    spec: &SendSpec<'_>,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<Sent> {
    send_live_or(home, ch, spec, Via::Relay, rng, progress, &|_| false)
}

/// [`send_live`], but a failure `goes_elsewhere` says another delivery takes over (the
/// mailbox) is not logged: that delivery's line is the send's.
pub(super) fn send_live_or(
    home: &Home,
    mut ch: Channel,
    spec: &SendSpec<'_>,
    via: Via,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
    goes_elsewhere: &dyn Fn(&Error) -> bool,
) -> Result<Sent> {
    let challenge_a: [u8; 32] = crypto::random_array(rng);
    let line = log_send_start(home, spec, &bundle_id(&challenge_a), via);
    let r = send_live_inner(&mut ch, spec, challenge_a, rng, progress);
    match (&r, line) {
        (Err(e), Some(_)) if goes_elsewhere(e) => log_send_removed(home, line),
        _ => log_send_end(home, line, &r, Outcome::Ok),
    }
    r
}

/// The sender's side of a live exchange up to the bundle: A1 → B → A2 → ACK, with `skey` as
/// the bundle key. `resume`: whether to take up a cut transfer the recipient offers (one
/// recipient only: a bundle for several starts at the beginning for all).
pub(super) fn handshake_live(
    ch: &mut Channel,
    spec: &SendSpec<'_>,
    challenge_a: [u8; 32],
    skey: &Secret<32>,
    resume: bool,
) -> Result<ProofKey> {
    let a1 = a1_for(spec, Mode::Online, challenge_a).to_frame()?;
    ch.send(&a1, false)?;
    let kd = direction_key(spec.ltk, spec.me, spec.peer)?;
    let b = TransferB::from_frame(&ch.recv("transfer packet B")?)?;
    if b.version != COURIER_VERSION {
        ch.refuse(RefusalCode::Incompatible, "unsupported courier version");
        return Err(Error::Wire(crate::wire::WireError::UnsupportedVersion(b.version)));
    }
    if b.account != spec.peer {
        ch.refuse(RefusalCode::BadRequest, "wrong account");
        return Err(
            CourierError::AnsweredAs { role: "recipient", said: b.account, expected: spec.peer.to_owned() }.into()
        );
    }
    let chs = Challenges::new(challenge_a, b.challenge_b, &a1);
    if !crypto::ct_eq(&b.proof_b, &chs.proof_b(&kd)) {
        ch.refuse(RefusalCode::BadSignature, "proof B does not verify");
        let why = format!("the two sides hold different pair keys (pair again with sslx pair {})", spec.peer);
        return Err(CourierError::ProofB { peer: spec.peer.to_owned(), why }.into());
    }
    let resume = if resume { resume_point(spec, &b) } else { Resume::WHOLE };
    ch.send(&a2_for(spec, &kd, &chs, skey, resume.from).to_frame()?, true)?;
    Ack::from_frame(&ch.recv("acknowledge")?)?;
    Ok(ProofKey { challenges: chs, kd, resume })
}

/// What the recipient's receipt (or the failure to get one) makes of a live send whose bundle
/// was written with `written`. If the recipient gave up half-way, its receipt (or refusal)
/// says why: it wins over the "broken pipe" the sender met.
pub(super) fn live_outcome<T>(ch: &mut Channel, peer: &str, written: Result<T>) -> Result<(T, Receipt)> {
    let _ = ch.conn.writer.shutdown(std::net::Shutdown::Write);
    let receipt = ch.recv("receipt").and_then(|f| Ok(Receipt::from_frame(&f)?));
    let refused = |r: Receipt| Error::PeerRefused { peer: peer.to_owned(), code: r.status, reason: r.reason };
    match (written, receipt) {
        // This side stopped on its own (a file changed under a resumed send): its reason, not
        // the recipient's "cut off".
        (Err(e @ Error::Courier(CourierError::ChangedWhileSent)), _) => Err(e),
        (_, Ok(r)) if r.status != 0 => Err(refused(r)),
        (_, Err(e @ Error::PeerRefused { .. })) => Err(e),
        (Err(Error::Io { io, .. }), _) if is_cut(&io) => Err(Error::Unavailable(format!(
            "the connection to {peer} was cut while sending ({io}): send again (from 1 MiB on, it resumes where it was cut)"
        ))),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(w), Ok(r)) => Ok((w, r)),
    }
}

fn send_live_inner(
    ch: &mut Channel,
    spec: &SendSpec<'_>,
    challenge_a: [u8; 32],
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<Sent> {
    let skey = Secret::<32>::random(rng);
    let key = handshake_live(ch, spec, challenge_a, &skey, true)?;
    let writer = ch.conn.writer.try_clone().map_err(|e| Error::io("cloning the socket", e))?;
    let written = write_bundle(writer, spec, skey, &key, progress);
    let ((_, payload, wire, packed), receipt) = live_outcome(ch, spec.peer, written)?;
    Ok(Sent {
        bundle: bundle_id(&challenge_a),
        files: packed.files,
        bytes: packed.bytes,
        payload,
        wire,
        suite: spec.suite,
        receipt: Some(receipt),
        resumed_from: key.resume.from,
    })
}

/// Receives over a live session (the recipient's side of Fig. 7) into `dest`; logs the outcome
/// with `via` (relay, or direct for a `recv --bind`).
pub fn recv_live(
    home: &Home,
    me: &str,
    mut ch: Channel,
    dest: &Destination,
    via: Via,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Got> {
    let f = ch.recv("transfer packet A1")?;
    if f.msg_type == TYPE_PAIR_A1 {
        let why = format!("{me} is receiving files, not pairing: run sslx pair --accept there to pair");
        ch.refuse(RefusalCode::BadRequest, &why);
        return Err(Error::Usage(format!("{} asked to pair; this is sslx recv", ch.peer())));
    }
    let a1 = match TransferA1::from_frame(&f) {
        Ok(a1) => a1,
        Err(e) => {
            ch.refuse(RefusalCode::Malformed, &e.to_string());
            return Err(e.into());
        }
    };
    let bundle = bundle_id(&a1.challenge_a);
    let peer = ch.peer().to_owned();
    let r = recv_live_inner(home, me, &mut ch, &a1, &f.to_bytes(), dest, rng, progress);
    match &r {
        Ok(g) => {
            let rc =
                Receipt { status: 0, files: g.unpacked.files as u32, bytes: g.unpacked.bytes, reason: String::new() };
            if let Ok(f) = rc.to_frame() {
                let _ = ch.send(&f, true);
            }
        }
        Err(e) if !ch.session.sender.finished() => {
            // A name that exists is the recipient's business: the sender learns which, not where.
            let reason = match e {
                Error::Exists { name, .. } => format!("{name} already exists where {me} receives files"),
                e => e.to_string(),
            };
            let rc = Receipt { status: e.refusal_code() as u16, files: 0, bytes: 0, reason };
            if let Ok(f) = rc.to_frame() {
                let _ = ch.send(&f, true);
            }
        }
        Err(_) => {}
    }
    log_receive(home, &peer, &bundle, a1.suite, via, &r);
    r
}

#[allow(clippy::too_many_arguments)]
fn recv_live_inner(
    home: &Home,
    me: &str,
    ch: &mut Channel,
    a1: &TransferA1,
    a1_frame: &[u8],
    dest: &Destination,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Got> {
    let peer = ch.peer().to_owned();
    let refuse = |ch: &mut Channel, code: RefusalCode, why: String| {
        ch.refuse(code, &why);
        why
    };
    if !(a1.low_version..=a1.high_version).contains(&COURIER_VERSION) {
        ch.refuse(RefusalCode::Incompatible, "no courier version in common");
        return Err(Error::Wire(crate::wire::WireError::UnsupportedVersion(a1.high_version)));
    }
    if a1.account != peer || a1.recipient != me || a1.mode != Mode::Online {
        let e =
            CourierError::WrongParties { from: a1.account.clone(), to: a1.recipient.clone(), peer, me: me.to_owned() };
        ch.refuse(RefusalCode::BadRequest, &e.to_string());
        return Err(e.into());
    }
    let Some(ltk) = load_pair_key(home, &peer)? else {
        let why = refuse(ch, RefusalCode::NotFound, format!("{me} is not paired with {peer}: run sslx pair first"));
        return Err(Error::NotFound(why));
    };
    let kd = direction_key(&ltk, &peer, me)?;
    let challenge_b: [u8; 32] = crypto::random_array(rng);
    let chs = Challenges::new(a1.challenge_a, challenge_b, a1_frame);
    // The temp dir, and what is kept of a cut transfer from this sender (offered in B).
    let tmp = tree::ReceiveDir::new(&dest.dir)?;
    let mut partial = Partial::claim(&dest.dir, &peer, tmp.path());
    let r = (|| {
        let (held, held_hash) = partial.offer();
        let b = TransferB {
            version: COURIER_VERSION,
            account: me.to_owned(),
            challenge_b,
            proof_b: chs.proof_b(&kd),
            held,
            held_hash,
        };
        ch.send(&b.to_frame()?, false)?;
        let a2 = TransferA2::from_frame(&ch.recv("transfer packet A2")?)?;
        if a2.account_b != me {
            let e = CourierError::NotForThisHome { said: a2.account_b, me: me.to_owned() };
            ch.refuse(RefusalCode::BadRequest, &e.to_string());
            return Err(e.into());
        }
        let skey = match chs.open_a2(&kd, &a2.proof_a, &a2.delta_key, &a2.key_proof) {
            Ok(k) => k,
            Err(e) => {
                ch.refuse(RefusalCode::BadSignature, &e.to_string());
                return Err(e);
            }
        };
        // A point not offered is a malformed A2 (reported in the receipt, status 1).
        let resume = partial.start(a2.resume_from, a2.size_hint)?;
        ch.send(&Ack.to_frame()?, false)?;
        let hint = a2.size_hint;
        let key = ProofKey { challenges: chs, kd, resume };
        let mut unpacked = read_bundle(&mut ch.conn.reader, a1.suite, skey, key, dest, &tmp, &mut partial, &mut |n| {
            progress(n, hint)
        })?;
        tree::place(tmp.path(), dest, &mut unpacked)?;
        Ok(Got {
            peer: peer.clone(),
            bundle: bundle_id(&a1.challenge_a),
            suite: a1.suite,
            unpacked,
            resumed_from: resume.from,
        })
    })();
    // What came out of verified records stays for the next transfer from this sender when this
    // one was cut; after anything else (a failure to verify, a full disk) it goes.
    if let Err(e) = &r {
        // A name that exists stops a transfer at its first entry: worth keeping only what an
        // earlier cut left (a resumed transfer).
        if worth_keeping(e) || (matches!(e, Error::Exists { .. }) && partial.resumed()) {
            partial.keep();
        }
    }
    drop(partial);
    r
}

/// Writes an offline bundle for `spec.peer` to `out` (a file, a pipe, the mailbox); logs it
/// with `via` and `ok_result` (ok for a file, queued for the mailbox).
pub fn send_offline<W: Write>(
    home: &Home,
    out: W,
    spec: &SendSpec<'_>,
    via: Via,
    ok_result: Outcome,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, Sent)> {
    let challenge_a: [u8; 32] = crypto::random_array(rng);
    let bundle = bundle_id(&challenge_a);
    let line = log_send_start(home, spec, &bundle, via);
    let mut w = None;
    let r = (|| {
        let mut out = out;
        let a1 = a1_for(spec, Mode::Offline, challenge_a).to_frame()?;
        let kd = direction_key(spec.ltk, spec.me, spec.peer)?;
        let chs = Challenges::new(challenge_a, OFFLINE_CHALLENGE_B, &a1);
        let skey = Secret::<32>::random(rng);
        let head = [a1, a2_for(spec, &kd, &chs, &skey, 0).to_frame()?].concat();
        out.write_all(&head).map_err(|e| Error::io("writing the bundle", e))?;
        let key = ProofKey { challenges: chs, kd, resume: Resume::WHOLE };
        let (out, payload, wire, packed) = write_bundle(out, spec, skey, &key, progress)?;
        w = Some(out);
        Ok(Sent {
            bundle: bundle.clone(),
            files: packed.files,
            bytes: packed.bytes,
            payload,
            wire: wire + head.len() as u64,
            suite: spec.suite,
            receipt: None,
            resumed_from: 0,
        })
    })();
    log_send_end(home, line, &r, ok_result);
    r.map(|s| (w.expect("set on success"), s))
}

/// Writes the offline bundle to `path` (armored: base64 between marker lines, `armor`): a
/// device or FIFO (`/dev/null`, a named pipe) is written in place; a file goes to a temp file
/// beside it, synced, then renamed over `path`, so a failed send never leaves half a bundle there.
pub fn send_to_path(
    home: &Home,
    path: &Path,
    spec: &SendSpec<'_>,
    armor: bool,
    rng: &dyn SecureRandom,
    progress: &mut dyn FnMut(u64),
) -> Result<Sent> {
    const BUF: usize = 256 * 1024;
    let write = |out: std::io::BufWriter<std::fs::File>, progress: &mut dyn FnMut(u64)| -> Result<_> {
        let armor_err = |e| Error::io("writing the armored bundle", e);
        if armor {
            let w = super::armor::ArmorWriter::new(out);
            let (w, sent) = send_offline(home, w, spec, Via::File, Outcome::Ok, rng, progress)?;
            Ok((w.finish().map_err(armor_err)?, sent))
        } else {
            send_offline(home, out, spec, Via::File, Outcome::Ok, rng, progress)
        }
    };
    if let Some(f) = crate::keys::open_special(path)? {
        let (out, sent) = write(std::io::BufWriter::with_capacity(BUF, f), progress)?;
        out.into_inner().map_err(|e| Error::io("writing the bundle", e.into_error()))?;
        return Ok(sent);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".sslx-bundle-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temp file beside {}", path.display()), e))?;
    let (f, tmp_path) = tmp.into_parts();
    let (out, sent) = write(std::io::BufWriter::with_capacity(BUF, f), progress)?;
    let f = out.into_inner().map_err(|e| Error::io("writing the bundle", e.into_error()))?;
    f.sync_all().map_err(|e| Error::io("syncing the bundle", e))?;
    tmp_path.persist(path).map_err(|e| Error::io(format!("renaming the bundle into {}", path.display()), e.error))?;
    Ok(sent)
}

/// Opens an offline bundle from `input` into `dest`; logs it with `via`. `depositor`: the
/// participant the CDS authenticated as the bundle's sender (from the mailbox), which must be
/// the account the bundle says it is from.
pub fn recv_offline<R: Read>(
    home: &Home,
    me: &str,
    input: R,
    dest: &Destination,
    via: Via,
    depositor: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Got> {
    // What it starts with says whether it is a bundle at all, before its bytes are read as frames.
    let mut input = std::io::BufReader::with_capacity(256 * 1024, input);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(|e| Error::io("reading the bundle", e))?;
    if let Some(&first) = head.first() {
        if first != TYPE_TRANSFER_A1 {
            let text = head.iter().take(256).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
            return Err(if text { CourierError::TextNotABundle } else { CourierError::NotABundle(first) }.into());
        }
    }
    let mut frames = FrameReader::new(input);
    let f = match frames.next_record()? {
        None => return Err(Error::Usage("the input is empty: no sslx bundle in it".into())),
        Some((h, body)) => Frame { msg_type: h.msg_type, version: h.version, body: body.to_vec() },
    };
    if f.msg_type != TYPE_TRANSFER_A1 {
        return Err(CourierError::NotABundle(f.msg_type).into());
    }
    let a1 = TransferA1::from_frame(&f)?;
    let bundle = bundle_id(&a1.challenge_a);
    if let Some(d) = depositor.filter(|d| *d != a1.account) {
        let e = CourierError::NotFromDepositor { said: a1.account.clone(), depositor: d.to_owned() };
        log_receive(home, d, &bundle, a1.suite, via, &Err(e.clone().into()));
        return Err(e.into());
    }
    let r = recv_offline_inner(home, me, &a1, &f.to_bytes(), &mut frames, dest, progress);
    log_receive(home, &a1.account, &bundle, a1.suite, via, &r);
    r
}

fn recv_offline_inner<R: Read>(
    home: &Home,
    me: &str,
    a1: &TransferA1,
    a1_frame: &[u8],
    frames: &mut FrameReader<R>,
    dest: &Destination,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Got> {
    if !(a1.low_version..=a1.high_version).contains(&COURIER_VERSION) {
        return Err(Error::Wire(crate::wire::WireError::UnsupportedVersion(a1.high_version)));
    }
    if a1.mode != Mode::Offline {
        return Err(CourierError::RecordedLive.into());
    }
    if a1.recipient != me {
        return Err(Error::Usage(format!("this bundle is for {:?}; this home is {me:?}", a1.recipient)));
    }
    let ltk = load_pair_key(home, &a1.account)?
        .ok_or_else(|| Error::NotFound(format!("{me} is not paired with {}: run sslx pair first", a1.account)))?;
    let log = CourierLog::open(home)?;
    if log.was_opened(&a1.account, &a1.challenge_a)? {
        return Err(CourierError::Replayed { bundle: bundle_id(&a1.challenge_a), from: a1.account.clone() }.into());
    }
    let a2 = TransferA2::from_frame(&frames.next_frame("transfer packet A2")?)?;
    if a2.account_b != me {
        return Err(CourierError::NotForThisHome { said: a2.account_b, me: me.to_owned() }.into());
    }
    let kd = direction_key(&ltk, &a1.account, me)?;
    let chs = Challenges::new(a1.challenge_a, OFFLINE_CHALLENGE_B, a1_frame);
    let skey = chs.open_a2(&kd, &a2.proof_a, &a2.delta_key, &a2.key_proof)?;
    if a2.resume_from != 0 {
        return Err(Error::Wire(crate::wire::WireError::Invalid("an offline bundle cannot resume a transfer")));
    }
    let hint = a2.size_hint;
    let tmp = tree::ReceiveDir::new(&dest.dir)?;
    let mut none = Partial::claim_nothing(tmp.path());
    let key = ProofKey { challenges: chs, kd, resume: Resume::WHOLE };
    let mut unpacked = read_bundle(frames, a1.suite, skey, key, dest, &tmp, &mut none, &mut |n| progress(n, hint))?;
    if frames.next_record()?.is_some() {
        return Err(CourierError::AfterTrailer.into());
    }
    if !log.mark_opened(&a1.account, &a1.challenge_a, crate::clock::now_unix())? {
        return Err(CourierError::OpenedMeanwhile.into());
    }
    if let Err(e) = tree::place(tmp.path(), dest, &mut unpacked) {
        // Nothing was placed: the bundle may open again (it stays in the mailbox).
        log.unmark_opened(&a1.account, &a1.challenge_a)?;
        return Err(e);
    }
    Ok(Got { peer: a1.account.clone(), bundle: bundle_id(&a1.challenge_a), suite: a1.suite, unpacked, resumed_from: 0 })
}

/// Whether a live transfer that failed with `e` leaves its kept bytes for the next one.
fn worth_keeping(e: &Error) -> bool {
    use crate::session::SessionError;
    matches!(
        e,
        Error::Courier(CourierError::CutOff(_))
            | Error::Session(SessionError::CutOff(_) | SessionError::ConnectionCut(_))
            | Error::Unavailable(_)
    ) || matches!(e, Error::Io { io, .. } if is_cut(io))
}

/// A connection the peer or the network cut (not a local failure).
fn is_cut(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof)
}
