//! Memory of a CDS with many participants on hook: enrolls N participants straight into a
//! database (through the registrar), starts the real `sslx-cds` on it, puts all N on hook over
//! loopback, and reads the CDS's resident memory. Only under `cargo bench` (N = 10,000 by
//! default, SSLX_HOOKS to change); `cargo test` just checks that it builds.

#[path = "../tests/common/bulk.rs"]
mod bulk;
use std::io::BufRead;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("relay_hooks: run with cargo bench --bench relay_hooks");
        return;
    }
    let n: usize = std::env::var("SSLX_HOOKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cds.db");
    let keys = bulk::enroll_into_db(&db, "p", n);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sslx-cds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--outbox")
        .arg(dir.path().join("outbox"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (listen, http) = (info["listen"].as_str().unwrap().to_owned(), info["http"].as_str().unwrap().to_owned());
    let idle = rss_kib(child.id(), "VmRSS:");
    let start = std::time::Instant::now();
    let hooks: Vec<_> = keys.iter().map(|(name, cdsk)| bulk::hook(&listen, name, cdsk)).collect();
    let took = start.elapsed();
    let counted = bulk::on_hook_count(&http);
    let (rss, hwm) = (rss_kib(child.id(), "VmRSS:"), rss_kib(child.id(), "VmHWM:"));
    println!(
        "CDS with {counted} participants on hook: RSS {:.1} MiB (peak {:.1} MiB, idle {:.1} MiB); {n} hooks in {:.2} s",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        idle as f64 / 1024.0,
        took.as_secs_f64()
    );
    assert_eq!(counted as usize, n);
    drop(hooks);
    let _ = child.kill();
    let _ = child.wait();
}
