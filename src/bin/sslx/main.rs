//! `sslx`: parse, call the library, print. Messages on stderr, data on stdout. One file per
//! family of commands: enrollment here, `session.rs` (dial, listen), `courier.rs` (pair, send,
//! recv, log), `token.rs`.

mod courier;
mod session;
mod token;

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::*;
use sslx::cli::report::Output;
use sslx::keys::{Home, Identity};
use sslx::vsu::client::{self as vsu, ConfirmResult};
use std::io::Write;
use std::process::ExitCode;

pub struct Ctx {
    pub home: Home,
    pub cds: Option<String>,
    pub cds_http: Option<String>,
    pub out: Output,
}

impl Ctx {
    pub fn say(&self, msg: impl AsRef<str>) {
        self.out.say(msg)
    }
    pub fn print_json(&self, v: serde_json::Value) {
        self.out.json(v)
    }
}

fn main() -> ExitCode {
    let cli = SslxCli::parse();
    // dial and listen carry a stream on stdout, and so does `send --out -` (the bundle): their
    // --json events go to stderr.
    let streams = matches!(&cli.command, SslxCommand::Dial(_) | SslxCommand::Listen(_))
        || matches!(&cli.command, SslxCommand::Send(s) if s.out.as_deref() == Some("-"));
    let out = Output { json: cli.global.json, quiet: cli.global.quiet, json_on_stderr: streams };
    match run(cli, out) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let (code, hint) = sslx::cli::exit::classify(&e);
            out.error(&e, hint.as_deref());
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

fn run(cli: SslxCli, out: Output) -> Result<ExitCode> {
    let g = cli.global;
    let ctx = Ctx { home: Home::new(g.home.unwrap_or_else(Home::default_dir)), cds: g.cds, cds_http: g.cds_http, out };
    // A home without an identity (a wrong --home, a machine never set up) is the first thing
    // to say, before any other advice and before anything is created in it.
    // What outlives an identity can still be listed and cleaned up: the pairs, the logs.
    let kept_state = match &cli.command {
        SslxCommand::Pairs | SslxCommand::Unpair(_) => ctx.home.path("pairs").is_dir(),
        SslxCommand::Log(_) => ctx.home.path("courier.db").is_file(),
        _ => false,
    };
    let needs_identity = !matches!(
        cli.command,
        SslxCommand::Keygen(_)
            | SslxCommand::Standing(_)
            | SslxCommand::Token(_)
            | SslxCommand::Login(_)
            | SslxCommand::Logout
            | SslxCommand::Exec(_)
    );
    if needs_identity && !kept_state && !ctx.home.has_identity() {
        ctx.home.load_identity()?;
    }
    match cli.command {
        SslxCommand::Keygen(a) => keygen(&ctx, a),
        SslxCommand::Vsu(a) if a.confirm => confirm(&ctx),
        SslxCommand::Vsu(a) if a.renew => renew(&ctx),
        SslxCommand::Vsu(a) => open(&ctx, a),
        SslxCommand::AssembleKey(a) => assemble(&ctx, a),
        SslxCommand::Standing(a) => standing(&ctx, a),
        SslxCommand::Status => status(&ctx),
        SslxCommand::Pairs => pairs(&ctx),
        SslxCommand::Unpair(a) => unpair(&ctx, a),
        SslxCommand::Login(a) => login(&ctx, a),
        SslxCommand::Logout => logout(&ctx),
        SslxCommand::Exec(a) => exec(&ctx, a),
        SslxCommand::Listen(a) => session::listen(&ctx, a),
        SslxCommand::Dial(a) => session::dial(&ctx, a, false),
        SslxCommand::Handshake(a) => session::dial(&ctx, a, true),
        SslxCommand::Pair(a) => courier::pair(&ctx, a),
        SslxCommand::Send(a) => courier::send(&ctx, a),
        SslxCommand::Recv(a) => courier::recv(&ctx, a),
        SslxCommand::Log(a) => courier::log(&ctx, a),
        SslxCommand::Token(TokenCommand::Mint(a)) => token::token_mint(&ctx, a),
        SslxCommand::Token(TokenCommand::Verify(a)) => token::token_verify(&ctx, a),
        SslxCommand::Token(TokenCommand::Resolve(a)) => token::token_resolve(&ctx, a),
        SslxCommand::Token(TokenCommand::Serve(a)) => token::token_serve(&ctx, a),
        SslxCommand::Token(TokenCommand::Store(a)) => token::token_store(&ctx, a),
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
            let old = ctx.home.replace_identity(&id, a.force)?;
            ctx.say(format!("identity of {} written to {} (0600)", id.name, ctx.home.identity_path().display()));
            if let Some(old) = &old {
                report_replaced(ctx, old);
            }
        }
    }
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "name": id.name, "public_key": id.public().to_line()}));
    } else {
        println!("{public}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `keygen --force` on a machine in use: what the new identity changes for its CDS key and its
/// pairs, and how to enroll again.
fn report_replaced(ctx: &Ctx, old: &std::path::Path) {
    ctx.say(format!("the old identity is kept as {} (0600)", old.display()));
    if ctx.home.path("cdsk").exists() {
        ctx.say(format!(
            "the CDS key here still works (it does not depend on the identity), but the CDS (and sslx standing) \
             has the old public key for this name until you enroll again, proving the old key:\n  sslx vsu --email \
             ADDR --oob URI --prove-with {}",
            old.display()
        ));
    }
    let pairs = sslx::courier::paired_peers(&ctx.home).len();
    if pairs > 0 {
        ctx.say(format!("the {pairs} pair(s) are kept: pair keys do not depend on the identity"));
    }
}

fn open(ctx: &Ctx, a: VsuArgs) -> Result<ExitCode> {
    let cds = vsu::cds_addr(&ctx.home, ctx.cds.as_deref())?;
    let old = a.prove_with.as_deref().map(sslx::keys::load_identity_file).transpose()?;
    let (email, oob) = (a.email.expect("clap requires it"), a.oob.expect("clap requires it"));
    let p = vsu::open(&ctx.home, &cds, &email, &oob, old.as_ref(), sslx::clock::now_unix())?;
    if let Some(out) = a.out.as_deref() {
        if out == "-" {
            print!("{}", p.reply_a);
        } else {
            sslx::keys::write_atomic(std::path::Path::new(out), p.reply_a.as_bytes(), 0o644)?;
        }
    }
    if ctx.out.json {
        ctx.print_json(
            serde_json::json!({"ok": true, "request_id": p.request_id, "name": p.name, "email": p.email, "oob": p.oob,
            "expires": sslx::cli::fmt_time(p.expires), "cds_http": p.cds_http}),
        );
    } else {
        ctx.say(format!(
            "open request {} sent to the CDS at {cds}: reply A kept in {}\n\
             reply B is on its way to {email}, the PIN to {oob}; the request expires {}.\n\
             next: sslx assemble-key --reply-b FILE (it asks for the PIN; or SSLX_PIN / --pin-file), then sslx vsu --confirm",
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
    let (cdsk, rid) = vsu::assemble(&ctx.home, &reply_b, &pin, reply_a, sslx::clock::now_unix())?;
    if a.print {
        println!("{}", sslx::keys::encode_line(sslx::keys::LineKind::Cdsk, cdsk.expose()));
        return Ok(ExitCode::SUCCESS);
    }
    vsu::install_assembled(&ctx.home, &cdsk, &rid)?;
    if ctx.out.json {
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
            if ctx.out.json {
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
            if ctx.out.json {
                ctx.print_json(serde_json::json!({"ok": false, "error": "verify_failed", "status": "denied", "reason": reason, "attempts_left": attempts_left}));
            }
            eprintln!("sslx: error: denied by the CDS: {reason}\nhint: {what}");
            Ok(ExitCode::from(sslx::ErrorKind::VerifyFailed.exit_code()))
        }
    }
}

fn renew(ctx: &Ctx) -> Result<ExitCode> {
    let rng = sslx::crypto::system_rng();
    let r = vsu::renew(&ctx.home, ctx.cds.as_deref(), &rng)?;
    let s = &r.state;
    let renewed_at = s.renewed_at.unwrap_or(s.confirmed_at);
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "name": s.name, "status": "renewed",
            "renewed_at": sslx::cli::fmt_time(renewed_at), "renewed_at_unix": renewed_at,
            "key_expires": sslx::cli::fmt_time(s.key_expires), "key_expires_unix": s.key_expires,
            "finished_earlier": r.finished_earlier}));
    }
    if r.finished_earlier {
        ctx.say("finished the renewal an earlier run began (its answer had not arrived)");
    }
    ctx.say(format!(
        "renewed: the new CDS key of {} is installed and valid until {}; the old one no longer works",
        s.name,
        sslx::cli::fmt_time(s.key_expires)
    ));
    Ok(ExitCode::SUCCESS)
}

fn standing(ctx: &Ctx, a: StandingArgs) -> Result<ExitCode> {
    let base = vsu::cds_http(&ctx.home, ctx.cds_http.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let s = rt.block_on(vsu::fetch_standing(&base, &a.name))?;
    if ctx.out.json {
        // As every one-object answer: `ok` first, then the CDS's standing document.
        let mut v = serde_json::json!({"ok": true});
        if let (Some(o), serde_json::Value::Object(doc)) = (v.as_object_mut(), serde_json::to_value(&s)?) {
            o.extend(doc);
        }
        println!("{v}");
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
        ("key renewed", s.key_renewed.clone().unwrap_or_else(dash)),
        ("key life", s.key_life_days.map(|d| format!("{d} days")).unwrap_or_else(dash)),
    ];
    let mut out = std::io::stdout().lock();
    for (k, v) in rows {
        writeln!(out, "{k:<12} {v}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A CDS key expiring within this many seconds is warned about.
const RENEW_WARNING: u64 = 30 * 86400;

fn status(ctx: &Ctx) -> Result<ExitCode> {
    let id = ctx.home.load_identity()?;
    let state: Option<sslx::enrollment::CdsState> = ctx.home.read_json(sslx::enrollment::CDS_STATE_FILE)?;
    let pending = ctx.home.path(sslx::enrollment::PENDING_FILE).exists();
    let renewing = ctx.home.path(sslx::enrollment::RENEWING_FILE).exists();
    // A damaged credentials file is not status's business to fail on.
    let login = sslx::remote::Credentials::load(&ctx.home).ok().flatten();
    let now = sslx::cli::now_unix();
    let peers = sslx::keys::paired_peers(&ctx.home);
    let queued = sslx::courier::log::CourierLog::open(&ctx.home)
        .and_then(|l| l.list(Some(sslx::courier::log::Direction::Sent)))
        .map(|es| es.iter().filter(|e| e.result == sslx::courier::log::Outcome::Queued).count())
        .unwrap_or(0);
    let expiring = state.as_ref().is_some_and(|s| s.key_expires.saturating_sub(now) < RENEW_WARNING);
    // The hooks (and --bind listeners) up for this home: recv, listen, pair --accept running.
    let up = sslx::cli::running::listening(&ctx.home);
    let standings = peer_standings(state.as_ref().map(|s| s.cds_http.as_str()), &peers);
    if ctx.out.json {
        let up: Vec<_> = up
            .iter()
            .map(|l| {
                serde_json::json!({"service": l.service, "pid": l.pid, "on": l.on,
                    "since": sslx::cli::fmt_time(l.since), "since_unix": l.since})
            })
            .collect();
        let cds = state.as_ref().map(|s| {
            serde_json::json!({"address": s.cds, "http": s.cds_http, "confirmed_at": sslx::cli::fmt_time(s.confirmed_at),
                "key_expires": sslx::cli::fmt_time(s.key_expires), "key_expires_unix": s.key_expires,
                "expired": s.key_expires <= now, "renew_soon": expiring,
                "renewed_at": s.renewed_at.map(sslx::cli::fmt_time), "renewed_at_unix": s.renewed_at,
                "renewal_unfinished": renewing})
        });
        ctx.print_json(serde_json::json!({"ok": true, "name": id.name, "public_key": id.public().to_line(),
            "home": ctx.home.dir, "cds": cds, "vsu_pending": pending, "pairs": peers, "queued_in_mailboxes": queued,
            "listening": up, "peers": standings.iter().map(|(p, s)| serde_json::json!({"peer": p, "standing": s})).collect::<Vec<_>>(),
            "login": login.as_ref().map(|c| serde_json::json!({"user": c.cache.user, "gateway": c.gateway,
                "expires": sslx::cli::fmt_time(c.cache.expires), "expires_unix": c.cache.expires,
                "expired": c.cache.expires <= now}))}));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<12} {}", "name", id.name)?;
    writeln!(out, "{:<12} {}", "public key", id.public().to_line())?;
    writeln!(out, "{:<12} {}", "home", ctx.home.dir.display())?;
    match &state {
        Some(s) => {
            writeln!(out, "{:<12} {} (standing on {})", "CDS", s.cds, s.cds_http)?;
            let left = s.key_expires.saturating_sub(now) / 86400;
            let when = if s.key_expires <= now { "expired".to_owned() } else { format!("in {left} days") };
            let renewed = s.renewed_at.map(|t| format!(", renewed {}", sslx::cli::fmt_time(t))).unwrap_or_default();
            writeln!(
                out,
                "{:<12} confirmed {}{renewed}, expires {} ({when})",
                "CDS key",
                sslx::cli::fmt_time(s.confirmed_at),
                sslx::cli::fmt_time(s.key_expires)
            )?;
            if renewing {
                writeln!(out, "{:<12} a renewal is not finished: run sslx vsu --renew to finish it", "")?;
            }
        }
        None if pending => writeln!(
            out,
            "{:<12} not enrolled yet: a VSU is under way (sslx assemble-key, then sslx vsu --confirm)",
            "CDS"
        )?,
        None => writeln!(out, "{:<12} not enrolled (sslx vsu --email ADDR --oob URI)", "CDS")?,
    }
    let shown: Vec<String> = standings.iter().map(|(p, s)| format!("{p} ({s})")).collect();
    writeln!(
        out,
        "{:<12} {}",
        "pairs",
        if peers.is_empty() { "none (sslx pair PEER)".to_owned() } else { shown.join(", ") }
    )?;
    if queued > 0 {
        writeln!(out, "{:<12} {queued} sent bundle(s) wait in peers' mailboxes (sslx log --sent)", "queued")?;
    }
    let up: Vec<String> = up
        .iter()
        .map(|l| {
            let on = l.on.strip_suffix(&format!(" (service {})", l.service)).unwrap_or(&l.on);
            format!("{} ({on}, pid {}, since {})", l.service, l.pid, sslx::cli::fmt_time(l.since))
        })
        .collect();
    let up =
        if up.is_empty() { "nothing (sslx recv, sslx listen, sslx pair --accept)".to_owned() } else { up.join("; ") };
    writeln!(out, "{:<12} {up}", "listening")?;
    if let Some(c) = &login {
        let state = if c.cache.expires <= now { "expired" } else { "until" };
        writeln!(
            out,
            "{:<12} {} at {} ({state} {})",
            "login",
            c.cache.user,
            c.gateway,
            sslx::cli::fmt_time(c.cache.expires)
        )?;
    }
    drop(out);
    if let Some(s) = state.as_ref().filter(|_| expiring) {
        eprintln!(
            "sslx: warning: the CDS key {}",
            if s.key_expires <= now {
                format!(
                    "expired {}: enroll again (sslx vsu --email ADDR --oob URI, see sslx-vsu(1))",
                    sslx::cli::fmt_time(s.key_expires)
                )
            } else {
                format!("expires {}: renew it now (sslx vsu --renew)", sslx::cli::fmt_time(s.key_expires))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Each peer's standing at the CDS (`confirmed`, `expired`, `pending`, `not enrolled`), or
/// `unknown` when the CDS cannot be asked (2 s at most for each, none after one that failed).
fn peer_standings(cds_http: Option<&str>, peers: &[String]) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
    let mut reachable = cds_http.is_some() && rt.is_some();
    peers
        .iter()
        .map(|p| {
            let standing = match (reachable, cds_http, &rt) {
                (true, Some(base), Some(rt)) => {
                    let asked = rt.block_on(async {
                        tokio::time::timeout(std::time::Duration::from_secs(2), vsu::fetch_standing(base, p)).await
                    });
                    match asked {
                        Ok(Ok(s)) => s.status,
                        Ok(Err(sslx::Error::NotFound(_))) => "not enrolled at the CDS".to_owned(),
                        _ => {
                            reachable = false;
                            "unknown: the CDS did not answer".to_owned()
                        }
                    }
                }
                _ => "unknown".to_owned(),
            };
            (p.clone(), standing)
        })
        .collect()
}

fn pairs(ctx: &Ctx) -> Result<ExitCode> {
    let peers = sslx::keys::paired_peers(&ctx.home);
    let since = |p: &str| sslx::keys::paired_since(&ctx.home, p).map(sslx::cli::fmt_time);
    if ctx.out.json {
        let list: Vec<_> = peers.iter().map(|p| serde_json::json!({"peer": p, "since": since(p)})).collect();
        ctx.print_json(serde_json::json!({"ok": true, "pairs": list}));
        return Ok(ExitCode::SUCCESS);
    }
    if peers.is_empty() {
        ctx.say("sslx: paired with nobody yet: sslx pair PEER (while PEER runs sslx pair --accept)");
    }
    let mut out = std::io::stdout().lock();
    for p in &peers {
        writeln!(out, "{p:<24} since {}", since(p).unwrap_or_else(|| "-".into()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `sslx login`: the gateway logs the user in at the KDC; its credentials cache is kept here.
fn login(ctx: &Ctx, a: LoginArgs) -> Result<ExitCode> {
    sslx::keys::check_name(&a.user)?;
    // --password-file, when given, wins over SSLX_PASSWORD.
    let env = std::env::var("SSLX_PASSWORD").ok().filter(|_| a.password_file.is_none());
    let password = zeroize::Zeroizing::new(sslx::cli::input::secret(
        env,
        a.password_file.as_deref(),
        &format!("password for {}: ", a.user),
        "SSLX_PASSWORD",
    )?);
    let pin = a.gateway_fingerprint.as_deref().map(sslx::remote::tls::parse_fingerprint).transpose()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let cache = rt.block_on(sslx::remote::login(&a.gateway, pin.as_deref(), &a.user, &password))?;
    let creds =
        sslx::remote::Credentials { gateway: a.gateway.trim_end_matches('/').to_owned(), fingerprint: pin, cache };
    creds.save(&ctx.home)?;
    let expires = creds.cache.expires;
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "user": creds.cache.user, "gateway": creds.gateway,
            "expires": sslx::cli::fmt_time(expires), "expires_unix": expires}));
    }
    ctx.say(format!(
        "logged in as {} at {}; the credentials are kept in {} (0600) until {}",
        creds.cache.user,
        creds.gateway,
        ctx.home.path(sslx::remote::CREDENTIALS_FILE).display(),
        sslx::cli::fmt_time(expires)
    ));
    Ok(ExitCode::SUCCESS)
}

/// `sslx exec HOST -- COMMAND…`: through the gateway of `sslx login`; exits with the command's
/// status.
fn exec(ctx: &Ctx, a: ExecArgs) -> Result<ExitCode> {
    use base64::Engine;
    use sslx::remote::ExecEvent;
    use std::io::{IsTerminal, Read};
    sslx::keys::check_name(&a.host)?;
    let mut creds = sslx::remote::Credentials::load(&ctx.home)?
        .ok_or_else(|| sslx::Error::NotFound("not logged in here: sslx login --gateway URL USER first".into()))?;
    if let Some(g) = &a.gateway {
        if !g.starts_with("https://") {
            return Err(sslx::Error::Usage(format!("{g:?}: the gateway is reached over HTTPS only")).into());
        }
        creds.gateway = g.trim_end_matches('/').to_owned();
        creds.fingerprint = a.gateway_fingerprint.as_deref().map(sslx::remote::tls::parse_fingerprint).transpose()?;
    }
    let now = sslx::cli::now_unix();
    if creds.cache.expires <= now {
        return Err(sslx::Error::Expired {
            what: format!("the login of {} has expired: sslx login again", creds.cache.user),
            now: sslx::cli::fmt_time(now),
            edge: format!("expired {}", sslx::cli::fmt_time(creds.cache.expires)),
        }
        .into());
    }
    let mut stdin = Vec::new();
    if !a.no_stdin && !std::io::stdin().is_terminal() {
        std::io::stdin().lock().take((1 << 20) + 1).read_to_end(&mut stdin)?;
        if stdin.len() > 1 << 20 {
            return Err(sslx::Error::Usage("stdin is over 1 MiB: sslx exec carries at most that".into()).into());
        }
    }
    let req = sslx::remote::ExecRequest {
        credentials_cache: creds.cache.to_text()?.to_string(),
        host: a.host.clone(),
        argv: a.command.clone(),
        as_user: a.as_user.clone().unwrap_or_default(),
        stdin: base64::engine::general_purpose::STANDARD.encode(&stdin),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let b64 = |d: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(d)
            .map_err(|_| sslx::Error::Other("the gateway sent output that is not base64".into()))
    };
    let json = ctx.out.json;
    let end = rt.block_on(sslx::remote::exec(&creds, &req, |ev| {
        if json {
            println!("{}", serde_json::to_string(ev).expect("an event serializes"));
            return Ok(());
        }
        match ev {
            ExecEvent::Stdout { data } => {
                let mut o = std::io::stdout().lock();
                o.write_all(&b64(data)?).and_then(|()| o.flush()).map_err(|_| sslx::Error::OutputClosed)?;
            }
            ExecEvent::Stderr { data } => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&b64(data)?).and_then(|()| e.flush());
            }
            _ => {}
        }
        Ok(())
    }))?;
    Ok(match end {
        ExecEvent::Exit { code } => ExitCode::from(code),
        ExecEvent::Signal { signal } => ExitCode::from(128u8.saturating_add(signal)),
        _ => ExitCode::from(1),
    })
}

/// `sslx logout`: forgets the credentials cache.
fn logout(ctx: &Ctx) -> Result<ExitCode> {
    let p = ctx.home.path(sslx::remote::CREDENTIALS_FILE);
    let had = p.exists();
    ctx.home.remove(sslx::remote::CREDENTIALS_FILE)?;
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "logged_out": had}));
    }
    ctx.say(if had { "logged out: the credentials cache is removed" } else { "nobody was logged in here" });
    Ok(ExitCode::SUCCESS)
}

fn unpair(ctx: &Ctx, a: UnpairArgs) -> Result<ExitCode> {
    sslx::keys::check_name(&a.peer)?;
    if !sslx::keys::remove_pair_key(&ctx.home, &a.peer)? {
        return Err(sslx::Error::NotFound(format!(
            "not paired with {}: nothing to forget (sslx pairs lists the pairs)",
            a.peer
        ))
        .into());
    }
    let me = ctx.home.load_identity().map(|i| i.name).unwrap_or_else(|_| "this machine".into());
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "peer": a.peer, "unpaired": true}));
    }
    ctx.say(format!(
        "sslx: unpaired {0}: its pair key is gone from this home; {0} keeps its copy until it runs sslx unpair {me}",
        a.peer
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn session_options(f: &SessionFlags) -> sslx::session::endpoint::Options {
    sslx::session::endpoint::Options {
        forward_secrecy: !f.no_fs,
        resume: !f.no_resume,
        service: f.service.clone(),
        ..Default::default()
    }
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    sslx::Error::Usage(msg.into()).into()
}
