//! Issue 10's attacks on the CDS, each run against the real `sslx-cds` over its real wire:
//! recorded requests replayed on other connections, open requests as a spam and SSRF cannon,
//! mailbox quotas raced and overflowed, idle sockets hoarding the port, forged billing rows,
//! the site command's environment, files and keys at rest. Each test names its finding.

mod common;
use common::*;
use predicates::prelude::*;
use sslx::relay::*;
use sslx::wire::{read_frame, write_frame, CdsHello, Frame, Msg, RefusalCode, Refused};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

fn rng() -> ring::rand::SystemRandom {
    sslx::crypto::system_rng()
}

/// A raw connection to the CDS, after its hello.
fn open(cds: &Cds) -> sslx::net::CdsConn {
    let c = sslx::net::connect_cds(&cds.listen).unwrap();
    c.stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    c
}

fn next(s: &mut std::net::TcpStream) -> Frame {
    read_frame(s).unwrap().expect("a frame")
}

fn refusal(f: &Frame) -> Refused {
    Refused::from_frame(f).unwrap_or_else(|e| panic!("expected a refusal, got type 0x{:02x}: {e}", f.msg_type))
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn finding_3_a_recorded_on_hook_does_not_steal_the_hook_on_another_connection() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ra"), enroll(&cds, "rb"));
    let ((a, ka), (b, kb)) = (keys(&alice), keys(&bob));
    let mut first = open(&cds);
    let body = HookBody { nonce: [1; 16], service: "session".into() }.encode().unwrap();
    let frame = OnHook::new(&b, &kb, &first.challenge, &body, &rng()).unwrap().to_frame().unwrap();
    write_frame(&mut first.stream, &frame).unwrap();
    assert_eq!(next(&mut first.stream).msg_type, TYPE_HOOK_OK);
    // The same bytes, recorded, sent on a new connection.
    let mut thief = open(&cds);
    write_frame(&mut thief.stream, &frame).unwrap();
    let r = refusal(&next(&mut thief.stream));
    assert_eq!(r.code, RefusalCode::BadSignature as u16, "{}", r.reason);
    // bob's own hook still rings.
    let mut caller = open(&cds);
    let call = Call::new(
        &a,
        &ka,
        &caller.challenge,
        &CallBody { callee: b.clone(), nonce: [2; 16], service: "session".into() }.encode().unwrap(),
        &rng(),
    )
    .unwrap();
    write_frame(&mut caller.stream, &call.to_frame().unwrap()).unwrap();
    assert_eq!(next(&mut first.stream).msg_type, TYPE_RING);
}

#[test]
fn finding_3_a_replayed_deposit_cannot_replace_a_stored_bundle() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "da"), enroll(&cds, "db"));
    let ((a, ka), (b, kb)) = (keys(&alice), keys(&bob));
    let (x, y) = (pseudo_random(4096, 1), pseudo_random(4096, 2));
    let body = DepositBody {
        recipient: b.clone(),
        nonce: [3; 16],
        size: x.len() as u64,
        bundle_id: [4; 8],
        sha256: sslx::crypto::sha256(&x),
    }
    .encode()
    .unwrap();
    let mut c = open(&cds);
    let frame = Deposit::new(&a, &ka, &c.challenge, &body, &rng()).unwrap().to_frame().unwrap();
    write_frame(&mut c.stream, &frame).unwrap();
    std::io::Write::write_all(&mut c.stream, &x).unwrap();
    assert_eq!(next(&mut c.stream).msg_type, TYPE_DEPOSIT_OK);
    // Replayed on another connection with other bytes of the same size: refused.
    let mut r = open(&cds);
    write_frame(&mut r.stream, &frame).unwrap();
    let _ = std::io::Write::write_all(&mut r.stream, &y);
    assert_eq!(refusal(&next(&mut r.stream)).code, RefusalCode::BadSignature as u16);
    // Even on its own connection, bytes other than the ones hashed in the deposit are refused.
    let mut c2 = open(&cds);
    let body2 =
        DepositBody { nonce: [5; 16], bundle_id: [6; 8], ..DepositBody::decode(&body).unwrap() }.encode().unwrap();
    let f2 = Deposit::new(&a, &ka, &c2.challenge, &body2, &rng()).unwrap().to_frame().unwrap();
    write_frame(&mut c2.stream, &f2).unwrap();
    std::io::Write::write_all(&mut c2.stream, &y).unwrap();
    assert!(refusal(&next(&mut c2.stream)).reason.contains("do not match the hash"));
    // What waits for bob is alice's bundle, whole, and only it.
    let mut got = Vec::new();
    let n = sslx::relay::client::collect(&cds.listen, &b, &kb, &rng(), |item, bytes| {
        let mut v = Vec::new();
        bytes.read_to_end(&mut v).unwrap();
        got.push((item.sender.clone(), v));
        sslx::relay::client::Outcome::Refused
    })
    .unwrap();
    assert_eq!(n, 0);
    assert_eq!(got, vec![(a.clone(), x)]);
}

