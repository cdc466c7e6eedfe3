//! The CDS on PostgreSQL (issue 16): the store's contract on a PostgreSQL server the tests
//! start (tests/common/pg.rs), its schema and key-file checks, TLS to the database, and
//! `sslx-cds` serving from it end to end.

mod common;

use assert_cmd::Command;
use common::pg::{postgres, Postgres};
use common::*;
use sslx::cds::store::{PgOptions, PgStore, Store};
use std::path::Path;

fn opts(url: &str) -> PgOptions {
    PgOptions { url: url.to_owned(), ca_pem: None, pool_size: 4, serving: true }
}

fn key_in(dir: &Path) -> std::path::PathBuf {
    dir.join("cds.key")
}

macro_rules! need_postgres {
    () => {
        match postgres() {
            Some(pg) => pg,
            None => return,
        }
    };
}

#[test]
fn the_postgres_store_keeps_the_contract() {
    let pg = need_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database();
    let db = common::pg::db_name(&url).to_owned();
    let store = PgStore::open(&opts(&url), &key_in(dir.path())).unwrap();
    sslx::cds::store::conformance::conformance(&store);
    // The mailbox's running totals, kept by the trigger through every change the contract made,
    // are what the bundles left add up to; and a database of version 2 that has bundles gets
    // them counted by the migration.
    let kept = "SELECT coalesce(string_agg(k || '=' || bytes, ',' ORDER BY k), '') FROM mailbox_use";
    let recount = "SELECT coalesce(string_agg(k || '=' || n, ',' ORDER BY k), '') FROM (SELECT k, sum(w) AS n FROM (
        SELECT '*' AS k, greatest(size, 4096) AS w FROM bundles
        UNION ALL SELECT 'r ' || recipient, greatest(size, 4096) FROM bundles
        UNION ALL SELECT 's ' || sender, greatest(size, 4096) FROM bundles
        UNION ALL SELECT 'p ' || recipient || ' ' || sender, greatest(size, 4096) FROM bundles) w GROUP BY k) t";
    // Busy: two stores (two instances' pools) churning the mailbox at once, each purging too;
    // no deadlock, no lost update.
    let other = PgStore::open(&opts(&url), &key_in(dir.path())).unwrap();
    let mut files: Vec<String> = std::thread::scope(|t| {
        let one = t.spawn(|| sslx::cds::store::conformance::mailbox_churn(&store, 1_800_000_000, 1));
        let two = t.spawn(|| sslx::cds::store::conformance::mailbox_churn(&other, 1_800_000_000, 2));
        [one.join().unwrap(), two.join().unwrap()].into_iter().flat_map(|p| p.bundle_files).collect()
    });
    files.extend(store.purge_expired(1_800_000_000, 3600, 60).unwrap().bundle_files);
    // Each churn leaves 960 expired bundles stored: every one purged, and named once.
    let named = files.len();
    files.sort();
    files.dedup();
    assert_eq!((named, files.len()), (1920, 1920));
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM bundles WHERE stored AND expires < 1800000000"), "0");
    let totals = pg.psql(&db, kept);
    assert!(totals.matches(',').count() > 40, "{totals}");
    assert_eq!(totals, pg.psql(&db, recount));
    drop((store, other));
    pg.psql(
        &db,
        "DROP TRIGGER bundles_came ON bundles; DROP TRIGGER bundles_went ON bundles;
         DROP TRIGGER bundles_changed ON bundles; DROP FUNCTION sslx_mailbox_came(), sslx_mailbox_went(),
         sslx_mailbox_changed(), sslx_mailbox_apply(TEXT[], BIGINT[]); DROP TABLE mailbox_use;
         DROP INDEX bundles_expires;
         UPDATE sslx_schema SET version = 2 WHERE what = 'cds'",
    );
    drop(PgStore::open(&opts(&url), &key_in(dir.path())).unwrap());
    assert_eq!(pg.psql(&db, kept), totals);
}

#[test]
fn two_instances_confirming_one_name_from_two_keys_register_it_once() {
    let pg = need_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database();
    let a = PgStore::open(&opts(&url), &key_in(dir.path())).unwrap();
    let b = PgStore::open(&opts(&url), &key_in(dir.path())).unwrap();
    sslx::cds::store::conformance::concurrent_confirmations(&a, &b);
}

