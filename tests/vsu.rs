//! Verified setup end to end, driving the real `sslx` and `sslx-cds` binaries.

mod common;
use common::*;
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;

const VERIFY_FAILED: i32 = 3;
const EXPIRED: i32 = 4;
const REFUSED: i32 = 5;
const NOT_FOUND: i32 = 6;
const UNAVAILABLE: i32 = 7;

fn standing_json(p: &Participant, cds: &Cds, name: &str) -> serde_json::Value {
    let out = p
        .cmd()
        .args(["--cds-http", &cds.http, "--json", "standing", name])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn dev_cds_enrolls_a_participant_end_to_end() {
    let cds = Cds::start_dev();
    let p = enroll(&cds, "alice");
    assert!(p.has("cdsk") && p.has("cds.json"));
    assert!(!p.has("cdsk.pending") && !p.has("vsu-pending.json"));
    let mode = std::fs::metadata(p.home().join("cdsk")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The CDS HTTP address announced at enrollment is remembered.
    let out = p.cmd().args(["--json", "standing", "alice"]).assert().success().get_output().stdout.clone();
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(s["status"], "confirmed");
    assert_eq!(s["channels"], serde_json::json!(["email", "sms"]));
    assert_eq!(s["vsu_count"], 1);
    p.cmd().args(["standing", "alice"]).assert().success().stdout(predicate::str::contains("confirmed"));
    // The dev CDS says how to point a shell at it, and where each request's halves went: files
    // named by the request.
    let log = std::fs::read_to_string(&cds.stderr_log).unwrap();
    assert!(log.contains(&format!("export SSLX_CDS={}", cds.listen)), "{log}");
    assert!(log.contains(&format!("export SSLX_CDS_HTTP={}", cds.http)), "{log}");
    let line =
        log.lines().find(|l| l.contains("request ") && l.contains("for alice")).unwrap_or_else(|| panic!("{log}"));
    let rid = line.split("request ").nth(1).unwrap().split_whitespace().next().unwrap();
    let (b, c) = (
        cds.outbox.as_ref().unwrap().join(format!("{rid}.reply-b.eml")),
        cds.oob_dir.as_ref().unwrap().join(format!("{rid}.txt")),
    );
    assert!(line.contains(&b.display().to_string()) && line.contains(&c.display().to_string()), "{line}");
    assert!(b.is_file() && c.is_file());
    assert!(!line.contains(&cds.pin(rid)), "the PIN itself is never logged: {line}");
}

#[test]
fn reply_b_over_real_smtp_and_pin_over_a_real_webhook() {
    let smtp = SmtpServer::start();
    let hook = WebhookServer::start();
    let cds = Cds::start(
        &["--smtp", &format!("smtp://{}", smtp.addr), "--allow-http-webhooks", "--allow-private-webhooks"],
        &[],
    );
    let p = Participant::new("web1");
    let rid = p.vsu(&cds, &hook.hook());
    let mail = smtp.wait_for("web1@example.com");
    assert!(
        !mail.data.contains(&hook.wait_for(&rid)["pin"].as_str().unwrap().to_string()),
        "reply B must never carry the PIN"
    );
    let call = hook.wait_for(&rid);
    assert_eq!(call["type"], "sslx.vsu.reply_c");
    let pin = call["pin"].as_str().unwrap().to_owned();
    // The whole email, as the SMTP server received it, goes to assemble-key on stdin.
    p.cmd()
        .args(["assemble-key", "--reply-b", "-"])
        .env("SSLX_PIN", &pin)
        .write_stdin(mail.data.clone())
        .assert()
        .success();
    p.cmd().args(["vsu", "--confirm"]).assert().success().stderr(predicate::str::contains("confirmed"));
    let s = standing_json(&p, &cds, "web1");
    assert_eq!(s["channels"], serde_json::json!(["email", "webhook"]));
}

#[test]
fn smtp_server_refusing_the_recipient_is_a_clear_refusal_and_leaves_nothing() {
    let smtp = SmtpServer::start();
    let oob = tempfile::tempdir().unwrap();
    let cds = Cds::start(&["--smtp", &format!("smtp://{}", smtp.addr), "--oob-dir", oob.path().to_str().unwrap()], &[]);
    let p = Participant::new("rej");
    p.vsu_cmd(&cds.listen, "reject@example.com", "sms:+15551234567").assert().code(REFUSED).stderr(
        predicate::str::contains("reply B could not be emailed").and(predicate::str::contains("reject@example.com")),
    );
    assert!(!p.has("vsu-pending.json"));
    // Nothing is pending at the CDS either, and the request can simply be made again.
    p.cmd().args(["--cds-http", &cds.http, "standing", "rej"]).assert().code(NOT_FOUND);
    p.vsu(&cds, "sms:+15551234567");
}

#[test]
fn wrong_pin_is_denied_removes_the_key_and_can_be_retried() {
    let cds = Cds::start_dev();
    let p = Participant::new("bob");
    let rid = p.vsu(&cds, "sms:+15550000000");
    let pin = cds.pin(&rid);
    let wrong = format!("{}{}", if pin.starts_with('0') { '1' } else { '0' }, &pin[1..]);
    let eml = cds.reply_b_file(&rid);
    p.cmd().args(["assemble-key", "--reply-b"]).arg(&eml).args(["--pin", &wrong]).assert().success();
    p.cmd()
        .args(["vsu", "--confirm"])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("denied").and(predicate::str::contains("2 attempt(s) left")));
    assert!(!p.has("cdsk.pending") && !p.has("cdsk"));
    // Run again with the right PIN: nothing to clean up first.
    p.cmd().args(["assemble-key", "--reply-b"]).arg(&eml).args(["--pin", &pin]).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
    assert!(p.has("cdsk"));
}

#[test]
fn attempts_are_bounded() {
    let cds = Cds::start(&["--dev", "--max-attempts", "2"], &[]);
    let p = Participant::new("carol");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let eml = cds.reply_b_file(&rid);
    for left in ["1 attempt(s) left", "no attempts left"] {
        p.cmd().args(["assemble-key", "--reply-b"]).arg(&eml).args(["--pin", "0000"]).assert().success();
        p.cmd().args(["vsu", "--confirm"]).assert().code(VERIFY_FAILED).stderr(predicate::str::contains(left));
    }
    assert!(!p.has("vsu-pending.json"), "a dead request is forgotten");
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(&eml)
        .args(["--pin", &cds.pin(&rid)])
        .assert()
        .code(NOT_FOUND)
        .stderr(predicate::str::contains("sslx vsu"));
}

#[test]
fn swapped_halves_truncated_and_flipped_replies_are_refused_and_install_nothing() {
    let cds = Cds::start_dev();
    let p = Participant::new("dave");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let pin = cds.pin(&rid);
    let a_file = p.dir.path().join("reply-a.txt");
    p.cmd().args(["vsu", "--confirm"]).assert().code(NOT_FOUND); // nothing assembled yet
    std::fs::write(
        &a_file,
        std::fs::read_to_string(p.home().join("vsu-pending.json"))
            .map(|j| serde_json::from_str::<serde_json::Value>(&j).unwrap()["reply_a"].as_str().unwrap().to_owned())
            .unwrap(),
    )
    .unwrap();

    // Reply A given where reply B belongs.
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(&a_file)
        .args(["--pin", &pin])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("swapped"));

    // Reply B with one character changed, or cut short.
    let b = std::fs::read_to_string(cds.reply_b_file(&rid)).unwrap();
    let line = b.lines().find(|l| l.starts_with("sslx-reply-b1")).unwrap().to_owned();
    let mut flipped = line.clone().into_bytes();
    let i = flipped.len() - 10;
    flipped[i] = if flipped[i] == b'q' { b'p' } else { b'q' };
    for (bad, msg) in
        [(String::from_utf8(flipped).unwrap(), "checksum"), (line[..line.len() - 8].to_owned(), "reply B")]
    {
        p.cmd()
            .args(["assemble-key", "--reply-b", "-", "--pin", &pin])
            .write_stdin(bad)
            .assert()
            .code(VERIFY_FAILED)
            .stderr(predicate::str::contains(msg));
    }

    // Reply A truncated or with one byte flipped.
    let a_text = std::fs::read_to_string(&a_file).unwrap();
    let a_bytes = sslx::vsu::dearmor("SSLX REPLY A", &a_text).unwrap();
    let mut variants = vec![a_bytes[..a_bytes.len() - 1].to_vec()];
    for i in [0usize, 7, 30, a_bytes.len() - 1] {
        let mut t = a_bytes.clone();
        t[i] ^= 0x01;
        variants.push(t);
    }
    for v in variants {
        std::fs::write(&a_file, sslx::vsu::armor("SSLX REPLY A", &v)).unwrap();
        p.cmd()
            .args(["assemble-key", "--reply-b"])
            .arg(cds.reply_b_file(&rid))
            .arg("--reply-a")
            .arg(&a_file)
            .args(["--pin", &pin])
            .assert()
            .code(VERIFY_FAILED)
            .stderr(predicate::str::contains("reply A"));
    }
    assert!(!p.has("cdsk.pending") && !p.has("cdsk"));
}

