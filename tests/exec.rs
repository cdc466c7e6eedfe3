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
    cds: Cds,
    dir: tempfile::TempDir,
    host: Daemon,
    user: String,
}

/// A dev CDS with alice, the gateway gw1 and the host web1, whose sslx-execd runs with an ACL
/// that lets alice run a few commands as the user the test runs as.
fn site() -> Site {
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
    let host = execd(&web1, &acl, &["--timeout", "2", "--max-output", "100000"]);
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
    let db = dir.path().join("cds.db");
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
