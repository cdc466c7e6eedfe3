//! `sslx-execd`: the daemon of remote execution on a managed host. Parses flags, loads its key
//! table and ACL, binds, and serves each gateway connection on a thread of its own.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::ExecdCli;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = ExecdCli::parse();
    match run(cli) {
        Ok(c) => c,
        Err(e) => sslx::cli::exit::report("sslx-execd", &e),
    }
}

fn run(a: ExecdCli) -> Result<ExitCode> {
    let _log = sslx::cli::logfile::LineLog::install("sslx-execd", None).context("setting up the log")?;
    let keytab = sslx::kdc::keytab::KeyTable::load(&a.keytab)
        .with_context(|| format!("reading the key table {}", a.keytab.display()))?;
    if keytab.kind != sslx::kdc::PrincipalKind::Host {
        return Err(sslx::Error::Usage(format!(
            "{} is the key table of a gateway, not a host's (sslx-cds host add NAME --keytab FILE)",
            a.keytab.display()
        ))
        .into());
    }
    let acl = sslx::execd::acl::Acl::load(&a.acl)?;
    // Commands run as its own user when it is not root: none of them may read its memory (the
    // host key is in it) through /proc or ptrace.
    // SAFETY: prctl with these arguments only changes this process's dumpable flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let listener = std::net::TcpListener::bind(&a.listen)
        .map_err(|e| sslx::Error::Unavailable(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    let name = keytab.principal.clone();
    println!("{}", serde_json::json!({"listen": addr.to_string(), "host": name}));
    eprintln!("sslx-execd: host {name} on {addr}");
    let limits = sslx::session::exec::CommandLimits {
        timeout: (a.timeout > 0).then(|| std::time::Duration::from_secs(a.timeout)),
        max_output: (a.max_output > 0).then_some(a.max_output),
    };
    let host = Arc::new(sslx::execd::host::Host { keytab, acl, clock: Arc::new(sslx::clock::SystemClock), limits });
    let admission = sslx::session::admission::Admission::new(sslx::session::admission::Limits {
        max: a.max_at_once.max(1),
        per_source: 8,
        wait: std::time::Duration::from_secs(5),
    });
    let refuse = |mut s: std::net::TcpStream, why: String| {
        use sslx::wire::Msg;
        let r = sslx::wire::Refused {
            code: 19,
            server_time: sslx::clock::now_unix(),
            reason: format!("sslx-execd is busy: {why}"),
        };
        if let Ok(f) = r.to_frame() {
            let _ = std::io::Write::write_all(&mut s, &f);
        }
    };
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let peer = stream.peer_addr().ok();
        let queued = match admission.queue(peer.map(|p| p.ip())) {
            Ok(q) => q,
            Err(why) => {
                refuse(stream, why);
                continue;
            }
        };
        let host = host.clone();
        std::thread::spawn(move || {
            let mut admitted = match queued.admit() {
                Ok(a) => a,
                Err(why) => return refuse(stream, why),
            };
            let peer = peer.map(|p| p.to_string()).unwrap_or_default();
            let rng = sslx::crypto::system_rng();
            match sslx::execd::host::serve(&host, stream, &mut admitted, &rng) {
                Ok(o) => log::info!(
                    "{} from {} via {peer}: {:?} as {}: {}{}",
                    o.principal,
                    if o.client.is_empty() { "-" } else { &o.client },
                    o.argv,
                    o.local_user.as_deref().unwrap_or("-"),
                    o.decision,
                    o.exit.map(|s| format!(", {s}")).unwrap_or_default()
                ),
                Err(e) => log::info!("a connection from {peer}: {e}"),
            }
        });
    }
    Ok(ExitCode::SUCCESS)
}
