//! `sslx pair`, `send`, `recv` and `log`: the courier (seed 004).

use crate::session::{incoming_calls, incoming_calls_then};
use crate::{usage, Ctx};
use anyhow::{Context, Result};
use sslx::cli::args::{LogArgs, PairArgs, RecvArgs, SendArgs, SuiteArg};
use sslx::cli::prompts::PairPrompts;
use sslx::courier::inbox::{self, IntoPattern};
use sslx::courier::log::{Outcome, Via};
use sslx::courier::transfer::{self, Channel};
use sslx::courier::tree::{Destination, OnConflict};
use sslx::courier::{pair as pairing, BundleSuite};
use sslx::relay::service;
use sslx::session::admission::{Admission, Admitted, Limits};
use sslx::session::endpoint::HookNote;
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn pair(ctx: &Ctx, a: PairArgs) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let rng = sslx::crypto::system_rng();
    let opts = sslx::session::endpoint::Options::default();
    let tty = std::io::stdin().is_terminal();
    // The QR code: asked for, or by default when a person is at the terminal.
    let person = std::io::stderr().is_terminal() && !ctx.out.json && !ctx.out.quiet;
    let qr = a.qr || (person && !a.no_qr);
    let mut prompts = PairPrompts { out: ctx.out, sas: a.sas.clone(), sas_file: a.sas_file.clone(), qr };
    let done = if a.accept {
        if !prompts.scripted() && !tty {
            return Err(usage(
                "the short string will be needed and there is no terminal to ask: give --sas X, SSLX_SAS=X or --sas-file FILE|-",
            ));
        }
        let sock = incoming_calls(&ep, a.bind.as_deref(), service::PAIR, ctx.out)?.next().expect("endless")?;
        let (session, conn) = ep.accept(sock, &opts, &rng)?;
        let mut ch = Channel::new(session, conn);
        pairing::accept(&ctx.home, &ep.name, &mut ch, &rng, &mut prompts)?
    } else {
        let peer = a.peer.expect("clap requires PEER without --accept");
        if a.yes && !prompts.scripted() {
            return Err(usage(
                "--yes compares the string the peer's side shows with this side's: give it with --sas X, SSLX_SAS or --sas-file FILE|- (read once the exchange is done)",
            ));
        }
        if !a.yes && !tty {
            return Err(usage(
                "you will be asked to confirm and there is no terminal: add --yes with the peer's string (--sas-file FILE|-, --sas X or SSLX_SAS)",
            ));
        }
        let opts =
            sslx::session::endpoint::Options { accept_new_listener: a.yes, service: service::PAIR.into(), ..opts };
        let (session, conn) = ep.dial(&peer, &opts, &rng)?;
        let mut ch = Channel::new(session, conn);
        pairing::initiate(&ctx.home, &ep.name, &mut ch, a.yes, &rng, &mut prompts)?
    };
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"event": "done", "ok": true, "peer": done.peer, "paired": true}));
    }
    ctx.say(format!("sslx: paired with {}; pair key saved in {}", done.peer, done.key_file.display()));
    Ok(ExitCode::SUCCESS)
}

/// The recipients of a send: every --to, then the names in --to-file, each once.
fn recipients(a: &SendArgs) -> Result<Vec<String>> {
    let mut names = a.to.clone();
    if let Some(f) = &a.to_file {
        let text = if f.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading the recipients from stdin")?
        } else {
            std::fs::read_to_string(f).with_context(|| format!("reading the recipients in {}", f.display()))?
        };
        for (i, line) in text.lines().enumerate() {
            let name = line.split('#').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            sslx::keys::check_name(name).with_context(|| format!("{} line {}", f.display(), i + 1))?;
            names.push(name.to_owned());
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err(usage("no recipient: give --to PEER (again for more) or --to-file FILE with names in it"));
    }
    for n in &names {
        sslx::keys::check_name(n)?;
    }
    Ok(names)
}

/// The pair key with `to`, or why there is none (with the closest paired name).
fn pair_key_for(ctx: &Ctx, to: &str) -> Result<sslx::crypto::Secret<32>> {
    Ok(sslx::courier::load_pair_key(&ctx.home, to)?.ok_or_else(|| {
        sslx::Error::NotFound(match sslx::keys::closest_peer(&ctx.home, to) {
            Some(p) => format!("not paired with {to}: did you mean --to {p}? (sslx pairs lists the pairs)"),
            None => format!("not paired with {to}: run `sslx pair {to}` while {to} runs `sslx pair --accept`"),
        })
    })?)
}

