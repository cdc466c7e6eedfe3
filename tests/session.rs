//! Sessions between enrolled participants: AH-CDS tickets from the real CDS, the seed-002
//! handshake, `sslx listen --bind` and `sslx dial NAME@HOST:PORT`, resumption across processes.

mod common;
use common::*;
use predicates::prelude::*;
use std::sync::Arc;

#[test]
fn dial_carries_data_both_ways_through_an_exec_listener_and_resumes_across_processes() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "alice");
    let bob = enroll(&cds, "bob");
    let l = Listener::start(&bob, &["--exec", "sha256sum", "--allow", "alice"]);

    // 16 MiB up; the command's answer (its digest of what arrived) comes back.
    let data = pseudo_random(16 << 20, 1);
    let expected = format!("{}  -\n", hex::encode(sslx::crypto::sha256(&data)));
    alice.cmd().args(["dial", &format!("bob@{}", l.addr)]).write_stdin(data).assert().success().stdout(expected);

    // The first handshake was full; the next resumes from the cache in another process (and
    // finds bob at the bare address, where this home met him).
    let out = alice.cmd().args(["--json", "handshake", &l.addr]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["peer"], "bob");
    assert_eq!(v["resumed"], true);
    assert_eq!(v["forward_secrecy"], true, "a resumption makes a fresh X25519 exchange by default");
    let out = alice
        .cmd()
        .args(["--json", "handshake", "--no-resume", &l.addr])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((v["resumed"].as_bool(), v["forward_secrecy"].as_bool()), (Some(false), Some(true)));
    let out = alice
        .cmd()
        .args(["--json", "handshake", "--no-resume", "--no-fs", &l.addr])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out).unwrap()["forward_secrecy"], false);
}

#[test]
fn a_listener_without_forward_secrecy_never_answers_with_an_ephemeral() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "fa");
    let bob = enroll(&cds, "fb");
    let l = Listener::start(&bob, &["--no-fs"]);
    let to = format!("fb@{}", l.addr);
    alice
        .cmd()
        .args(["handshake", &to])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("does no key exchange").and(predicate::str::contains("--no-fs")));
    let json = |args: &[&str]| -> serde_json::Value {
        let out = alice.cmd().arg("--json").args(args).assert().success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    };
    let v = json(&["handshake", "--no-fs", &to]);
    assert_eq!((v["resumed"].as_bool(), v["forward_secrecy"].as_bool()), (Some(false), Some(false)));
    let v = json(&["handshake", "--no-fs", &to]);
    assert_eq!((v["resumed"].as_bool(), v["forward_secrecy"].as_bool()), (Some(true), Some(false)));
}

#[test]
fn a_large_stream_each_way_arrives_intact() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "al");
    let bob = enroll(&cds, "bo");
    // The listener echoes: 32 MiB goes up and comes back down.
    let l = Listener::start(&bob, &["--exec", "cat", "--allow", "al"]);
    let data = pseudo_random(32 << 20, 2);
    let out = alice
        .cmd()
        .args(["-q", "dial", &format!("bo@{}", l.addr)])
        .write_stdin(data.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(out == data, "echoed bytes differ");
}

#[test]
fn listen_once_writes_the_callers_stream_to_stdout() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "a1");
    let bob = enroll(&cds, "b1");
    let l = Listener::start(&bob, &["--once"]);
    alice.cmd().args(["dial", &format!("b1@{}", l.addr)]).write_stdin("one call\n").assert().success().stdout("");
    let (status, out, err) = l.wait();
    assert!(status.success(), "{err}");
    assert_eq!(out, b"one call\n");
}

