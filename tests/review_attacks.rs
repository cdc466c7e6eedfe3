//! The attack review of issue 10's fixes, each attack run again against the real binaries:
//! an enrolled participant holding every CDS work slot with slow deposits or idle relayed
//! sessions (H1), idle HTTP connections (H2), a mailbox blocked by one kept bundle (M1), rate
//! limits respelled past (M3), a mailbox filled by one sender (M4), trickling callers holding a
//! listener (M5), and the smaller ones (L5). Each test names its finding.

mod common;
use common::*;
use predicates::prelude::*;
use sslx::relay::*;
use sslx::wire::{read_frame, write_frame, Frame, Msg, RefusalCode, Refused};
use std::io::{Read, Write};
use std::time::Duration;

fn rng() -> ring::rand::SystemRandom {
    sslx::crypto::system_rng()
}

fn next(s: &mut std::net::TcpStream) -> Frame {
    read_frame(s).unwrap().expect("a frame")
}

fn refusal(f: &Frame) -> Refused {
    Refused::from_frame(f).unwrap_or_else(|e| panic!("expected a refusal, got type 0x{:02x}: {e}", f.msg_type))
}

#[test]
fn h1_deposits_under_way_hold_no_work_slot_and_count_against_their_sender() {
    let cds = Cds::start(&["--dev", "--max-working", "4", "--streams-per-participant", "8"], &[]);
    let (alice, bob) = (enroll(&cds, "ha"), enroll(&cds, "hb"));
    let ka = keys(&alice);
    // Eight deposits that send their frame and then nothing: each used to keep a work slot.
    let mut held: Vec<_> = (0..8).map(|i| start_deposit(&cds, &ka, &bob.name, 100_000, i)).collect();
    std::thread::sleep(Duration::from_millis(300));
    // Work goes on: an enrolment, a collection, a status request.
    let carol = enroll(&cds, "hc");
    carol.cmd().args(["recv", "--from-mailbox"]).assert().success().stderr(predicate::str::contains("empty"));
    // alice has her share of streams: a ninth is refused, and says why.
    let mut ninth = start_deposit(&cds, &ka, &bob.name, 100, 9);
    let r = refusal(&next(&mut ninth));
    assert_eq!(r.code, RefusalCode::RateLimited as u16, "{}", r.reason);
    assert!(r.reason.contains("finish one first"), "{}", r.reason);
    // Finishing one gives its place back.
    held[0].write_all(&vec![0u8; 100_000]).unwrap();
    assert_eq!(next(&mut held[0]).msg_type, TYPE_DEPOSIT_OK);
    let mut again = start_deposit(&cds, &ka, &bob.name, 100, 10);
    again.write_all(&[0u8; 100]).unwrap();
    assert_eq!(next(&mut again).msg_type, TYPE_DEPOSIT_OK);
}

#[test]
fn h1_a_relayed_session_that_moves_nothing_is_cut() {
    let cds = Cds::start(&["--dev", "--splice-idle", "1"], &[]);
    let (alice, bob) = (enroll(&cds, "ia"), enroll(&cds, "ib"));
    // The listener's command says nothing for 8 s; the caller sent all it had.
    let _l = Listener::on_hook(&bob, &["--exec", "sleep 8", "--allow", "ia"]);
    let _ = alice.cmd().args(["dial", "ib"]).write_stdin("").timeout(Duration::from_secs(30)).output().unwrap();
    // The CDS logs the call's end after it cut both sides: the caller may have left before.
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let mut calls = cds.calls_json();
    while calls.iter().any(|c| c["callee"] == "ib" && c["end"].is_null()) && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        calls = cds.calls_json();
    }
    let result = calls.iter().find(|c| c["callee"] == "ib").map(|c| c["result"].to_string()).unwrap_or_default();
    assert!(result.contains("idle for 1 s"), "{calls:?}");
}

#[test]
fn h2_one_source_cannot_hold_the_http_side() {
    let cds = Cds::start_dev();
    let port = cds.http.rsplit(':').next().unwrap().to_owned();
    let here = format!("127.0.0.1:{port}");
    // Sixteen idle connections (one with half a request) are all one source gets...
    let mut idle: Vec<_> = (0..16).map(|_| std::net::TcpStream::connect(&here).unwrap()).collect();
    idle[0].write_all(b"GET /v1/health HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut seventeenth = std::net::TcpStream::connect(&here).unwrap();
    seventeenth.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    let _ = seventeenth.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    // ...while another source is served, and the protocol port is untouched.
    let mut other = connect_from("127.0.0.2", &here);
    other.write_all(b"GET /v1/health HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    other.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ok = String::new();
    let _ = other.read_to_string(&mut ok);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok:?}");
    enroll(&cds, "hh");
    drop(idle);
}

#[test]
fn h2_the_cds_fits_its_limits_to_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "ulimit -n 600 && exec {} serve --dev --listen 127.0.0.1:0 --http 127.0.0.1:0",
        bin("sslx-cds").display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("open-file limit is 600"), "{first}");
}

