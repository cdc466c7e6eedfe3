//! The out-of-band channels and the less common command paths, against the real binaries and
//! real servers started here.

mod common;
use common::*;
use predicates::prelude::*;

fn field(call: &HttpCall, k: &str) -> String {
    url::form_urlencoded::parse(call.body.as_bytes())
        .find(|(n, _)| n == k)
        .unwrap_or_else(|| panic!("no {k} in {call:?}"))
        .1
        .into_owned()
}

fn finish(p: &Participant, eml: &std::path::Path, pin: &str) {
    p.cmd().args(["assemble-key", "--reply-b"]).arg(eml).env("SSLX_PIN", pin).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
}

#[test]
fn sms_and_voice_go_through_a_twilio_compatible_api() {
    let api = WebhookServer::answering(201);
    let outbox = tempfile::tempdir().unwrap();
    let env = [("SSLX_TWILIO_SID", "AC123"), ("SSLX_TWILIO_TOKEN", "tok"), ("SSLX_TWILIO_FROM", "+15550001111")];
    let cds = Cds::start(&["--twilio-url", &api.url, "--outbox", outbox.path().to_str().unwrap()], &env);

    let p = Participant::new("sms1");
    let rid = p.vsu(&cds, "sms:+15557654321");
    let call = api.last();
    assert_eq!(call.path, "/2010-04-01/Accounts/AC123/Messages.json");
    // HTTP basic auth with the account SID and token.
    assert_eq!(call.authorization, "Basic QUMxMjM6dG9r");
    assert_eq!(field(&call, "To"), "+15557654321");
    assert_eq!(field(&call, "From"), "+15550001111");
    let pin = sslx::vsu::ReplyC::pin_in(&field(&call, "Body")).unwrap();
    finish(&p, &cds.reply_b_file(&rid), &pin);

    let v = Participant::new("voice1");
    v.vsu(&cds, "voice:+15557654321");
    let call = api.last();
    assert_eq!(call.path, "/2010-04-01/Accounts/AC123/Calls.json");
    assert!(field(&call, "Twiml").starts_with("<Response><Say>"));
}

#[test]
fn sms_without_a_gateway_is_refused_with_the_channels_on_offer() {
    let outbox = tempfile::tempdir().unwrap();
    let cds = Cds::start(&["--outbox", outbox.path().to_str().unwrap()], &[]);
    let p = Participant::new("nosms");
    p.vsu_cmd(&cds.listen, "n@example.com", "sms:+15551234567")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no SMS/voice gateway"));
    p.vsu_cmd(&cds.listen, "n@example.com", "http://127.0.0.1:9/x")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("https://"));
    assert!(!p.has("vsu-pending.json"));
}

#[test]
fn exec_channel_pipes_the_pin_to_the_site_command() {
    let outbox = tempfile::tempdir().unwrap();
    let sink = tempfile::tempdir().unwrap();
    let cmd = format!(
        "cat > {}/\"$SSLX_OOB_REQUEST\".txt; echo \"$SSLX_OOB_TO\" >> {}/to.log",
        sink.path().display(),
        sink.path().display()
    );
    let cds = Cds::start(&["--outbox", outbox.path().to_str().unwrap(), "--oob-exec", &cmd], &[]);
    let p = Participant::new("exec1");
    let rid = p.vsu(&cds, "exec:pager-team-7");
    let text = std::fs::read_to_string(sink.path().join(format!("{rid}.txt"))).unwrap();
    assert_eq!(std::fs::read_to_string(sink.path().join("to.log")).unwrap().trim(), "exec:pager-team-7");
    finish(&p, &cds.reply_b_file(&rid), &sslx::vsu::ReplyC::pin_in(&text).unwrap());
    let s = p.cmd().args(["--json", "standing", "exec1"]).assert().success().get_output().stdout.clone();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&s).unwrap()["channels"],
        serde_json::json!(["email", "exec"])
    );
}

#[test]
fn a_failing_site_command_is_a_refusal_and_leaves_nothing_pending() {
    let outbox = tempfile::tempdir().unwrap();
    let cds = Cds::start(&["--outbox", outbox.path().to_str().unwrap(), "--oob-exec", "exit 3"], &[]);
    let p = Participant::new("exec2");
    p.vsu_cmd(&cds.listen, "e@example.com", "exec:x")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("reply C could not be delivered"));
    p.cmd().args(["--cds-http", &cds.http, "standing", "exec2"]).assert().code(6);
}

