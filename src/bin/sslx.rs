//! `sslx`: parse, call the library, print. Messages on stderr, data on stdout.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::*;
use sslx::courier::log::{Outcome, Via};
use sslx::courier::transfer::{self, Channel};
use sslx::courier::{pair as pairing, BundleSuite};
use sslx::keys::{Home, Identity};
use sslx::session::admission::{Admission, Admitted, Limits};
use sslx::vsu::client::{self as vsu, ConfirmResult};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

struct Ctx {
    home: Home,
    cds: Option<String>,
    cds_http: Option<String>,
    json: bool,
    quiet: bool,
}

impl Ctx {
    fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }
    fn print_json(&self, v: serde_json::Value) {
        println!("{v}");
    }
}

fn main() -> ExitCode {
    let cli = SslxCli::parse();
    let json = cli.global.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let (code, hint) = sslx::cli::exit::classify(&e);
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            if json {
                let kind = e
                    .chain()
                    .find_map(|c| c.downcast_ref::<sslx::Error>())
                    .map(|e| e.kind().code())
                    .unwrap_or("failure");
                println!(
                    "{}",
                    serde_json::json!({"event": "error", "ok": false, "error": kind, "message": format!("{e:#}"), "hint": hint})
                );
            }
            eprintln!("sslx: error: {e:#}");
            if let Some(h) = hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(code)
        }
    }
}

/// Our own stdout closed under us (`sslx log | head`): not a failure. Only a bare I/O error from
/// the binary's printing counts; a broken pipe inside the library (a peer's socket, a bundle
/// being written) is a real failure and must not exit 0.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let pipe = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    match e.chain().find_map(|c| c.downcast_ref::<sslx::Error>()) {
        // `sslx dial` writing the peer's stream to a stdout that went away (`| head`).
        Some(sslx::Error::OutputClosed) => true,
        Some(_) => false,
        None => e.downcast_ref::<std::io::Error>().is_some_and(pipe),
    }
}

fn run(cli: SslxCli) -> Result<ExitCode> {
    let g = cli.global;
    let ctx = Ctx {
        home: Home::new(g.home.unwrap_or_else(Home::default_dir)),
        cds: g.cds,
        cds_http: g.cds_http,
        json: g.json,
        quiet: g.quiet,
    };
    match cli.command {
        SslxCommand::Keygen(a) => keygen(&ctx, a),
        SslxCommand::Vsu(a) if a.confirm => confirm(&ctx),
        SslxCommand::Vsu(a) => open(&ctx, a),
        SslxCommand::AssembleKey(a) => assemble(&ctx, a),
        SslxCommand::Standing(a) => standing(&ctx, a),
        SslxCommand::Listen(a) => listen(&ctx, a),
        SslxCommand::Dial(a) => dial(&ctx, a, false),
        SslxCommand::Handshake(a) => dial(&ctx, a, true),
        SslxCommand::Pair(a) => pair(&ctx, a),
        SslxCommand::Send(a) => send(&ctx, a),
        SslxCommand::Recv(a) => recv(&ctx, a),
        SslxCommand::Log(a) => log(&ctx, a),
        SslxCommand::Token(TokenCommand::Mint(a)) => token_mint(&ctx, a),
        SslxCommand::Token(TokenCommand::Verify(a)) => token_verify(&ctx, a),
        SslxCommand::Token(TokenCommand::Resolve(a)) => token_resolve(&ctx, a),
        SslxCommand::Token(TokenCommand::Serve(a)) => token_serve(&ctx, a),
        SslxCommand::Token(TokenCommand::Store(a)) => token_store(&ctx, a),
    }
}