pub fn send(ctx: &Ctx, a: SendArgs) -> Result<ExitCode> {
    if a.to_file.as_deref() == Some(std::path::Path::new("-")) && a.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(usage("stdin cannot hold both the recipients (--to-file -) and the tar stream (-)"));
    }
    let to = recipients(&a)?;
    if to.len() > 1 && (a.out.is_some() || a.direct.is_some()) {
        return Err(usage(
            "--out and --direct make one recipient's bundle: with several recipients, sslx sends through the CDS \
             (live, or to the mailbox); for files, run one --out per recipient",
        ));
    }
    let plan = sslx::courier::tree::Plan::new(&a.paths)?;
    for p in &plan.skipped {
        ctx.say(format!("sslx: warning: skipping {} (not a file, directory or link)", p.display()));
    }
    let keys = to.iter().map(|t| pair_key_for(ctx, t)).collect::<Result<Vec<_>>>()?;
    let suite = match a.suite {
        SuiteArg::Aead => BundleSuite::Aes256Gcm,
        SuiteArg::TripleDes => BundleSuite::TripleDes,
    };
    let compression = if a.no_compress {
        sslx::courier::payload::Compression::Off
    } else {
        sslx::courier::payload::Compression::Auto
    };
    let me = ctx.home.load_identity()?.name;
    if to.len() > 1 {
        return send_to_all(ctx, &a, &to, keys, suite, compression, &plan);
    }
    let (peer, ltk) = (&to[0], &keys[0]);
    let spec = transfer::SendSpec { me: &me, peer, ltk, suite, compression, plan: &plan };
    let rng = sslx::crypto::system_rng();
    ctx.out.transfer_start(
        serde_json::json!({"peer": peer, "files": plan.files, "bytes": plan.bytes, "suite": suite.family()}),
    );
    let mut prog = sslx::cli::progress::Progress::new("sending", ctx.out.json, ctx.out.quiet);
    let total = plan.bytes;
    let mut on_progress = |n: u64| prog.update(n, total);
    let (sent, via) = match a.out.as_deref() {
        Some("-") => {
            if std::io::stdout().is_terminal() && !a.armor {
                return Err(usage("the bundle is binary: redirect stdout, give --out FILE, or add --armor"));
            }
            sslx::cli::widen_pipe(1);
            let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            let s = if a.armor {
                let w = sslx::courier::armor::ArmorWriter::new(out);
                let (w, s) =
                    transfer::send_offline(&ctx.home, w, &spec, Via::Stdout, Outcome::Ok, &rng, &mut on_progress)?;
                w.finish().context("writing the armored bundle")?;
                s
            } else {
                transfer::send_offline(&ctx.home, out, &spec, Via::Stdout, Outcome::Ok, &rng, &mut on_progress)?.1
            };
            (s, Where::Stdout)
        }
        Some(path) => {
            let p = std::path::Path::new(path);
            let s = transfer::send_to_path(&ctx.home, p, &spec, a.armor, &rng, &mut on_progress)?;
            (s, Where::File(p.to_owned()))
        }
        None => {
            use sslx::courier::mailbox::{send_or_deposit, Delivered};
            let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
            let mut fallback =
                |reason: &str| ctx.say(format!("sslx: {reason}: the bundle goes to {peer}'s mailbox at the CDS"));
            let mailbox = !a.no_mailbox;
            match send_or_deposit(&ep, &spec, a.direct.as_deref(), mailbox, &mut fallback, &rng, &mut on_progress)? {
                (s, Delivered::Live) if a.direct.is_some() => (s, Where::Direct),
                (s, Delivered::Live) => (s, Where::Relay),
                (s, Delivered::Queued { expires }) => (s, Where::Mailbox { expires }),
            }
        }
    };
    prog.finish();
    ctx.out.sent(peer, &sent, &via, prog.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

use sslx::cli::report::Where;

/// `sslx send --to a --to b …`: one pass, a line (or `done`/`error` event) per recipient; the
/// exit status is the first failure's (0 when every recipient has the bundle or it waits in
/// its mailbox).
#[allow(clippy::too_many_arguments)]
fn send_to_all(
    ctx: &Ctx,
    a: &SendArgs,
    to: &[String],
    keys: Vec<sslx::crypto::Secret<32>>,
    suite: BundleSuite,
    compression: sslx::courier::payload::Compression,
    plan: &sslx::courier::tree::Plan,
) -> Result<ExitCode> {
    use sslx::courier::fanout::{send_to_all, Recipient};
    use sslx::courier::mailbox::Delivered;
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let recipients: Vec<Recipient> =
        to.iter().zip(keys).map(|(name, ltk)| Recipient { name: name.clone(), ltk }).collect();
    let rng = sslx::crypto::system_rng();
    ctx.out.transfer_start(
        serde_json::json!({"peers": to, "files": plan.files, "bytes": plan.bytes, "suite": suite.family()}),
    );
    let mut prog = sslx::cli::progress::Progress::new("sending", ctx.out.json, ctx.out.quiet);
    let total = plan.bytes;
    let mut on_fallback =
        |peer: &str, reason: &str| ctx.say(format!("sslx: {reason}: the bundle goes to {peer}'s mailbox at the CDS"));
    let results =
        send_to_all(&ep, &recipients, suite, compression, plan, !a.no_mailbox, &mut on_fallback, &rng, &mut |n| {
            prog.update(n, total)
        });
    prog.finish();
    let secs = prog.elapsed().as_secs_f64();
    let mut first_failure = None;
    for (peer, r) in results {
        match r {
            Ok((s, Delivered::Live)) => ctx.out.sent(&peer, &s, &Where::Relay, secs),
            Ok((s, Delivered::Queued { expires })) => ctx.out.sent(&peer, &s, &Where::Mailbox { expires }, secs),
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("sending to {peer}"));
                let (code, hint) = sslx::cli::exit::classify(&e);
                ctx.out.error(&e, hint.as_deref());
                first_failure.get_or_insert(code);
            }
        }
    }
    Ok(first_failure.map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// Where arrivals go and what runs after each: `sslx recv`'s flags over `sslx.toml`'s [recv].
pub struct Inbox {
    into: IntoPattern,
    on_conflict: OnConflict,
    exec_after: Option<String>,
    /// The sslx home, which overwrite never replaces.
    home: Option<std::path::PathBuf>,
}

impl Inbox {
    /// The destination for an arrival now (a dated `--into` is filled in with local time),
    /// made if missing.
    fn now(&self) -> Result<Destination> {
        let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let dir = self.into.at(now)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for left in sslx::courier::tree::sweep_interrupted(&dir) {
            eprintln!("sslx: removed {}, left by a receive that was stopped half-way", left.display());
        }
        Ok(Destination { dir, on_conflict: self.on_conflict, keep: self.home.clone() })
    }

    /// Tells what arrived, then runs --exec-after on it.
    fn arrived(&self, ctx: &Ctx, g: &transfer::Got, dest: &Destination, via: &str, secs: f64) -> Result<()> {
        ctx.out.received(g, &dest.dir, via, secs);
        self.after(g, dest, via)
    }

    /// Runs --exec-after on what arrived (nothing placed, nothing run).
    fn after(&self, g: &transfer::Got, dest: &Destination, via: &str) -> Result<()> {
        match &self.exec_after {
            Some(cmd) if !g.unpacked.names.is_empty() => Ok(inbox::run_after(cmd, g, &dest.dir, via)?),
            _ => Ok(()),
        }
    }
}

/// The CLI's view of a mailbox collection: a progress bar per bundle, a line per result.
struct CollectView<'a> {
    ctx: &'a Ctx,
    dest: &'a Destination,
    prog: Option<sslx::cli::progress::Progress>,
    /// What opened, for --exec-after once the collection is over (the CDS waits for each
    /// bundle's answer: a slow command must not hold it).
    opened: Vec<transfer::Got>,
}