#[test]
fn m1_a_bundle_kept_in_the_mailbox_does_not_hold_up_the_ones_behind_it() {
    let cds = Cds::start_dev();
    let (alice, bob, mallory) = (enroll(&cds, "ka"), enroll(&cds, "kb"), enroll(&cds, "km"));
    let key = |a: &Participant, b: &str| {
        let k = sslx::crypto::Secret::<32>::random(&rng());
        sslx::courier::save_pair_key(&sslx::keys::Home::new(a.home()), b, &k).unwrap();
        k
    };
    // mallory has a key for bob, bob none for mallory: her bundle cannot be opened, only kept.
    key(&mallory, "kb");
    let k = key(&alice, "kb");
    sslx::courier::save_pair_key(&sslx::keys::Home::new(bob.home()), "ka", &k).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("junk.txt"), "from mallory").unwrap();
    std::fs::write(work.path().join("report.txt"), "from alice").unwrap();
    mallory.cmd().arg("send").arg(work.path().join("junk.txt")).args(["--to", "kb"]).assert().success();
    alice.cmd().arg("send").arg(work.path().join("report.txt")).args(["--to", "kb"]).assert().success();
    let inbox = work.path().join("inbox");
    bob.cmd()
        .args(["recv", "--from-mailbox", "--into"])
        .arg(&inbox)
        .assert()
        .success()
        .stderr(predicate::str::contains("from km in the mailbox stays there"));
    assert_eq!(std::fs::read_to_string(inbox.join("report.txt")).unwrap(), "from alice");
}

#[test]
fn m3_a_destination_respelled_is_the_same_destination() {
    let cds = Cds::start(&["--dev", "--rate-oob", "2/h", "--rate-email", "2/h"], &[]);
    let p = Participant::new("rk");
    let hook = |i: u32| format!("https://victim.example:{}/hook?n={i}", 8000 + i);
    for i in 0..2 {
        p.vsu_cmd(&cds.listen, &format!("rk{i}@example.com"), &hook(i)).assert().success();
    }
    p.vsu_cmd(&cds.listen, "rk9@example.com", &hook(9))
        .assert()
        .code(5)
        .stderr(predicate::str::contains("out-of-band destination webhook:victim.example"));
    // sms: and voice: are one phone; +tags are one mailbox.
    let q = Participant::new("rl");
    q.vsu_cmd(&cds.listen, "rl+a@example.org", "sms:+15550001111").assert().success();
    q.vsu_cmd(&cds.listen, "rl+b@example.org", "voice:+15550001111").assert().success();
    q.vsu_cmd(&cds.listen, "other@example.org", "sms:+15550001111")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("phone:+15550001111"));
    q.vsu_cmd(&cds.listen, "RL+c@Example.org", "sms:+15550002222")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("email address rl@example.org"));
    // A +tag does not make reply B's mailbox another place for the PIN.
    Participant::new("rm")
        .vsu_cmd(&cds.listen, "rm@example.net", "mailto:RM+pin@example.net")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("beside reply B"));
}

#[test]
fn m4_one_sender_cannot_fill_the_mailbox() {
    let cds = Cds::start(&["--dev", "--mailbox-sender-total", "500000"], &[]);
    let (alice, bob, carol) = (enroll(&cds, "fa"), enroll(&cds, "fb"), enroll(&cds, "fc"));
    let ka = keys(&alice);
    let mut own = start_deposit(&cds, &ka, &alice.name, 10, 1);
    assert!(refusal(&next(&mut own)).reason.contains("cannot deposit for itself"));
    let mut first = start_deposit(&cds, &ka, &bob.name, 300_000, 2);
    first.write_all(&vec![0u8; 300_000]).unwrap();
    assert_eq!(next(&mut first).msg_type, TYPE_DEPOSIT_OK);
    // Under each recipient's quota, over what one sender may have waiting in all.
    let mut second = start_deposit(&cds, &ka, &carol.name, 300_000, 3);
    let r = refusal(&next(&mut second));
    assert!(r.reason.contains("from one sender"), "{}", r.reason);
    // And the disk keeps its floor.
    let cds = Cds::start(&["--dev", "--mailbox-min-free", "1000000000000000000"], &[]);
    let (alice, bob) = (enroll(&cds, "ga"), enroll(&cds, "gb"));
    let mut d = start_deposit(&cds, &keys(&alice), &bob.name, 10, 4);
    assert!(refusal(&next(&mut d)).reason.contains("short of disk space"));
}