#[test]
fn the_schema_is_versioned_and_a_newer_one_is_refused() {
    let pg = need_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database();
    let db = common::pg::db_name(&url).to_owned();
    // Instances starting together on a new database, their key file not yet made: one key file
    // is made (the others read it), one instance migrates, the others find it done.
    std::thread::scope(|s| {
        let all: Vec<_> =
            (0..6).map(|_| s.spawn(|| PgStore::open(&opts(&url), &key_in(dir.path())).map(|_| ()))).collect();
        for t in all {
            t.join().unwrap().unwrap();
        }
    });
    let known = sslx::cds::store::PG_MIGRATIONS.len();
    assert_eq!(pg.psql(&db, "SELECT version FROM sslx_schema WHERE what = 'cds'"), known.to_string());
    pg.psql(&db, "UPDATE sslx_schema SET version = 99 WHERE what = 'cds'");
    let e = PgStore::open(&opts(&url), &key_in(dir.path())).err().unwrap().to_string();
    assert!(
        e.contains(&format!("made by a newer sslx (CDS database schema version 99; this sslx knows up to {known})")),
        "{e}"
    );
}

#[test]
fn a_key_file_of_another_database_is_refused() {
    let pg = need_postgres!();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = pg.database();
    drop(PgStore::open(&opts(&url), &key_in(one.path())).unwrap());
    let e = PgStore::open(&opts(&url), &key_in(two.path())).err().unwrap().to_string();
    assert!(e.contains("does not open the CDS keys") && e.contains("give every instance the same --key-file"), "{e}");
    std::fs::copy(key_in(one.path()), key_in(two.path()).with_extension("other")).unwrap();
    let e = PgStore::open(&opts(&url), &key_in(two.path())).err().unwrap().to_string();
    assert!(e.contains("belongs to another database"), "{e}");
    PgStore::open(&opts(&url), &key_in(one.path())).unwrap();
}

/// TLS to the database: the server's certificate is checked against --db-ca (or the web's
/// roots, which do not know the tests' CA), with its host name.
#[test]
fn tls_to_the_database_verifies_the_servers_certificate() {
    let pg = need_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.database_tls();
    let e = PgStore::open(&opts(&url), &key_in(dir.path())).err().unwrap().to_string();
    assert!(e.contains("certificate") || e.contains("UnknownIssuer"), "{e}");
    let ca = std::fs::read(&pg.ca_pem).unwrap();
    let store = PgStore::open(&PgOptions { ca_pem: Some(ca.clone()), ..opts(&url) }, &key_in(dir.path())).unwrap();
    assert!(store.participant("nobody").unwrap().is_none());
    let db = common::pg::db_name(&url);
    let over_tls: u32 = pg
        .psql(db, "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'sslx-cds'")
        .parse()
        .unwrap();
    assert!(over_tls >= 1, "the store's connections are not over TLS");
    // The same server by its address, which the certificate does not name.
    let other = url.replace("localhost", "127.0.0.1");
    let e =
        PgStore::open(&PgOptions { ca_pem: Some(ca), ..opts(&other) }, &key_in(dir.path())).err().unwrap().to_string();
    assert!(e.contains("NotValidForName") || e.contains("not valid for"), "{e}");
}

#[test]
fn a_unix_socket_url_reaches_the_database() {
    let pg = need_postgres!();
    let dir = tempfile::tempdir().unwrap();
    let store = PgStore::open(&opts(&pg.database_on_socket()), &key_in(dir.path())).unwrap();
    assert!(store.principals().unwrap().is_empty());
}

