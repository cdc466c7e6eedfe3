//! A command on a managed host through the real `sslx-execd` (seed 003, boxes 1511-1522): the
//! KDC of a real `sslx-cds` issues the service ticket, the gateway's side (the library's, as
//! `sslx-gateway` will run it) proves it to the host, which checks its ACL and runs the command.

mod common;
use common::*;
use sslx::execd::ExecCommand;
use sslx::session::msgs::RemoteExit;
use std::path::Path;

fn execd(keytab: &Path, acl: &Path, extra: &[&str]) -> Daemon {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--keytab".as_ref(),
        keytab.as_os_str(),
        "--acl".as_ref(),
        acl.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    if !extra.contains(&"--syslog") {
        args.extend([std::ffi::OsStr::new("--syslog"), std::ffi::OsStr::new("none")]);
    }
    let d = daemon("sslx-execd", &args);
    assert_eq!(d.at("host"), "web1");
    d
}

/// The user this test runs as (sslx-execd runs commands as it when not root, and as the ACL's
/// user when root; the ACL gives this one).
fn me() -> String {
    let uid = unsafe { libc::geteuid() };
    let pw = unsafe { libc::getpwuid(uid) };
    assert!(!pw.is_null(), "no user for uid {uid}");
    unsafe { std::ffi::CStr::from_ptr((*pw).pw_name) }.to_string_lossy().into_owned()
}

/// The local user, stdout, stderr and end of a command.
type Ran = (String, Vec<u8>, Vec<u8>, Option<RemoteExit>);

fn run(addr: &str, grant: &sslx::kdc::client::ServiceGrant, argv: &[&str], stdin: &'static [u8]) -> sslx::Result<Ran> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let cmd = ExecCommand { as_user: String::new(), argv: argv.iter().map(|s| (*s).to_owned()).collect() };
    let rng = sslx::crypto::system_rng();
    let (user, exit) = sslx::execd::client::exec(addr, grant, "alice", &cmd, stdin, &mut out, &mut err, &rng)?;
    Ok((user, out, err, exit))
}

struct Site {
    #[allow(dead_code)]
    cds: Cds,
    dir: tempfile::TempDir,
    host: Daemon,
    user: String,
}

/// A dev CDS with alice, the gateway gw1 and the host web1, whose sslx-execd runs with an ACL
/// that lets alice run a few commands as the user the test runs as.
fn site() -> Site {
    site_with(&[])
}

/// [`site`], sslx-execd given `extra` flags too.
fn site_with(extra: &[&str]) -> Site {
    let KdcSite { cds, db: _, dir } = kdc_site();
    let web1 = dir.path().join("web1.keytab");
    let acl = dir.path().join("acl.toml");
    let user = me();
    std::fs::write(
        &acl,
        format!(
            "[[rule]]\nprincipal = \"alice\"\nuser = \"{user}\"\ncommands = [\"/bin/echo *\", \"/bin/cat\", \"/bin/sh -c *\", \"/usr/bin/id -un\", \"/bin/ls /tmp/*\", \"/nonexistent/prog\"]\n"
        ),
    )
    .unwrap();
    let mut flags = vec!["--timeout", "2", "--max-output", "100000"];
    flags.extend(extra);
    let host = execd(&web1, &acl, &flags);
    Site { cds, dir, host, user }
}