#[test]
fn another_machines_reply_a_does_not_open() {
    let cds = Cds::start_dev();
    let alice = Participant::new("alice2");
    let mallory = Participant::new("mallory");
    let rid = alice.vsu(&cds, "sms:+15551234567");
    let a_text = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(alice.home().join("vsu-pending.json")).unwrap(),
    )
    .unwrap()["reply_a"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_file = mallory.dir.path().join("a.txt");
    std::fs::write(&a_file, a_text).unwrap();
    mallory
        .cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .arg("--reply-a")
        .arg(&a_file)
        .args(["--pin", &cds.pin(&rid)])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("does not open with this machine's key"));
    assert!(!mallory.has("cdsk.pending"));
}

#[test]
fn restart_between_vsu_and_confirm_changes_nothing_and_expiry_uses_both_clocks() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let outbox = state.path().join("outbox");
    let oob = state.path().join("oob");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let args = |db: &std::path::Path| -> Vec<String> {
        vec![
            "--db".into(),
            db.display().to_string(),
            "--outbox".into(),
            outbox.display().to_string(),
            "--oob-dir".into(),
            oob.display().to_string(),
        ]
    };
    let a: Vec<String> = args(&db);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();

    let cds = Cds::start(&a, &[]);
    let p = Participant::new("erin");
    let late = Participant::new("late");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let rid_late = late.vsu(&cds, "sms:+15551234567");
    let (pin, eml) = (cds.pin(&rid), cds.reply_b_file(&rid));
    let (pin_late, eml_late) = (cds.pin(&rid_late), cds.reply_b_file(&rid_late));
    cds.stop();

    let cds = Cds::start(&a, &[]);
    p.cmd().args(["assemble-key", "--reply-b"]).arg(&eml).args(["--pin", &pin]).assert().success();
    p.cmd().args(["--cds", &cds.listen, "vsu", "--confirm"]).assert().success();
    cds.stop();

    // Two days on (both clocks): the request has expired, and both clocks are printed.
    let two_days_on = (now.parse::<u64>().unwrap() + 2 * 86400).to_string();
    let cds = Cds::start(&a, &[("SSLX_TEST_NOW", &two_days_on)]);
    late.cmd().args(["assemble-key", "--reply-b"]).arg(&eml_late).args(["--pin", &pin_late]).assert().success();
    late.cmd()
        .args(["--cds", &cds.listen, "vsu", "--confirm"])
        .env("SSLX_TEST_NOW", &two_days_on)
        .assert()
        .code(EXPIRED)
        .stderr(predicate::str::contains("expired").and(predicate::str::contains("CDS clock")));
    // The confirmed participant survived both restarts.
    assert_eq!(standing_json(&p, &cds, "erin")["status"], "confirmed");
}