#[test]
fn finding_3_every_authenticated_request_fails_on_another_connection() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ea"), enroll(&cds, "eb"));
    let ((a, ka), (b, kb)) = (keys(&alice), keys(&bob));
    let replayed = |build: &dyn Fn(&[u8; 32]) -> Vec<u8>| {
        let recorded = build(&open(&cds).challenge);
        let mut c = open(&cds);
        write_frame(&mut c.stream, &recorded).unwrap();
        refusal(&next(&mut c.stream))
    };
    type Build<'a> = Box<dyn Fn(&[u8; 32]) -> Vec<u8> + 'a>;
    let cases: Vec<(&str, Build)> = vec![
        (
            "call",
            Box::new(|ch| {
                Call::new(
                    &a,
                    &ka,
                    ch,
                    &CallBody { callee: b.clone(), nonce: [1; 16], service: "session".into() }.encode().unwrap(),
                    &rng(),
                )
                .unwrap()
                .to_frame()
                .unwrap()
            }),
        ),
        ("answer", Box::new(|ch| Answer::new(&b, &kb, ch, &[2; 16], &rng()).unwrap().to_frame().unwrap())),
        ("collect", Box::new(|ch| Collect::new(&b, &kb, ch, &[3; 16], &rng()).unwrap().to_frame().unwrap())),
        (
            "status",
            Box::new(|ch| {
                Status::new(&a, &ka, ch, &[&[4u8; 16][..], &0u16.to_be_bytes()].concat(), &rng())
                    .unwrap()
                    .to_frame()
                    .unwrap()
            }),
        ),
        (
            "session request",
            Box::new(|ch| {
                let body = sslx::broker::msgs::RequestBody { peer: b.clone(), nonce: [5; 16] };
                sslx::broker::SessionRequest::new(&a, &ka, ch, &body, &rng()).unwrap().to_frame().unwrap()
            }),
        ),
    ];
    for (what, build) in &cases {
        let r = replayed(build.as_ref());
        assert_eq!(r.code, RefusalCode::BadSignature as u16, "a replayed {what}: {}", r.reason);
    }
    // An open request replayed elsewhere sends no second email.
    let p = Participant::new("ec");
    let home = sslx::keys::Home::new(p.home());
    let id = home.load_identity().unwrap();
    let outbox = cds.outbox.clone().unwrap();
    let before = count_files(&outbox);
    let r = replayed(&|ch| {
        let mut req = sslx::vsu::OpenRequest {
            ar: sslx::vsu::AR_VSU_DS.into(),
            name: id.name.clone(),
            public: id.public(),
            email: "ec@example.com".into(),
            oob: "sms:+15551234567".into(),
            signature: [0; 64],
            proof: None,
        };
        req.signature = id.sign(&req.signed_bytes(ch).unwrap());
        req.to_frame().unwrap()
    });
    assert_eq!(r.code, RefusalCode::BadSignature as u16, "{}", r.reason);
    assert_eq!(count_files(&outbox), before, "a replayed open request sent email");
}

#[test]
fn finding_4_open_requests_are_limited_per_source_and_per_email() {
    let cds = Cds::start(&["--dev", "--rate-source", "3/h", "--rate-email", "2/h"], &[]);
    let outbox = cds.outbox.clone().unwrap();
    for i in 0..3 {
        Participant::new(&format!("rl{i}")).vsu(&cds, "sms:+15551234567");
    }
    let fourth = Participant::new("rl3");
    fourth
        .vsu_cmd(&cds.listen, "rl3@example.com", "sms:+15551234567")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("too many open requests from the address 127.0.0.1"));
    assert_eq!(count_files(&outbox), 3, "the refused request sent no email");
    // Another source may still ask; the same email address is limited on its own.
    let cds = Cds::start(&["--dev", "--rate-email", "2/h"], &[]);
    let p = Participant::new("re");
    p.vsu_cmd(&cds.listen, "same@example.com", "sms:+15551234567").assert().success();
    p.vsu_cmd(&cds.listen, "SAME@example.com", "sms:+15551234568").assert().success();
    p.vsu_cmd(&cds.listen, "same@example.com", "sms:+15551234569")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("for the email address same@example.com"));
}