#[test]
fn migrate_brings_the_database_to_this_version_once() {
    let pg = need_postgres!();
    let url = pg.database();
    let out = Command::new(bin("sslx-cds")).args(["migrate", "--db", &url]).assert().success().get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("schema version 0 -> {}", sslx::cds::store::PG_MIGRATIONS.len())), "{err}");
    let out = Command::new(bin("sslx-cds")).args(["migrate", "--db", &url]).assert().success().get_output().clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to do"));
    let out = Command::new(bin("sslx-cds"))
        .args(["migrate", "--db", "postgres://sslx@127.0.0.1:1/nothing?sslmode=disable"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1/nothing") && err.contains("refused"), "{err}");
}

#[test]
fn serve_on_postgres_needs_its_key_file_and_mailbox_named() {
    let pg = need_postgres!();
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = Command::new(bin("sslx-cds"))
        .args(["serve", "--db", &url, "--outbox", d])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs --mailbox-dir"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin("sslx-cds"))
        .args(["serve", "--db", &url, "--outbox", d, "--mailbox-dir", d])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs --key-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CDS on `pg`'s database `url`, its key file and mailbox in `site` (shared by instances).
fn instance(url: &str, site: &Path, extra: &[&str]) -> Cds {
    let key = site.join("cds.key");
    let mailbox = site.join("mailbox");
    let mut args =
        vec!["--dev", "--db", url, "--key-file", key.to_str().unwrap(), "--mailbox-dir", mailbox.to_str().unwrap()];
    args.extend_from_slice(extra);
    Cds::start(&args, &[])
}

#[test]
fn a_cds_on_postgres_enrolls_and_keeps_the_participant_across_a_restart() {
    let pg: &Postgres = need_postgres!();
    let site = tempfile::tempdir().unwrap();
    let url = pg.database();
    let cds = instance(&url, site.path(), &[]);
    assert!(cds.db.to_str().unwrap().starts_with("postgres://"));
    let alice = enroll(&cds, "alice");
    let listen = cds.listen.clone();
    cds.stop();
    let cds = Cds::start_on(
        &[
            "--dev",
            "--db",
            &url,
            "--key-file",
            site.path().join("cds.key").to_str().unwrap(),
            "--mailbox-dir",
            site.path().join("mailbox").to_str().unwrap(),
        ],
        &[],
        &listen,
    );
    let out = alice.cmd().args(["--cds-http", &cds.http, "--json", "standing", "alice"]).assert().success();
    let standing: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(standing["status"], "confirmed", "{standing}");
    alice.cmd().args(["--cds", &cds.listen, "vsu", "--renew"]).assert().success();
    let db = common::pg::db_name(&url);
    assert_eq!(pg.psql(db, "SELECT name || ' ' || vsu_count FROM participants"), "alice 1");
}

/// Three `sslx-cds serve` on one PostgreSQL database, one key file and one mailbox directory.
struct Cluster {
    site: tempfile::TempDir,
    url: String,
    at: Vec<Cds>,
}

fn cluster(pg: &Postgres, n: usize) -> Cluster {
    let site = tempfile::tempdir().unwrap();
    let url = pg.database();
    let at = (0..n).map(|_| instance(&url, site.path(), &[])).collect();
    Cluster { site, url, at }
}

/// `name` enrolled by opening its request at `open` and confirming it at `confirm`.
fn enroll_across(open: &Cds, confirm: &Cds, name: &str) -> Participant {
    let p = Participant::new(name);
    let rid = p.vsu(open, "sms:+15551234567");
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(open.reply_b_file(&rid))
        .args(["--pin", &open.pin(&rid)])
        .assert()
        .success();
    p.cmd().args(["--cds", &confirm.listen, "vsu", "--confirm"]).assert().success();
    p
}

#[test]
fn a_participant_opened_at_one_instance_confirms_at_a_second_and_stands_at_a_third() {
    let pg = need_postgres!();
    let c = cluster(pg, 3);
    let p = enroll_across(&c.at[0], &c.at[1], "m1");
    let out = p.cmd().args(["--cds-http", &c.at[2].http, "--json", "standing", "m1"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["status"], "confirmed", "{v}");
    // One registration, its request confirmed once, whichever instance answered.
    let db = common::pg::db_name(&c.url);
    assert_eq!(pg.psql(db, "SELECT count(*) FROM participants WHERE name = 'm1'"), "1");
    assert_eq!(pg.psql(db, "SELECT status FROM requests"), "confirmed");
    // The same confirmation again, at the third: a replay, refused there too.
    p.cmd().args(["--cds", &c.at[2].listen, "vsu", "--confirm"]).assert().failure();
    assert_eq!(pg.psql(db, "SELECT vsu_count FROM participants WHERE name = 'm1'"), "1");
}

#[test]
fn a_call_to_a_participant_hooked_at_another_instance_is_rung_there_and_spliced_here() {
    let pg = need_postgres!();
    let c = cluster(pg, 3);
    let alice = enroll(&c.at[0], "xa");
    let bob = enroll(&c.at[1], "xb");
    // bob is on hook at instance 1; alice calls through instance 0.
    let l = Listener::on_hook(&bob, &["--exec", "cat", "--allow", "xa"]);
    assert_eq!(l.addr, c.at[1].listen);
    let data = pseudo_random(4 << 20, 3);
    let out = alice
        .cmd()
        .args(["-q", "--cds", &c.at[0].listen, "dial", "xb"])
        .write_stdin(data.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(out == data, "the echo differs");
    // One tape, whichever instance is asked.
    let calls = c.at[2].calls_json();
    let call = calls.iter().find(|v| v["callee"] == "xb").unwrap_or_else(|| panic!("{calls:?}"));
    assert_eq!((call["caller"].as_str(), call["result"].as_str()), (Some("xa"), Some("completed")), "{call}");
    assert!(call["bytes_up"].as_u64().unwrap() > 4 << 20);
    // Nobody on hook anywhere: refused at once, as on one CDS.
    drop(l);
    wait_until("xb off hook", 20, || hooked_at(pg, &c.url, "xb").is_none());
    alice
        .cmd()
        .args(["--cds", &c.at[2].listen, "dial", "xb"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("\"xb\" is not listening"));
}

#[test]
fn a_bundle_deposited_at_one_instance_is_collected_at_another_and_its_state_read_at_a_third() {
    let pg = need_postgres!();
    let c = cluster(pg, 3);
    let (alice, bob) = (enroll(&c.at[0], "da"), enroll(&c.at[1], "db"));
    let rng = sslx::crypto::system_rng();
    let (an, ak) = keys(&alice);
    let (bn, bk) = keys(&bob);
    let body = pseudo_random(300_000, 9);
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, &body).unwrap();
    sslx::relay::client::deposit(&c.at[0].listen, &an, &ak, "db", &[4; 8], &mut file, &rng).unwrap();
    let mut got = Vec::new();
    let n = sslx::relay::client::collect(&c.at[1].listen, &bn, &bk, &rng, |item, r| {
        assert_eq!((item.sender.as_str(), item.bundle_id), ("da", [4; 8]));
        std::io::Read::read_to_end(r, &mut got).unwrap();
        sslx::relay::msgs::Outcome::Opened
    })
    .unwrap();
    assert_eq!((n, got == body), (1, true));
    let states = sslx::relay::client::status(&c.at[2].listen, &an, &ak, &[[4; 8]], &rng).unwrap();
    assert_eq!(states[0].1, sslx::relay::DeliveryState::Delivered, "{states:?}");
    assert_eq!(std::fs::read_dir(c.site.path().join("mailbox")).unwrap().count(), 0, "the file is gone");
}

/// A deposit at one instance for a recipient on hook for files at another: told there at once.
#[test]
fn a_recipient_on_hook_at_another_instance_hears_of_a_deposit_at_once() {
    let pg = need_postgres!();
    let c = cluster(pg, 2);
    let (alice, bob) = (enroll(&c.at[0], "na"), enroll(&c.at[1], "nb"));
    let rng = sslx::crypto::system_rng();
    let (an, ak) = keys(&alice);
    let (bn, bk) = keys(&bob);
    let mut hook = sslx::relay::client::on_hook(&c.at[1].listen, &bn, &bk, sslx::relay::service::FILES, &rng).unwrap();
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, b"sealed").unwrap();
    sslx::relay::client::deposit(&c.at[0].listen, &an, &ak, "nb", &[5; 8], &mut file, &rng).unwrap();
    match hook.next_event().unwrap() {
        sslx::relay::client::HookEvent::Mailbox { sender, bundle_id } => {
            assert_eq!((sender.as_str(), bundle_id), ("na", [5; 8]))
        }
        other => panic!("{other:?}"),
    }
}

/// Rate limits are counted in the database: spread over instances they hold as at one.
#[test]
fn an_open_request_limit_holds_across_instances() {
    let pg = need_postgres!();
    let site = tempfile::tempdir().unwrap();
    let url = pg.database();
    let at: Vec<Cds> = (0..3).map(|_| instance(&url, site.path(), &["--rate-source", "4/h"])).collect();
    let mut refused = 0;
    for i in 0..6 {
        let p = Participant::new(&format!("rl{i}"));
        let ok = p
            .vsu_cmd(&at[i % 3].listen, &format!("rl{i}@example.com"), "sms:+15551234567")
            .assert()
            .get_output()
            .status
            .success();
        refused += usize::from(!ok);
    }
    assert_eq!(refused, 2, "4 an hour from one address, whichever instance takes them");
}

/// The address of the instance where `name` is on hook now (from the database), if any.
fn hooked_at(pg: &Postgres, url: &str, name: &str) -> Option<String> {
    let q = format!("SELECT i.address FROM hooks h JOIN instances i ON i.id = h.instance WHERE h.name = '{name}'");
    Some(pg.psql(common::pg::db_name(url), &q)).filter(|a| !a.is_empty())
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// kill -9 of the instance a callee is hooked at, while enrollments and deposits go on at
/// every instance: every confirmed registration and every accepted deposit is in the database
/// afterwards, the callee hooks again at a surviving instance, and calls go through again.
#[test]
fn losing_an_instance_under_load_loses_nothing_and_hooks_move_to_a_survivor() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let pg = need_postgres!();
    let mut c = cluster(pg, 3);
    let list = c.at.iter().map(|i| i.listen.clone()).collect::<Vec<_>>().join(",");
    let (alice, bob) = (enroll(&c.at[0], "ka"), enroll(&c.at[1], "kb"));
    let _l = Listener::on_hook(&bob, &["--cds", &list, "--exec", "cat", "--allow", "ka"]);
    let mut first = None;
    wait_until("kb on hook", 10, || {
        first = hooked_at(pg, &c.url, "kb");
        first.is_some()
    });
    let first = first.unwrap();
    let dial = |data: &[u8]| {
        alice.cmd().args(["-q", "--cds", &list, "dial", "kb"]).write_stdin(data.to_vec()).output().unwrap()
    };
    let out = dial(b"before");
    assert_eq!(out.stdout, b"before", "{}", String::from_utf8_lossy(&out.stderr));

    // Load: deposits from ka to kb through the list, enrollments at each instance in turn.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<[u8; 8]>::new()));
    let confirmed = Arc::new(Mutex::new(Vec::<String>::new()));
    let (an, ak) = keys(&alice);
    let depositor = {
        let (stop, accepted, list) = (stop.clone(), accepted.clone(), list.clone());
        std::thread::spawn(move || {
            let rng = sslx::crypto::system_rng();
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let id = n.to_be_bytes();
                let mut f = tempfile::tempfile().unwrap();
                std::io::Write::write_all(&mut f, &pseudo_random(20_000, n as u8)).unwrap();
                if sslx::relay::client::deposit(&list, &an, &ak, "kb", &id, &mut f, &rng).is_ok() {
                    accepted.lock().unwrap().push(id);
                }
            }
        })
    };
    let instances: Vec<(String, std::path::PathBuf, std::path::PathBuf)> =
        c.at.iter().map(|i| (i.listen.clone(), i.outbox.clone().unwrap(), i.oob_dir.clone().unwrap())).collect();
    let enroller = {
        let (stop, confirmed) = (stop.clone(), confirmed.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let (listen, outbox, oob) = &instances[n % 3];
                let name = format!("ke{n}");
                n += 1;
                let p = Participant::new(&name);
                let out = p
                    .vsu_cmd(listen, &format!("{name}@example.com"), "sms:+15551234567")
                    .arg("--json")
                    .output()
                    .unwrap();
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { continue };
                let Some(rid) = v["request_id"].as_str().map(str::to_owned) else { continue };
                let Ok(mails) = std::fs::read_dir(outbox) else { continue };
                let mail = mails
                    .map(|e| e.unwrap().path())
                    .find(|f| std::fs::read_to_string(f).unwrap_or_default().contains(&rid));
                let Some(mail) = mail else { continue };
                let Ok(text) = std::fs::read_to_string(oob.join(format!("{rid}.txt"))) else { continue };
                let pin = sslx::vsu::ReplyC::pin_in(&text).unwrap();
                if !p
                    .cmd()
                    .args(["assemble-key", "--reply-b"])
                    .arg(&mail)
                    .args(["--pin", &pin])
                    .output()
                    .unwrap()
                    .status
                    .success()
                {
                    continue;
                }
                // Confirmed at the next instance that answers (the list).
                let all: Vec<&str> = instances.iter().map(|(l, _, _)| l.as_str()).collect();
                if p.cmd().args(["--cds", &all.join(","), "vsu", "--confirm"]).output().unwrap().status.success() {
                    confirmed.lock().unwrap().push(name);
                }
            }
        })
    };
    wait_until("load under way", 60, || !confirmed.lock().unwrap().is_empty() && accepted.lock().unwrap().len() > 10);
    let victim = c.at.iter().position(|i| i.listen == first).expect("kb is hooked at one of the three");
    let mut dead = c.at.remove(victim);
    dead.child.kill().unwrap(); // SIGKILL
    dead.child.wait().unwrap();
    // What a clean stop would have removed: its --dev folder.
    let _ = std::fs::remove_dir_all(dead.outbox.as_ref().unwrap().parent().unwrap());
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    depositor.join().unwrap();
    enroller.join().unwrap();

    let db = common::pg::db_name(&c.url);
    let (accepted, confirmed) = (accepted.lock().unwrap().clone(), confirmed.lock().unwrap().clone());
    assert!(
        !accepted.is_empty() && !confirmed.is_empty(),
        "no load: {} deposits, {} enrollments",
        accepted.len(),
        confirmed.len()
    );
    let stored: u32 = pg.psql(db, "SELECT count(*) FROM bundles WHERE stored AND sender = 'ka'").parse().unwrap();
    assert_eq!(stored as usize, accepted.len(), "every accepted deposit is kept");
    for id in &accepted {
        let q = format!("SELECT path FROM bundles WHERE stored AND bundle_id = '\\x{}'", hex::encode(id));
        let path = pg.psql(db, &q);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 20_000, "{path}");
    }
    for name in &confirmed {
        let q = format!("SELECT count(*) FROM participants WHERE name = '{name}'");
        assert_eq!(pg.psql(db, &q), "1", "{name} was confirmed");
    }
    eprintln!("{} deposits accepted, {} enrollments confirmed, all kept", accepted.len(), confirmed.len());

    // kb hooks again at a survivor, and ka's calls reach it again.
    wait_until("kb on hook at a survivor", 30, || hooked_at(pg, &c.url, "kb").is_some_and(|a| a != first));
    let out = dial(b"after");
    assert_eq!(out.stdout, b"after", "{}", String::from_utf8_lossy(&out.stderr));
    let _ = &c.site;
}