#[test]
fn mailto_sends_the_pin_as_a_second_email_over_smtp() {
    let smtp = SmtpServer::start();
    let cds = Cds::start(&["--smtp", &format!("smtp://{}", smtp.addr)], &[]);
    let p = Participant::new("mail2");
    let rid = p.vsu(&cds, "mailto:pager@example.org");
    let b = smtp.wait_for("mail2@example.com");
    let c = smtp.wait_for("pager@example.org");
    assert!(b.data.contains(&rid) && b.data.contains("BEGIN SSLX REPLY B"));
    let pin = sslx::vsu::ReplyC::pin_in(&c.data).unwrap_or_else(|| panic!("{:?}", c.data));
    assert!(!b.data.contains(&format!("PIN {pin}")));
    p.cmd().args(["assemble-key", "--reply-b", "-", "--pin", &pin]).write_stdin(b.data).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
}

#[test]
fn reply_a_to_a_file_assembles_elsewhere_and_print_installs_nothing() {
    let cds = Cds::start_dev();
    let p = Participant::new("out1");
    let a_file = p.dir.path().join("reply-a.txt");
    let mut c = p.vsu_cmd(&cds.listen, "o@example.com", "sms:+15551234567");
    c.arg("--out").arg(&a_file);
    let rid = request_id_of(c);
    assert!(std::fs::read_to_string(&a_file).unwrap().starts_with("-----BEGIN SSLX REPLY A-----"));
    let line = p
        .cmd()
        .args(["assemble-key", "--print", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .arg("--reply-a")
        .arg(&a_file)
        .args(["--pin", &cds.pin(&rid)])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8(line).unwrap().starts_with("SSLX-CDSK-1"));
    assert!(!p.has("cdsk.pending") && !p.has("cdsk"));
}

#[test]
fn without_a_terminal_a_missing_pin_fails_at_once_with_a_hint() {
    let cds = Cds::start_dev();
    let p = Participant::new("nopin");
    let rid = p.vsu(&cds, "sms:+15551234567");
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SSLX_PIN").and(predicate::str::contains("no terminal")));
    // A PIN file works, and oversized input is refused.
    let pin_file = p.dir.path().join("pin");
    std::fs::write(&pin_file, format!("{}\n", cds.pin(&rid))).unwrap();
    let big = p.dir.path().join("big.eml");
    std::fs::write(&big, vec![b'a'; (1 << 20) + 10]).unwrap();
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(&big)
        .arg("--pin-file")
        .arg(&pin_file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("over"));
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .arg("--pin-file")
        .arg(&pin_file)
        .assert()
        .success();
}

#[test]
fn a_clock_far_off_is_refused_with_both_clocks() {
    let cds = Cds::start_dev();
    let p = Participant::new("skew");
    p.vsu_cmd(&cds.listen, "s@example.com", "sms:+15551234567")
        .env("SSLX_TEST_NOW", "1000000000")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("2001-09-09").and(predicate::str::contains("CDS clock")));
}

#[test]
fn re_enrolling_keeps_the_old_key_until_the_new_one_is_confirmed() {
    let cds = Cds::start_dev();
    let p = enroll(&cds, "keep");
    let old = std::fs::read(p.home().join("cdsk")).unwrap();
    let rid = p.vsu(&cds, "sms:+15551234567");
    p.cmd().args(["assemble-key", "--reply-b"]).arg(cds.reply_b_file(&rid)).args(["--pin", "FFFF"]).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().code(3);
    assert_eq!(std::fs::read(p.home().join("cdsk")).unwrap(), old, "a denied re-enrollment loses nothing");
    finish(&p, &cds.reply_b_file(&rid), &cds.pin(&rid));
    assert_ne!(std::fs::read(p.home().join("cdsk")).unwrap(), old);
}

#[test]
fn the_cds_admin_can_release_a_name() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let outbox = state.path().join("outbox");
    let oob = state.path().join("oob");
    let args = ["--db", db.to_str().unwrap(), "--outbox", outbox.to_str().unwrap(), "--oob-dir", oob.to_str().unwrap()];
    let cds = Cds::start(&args, &[]);
    enroll(&cds, "lost");
    cds.stop();
    let release = || {
        let mut c = assert_cmd::Command::new(bin("sslx-cds"));
        c.args(["release", "lost", "--db"]).arg(&db);
        c
    };
    release().assert().success();
    release().assert().code(6);
    let cds = Cds::start(&args, &[]);
    enroll(&cds, "lost"); // a new key may take the name now
}