fn redirecting(to: &str) -> WebhookServer {
    WebhookServer::redirecting(to)
}

#[test]
fn finding_4_webhooks_to_private_addresses_redirects_and_bad_channels_are_refused_before_any_email() {
    let outbox = tempfile::tempdir().unwrap();
    let ob = outbox.path().to_str().unwrap();
    let hook = WebhookServer::start();
    let cds = Cds::start(&["--outbox", ob, "--allow-http-webhooks"], &[]);
    let p = Participant::new("ssrf");
    p.vsu_cmd(&cds.listen, "s@example.com", &hook.hook())
        .assert()
        .code(5)
        .stderr(predicate::str::contains("not a public address"));
    p.vsu_cmd(&cds.listen, "s@example.com", "http://169.254.169.254/latest/meta-data")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("169.254.169.254"));
    p.vsu_cmd(&cds.listen, "s@example.com", "http://[::ffff:127.0.0.1]:9/x").assert().code(5);
    p.vsu_cmd(&cds.listen, "s@example.com", "mailto:S@example.com")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("beside reply B"));
    p.vsu_cmd(&cds.listen, "s@example.com", "sms:5551234").assert().code(5).stderr(predicate::str::contains("E.164"));
    assert!(hook.calls.lock().unwrap().is_empty(), "the webhook was called");
    assert_eq!(count_files(outbox.path()), 0, "reply B went out for a refused request");
    // Allowed to reach private addresses, a webhook still may not redirect the PIN elsewhere.
    let target = WebhookServer::start();
    let bouncer = redirecting(&target.hook());
    let outbox2 = tempfile::tempdir().unwrap();
    let cds = Cds::start(
        &["--outbox", outbox2.path().to_str().unwrap(), "--allow-http-webhooks", "--allow-private-webhooks"],
        &[],
    );
    p.vsu_cmd(&cds.listen, "s@example.com", &bouncer.hook())
        .assert()
        .code(5)
        .stderr(predicate::str::contains("reply C could not be delivered"));
    assert!(std::fs::read_to_string(&cds.stderr_log).unwrap().contains("redirects are not followed"));
    assert_eq!(bouncer.calls.lock().unwrap().len(), 1);
    assert!(target.calls.lock().unwrap().is_empty(), "the redirect was followed");
}

#[test]
fn finding_7_the_mailbox_quota_holds_against_racing_wrapping_and_one_greedy_sender() {
    let cds = Cds::start(&["--dev", "--mailbox-quota", "1000000", "--mailbox-sender-quota", "700000"], &[]);
    let (alice, carol, bob) = (enroll(&cds, "qa"), enroll(&cds, "qc"), enroll(&cds, "qb"));
    let (ka, kc) = (keys(&alice), keys(&carol));
    // Two deposits of 600 kB each, from two senders, both under way at once: one of them only.
    let mut one = start_deposit(&cds, &ka, &bob.name, 600_000, 1);
    let mut two = start_deposit(&cds, &kc, &bob.name, 600_000, 2);
    let answer = |s: &mut std::net::TcpStream| {
        let _ = std::io::Write::write_all(s, &vec![0u8; 600_000]);
        next(s)
    };
    let (a1, a2) = (answer(&mut one), answer(&mut two));
    let refused = [&a1, &a2].iter().filter(|f| f.msg_type == sslx::wire::TYPE_REFUSED).count();
    assert_eq!(refused, 1, "exactly one of two racing deposits fits");
    for f in [&a1, &a2] {
        if f.msg_type == sslx::wire::TYPE_REFUSED {
            assert!(refusal(f).reason.contains("mailbox is full"), "{}", refusal(f).reason);
        }
    }
    // A size near 2^64 does not wrap the sum: refused before a byte is read.
    let mut huge = start_deposit(&cds, &kc, &bob.name, u64::MAX - 10, 3);
    assert!(refusal(&next(&mut huge)).reason.contains("full"));
    // One sender may not fill a mailbox alone.
    let cds = Cds::start(&["--dev", "--mailbox-quota", "1000000", "--mailbox-sender-quota", "300000"], &[]);
    let (alice, bob) = (enroll(&cds, "qd"), enroll(&cds, "qe"));
    let mut greedy = start_deposit(&cds, &keys(&alice), &bob.name, 400_000, 4);
    assert!(refusal(&next(&mut greedy)).reason.contains("from one sender"));
}