#[test]
fn a_command_runs_on_the_host_as_the_acl_says_with_its_output_stdin_and_exit_status() {
    let Site { cds, dir, host, user } = site();
    let gw = sslx::kdc::keytab::KeyTable::load(&dir.path().join("gw1.keytab")).unwrap();
    let rng = sslx::crypto::system_rng();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cache =
        sslx::kdc::client::login(&cds.listen, &gw, "alice", b"correct horse", "192.0.2.9", 8, now, &rng).unwrap();
    let grant = || sslx::kdc::client::service_ticket(&cds.listen, &gw, &cache, "web1", now, &rng).unwrap();

    let (ran_as, out, err, exit) = run(&host.at("listen"), &grant(), &["/bin/echo", "hello", "web1"], b"").unwrap();
    assert_eq!(
        (ran_as.as_str(), out.as_slice(), err.as_slice(), exit),
        (user.as_str(), &b"hello web1\n"[..], &b""[..], Some(RemoteExit::Exited(0)))
    );
    let (_, out, _, _) = run(&host.at("listen"), &grant(), &["/usr/bin/id", "-un"], b"").unwrap();
    assert_eq!(String::from_utf8(out).unwrap().trim(), user, "it runs as the ACL's local user");
    // stdin reaches the command; stderr comes back apart; the exit status travels.
    let (_, out, _, exit) = run(&host.at("listen"), &grant(), &["/bin/cat"], b"through stdin\n").unwrap();
    assert_eq!((out.as_slice(), exit), (&b"through stdin\n"[..], Some(RemoteExit::Exited(0))));
    let (_, out, err, exit) = run(
        &host.at("listen"),
        &grant(),
        &["/bin/sh", "-c", "echo out; echo oops >&2; echo $SSLX_PRINCIPAL; exit 3"],
        b"",
    )
    .unwrap();
    assert_eq!(
        (out.as_slice(), err.as_slice(), exit),
        (&b"out\nalice\n"[..], &b"oops\n"[..], Some(RemoteExit::Exited(3)))
    );
    let (_, _, _, exit) = run(&host.at("listen"), &grant(), &["/bin/sh", "-c", "kill -TERM $$"], b"").unwrap();
    assert_eq!(exit, Some(RemoteExit::Signal(15)));
    // The environment is clean: nothing of execd's own.
    let (_, out, _, _) =
        run(&host.at("listen"), &grant(), &["/bin/sh", "-c", "env | cut -d= -f1 | sort | tr '\\n' ' '"], b"").unwrap();
    let names: Vec<String> = String::from_utf8(out).unwrap().split_whitespace().map(str::to_owned).collect();
    // (the shell adds PWD, and some shells SHLVL and _)
    let shells = ["PWD", "SHLVL", "_", "OLDPWD"];
    let ours: Vec<&String> = names.iter().filter(|n| !shells.contains(&n.as_str())).collect();
    assert_eq!(ours, ["HOME", "LOGNAME", "PATH", "SSLX_CLIENT", "SSLX_PRINCIPAL", "USER"], "{names:?}");

    // Past its time or its output, a command is killed and says so.
    let (_, _, err, exit) = run(&host.at("listen"), &grant(), &["/bin/sh", "-c", "sleep 30"], b"").unwrap();
    assert_eq!(exit, Some(RemoteExit::Signal(9)));
    assert!(String::from_utf8_lossy(&err).contains("ran past its limit of 2 s"), "{}", String::from_utf8_lossy(&err));
    let (_, out, err, exit) =
        run(&host.at("listen"), &grant(), &["/bin/sh", "-c", "while :; do echo yyyyyyyyyyyyyyyyyyyy; done"], b"")
            .unwrap();
    assert_eq!(exit, Some(RemoteExit::Signal(9)));
    assert!(out.len() < 200_000, "{}", out.len());
    assert!(String::from_utf8_lossy(&err).contains("more than its limit of 100000 bytes"));
    // Denied by the ACL: another program, arguments that do not match, a missing program.
    let e = run(&host.at("listen"), &grant(), &["/bin/rm", "-rf", "/tmp/x"], b"").unwrap_err();
    assert!(e.to_string().contains("does not let alice run /bin/rm"), "{e}");
    assert_eq!(e.kind(), sslx::ErrorKind::Refused);
    let e = run(&host.at("listen"), &grant(), &["/usr/bin/id"], b"").unwrap_err();
    assert!(e.to_string().contains("arguments do not match"), "{e}");
    let e = run(&host.at("listen"), &grant(), &["/bin/echo", "../x"], b"");
    assert!(e.is_ok(), "a pattern of any arguments (a lone *) takes any: {e:?}");
    let e = run(&host.at("listen"), &grant(), &["/bin/ls", "/tmp/../etc"], b"").unwrap_err();
    assert!(e.to_string().contains("arguments do not match"), "{e}");
    let e = run(&host.at("listen"), &grant(), &["/nonexistent/prog"], b"").unwrap_err();
    assert!(e.to_string().contains("no program /nonexistent/prog"), "{e}");
    // A tampered ticket, or one for another host, proves nothing.
    let mut bad = grant();
    bad.ticket[10] ^= 1;
    let e = run(&host.at("listen"), &bad, &["/bin/echo"], b"").unwrap_err();
    assert!(e.to_string().contains("does not open under the key of web1"), "{e}");
    let mut elsewhere = grant();
    elsewhere.host = "web2".into();
    let e = run(&host.at("listen"), &elsewhere, &["/bin/echo"], b"").unwrap_err();
    assert!(e.to_string().contains("not the host \"web2\""), "{e}");
    // The server session key of another ticket: the handshake does not finish.
    let mut other_key = grant();
    other_key.key = grant().key;
    let e = run(&host.at("listen"), &other_key, &["/bin/echo"], b"").unwrap_err();
    assert_eq!(e.kind(), sslx::ErrorKind::VerifyFailed, "{e}");
}