#[test]
fn reply_b_over_smtp_with_starttls_required() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp, ca) = SmtpServer::start_starttls(dir.path());
    let port = smtp.addr.rsplit(':').next().unwrap().to_owned();
    let url = format!("smtp://localhost:{port}?tls=required");
    let oob = tempfile::tempdir().unwrap();
    let oob_dir = oob.path().to_str().unwrap();

    // Without trusting the server's certificate, nothing is sent in the clear: a refusal.
    let untrusted = Cds::start(&["--smtp", &url, "--oob-dir", oob_dir], &[]);
    let p = Participant::new("tls1");
    p.vsu_cmd(&untrusted.listen, "tls1@example.com", "sms:+15551234567")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("reply B could not be emailed"));
    assert!(smtp.mails.lock().unwrap().is_empty());

    let cds = Cds::start(&["--smtp", &url, "--smtp-ca", ca.to_str().unwrap(), "--oob-dir", oob_dir], &[]);
    let rid = p.vsu(&cds, "sms:+15551234567");
    let mail = smtp.wait_for("tls1@example.com");
    p.cmd().args(["assemble-key", "--reply-b", "-", "--pin", &cds.pin(&rid)]).write_stdin(mail.data).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
}

#[test]
fn tls_required_never_falls_back_to_plain_text() {
    let smtp = SmtpServer::start(); // offers no STARTTLS
    let oob = tempfile::tempdir().unwrap();
    let url = format!("smtp://{}?tls=required", smtp.addr);
    let cds = Cds::start(&["--smtp", &url, "--oob-dir", oob.path().to_str().unwrap()], &[]);
    let p = Participant::new("tls2");
    p.vsu_cmd(&cds.listen, "tls2@example.com", "sms:+15551234567")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("reply B could not be emailed"));
    assert!(smtp.mails.lock().unwrap().is_empty());
}

#[test]
fn the_cds_database_is_created_0600_and_refused_when_others_can_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let outbox = state.path().join("outbox");
    let args = ["--db", db.to_str().unwrap(), "--outbox", outbox.to_str().unwrap()];
    Cds::start(&args, &[]).stop();
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = assert_cmd::Command::new(bin("sslx-cds"));
    c.args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]).args(args);
    c.assert()
        .code(1)
        .stderr(predicate::str::contains("readable by group or others").and(predicate::str::contains("chmod 600")));
}

#[test]
fn a_webhook_that_answers_an_error_is_a_refusal() {
    let hook = WebhookServer::answering(500);
    let outbox = tempfile::tempdir().unwrap();
    let cds = Cds::start(
        &["--outbox", outbox.path().to_str().unwrap(), "--allow-http-webhooks", "--allow-private-webhooks"],
        &[],
    );
    let p = Participant::new("hook500");
    p.vsu_cmd(&cds.listen, "h@example.com", &hook.hook())
        .assert()
        .code(5)
        .stderr(predicate::str::contains("reply C could not be delivered").and(predicate::str::contains("500").not()));
    assert_eq!(hook.calls.lock().unwrap().len(), 1);
    assert!(!p.has("vsu-pending.json"));
    // The requester hears which delivery failed; the detail is in the CDS's log only. The PIN
    // went first, so no reply B was emailed for the failed request.
    let log = std::fs::read_to_string(&cds.stderr_log).unwrap();
    assert!(log.contains("answered 500"), "{log}");
    assert_eq!(std::fs::read_dir(outbox.path()).unwrap().count(), 0, "reply B went out");
}

#[test]
fn reply_b_over_smtps_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp, ca) = SmtpServer::start_implicit_tls(dir.path());
    let port = smtp.addr.rsplit(':').next().unwrap().to_owned();
    let oob = tempfile::tempdir().unwrap();
    let cds = Cds::start(
        &[
            "--smtp",
            &format!("smtps://localhost:{port}"),
            "--smtp-ca",
            ca.to_str().unwrap(),
            "--oob-dir",
            oob.path().to_str().unwrap(),
        ],
        &[],
    );
    let p = Participant::new("tls3");
    let rid = p.vsu(&cds, "sms:+15551234567");
    let mail = smtp.wait_for("tls3@example.com");
    p.cmd().args(["assemble-key", "--reply-b", "-", "--pin", &cds.pin(&rid)]).write_stdin(mail.data).assert().success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
}
