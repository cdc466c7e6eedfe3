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
        Err(e) => {
            let (code, hint) = sslx::cli::exit::classify(&e);
            eprintln!("sslx-execd: error: {e:#}");
            if let Some(h) = hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(code)
        }
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
    let listener = std::net::TcpListener::bind(&a.listen)
        .map_err(|e| sslx::Error::Unavailable(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    let name = keytab.principal.clone();
    println!("{}", serde_json::json!({"listen": addr.to_string(), "host": name}));
    eprintln!("sslx-execd: host {name} on {addr}");
    let host = Arc::new(sslx::execd::host::Host { keytab, acl, clock: Arc::new(sslx::clock::SystemClock) });
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        use std::sync::atomic::Ordering::SeqCst;
        if running.fetch_add(1, SeqCst) >= a.max_at_once.max(1) {
            running.fetch_sub(1, SeqCst);
            continue;
        }
        let (host, running) = (host.clone(), running.clone());
        std::thread::spawn(move || {
            let peer = stream.peer_addr().map(|p| p.to_string()).unwrap_or_default();
            let rng = sslx::crypto::system_rng();
            match sslx::execd::host::serve(&host, stream, &rng) {
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
            running.fetch_sub(1, SeqCst);
        });
    }
    Ok(ExitCode::SUCCESS)
}
