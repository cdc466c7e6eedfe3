//! The send log and the receive log (the inbox) of seed 004 Figs. 8A–8C, and the Challenge A
//! values of offline bundles already opened (a bundle opened twice is refused the second time).
//! One SQLite file in the home, `courier.db`, 0600.

use crate::db::{Column, Migration, Schema};
use crate::keys::Home;
use crate::Result;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::path::PathBuf;

/// `courier.db`'s schema: version 1 the tables as the first sslx made them; version 2 makes the
/// log's enum columns (direction, via, result) strict; version 3 adds the result `interrupted`;
/// version 4 the ways `direct` (to a `recv --bind`) and `stdout` (`send --out -`).
pub static SCHEMA: Schema = Schema {
    what: "courier log",
    migrations: &[Migration::Sql(V1), Migration::Sql(V2), Migration::Sql(V3), Migration::Sql(V4)],
};

const V1: &str = "
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, direction TEXT NOT NULL, time INTEGER NOT NULL,
    peer TEXT NOT NULL, bundle TEXT NOT NULL, names TEXT NOT NULL, files INTEGER NOT NULL,
    bytes INTEGER NOT NULL, suite TEXT NOT NULL, via TEXT NOT NULL, result TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_bundle ON log(bundle);
CREATE TABLE IF NOT EXISTS opened (peer TEXT NOT NULL, challenge_a BLOB NOT NULL, time INTEGER NOT NULL,
    PRIMARY KEY (peer, challenge_a));
";

const V2: &str = "
CREATE TABLE log_v2 (id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')), time INTEGER NOT NULL,
    peer TEXT NOT NULL, bundle TEXT NOT NULL, names TEXT NOT NULL, files INTEGER NOT NULL,
    bytes INTEGER NOT NULL, suite TEXT NOT NULL, via TEXT NOT NULL CHECK (via IN ('relay', 'file', 'mailbox')),
    result TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'queued', 'delivered')), detail TEXT NOT NULL);
INSERT INTO log_v2 SELECT id, direction, time, peer, bundle, names, files, bytes, suite, via, result, detail FROM log;
DROP TABLE log;
ALTER TABLE log_v2 RENAME TO log;
CREATE INDEX log_bundle ON log(bundle);
";

const V3: &str = "
CREATE TABLE log_v3 (id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')), time INTEGER NOT NULL,
    peer TEXT NOT NULL, bundle TEXT NOT NULL, names TEXT NOT NULL, files INTEGER NOT NULL,
    bytes INTEGER NOT NULL, suite TEXT NOT NULL, via TEXT NOT NULL CHECK (via IN ('relay', 'file', 'mailbox')),
    result TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'queued', 'delivered', 'interrupted')),
    detail TEXT NOT NULL);
INSERT INTO log_v3 SELECT id, direction, time, peer, bundle, names, files, bytes, suite, via, result, detail FROM log;
DROP TABLE log;
ALTER TABLE log_v3 RENAME TO log;
CREATE INDEX log_bundle ON log(bundle);
";

const V4: &str = "
CREATE TABLE log_v4 (id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')), time INTEGER NOT NULL,
    peer TEXT NOT NULL, bundle TEXT NOT NULL, names TEXT NOT NULL, files INTEGER NOT NULL,
    bytes INTEGER NOT NULL, suite TEXT NOT NULL,
    via TEXT NOT NULL CHECK (via IN ('relay', 'direct', 'file', 'stdout', 'mailbox')),
    result TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'queued', 'delivered', 'interrupted')),
    detail TEXT NOT NULL);
INSERT INTO log_v4 SELECT id, direction, time, peer, bundle, names, files, bytes, suite, via, result, detail FROM log;
DROP TABLE log;
ALTER TABLE log_v4 RENAME TO log;
CREATE INDEX log_bundle ON log(bundle);
";

/// A name column shown as it is stored (padding honoured, for the log table).
macro_rules! shown_as_stored {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

impl Column for Direction {
    const COLUMN: &'static str = "log.direction";
    const ALL: &'static [(Self, &'static str)] = &[(Direction::Sent, "sent"), (Direction::Received, "received")];
}