#[test]
fn m5_trickling_callers_cannot_hold_a_listener() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ta"), enroll(&cds, "tb"));
    let l = Listener::start(&bob, &["--exec", "cat", "--max-calls", "2", "--allow-any"]);
    // Two connections from another address take both slots and send a byte every 2 s.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tricklers: Vec<_> = (0..2)
        .map(|_| {
            let (addr, stop) = (l.addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut s = connect_from("127.0.0.2", &addr);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && s.write_all(&[0x0c]).is_ok() {
                    std::thread::sleep(Duration::from_secs(2));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // A real call still gets through: the tricklers' handshakes are cut at 10 s.
    alice
        .cmd()
        .args(["-q", "dial", &format!("tb@{}", l.addr)])
        .write_stdin("through\n")
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout("through\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    tricklers.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn l5_a_listener_is_remembered_only_once_its_handshake_proved_it() {
    let cds = Cds::start_dev();
    let (alice, _bob) = (enroll(&cds, "pa"), enroll(&cds, "pb"));
    // An impostor says "pb" and then cannot go on.
    let fake = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in fake.incoming().take(1) {
            let mut s = s.unwrap();
            let hello = sslx::session::msgs::ListenerHello { name: "pb".into() }.to_frame().unwrap();
            let _ = s.write_all(&hello);
            let _ = sslx::wire::read_frame(&mut s);
        }
    });
    // The impostor closes where M2 belongs: the peer could not go on (exit 7), nothing pinned.
    alice
        .cmd()
        .args(["dial", "--yes", &addr])
        .write_stdin("x")
        .assert()
        .code(7)
        .stderr(predicate::str::contains("before sending M2"));
    let known = std::fs::read_to_string(alice.home().join("known-listeners")).unwrap_or_default();
    assert!(!known.contains(&addr), "{known}");
}

#[test]
fn l5_a_command_driven_by_a_peer_does_not_see_sslx_secrets() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ea"), enroll(&cds, "eb"));
    let l = Listener::command_with_env(
        &bob,
        &["listen", "--bind", "127.0.0.1:0", "--exec", "env", "--allow-any"],
        false,
        &[("SSLX_PASSWORD", "hunter2-secret"), ("SSLX_SAS", "sas-secret")],
    );
    let out = alice.cmd().args(["-q", "dial", &format!("eb@{}", l.addr)]).write_stdin("").output().unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.contains("SSLX_PEER=ea"), "{env}");
    assert!(!env.contains("secret"), "{env}");
}

#[test]
fn l5_the_smtp_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    assert_cmd::Command::new(bin("sslx-cds"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("c.db"))
        .args(["--smtp", "smtp://mailuser:S3cretPass@mail host:587"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mailuser:***").and(predicate::str::contains("S3cretPass").not()));
}

#[test]
fn l5_a_caller_probing_names_cannot_grow_the_billing_tape_without_bound() {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "ba");
    let (name, key) = keys(&alice);
    for i in 0..sslx::cds::relay::REFUSED_CALLS_LOGGED + 10 {
        let e =
            sslx::relay::client::call(&cds.listen, &name, &key, &format!("nobody{i}"), "session", &rng()).unwrap_err();
        assert_eq!(e.kind(), sslx::ErrorKind::NotFound, "{e}");
    }
    let refused = cds.calls_json().iter().filter(|c| c["result"].as_str().unwrap_or("").starts_with("refused")).count();
    assert_eq!(refused, sslx::cds::relay::REFUSED_CALLS_LOGGED as usize);
}

#[test]
fn a_collected_with_an_unknown_outcome_is_refused_and_a_kept_bundle_is_passed_over() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "oa"), enroll(&cds, "ob"));
    let (ka, kb) = (keys(&alice), keys(&bob));
    for tag in [1u8, 2] {
        let mut d = start_deposit(&cds, &ka, &bob.name, 10, tag);
        d.write_all(&[0u8; 10]).unwrap();
        assert_eq!(next(&mut d).msg_type, TYPE_DEPOSIT_OK);
    }
    // One collection: the first bundle kept (2), then the next collect brings the second.
    let mut c = sslx::net::connect_cds(&cds.listen).unwrap();
    c.stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let item_of = |c: &mut sslx::net::CdsConn, nonce: [u8; 16]| -> u64 {
        let f = Collect::new(&kb.0, &kb.1, &c.challenge, &nonce, &rng()).unwrap().to_frame().unwrap();
        write_frame(&mut c.stream, &f).unwrap();
        let d = Delivery::from_frame(&next(&mut c.stream)).unwrap();
        let body = d.open(&kb.1, &nonce).unwrap();
        assert_eq!(body[0], 1, "a bundle is delivered");
        let mut bytes = [0u8; 10];
        c.stream.read_exact(&mut bytes).unwrap();
        u64::from_be_bytes(body[1..9].try_into().unwrap())
    };
    let ack = |c: &mut sslx::net::CdsConn, nonce: [u8; 16], item: u64, outcome: u8| {
        let mut b = nonce.to_vec();
        b.extend_from_slice(&item.to_be_bytes());
        b.push(outcome);
        let f = Collected::new(&kb.0, &kb.1, &c.challenge, &b, &rng()).unwrap().to_frame().unwrap();
        write_frame(&mut c.stream, &f).unwrap();
    };
    let first = item_of(&mut c, [1; 16]);
    ack(&mut c, [1; 16], first, 2);
    let second = item_of(&mut c, [2; 16]);
    assert_ne!(first, second, "the kept bundle is passed over on this connection");
    ack(&mut c, [2; 16], second, 9);
    let r = refusal(&next(&mut c.stream));
    assert_eq!(r.code, RefusalCode::Malformed as u16, "{}", r.reason);
}
