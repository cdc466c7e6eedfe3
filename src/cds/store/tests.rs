//! What is SQLite's own: opening a file made by an earlier sslx, the key file's checks; and the
//! contract (`conformance`) run on it.

use super::conformance::*;
use super::*;

#[test]
fn sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("cds.db")).unwrap();
    conformance(&s);
    // 1,200 expired, less the 120 cancelled and the 120 never stored: 960 files purged.
    assert_eq!(mailbox_churn(&s, 1_800_000_000, 1).bundle_files.len(), 960);
    let kept = mailbox_use(&s);
    assert!(kept.len() > 20, "{kept:?}");
    assert_eq!(kept, recount(&s), "the running totals drifted from the bundles");
}

/// The mailbox's running totals as kept (`mailbox_use`), sorted.
fn mailbox_use(s: &SqliteStore) -> Vec<(String, i64)> {
    let c = s.conn();
    let mut q = c.prepare("SELECT k, bytes FROM mailbox_use ORDER BY k").unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
}

/// The same totals counted afresh from the bundles.
fn recount(s: &SqliteStore) -> Vec<(String, i64)> {
    let c = s.conn();
    let mut q = c.prepare("SELECT recipient, sender, size FROM bundles").unwrap();
    let mut t = std::collections::BTreeMap::<String, i64>::new();
    for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))).unwrap() {
        let (recipient, sender, size) = row.unwrap();
        for k in use_keys(&recipient, &sender) {
            *t.entry(k).or_default() += size.max(BUNDLE_FLOOR as i64);
        }
    }
    t.into_iter().collect()
}

#[test]
fn sqlite_store_is_at_the_schema_version_and_another_open_keeps_the_reservations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.db");
    let s = SqliteStore::open(&path).unwrap();
    let now = 1_800_000_000;
    let r = s.bundle_reserve(&bundle("db1", "web1", 1, 1_000_000, now), ROOMY).unwrap().unwrap();
    // `sslx-cds calls` opening the file while the CDS serves takes nothing from its deposits.
    let reader = SqliteStore::open(&path).unwrap();
    assert!(reader.bundle_reserve(&bundle("db1", "web1", 2, 1, now), ROOMY).unwrap().is_err(), "still reserved");
    s.bundle_stored(r, &bundle("db1", "web1", 1, 1_000_000, now)).unwrap();
    assert_eq!(crate::db::version_of(&reader.conn()).unwrap(), SCHEMA.version());
}

/// A database made by sslx-cds before schemas had versions (`tests/fixtures/cds-v0.sql`, made
/// by the quickstart of commit 9cb70be: two participants enrolled, four calls, one bundle
/// waiting, one delivered) opens, gains the current schema, and keeps everything it held.
#[test]
fn a_database_made_by_the_previous_version_opens_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.db");
    {
        crate::keys::prepare_secret_file(&path).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(include_str!("../../../tests/fixtures/cds-v0.sql")).unwrap();
        assert_eq!(crate::db::version_of(&c).unwrap(), 0);
    }
    std::fs::write(default_key_file(&path), include_str!("../../../tests/fixtures/cds-v0.db.key")).unwrap();
    std::fs::set_permissions(default_key_file(&path), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(crate::db::version_of(&s.conn()).unwrap(), SCHEMA.version());
    for name in ["alice", "bob"] {
        let p = s.participant(name).unwrap().unwrap();
        assert_eq!(p.status, ParticipantStatus::Confirmed);
        assert!(s.participant_cdsk(name).unwrap().is_some(), "{name}'s CDSK opens under the old key file");
    }
    // Two calls completed, two refused (bob was not on hook): the old free-text result is split
    // into outcome and detail, and shown as before.
    let calls = s.calls_since(0).unwrap();
    let outcomes: Vec<_> = calls.iter().map(|c| c.outcome).collect();
    use CallOutcome::{Completed, Refused};
    assert_eq!(outcomes, [Completed, Completed, Refused, Refused], "{calls:?}");
    assert_eq!(calls[0].result, "completed");
    assert_eq!(calls[2].result, r#"refused: "bob" is not listening (no `sslx listen` on hook at this CDS)"#);
    assert_eq!(
        s.delivery_states("alice", &[[0xdf, 0x3e, 0xbe, 0xdb, 0xda, 0xe8, 0xde, 0xf9]]).unwrap()[0].0,
        DeliveryState::Delivered
    );
    let (next, _) = s.bundle_next("bob", 0, &HashSet::new()).unwrap();
    assert_eq!(next.unwrap().1.sender, "alice");
    // The bundle waiting (330 bytes) is in the running totals the migration counted.
    let counted = mailbox_use(&s);
    assert_eq!(counted, recount(&s));
    assert_eq!(counted.len(), 4, "{counted:?}");
    assert!(counted.iter().all(|(_, n)| *n == BUNDLE_FLOOR as i64), "{counted:?}");
    let rng = crate::crypto::system_rng();
    s.sign_seed(&rng).unwrap();
    assert!(s.release("alice").unwrap());
}

#[test]
fn a_value_outside_an_enum_column_is_refused_by_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.db");
    let s = SqliteStore::open(&path).unwrap();
    let e = s
        .conn()
        .execute(
            "INSERT INTO requests (id, name, x25519, ed25519, email, oob, created, expires, cdsk, status)
             VALUES (x'00', 'n', x'', x'', '', '', 0, 0, x'', 'maybe')",
            [],
        )
        .unwrap_err();
    assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
}

#[test]
fn a_database_from_a_newer_sslx_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let e = SqliteStore::open(&path).err().unwrap();
    assert!(e.to_string().contains("made by a newer sslx (CDS database schema version 99"), "{e}");
}

/// Two CDS processes on one file confirm two requests for one new name from different keys at
/// the same moment: exactly one of them gets the name (the check is inside the transaction).
#[test]
fn concurrent_confirmations_of_one_name_from_two_keys_register_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cds.db");
    concurrent_confirmations(&SqliteStore::open(&path).unwrap(), &SqliteStore::open(&path).unwrap());
}

/// A migration is one-way, so it waits for the right key file: opened with another database's,
/// the file made by the previous version is refused and left at its version.
#[test]
fn a_wrong_key_file_leaves_the_previous_versions_file_unmigrated() {
    let dir = tempfile::tempdir().unwrap();
    let dump = include_str!("../../../tests/fixtures/cds-v0.sql");
    let path = crate::db::made_by_the_previous_version(dir.path(), "cds.db", dump);
    let other = dir.path().join("other.key");
    drop(AtRest::load_or_create(&other).unwrap());
    let e = SqliteStore::open_with_key(&path, &other).err().unwrap();
    assert!(e.to_string().contains("belongs to another database"), "{e}");
    assert_eq!(crate::db::version_of(&rusqlite::Connection::open(&path).unwrap()).unwrap(), 0);
}