#[test]
fn sslx_exec_runs_a_command_through_the_gateway_and_exits_with_its_status() {
    use predicates::prelude::*;
    let Site { cds, dir, host, .. } = site();
    let db = test_db(dir.path());
    let keytab = dir.path().join("gw1.keytab");
    let at = format!("web1={}", host.at("listen"));
    let gw = gateway(&cds.listen, &keytab, &["--host", &at]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().join("home");
    let mut login = sslx(&h);
    login.args(["login", "--gateway", &gw.at("listen"), "--gateway-fingerprint", &gw.at("fingerprint"), "alice"]);
    login.env("SSLX_PASSWORD", "correct horse").assert().success();
    let exec = |args: &[&str]| {
        let mut c = sslx(&h);
        c.arg("exec").args(args);
        c
    };
    exec(&["web1", "--", "/bin/echo", "hello", "web1"]).assert().success().stdout("hello web1\n");
    exec(&["web1", "--", "/bin/cat"]).write_stdin("through stdin\n").assert().success().stdout("through stdin\n");
    exec(&["web1", "--", "/bin/sh", "-c", "echo out; echo oops >&2; exit 7"])
        .assert()
        .code(7)
        .stdout("out\n")
        .stderr(predicate::str::contains("oops"));
    exec(&["web1", "--", "/bin/sh", "-c", "kill -TERM $$"]).assert().code(128 + 15);
    let mut json = sslx(&h);
    json.args(["--json", "exec", "web1", "--", "/bin/echo", "x"]);
    let out = json.assert().success().get_output().stdout.clone();
    let events: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["event"], "started");
    assert_eq!(events.last().unwrap(), &serde_json::json!({"event": "exit", "code": 0}));
    // Denied by the host's ACL; a host the KDC does not know; nobody logged in.
    exec(&["web1", "--", "/bin/rm", "-rf", "/tmp/x"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("denied by the ACL of web1"));
    exec(&["web9", "--", "/bin/echo"]).assert().code(6).stderr(predicate::str::contains("no such host"));
    let stranger = tempfile::tempdir().unwrap();
    sslx(&stranger.path().join("home")).args(["exec", "web1", "--", "/bin/echo"]).assert().code(6);
    // A login past its 10 hours (both clocks said), a tampered cache, a user disabled since.
    let later =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 11 * 3600).to_string();
    exec(&["web1", "--", "/bin/echo"])
        .env("SSLX_TEST_NOW", &later)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("sslx login again"));
    let creds = h.join("credentials");
    let kept = std::fs::read_to_string(&creds).unwrap();
    let mut cache = sslx::kdc::CredentialsCache::from_text(kept.lines().last().unwrap()).unwrap();
    cache.tgt[30] ^= 1;
    let tampered: String =
        kept.lines().take(2).map(|l| format!("{l}\n")).collect::<String>() + cache.to_text().unwrap().as_str() + "\n";
    sslx::keys::write_secret_atomic(&creds, tampered.as_bytes()).unwrap();
    exec(&["web1", "--", "/bin/echo"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a ticket-granting ticket"));
    sslx::keys::write_secret_atomic(&creds, kept.as_bytes()).unwrap();
    kdc_admin(&db, &["principal", "disable", "alice"]).assert().success();
    exec(&["web1", "--", "/bin/echo"]).assert().code(5).stderr(predicate::str::contains("disabled"));
    kdc_admin(&db, &["principal", "enable", "alice"]).assert().success();
    // The gateway keeps nothing: another instance (the first gone) serves the same login.
    drop(gw);
    let again = gateway(&cds.listen, &keytab, &["--host", &at]);
    let (url, pin) = (again.at("listen"), again.at("fingerprint"));
    exec(&["--gateway", &url, "--gateway-fingerprint", &pin, "web1", "--", "/bin/echo", "still"])
        .assert()
        .success()
        .stdout("still\n");
    exec(&["--gateway", &url.replace("https", "http"), "web1", "--", "/bin/echo"]).assert().code(2);
}

/// A KDC login of alice through gw1, and a way to get service tickets for web1 with it.
fn granter(site: &Site) -> impl Fn() -> sslx::kdc::client::ServiceGrant + '_ {
    let gw = sslx::kdc::keytab::KeyTable::load(&site.dir.path().join("gw1.keytab")).unwrap();
    let rng = sslx::crypto::system_rng();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cache =
        sslx::kdc::client::login(&site.cds.listen, &gw, "alice", b"correct horse", "192.0.2.9", 8, now, &rng).unwrap();
    move || sslx::kdc::client::service_ticket(&site.cds.listen, &gw, &cache, "web1", now, &rng).unwrap()
}