#[test]
fn a_replayed_confirmation_is_refused() {
    let cds = Cds::start_dev();
    let p = Participant::new("frank");
    let home = sslx::keys::Home::new(p.home());
    let rid = p.vsu(&cds, "sms:+15551234567");
    let b = std::fs::read_to_string(cds.reply_b_file(&rid)).unwrap();
    let (cdsk, request_id) =
        sslx::vsu::client::assemble(&home, &b, &cds.pin(&rid), None, sslx::clock::now_unix()).unwrap();
    let rng = sslx::crypto::system_rng();
    use sslx::wire::Msg;
    let mut frame = Vec::new();
    let first = sslx::vsu::client::exchange(&cds.listen, |challenge| {
        let (confirm, _) = sslx::vsu::assemble::make_confirm(&cdsk, &request_id, challenge, &rng);
        frame = confirm.to_frame()?;
        Ok(frame.clone())
    })
    .unwrap();
    assert_eq!(first.msg_type, sslx::vsu::TYPE_CONFIRMED);
    let again = sslx::vsu::client::exchange(&cds.listen, |_| Ok(frame.clone())).unwrap_err();
    assert_eq!(again.kind(), sslx::ErrorKind::VerifyFailed, "{again}");
    assert!(again.to_string().contains("replay"), "{again}");
}

