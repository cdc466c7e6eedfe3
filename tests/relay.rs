//! Calls through the CDS relay (seed 004's call manager): `sslx listen` on hook, `sslx dial NAME`,
//! the NAKs, the registered-source check, the call log, and many calls at once.

mod common;
use common::bulk;
use common::*;
use predicates::prelude::*;
use sslx::wire::Msg;

#[test]
fn a_call_through_the_relay_carries_100_mib_each_way_and_is_logged() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ca");
    let bob = enroll(&cds, "cb");
    let _l = Listener::on_hook(&bob, &["--exec", "cat", "--allow", "ca"]);
    let data = pseudo_random(100 << 20, 1);
    let out =
        alice.cmd().args(["-q", "dial", "cb"]).write_stdin(data.clone()).assert().success().get_output().stdout.clone();
    assert!(out == data, "the echo differs");
    // Half-close: EOF on stdin reaches the command, and its answer still comes back.
    let l2 = Listener::on_hook(&enroll(&cds, "cc"), &["--exec", "wc -c", "--allow-any"]);
    alice
        .cmd()
        .args(["dial", "cc"])
        .write_stdin(vec![b'x'; 12345])
        .assert()
        .success()
        .stdout(predicate::str::contains("12345"));
    drop(l2);

    let calls = cds.calls_json();
    let big = calls.iter().find(|c| c["callee"] == "cb").unwrap();
    assert_eq!((big["caller"].as_str(), big["result"].as_str()), (Some("ca"), Some("completed")));
    // The relay counts what it carried: the data plus the session's framing.
    let (up, down) = (big["bytes_up"].as_u64().unwrap(), big["bytes_down"].as_u64().unwrap());
    assert!(up > 100 << 20 && up < (100 << 20) + (1 << 20), "{up}");
    assert!(down > 100 << 20 && down < (100 << 20) + (1 << 20), "{down}");
    assert!(big["end"].as_u64().unwrap() >= big["start"].as_u64().unwrap());
    // CSV too, with a header line.
    cds.admin(&["calls", "--since", "1h"]).assert().success().stdout(
        predicate::str::starts_with("tracking_id,caller,callee,start,end,bytes_up,bytes_down,result\n")
            .and(predicate::str::contains(",ca,cb,")),
    );
}

#[test]
fn handshake_by_name_resumes_through_the_relay() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ha");
    let bob = enroll(&cds, "hb");
    let _l = Listener::on_hook(&bob, &[]);
    let first = alice.cmd().args(["--json", "handshake", "hb"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!((v["resumed"].as_bool(), v["forward_secrecy"].as_bool()), (Some(false), Some(true)));
    let second = alice.cmd().args(["--json", "handshake", "hb"]).assert().success().get_output().stdout.clone();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&second).unwrap()["resumed"], true);
}

#[test]
fn naks_say_why_and_are_logged() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "na");
    let _bob = enroll(&cds, "nb");
    alice.cmd().args(["dial", "nb"]).assert().code(7).stderr(predicate::str::contains("\"nb\" is not listening"));
    alice.cmd().args(["dial", "nobody"]).assert().code(6).stderr(predicate::str::contains("no participant named"));
    alice.cmd().args(["dial", "na"]).assert().code(5).stderr(predicate::str::contains("cannot call itself"));
    let never = Participant::new("never");
    never
        .cmd()
        .args(["--cds", &cds.listen, "dial", "nb"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("no confirmed CDS key"));
    let results: Vec<String> = cds.calls_json().iter().map(|c| c["result"].as_str().unwrap().to_owned()).collect();
    assert!(results.iter().any(|r| r.contains("is not listening")), "{results:?}");
    assert!(results.iter().any(|r| r.contains("no participant named")), "{results:?}");
}

