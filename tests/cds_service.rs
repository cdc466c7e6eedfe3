//! `sslx-cds serve` as a service: a settings file under the flags, readiness and status for
//! systemd, SIGTERM draining what is under way while the hooks end, SIGHUP reopening the log.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "waited {secs} s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(cds: &Cds, sig: i32) {
    // SAFETY: a signal to the CDS process this test started.
    assert_eq!(unsafe { libc::kill(cds.child.id() as i32, sig) }, 0);
}

#[test]
fn serve_takes_its_settings_from_a_file_under_the_flags_and_tells_systemd_it_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cds.toml");
    // listen is not an address: the command line's --listen (Cds::start gives one) wins.
    std::fs::write(
        &conf,
        "dev = true\nlisten = \"not an address\"\nhealth-detail = true\nphone-prefixes = [\"+1\", \"+44\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sock = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cds = Cds::start(&["--config", conf.to_str().unwrap()], &[("NOTIFY_SOCKET", sock.to_str().unwrap())]);
    let mut buf = [0u8; 4096];
    let n = notify.recv(&mut buf).unwrap();
    let told = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(told.contains("READY=1\n") && told.contains(&format!("STATUS=protocol on {}", cds.listen)), "{told}");
    // health-detail came from the file: /v1/health counts the hooks.
    let health = http_get(&cds.http, "/v1/health");
    assert!(health.contains("on_hook"), "{health}");
    // dev = true made it a throw-away CDS (no --outbox given, yet it has one).
    assert!(cds.outbox.is_some());
    drop(cds);

    let run = |text: &str, mode: u32| {
        std::fs::write(&conf, text).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = std::process::Command::new(bin("sslx-cds"))
            .args(["serve", "--config", conf.to_str().unwrap(), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run("dev = true\nlisten-on = \"x\"\n", 0o600);
    assert!(code == Some(2) && err.contains("\"listen-on\" is not a setting"), "{code:?} {err}");
    let (code, err) = run("dev = \"yes\"\n", 0o600);
    assert!(code == Some(2) && err.contains("dev must be true or false"), "{code:?} {err}");
    let (code, err) = run("dev = true\n", 0o666);
    assert!(code == Some(2) && err.contains("chmod go-w"), "{code:?} {err}");
    let (code, err) = run("dev = true\nsmtp = \"smtp://u:secret@127.0.0.1:1\"\n", 0o644);
    assert!(code == Some(2) && err.contains("chmod 600") && !err.contains("secret"), "{code:?} {err}");
}

fn http_get(addr: &str, path: &str) -> String {
    let host = addr.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn sigterm_ends_the_hooks_and_lets_a_deposit_under_way_finish() {
    let cds = Cds::start(&["--dev", "--drain-timeout", "60"], &[]);
    let (alice, bob) = (enroll(&cds, "da"), enroll(&cds, "db"));
    let inbox = tempfile::tempdir().unwrap();
    let recv = Listener::command(&bob, &["recv", "--into", inbox.path().to_str().unwrap()], false);
    let size = 256 * 1024;
    let mut deposit = start_deposit(&cds, &keys(&alice), &bob.name, size, 7);
    deposit.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    deposit.write_all(&vec![0u8; size as usize / 2]).unwrap();
    signal(&cds, libc::SIGTERM);
    // The hook ends at once (recv says so and tries again), the port is closed...
    recv.await_stderr("off hook at the CDS", 1, 30);
    wait_for("the port to close", 30, || std::net::TcpStream::connect(&cds.listen).is_err());
    // ...and the deposit under way is still taken, whole.
    let mut cds = cds;
    assert!(cds.child.try_wait().unwrap().is_none(), "the CDS left before the deposit ended");
    deposit.write_all(&vec![0u8; size as usize / 2]).unwrap();
    let answer = sslx::wire::read_frame(&mut deposit).unwrap().expect("an answer");
    assert_eq!(answer.msg_type, sslx::relay::TYPE_DEPOSIT_OK, "{answer:?}");
    let status = cds.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&cds.stderr_log).unwrap();
    assert!(log.contains("SIGTERM: stopping") && log.contains("connection(s) under way get up to 60 s"), "{log}");
    assert!(log.contains("sslx-cds: stopped"), "{log}");
}

#[test]
fn sighup_reopens_the_log_file_that_logrotate_moved() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cds.log");
    let cds = Cds::start(&["--dev", "--log-file", log.to_str().unwrap()], &[]);
    wait_for("the first lines", 30, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("sslx-cds: --dev: all state is thrown away"))
    });
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("sslx-cds: protocol on 127.0.0.1:"), "{first}");
    let stamp = first.split(' ').next().unwrap();
    assert!(time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).is_ok(), "{first}");
    std::fs::rename(&log, dir.path().join("cds.log.1")).unwrap();
    signal(&cds, libc::SIGHUP);
    wait_for("the log to be reopened", 30, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("SIGHUP: the log reopened"))
    });
    assert_eq!(std::fs::read_to_string(dir.path().join("cds.log.1")).unwrap(), first, "the old file got nothing more");
    assert!(std::net::TcpStream::connect(&cds.listen).is_ok(), "SIGHUP does not stop the CDS");
}
