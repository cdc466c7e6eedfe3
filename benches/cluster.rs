//! The CDS scaled out on PostgreSQL (issue 16), in one run, against a PostgreSQL server it
//! starts (tests/common/pg.rs):
//!  - open requests per second through one SQLite CDS, one instance on PostgreSQL, and three
//!    instances on one PostgreSQL database (clients spread over them), for SSLX_BENCH_SECS each;
//!  - 10,000 participants (SSLX_HOOKS) on hook spread over three instances: RSS of each;
//!  - call setup (call sent to call OK, the callee answering at once) when the callee is hooked
//!    at the caller's instance and when it is hooked at another one (rung over NOTIFY).
//!
//! Only under `cargo bench --bench cluster` (bench/cluster.sh); `cargo test` checks it builds.

#[allow(dead_code)]
#[path = "../tests/common/bulk.rs"]
mod bulk;
#[allow(dead_code)]
#[path = "../tests/common/pg.rs"]
mod pg;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Instance {
    child: Child,
    listen: String,
    http: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sslx-cds serve` on `db` (a SQLite file or a URL), its files in `site` (shared by the
/// instances of one database), rate limits off.
fn instance(db: &str, site: &Path, n: usize) -> Instance {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sslx-cds"));
    c.args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--health-detail", "--db", db]);
    c.arg("--key-file").arg(site.join("cds.key"));
    c.arg("--mailbox-dir").arg(site.join("mailbox"));
    c.arg("--outbox").arg(site.join(format!("outbox{n}")));
    c.arg("--oob-dir").arg(site.join(format!("oob{n}")));
    for f in ["--rate-source", "--rate-email", "--rate-oob", "--rate-open-total", "--rate-phone-total"] {
        c.args([f, "off"]);
    }
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("sslx-cds did not start: {line}"));
    Instance { child, listen: v["listen"].as_str().unwrap().into(), http: v["http"].as_str().unwrap().into() }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    kib as f64 / 1024.0
}

/// CPU time (s) of processes named `comm` and of the machine in all, from /proc.
fn cpu_of(comm: &str) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|st| st.contains(&format!("({comm})")))
        .filter_map(|st| {
            let rest = &st[st.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / tick)
        })
        .sum()
}

fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let f: Vec<f64> = stat.lines().next().unwrap().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    (f.iter().sum::<f64>() - f[3] - f[4]) / 100.0
}

/// Open requests a second, from `clients` threads (a new connection each, as `sslx vsu`),
/// spread over `addrs`, for `secs`.
fn open_rate(addrs: &[String], clients: usize, secs: u64) -> f64 {
    use sslx::vsu::{OpenRequest, AR_VSU_DS, TYPE_REPLY_A};
    use sslx::wire::Msg;
    let rng = sslx::crypto::system_rng();
    let id = std::sync::Arc::new(sslx::keys::Identity::generate("bench", &rng).unwrap());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let (cds0, pg0, all0) = (cpu_of("sslx-cds"), cpu_of("postgres"), machine_busy());
    let done: usize = std::thread::scope(|s| {
        let all: Vec<_> = (0..clients)
            .map(|t| {
                let (id, addr) = (id.clone(), addrs[t % addrs.len()].clone());
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let f = sslx::vsu::client::exchange(&addr, |ch| {
                            let mut req = OpenRequest {
                                ar: AR_VSU_DS.into(),
                                name: id.name.clone(),
                                public: id.public(),
                                email: "bench@example.com".into(),
                                oob: "sms:+15551234567".into(),
                                signature: [0; 64],
                                proof: None,
                            };
                            req.signature = id.sign(&req.signed_bytes(ch).unwrap());
                            Ok(req.to_frame().unwrap())
                        })
                        .unwrap();
                        assert_eq!(f.msg_type, TYPE_REPLY_A);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        all.into_iter().map(|t| t.join().unwrap()).sum()
    });
    let ms = |cpu: f64| cpu * 1000.0 / done as f64;
    println!(
        "  {} instance(s): {done} requests; CPU per request: sslx-cds {:.2} ms, postgres {:.2} ms, machine {:.2} ms",
        addrs.len(),
        ms(cpu_of("sslx-cds") - cds0),
        ms(cpu_of("postgres") - pg0),
        ms(machine_busy() - all0)
    );
    done as f64 / start.elapsed().as_secs_f64()
}

/// Call setup times (ms): `caller` calls `callee` at `at`, `n` times; the callee, hooked at
/// `hook_at`, answers each ring at once.
fn call_setup(
    at: &str,
    hook_at: &str,
    caller: &(String, sslx::crypto::Secret<32>),
    callee: &(String, sslx::crypto::Secret<32>),
    n: usize,
) -> Vec<f64> {
    use sslx::relay::client::{on_hook, HookEvent};
    let rng = sslx::crypto::system_rng();
    let mut hook = on_hook(hook_at, &callee.0, &callee.1, "session", &rng).unwrap();
    let answerer = std::thread::spawn(move || {
        let rng = sslx::crypto::system_rng();
        let mut answered = 0;
        while answered < n {
            match hook.next_event() {
                Ok(HookEvent::Ring { call_id, answer_at, .. }) => {
                    drop(hook.answer(&call_id, answer_at.as_deref(), &rng).unwrap());
                    answered += 1;
                }
                Ok(_) => {}
                Err(e) => panic!("the hook: {e}"),
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (s, _) = sslx::relay::client::call(at, &caller.0, &caller.1, &callee.0, "session", &rng).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            drop(s);
            ms
        })
        .collect();
    answerer.join().unwrap();
    times.sort_by(f64::total_cmp);
    times
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cluster: run with cargo bench --bench cluster");
        return;
    }
    let secs: u64 = std::env::var("SSLX_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let hooks: usize = std::env::var("SSLX_HOOKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let clients = 8;
    let pg = pg::postgres().expect("PostgreSQL for the bench");
    println!(
        "machine: {} cores; {clients} client threads; {secs} s per figure",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    // Open requests per second.
    let site = tempfile::tempdir().unwrap();
    let sqlite = {
        let db = site.path().join("cds.db");
        let i = instance(db.to_str().unwrap(), site.path(), 0);
        open_rate(std::slice::from_ref(&i.listen), clients, secs)
    };
    let one = {
        let site = tempfile::tempdir().unwrap();
        let i = instance(&pg.database(), site.path(), 0);
        open_rate(std::slice::from_ref(&i.listen), clients, secs)
    };
    let three = {
        let site = tempfile::tempdir().unwrap();
        let url = pg.database();
        let all: Vec<Instance> = (0..3).map(|n| instance(&url, site.path(), n)).collect();
        let addrs: Vec<String> = all.iter().map(|i| i.listen.clone()).collect();
        open_rate(&addrs, clients, secs)
    };
    println!(
        "open requests/s: SQLite CDS {sqlite:.0}; PostgreSQL, 1 instance {one:.0}; 3 instances {three:.0} ({:.2}x one)",
        three / one
    );

    // Participants on hook over three instances.
    let site = tempfile::tempdir().unwrap();
    let url = pg.database();
    let t = Instant::now();
    let store = sslx::cds::store::open(
        Path::new(&url),
        Some(&site.path().join("cds.key")),
        // As a serving instance would (it makes the key file and the schema).
        sslx::cds::store::PgSettings { pool_size: 4, serving: true, ..Default::default() },
    )
    .unwrap();
    let keys = bulk::enroll_into_store(store, "p", hooks + 2);
    println!("{} participants enrolled into PostgreSQL in {:.1} s", keys.len(), t.elapsed().as_secs_f64());
    let all: Vec<Instance> = (0..3).map(|n| instance(&url, site.path(), n)).collect();
    let idle: Vec<f64> = all.iter().map(|i| rss_mib(i.child.id())).collect();
    let t = Instant::now();
    let held: Vec<_> =
        keys[..hooks].iter().enumerate().map(|(k, (name, cdsk))| bulk::hook(&all[k % 3].listen, name, cdsk)).collect();
    let took = t.elapsed();
    let counted: Vec<u64> = all.iter().map(|i| bulk::on_hook_count(&i.http)).collect();
    let rss: Vec<String> = all
        .iter()
        .zip(&idle)
        .zip(&counted)
        .map(|((i, idle), n)| format!("{n} on hook, RSS {:.1} MiB (idle {idle:.1})", rss_mib(i.child.id())))
        .collect();
    let in_db = pg.psql(pg::db_name(&url), "SELECT count(*) FROM hooks");
    println!(
        "{hooks} on hook over 3 instances in {:.1} s ({in_db} in the hooks table): {}",
        took.as_secs_f64(),
        rss.join("; ")
    );
    drop(held);

    // Call setup, same instance and across.
    let (caller, callee) = (&keys[hooks], &keys[hooks + 1]);
    let n = 200;
    let same = call_setup(&all[0].listen, &all[0].listen, caller, callee, n);
    let across = call_setup(&all[0].listen, &all[1].listen, caller, callee, n);
    println!(
        "call setup, {n} calls: callee at the caller's instance p50 {:.2} ms p99 {:.2} ms; at another instance p50 {:.2} ms p99 {:.2} ms",
        pct(&same, 0.5),
        pct(&same, 0.99),
        pct(&across, 0.5),
        pct(&across, 0.99)
    );
}