/// The syslog lines a datagram socket got, until none comes for `quiet`: (priority, JSON).
fn syslog_lines(sock: &std::os::unix::net::UnixDatagram, quiet: std::time::Duration) -> Vec<(u32, serde_json::Value)> {
    sock.set_read_timeout(Some(quiet)).unwrap();
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        let line = String::from_utf8(buf[..n].to_vec()).unwrap();
        assert!(n <= 600, "a line of {n} bytes over --syslog-max-line 600: {line}");
        let pri: u32 = line[1..line.find('>').unwrap()].parse().unwrap();
        let (head, json) = line.split_once("]: ").unwrap();
        assert!(head.contains("sslx-execd["), "{line}");
        lines.push((pri, serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))));
    }
    lines
}

#[test]
fn every_command_leaves_its_audit_record_at_syslog_and_in_the_chained_file() {
    use predicates::prelude::*;
    let logs = tempfile::tempdir().unwrap();
    let sock_path = logs.path().join("syslog.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    let file = logs.path().join("audit.jsonl");
    let target = format!("unix:{}", sock_path.display());
    let site = site_with(&["--syslog", &target, "--syslog-max-line", "600", "--audit-file", file.to_str().unwrap()]);
    let grant = granter(&site);
    let at = site.host.at("listen");
    run(&at, &grant(), &["/bin/echo", "hello"], b"").unwrap();
    run(&at, &grant(), &["/bin/rm", "-rf", "/tmp/x"], b"").unwrap_err();
    run(&at, &grant(), &["/bin/sh", "-c", "sleep 30"], b"").unwrap();
    let long = "z".repeat(3000);
    run(&at, &grant(), &["/bin/echo", &long], b"").unwrap();
    let lines = syslog_lines(&sock, std::time::Duration::from_secs(3));
    let events: Vec<&str> = lines.iter().map(|(_, j)| j["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["started", "finished", "denied", "started", "finished", "started", "finished"]);
    // authpriv (10) and info (6).
    assert!(lines.iter().all(|(pri, _)| *pri == 10 * 8 + 6), "{lines:?}");
    let (_, done) = &lines[1];
    assert_eq!(done["principal"], "alice");
    assert_eq!(done["host"], "web1");
    assert_eq!(done["from"], "192.0.2.9");
    assert!(done["gateway"].as_str().unwrap().starts_with("127.0.0.1:"), "{done}");
    assert_eq!(done["argv"], serde_json::json!(["/bin/echo", "hello"]));
    assert_eq!(done["local_user"], site.user.as_str());
    assert_eq!(done["exit"], 0);
    assert_eq!(done["bytes_out"], 6);
    let (_, denied) = &lines[2];
    assert!(denied["reason"].as_str().unwrap().contains("does not let alice run /bin/rm"), "{denied}");
    assert!(denied.get("local_user").is_none());
    let (_, killed) = &lines[4];
    assert_eq!((killed["signal"].as_i64(), killed["stopped"].as_str()), (Some(9), Some("ran past its limit of 2 s")));
    // The long command is cut in its line, whole in the file.
    let (_, cut) = &lines[6];
    let words = cut["argv"].as_array().unwrap();
    assert!(words[0].as_str().unwrap().starts_with("/bin/echo zzz"), "{cut}");
    assert!(words[1].as_str().unwrap().ends_with("bytes cut]"), "{cut}");
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 7);
    assert_eq!(records[6]["argv"], serde_json::json!(["/bin/echo", long]));
    for ((_, line), rec) in lines.iter().zip(&records) {
        assert_eq!(line["hash"], rec["hash"], "each syslog line holds its file record's hash");
        assert_eq!(line["seq"], rec["seq"]);
    }
    assert_eq!(records[0]["prev"], sslx::execd::audit::GENESIS);
    assert_eq!(records[1]["prev"], records[0]["hash"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    // sslx-execd audit verify: the chain holds; any byte changed breaks it.
    let verify = || {
        let mut c = assert_cmd::Command::new(bin("sslx-execd"));
        c.args(["audit", "verify", "--json"]).arg(&file);
        c
    };
    let out = verify().assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v, serde_json::json!({"records": 7, "last_hash": records[6]["hash"]}));
    let kept = std::fs::read(&file).unwrap();
    for at in [0, 17, kept.len() / 3, kept.len() / 2, kept.len() - 40, kept.len() - 1] {
        let mut b = kept.clone();
        b[at] = if b[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&file, &b).unwrap();
        verify().assert().code(3).stderr(predicate::str::contains("line "));
    }
    // A line taken out: the next one names the gap.
    let text = String::from_utf8(kept.clone()).unwrap();
    let without: String = text.lines().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&file, without).unwrap();
    verify().assert().code(3).stderr(predicate::str::contains("line 3: the chain breaks"));
}

#[test]
fn a_syslog_sink_that_is_stalled_or_absent_holds_up_no_command() {
    let logs = tempfile::tempdir().unwrap();
    // A receiver that never reads: its queue fills after a few lines and a writer blocks.
    let stalled_path = logs.path().join("stalled.sock");
    let stalled = std::os::unix::net::UnixDatagram::bind(&stalled_path).unwrap();
    let file = logs.path().join("audit.jsonl");
    let target = format!("unix:{}", stalled_path.display());
    let site = site_with(&["--syslog", &target, "--audit-file", file.to_str().unwrap()]);
    let grant = granter(&site);
    let at = site.host.at("listen");
    for i in 0..30 {
        let (_, out, _, _) = run(&at, &grant(), &["/bin/echo", &i.to_string()], b"").unwrap();
        assert_eq!(out, format!("{i}\n").as_bytes());
    }
    // The lines waited in sslx-execd's queue while the receiver stalled, not the commands.
    let got = syslog_lines(&stalled, std::time::Duration::from_secs(2)).len();
    assert_eq!(got, 60, "lines lost while the queue had room");
    assert_eq!(audit_lines(&file, 60), 60, "the file has every record");
    // No receiver at all.
    let absent = format!("unix:{}", logs.path().join("nobody.sock").display());
    let site = site_with(&["--syslog", &absent]);
    let grant = granter(&site);
    let (_, out, _, _) = run(&site.host.at("listen"), &grant(), &["/bin/echo", "still"], b"").unwrap();
    assert_eq!(out, b"still\n");
}

/// A super-daemon of the test's own: on each TCP connection it starts `sslx-execd --inetd`
/// with the connection on stdin, either the socket itself (as systemd's Accept=yes does) or
/// one end of a socket pair whose other end it copies to and from the TCP connection.
fn superdaemon(site: &Site, pair: bool, audit: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (keytab, acl) = (site.dir.path().join("web1.keytab"), site.dir.path().join("acl.toml"));
    let audit = audit.to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut cmd = std::process::Command::new(bin("sslx-execd"));
            cmd.args(["--inetd", "--syslog", "none", "--keytab"]).arg(&keytab).arg("--acl").arg(&acl);
            cmd.arg("--audit-file").arg(&audit).stderr(std::process::Stdio::null());
            let fd: std::os::fd::OwnedFd = if pair {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                let (mut a, mut b) = (conn.try_clone().unwrap(), ours.try_clone().unwrap());
                let (mut c, mut d) = (ours, conn);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c, &mut d);
                    let _ = d.shutdown(std::net::Shutdown::Write);
                });
                theirs.into()
            } else {
                conn.into()
            };
            let out = fd.try_clone().unwrap();
            // As systemd's Accept=yes does: the connection on fd 3 too (not close-on-exec).
            let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    if libc::dup2(raw, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            cmd.stdin(fd).stdout(out);
            let mut child = cmd.spawn().unwrap();
            std::thread::spawn(move || child.wait());
        }
    });
    addr
}