/// A hook put up at a second instance replaces the one at the first, which is told so.
#[test]
fn a_newer_hook_at_another_instance_replaces_the_older_one() {
    let pg = need_postgres!();
    let c = cluster(pg, 2);
    let bob = enroll(&c.at[0], "rb");
    let rng = sslx::crypto::system_rng();
    let (bn, bk) = keys(&bob);
    let mut older = sslx::relay::client::on_hook(&c.at[0].listen, &bn, &bk, "session", &rng).unwrap();
    let _newer = sslx::relay::client::on_hook(&c.at[1].listen, &bn, &bk, "session", &rng).unwrap();
    let e = older.next_event().unwrap_err();
    assert!(matches!(e, sslx::Error::HookReplaced { .. }), "{e}");
    assert_eq!(hooked_at(pg, &c.url, "rb").as_deref(), Some(c.at[1].listen.as_str()));
}

/// `--cds` with several addresses: one that cannot be reached is passed over; when none
/// answers, the error names each.
#[test]
fn a_cds_list_passes_over_an_instance_that_is_down_and_names_each_when_all_are() {
    let pg = need_postgres!();
    let c = cluster(pg, 1);
    let alice = enroll(&c.at[0], "la");
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let list = format!("{down},{}", c.at[0].listen);
    for _ in 0..3 {
        alice
            .cmd()
            .args(["--cds", &list, "dial", "nobody"])
            .assert()
            .code(6)
            .stderr(predicates::str::contains("no participant named"));
    }
    let out = alice
        .cmd()
        .args(["--cds", &format!("{down},127.0.0.1:1"), "dial", "nobody"])
        .assert()
        .code(7)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no instance of the CDS answered") && err.contains(&down) && err.contains("127.0.0.1:1"),
        "{err}"
    );
}

