//! The KDC in the CDS (seed 003, first patent; PROTOCOL.md 5F), against the real `sslx-cds`:
//! principals made with its admin commands, the gateway's side of the exchanges made with the
//! library's client (the gateway binary comes next).

mod common;
use common::*;
use sslx::kdc::client::{login, params, service_ticket};
use sslx::kdc::keytab::KeyTable;
use sslx::ErrorKind;
use std::os::unix::fs::PermissionsExt;

/// Test costs: Argon2id with 64 KiB and one pass (the defaults take a quarter of a second).
const CHEAP: [&str; 4] = ["--argon2-memory", "64", "--argon2-passes", "1"];

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

struct Kdc {
    cds: Cds,
    db: std::path::PathBuf,
    gw: KeyTable,
    web1: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The KDC of `kdc_site` and its gateway's key table.
fn kdc() -> Kdc {
    let KdcSite { cds, db, dir } = kdc_site();
    let (gw, web1) = (dir.path().join("gw1.keytab"), dir.path().join("web1.keytab"));
    for k in [&gw, &web1] {
        assert_eq!(std::fs::metadata(k).unwrap().permissions().mode() & 0o777, 0o600);
    }
    Kdc { cds, db, gw: KeyTable::load(&gw).unwrap(), web1, _dir: dir }
}

#[test]
fn a_gateway_logs_a_user_in_and_gets_a_ticket_the_host_opens() {
    let k = kdc();
    let rng = sslx::crypto::system_rng();
    let t = now();
    let cache = login(&k.cds.listen, &k.gw, "alice", b"correct horse", "192.0.2.9", 8, t, &rng).unwrap();
    assert_eq!(cache.user, "alice");
    assert!(cache.expires >= t + sslx::kdc::TGT_LIFE && cache.expires <= t + sslx::kdc::TGT_LIFE + 5);
    // The credentials cache survives its text form.
    let text = cache.to_text().unwrap();
    assert!(text.starts_with("sslx-ccache1:"));
    assert_eq!(sslx::kdc::CredentialsCache::from_text(&text).unwrap(), cache);

    let grant = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).unwrap();
    let table = KeyTable::load(&k.web1).unwrap();
    let key = table.key(grant.kvno, t).unwrap();
    let body = sslx::kdc::tickets::open_service_ticket(key, "web1", grant.kvno, &grant.ticket).unwrap();
    assert_eq!((body.user.as_str(), body.client.as_str()), ("alice", "192.0.2.9"));
    assert!(body.key.ct_eq(&grant.key), "the host and the gateway share the server session key");
    assert!(body.expires <= t + sslx::kdc::SERVICE_TICKET_LIFE + 5);
    // The ticket is for web1 only.
    assert!(sslx::kdc::tickets::open_service_ticket(key, "web2", grant.kvno, &grant.ticket).is_none());

    // A rotation: during its grace tickets still come under the key the host has (no outage
    // before the new key table reaches it); the new table holds both, the old key valid for the
    // grace. `--grace 0` switches at once.
    let open = |table: &KeyTable, g: &sslx::kdc::client::ServiceGrant| {
        let key = table.key(g.kvno, t).unwrap();
        sslx::kdc::tickets::open_service_ticket(key, "web1", g.kvno, &g.ticket).is_some()
    };
    kdc_admin(&k.db, &["host", "rotate", "web1", "--keytab", k.web1.to_str().unwrap(), "--grace", "1h"])
        .assert()
        .success();
    let rotated = KeyTable::load(&k.web1).unwrap();
    let during = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).unwrap();
    assert_eq!(during.kvno, grant.kvno, "the old key while the grace lasts");
    assert!(open(&table, &during) && open(&rotated, &during), "the host's old table and the new one open it");
    assert!(rotated.key(grant.kvno, t).is_some() && rotated.key(grant.kvno, t + 3601).is_none());
    kdc_admin(&k.db, &["host", "rotate", "web1", "--keytab", k.web1.to_str().unwrap(), "--grace", "0"])
        .assert()
        .success();
    let now_new = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).unwrap();
    assert_eq!(now_new.kvno, grant.kvno + 2);
    assert!(open(&KeyTable::load(&k.web1).unwrap(), &now_new));
    assert!(!k.web1.with_extension("keytab.sslx-new").exists(), "no table left beside");

    let out = kdc_admin(&k.db, &["principal", "list", "--json"]).assert().success().get_output().stdout.clone();
    let kinds: Vec<(String, String)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v["kind"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(kinds, [("alice", "user"), ("gw1", "gateway"), ("web1", "host")].map(|(a, b)| (a.into(), b.into())));
}

