//! `sslx-execd`: the daemon of remote execution on a managed host. Parses flags, loads its key
//! table, ACL and audit sinks, and serves each gateway connection on a thread of its own (or
//! the one on stdin, under inetd); `audit verify` checks an audit file.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cli::args::{AuditCommand, ExecdCli, ExecdCommand};
use sslx::execd::audit::AuditRecord;
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
    match &a.command {
        Some(ExecdCommand::Audit(AuditCommand::Verify { files, json })) => {
            let v = sslx::execd::audit::verify_files(files)?;
            if *json {
                println!("{}", serde_json::json!({"records": v.records, "last_hash": v.last_hash}));
            } else {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                println!(
                    "{}: the chain holds: {} records, the last hashes to {}",
                    names.join(", "),
                    v.records,
                    v.last_hash
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        None => serve(a),
    }
}

/// One line of the daemon's log for a connection.
fn log_outcome(peer: &str, r: &sslx::Result<AuditRecord>) {
    match r {
        Ok(o) => log::info!(
            "{} from {} via {peer}: {:?} as {}: {}",
            o.principal,
            if o.from.is_empty() { "-" } else { &o.from },
            o.argv,
            o.local_user.as_deref().unwrap_or("-"),
            match (&o.reason, o.exit, o.signal, &o.error) {
                (Some(why), ..) => format!("denied: {why}"),
                (_, Some(c), ..) =>
                    format!("exit {c}{}", o.stopped.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()),
                (_, _, Some(s), _) =>
                    format!("signal {s}{}", o.stopped.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()),
                (.., Some(e)) => format!("failed: {e}"),
                _ => "ended".to_owned(),
            }
        ),
        Err(e) => log::info!("a connection from {peer}: {e}"),
    }
}

fn serve(a: ExecdCli) -> Result<ExitCode> {
    let (Some(keytab_path), Some(acl_path)) = (&a.keytab, &a.acl) else {
        return Err(sslx::Error::Usage("--keytab FILE and --acl FILE are needed to serve".into()).into());
    };
    // Nothing this process was given beyond its standard streams reaches a command (systemd's
    // Accept=yes also passes the connection as fd 3).
    // SAFETY: close_range only marks descriptors close-on-exec.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    let inetd_stream = a.inetd.then(sslx::execd::host::inetd_stream).transpose()?;
    let _log = sslx::cli::logfile::LineLog::install("sslx-execd", None).context("setting up the log")?;
    let keytab = sslx::kdc::keytab::KeyTable::load(keytab_path)
        .with_context(|| format!("reading the key table {}", keytab_path.display()))?;
    if keytab.kind != sslx::kdc::PrincipalKind::Host {
        return Err(sslx::Error::Usage(format!(
            "{} is the key table of a gateway, not a host's (sslx-cds host add NAME --keytab FILE)",
            keytab_path.display()
        ))
        .into());
    }
    let acl = sslx::execd::acl::Acl::load(acl_path)?;
    let audit =
        sslx::execd::audit::Audit::open(a.audit_file.as_deref(), &a.syslog, &a.syslog_facility, a.syslog_max_line)?;
    // Commands run as its own user when it is not root: none of them may read its memory (the
    // host key is in it) through /proc or ptrace.
    // SAFETY: prctl with these arguments only changes this process's dumpable flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let limits = sslx::session::exec::CommandLimits {
        timeout: (a.timeout > 0).then(|| std::time::Duration::from_secs(a.timeout)),
        max_output: (a.max_output > 0).then_some(a.max_output),
        end_with_caller: true,
    };
    let name = keytab.principal.clone();
    let host = Arc::new(sslx::execd::host::Host {
        keytab,
        acl,
        clock: Arc::new(sslx::clock::SystemClock),
        limits,
        audit,
        audit_required: a.audit_required,
    });
    let admission = sslx::session::admission::Admission::new(sslx::session::admission::Limits {
        max: a.max_at_once.max(1),
        per_source: 8,
        wait: std::time::Duration::from_secs(5),
    });
    if let Some((stream, peer)) = inetd_stream {
        let mut admitted = admission.queue(None).and_then(|q| q.admit()).map_err(sslx::Error::Unavailable)?;
        let r = sslx::execd::host::serve(&host, stream, &peer, &mut admitted, &sslx::crypto::system_rng());
        log_outcome(&peer, &r);
        host.audit.close(std::time::Duration::from_secs(2));
        return Ok(match r {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => ExitCode::from(e.kind().exit_code()),
        });
    }
    let listener = std::net::TcpListener::bind(&a.listen)
        .map_err(|e| sslx::Error::Unavailable(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr()?;
    println!("{}", serde_json::json!({"listen": addr.to_string(), "host": name}));
    eprintln!("sslx-execd: host {name} on {addr}");
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
            let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            let r = sslx::execd::host::serve(&host, stream, &peer, &mut admitted, &sslx::crypto::system_rng());
            log_outcome(&peer, &r);
        });
    }
    Ok(ExitCode::SUCCESS)
}