#[test]
fn a_registered_name_needs_proof_of_the_current_key() {
    let cds = Cds::start_dev();
    let owner = enroll(&cds, "gina");
    let squatter = Participant::new("gina");
    squatter
        .vsu_cmd(&cds.listen, "x@example.com", "sms:+15551234567")
        .assert()
        .code(REFUSED)
        .stderr(predicate::str::contains("registered to another key"));
    // The owner moves to a new key, proving the old one.
    owner.cmd().args(["keygen", "--name", "gina", "--force"]).assert().success();
    let old = owner.home().join("identity.key.old");
    // The CDS address was remembered at the first enrollment: no --cds here.
    let mut c = owner.cmd();
    c.args(["vsu", "--email", "g@example.com", "--oob", "sms:+15551234567", "--prove-with"]).arg(&old);
    let rid = request_id_of(c);
    owner
        .cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .args(["--pin", &cds.pin(&rid)])
        .assert()
        .success();
    owner.cmd().args(["vsu", "--confirm"]).assert().success();
    let s = standing_json(&owner, &cds, "gina");
    assert_eq!(s["vsu_count"], 2);
}

#[test]
fn unknown_names_unreachable_cds_and_exposed_secrets_get_clear_errors() {
    let cds = Cds::start_dev();
    let p = Participant::new("hank");
    p.cmd()
        .args(["--cds-http", &cds.http, "standing", "nobody"])
        .assert()
        .code(NOT_FOUND)
        .stderr(predicate::str::contains("no participant named"));
    // Nothing listens on port 1.
    p.vsu_cmd("127.0.0.1:1", "h@example.com", "sms:+15551234567")
        .assert()
        .code(UNAVAILABLE)
        .stderr(predicate::str::contains("cannot reach the CDS").and(predicate::str::contains("hint:")));
    std::fs::set_permissions(p.home().join("identity.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    p.vsu_cmd(&cds.listen, "h@example.com", "sms:+15551234567")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("readable by group or others").and(predicate::str::contains("chmod 600")));
    assert!(!p.has("vsu-pending.json"));
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let cds = Cds::start_dev();
    let p = Participant::new("ivy");
    p.vsu_cmd(&cds.listen, "not-an-address", "sms:+15551234567")
        .assert()
        .code(REFUSED)
        .stderr(predicate::str::contains("not an email address"));
    p.vsu_cmd(&cds.listen, "i@example.com", "nonsense")
        .assert()
        .code(REFUSED)
        .stderr(predicate::str::contains("not a URI"));
    // Garbage on the protocol port gets a refusal, not a hang or a crash.
    let raw = |b: &'static [u8]| sslx::vsu::client::exchange(&cds.listen, |_| Ok(b.to_vec())).unwrap_err();
    let err = raw(b"\x10\x02\x00\x00\x00\x03abc");
    assert!(err.to_string().contains("malformed"), "{err}");
    let err = raw(b"\x10\x02\xff\xff\xff\xff");
    assert!(err.to_string().contains("limit"), "{err}");
    let err = raw(b"\x10\x01\x00\x00\x00\x03abc");
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn keygen_refuses_to_overwrite_and_writes_secrets_0600() {
    let p = Participant::new("jay");
    p.cmd().args(["keygen", "--name", "jay"]).assert().code(2).stderr(predicate::str::contains("already exists"));
    let mode = std::fs::metadata(p.home().join("identity.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let out = p.cmd().args(["keygen", "--name", "kay", "--out", "-"]).assert().success().get_output().clone();
    assert!(String::from_utf8_lossy(&out.stdout).contains("SSLX-SECRET-KEY-1"));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("kay sslx-pub1"));
    p.cmd().args(["keygen", "--name", "Bad Name"]).assert().code(2).stderr(predicate::str::contains("invalid name"));
}

#[test]
fn reply_b_quoted_in_a_reply_after_a_soft_line_break_assembles() {
    // Issue 11: a mail client quoting a quoted-printable reply B (`…=` then `> rest`) used to
    // leave the line broken, and assemble-key exited 3.
    let cds = Cds::start_dev();
    let p = Participant::new("quoted");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let eml = std::fs::read_to_string(cds.reply_b_file(&rid)).unwrap();
    let line = eml.lines().find(|l| l.starts_with("sslx-reply-b1")).unwrap().trim().to_owned();
    let (head, tail) = line.split_at(40);
    let forwarded = format!(
        "On Monday the CDS wrote:\n> This is reply B.\n> -----BEGIN SSLX REPLY B-----\n> {head}=\n> {tail}\n> -----END SSLX REPLY B-----\n"
    );
    p.cmd().args(["assemble-key", "--reply-b", "-", "--pin", &cds.pin(&rid)]).write_stdin(forwarded).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
}

#[test]
fn the_dev_outbox_names_mail_by_request_and_the_confirmed_key_file_says_so() {
    let cds = Cds::start_dev();
    let p = Participant::new("named");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let eml = cds.outbox.as_ref().unwrap().join(format!("{rid}.reply-b.eml"));
    assert!(eml.exists(), "no {}", eml.display());
    assert!(cds.oob_dir.as_ref().unwrap().join(format!("{rid}.txt")).exists());
    p.cmd().args(["assemble-key", "--reply-b"]).arg(&eml).args(["--pin", &cds.pin(&rid)]).assert().success();
    assert!(std::fs::read_to_string(p.home().join("cdsk.pending")).unwrap().contains("not yet confirmed"));
    p.cmd().args(["vsu", "--confirm"]).assert().success();
    let key = std::fs::read_to_string(p.home().join("cdsk")).unwrap();
    assert!(key.starts_with("# sslx CDS key of named at the CDS") && key.contains("confirmed 20"), "{key}");
    assert!(!key.contains("not yet confirmed"));
}

#[test]
fn a_cds_key_is_renewed_with_the_current_one_before_it_expires_and_a_lost_answer_is_finished_later() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let (outbox, oob) = (state.path().join("outbox"), state.path().join("oob"));
    let a: Vec<String> = ["--db", db.to_str().unwrap(), "--outbox", outbox.to_str().unwrap()]
        .into_iter()
        .map(String::from)
        .chain(["--oob-dir".into(), oob.display().to_string()])
        .collect();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cds = Cds::start(&a, &[]);
    let p = enroll(&cds, "rita");
    let before = standing_json(&p, &cds, "rita");
    cds.stop();

    // 20 days before the key expires (both clocks).
    let later = now + 345 * 86400;
    let at = later.to_string();
    let cds = Cds::start(&a, &[("SSLX_TEST_NOW", &at)]);
    let run = |p: &Participant, cds: &str, args: &[&str]| {
        let mut c = p.cmd();
        c.env("SSLX_TEST_NOW", &at).args(["--cds", cds]).args(args);
        c
    };
    run(&p, &cds.listen, &["status"])
        .assert()
        .success()
        .stderr(predicate::str::contains("renew it now (sslx vsu --renew)"));
    let cdsk = p.home().join("cdsk");
    let old_key = std::fs::read_to_string(&cdsk).unwrap();
    let out = run(&p, &cds.listen, &["--json", "vsu", "--renew"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((v["ok"].as_bool(), v["status"].as_str()), (Some(true), Some("renewed")), "{v}");
    assert_eq!(v["key_expires_unix"], later + 365 * 86400);
    assert_eq!((v["renewed_at_unix"].as_u64(), v["finished_earlier"].as_bool()), (Some(later), Some(false)));
    let new_key = std::fs::read_to_string(&cdsk).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(std::fs::metadata(&cdsk).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!p.has("cdsk.renewing"));
    // The standing shows the new expiry and the renewal, and no new VSU.
    let after = standing_json(&p, &cds, "rita");
    for same in ["vsu_count", "last_vsu", "first_vsu", "channels", "public_key"] {
        assert_eq!(after[same], before[same], "{same}: {after}");
    }
    assert_eq!(after["key_renewed"], sslx::cli::fmt_time(later));
    assert_eq!(after["key_expires"], sslx::cli::fmt_time(later + 365 * 86400));
    assert_eq!(after["key_life_days"], 365);
    let s = run(&p, &cds.listen, &["--json", "status"]).assert().success().get_output().stdout.clone();
    let s: serde_json::Value = serde_json::from_slice(&s).unwrap();
    assert_eq!((s["cds"]["renew_soon"].as_bool(), s["cds"]["renewed_at_unix"].as_u64()), (Some(false), Some(later)));

    // The old key proves nothing any more.
    let stale = Participant::new("rita");
    for f in ["identity.key", "cds.json"] {
        std::fs::copy(p.home().join(f), stale.home().join(f)).unwrap();
    }
    sslx::keys::write_secret_atomic(&stale.home().join("cdsk"), old_key.as_bytes()).unwrap();
    run(&stale, &cds.listen, &["vsu", "--renew"])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("does not verify under the CDS key"));
    assert!(!stale.has("cdsk.renewing"));

    // The current CDS key without the registered identity (a copied cdsk) cannot renew: the new
    // key is sealed to the identity, and the CDS keeps the one it has.
    let thief = Participant::new("rita");
    std::fs::copy(p.home().join("cds.json"), thief.home().join("cds.json")).unwrap();
    sslx::keys::write_secret_atomic(&thief.home().join("cdsk"), new_key.as_bytes()).unwrap();
    run(&thief, &cds.listen, &["vsu", "--renew"])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("does not open with this home's identity"));

    // The renewal's confirmation arrives but its answer is lost: the CDS holds the new key, the
    // home keeps it in cdsk.renewing, and the next run finishes the renewal.
    let proxy = answer_replacing_proxy(&cds.listen, 1, Vec::new());
    run(&p, &proxy, &["vsu", "--renew"])
        .assert()
        .code(UNAVAILABLE)
        .stderr(predicate::str::contains("run sslx vsu --renew again to finish it"));
    assert!(p.has("cdsk.renewing"));
    assert_eq!(std::fs::read_to_string(&cdsk).unwrap(), new_key, "the installed key is untouched");
    // On the way back, someone on the path puts a refusal (which nobody signs) where the answer
    // was: nothing is removed for it, and the key the CDS holds stays in cdsk.renewing.
    let forged = sslx::wire::Refused { code: 6, server_time: later, reason: "forged".into() };
    let proxy = answer_replacing_proxy(&cds.listen, 0, sslx::wire::Msg::to_frame(&forged).unwrap());
    run(&p, &proxy, &["vsu", "--renew"]).assert().code(VERIFY_FAILED);
    let renewing = std::fs::read_to_string(p.home().join("cdsk.renewing")).unwrap();
    assert!(p.has("cdsk.renewing") && renewing.matches("# renewal nonce: ").count() >= 1, "{renewing}");
    run(&p, &cds.listen, &["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("a renewal is not finished: run sslx vsu --renew"));
    let unfinished = Participant::new("rita");
    for f in ["identity.key", "cds.json", "cdsk"] {
        std::fs::copy(p.home().join(f), unfinished.home().join(f)).unwrap();
    }
    run(&unfinished, &cds.listen, &["vsu", "--renew"])
        .assert()
        .code(VERIFY_FAILED)
        .stderr(predicate::str::contains("sslx vsu --renew finishes it"));
    let out = run(&p, &cds.listen, &["--json", "vsu", "--renew"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["finished_earlier"], true, "{v}");
    assert!(!p.has("cdsk.renewing"));
    let finished = std::fs::read_to_string(&cdsk).unwrap();
    assert_ne!(finished, new_key);
    // And the key it finished with is the CDS's: it renews again.
    run(&p, &cds.listen, &["vsu", "--renew"]).assert().success().stderr(predicate::str::contains("renewed: "));
    cds.stop();

    // An expired key cannot be renewed: only a new VSU helps.
    let gone = (later + 800 * 86400).to_string();
    let cds = Cds::start(&a, &[("SSLX_TEST_NOW", &gone)]);
    p.cmd()
        .env("SSLX_TEST_NOW", &gone)
        .args(["--cds", &cds.listen, "vsu", "--renew"])
        .assert()
        .code(EXPIRED)
        .stderr(predicate::str::contains("cannot be renewed; enroll again"));
}
