//! `sslx-gateway`: the gateway of remote execution. Parses flags, loads its key table and
//! certificate, binds, serves until stopped.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::GatewayCli;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = GatewayCli::parse();
    match run(cli) {
        Ok(c) => c,
        Err(e) => sslx::cli::exit::report("sslx-gateway", &e),
    }
}

fn run(a: GatewayCli) -> Result<ExitCode> {
    let _log = sslx::cli::logfile::LineLog::install("sslx-gateway", None).context("setting up the log")?;
    let keytab = sslx::kdc::keytab::KeyTable::load(&a.keytab)
        .with_context(|| format!("reading the key table {}", a.keytab.display()))?;
    if keytab.kind != sslx::kdc::PrincipalKind::Gateway {
        return Err(sslx::Error::Usage(format!(
            "{} is the key table of a host, not a gateway's (sslx-cds gateway add NAME --keytab FILE)",
            a.keytab.display()
        ))
        .into());
    }
    let tls = match (&a.cert, &a.key, a.dev) {
        (Some(c), Some(k), _) => sslx::gateway::tls::from_files(c, k)?,
        (None, None, true) => sslx::gateway::tls::self_signed()?,
        _ => {
            return Err(sslx::Error::Usage(
                "give --cert FILE --key FILE, or --dev for a self-signed certificate".into(),
            )
            .into())
        }
    };
    let mut hosts = std::collections::HashMap::new();
    for h in &a.hosts {
        let (name, addr) = h
            .split_once('=')
            .filter(|(n, a)| sslx::keys::check_name(n).is_ok() && !a.is_empty())
            .ok_or_else(|| sslx::Error::Usage(format!("--host {h:?}: give NAME=HOST:PORT")))?;
        hosts.insert(name.to_owned(), addr.to_owned());
    }
    let rng = sslx::crypto::system_rng();
    let web = match (&a.web_key, a.dev) {
        (Some(path), _) => {
            let (keys, made) = sslx::gateway::web::WebKeys::load_or_create(path, &rng)?;
            if made {
                eprintln!(
                    "sslx-gateway: made a new web key in {} (0600): give every gateway behind this name the same file",
                    path.display()
                );
            }
            Some(keys)
        }
        (None, true) => Some(sslx::gateway::web::WebKeys::derive(&sslx::crypto::Secret::random(&rng))),
        (None, false) => None,
    }
    .map(|keys| sslx::gateway::web::Web { keys, max_output: a.web_max_output.max(1) });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .map_err(|e| sslx::Error::Unavailable(format!("cannot listen on {}: {e}", a.listen)))?;
        let addr = listener.local_addr()?;
        let gw = Arc::new(sslx::gateway::Gateway {
            cds: a.cds.clone(),
            keytab,
            logins: tokio::sync::Semaphore::new(a.logins_at_once.max(1)),
            commands: Arc::new(tokio::sync::Semaphore::new(sslx::gateway::COMMANDS_AT_ONCE)),
            min_argon2_memory: a.min_argon2_memory,
            hosts,
            web,
            login_rate: Default::default(),
        });
        println!("{}", serde_json::json!({"listen": format!("https://{addr}"), "fingerprint": tls.fingerprint}));
        eprintln!(
            "sslx-gateway: gateway {} on https://{addr} for the KDC at {}; certificate {}",
            gw.keytab.principal, a.cds, tls.fingerprint
        );
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            let _ = stop_tx.send(true);
        });
        sslx::gateway::serve(listener, tls.config, sslx::gateway::router(gw), a.per_source.max(1), stop).await;
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}