#[test]
fn many_concurrent_dials_all_complete() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "many-a");
    let bob = enroll(&cds, "many-b");
    let l = Listener::start(&bob, &["--exec", "cat", "--max-calls", "8", "--allow-any"]);
    let threads: Vec<_> = (0..24u8)
        .map(|i| {
            let (home, addr) = (alice.home(), format!("many-b@{}", l.addr));
            std::thread::spawn(move || {
                let data = pseudo_random(64 * 1024 + i as usize, i);
                let out =
                    sslx(&home).args(["-q", "dial", "--no-resume", &addr]).write_stdin(data.clone()).output().unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                assert!(
                    out.stdout == data,
                    "got {} of {} bytes; stderr {}",
                    out.stdout.len(),
                    data.len(),
                    String::from_utf8_lossy(&out.stderr)
                );
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn refusals_and_failures_have_clear_errors_and_exit_codes() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ra");
    let bob = enroll(&cds, "rb");
    let l = Listener::start(&bob, &[]);

    // Nothing listens on port 1.
    alice.cmd().args(["dial", "127.0.0.1:1"]).assert().code(7).stderr(predicate::str::contains("cannot reach"));

    // A caller never enrolled (identity only).
    let stranger = Participant::new("stranger");
    stranger
        .cmd()
        .args(["--cds", &cds.listen, "dial", &format!("rb@{}", l.addr)])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("no confirmed CDS key"));

    // Calling by name goes through the relay, where bob is not on hook: a NAK with its reason.
    alice.cmd().args(["dial", "rb"]).assert().code(7).stderr(predicate::str::contains("not listening"));

    // A caller whose CDSK is not the one the CDS holds (replaced, or revoked).
    let other = sslx::keys::encode_line(sslx::keys::LineKind::Cdsk, &[9u8; 32]);
    std::fs::write(alice.home().join("cdsk"), format!("{other}\n")).unwrap();
    alice
        .cmd()
        .args(["handshake", "--no-resume", &format!("rb@{}", l.addr)])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("does not verify under the CDS key"));
}

#[test]
fn the_cds_refuses_a_session_with_an_unknown_account() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ua");
    let home = sslx::keys::Home::new(alice.home());
    let (name, cdsk) = sslx::broker::client::enrolled(&home).unwrap();
    let rng = sslx::crypto::system_rng();
    let err = sslx::broker::client::request_session(&cds.listen, &name, &cdsk, "nobody", &rng).err().unwrap();
    assert_eq!(err.kind(), sslx::ErrorKind::NotFound, "{err}");
    let err = sslx::broker::client::request_session(&cds.listen, "nobody", &cdsk, "ua", &rng).err().unwrap();
    assert_eq!(err.kind(), sslx::ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("not enrolled"), "{err}");
}

/// The library's listening side (`Endpoint::incoming` on a bound socket, admission, and
/// `session::exec::run`) driven directly: a caller's bytes go through the command, its output
/// comes back, its exit status is reported (the environment filter: review_attacks' l5 test).
#[test]
fn the_library_listener_runs_a_call_through_a_command() {
    use sslx::session::admission::{Admission, Limits};
    use sslx::session::endpoint::{Endpoint, Options};
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ea"), enroll(&cds, "eb"));
    let home = |p: &Participant| sslx::keys::Home::new(p.home());
    let ep_b = Endpoint::load(&home(&bob), None).unwrap();
    let mut calls = ep_b.incoming(Some("127.0.0.1:0"), "session", |_| {}).unwrap();
    let target = format!("eb@{}", calls.listening_on);
    let admission = Admission::new(Limits::new(2));
    std::thread::scope(|s| {
        let listener = s.spawn(|| {
            let mut sock = calls.next().unwrap().unwrap();
            let mut place = admission.queue_or_refuse(&mut sock, true, "eb").unwrap().admit().unwrap();
            let rng = sslx::crypto::system_rng();
            let (session, conn) = ep_b.accept(sock, &Options::default(), &rng).unwrap();
            place.handshake_done();
            sslx::session::exec::run(session, conn, "tr a-z A-Z; echo \"peer=$SSLX_PEER\"; echo oops >&2; exit 3")
                .unwrap()
        });
        let ep_a = Endpoint::load(&home(&alice), None).unwrap();
        let rng = sslx::crypto::system_rng();
        let (session, conn) = ep_a.dial(&target, &Options::default(), &rng).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let input = std::io::Cursor::new(b"hello bob\n".to_vec());
        let (t, exit) = sslx::session::io::pump_call(session, conn, input, &mut out, &mut err).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "HELLO BOB\npeer=ea\n");
        assert_eq!((err.as_slice(), exit), (&b"oops\n"[..], Some(sslx::session::msgs::RemoteExit::Exited(3))));
        assert_eq!(t.sent, 10);
        let ran = listener.join().unwrap();
        assert_eq!((ran.transfer.received, ran.status.code(), ran.stopped), (10, Some(3), None));
    });
}

/// Time is passed in: a listener whose endpoint reads a clock past the ticket's life refuses the
/// caller's fresh ticket as expired (exit 4), where the same listener on the system clock takes it.
#[test]
fn the_listener_reads_the_time_from_its_endpoints_clock() {
    use sslx::session::endpoint::{Endpoint, Options};
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ka"), enroll(&cds, "kb"));
    let home = |p: &Participant| sslx::keys::Home::new(p.home());
    let later = sslx::clock::now_unix() + sslx::broker::DEFAULT_TICKET_LIFE + 3600;
    let ep_b = Endpoint::load(&home(&bob), None).unwrap().with_clock(Arc::new(sslx::clock::FixedClock::new(later)));
    let mut calls = ep_b.incoming(Some("127.0.0.1:0"), "session", |_| {}).unwrap();
    let target = format!("kb@{}", calls.listening_on);
    let opts = Options { resume: false, ..Options::default() };
    std::thread::scope(|s| {
        let listener = s.spawn(|| {
            let sock = calls.next().unwrap().unwrap();
            ep_b.accept(sock, &opts, &sslx::crypto::system_rng()).map(|_| ()).unwrap_err()
        });
        let ep_a = Endpoint::load(&home(&alice), None).unwrap();
        let e = ep_a.dial(&target, &opts, &sslx::crypto::system_rng()).map(|_| ()).unwrap_err();
        assert_eq!(e.kind().exit_code(), 4, "{e}");
        let e = listener.join().unwrap();
        assert_eq!(e.kind().exit_code(), 4, "{e}");
        assert!(e.to_string().contains("expired"), "{e}");
    });
}

