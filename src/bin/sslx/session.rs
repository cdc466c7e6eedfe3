//! `sslx dial`, `handshake` and `listen`: sessions with a peer through the CDS relay or directly.

use crate::{session_options, Ctx};
use anyhow::{Context, Result};
use sslx::cli::args::{DialArgs, ListenArgs};
use sslx::session::admission::{Admission, Admitted, Limits};
use std::process::ExitCode;

pub fn dial(ctx: &Ctx, a: DialArgs, handshake_only: bool) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let rng = sslx::crypto::system_rng();
    let opts = sslx::session::endpoint::Options { accept_new_listener: a.yes, ..session_options(&a.session) };
    let (session, conn) = ep.dial(&a.peer, &opts, &rng)?;
    let summary = session.summary.clone();
    if handshake_only {
        // An --exec listener runs its command for this call too: its output is not ours to show.
        sslx::session::io::pump_call(session, conn, std::io::empty(), std::io::sink(), &mut std::io::sink())?;
        ctx.out.handshake(&summary);
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.call_start(&summary, true);
    let mut errors = ctx.out.remote_stderr();
    let (t, exit) = sslx::session::io::pump_call(session, conn, std::io::stdin(), std::io::stdout(), &mut errors)?;
    ctx.out.call_end(&summary.peer, t.sent, t.received, exit);
    // A listener's command: its exit status is ours (128 + N for a signal, as a shell says).
    Ok(exit.map_or(ExitCode::SUCCESS, |e| ExitCode::from(e.exit_code())))
}

pub fn listen(ctx: &Ctx, a: ListenArgs) -> Result<ExitCode> {
    let ep = sslx::session::endpoint::Endpoint::load(&ctx.home, ctx.cds.as_deref())?;
    let allow = sslx::session::allow::AllowList::for_listener(
        &ctx.home,
        &a.allow.names,
        a.allow.allowed_peers.clone(),
        a.allow.allow_any,
        a.exec.is_some(),
    )?
    .map(|list| list.into_fn());
    let mut incoming = incoming_calls(&ep, a.bind.as_deref(), &a.session.service, ctx.out)?;
    let opts = sslx::session::endpoint::Options { allow, ..session_options(&a.session) };
    if a.once {
        let sock = incoming.next().expect("endless")?;
        serve_call(&ep, sock, &opts, a.exec.as_deref(), ctx.out, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The accept loop never waits: a call waits for its slot on its own thread (15 s at most,
    // then it is told the listener is busy), and one source may have only a few calls waiting
    // or in their handshake (each has 10 s to finish it).
    let admission = Admission::new(Limits::new(a.max_calls));
    let exec = a.exec.as_deref();
    let serve = |sock, place| {
        if let Err(e) = serve_call(&ep, sock, &opts, exec, ctx.out, Some(place)) {
            eprintln!("sslx: call failed: {e:#}");
        }
    };
    let bound = a.bind.is_some();
    let on_error = |_: &sslx::Error| {
        if !bound {
            eprintln!("sslx: the hook at the CDS ended; the calls under way finish first");
        }
    };
    incoming.serve_admitted(&admission, &ep.name, serve, on_error).context("the hook at the CDS ended")?;
    Ok(ExitCode::SUCCESS)
}

/// Calls arriving at this participant (`--bind ADDR`, else its hook at the CDS), told to `out`:
/// where it listens, and what happens on the hook.
pub fn incoming_calls(
    ep: &sslx::session::endpoint::Endpoint,
    bind: Option<&str>,
    service: &str,
    out: sslx::cli::report::Output,
) -> Result<sslx::session::endpoint::Incoming> {
    incoming_calls_then(ep, bind, service, out, |_| {})
}

/// As [`incoming_calls`], with `then` hearing each note after it is told.
pub fn incoming_calls_then(
    ep: &sslx::session::endpoint::Endpoint,
    bind: Option<&str>,
    service: &str,
    out: sslx::cli::report::Output,
    then: impl Fn(&sslx::session::endpoint::HookNote) + Send + 'static,
) -> Result<sslx::session::endpoint::Incoming> {
    use sd_notify::NotifyState;
    let svc = service.to_owned();
    let calls = ep.incoming(bind, service, move |note| {
        out.hook_note(&note, &svc);
        tell_service_manager(&note, &svc);
        then(&note);
    })?;
    out.listening(&calls.listening_on, &ep.name);
    sslx::cli::running::register(&ep.home, service, &calls.listening_on, sslx::clock::now_unix());
    // Under systemd (Type=notify, NOTIFY_SOCKET set): ready once calls can reach us.
    let status = format!("taking calls for {} on {}", ep.name, calls.listening_on);
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)]) {
        eprintln!("sslx: telling the service manager we are ready: {e}");
    }
    Ok(calls)
}

/// The hook's drops and returns, as the service's status line (`systemctl status`).
fn tell_service_manager(note: &sslx::session::endpoint::HookNote, service: &str) {
    use sslx::session::endpoint::HookNote;
    let status = match note {
        HookNote::Down { why, retry_in, .. } => {
            format!("off hook at the CDS ({why}); on hook again in {} s", retry_in.as_secs())
        }
        HookNote::Back => format!("back on hook at the CDS (service {service})"),
        _ => return,
    };
    // One line: a newline would start another assignment to the service manager.
    let status = status.replace(['\n', '\r'], " ");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&status)]);
}

/// One call: the handshake, then the stream to stdout or through a command.
pub fn serve_call(
    ep: &sslx::session::endpoint::Endpoint,
    sock: std::net::TcpStream,
    opts: &sslx::session::endpoint::Options,
    exec: Option<&str>,
    out: sslx::cli::report::Output,
    mut place: Option<Admitted>,
) -> Result<()> {
    let rng = sslx::crypto::system_rng();
    let accepted = ep.accept(sock, opts, &rng);
    if let Some(p) = place.as_mut() {
        p.handshake_done();
    }
    let (session, conn) = accepted?;
    let peer = session.summary.peer.clone();
    out.call_start(&session.summary, false);
    let (t, exit) = match exec {
        None => (sslx::session::io::pump(session, conn, std::io::empty(), std::io::stdout())?, None),
        Some(cmd) => {
            let ran = sslx::session::exec::run(session, conn, cmd)?;
            (ran.transfer, Some(sslx::session::msgs::RemoteExit::of(ran.status)))
        }
    };
    out.call_end(&peer, t.sent, t.received, exit);
    Ok(())
}
