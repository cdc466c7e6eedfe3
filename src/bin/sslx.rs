//! `sslx`: parse, call the library, print. Messages on stderr, data on stdout.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::*;
use sslx::keys::{Home, Identity};
use sslx::vsu::client::{self as vsu, ConfirmResult};
use std::io::Write;
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
                    serde_json::json!({"ok": false, "error": kind, "message": format!("{e:#}"), "hint": hint})
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
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
            if ctx.home.has_identity() {
                if !a.force {
                    return Err(sslx::Error::from(sslx::keys::KeyError::IdentityExists(
                        ctx.home.dir.display().to_string(),
                    ))
                    .into());
                }
                std::fs::rename(ctx.home.identity_path(), ctx.home.path("identity.key.old"))
                    .context("keeping the old identity")?;
                ctx.say(format!("the old identity is kept as {}", ctx.home.path("identity.key.old").display()));
            }
            ctx.home.save_identity(&id)?;
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
    let (session, conn) = ep.dial(&a.peer, &session_options(&a.session), &rng)?;
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
    let ep = std::sync::Arc::new(sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?);
    let rng = sslx::crypto::system_rng();
    // Calls arrive from a socket we bound, or as rings on our hook at the CDS.
    let mut incoming: Box<dyn Iterator<Item = Result<std::net::TcpStream>>> = match a.bind.as_deref() {
        Some(bind) => {
            let listener = std::net::TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
            eprintln!("sslx: listening on {} as {}", listener.local_addr()?, ep.name);
            Box::new(std::iter::from_fn(move || Some(listener.accept().map(|(s, _)| s).map_err(anyhow::Error::from))))
        }
        None => {
            let mut hook = sslx::relay::client::on_hook(&ep.cds, &ep.name, &ep.cdsk, &rng)?;
            eprintln!("sslx: listening on hook at the CDS {} as {}", ep.cds, ep.name);
            let quiet = ctx.quiet;
            Box::new(std::iter::from_fn(move || {
                let rng = sslx::crypto::system_rng();
                loop {
                    match hook.next_event() {
                        Err(e) => return Some(Err(e.into())),
                        Ok(sslx::relay::client::HookEvent::Ticket { caller, .. }) => {
                            if !quiet {
                                eprintln!("sslx: the CDS granted {caller} a session with us");
                            }
                        }
                        Ok(sslx::relay::client::HookEvent::Ring { call_id, caller }) => {
                            if !quiet {
                                eprintln!("sslx: ring from {caller}");
                            }
                            return Some(hook.answer(&call_id, &rng).map_err(anyhow::Error::from));
                        }
                    }
                }
            }))
        }
    };
    let opts = session_options(&a.session);
    if a.once {
        let sock = incoming.next().expect("endless")?;
        serve_call(&ep, sock, &opts, a.exec.as_deref(), ctx.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    let slots = std::sync::Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
    let max = a.max_calls.max(1);
    for sock in incoming {
        let sock = match sock {
            Ok(s) => s,
            // The hook is gone (the CDS stopped): nothing more will ring.
            Err(e) if a.bind.is_none() => return Err(e.context("the hook at the CDS ended")),
            Err(_) => continue,
        };
        {
            let (count, cv) = &*slots;
            let mut n = count.lock().unwrap();
            while *n >= max {
                n = cv.wait(n).unwrap();
            }
            *n += 1;
        }
        let (ep, opts, exec, quiet, slots) = (ep.clone(), opts.clone(), a.exec.clone(), ctx.quiet, slots.clone());
        std::thread::spawn(move || {
            if let Err(e) = serve_call(&ep, sock, &opts, exec.as_deref(), quiet) {
                eprintln!("sslx: call failed: {e:#}");
            }
            let (count, cv) = &*slots;
            *count.lock().unwrap() -= 1;
            cv.notify_one();
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// One call: the handshake, then the stream to stdout or through a command.
fn serve_call(
    ep: &sslx::session::endpoint::Endpoint,
    sock: std::net::TcpStream,
    opts: &sslx::session::endpoint::Options,
    exec: Option<&str>,
    quiet: bool,
) -> Result<()> {
    let rng = sslx::crypto::system_rng();
    let (session, conn) = ep.accept(sock, opts, &rng)?;
    if !quiet {
        eprintln!("sslx: call from {}", describe(&session.summary));
    }
    let t = match exec {
        None => sslx::session::io::pump(session, conn, std::io::empty(), std::io::stdout())?,
        Some(cmd) => {
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("SSLX_PEER", &session.summary.peer)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .with_context(|| format!("starting --exec {cmd:?}"))?;
            let (stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
            let t = sslx::session::io::pump(session, conn, stdout, stdin);
            let status = child.wait()?;
            let t = t?;
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
