//! The session cache in the home (`sessions.db`, SQLite, 0600): Key-ID → master key for
//! resumption (each entry used once, then replaced by the new session's), and the tickets already
//! accepted (so a replayed M1 is refused).

use crate::crypto::Secret;
use crate::keys::Home;
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// Seconds a cached master key may be resumed (default 24 h).
pub const DEFAULT_RESUME_LIFE: u64 = 24 * 3600;

pub struct SessionCache {
    conn: Connection,
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Other(format!("session cache: {e}"))
}

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
        let conn = home.open_db("sessions.db")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS resume (key_id BLOB PRIMARY KEY, mk BLOB NOT NULL, peer TEXT NOT NULL,
                role TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS resume_peer ON resume(peer, role);
             CREATE TABLE IF NOT EXISTS tickets_seen (session_id BLOB PRIMARY KEY, expires INTEGER NOT NULL);",
        )
        .map_err(db_err)?;
        Ok(SessionCache { conn })
    }

    pub fn put(&self, key_id: &[u8; 16], mk: &Secret<32>, peer: &str, role: Role, now: u64, life: u64) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO resume (key_id, mk, peer, role, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&key_id[..], &mk.expose()[..], peer, role.as_str(), now as i64, (now + life) as i64],
            )
            .map_err(db_err)?;
        self.conn.execute("DELETE FROM resume WHERE expires <= ?1", params![now as i64]).map_err(db_err)?;
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
            .map_err(db_err)?;
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
            .map_err(db_err)?;
        Ok(row.and_then(|(k, mk)| Some((k.try_into().ok()?, Secret::from_slice(&mk)?))))
    }

    /// Records a ticket as used; `false` if it was used before (a replay).
    pub fn first_use_of_ticket(&self, session_id: &[u8; 16], expires: u64, now: u64) -> Result<bool> {
        self.conn.execute("DELETE FROM tickets_seen WHERE expires <= ?1", params![now as i64]).map_err(db_err)?;
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO tickets_seen (session_id, expires) VALUES (?1, ?2)",
                params![&session_id[..], expires as i64],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }
}