#[test]
fn wrong_passwords_unknown_names_tampering_replays_and_skew_are_refused() {
    let k = kdc();
    let rng = sslx::crypto::system_rng();
    let t = now();
    let wrong = login(&k.cds.listen, &k.gw, "alice", b"battery staple", "", 8, t, &rng).unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::VerifyFailed, "{wrong}");
    let nobody = login(&k.cds.listen, &k.gw, "mallory", b"battery staple", "", 8, t, &rng).unwrap_err();
    assert_eq!(nobody.to_string(), wrong.to_string(), "an unknown name is told apart from nothing");
    // Its parameters look like a user's, and stay the same.
    let (p1, p2) = (
        params(&k.cds.listen, &k.gw, "mallory", &rng).unwrap(),
        params(&k.cds.listen, &k.gw, "mallory", &rng).unwrap(),
    );
    assert_eq!(p1, p2);
    assert_eq!((p1.m_kib, p1.t, p1.p), sslx::kdc::DEFAULT_ARGON2);

    let cache = login(&k.cds.listen, &k.gw, "alice", b"correct horse", "", 8, t, &rng).unwrap();
    let e = service_ticket(&k.cds.listen, &k.gw, &cache, "db9", t, &rng).err().unwrap();
    assert!(e.kind() == ErrorKind::NotFound && e.to_string().contains("no such host"), "{e}");
    let mut tampered = cache.clone();
    tampered.tgt[20] ^= 1;
    let e = service_ticket(&k.cds.listen, &k.gw, &tampered, "web1", t, &rng).err().unwrap();
    assert!(e.kind() == ErrorKind::VerifyFailed && e.to_string().contains("not a ticket-granting ticket"), "{e}");
    let mut wrong_key = cache.clone();
    wrong_key.key = sslx::crypto::Secret::new([7; 32]);
    let e = service_ticket(&k.cds.listen, &k.gw, &wrong_key, "web1", t, &rng).err().unwrap();
    assert!(e.to_string().contains("authenticator does not verify"), "{e}");
    // A gateway's clock ten minutes off: refused, both clocks said.
    let e = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t + 600, &rng).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Expired, "{e}");
    assert!(e.to_string().contains("the KDC's"), "{e}");
    // A gateway the KDC does not know, or one with another key.
    let mut stranger = k.gw.clone();
    stranger.principal = "gw9".into();
    let e = login(&k.cds.listen, &stranger, "alice", b"correct horse", "", 8, t, &rng).unwrap_err();
    assert!(e.to_string().contains("does not verify under a gateway key"), "says nothing of which exist: {e}");
    // A gateway below its floor of Argon2id memory does not use the password.
    let e = login(&k.cds.listen, &k.gw, "alice", b"correct horse", "", 19 * 1024, t, &rng).unwrap_err();
    assert!(e.to_string().contains("floor"), "{e}");
    let mut forged = k.gw.clone();
    forged.keys[0].key = sslx::crypto::Secret::new([9; 32]);
    assert_eq!(
        login(&k.cds.listen, &forged, "alice", b"correct horse", "", 8, t, &rng).unwrap_err().kind(),
        ErrorKind::VerifyFailed
    );

    // A ticket request recorded on one connection and sent again on another does not verify.
    use sslx::wire::Msg;
    let first = sslx::net::connect_cds(&k.cds.listen).unwrap();
    let nonce = [3u8; 16];
    let authenticator = sslx::kdc::tickets::make_authenticator(
        &cache.key,
        b"sslx-kdc-tgs-authenticator-v1",
        "web1",
        &first.challenge,
        &nonce,
        "alice",
        t,
        &rng,
    )
    .unwrap();
    let body = sslx::kdc::TgsRequestBody { nonce, host: "web1".into(), tgt: cache.tgt.clone(), authenticator }
        .encode()
        .unwrap();
    let frame = sslx::kdc::TgsRequest::new("gw1", &k.gw.current().key, &first.challenge, &body, &rng)
        .unwrap()
        .to_frame()
        .unwrap();
    let send = |mut s: std::net::TcpStream| {
        use std::io::Write;
        s.write_all(&frame).unwrap();
        sslx::wire::read_frame(&mut s).unwrap().unwrap()
    };
    assert_eq!(send(first.stream).msg_type, sslx::kdc::TYPE_TGS_REPLY);
    let replay = send(sslx::net::connect_cds(&k.cds.listen).unwrap().stream);
    let refused = sslx::wire::Refused::from_frame(&replay).unwrap();
    assert_eq!(refused.code, sslx::wire::RefusalCode::BadSignature as u16, "{}", refused.reason);
}