#[test]
fn inetd_mode_serves_the_connection_on_stdin_a_socket_pair_or_a_tcp_socket() {
    use predicates::prelude::*;
    let site = site();
    let grant = granter(&site);
    let audit = site.dir.path().join("inetd-audit.jsonl");
    for pair in [true, false] {
        let at = superdaemon(&site, pair, &audit);
        let (user, out, err, exit) =
            run(&at, &grant(), &["/bin/sh", "-c", "echo out; echo err >&2; exit 4"], b"").unwrap();
        assert_eq!(
            (user.as_str(), out.as_slice(), err.as_slice(), exit),
            (site.user.as_str(), &b"out\n"[..], &b"err\n"[..], Some(RemoteExit::Exited(4))),
            "socket pair: {pair}"
        );
        let (_, out, _, _) = run(&at, &grant(), &["/bin/cat"], b"stdin of the connection\n").unwrap();
        assert_eq!(out, b"stdin of the connection\n");
        let e = run(&at, &grant(), &["/bin/rm", "/tmp/x"], b"").unwrap_err();
        assert!(e.to_string().contains("does not let alice run /bin/rm"), "{e}");
        // The command gets its three streams and nothing of the connection's (fd 3 is ls's own).
        let (_, out, _, _) = run(&at, &grant(), &["/bin/sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"], b"").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "0 1 2 3 ", "socket pair: {pair}");
    }
    // Each process of one connection continues the one chain (the last may still be writing
    // its "finished" record when the client has the exit status).
    let mut records: Vec<serde_json::Value> = Vec::new();
    for _ in 0..100 {
        records = std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if records.len() >= 14 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(records.len(), 14);
    assert_eq!(records[0]["gateway"], "-", "a socket pair has no address");
    assert!(records[13]["gateway"].as_str().unwrap().starts_with("127.0.0.1:"), "{}", records[13]);
    sslx::execd::audit::verify(&audit).unwrap();
    // Without a socket on stdin it says what it needs.
    let mut c = assert_cmd::Command::new(bin("sslx-execd"));
    c.args(["--inetd", "--syslog", "none", "--keytab"]).arg(site.dir.path().join("web1.keytab"));
    c.arg("--acl").arg(site.dir.path().join("acl.toml")).write_stdin("not a socket");
    c.assert().code(2).stderr(predicate::str::contains("stdin is not a stream socket"));
}