#[test]
fn a_call_from_another_source_than_the_registered_one_is_refused() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "sa");
    let bob = enroll(&cds, "sb");
    let _l = Listener::on_hook(&bob, &[]);
    let home = sslx::keys::Home::new(alice.home());
    let (name, cdsk) = sslx::broker::client::enrolled(&home).unwrap();
    let rng = sslx::crypto::system_rng();
    // alice enrolled from 127.0.0.1; this call comes from 127.0.0.2 (also loopback).
    let mut sock = connect_from("127.0.0.2", &cds.listen);
    let hello = sslx::wire::CdsHello::from_frame(&sslx::wire::read_frame(&mut sock).unwrap().unwrap()).unwrap();
    let body =
        sslx::relay::CallBody { callee: "sb".into(), nonce: [1; 16], service: "session".into() }.encode().unwrap();
    let call = sslx::relay::Call::new(&name, &cdsk, &hello.challenge, &body, &rng).unwrap();
    sslx::wire::write_frame(&mut sock, &call.to_frame().unwrap()).unwrap();
    let f = sslx::wire::read_frame(&mut sock).unwrap().unwrap();
    let r = sslx::vsu::Refused::from_frame(&f).unwrap();
    assert_eq!(r.code, sslx::wire::RefusalCode::SourceMismatch as u16);
    assert!(r.reason.contains("registered source 127.0.0.1"), "{}", r.reason);
    // From the registered source the same kind of call goes through.
    alice.cmd().args(["handshake", "sb"]).assert().success();
}

#[test]
fn a_wrapped_call_under_the_wrong_key_is_refused() {
    let cds = Cds::start_dev();
    let _alice = enroll(&cds, "wka");
    let bob = enroll(&cds, "wkb");
    let _l = Listener::on_hook(&bob, &[]);
    let rng = sslx::crypto::system_rng();
    let err = sslx::vsu::client::exchange(&cds.listen, |ch| {
        let body =
            sslx::relay::CallBody { callee: "wkb".into(), nonce: [1; 16], service: "session".into() }.encode()?;
        Ok(sslx::relay::Call::new("wka", &sslx::crypto::Secret::new([5; 32]), ch, &body, &rng)?.to_frame()?)
    })
    .unwrap_err();
    assert_eq!(err.kind(), sslx::ErrorKind::VerifyFailed, "{err}");
}

