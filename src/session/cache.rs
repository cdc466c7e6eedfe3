//! The session cache in the home (`sessions.db`, SQLite, 0600): Key-ID → master key for
//! resumption (each entry used once, then replaced by the new session's), and the tickets already
//! accepted (so a replayed M1 is refused).

use crate::crypto::Secret;
use crate::db::{Migration, Schema};
use crate::keys::Home;
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// Seconds a cached master key may be resumed (default 24 h).
pub const DEFAULT_RESUME_LIFE: u64 = 24 * 3600;

pub struct SessionCache {
    conn: Connection,
    path: std::path::PathBuf,
}

/// `sessions.db`'s schema (version 1: the tables as the first sslx made them).
pub static SCHEMA: Schema = Schema {
    what: "session cache",
    migrations: &[Migration::Sql(
        "CREATE TABLE IF NOT EXISTS resume (key_id BLOB PRIMARY KEY, mk BLOB NOT NULL, peer TEXT NOT NULL,
            role TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS resume_peer ON resume(peer, role);
         CREATE TABLE IF NOT EXISTS tickets_seen (session_id BLOB PRIMARY KEY, expires INTEGER NOT NULL);",
    )],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl SessionCache {
    pub fn open(home: &Home) -> Result<Self> {
        let path = home.state_file("sessions.db")?;
        Ok(SessionCache { conn: crate::db::open(&path, &SCHEMA)?, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        crate::db::error(&self.path)
    }

    pub fn put(&self, key_id: &[u8; 16], mk: &Secret<32>, peer: &str, role: Role, now: u64, life: u64) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO resume (key_id, mk, peer, role, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&key_id[..], &mk.expose()[..], peer, role.as_str(), now as i64, (now + life) as i64],
            )
            .map_err(self.err())?;
        self.conn.execute("DELETE FROM resume WHERE expires <= ?1", params![now as i64]).map_err(self.err())?;
        Ok(())
    }

    /// Server: the master key under `key_id`, removed (a Key-ID resumes once).
    pub fn take_by_id(&self, key_id: &[u8; 16], now: u64) -> Result<Option<(Secret<32>, String)>> {
        let row: Option<(Vec<u8>, String)> = self
            .conn
            .query_row(
                "DELETE FROM resume WHERE key_id = ?1 AND role = 'server' AND expires > ?2 RETURNING mk, peer",
                params![&key_id[..], now as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        Ok(row.and_then(|(mk, peer)| Some((Secret::from_slice(&mk)?, peer))))
    }

    /// Client: the newest cached session with `peer`, removed.
    pub fn take_for_peer(&self, peer: &str, now: u64) -> Result<Option<([u8; 16], Secret<32>)>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "DELETE FROM resume WHERE key_id = (SELECT key_id FROM resume WHERE peer = ?1 AND role = 'client' AND expires > ?2
                 ORDER BY created DESC LIMIT 1) RETURNING key_id, mk",
                params![peer, now as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        Ok(row.and_then(|(k, mk)| Some((k.try_into().ok()?, Secret::from_slice(&mk)?))))
    }

    /// Records a ticket as used; `false` if it was used before (a replay).
    pub fn first_use_of_ticket(&self, session_id: &[u8; 16], expires: u64, now: u64) -> Result<bool> {
        self.conn.execute("DELETE FROM tickets_seen WHERE expires <= ?1", params![now as i64]).map_err(self.err())?;
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO tickets_seen (session_id, expires) VALUES (?1, ?2)",
                params![&session_id[..], expires as i64],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sessions.db` as the sslx of commit 9cb70be left it: its cached sessions still resume.
    #[test]
    fn a_cache_made_by_the_previous_version_opens_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().to_owned());
        let dump = include_str!("../../tests/fixtures/sessions-v0.sql");
        crate::db::made_by_the_previous_version(dir.path(), "sessions.db", dump);
        let cache = SessionCache::open(&home).unwrap();
        assert_eq!(crate::db::version_of(&cache.conn).unwrap(), SCHEMA.version());
        let rows: i64 = cache.conn.query_row("SELECT COUNT(*) FROM resume", [], |r| r.get(0)).unwrap();
        assert!(rows > 0, "the fixture holds cached sessions");
        let peer: String =
            cache.conn.query_row("SELECT peer FROM resume WHERE role = 'client'", [], |r| r.get(0)).unwrap();
        assert!(cache.take_for_peer(&peer, 1_796_218_337).unwrap().is_some());
    }
}
