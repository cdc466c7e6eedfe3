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
    PgOptions { url: url.to_owned(), ca_pem: None, pool_size: 4, serving: false }
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
    let store = PgStore::open(&opts(&pg.database()), &key_in(dir.path())).unwrap();
    sslx::cds::store::conformance::conformance(&store);
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
    // Instances starting together on a new database (with their key file): one migrates, the
    // others find it done.
    sslx::cds::store::AtRest::load_or_create(&key_in(dir.path())).unwrap();
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
    // Another name for the same server: the certificate does not name it.
    let other = url.replace("localhost", "127.0.0.2");
    let e =
        PgStore::open(&PgOptions { ca_pem: Some(ca), ..opts(&other) }, &key_in(dir.path())).err().unwrap().to_string();
    assert!(e.contains("certificate") || e.contains("NotValidForName") || e.contains("connect"), "{e}");
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
