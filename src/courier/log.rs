//! The send log and the receive log (the inbox) of seed 004 Figs. 8A–8C, and the Challenge A
//! values of offline bundles already opened (a bundle opened twice is refused the second time).
//! One SQLite file in the home, `courier.db`, 0600.

use crate::keys::Home;
use crate::{Error, Result};
use rusqlite::{params, Connection};
use serde::Serialize;

fn db_err(e: rusqlite::Error) -> Error {
    Error::Other(format!("courier log: {e}"))
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

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
    /// relay, file, mailbox.
    pub via: String,
    /// ok, failed, queued, delivered.
    pub result: String,
    pub detail: String,
}

pub struct CourierLog {
    conn: Connection,
}

impl CourierLog {
    pub fn open(home: &Home) -> Result<Self> {
        let conn = home.open_db("courier.db")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, direction TEXT NOT NULL, time INTEGER NOT NULL,
                peer TEXT NOT NULL, bundle TEXT NOT NULL, names TEXT NOT NULL, files INTEGER NOT NULL,
                bytes INTEGER NOT NULL, suite TEXT NOT NULL, via TEXT NOT NULL, result TEXT NOT NULL,
                detail TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS log_bundle ON log(bundle);
             CREATE TABLE IF NOT EXISTS opened (peer TEXT NOT NULL, challenge_a BLOB NOT NULL, time INTEGER NOT NULL,
                PRIMARY KEY (peer, challenge_a));",
        )
        .map_err(db_err)?;
        Ok(CourierLog { conn })
    }

    /// Appends an entry (its `id` is ignored); returns the new id.
    pub fn add(&self, e: &Entry) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO log (direction, time, peer, bundle, names, files, bytes, suite, via, result, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    dir_str(e.direction),
                    e.time as i64,
                    e.peer,
                    e.bundle,
                    serde_json::to_string(&e.names).expect("strings"),
                    e.files as i64,
                    e.bytes as i64,
                    e.suite,
                    e.via,
                    e.result,
                    e.detail
                ],
            )
            .map_err(db_err)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Changes the result of the sent entries of a bundle (queued → delivered).
    pub fn set_sent_result(&self, bundle: &str, result: &str, detail: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE log SET result = ?2, detail = ?3 WHERE direction = 'sent' AND bundle = ?1",
                params![bundle, result, detail],
            )
            .map_err(db_err)
    }

    /// Entries, oldest first; `only` picks one log.
    pub fn list(&self, only: Option<Direction>) -> Result<Vec<Entry>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, direction, time, peer, bundle, names, files, bytes, suite, via, result, detail FROM log
                 WHERE ?1 IS NULL OR direction = ?1 ORDER BY id",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![only.map(dir_str)], |r| {
                let names: String = r.get(5)?;
                Ok(Entry {
                    id: r.get(0)?,
                    direction: if r.get::<_, String>(1)? == "sent" { Direction::Sent } else { Direction::Received },
                    time: r.get::<_, i64>(2)? as u64,
                    peer: r.get(3)?,
                    bundle: r.get(4)?,
                    names: serde_json::from_str(&names).unwrap_or_default(),
                    files: r.get::<_, i64>(6)? as u64,
                    bytes: r.get::<_, i64>(7)? as u64,
                    suite: r.get(8)?,
                    via: r.get(9)?,
                    result: r.get(10)?,
                    detail: r.get(11)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
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
            .map_err(db_err)?;
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
            .map_err(db_err)?;
        Ok(n == 1)
    }
}

fn dir_str(d: Direction) -> &'static str {
    match d {
        Direction::Sent => "sent",
        Direction::Received => "received",
    }
}

/// A bundle's id in the logs: the first 8 bytes of Challenge A in hex.
pub fn bundle_id(challenge_a: &[u8; 32]) -> String {
    challenge_a[..8].iter().map(|b| format!("{b:02x}")).collect()
}