#[test]
fn empty_bundles_count_against_the_quotas_and_do_not_pile_up_without_end() {
    // Each bundle weighs at least 4096 bytes: with 40,000 bytes from one sender, nine empty
    // deposits fit (36,864) and the tenth is refused; before, every one of thousands fitted.
    let cds = Cds::start(&["--dev", "--mailbox-sender-quota", "40000"], &[]);
    let (alice, bob) = (enroll(&cds, "za"), enroll(&cds, "zb"));
    let ka = keys(&alice);
    for i in 0..9u8 {
        let mut d = start_deposit(&cds, &ka, &bob.name, 0, 10 + i);
        assert_eq!(next(&mut d).msg_type, TYPE_DEPOSIT_OK, "empty deposit {i}");
    }
    let mut tenth = start_deposit(&cds, &ka, &bob.name, 0, 19);
    let why = refusal(&next(&mut tenth)).reason;
    assert!(why.contains("at most 40000 from one sender") && why.contains("counts as 4096"), "{why}");
}

#[test]
fn finding_7_expired_bundles_and_their_files_are_purged_without_a_collect() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let mailbox = state.path().join("mb");
    let args = |days: &'static str| {
        vec![
            "--db".to_owned(),
            db.display().to_string(),
            "--outbox".into(),
            state.path().join("outbox").display().to_string(),
            "--oob-dir".into(),
            state.path().join("oob").display().to_string(),
            "--mailbox-dir".into(),
            mailbox.display().to_string(),
            "--mailbox-days".into(),
            days.into(),
        ]
    };
    let a = args("0");
    let cds = Cds::start(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let (alice, bob) = (enroll(&cds, "pa"), enroll(&cds, "pb"));
    let x = pseudo_random(1000, 9);
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, &x).unwrap();
    let (an, ak) = keys(&alice);
    sslx::relay::client::deposit(&cds.listen, &an, &ak, &bob.name, &[7; 8], &mut file, &rng()).unwrap();
    assert_eq!(count_files(&mailbox), 1);
    cds.stop();
    // The purge runs when the CDS starts and every hour after: the expired bundle is gone,
    // file and all, though bob never collected.
    let cds = Cds::start(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    for _ in 0..100 {
        if count_files(&mailbox) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(count_files(&mailbox), 0, "the expired bundle's file is still there");
    let states = sslx::relay::client::status(&cds.listen, &an, &ak, &[[7; 8]], &rng()).unwrap();
    assert_eq!(states[0].1, sslx::relay::client::DeliveryState::Expired);
}

#[test]
fn a_deposit_cut_off_by_a_kill_leaves_its_temp_file_only_until_the_purge() {
    let state = tempfile::tempdir().unwrap();
    let mailbox = state.path().join("mb");
    let a: Vec<String> = [("--db", "cds.db"), ("--outbox", "outbox"), ("--oob-dir", "oob"), ("--mailbox-dir", "mb")]
        .iter()
        .flat_map(|(flag, p)| [flag.to_string(), state.path().join(p).display().to_string()])
        .collect();
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut cds = Cds::start(&args, &[]);
    let (alice, bob) = (enroll(&cds, "ka"), enroll(&cds, "kb"));
    let mut d = start_deposit(&cds, &keys(&alice), &bob.name, 600_000, 1);
    std::io::Write::write_all(&mut d, &[0u8; 100_000]).unwrap();
    let incoming =
        || -> Vec<std::path::PathBuf> { std::fs::read_dir(&mailbox).unwrap().map(|e| e.unwrap().path()).collect() };
    for _ in 0..100 {
        if !incoming().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left = incoming();
    assert!(left.len() == 1 && left[0].file_name().unwrap().to_str().unwrap().starts_with(".incoming-"), "{left:?}");
    cds.child.kill().unwrap();
    cds.child.wait().unwrap();
    drop(d);
    // Unwritten for two hours: the leftover of a dead deposit. One written now (another
    // instance's deposit under way, on a shared directory) stays.
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options().write(true).open(&left[0]).unwrap().set_modified(two_hours_ago).unwrap();
    let live = mailbox.join(".incoming-live");
    std::fs::write(&live, b"under way").unwrap();
    let cds = Cds::start(&args, &[]);
    // The sweep is done when it says so (it runs with the purge at start).
    for _ in 0..400 {
        if std::fs::read_to_string(&cds.stderr_log).unwrap_or_default().contains("deposit temp file(s)") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!left[0].exists(), "the dead deposit's temp file is still there");
    assert!(live.exists(), "a temp file written just now was taken");
    let log = std::fs::read_to_string(&cds.stderr_log).unwrap();
    assert!(log.contains("1 deposit temp file(s) left by a cut-off deposit removed"), "{log}");
}

#[test]
fn finding_8_idle_connections_from_one_source_do_not_shut_out_others() {
    let cds = Cds::start_dev();
    // 64 sockets from 127.0.0.2 that send nothing hold that source's share of waiting slots ...
    let idle: Vec<_> = (0..64).map(|_| connect_from("127.0.0.2", &cds.listen)).collect();
    for mut s in idle.iter().map(|s| s.try_clone().unwrap()) {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        assert_eq!(next(&mut s).msg_type, sslx::wire::TYPE_CDS_HELLO);
    }
    // ... so the next one from there is refused at once, with the reason ...
    let mut extra = connect_from("127.0.0.2", &cds.listen);
    extra.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let r = refusal(&next(&mut extra));
    assert_eq!(r.code, RefusalCode::RateLimited as u16);
    assert!(r.reason.contains("too many connections from 127.0.0.2"), "{}", r.reason);
    // ... while everyone else enrolls as usual.
    enroll(&cds, "busy");
    // A frame of an unknown type is answered with a refusal, and the connection closed.
    let mut c = open(&cds);
    write_frame(&mut c.stream, &[0x7f, sslx::wire::VERSION, 0, 0, 0, 0]).unwrap();
    assert!(refusal(&next(&mut c.stream)).reason.contains("unexpected message type"));
    assert!(read_frame(&mut c.stream).unwrap().is_none(), "the connection stays open after an unknown frame");
    drop(idle);
}

#[test]
fn finding_9_a_forged_callee_never_reaches_the_billing_tape_and_csv_cells_are_quoted() {
    let cds = Cds::start_dev();
    let (alice, _bob) = (enroll(&cds, "ba"), enroll(&cds, "bb"));
    let (a, ka) = keys(&alice);
    let forged = "=HYPERLINK(\"http://x\"),\"x\"\nforged,row";
    let mut c = open(&cds);
    let call = Call::new(
        &a,
        &ka,
        &c.challenge,
        &CallBody { callee: forged.to_owned(), nonce: [1; 16], service: "session".into() }.encode().unwrap(),
        &rng(),
    )
    .unwrap();
    write_frame(&mut c.stream, &call.to_frame().unwrap()).unwrap();
    let r = refusal(&next(&mut c.stream));
    assert_eq!(r.code, RefusalCode::BadRequest as u16, "{}", r.reason);
    // A refused call to a real name is logged; the forged one is not.
    alice.cmd().args(["dial", "bb"]).assert().code(7);
    let out = cds.admin(&["calls", "--format", "csv"]).output().unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(!csv.contains("HYPERLINK") && !csv.contains("forged"), "{csv}");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(&rows[0][2], "bb");
    assert!(rows[0][7].starts_with("refused: "), "{csv}");
}

#[test]
fn finding_13_the_site_command_gets_a_clean_environment_one_scheme_and_a_bounded_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let cmd = format!(
        "mkdir {d}/run.$$; ls -d {d}/run.* | wc -l >> {d}/counts; env > {d}/env.$SSLX_OOB_REQUEST; sleep 0.3; rmdir {d}/run.$$"
    );
    let outbox = tempfile::tempdir().unwrap();
    let secrets = [("SSLX_SMTP_PASSWORD", "smtp-secret"), ("SSLX_TWILIO_TOKEN", "twilio-secret")];
    let cds = Cds::start(&["--outbox", outbox.path().to_str().unwrap(), "--oob-exec", &cmd], &secrets);
    let kids: Vec<_> = (0..8)
        .map(|i| {
            let p = Participant::new(&format!("ex{i}"));
            let mut c = std::process::Command::new(bin("sslx"));
            c.arg("--home").arg(p.home()).args(["--cds", &cds.listen, "vsu", "--email"]);
            c.arg(format!("ex{i}@example.com")).arg("--oob").arg(format!("exec:pager{i}@example.com"));
            (p, c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap())
        })
        .collect();
    for (_, k) in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let counts = std::fs::read_to_string(dir.path().join("counts")).unwrap();
    let most = counts.lines().filter_map(|l| l.trim().parse::<usize>().ok()).max().unwrap();
    assert!(most <= sslx::cds::oob::MAX_EXEC_CHILDREN, "{most} site commands ran at once");
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("env.") {
            let env = std::fs::read_to_string(&p).unwrap();
            assert!(!env.contains("secret"), "the site command saw the CDS's secrets:\n{env}");
            assert!(env.contains("SSLX_OOB_TO=exec:pager"));
        }
    }
    let p = Participant::new("exbad");
    p.vsu_cmd(&cds.listen, "b@example.com", "signal:+15551234567")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("not offered"));
    p.vsu_cmd(&cds.listen, "b@example.com", "exec:$(reboot)")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("exec: destinations"));
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn finding_15_the_mailbox_outbox_and_oob_folder_are_private() {
    let cds = Cds::start_dev();
    let (alice, bob) = (enroll(&cds, "ma"), enroll(&cds, "mb"));
    let (an, ak) = keys(&alice);
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, b"sealed bytes").unwrap();
    sslx::relay::client::deposit(&cds.listen, &an, &ak, &bob.name, &[1; 8], &mut file, &rng()).unwrap();
    let mb = cds.mailbox_dir.clone();
    assert_eq!(mode(&mb), 0o700);
    for e in std::fs::read_dir(&mb).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
    for d in [cds.outbox.clone().unwrap(), cds.oob_dir.clone().unwrap()] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            assert_eq!(mode(&e.as_ref().unwrap().path()), 0o600, "{}", e.unwrap().path().display());
        }
    }
}