/// How a bundle went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Live, through the CDS relay.
    Relay,
    /// Live, straight to the recipient's `sslx recv --bind` (`send --direct`).
    Direct,
    /// A bundle file (`--out FILE`, `--in`).
    File,
    /// A bundle written to stdout (`--out -`).
    Stdout,
    /// Left in the recipient's CDS mailbox, or collected from it.
    Mailbox,
}

impl Column for Via {
    const COLUMN: &'static str = "log.via";
    const ALL: &'static [(Self, &'static str)] = &[
        (Via::Relay, "relay"),
        (Via::Direct, "direct"),
        (Via::File, "file"),
        (Via::Stdout, "stdout"),
        (Via::Mailbox, "mailbox"),
    ];
}

/// What became of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Sent and acknowledged, or received and unpacked.
    Ok,
    /// It did not go through (the entry's detail says why).
    Failed,
    /// Waiting in the recipient's mailbox.
    Queued,
    /// Collected from the mailbox by the recipient.
    Delivered,
    /// The send was under way when its process ended (Ctrl-C, a signal, a crash): logged when a
    /// send starts, replaced by its outcome when it ends.
    Interrupted,
}

impl Column for Outcome {
    const COLUMN: &'static str = "log.result";
    const ALL: &'static [(Self, &'static str)] = &[
        (Outcome::Ok, "ok"),
        (Outcome::Failed, "failed"),
        (Outcome::Queued, "queued"),
        (Outcome::Delivered, "delivered"),
        (Outcome::Interrupted, "interrupted"),
    ];
}

shown_as_stored!(Direction);
shown_as_stored!(Via);
shown_as_stored!(Outcome);

/// One line of a log.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub direction: Direction,
    /// Unix seconds.
    pub time: u64,
    pub peer: String,
    /// The bundle's id: the first 8 bytes of Challenge A, in hex.
    pub bundle: String,
    /// Top-level names.
    pub names: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    pub suite: String,
    pub via: Via,
    pub result: Outcome,
    pub detail: String,
}

pub struct CourierLog {
    conn: Connection,
    path: PathBuf,
}