#[test]
fn run_as_root_sslx_execd_runs_the_command_as_the_acl_user_with_none_of_its_own_groups() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: sslx-execd changes users only when run as root, and this test is not root");
        return;
    }
    const USER: &str = "sslx-exec-test";
    let made = std::process::Command::new("useradd")
        .args(["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", USER])
        .status()
        .expect("useradd");
    // 9: the user is there already (an earlier run).
    assert!(made.success() || made.code() == Some(9), "useradd {USER}: {made}");
    let pw = unsafe { libc::getpwnam(std::ffi::CString::new(USER).unwrap().as_ptr()) };
    assert!(!pw.is_null());
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };

    let KdcSite { cds, db: _, dir } = kdc_site();
    let acl = dir.path().join("acl.toml");
    std::fs::write(
        &acl,
        format!(
            "[[rule]]\nprincipal = \"alice\"\nuser = \"{USER}\"\ncommands = [\"/usr/bin/id *\", \"/bin/pwd\"]\n\n\
             [[rule]]\nprincipal = \"alice\"\nuser = \"root\"\ncommands = [\"/usr/bin/id -un\"]\n"
        ),
    )
    .unwrap();
    let host = execd(&dir.path().join("web1.keytab"), &acl, &[]);
    let at = format!("web1={}", host.at("listen"));
    let gw = gateway(&cds.listen, &dir.path().join("gw1.keytab"), &["--host", &at]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().join("home");
    let mut login = sslx(&h);
    login.args(["login", "--gateway", &gw.at("listen"), "--gateway-fingerprint", &gw.at("fingerprint"), "alice"]);
    login.env("SSLX_PASSWORD", "correct horse").assert().success();
    let exec = |args: &[&str]| {
        let mut c = sslx(&h);
        c.args(["exec", "--as", USER, "web1", "--"]).args(args);
        String::from_utf8(c.assert().success().get_output().stdout.clone()).unwrap().trim().to_owned()
    };
    assert_eq!(exec(&["/usr/bin/id", "-un"]), USER);
    assert_eq!(exec(&["/usr/bin/id", "-u"]), uid.to_string());
    assert_eq!(exec(&["/usr/bin/id", "-G"]), gid.to_string(), "its own group only: root's are dropped");
    assert_eq!(exec(&["/bin/pwd"]), "/", "a home that is not there: the command starts in /");
    // The first rule that fits decides, when no --as is given.
    let mut c = sslx(&h);
    c.args(["exec", "web1", "--", "/usr/bin/id", "-un"]);
    c.assert().success().stdout(format!("{USER}\n"));
    let mut c = sslx(&h);
    c.args(["exec", "--as", "root", "web1", "--", "/usr/bin/id", "-un"]);
    c.assert().success().stdout("root\n");
}