#[test]
fn a_shared_folder_given_for_secrets_is_refused_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    // sslx-cds serve with `args`: it stops at once, exit 1; its stderr.
    let refused = |args: &[String]| -> String {
        let out = assert_cmd::Command::new(bin("sslx-cds"))
            .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(args)
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(1)
            .get_output()
            .clone();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let state = tempfile::tempdir().unwrap();
    let shared = state.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let own = |p: &str| state.path().join(p).display().to_string();
    for flag in ["--outbox", "--oob-dir", "--mailbox-dir"] {
        let mut args = vec!["--db".to_owned(), own("cds.db")];
        for (f, d) in [("--outbox", "outbox"), ("--oob-dir", "oob"), ("--mailbox-dir", "mb")] {
            args.extend([f.to_owned(), if f == flag { shared.display().to_string() } else { own(d) }]);
        }
        let err = refused(&args);
        assert!(
            err.contains("others can write in this directory (mode 1777)") && err.contains("of its own"),
            "{flag}: {err}"
        );
        assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777, 0o1777, "{flag} changed it");
    }
    // A private folder of another user's (as root, where one can be made): refused too.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = state.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let err = refused(&["--dev".into(), "--outbox".into(), theirs.display().to_string()]);
        assert!(err.contains("belongs to another user (uid 65534)"), "{err}");
    }
}