impl sslx::courier::mailbox::CollectEvents for CollectView<'_> {
    fn progress(&mut self, _item: &sslx::relay::client::MailboxItem, done: u64, total: u64) {
        let (json, quiet) = (self.ctx.out.json, self.ctx.out.quiet);
        self.prog
            .get_or_insert_with(|| sslx::cli::progress::Progress::new("receiving", json, quiet))
            .update(done, total);
    }
    fn opened(&mut self, g: &transfer::Got) {
        let secs = self.prog.take().map(|p| {
            p.finish();
            p.elapsed().as_secs_f64()
        });
        self.ctx.out.received(g, &self.dest.dir, "mailbox", secs.unwrap_or(0.0));
        self.opened.push(g.clone());
    }
    fn failed(&mut self, item: &sslx::relay::client::MailboxItem, e: &sslx::Error, kept: bool) {
        if let Some(p) = self.prog.take() {
            p.finish();
        }
        let what = if kept { "stays there for now" } else { "was refused and dropped" };
        eprintln!("sslx: a bundle from {} in the mailbox {what}: {e}", item.sender);
    }
}

/// Opens what waits in the mailbox at the CDS; returns how many bundles were opened (an error
/// when --exec-after failed on one).
fn collect_mailbox(ctx: &Ctx, ep: &sslx::session::endpoint::Endpoint, inbox: &Inbox) -> Result<usize> {
    let rng = sslx::crypto::system_rng();
    let dest = inbox.now()?;
    let mut view = CollectView { ctx, dest: &dest, prog: None, opened: Vec::new() };
    let collected = sslx::courier::mailbox::collect(ep, &dest, &rng, &mut view);
    let mut failed = None;
    for g in &view.opened {
        if let Err(e) = inbox.after(g, &dest, "mailbox") {
            eprintln!("sslx: {e:#}");
            failed = Some(e);
        }
    }
    let n = collected?;
    match failed {
        Some(e) => Err(e),
        None => Ok(n),
    }
}