/// A recorded connection replayed to sslx-execd runs nothing: the handshake binds a fresh nonce
/// of the host's, so the recorded finished value (the seed's authenticator #3) no longer proves
/// the key, and the ticket alone is not enough.
#[test]
fn a_recorded_connection_replayed_to_the_host_runs_nothing() {
    use std::io::{Read, Write};
    let site = site();
    let grant = granter(&site);
    let mark = site.dir.path().join("ran");
    std::fs::write(
        site.dir.path().join("acl.toml"),
        format!("[[rule]]\nprincipal = \"alice\"\nuser = \"{}\"\ncommands = [\"/bin/sh -c *\"]\n", site.user),
    )
    .unwrap();
    let audit = site.dir.path().join("audit.jsonl");
    let host = execd(
        &site.dir.path().join("web1.keytab"),
        &site.dir.path().join("acl.toml"),
        &["--audit-file", audit.to_str().unwrap()],
    );
    let target = host.at("listen");
    // A proxy that keeps what the gateway's side sent.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = proxy.local_addr().unwrap().to_string();
    let recorded = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = recorded.clone();
    let t = target.clone();
    std::thread::spawn(move || {
        let (mut from, _) = proxy.accept().unwrap();
        let mut to = std::net::TcpStream::connect(&t).unwrap();
        let (mut back_from, mut back_to) = (to.try_clone().unwrap(), from.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut back_from, &mut back_to);
            let _ = back_to.shutdown(std::net::Shutdown::Write);
        });
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
    let cmd = format!("echo once >> {}", mark.display());
    let (_, _, _, exit) = run(&at, &grant(), &["/bin/sh", "-c", &cmd], b"").unwrap();
    assert_eq!(exit, Some(RemoteExit::Exited(0)));
    let bytes = recorded.lock().unwrap().clone();
    assert!(bytes.len() > 100, "recorded {} bytes", bytes.len());
    // The same bytes again, straight to the host.
    let mut replay = std::net::TcpStream::connect(&target).unwrap();
    replay.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let _ = replay.write_all(&bytes);
    let _ = replay.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = replay.read_to_end(&mut answer);
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "once\n", "the replay ran the command again");
    // Started and finished, once: the replay never reached the ACL. (The "finished" record may
    // still be on its way when the client has the exit status.)
    assert_eq!(audit_lines(&audit, 2), 2);
}