impl CourierLog {
    pub fn open(home: &Home) -> Result<Self> {
        let path = home.state_file("courier.db")?;
        Ok(CourierLog { conn: crate::db::open(&path, &SCHEMA)?, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> crate::Error + '_ {
        crate::db::error(&self.path)
    }

    /// Appends an entry (its `id` is ignored); returns the new id.
    pub fn add(&self, e: &Entry) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO log (direction, time, peer, bundle, names, files, bytes, suite, via, result, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    e.direction.as_str(),
                    e.time as i64,
                    e.peer,
                    e.bundle,
                    serde_json::to_string(&e.names).expect("strings"),
                    e.files as i64,
                    e.bytes as i64,
                    e.suite,
                    e.via.as_str(),
                    e.result.as_str(),
                    e.detail
                ],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Changes the result of the sent entries of a bundle (queued → delivered).
    /// Sets entry `id`'s outcome.
    pub fn set_result(&self, id: i64, result: Outcome, detail: &str) -> Result<()> {
        self.conn
            .execute("UPDATE log SET result = ?2, detail = ?3 WHERE id = ?1", params![id, result.as_str(), detail])
            .map_err(self.err())?;
        Ok(())
    }

    /// Removes entry `id` (a live send the mailbox took over: the deposit has its own line).
    pub fn remove(&self, id: i64) -> Result<()> {
        self.conn.execute("DELETE FROM log WHERE id = ?1", params![id]).map_err(self.err())?;
        Ok(())
    }

    pub fn set_sent_result(&self, bundle: &str, result: Outcome, detail: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE log SET result = ?2, detail = ?3 WHERE direction = 'sent' AND bundle = ?1",
                params![bundle, result.as_str(), detail],
            )
            .map_err(self.err())
    }

    /// Entries, oldest first; `only` picks one log.
    pub fn list(&self, only: Option<Direction>) -> Result<Vec<Entry>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, direction, time, peer, bundle, names, files, bytes, suite, via, result, detail FROM log
                 WHERE ?1 IS NULL OR direction = ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![only.map(Direction::as_str)], |r| {
                let names: String = r.get(5)?;
                Ok(Entry {
                    id: r.get(0)?,
                    direction: crate::db::get(r, 1)?,
                    time: r.get::<_, i64>(2)? as u64,
                    peer: r.get(3)?,
                    bundle: r.get(4)?,
                    names: serde_json::from_str(&names).unwrap_or_default(),
                    files: r.get::<_, i64>(6)? as u64,
                    bytes: r.get::<_, i64>(7)? as u64,
                    suite: r.get(8)?,
                    via: crate::db::get(r, 9)?,
                    result: crate::db::get(r, 10)?,
                    detail: r.get(11)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Whether an offline bundle with this Challenge A from `peer` was opened before.
    pub fn was_opened(&self, peer: &str, challenge_a: &[u8; 32]) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM opened WHERE peer = ?1 AND challenge_a = ?2",
                params![peer, &challenge_a[..]],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Remembers an opened bundle; false if it was already there (a concurrent second opening).
    pub fn mark_opened(&self, peer: &str, challenge_a: &[u8; 32], now: u64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO opened (peer, challenge_a, time) VALUES (?1, ?2, ?3)",
                params![peer, &challenge_a[..], now as i64],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    /// Forgets an opening that did not place the bundle (its names could not go into place), so
    /// that the bundle, kept in the mailbox, opens at a later collection.
    pub fn unmark_opened(&self, peer: &str, challenge_a: &[u8; 32]) -> Result<()> {
        self.conn
            .execute("DELETE FROM opened WHERE peer = ?1 AND challenge_a = ?2", params![peer, &challenge_a[..]])
            .map_err(self.err())?;
        Ok(())
    }
}

/// A bundle's id in the logs: the first 8 bytes of Challenge A in hex.
pub fn bundle_id(challenge_a: &[u8; 32]) -> String {
    hex::encode(&challenge_a[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `courier.db` as the sslx of commit 9cb70be left it (alice's, after the quickstart).
    #[test]
    fn a_log_made_by_the_previous_version_opens_with_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_owned());
        crate::db::made_by_the_previous_version(
            dir.path(),
            "courier.db",
            include_str!("../../tests/fixtures/courier-v0.sql"),
        );
        let log = CourierLog::open(&home).unwrap();
        assert_eq!(crate::db::version_of(&log.conn).unwrap(), SCHEMA.version());
        let e = log.list(None).unwrap();
        let got: Vec<_> = e.iter().map(|e| (e.direction, e.via, e.result, e.names.clone())).collect();
        assert_eq!(
            got,
            [
                (Direction::Sent, Via::Relay, Outcome::Ok, vec!["reports".to_owned()]),
                (Direction::Sent, Via::Mailbox, Outcome::Delivered, vec!["ledger.txt".to_owned()]),
                (Direction::Sent, Via::Mailbox, Outcome::Queued, vec!["w.txt".to_owned()]),
            ]
        );
        assert_eq!(log.set_sent_result("e5d666c96de4aca3", Outcome::Failed, "expired").unwrap(), 1);
        let e = log.list(Some(Direction::Sent)).unwrap();
        assert_eq!((e[2].result, e[2].detail.as_str()), (Outcome::Failed, "expired"));
    }

    #[test]
    fn a_result_this_sslx_does_not_know_is_refused_by_the_schema_and_named_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_owned());
        let log = CourierLog::open(&home).unwrap();
        let insert = "INSERT INTO log (direction, time, peer, bundle, names, files, bytes, suite, via, result, detail)
                      VALUES ('sent', 0, 'p', 'b', '[]', 0, 0, 'aead', 'relay', 'maybe', '')";
        assert!(log.conn.execute(insert, []).unwrap_err().to_string().contains("CHECK constraint failed"));
        // A file whose CHECK was bypassed (written by hand): the read names the column.
        log.conn.execute_batch("PRAGMA ignore_check_constraints = ON").unwrap();
        log.conn.execute(insert, []).unwrap();
        let e = log.list(None).unwrap_err().to_string();
        assert!(e.contains("log.result holds \"maybe\", which this sslx does not know"), "{e}");
    }
}