/// Anyone who can connect to the database can NOTIFY an instance's channel: a signal without
/// the instances' tag (made from the key file) is dropped, and the hook it names stays.
#[test]
fn a_notification_forged_at_the_database_is_not_taken_for_a_signal() {
    let pg = need_postgres!();
    let c = cluster(pg, 2);
    let bob = enroll(&c.at[1], "fb");
    let rng = sslx::crypto::system_rng();
    let (bn, bk) = keys(&bob);
    let _hook = sslx::relay::client::on_hook(&c.at[1].listen, &bn, &bk, "session", &rng).unwrap();
    let db = common::pg::db_name(&c.url);
    let q = "SELECT h.instance FROM hooks h WHERE h.name = 'fb'";
    let instance = pg.psql(db, q);
    assert!(!instance.is_empty());
    pg.psql(db, &format!("NOTIFY sslx_{instance}, '{{\"k\":\"rekeyed\",\"name\":\"fb\"}}'"));
    wait_until("the forged signal is logged as dropped", 10, || {
        std::fs::read_to_string(&c.at[1].stderr_log).unwrap_or_default().contains("not another instance's signal")
    });
    assert_eq!(pg.psql(db, q), instance, "the hook is still up where it was");
}

/// A clean stop (SIGTERM): the other instances forget this one and its hooks at once.
#[test]
fn an_instance_that_stops_cleanly_leaves_no_hooks_or_heartbeat_behind() {
    let pg = need_postgres!();
    let mut c = cluster(pg, 2);
    let bob = enroll(&c.at[1], "sb");
    let rng = sslx::crypto::system_rng();
    let (bn, bk) = keys(&bob);
    let _hook = sslx::relay::client::on_hook(&c.at[1].listen, &bn, &bk, "session", &rng).unwrap();
    assert_eq!(hooked_at(pg, &c.url, "sb").as_deref(), Some(c.at[1].listen.as_str()));
    let mut leaving = c.at.remove(1);
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(leaving.child.id() as i32, libc::SIGTERM) }, 0);
    assert!(leaving.child.wait().unwrap().success());
    let db = common::pg::db_name(&c.url);
    assert_eq!(hooked_at(pg, &c.url, "sb"), None);
    let q = format!("SELECT count(*) FROM instances WHERE address = '{}'", leaving.listen);
    assert_eq!(pg.psql(db, &q), "0", "its heartbeat row is gone");
}

