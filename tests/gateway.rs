//! `sslx login` and `sslx logout` through a real `sslx-gateway` (HTTPS, a `--dev` certificate)
//! in front of a real `sslx-cds` (its KDC): seed 003, boxes 601-613.

mod common;
use common::*;
use predicates::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn login(home: &Path, gw: &Daemon, password: &str) -> assert_cmd::Command {
    let mut c = sslx(home);
    c.args(["login", "--gateway", &gw.at("listen"), "--gateway-fingerprint", &gw.at("fingerprint"), "alice"])
        .env("SSLX_PASSWORD", password);
    c
}

#[test]
fn login_keeps_the_credentials_cache_the_gateway_hands_back_and_the_gateway_keeps_nothing() {
    let KdcSite { cds, db, dir } = kdc_site();
    let gw = gateway(&cds.listen, &dir.path().join("gw1.keytab"), &[]);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().join("home");
    let out = login(&h, &gw, "correct horse").arg("--json").assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((v["ok"].as_bool(), v["user"].as_str()), (Some(true), Some("alice")), "{v}");
    let creds = h.join("credentials");
    assert_eq!(std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777, 0o600);
    // What it keeps is a working login: the KDC gives a ticket for it.
    let keep = sslx::remote::Credentials::load(&sslx::keys::Home::new(&h)).unwrap().unwrap();
    assert_eq!((keep.gateway, keep.fingerprint), (gw.at("listen"), Some(gw.at("fingerprint"))));
    assert_eq!(keep.cache.expires, v["expires_unix"].as_u64().unwrap());
    let table = sslx::kdc::keytab::KeyTable::load(&dir.path().join("gw1.keytab")).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    sslx::kdc::client::service_ticket(&cds.listen, &table, &keep.cache, "web1", now, &sslx::crypto::system_rng())
        .unwrap();
    // sslx status shows the login (a home with no identity: status needs one).
    sslx(&h).args(["keygen", "--name", "op1"]).assert().success();
    let s = sslx(&h).args(["--json", "status"]).assert().success().get_output().stdout.clone();
    let s: serde_json::Value = serde_json::from_slice(&s).unwrap();
    assert_eq!((s["login"]["user"].as_str(), s["login"]["expired"].as_bool()), (Some("alice"), Some(false)), "{s}");
    // The gateway wrote nothing, and a second one serves the same user (nothing is shared).
    assert_eq!(std::fs::read_dir(gw.cwd.path()).unwrap().count(), 0);
    let second = gateway(&cds.listen, &dir.path().join("gw1.keytab"), &[]);
    login(&h, &second, "correct horse").assert().success();
    drop(gw);

    // Failures leave the credentials kept as they were.
    let before = std::fs::read(&creds).unwrap();
    login(&h, &second, "battery staple")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("the user name or the password is wrong"));
    let mut wrong_pin = sslx(&h);
    wrong_pin
        .args(["login", "--gateway", &second.at("listen"), "--gateway-fingerprint", &"ab".repeat(32), "alice"])
        .env("SSLX_PASSWORD", "correct horse");
    wrong_pin.assert().code(3).stderr(predicate::str::contains("not the one trusted"));
    let mut unpinned = sslx(&h);
    unpinned.args(["login", "--gateway", &second.at("listen"), "alice"]).env("SSLX_PASSWORD", "correct horse");
    unpinned.assert().code(3).stderr(predicate::str::contains("--gateway-fingerprint"));
    let mut no_password = sslx(&h);
    no_password.args(["login", "--gateway", &second.at("listen"), "alice"]).env_remove("SSLX_PASSWORD");
    no_password.assert().code(2).stderr(predicate::str::contains("SSLX_PASSWORD"));
    let mut plain = sslx(&h);
    plain
        .args(["login", "--gateway", &second.at("listen").replace("https", "http"), "alice"])
        .env("SSLX_PASSWORD", "x");
    plain.assert().code(2).stderr(predicate::str::contains("HTTPS only"));
    kdc_admin(&db, &["principal", "disable", "alice"]).assert().success();
    login(&h, &second, "correct horse").assert().code(5).stderr(predicate::str::contains("disabled"));
    assert_eq!(std::fs::read(&creds).unwrap(), before);

    sslx(&h).arg("logout").assert().success().stderr(predicate::str::contains("logged out"));
    assert!(!creds.exists());
    sslx(&h).arg("logout").assert().success().stderr(predicate::str::contains("nobody was logged in"));
}

/// Logins from one address are limited at the gateway (each costs it a key derivation and the
/// KDC a request): after the burst, `sslx login` is told when to try again (exit 7).
#[test]
fn logins_from_one_address_past_the_burst_wait_their_turn() {
    let KdcSite { cds, db: _, dir } = kdc_site();
    let gw = gateway(&cds.listen, &dir.path().join("gw1.keytab"), &[]);
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let statuses: Vec<u16> = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..sslx::gateway::LOGIN_BURST {
            let body = serde_json::json!({"user": format!("nobody{i}"), "password": "x"});
            let r = http.post(format!("{}/v1/login", gw.at("listen"))).json(&body).send().await.unwrap();
            out.push(r.status().as_u16());
        }
        out
    });
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let home = tempfile::tempdir().unwrap();
    login(&home.path().join("home"), &gw, "correct horse")
        .assert()
        .code(7)
        .stderr(predicate::str::contains("too many logins from this address"));
}