pub fn recv(ctx: &Ctx, a: RecvArgs) -> Result<ExitCode> {
    let conf = sslx::cli::config::load(&ctx.home)?.recv;
    let inbox = Inbox {
        into: IntoPattern::parse(a.into.as_deref().or(conf.into.as_deref()).unwrap_or("."))?,
        on_conflict: a.on_conflict.or(conf.on_conflict).unwrap_or_default(),
        exec_after: a.exec_after.or(conf.exec_after),
        home: std::fs::canonicalize(&ctx.home.dir).ok(),
    };
    let max_transfers = a.max_transfers.or(conf.max_transfers).unwrap_or(4);
    if let Some(input) = a.r#in.as_deref() {
        let me = ctx.home.load_identity()?.name;
        let dest = inbox.now()?;
        ctx.out.transfer_start(serde_json::json!({"in": input, "into": dest.dir}));
        let mut prog = sslx::cli::progress::Progress::new("receiving", ctx.out.json, ctx.out.quiet);
        let reader: Box<dyn std::io::Read> = if input == "-" {
            sslx::cli::widen_pipe(0);
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?)
        };
        // An armored bundle (send --armor) is told by its first line.
        let reader = sslx::courier::armor::dearmored(reader).with_context(|| format!("reading {input}"))?;
        let g = transfer::recv_offline(&ctx.home, &me, reader, &dest, Via::File, None, &mut |n, t| prog.update(n, t))?;
        prog.finish();
        inbox.arrived(ctx, &g, &dest, "file", prog.elapsed().as_secs_f64())?;
        return Ok(ExitCode::SUCCESS);
    }
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    // What waits in the mailbox comes first.
    if a.from_mailbox {
        let n = collect_mailbox(ctx, &ep, &inbox)?;
        if n == 0 {
            ctx.say("sslx: the mailbox is empty");
        }
        return Ok(ExitCode::SUCCESS);
    }
    // --once: a bundle waiting is the one transfer. Staying: the hook goes up first (and
    // systemd hears READY), then the collector below empties the mailbox.
    if a.once && collect_mailbox(ctx, &ep, &inbox)? > 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let opts = sslx::session::endpoint::Options::default();
    let receive_one = |sock: Result<std::net::TcpStream>,
                       multi: Option<&indicatif::MultiProgress>,
                       mut place: Option<Admitted>|
     -> Result<()> {
        let rng = sslx::crypto::system_rng();
        let accepted = ep.accept(sock?, &opts, &rng);
        if let Some(p) = place.as_mut() {
            p.handshake_done();
        }
        let (session, conn) = accepted?;
        let dest = inbox.now()?;
        ctx.out.transfer_start(serde_json::json!({"peer": session.summary.peer, "into": dest.dir}));
        let mut prog = match multi {
            Some(m) => sslx::cli::progress::Progress::in_multi(m, "receiving", ctx.out.json, ctx.out.quiet),
            None => sslx::cli::progress::Progress::new("receiving", ctx.out.json, ctx.out.quiet),
        };
        let ch = Channel::new(session, conn);
        let via = if a.bind.is_some() { Via::Direct } else { Via::Relay };
        let g = transfer::recv_live(&ctx.home, &ep.name, ch, &dest, via, &rng, &mut |n, t| prog.update(n, t));
        prog.finish();
        // The transfer is over: its place goes to the next sender before --exec-after runs.
        drop(place);
        inbox.arrived(ctx, &g?, &dest, sslx::db::Column::as_str(via), prog.elapsed().as_secs_f64())
    };
    // Back on hook after a drop, or told a bundle was left (we were busy, or refused a name):
    // what waits in the mailbox is collected.
    let (back, came_back) = std::sync::mpsc::channel::<()>();
    if !a.once {
        let _ = back.send(());
    }
    let mut incoming = incoming_calls_then(&ep, a.bind.as_deref(), service::FILES, ctx.out, move |note| {
        if matches!(note, HookNote::Back | HookNote::Mailbox { .. }) {
            let _ = back.send(());
        }
    })?;
    if a.once {
        receive_one(incoming.next().expect("endless").map_err(anyhow::Error::from), None, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Several transfers at once (a sender never waits for another's to end: one over the limit
    // is told "busy", and leaves its bundle in the mailbox instead); one mailbox collection at
    // a time.
    let multi = indicatif::MultiProgress::new();
    let admission = Admission::new(Limits::new(max_transfers));
    let collecting = std::sync::Mutex::new(());
    let serve = |sock, place| {
        if let Err(e) = receive_one(Ok(sock), Some(&multi), Some(place)) {
            eprintln!("sslx: a transfer failed: {e:#}");
        }
        // A sender that found us busy may have left its bundle in the mailbox.
        if let Ok(_one) = collecting.try_lock() {
            if let Err(e) = collect_mailbox(ctx, &ep, &inbox) {
                eprintln!("sslx: the mailbox: {e:#}");
            }
        }
    };
    let accept_failed = |e: &sslx::Error| match a.bind {
        Some(_) => eprintln!("sslx: accepting a call: {e}"),
        None => eprintln!("sslx: the hook at the CDS ended; the transfers under way finish first"),
    };
    std::thread::scope(|s| {
        // Ends when the hook does (its note, holding the sender, is dropped with it).
        let (ep, inbox, collecting) = (&ep, &inbox, &collecting);
        s.spawn(move || {
            while came_back.recv().is_ok() {
                // Notices that came meanwhile are all answered by this one collection.
                while came_back.try_recv().is_ok() {}
                let _one = collecting.lock();
                if let Err(e) = collect_mailbox(ctx, ep, inbox) {
                    eprintln!("sslx: the mailbox: {e:#}");
                }
            }
        });
        incoming.serve_admitted(&admission, &ep.name, serve, accept_failed).context("the hook at the CDS ended")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Asks the CDS what became of bundles left in mailboxes, and updates the send log (the log is
/// shown anyway when the CDS cannot be asked).
pub fn refresh_queued(ctx: &Ctx) {
    let Ok(ep) = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref()) else { return };
    if let Err(e) = sslx::courier::mailbox::refresh_queued(&ep, &sslx::crypto::system_rng()) {
        ctx.say(format!("sslx: could not ask the CDS about queued bundles: {e}"));
    }
}

pub fn log(ctx: &Ctx, a: LogArgs) -> Result<ExitCode> {
    use sslx::courier::log::{CourierLog, Direction};
    let only = if a.sent {
        Some(Direction::Sent)
    } else if a.received {
        Some(Direction::Received)
    } else {
        None
    };
    let log = CourierLog::open(&ctx.home)?;
    refresh_queued(ctx);
    ctx.out.log(&log.list(only)?)?;
    Ok(ExitCode::SUCCESS)
}