/// Instances that announce their addresses (`--announce`): a participant remembers all of them
/// at enrollment, and without any --cds reaches a survivor when the one it enrolled at is gone.
#[test]
fn the_addresses_announced_at_enrollment_are_remembered_and_outlive_an_instance() {
    let pg = need_postgres!();
    let site = tempfile::tempdir().unwrap();
    let url = pg.database();
    // The addresses are known only once bound: ports taken now, given to each instance.
    let ports: Vec<String> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()).collect();
    let list = ports.join(",");
    let key = site.path().join("cds.key");
    let mailbox = site.path().join("mailbox");
    let mut at: Vec<Cds> = ports
        .iter()
        .map(|p| {
            let args = [
                "--dev",
                "--db",
                &url,
                "--key-file",
                key.to_str().unwrap(),
                "--mailbox-dir",
                mailbox.to_str().unwrap(),
                "--announce",
                &list,
            ];
            Cds::start_on(&args, &[], p)
        })
        .collect();
    let (alice, bob) = (enroll(&at[0], "aa"), enroll(&at[0], "ab"));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(alice.home().join("cds.json")).unwrap()).unwrap();
    assert_eq!(state["cds"].as_str(), Some(list.as_str()), "{state}");
    let _l = Listener::on_hook(&bob, &["--exec", "cat", "--allow", "aa"]);
    at.remove(0).stop(); // the instance both enrolled at
    wait_until("ab hooked at the survivor", 30, || hooked_at(pg, &url, "ab").is_some_and(|a| a == ports[1]));
    let out = alice.cmd().args(["-q", "dial", "ab"]).write_stdin(b"still here".to_vec()).output().unwrap();
    assert_eq!(out.stdout, b"still here", "{}", String::from_utf8_lossy(&out.stderr));
    // A bad address to announce is refused at start.
    Command::new(bin("sslx-cds"))
        .args(["serve", "--dev", "--announce", "nohost", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--announce: \"nohost\" is not HOST:PORT"));
}