fn keygen(ctx: &Ctx, a: KeygenArgs) -> Result<ExitCode> {
    let rng = sslx::crypto::system_rng();
    let id = Identity::generate(&a.name, &rng)?;
    let public = format!("{} {}", id.name, id.public().to_line());
    match a.out.as_deref() {
        Some("-") => {
            std::io::stdout().write_all(id.to_file_text().as_bytes())?;
            eprintln!("{public}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(path) => {
            let p = std::path::Path::new(path);
            if p.exists() && !a.force {
                return Err(sslx::Error::from(sslx::keys::KeyError::IdentityExists(path.into())).into());
            }
            sslx::keys::write_secret_atomic(p, id.to_file_text().as_bytes())?;
            ctx.say(format!("identity written to {path} (0600)"));
        }
        None => {
            if let Some(old) = ctx.home.replace_identity(&id, a.force)? {
                ctx.say(format!("the old identity is kept as {}", old.display()));
            }
            ctx.say(format!("identity of {} written to {} (0600)", id.name, ctx.home.identity_path().display()));
        }
    }
    if ctx.json {
        ctx.print_json(serde_json::json!({"ok": true, "name": id.name, "public_key": id.public().to_line()}));
    } else {
        println!("{public}");
    }
    Ok(ExitCode::SUCCESS)
}

fn open(ctx: &Ctx, a: VsuArgs) -> Result<ExitCode> {
    let cds = vsu::cds_addr(&ctx.home, ctx.cds.as_deref())?;
    let old = a.prove_with.as_deref().map(sslx::keys::load_identity_file).transpose()?;
    let (email, oob) = (a.email.expect("clap requires it"), a.oob.expect("clap requires it"));
    let p = vsu::open(&ctx.home, &cds, &email, &oob, old.as_ref())?;
    if let Some(out) = a.out.as_deref() {
        if out == "-" {
            print!("{}", p.reply_a);
        } else {
            sslx::keys::write_atomic(std::path::Path::new(out), p.reply_a.as_bytes(), 0o644)?;
        }
    }
    if ctx.json {
        ctx.print_json(
            serde_json::json!({"ok": true, "request_id": p.request_id, "name": p.name, "email": p.email, "oob": p.oob,
            "expires": sslx::cli::fmt_time(p.expires), "cds_http": p.cds_http}),
        );
    } else {
        ctx.say(format!(
            "open request {} sent to the CDS at {cds}: reply A kept in {}\n\
             reply B is on its way to {email}, the PIN to {oob}; the request expires {}.\n\
             next: sslx assemble-key --reply-b FILE --pin PIN, then sslx vsu --confirm",
            p.request_id,
            ctx.home.dir.display(),
            sslx::cli::fmt_time(p.expires)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn assemble(ctx: &Ctx, a: AssembleArgs) -> Result<ExitCode> {
    let reply_b = sslx::cli::input::read_input(&a.reply_b, 1 << 20, "reply B")?;
    let reply_a = match a.reply_a.as_deref() {
        Some(f) => Some(
            sslx::vsu::ReplyA::from_armor(&sslx::cli::input::read_input(f, 1 << 16, "reply A")?)
                .map_err(sslx::Error::from)
                .with_context(|| format!("reply A in {f}"))?,
        ),
        None => None,
    };
    let pin = sslx::cli::input::secret(a.pin, a.pin_file.as_deref(), "PIN from the out-of-band channel", "SSLX_PIN")?;
    let (cdsk, rid) = vsu::assemble(&ctx.home, &reply_b, &pin, reply_a)?;
    if a.print {
        println!("{}", sslx::keys::encode_line(sslx::keys::LineKind::Cdsk, cdsk.expose()));
        return Ok(ExitCode::SUCCESS);
    }
    vsu::install_assembled(&ctx.home, &cdsk, &rid)?;
    if ctx.json {
        ctx.print_json(serde_json::json!({"ok": true, "request_id": sslx::vsu::request_id_hex(&rid), "installed": "pending confirmation"}));
    }
    ctx.say(format!(
        "CDS key assembled for request {} and kept until confirmed.\nnext: sslx vsu --confirm",
        sslx::vsu::request_id_hex(&rid)
    ));
    Ok(ExitCode::SUCCESS)
}

fn confirm(ctx: &Ctx) -> Result<ExitCode> {
    let rng = sslx::crypto::system_rng();
    match vsu::confirm(&ctx.home, ctx.cds.as_deref(), &rng)? {
        ConfirmResult::Confirmed(s) => {
            if ctx.json {
                ctx.print_json(serde_json::json!({"ok": true, "name": s.name, "status": "confirmed", "request_id": s.request_id,
                    "confirmed_at": sslx::cli::fmt_time(s.confirmed_at), "key_expires": sslx::cli::fmt_time(s.key_expires)}));
            }
            ctx.say(format!(
                "confirmed: {} is enrolled with the CDS at {}; the CDS key is installed and valid until {}",
                s.name,
                s.cds,
                sslx::cli::fmt_time(s.key_expires)
            ));
            Ok(ExitCode::SUCCESS)
        }
        ConfirmResult::Denied { attempts_left, reason } => {
            let what = if attempts_left > 0 {
                format!("the assembled key was removed; check the PIN and reply B, then run sslx assemble-key again ({attempts_left} attempt(s) left)")
            } else {
                "the assembled key and the request were removed; start again with sslx vsu".to_owned()
            };
            if ctx.json {
                ctx.print_json(serde_json::json!({"ok": false, "error": "verify_failed", "status": "denied", "reason": reason, "attempts_left": attempts_left}));
            }
            eprintln!("sslx: error: denied by the CDS: {reason}\nhint: {what}");
            Ok(ExitCode::from(sslx::ErrorKind::VerifyFailed.exit_code()))
        }
    }
}

fn standing(ctx: &Ctx, a: StandingArgs) -> Result<ExitCode> {
    let base = vsu::cds_http(&ctx.home, ctx.cds_http.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let s = rt.block_on(vsu::fetch_standing(&base, &a.name))?;
    if ctx.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dash = || "-".to_owned();
    let rows = [
        ("name", s.name.clone()),
        ("status", s.status.clone()),
        ("public key", s.public_key.clone().unwrap_or_else(dash)),
        ("first VSU", s.first_vsu.clone().unwrap_or_else(dash)),
        ("last VSU", s.last_vsu.clone().unwrap_or_else(dash)),
        ("VSU count", s.vsu_count.to_string()),
        ("channels", if s.channels.is_empty() { dash() } else { s.channels.join(", ") }),
        ("key expires", s.key_expires.clone().unwrap_or_else(dash)),
        ("key life", s.key_life_days.map(|d| format!("{d} days")).unwrap_or_else(dash)),
    ];
    let mut out = std::io::stdout().lock();
    for (k, v) in rows {
        writeln!(out, "{k:<12} {v}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn session_options(f: &SessionFlags) -> sslx::session::endpoint::Options {
    sslx::session::endpoint::Options { forward_secrecy: !f.no_fs, resume: !f.no_resume, ..Default::default() }
}

/// Who may call a listener: with --exec, the paired peers plus --allow and --allowed-peers;
/// without, anyone unless a list is given; --allow-any: anyone.
fn allow_list(home: &Home, a: &AllowFlags, exec: bool) -> Result<Option<sslx::session::endpoint::AllowFn>> {
    if a.allow_any || (!exec && a.names.is_empty() && a.allowed_peers.is_none()) {
        return Ok(None);
    }
    for n in &a.names {
        sslx::keys::check_name(n).with_context(|| format!("--allow {n}"))?;
    }
    if let Some(f) = &a.allowed_peers {
        std::fs::metadata(f).with_context(|| format!("--allowed-peers {}", f.display()))?;
    }
    let (home, names, file) = (home.clone(), a.names.clone(), a.allowed_peers.clone());
    Ok(Some(std::sync::Arc::new(move |peer: &str| {
        names.iter().any(|n| n == peer)
            || (exec && sslx::courier::load_pair_key(&home, peer).ok().flatten().is_some())
            || file.as_ref().is_some_and(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .any(|l| l == peer)
            })
    })))
}

fn describe(s: &sslx::session::HandshakeSummary) -> String {
    format!(
        "{} (Key-ID {}, {}, forward secrecy {}, {})",
        s.peer,
        s.key_id,
        s.cipher,
        if s.forward_secrecy { "yes" } else { "no" },
        if s.resumed { "resumed" } else { "full handshake" }
    )
}

fn dial(ctx: &Ctx, a: DialArgs, handshake_only: bool) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let rng = sslx::crypto::system_rng();
    let opts = sslx::session::endpoint::Options { accept_new_listener: a.yes, ..session_options(&a.session) };
    let (session, conn) = ep.dial(&a.peer, &opts, &rng)?;
    let summary = session.summary.clone();
    if handshake_only {
        sslx::session::io::pump(session, conn, std::io::empty(), std::io::sink())?;
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"ok": true, "peer": summary.peer, "key_id": summary.key_id, "cipher": summary.cipher,
                "forward_secrecy": summary.forward_secrecy, "resumed": summary.resumed, "version": summary.version})
            );
        } else {
            println!("peer             {}", summary.peer);
            println!("key id           {}", summary.key_id);
            println!("cipher           {}", summary.cipher);
            println!("forward secrecy  {}", if summary.forward_secrecy { "yes" } else { "no" });
            println!("resumed          {}", if summary.resumed { "yes" } else { "no" });
        }
        return Ok(ExitCode::SUCCESS);
    }
    ctx.say(format!("sslx: connected to {}", describe(&summary)));
    let t = sslx::session::io::pump(session, conn, std::io::stdin(), std::io::stdout())?;
    ctx.say(format!("sslx: {} bytes sent, {} received", t.sent, t.received));
    Ok(ExitCode::SUCCESS)
}

fn listen(ctx: &Ctx, a: ListenArgs) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let allow = allow_list(&ctx.home, &a.allow, a.exec.is_some())?;
    let mut incoming = incoming_calls(&ep, a.bind.as_deref(), ctx.quiet)?;
    let opts = sslx::session::endpoint::Options { allow, ..session_options(&a.session) };
    if a.once {
        let sock = incoming.next().expect("endless")?;
        serve_call(&ep, sock, &opts, a.exec.as_deref(), ctx.quiet, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The accept loop never waits: a call waits for its slot on its own thread (15 s at most,
    // then it is told the listener is busy), and one source may have only a few calls waiting
    // or in their handshake (each has 10 s to finish it).
    let admission = Admission::new(Limits::new(a.max_calls));
    let exec = a.exec.as_deref();
    let serve = |sock, place| {
        if let Err(e) = serve_call(&ep, sock, &opts, exec, ctx.quiet, Some(place)) {
            eprintln!("sslx: call failed: {e:#}");
        }
    };
    let bound = a.bind.is_some();
    let on_error = |e: &sslx::Error| {
        if !bound {
            eprintln!("sslx: the hook at the CDS ended ({e}); the calls under way finish first");
        }
    };
    incoming.serve_admitted(&admission, &ep.name, serve, on_error).context("the hook at the CDS ended")?;
    Ok(ExitCode::SUCCESS)
}

/// Calls arriving at this participant (`--bind ADDR`, else its hook at the CDS), with a line on
/// stderr for where it listens and (unless quiet) for what happens on the hook.
fn incoming_calls(
    ep: &sslx::session::endpoint::Endpoint,
    bind: Option<&str>,
    quiet: bool,
) -> Result<sslx::session::endpoint::Incoming> {
    use sslx::session::endpoint::HookNote;
    let calls = ep.incoming(bind, move |note| match note {
        HookNote::Granted { caller } if !quiet => eprintln!("sslx: the CDS granted {caller} a session with us"),
        HookNote::Ring { caller } if !quiet => eprintln!("sslx: ring from {caller}"),
        HookNote::AnswerFailed { caller, error } => eprintln!("sslx: could not answer {caller}: {error}"),
        _ => {}
    })?;
    eprintln!("sslx: listening on {} as {}", calls.listening_on, ep.name);
    Ok(calls)
}

/// One call: the handshake, then the stream to stdout or through a command.
fn serve_call(
    ep: &sslx::session::endpoint::Endpoint,
    sock: std::net::TcpStream,
    opts: &sslx::session::endpoint::Options,
    exec: Option<&str>,
    quiet: bool,
    mut place: Option<Admitted>,
) -> Result<()> {
    let rng = sslx::crypto::system_rng();
    let accepted = ep.accept(sock, opts, &rng);
    if let Some(p) = place.as_mut() {
        p.handshake_done();
    }
    let (session, conn) = accepted?;
    if !quiet {
        eprintln!("sslx: call from {}", describe(&session.summary));
    }
    let t = match exec {
        None => sslx::session::io::pump(session, conn, std::io::empty(), std::io::stdout())?,
        Some(cmd) => {
            let (t, status) = sslx::session::exec::run(session, conn, cmd)?;
            if !status.success() && !quiet {
                eprintln!("sslx: --exec command ended with {status}");
            }
            t
        }
    };
    if !quiet {
        eprintln!("sslx: call ended: {} bytes received, {} sent", t.received, t.sent);
    }
    Ok(())
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    sslx::Error::Usage(msg.into()).into()
}

/// The short string the acceptor was given: flag or SSLX_SAS, a file (- for stdin), or a prompt.
fn read_short_string(sas: Option<String>, sas_file: Option<&str>, caller: &str) -> sslx::Result<String> {
    if let Some(s) = sas {
        return Ok(s);
    }
    if let Some(f) = sas_file {
        let text = sslx::cli::input::read_input(f, 4096, "short string")?;
        return Ok(text.lines().next().unwrap_or("").trim().to_owned());
    }
    eprint!("the string {caller} reads to you: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| sslx::Error::io("reading the short string", e))?;
    Ok(line.trim().to_owned())
}

/// The person at this end of a pairing, or the script standing in for them.
struct PairPrompts<'a> {
    ctx: &'a Ctx,
    sas: Option<String>,
    sas_file: Option<String>,
}

impl PairPrompts<'_> {
    fn scripted(&self) -> bool {
        self.sas.is_some() || self.sas_file.is_some()
    }
    fn print_string(&self, peer: &str, short_string: &str) -> sslx::Result<()> {
        if self.ctx.json {
            println!("{}", serde_json::json!({"event": "short_string", "peer": peer, "short_string": short_string}));
        } else {
            println!("{short_string}");
        }
        std::io::stdout().flush().map_err(|e| sslx::Error::io("writing the short string", e))
    }
}

impl pairing::PairingPrompts for PairPrompts<'_> {
    fn typed_string(&mut self, peer: &str) -> sslx::Result<String> {
        read_short_string(self.sas.take(), self.sas_file.as_deref(), peer)
    }
    fn show_string(&mut self, peer: &str, short_string: &str) -> sslx::Result<()> {
        self.print_string(peer, short_string)?;
        self.ctx.say(format!(
            "sslx: read this string to {peer} by phone: {short_string}\nsslx: waiting for {peer} to enter it"
        ));
        Ok(())
    }
    fn matched(&mut self, peer: &str, short_string: &str) -> sslx::Result<()> {
        // Only for a script on the other side (pair --yes), which compares it with its own.
        if self.scripted() {
            self.print_string(peer, short_string)?;
        }
        Ok(())
    }
    fn confirmed_by_person(&mut self, peer: &str) -> sslx::Result<bool> {
        eprint!("{peer}'s sslx says the string matched. Did {peer} tell you so on the phone? [y/N] ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| sslx::Error::io("reading the answer", e))?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
    fn say(&mut self, line: &str) {
        self.ctx.say(line);
    }
}

fn pair(ctx: &Ctx, a: PairArgs) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let rng = sslx::crypto::system_rng();
    let opts = sslx::session::endpoint::Options::default();
    let tty = std::io::stdin().is_terminal();
    let mut prompts = PairPrompts { ctx, sas: a.sas.clone(), sas_file: a.sas_file.clone() };
    let done = if a.accept {
        if !prompts.scripted() && !tty {
            return Err(usage(
                "the short string will be needed and there is no terminal to ask: give --sas X, SSLX_SAS=X or --sas-file FILE|-",
            ));
        }
        let sock = incoming_calls(&ep, a.bind.as_deref(), ctx.quiet)?.next().expect("endless")?;
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
        let opts = sslx::session::endpoint::Options { accept_new_listener: a.yes, ..opts };
        let (session, conn) = ep.dial(&peer, &opts, &rng)?;
        let mut ch = Channel::new(session, conn);
        pairing::initiate(&ctx.home, &ep.name, &mut ch, a.yes, &rng, &mut prompts)?
    };
    if ctx.json {
        ctx.print_json(serde_json::json!({"event": "done", "ok": true, "peer": done.peer, "paired": true}));
    }
    ctx.say(format!("sslx: paired with {}; pair key saved in {}", done.peer, done.key_file.display()));
    Ok(ExitCode::SUCCESS)
}

fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", sslx::cli::progress::human_bytes((bytes as f64 / secs) as u64))
}

fn send(ctx: &Ctx, a: SendArgs) -> Result<ExitCode> {
    sslx::keys::check_name(&a.to)?;
    let plan = sslx::courier::tree::Plan::new(&a.paths)?;
    for p in &plan.skipped {
        ctx.say(format!("sslx: warning: skipping {} (not a file, directory or link)", p.display()));
    }
    let ltk = sslx::courier::load_pair_key(&ctx.home, &a.to)?.ok_or_else(|| {
        sslx::Error::NotFound(format!(
            "not paired with {}: run `sslx pair {}` while {} runs `sslx pair --accept`",
            a.to, a.to, a.to
        ))
    })?;
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
    let spec = transfer::SendSpec { me: &me, peer: &a.to, ltk: &ltk, suite, compression, plan: &plan };
    let rng = sslx::crypto::system_rng();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"event": "start", "peer": a.to, "files": plan.files, "bytes": plan.bytes, "suite": suite.family()})
        );
    }
    let mut prog = sslx::cli::progress::Progress::new("sending", ctx.json, ctx.quiet);
    let total = plan.bytes;
    let mut on_progress = |n: u64| prog.update(n, total);
    let (sent, via) = match a.out.as_deref() {
        Some("-") => {
            if std::io::stdout().is_terminal() {
                return Err(usage("the bundle is binary: redirect stdout, or give --out FILE"));
            }
            sslx::cli::widen_pipe(1);
            let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            let (_, s) = transfer::send_offline(&ctx.home, out, &spec, Via::File, Outcome::Ok, &rng, &mut on_progress)?;
            (s, "stdout".to_owned())
        }
        Some(path) => {
            let s = transfer::send_to_path(&ctx.home, std::path::Path::new(path), &spec, &rng, &mut on_progress)?;
            (s, path.to_owned())
        }
        None => {
            use sslx::courier::mailbox::{send_or_deposit, Delivered};
            let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
            let mut fallback =
                |reason: &str| ctx.say(format!("sslx: {reason}: the bundle goes to {}'s mailbox at the CDS", a.to));
            let mailbox = !a.no_mailbox;
            match send_or_deposit(&ep, &spec, a.direct.as_deref(), mailbox, &mut fallback, &rng, &mut on_progress)? {
                (s, Delivered::Live) => (s, "relay".to_owned()),
                (s, Delivered::Queued { expires }) => {
                    (s, format!("mailbox (queued until {})", sslx::cli::fmt_time(expires)))
                }
            }
        }
    };
    prog.finish();
    let secs = prog.elapsed().as_secs_f64();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "ok": true, "peer": a.to, "bundle": sent.bundle, "files": sent.files,
            "bytes": sent.bytes, "wire_bytes": sent.wire, "suite": sent.suite.family(), "via": via, "seconds": secs})
        );
    } else {
        ctx.say(format!(
            "sslx: sent {} file(s), {} to {} via {via} in {secs:.1} s ({}), {} on the wire, suite {}, bundle {}",
            sent.files,
            sslx::cli::progress::human_bytes(sent.bytes),
            a.to,
            rate(sent.bytes, secs),
            sslx::cli::progress::human_bytes(sent.wire),
            sent.suite.family(),
            sent.bundle
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The CLI's view of a mailbox collection: a progress bar per bundle, a line per result.
struct CollectView<'a> {
    ctx: &'a Ctx,
    prog: Option<sslx::cli::progress::Progress>,
}

impl sslx::courier::mailbox::CollectEvents for CollectView<'_> {
    fn progress(&mut self, _item: &sslx::relay::client::MailboxItem, done: u64, total: u64) {
        let (json, quiet) = (self.ctx.json, self.ctx.quiet);
        self.prog
            .get_or_insert_with(|| sslx::cli::progress::Progress::new("receiving", json, quiet))
            .update(done, total);
    }
    fn opened(&mut self, g: &transfer::Got) {
        let secs = self.prog.take().map(|p| {
            p.finish();
            p.elapsed().as_secs_f64()
        });
        report_received(self.ctx, g, secs.unwrap_or(0.0), "mailbox");
    }
    fn failed(&mut self, item: &sslx::relay::client::MailboxItem, e: &sslx::Error, kept: bool) {
        if let Some(p) = self.prog.take() {
            p.finish();
        }
        let what = if kept { "stays there for now" } else { "was refused and dropped" };
        eprintln!("sslx: a bundle from {} in the mailbox {what}: {e}", item.sender);
    }
}

/// Opens what waits in the mailbox at the CDS; returns how many bundles were opened.
fn collect_mailbox(ctx: &Ctx, ep: &sslx::session::endpoint::Endpoint, into: &std::path::Path) -> Result<usize> {
    let rng = sslx::crypto::system_rng();
    Ok(sslx::courier::mailbox::collect(ep, into, &rng, &mut CollectView { ctx, prog: None })?)
}

fn report_received(ctx: &Ctx, g: &transfer::Got, secs: f64, via: &str) {
    let u = &g.unpacked;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"event": "done", "ok": true, "peer": g.peer, "bundle": g.bundle, "files": u.files,
            "bytes": u.bytes, "names": u.names, "suite": g.suite.family(), "via": via, "seconds": secs})
        );
    } else {
        ctx.say(format!(
            "sslx: received {} file(s), {} from {} via {via} in {secs:.1} s ({}), suite {}: {}",
            u.files,
            sslx::cli::progress::human_bytes(u.bytes),
            g.peer,
            rate(u.bytes, secs),
            g.suite.family(),
            u.names.join(" ")
        ));
    }
}