/// Issue 13, item 4: `dial` to a `listen --exec`: the command's stdout is the stream, its stderr
/// reaches the caller's stderr apart from it, and `dial` exits with the command's status (128 + N
/// for a signal, as a shell says). With `--json`, both sides tell their events as NDJSON on
/// stderr (stdout carries the stream), the remote stderr included.
#[test]
fn dial_exits_with_the_remote_commands_status_and_gets_its_stderr_apart() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "xa"), enroll(&cds, "xb"));
    let l = Listener::start(&bob, &["--exec", "cat; echo to-stderr >&2; exit 42", "--allow", "xa"]);
    let at = format!("xb@{}", l.addr);
    let out = alice.cmd().args(["dial", &at]).write_stdin("to-stdout\n").assert().code(42).get_output().clone();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-stdout\n", "stderr is not mixed into the stream");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("to-stderr\n"), "{err}");
    assert!(err.contains("the command exited with 42"), "{err}");

    let killed = Listener::start(&bob, &["--exec", "kill -TERM $$", "--allow", "xa"]);
    alice.cmd().args(["-q", "dial", &format!("xb@{}", killed.addr)]).assert().code(143).stderr("");
    let fine = Listener::start(&bob, &["--exec", "true", "--allow", "xa"]);
    alice.cmd().args(["-q", "dial", &format!("xb@{}", fine.addr)]).assert().success();

    // --json: stdout is the stream alone, stderr is NDJSON alone.
    let out = alice.cmd().args(["--json", "dial", &at]).write_stdin("x\n").assert().code(42).get_output().clone();
    assert_eq!(out.stdout, b"x\n");
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not NDJSON: {l:?}")))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["connected", "stderr", "done"], "{events:?}");
    assert_eq!((events[0]["peer"].as_str(), events[1]["text"].as_str()), (Some("xb"), Some("to-stderr\n")));
    assert_eq!((events[2]["exit_code"].as_u64(), events[2]["received"].as_u64()), (Some(42), Some(12)), "{events:?}");
    drop(l);

    // The listener's own events with --json, on its stderr.
    let mut jl = Listener::start(&bob, &["--json", "--once", "--exec", "exit 5", "--allow", "xa"]);
    alice.cmd().args(["-q", "dial", &format!("xb@{}", jl.addr)]).assert().code(5);
    let _ = jl.child.wait();
    let (_, stdout, err) = jl.wait();
    assert!(stdout.is_empty(), "{stdout:?}");
    let kinds: Vec<String> = err
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|_| panic!("not NDJSON: {l:?}")))
        .map(|v| format!("{}:{}", v["event"].as_str().unwrap(), v["exit_code"]))
        .collect();
    assert_eq!(kinds, ["connected:null", "done:5"], "{err}");
}

/// A command that leaves a process behind holding its stderr, that stops reading its input, or
/// that ends while the caller's input never does: each call ends with the command's status
/// (these hung, or failed "cut off"; the 60 s limits only catch a hang).
#[test]
fn a_command_that_ends_ends_the_call_whatever_its_pipes_and_the_callers_input_do() {
    use std::time::Duration;
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ya"), enroll(&cds, "yb"));
    // A background process holds stderr open for 10 minutes.
    let held = Listener::start(&bob, &["--exec", "sleep 600 >/dev/null & echo ok; exit 7", "--allow", "ya"]);
    let out = alice
        .cmd()
        .args(["dial", &format!("yb@{}", held.addr)])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(7)
        .get_output()
        .clone();
    assert_eq!(out.stdout, b"ok\n");
    // A command reading one byte of 8 MiB: the rest is dropped, not an error.
    let one = Listener::start(&bob, &["--exec", "head -c 1; echo ' done'", "--allow", "ya"]);
    let big = vec![b'z'; 8 << 20];
    let out = alice
        .cmd()
        .args(["dial", &format!("yb@{}", one.addr)])
        .write_stdin(big)
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "z done\n");
    // The caller's input stays open (a terminal nobody types into): the call ends anyway.
    let date = Listener::start(&bob, &["--exec", "echo hi", "--allow", "ya"]);
    let mut dial = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(alice.home())
        .args(["dial", &format!("yb@{}", date.addr)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _open_input = dial.stdin.take();
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = dial.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > end {
            let _ = dial.kill();
            panic!("dial waited for its input after the command had ended");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut got = String::new();
    std::io::Read::read_to_string(&mut dial.stdout.take().unwrap(), &mut got).unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(got, "hi\n");
    // The listener served each call and still takes calls.
    alice.cmd().args(["-q", "dial", &format!("yb@{}", date.addr)]).write_stdin("").assert().success().stdout("hi\n");
}