#[test]
fn two_hundred_concurrent_dials_through_one_cds_all_complete() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ma");
    let bob = enroll(&cds, "mb");
    let _l = Listener::on_hook(&bob, &["--exec", "cat", "--max-calls", "64", "--allow", "ma"]);
    let threads: Vec<_> = (0..200u32)
        .map(|i| {
            let home = alice.home();
            std::thread::spawn(move || {
                let data = pseudo_random(4096 + i as usize, i as u8);
                let out = sslx(&home)
                    .args(["-q", "dial", "mb"])
                    .write_stdin(data.clone())
                    .timeout(std::time::Duration::from_secs(120))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "call {i}: {}", String::from_utf8_lossy(&out.stderr));
                assert!(out.stdout == data, "call {i}: bytes differ");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A listener at its 64 calls answers "busy" (a short relayed call that completes too) and
    // the dialer calls again: the tape has one completed call per echo that carried its bytes.
    let calls = cds.calls_json();
    let echoed = |c: &&serde_json::Value| {
        c["result"] == "completed" && c["bytes_up"].as_u64() >= Some(4096) && c["bytes_down"].as_u64() >= Some(4096)
    };
    let odd: Vec<&serde_json::Value> =
        calls.iter().filter(|c| !echoed(c) && c["bytes_up"].as_u64() >= Some(4096)).collect();
    assert_eq!(
        calls.iter().filter(echoed).count(),
        200,
        "calls that carried a dial's bytes but are not completed echoes: {odd:?}"
    );
}

#[test]
fn more_participants_on_hook_than_connection_slots_stay_reachable() {
    // The work slots bound work in progress; idle hooks must not use them up.
    let n = sslx::cds::serve::ConnLimits::default().max_working + 100;
    // This process holds n + a few sockets (and the CDS as many): a soft limit of 1,024 open
    // files would fail the test, not the CDS. Raise it to the hard limit, and say so if that is short.
    let nofile = sslx::cds::limits::raise_nofile();
    assert!(nofile as usize > n + 64, "RLIMIT_NOFILE is {nofile}: this test needs {} open files", n + 64);
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let keys = bulk::enroll_into_db(&db, "h", n);
    let outbox = state.path().join("outbox");
    let cds = Cds::start(&["--db", db.to_str().unwrap(), "--outbox", outbox.to_str().unwrap(), "--health-detail"], &[]);
    let hooks: Vec<_> = keys.iter().map(|(name, cdsk)| bulk::hook(&cds.listen, name, cdsk)).collect();
    assert_eq!(bulk::on_hook_count(&cds.http) as usize, n);
    // The last one on hook is still rung: a call to it gets through to its hook.
    let (name, _) = keys.last().unwrap();
    let mut last = hooks.into_iter().last().unwrap();
    let rng = sslx::crypto::system_rng();
    let (caller, caller_key) = &keys[0];
    let c = sslx::net::connect_cds(&cds.listen).unwrap();
    let call = sslx::relay::Call::new(
        caller,
        caller_key,
        &c.challenge,
        &sslx::relay::CallBody { callee: name.to_owned(), nonce: [2; 16], service: "session".into() }.encode().unwrap(),
        &rng,
    )
    .unwrap();
    let mut c = c.stream;
    sslx::wire::write_frame(&mut c, &call.to_frame().unwrap()).unwrap();
    let ring = sslx::wire::read_frame(&mut last).unwrap().unwrap();
    assert_eq!(ring.msg_type, sslx::relay::TYPE_RING);
}

#[test]
fn the_peers_ticket_is_pushed_over_its_hook_and_never_kept() {
    // SQLite whatever the tests' backend: the test reads the database's bytes.
    let state = tempfile::tempdir().unwrap();
    let cds = Cds::start(&["--dev", "--db", state.path().join("cds.db").to_str().unwrap()], &[]);
    let alice = enroll(&cds, "pa");
    let bob = enroll(&cds, "pb");
    let rng = sslx::crypto::system_rng();
    let (a_name, a_key) = sslx::broker::client::enrolled(&sslx::keys::Home::new(alice.home())).unwrap();
    let (b_name, b_key) = sslx::broker::client::enrolled(&sslx::keys::Home::new(bob.home())).unwrap();
    // Whether the database (with its write-ahead log) holds this session id anywhere.
    let kept = |session_id: &[u8; 16]| {
        let mut bytes = std::fs::read(&cds.db).unwrap();
        bytes.extend(std::fs::read(cds.db.with_extension("db-wal")).unwrap_or_default());
        bytes.windows(16).any(|w| w == session_id)
    };

    // bob is not connected: nothing is kept for him (alice hands him the ticket in M1).
    let g = sslx::broker::client::request_session(&cds.listen, &a_name, &a_key, "pb", &rng).unwrap();
    assert!(!kept(&g.session_id));

    // bob on hook: his copy is pushed down the hook, and opens under his key.
    let mut hook = sslx::relay::client::on_hook(&cds.listen, &b_name, &b_key, "session", &rng).unwrap();
    let g = sslx::broker::client::request_session(&cds.listen, &a_name, &a_key, "pb", &rng).unwrap();
    match hook.next_event().unwrap() {
        sslx::relay::client::HookEvent::Ticket { caller, session_id, .. } => {
            assert_eq!(caller, "pa");
            assert_eq!(session_id, g.session_id);
        }
        other => panic!("expected the ticket, got {other:?}"),
    }
    assert!(!kept(&g.session_id), "a pushed ticket is not kept either");
}