#[test]
fn finding_16_a_copied_database_alone_opens_nothing() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let args = [
        "--db",
        db.to_str().unwrap(),
        "--outbox",
        &state.path().join("outbox").display().to_string(),
        "--oob-dir",
        &state.path().join("oob").display().to_string(),
    ]
    .map(str::to_owned);
    let cds = Cds::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let p = enroll(&cds, "kr");
    let (_, cdsk) = keys(&p);
    cds.stop();
    // Not the participant's CDSK, nor any request's, is in the database's bytes.
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(state.path().join("cds.db-wal")) {
        bytes.extend(wal);
    }
    assert!(!bytes.windows(32).any(|w| w == cdsk.expose()), "the CDSK is in the database in clear");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let request_keys: i64 =
        conn.query_row("SELECT COUNT(*) FROM requests WHERE length(cdsk) > 0", [], |r| r.get(0)).unwrap();
    assert_eq!(request_keys, 0, "a confirmed request keeps its key");
    drop(conn);
    // The key file is apart from it, 0600; a copy of the database without it opens nothing.
    assert_eq!(mode(&state.path().join("cds.db.key")), 0o600);
    let thief = tempfile::tempdir().unwrap();
    std::fs::copy(&db, thief.path().join("cds.db")).unwrap();
    let _ = std::fs::copy(state.path().join("cds.db-wal"), thief.path().join("cds.db-wal"));
    let out = std::process::Command::new(bin("sslx-cds"))
        .args(["calls", "--db"])
        .arg(thief.path().join("cds.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "the missing key file is the user's to give");
    assert!(String::from_utf8_lossy(&out.stderr).contains("key file"), "{}", String::from_utf8_lossy(&out.stderr));
    // With some other key file: refused as well.
    let other = tempfile::tempdir().unwrap();
    drop(sslx::cds::SqliteStore::open_with_key(&other.path().join("x.db"), &other.path().join("k")).unwrap());
    let out = std::process::Command::new(bin("sslx-cds"))
        .args(["calls", "--db"])
        .arg(thief.path().join("cds.db"))
        .arg("--key-file")
        .arg(other.path().join("k"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to another database"));
}

#[test]
fn finding_18_health_says_only_that_the_cds_is_up_unless_asked() {
    let get = |cds: &Cds| -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(cds.http.trim_start_matches("http://")).unwrap();
        std::io::Write::write_all(&mut s, b"GET /v1/health HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        serde_json::from_str(&body[body.find('{').unwrap()..]).unwrap()
    };
    let quiet = Cds::start_dev();
    assert_eq!(get(&quiet), serde_json::json!({"ok": true}));
    let detailed = Cds::start(&["--dev", "--health-detail"], &[]);
    assert_eq!(get(&detailed)["on_hook"], 0);
}

#[test]
fn finding_20_concurrent_wrong_confirmations_get_no_more_than_the_allowed_attempts() {
    let cds = Cds::start_dev();
    let p = Participant::new("at");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let rid: [u8; 16] = hex::decode(&rid).unwrap().try_into().unwrap();
    let (listen, denied) = (cds.listen.clone(), std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)));
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let (listen, denied) = (listen.clone(), denied.clone());
            std::thread::spawn(move || {
                let r = rng();
                let wrong = sslx::crypto::Secret::<32>::random(&r);
                let got = sslx::vsu::client::exchange(&listen, |ch| {
                    Ok(sslx::vsu::assemble::make_confirm(&wrong, &rid, ch, &r).0.to_frame()?)
                });
                if matches!(got, Ok(f) if f.msg_type == sslx::vsu::TYPE_DENIED) {
                    denied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(denied.load(std::sync::atomic::Ordering::SeqCst), 3, "3 attempts are allowed, however many race");
}

#[test]
fn the_hello_comes_first_and_a_client_of_the_old_version_hears_why() {
    let cds = Cds::start_dev();
    let mut s = std::net::TcpStream::connect(&cds.listen).unwrap();
    let hello = CdsHello::from_frame(&next(&mut s)).unwrap();
    assert_ne!(hello.challenge, [0; 32]);
    // A version-1 frame (today's clients before this change) is refused, saying which version.
    write_frame(&mut s, &[0x10, 1, 0, 0, 0, 0]).unwrap();
    assert!(refusal(&next(&mut s)).reason.contains("version 1"));
}

/// A failure of the CDS's own (here its database, a table gone underneath it) is refused with
/// code 10 and one fixed reason: the SQL, the file name and the table stay in the CDS's log.
#[test]
fn an_internal_failure_reaches_the_peer_as_one_generic_reason() {
    let cds = Cds::start_dev();
    let p = Participant::new("if1");
    cds.sql("DROP TABLE rate_events");
    let out = p.vsu_cmd(&cds.listen, "if1@example.com", "sms:+15551234567").assert().code(7).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CDS internal error (the CDS's log has the detail)"), "{stderr}");
    for detail in ["rate_events", "cds.db", "postgres://", "no such table", "does not exist", "SELECT"] {
        assert!(!stderr.contains(detail), "{detail:?} reached the peer: {stderr}");
    }
    let log = std::fs::read_to_string(&cds.stderr_log).unwrap();
    let gone = ["no such table: rate_events", "relation \"rate_events\" does not exist"];
    assert!(log.contains("internal error") && gone.iter().any(|g| log.contains(g)), "{log}");
}

/// The CDS reads every time from the clock it is given (`Cds::clock`): its hello carries that
/// clock, and so does a refusal (a participant compares its own clock with them).
#[test]
fn the_cds_stamps_its_hello_and_refusals_with_the_clock_it_is_given() {
    use sslx::clock::FixedClock;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(1_700_000_000));
    let (tx, rx) = std::sync::mpsc::channel();
    let (d, c) = (dir.path().to_owned(), clock.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let rng = sslx::crypto::system_rng();
            let store = sslx::cds::SqliteStore::open(&d.join("cds.db")).unwrap();
            let registrar = sslx::cds::Registrar::new(Box::new(store), Default::default(), &rng).unwrap();
            let cds = Arc::new(sslx::cds::Cds {
                registrar,
                relay: sslx::cds::relay::Relay::new(true),
                mailer: sslx::cds::mail::Mailer::outbox(d.join("outbox")).unwrap(),
                oob: sslx::cds::oob::Oob::new(sslx::cds::oob::OobConfig {
                    dir: Some(d.join("oob")),
                    sms: None,
                    exec: None,
                    allow_http: false,
                    allow_private: false,
                    phone_prefixes: Vec::new(),
                }),
                cfg: sslx::cds::CdsConfig {
                    mail_from: "cds@localhost".into(),
                    conn: Default::default(),
                    health_detail: false,
                    drain: std::time::Duration::from_secs(1),
                },
                rng,
                clock: Box::new(c),
            });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let h = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().to_string()).unwrap();
            let _ = sslx::cds::serve(l, h, cds, std::future::pending()).await;
        });
    });
    let addr = rx.recv().unwrap();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    let hello = CdsHello::from_frame(&read_frame(&mut s).unwrap().unwrap()).unwrap();
    assert_eq!(hello.cds_time, 1_700_000_000);
    clock.advance(90);
    write_frame(&mut s, &Frame { msg_type: 0x7e, version: sslx::wire::VERSION, body: vec![] }.to_bytes()).unwrap();
    let r = Refused::from_frame(&read_frame(&mut s).unwrap().unwrap()).unwrap();
    assert_eq!(r.server_time, 1_700_000_090, "{}", r.reason);
}