fn recv(ctx: &Ctx, a: RecvArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&a.into).with_context(|| format!("creating {}", a.into.display()))?;
    if let Some(input) = a.r#in.as_deref() {
        let me = ctx.home.load_identity()?.name;
        if ctx.json {
            println!("{}", serde_json::json!({"event": "start", "in": input, "into": a.into}));
        }
        let mut prog = sslx::cli::progress::Progress::new("receiving", ctx.json, ctx.quiet);
        let reader: Box<dyn std::io::Read> = if input == "-" {
            sslx::cli::widen_pipe(0);
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?)
        };
        let g =
            transfer::recv_offline(&ctx.home, &me, reader, &a.into, Via::File, None, &mut |n, t| prog.update(n, t))?;
        prog.finish();
        report_received(ctx, &g, prog.elapsed().as_secs_f64(), "file");
        return Ok(ExitCode::SUCCESS);
    }
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    // What waits in the mailbox comes first.
    if a.from_mailbox {
        let n = collect_mailbox(ctx, &ep, &a.into)?;
        if n == 0 {
            ctx.say("sslx: the mailbox is empty");
        }
        return Ok(ExitCode::SUCCESS);
    }
    match collect_mailbox(ctx, &ep, &a.into) {
        Ok(n) if n > 0 && a.once => return Ok(ExitCode::SUCCESS),
        Ok(_) => {}
        Err(e) if a.once => return Err(e),
        Err(e) => eprintln!("sslx: the mailbox: {e:#}"),
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
        if ctx.json {
            println!("{}", serde_json::json!({"event": "start", "peer": session.summary.peer, "into": a.into}));
        }
        let mut prog = match multi {
            Some(m) => sslx::cli::progress::Progress::in_multi(m, "receiving", ctx.json, ctx.quiet),
            None => sslx::cli::progress::Progress::new("receiving", ctx.json, ctx.quiet),
        };
        let ch = Channel::new(session, conn);
        let g = transfer::recv_live(&ctx.home, &ep.name, ch, &a.into, &rng, &mut |n, t| prog.update(n, t));
        prog.finish();
        report_received(ctx, &g?, prog.elapsed().as_secs_f64(), "relay");
        Ok(())
    };
    let mut incoming = incoming_calls(&ep, a.bind.as_deref(), ctx.quiet)?;
    if a.once {
        receive_one(incoming.next().expect("endless").map_err(anyhow::Error::from), None, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Several transfers at once (a sender never waits for another's to end: one over the limit
    // is told "busy", and may leave its bundle in the mailbox instead); one mailbox collection
    // at a time.
    let multi = indicatif::MultiProgress::new();
    let admission = Admission::new(Limits::new(a.max_transfers));
    let collecting = std::sync::Mutex::new(());
    let serve = |sock, place| {
        if let Err(e) = receive_one(Ok(sock), Some(&multi), Some(place)) {
            eprintln!("sslx: a transfer failed: {e:#}");
        }
        // A sender that found us busy may have left its bundle in the mailbox.
        if let Ok(_one) = collecting.try_lock() {
            if let Err(e) = collect_mailbox(ctx, &ep, &a.into) {
                eprintln!("sslx: the mailbox: {e:#}");
            }
        }
    };
    let accept_failed = |e: &sslx::Error| match a.bind {
        Some(_) => eprintln!("sslx: accepting a call: {e}"),
        None => eprintln!("sslx: the hook at the CDS ended ({e}); the transfers under way finish first"),
    };
    incoming.serve_admitted(&admission, &ep.name, serve, accept_failed).context("the hook at the CDS ended")?;
    Ok(ExitCode::SUCCESS)
}

/// Asks the CDS what became of bundles left in mailboxes, and updates the send log (the log is
/// shown anyway when the CDS cannot be asked).
fn refresh_queued(ctx: &Ctx) {
    let Ok(ep) = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref()) else { return };
    if let Err(e) = sslx::courier::mailbox::refresh_queued(&ep, &sslx::crypto::system_rng()) {
        ctx.say(format!("sslx: could not ask the CDS about queued bundles: {e}"));
    }
}

fn log(ctx: &Ctx, a: LogArgs) -> Result<ExitCode> {
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
    let entries = log.list(only)?;
    if ctx.json {
        println!("{}", serde_json::json!({"ok": true, "entries": entries}));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<20} {:<8} {:<16} {:>5} {:>10} {:<5} {:<7} {:<9} {:<16} NAMES",
        "TIME", "LOG", "PEER", "FILES", "BYTES", "SUITE", "VIA", "RESULT", "BUNDLE"
    )?;
    for e in entries {
        writeln!(
            out,
            "{:<20} {:<8} {:<16} {:>5} {:>10} {:<5} {:<7} {:<9} {:<16} {}{}",
            sslx::cli::fmt_time(e.time),
            e.direction,
            e.peer,
            e.files,
            sslx::cli::progress::human_bytes(e.bytes),
            e.suite,
            e.via,
            e.result,
            e.bundle,
            e.names.join(" "),
            if e.detail.is_empty() { String::new() } else { format!("  ({})", e.detail) }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn token_err(e: sslx::token::TokenError) -> anyhow::Error {
    sslx::Error::from(e).into()
}

fn token_mint(ctx: &Ctx, a: MintArgs) -> Result<ExitCode> {
    use sslx::token::{Fields, Keyring, Mint};
    let identity = sslx::keys::load_identity_file(&a.key)?;
    let ttl = sslx::cli::parse_duration(&a.ttl).map_err(|e| usage(format!("--ttl: {e}")))?;
    let mut fields = Fields::default();
    let version = a.data_version.map(|v| v.to_string());
    for (k, v) in [
        ("User-ID", &a.user),
        ("Email-Address", &a.email),
        ("Telephone", &a.phone),
        ("Postal-Address", &a.address),
        ("Version", &version),
    ] {
        if let Some(v) = v {
            fields.push(k, v).map_err(token_err)?;
        }
    }
    for f in &a.fields {
        fields.push_assignment(f).map_err(token_err)?;
    }
    if let Some(file) = a.fields_file.as_deref() {
        let text = sslx::cli::input::read_input(file, 1 << 20, "fields")?;
        for (k, v) in Fields::parse_input(&text).map_err(|e| usage(format!("--fields {file}: {e}")))?.0 {
            fields.push(&k, &v).map_err(token_err)?;
        }
    }
    let to = match a.to.as_deref() {
        None => None,
        Some(p) => {
            let text = sslx::cli::input::read_input(&p.to_string_lossy(), 1 << 16, "public key file")?;
            Some(Keyring::single(&text).map_err(|e| usage(format!("--to {}: {e}", p.display())))?)
        }
    };
    let now = sslx::cli::now_unix();
    let number = sslx::token::numbers::SessionNumbers::for_key(&a.key).reserve(1, now)?;
    let rng = sslx::crypto::system_rng();
    let signer = sslx::token::Signer::new(&identity);
    let m = Mint { node: a.node, signer: &signer, number, now, ttl, fields: &fields, to, max_len: a.max_size };
    let token = sslx::token::mint(&m, &rng).map_err(token_err)?;
    let handover = match (&a.url, a.cookie) {
        (Some(base), _) => sslx::token::Handover::Url(base.clone()),
        (None, true) => sslx::token::Handover::Cookie { ttl },
        (None, false) => sslx::token::Handover::Bare,
    };
    let out = handover.render(&token);
    if ctx.json {
        ctx.print_json(serde_json::json!({"ok": true, "token": token, "output": out, "node": a.node,
            "session_id": format!("{:04x}:{number:012x}", a.node), "expires": sslx::cli::fmt_time(now + ttl),
            "sealed_to": to.map(|(n, _)| n), "length": token.len()}));
    } else {
        println!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

fn token_verify(ctx: &Ctx, a: VerifyArgs) -> Result<ExitCode> {
    use sslx::token::{Keyring, Verifier};
    let text = if a.token == "-" { sslx::cli::input::read_input("-", 1 << 16, "token")? } else { a.token.clone() };
    let keyring = Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
        .map_err(token_err)?;
    let me = match (a.key.as_deref(), a.node) {
        (Some(k), Some(n)) => Some((n, sslx::keys::load_identity_file(k)?)),
        _ => None,
    };
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let v = Verifier {
        keyring: &keyring,
        me: me.as_ref().map(|(n, id)| (*n, id)),
        now: sslx::cli::now_unix(),
        skew,
        max_len: a.max_size,
    };
    let got = sslx::token::verify(&text, &v).map_err(token_err)?;
    print_fields(ctx, &got, &got.fields, serde_json::json!({}))?;
    Ok(ExitCode::SUCCESS)
}

fn print_fields(
    ctx: &Ctx,
    got: &sslx::token::Verified,
    fields: &sslx::token::Fields,
    extra: serde_json::Value,
) -> Result<()> {
    if ctx.json {
        let map: serde_json::Map<String, serde_json::Value> =
            fields.0.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let mut v = serde_json::json!({"ok": true, "node": got.node, "session_id": got.session_id(),
            "sealed": got.sealed, "created": sslx::cli::fmt_time(got.created), "expires": sslx::cli::fmt_time(got.expires),
            "fields": map});
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        ctx.print_json(v);
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Session-ID: {}", got.session_id())?;
        write!(out, "{}", fields.to_text())?;
    }
    Ok(())
}

fn token_resolve(ctx: &Ctx, a: ResolveArgs) -> Result<ExitCode> {
    use sslx::token::{Keyring, Verifier};
    let text = if a.token == "-" { sslx::cli::input::read_input("-", 1 << 16, "token")? } else { a.token.clone() };
    let keyring = Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
        .map_err(token_err)?;
    let id = sslx::keys::load_identity_file(&a.key)?;
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let v =
        Verifier { keyring: &keyring, me: Some((a.node, &id)), now: sslx::cli::now_unix(), skew, max_len: a.max_size };
    let got = sslx::token::verify(&text, &v).map_err(token_err)?;
    let cache = sslx::token::oob::Cache::open(&ctx.home)?;
    let rng = sslx::crypto::system_rng();
    let (fields, fetched) = sslx::token::resolve(text.trim(), &got, &keyring, (a.node, &id), &cache, &rng)?;
    let refs = got.fields.references().len();
    ctx.say(format!("sslx: {refs} out-of-band value(s): {fetched} fetched, {} from the cache", refs - fetched));
    print_fields(ctx, &got, &fields, serde_json::json!({"fetched": fetched, "cached": refs - fetched}))?;
    Ok(ExitCode::SUCCESS)
}

fn token_store(ctx: &Ctx, a: TokenStoreArgs) -> Result<ExitCode> {
    let items =
        a.items.iter().map(|it| sslx::token::oob::parse_item(it)).collect::<Result<Vec<_>, _>>().map_err(token_err)?;
    let version = sslx::token::oob::DataStore::open(&a.db)?.put(&items)?;
    if ctx.json {
        ctx.print_json(serde_json::json!({"ok": true, "version": version}));
    } else {
        println!("{version}");
        ctx.say(format!("sslx: {} value(s) stored; mint tokens with --field Version={version}", items.len()));
    }
    Ok(ExitCode::SUCCESS)
}

fn token_serve(ctx: &Ctx, a: TokenServeArgs) -> Result<ExitCode> {
    use sslx::token::oob::{ServeConfig, ServeEvent, DIALOGUE_DEADLINE};
    let keyring =
        sslx::token::Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
            .map_err(token_err)?;
    let identity = sslx::keys::load_identity_file(&a.key)?;
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let listener = std::net::TcpListener::bind(&a.listen).with_context(|| format!("binding {}", a.listen))?;
    let cfg = ServeConfig { node: a.node, identity, keyring, db: a.db.clone(), skew, now: sslx::clock::now_unix };
    eprintln!("sslx: node {} answers out-of-band queries on {}", a.node, listener.local_addr()?);
    let quiet = ctx.quiet;
    let shutdown = std::sync::atomic::AtomicBool::new(false);
    sslx::token::oob::serve(listener, &cfg, &shutdown, &|event| match event {
        ServeEvent::Answered { peer, client, ids } if !quiet => {
            eprintln!("sslx: node {client} ({peer}) asked for {}", ids.join(", "))
        }
        ServeEvent::Answered { .. } => {}
        ServeEvent::CutOff { peer } => {
            eprintln!("sslx: a query from {peer} was cut off after {} s", DIALOGUE_DEADLINE.as_secs())
        }
        ServeEvent::Refused { peer, error } => eprintln!("sslx: a query from {peer} was refused: {error}"),
        // Not logged: their number is the client's to choose.
        ServeEvent::Busy { .. } => {}
    })?;
    Ok(ExitCode::SUCCESS)
}