/// The lines of an audit file once it has `n` of them (or after 10 s, what it has).
fn audit_lines(path: &Path, n: usize) -> usize {
    let count = || std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0);
    for _ in 0..200 {
        if count() >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    count()
}

#[test]
fn audit_lines_reach_udp_and_tcp_collectors_each_line_framed() {
    use std::io::BufRead;
    let parse = |line: &str| -> serde_json::Value {
        let (head, json) = line.split_once("]: ").unwrap();
        // To a collector elsewhere the line names this host (RFC 3164's HOSTNAME).
        assert_eq!(head.split_whitespace().count(), 5, "<PRI>Mmm dd hh:mm:ss HOST sslx-execd[PID]: {line}");
        serde_json::from_str(json).unwrap()
    };
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let target = format!("udp:{}", udp.local_addr().unwrap());
    let site = site_with(&["--syslog", &target]);
    let grant = granter(&site);
    run(&site.host.at("listen"), &grant(), &["/bin/echo", "by udp"], b"").unwrap();
    let mut buf = [0u8; 2048];
    let events: Vec<serde_json::Value> = (0..2)
        .map(|_| {
            let n = udp.recv(&mut buf).unwrap();
            parse(std::str::from_utf8(&buf[..n]).unwrap())
        })
        .collect();
    assert_eq!((events[0]["event"].as_str(), events[1]["event"].as_str()), (Some("started"), Some("finished")));
    assert_eq!(events[1]["argv"], serde_json::json!(["/bin/echo", "by udp"]));

    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("tcp:{}", tcp.local_addr().unwrap());
    let site = site_with(&["--syslog", &target]);
    let grant = granter(&site);
    run(&site.host.at("listen"), &grant(), &["/bin/echo", "by tcp"], b"").unwrap();
    run(&site.host.at("listen"), &grant(), &["/bin/rm", "x"], b"").unwrap_err();
    let (conn, _) = tcp.accept().unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let lines: Vec<String> = std::io::BufReader::new(conn).lines().take(3).map(|l| l.unwrap()).collect();
    let events: Vec<String> = lines.iter().map(|l| parse(l)["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["started", "finished", "denied"], "one line each, newline-framed");
}

#[test]
fn with_audit_required_a_command_the_file_cannot_record_does_not_run() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("audit.jsonl");
    let site = site_with(&["--audit-file", file.to_str().unwrap(), "--audit-required"]);
    let grant = granter(&site);
    let at = site.host.at("listen");
    let mark = logs.path().join("ran");
    let cmd = format!("echo ran >> {}", mark.display());
    run(&at, &grant(), &["/bin/sh", "-c", &cmd], b"").unwrap();
    // The file goes, and a directory takes its name: nothing can be appended there.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let e = run(&at, &grant(), &["/bin/sh", "-c", &cmd], b"").unwrap_err();
    assert!(e.to_string().contains("cannot write its audit trail"), "{e}");
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "ran\n", "the second command ran");
    // Back: it records and runs again.
    std::fs::remove_dir(&file).unwrap();
    run(&at, &grant(), &["/bin/sh", "-c", &cmd], b"").unwrap();
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "ran\nran\n");
}