/// Issue 13: hooks are per service, and one participant cannot make the CDS keep unbounded hook
/// connections by naming new services: 8 services on hook at once, the 9th refused (19); a
/// service name that is not one is refused (11); re-hooking a service it has is always allowed.
#[test]
fn a_participant_keeps_at_most_eight_services_on_hook() {
    let cds = Cds::start_dev();
    let bob = enroll(&cds, "hs");
    let (b, kb) = keys(&bob);
    let hook = |service: &str| {
        let mut c = open(&cds);
        let body = HookBody { nonce: [4; 16], service: service.into() }.encode().unwrap();
        let frame = OnHook::new(&b, &kb, &c.challenge, &body, &rng()).unwrap().to_frame().unwrap();
        write_frame(&mut c.stream, &frame).unwrap();
        let answer = next(&mut c.stream);
        (c, answer)
    };
    let kept: Vec<_> = (0..8)
        .map(|i| {
            let (c, answer) = hook(&format!("svc{i}"));
            assert_eq!(answer.msg_type, TYPE_HOOK_OK, "service {i}");
            c
        })
        .collect();
    let (_c, answer) = hook("svc8");
    let r = refusal(&answer);
    assert_eq!(r.code, RefusalCode::RateLimited as u16, "{}", r.reason);
    assert!(r.reason.contains("8 services"), "{}", r.reason);
    let (_c, answer) = hook("svc3");
    assert_eq!(answer.msg_type, TYPE_HOOK_OK, "a service it has may hook again (replacing the old one)");
    let (_c, answer) = hook("Not/A/Service");
    assert_eq!(refusal(&answer).code, RefusalCode::BadRequest as u16);
    drop(kept);
}