#[test]
fn a_disabled_principal_is_refused_at_once_and_a_new_password_replaces_the_old() {
    let k = kdc();
    let rng = sslx::crypto::system_rng();
    let t = now();
    let cache = login(&k.cds.listen, &k.gw, "alice", b"correct horse", "", 8, t, &rng).unwrap();
    kdc_admin(&k.db, &["principal", "disable", "alice"]).assert().success();
    // Its login of before gets no ticket, and it cannot log in.
    let e = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).err().unwrap();
    assert!(e.kind() == ErrorKind::Refused && e.to_string().contains("disabled"), "{e}");
    let e = login(&k.cds.listen, &k.gw, "alice", b"correct horse", "", 8, t, &rng).unwrap_err();
    assert!(e.to_string().contains("disabled"), "{e}");
    kdc_admin(&k.db, &["principal", "enable", "alice"]).assert().success();
    service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).unwrap();

    kdc_admin(&k.db, &["principal", "passwd", "alice"]).env("SSLX_PASSWORD", "tr0ub4dor").assert().success();
    // The login made with the old password ends with it.
    let e = service_ticket(&k.cds.listen, &k.gw, &cache, "web1", t, &rng).err().unwrap();
    assert!(e.kind() == ErrorKind::Expired && e.to_string().contains("password changed"), "{e}");
    assert!(login(&k.cds.listen, &k.gw, "alice", b"correct horse", "", 8, t, &rng).is_err());
    login(&k.cds.listen, &k.gw, "alice", b"tr0ub4dor", "", 8, t, &rng).unwrap();

    // The admin commands say what is wrong: no password without a terminal, a taken name, a
    // key table that exists, no such principal, no database.
    kdc_admin(&k.db, &["principal", "add", "bob"]).assert().code(2).stderr(predicates::str::contains("SSLX_PASSWORD"));
    kdc_admin(&k.db, &["principal", "add", "alice"]).env("SSLX_PASSWORD", "x").assert().code(2);
    kdc_admin(&k.db, &["host", "add", "web2", "--keytab", k.web1.to_str().unwrap()]).assert().code(2);
    kdc_admin(&k.db, &["principal", "del", "nobody"]).assert().code(6);
    if !backend_is_postgres() {
        kdc_admin(&k.db.with_extension("none"), &["principal", "list"]).assert().code(6);
    }
    let fresh = login(&k.cds.listen, &k.gw, "alice", b"tr0ub4dor", "", 8, t, &rng).unwrap();
    kdc_admin(&k.db, &["principal", "del", "alice"]).assert().success();
    kdc_admin(&k.db, &[&["principal", "add", "alice"][..], &CHEAP].concat())
        .env("SSLX_PASSWORD", "tr0ub4dor")
        .assert()
        .success();
    // A name deleted and added again is another principal: the login of before is not its.
    let e = service_ticket(&k.cds.listen, &k.gw, &fresh, "web1", t - 1, &rng).err().unwrap();
    assert!(e.to_string().contains("no longer valid"), "{e}");
}

/// Every admin command of the KDC says what it did as one JSON object with --json (stdout,
/// nothing on stderr), and its documented exit code when it cannot.
#[test]
fn admin_commands_answer_in_json() {
    let k = kdc();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut c = kdc_admin(&k.db, args);
        c.arg("--json").env("SSLX_PASSWORD", "tr0ub4dor");
        let out = c.assert().success().stderr("").get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let v = json(&["principal", "add", "bob", "--argon2-memory", "64", "--argon2-passes", "1"]);
    assert_eq!(
        v,
        serde_json::json!({"added": "bob", "kind": "user", "kvno": 1,
            "argon2": {"memory_kib": 64, "passes": 1, "lanes": 1}})
    );
    assert_eq!(json(&["principal", "passwd", "bob"]), serde_json::json!({"password_set": "bob", "kvno": 2}));
    assert_eq!(json(&["principal", "disable", "bob"]), serde_json::json!({"disabled": "bob"}));
    assert_eq!(json(&["principal", "enable", "bob"]), serde_json::json!({"enabled": "bob"}));
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("web2.keytab");
    let v = json(&["host", "add", "web2", "--keytab", table.to_str().unwrap()]);
    assert_eq!(v, serde_json::json!({"added": "web2", "kind": "host", "kvno": 1, "keytab": table}));
    let v = json(&["host", "rotate", "web2", "--keytab", table.to_str().unwrap(), "--grace", "1h"]);
    assert_eq!(
        (v["rotated"].as_str(), v["kvno"].as_u64(), v["previous_kvno"].as_u64()),
        (Some("web2"), Some(2), Some(1))
    );
    assert!(v["previous_valid_until_unix"].as_u64().unwrap() > now());
    let gw = dir.path().join("gw2.keytab");
    assert_eq!(json(&["gateway", "add", "gw2", "--keytab", gw.to_str().unwrap()])["kind"], "gateway");
    assert_eq!(json(&["principal", "del", "web2"]), serde_json::json!({"deleted": "web2"}));
    // What cannot be done: its exit code, whatever the output.
    kdc_admin(&k.db, &["principal", "del", "web2", "--json"]).assert().code(6);
    kdc_admin(&k.db, &["principal", "add", "bob", "--json"]).env("SSLX_PASSWORD", "x").assert().code(2);
}
