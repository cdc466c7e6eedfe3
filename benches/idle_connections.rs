//! Idle connections against the CDS (issue 10, finding 8): 10,000 sockets that connect and send
//! nothing, from 157 loopback sources (127.0.1.1 …; each source may keep 64 waiting), then one
//! whole enrollment (keygen, vsu, assemble-key, vsu --confirm) through the real binaries while
//! they are open. Prints how long the enrollment took with and without them, and how many of the
//! idle sockets the CDS had refused or closed. Only under `cargo bench` (SSLX_IDLE to change N);
//! `cargo test` just checks that it builds.

use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

fn sslx(home: &std::path::Path, cds: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sslx"))
        .arg("--home")
        .arg(home)
        .args(["--cds", cds])
        .args(args)
        .env_remove("SSLX_HOME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// One enrollment end to end; its wall time.
fn enroll(work: &std::path::Path, cds: &str, info: &serde_json::Value, name: &str) -> Duration {
    let home = work.join(name);
    let start = Instant::now();
    sslx(&home, cds, &["keygen", "--name", name]);
    let out =
        sslx(&home, cds, &["--json", "vsu", "--email", &format!("{name}@example.com"), "--oob", "sms:+15551234567"]);
    let rid =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["request_id"].as_str().unwrap().to_owned();
    let oob = std::path::Path::new(info["oob_dir"].as_str().unwrap()).join(format!("{rid}.txt"));
    let pin = sslx::vsu::ReplyC::pin_in(&std::fs::read_to_string(oob).unwrap()).unwrap();
    let outbox = std::path::Path::new(info["outbox"].as_str().unwrap());
    let eml = std::fs::read_dir(outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains(&rid))
        .unwrap();
    sslx(&home, cds, &["assemble-key", "--reply-b", eml.to_str().unwrap(), "--pin", &pin]);
    sslx(&home, cds, &["vsu", "--confirm"]);
    start.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("idle_connections: run with cargo bench --bench idle_connections");
        return;
    }
    let n: usize = std::env::var("SSLX_IDLE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let work = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sslx-cds"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let cds = info["listen"].as_str().unwrap().to_owned();
    let quiet = enroll(work.path(), &cds, &info, "quiet");
    let target: std::net::SocketAddr = cds.parse().unwrap();
    let opened = Instant::now();
    // Eight threads connect at once, as a botnet would; the CDS must not wait on any of them.
    let idle: Vec<std::net::TcpStream> = std::thread::scope(|s| {
        let parts: Vec<_> = (0..8)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(8)
                        .map(|i| {
                            let src = format!("127.0.{}.{}:0", 1 + i / 64 / 250, 1 + (i / 64) % 250);
                            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                            s.bind(&src.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
                            s.connect(&target.into()).unwrap();
                            std::net::TcpStream::from(s)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let took_to_open = opened.elapsed();
    let busy = enroll(work.path(), &cds, &info, "busy");
    // How many of the idle sockets got the CDS's hello (held) or a refusal (turned away).
    // (A connection evicted to make room got its hello, then a refusal.)
    let (mut held, mut refused, mut evicted) = (0, 0, 0);
    for mut s in idle.iter().map(|s| s.try_clone().unwrap()) {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut head = [0u8; 6];
        if s.read_exact(&mut head).is_ok() {
            match head[0] {
                sslx::wire::TYPE_CDS_HELLO => {
                    let mut body = vec![0u8; u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize];
                    let _ = s.read_exact(&mut body);
                    s.set_nonblocking(true).unwrap();
                    let mut more = [0u8; 1];
                    if matches!(s.read(&mut more), Ok(1..)) {
                        evicted += 1;
                    } else {
                        held += 1;
                    }
                }
                sslx::wire::TYPE_REFUSED => refused += 1,
                _ => {}
            }
        }
    }
    println!(
        "enrollment with {n} idle connections open: {:.0} ms (without: {:.0} ms); {n} sockets opened in {:.2} s; \
         the CDS held {held} waiting, closed {evicted} to make room (its table fits its open-file limit), refused {refused} at once",
        busy.as_secs_f64() * 1000.0,
        quiet.as_secs_f64() * 1000.0,
        took_to_open.as_secs_f64()
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}
