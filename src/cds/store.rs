//! CDS state in SQLite (one file, WAL): pending requests, registered participants, and the CDS's
//! own signing key. Everything the registrar confirms is committed before it answers.

use crate::crypto::Secret;
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Confirmed,
    Denied,
}

impl RequestStatus {
    fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Confirmed => "confirmed",
            RequestStatus::Denied => "denied",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "confirmed" => RequestStatus::Confirmed,
            "denied" => RequestStatus::Denied,
            _ => RequestStatus::Pending,
        }
    }
}

/// An open request the CDS has answered and waits to see confirmed.
pub struct RequestRow {
    pub id: [u8; 16],
    pub name: String,
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
    pub email: String,
    pub oob: String,
    pub created: u64,
    pub expires: u64,
    pub cdsk: Secret<32>,
    pub attempts: u32,
    pub status: RequestStatus,
    /// When the name was registered to another key at open time: that key, proven by the request.
    pub prior_ed25519: Option<[u8; 32]>,
}

/// One call on the billing tape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub tracking_id: String,
    pub caller: String,
    pub callee: String,
    pub start: u64,
    pub end: Option<u64>,
    /// Bytes from the caller to the callee.
    pub bytes_up: u64,
    /// Bytes from the callee to the caller.
    pub bytes_down: u64,
    pub result: String,
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Something kept at the CDS for a participant who is not connected.
/// The next bundle for a recipient (its item id), and the files of expired ones to remove.
pub type NextBundle = (Option<(i64, StoredBundle)>, Vec<String>);

/// A bundle kept for a recipient who was not listening (store-and-forward).
#[derive(Debug, Clone)]
pub struct StoredBundle {
    pub recipient: String,
    pub sender: String,
    pub bundle_id: [u8; 8],
    pub size: u64,
    pub path: String,
    pub created: u64,
    pub expires: u64,
}

pub struct MailboxItem<'a> {
    pub recipient: &'a str,
    /// `ticket` (AH-CDS), later `bundle` (store-and-forward).
    pub kind: &'a str,
    pub sender: &'a str,
    pub session_id: Option<&'a [u8]>,
    pub body: &'a [u8],
    pub created: u64,
    pub expires: u64,
}

/// A participant whose VSU succeeded.
#[derive(Debug, Clone)]
pub struct Participant {
    pub name: String,
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
    pub channels: String,
    pub first_vsu: u64,
    pub last_vsu: u64,
    pub vsu_count: u32,
    pub key_expires: u64,
    pub status: String,
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Other(format!("CDS database: {e}"))
}

fn arr<const N: usize>(v: Vec<u8>) -> rusqlite::Result<[u8; N]> {
    v.try_into().map_err(|_| rusqlite::Error::InvalidQuery)
}

impl Store {
    /// Opens (or creates, mode 0600) the database. It holds every CDSK and the CDS's signing key,
    /// so a database that group or others can read is refused.
    pub fn open(path: &Path) -> Result<Self> {
        crate::keys::prepare_secret_file(path)?;
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS requests (
                id BLOB PRIMARY KEY, name TEXT NOT NULL, x25519 BLOB NOT NULL, ed25519 BLOB NOT NULL,
                email TEXT NOT NULL, oob TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
                cdsk BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
                confirm_nonce BLOB, prior_ed25519 BLOB);
             CREATE INDEX IF NOT EXISTS requests_name ON requests(name);
             CREATE TABLE IF NOT EXISTS participants (
                name TEXT PRIMARY KEY, x25519 BLOB NOT NULL, ed25519 BLOB NOT NULL, email TEXT NOT NULL,
                oob TEXT NOT NULL, channels TEXT NOT NULL, cdsk BLOB NOT NULL, first_vsu INTEGER NOT NULL,
                last_vsu INTEGER NOT NULL, vsu_count INTEGER NOT NULL, key_expires INTEGER NOT NULL,
                request_id BLOB NOT NULL, status TEXT NOT NULL, source TEXT);
             CREATE TABLE IF NOT EXISTS calls (
                tracking_id BLOB PRIMARY KEY, caller TEXT NOT NULL, callee TEXT NOT NULL, start INTEGER NOT NULL,
                end INTEGER, bytes_up INTEGER NOT NULL DEFAULT 0, bytes_down INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS calls_start ON calls(start);
             CREATE TABLE IF NOT EXISTS mailbox (
                id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL,
                session_id BLOB, body BLOB NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox(recipient);
             CREATE TABLE IF NOT EXISTS bundles (
                id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, sender TEXT NOT NULL, bundle_id BLOB NOT NULL,
                size INTEGER NOT NULL, path TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS bundles_recipient ON bundles(recipient);
             CREATE TABLE IF NOT EXISTS deliveries (
                sender TEXT NOT NULL, bundle_id BLOB NOT NULL, recipient TEXT NOT NULL, state INTEGER NOT NULL,
                time INTEGER NOT NULL, PRIMARY KEY (sender, bundle_id));",
        )
        .map_err(db_err)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CDS's Ed25519 signing seed, made on first use.
    pub fn sign_seed(&self, rng: &dyn ring::rand::SecureRandom) -> Result<Secret<32>> {
        let c = self.conn();
        let got: Option<Vec<u8>> = c
            .query_row("SELECT value FROM meta WHERE key = 'sign_seed'", [], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        if let Some(v) = got.and_then(|v| Secret::from_slice(&v)) {
            return Ok(v);
        }
        let s: Secret<32> = Secret::random(rng);
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('sign_seed', ?1)", params![&s.expose()[..]])
            .map_err(db_err)?;
        Ok(s)
    }

    pub fn insert_request(&self, r: &RequestRow) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO requests (id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    &r.id[..], r.name, &r.x25519[..], &r.ed25519[..], r.email, r.oob, r.created as i64,
                    r.expires as i64, &r.cdsk.expose()[..], r.attempts, r.status.as_str(),
                    r.prior_ed25519.map(|k| k.to_vec())
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    pub fn delete_request(&self, id: &[u8; 16]) -> Result<()> {
        self.conn().execute("DELETE FROM requests WHERE id = ?1", params![&id[..]]).map_err(db_err)?;
        Ok(())
    }

    pub fn request(&self, id: &[u8; 16]) -> Result<Option<RequestRow>> {
        self.conn()
            .query_row(
                "SELECT id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519
                 FROM requests WHERE id = ?1",
                params![&id[..]],
                |r| {
                    Ok(RequestRow {
                        id: arr(r.get(0)?)?,
                        name: r.get(1)?,
                        x25519: arr(r.get(2)?)?,
                        ed25519: arr(r.get(3)?)?,
                        email: r.get(4)?,
                        oob: r.get(5)?,
                        created: r.get::<_, i64>(6)? as u64,
                        expires: r.get::<_, i64>(7)? as u64,
                        cdsk: Secret::new(arr(r.get(8)?)?),
                        attempts: r.get(9)?,
                        status: RequestStatus::parse(&r.get::<_, String>(10)?),
                        prior_ed25519: r.get::<_, Option<Vec<u8>>>(11)?.map(arr).transpose()?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    pub fn record_failed_attempt(&self, id: &[u8; 16], attempts: u32, status: RequestStatus) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE requests SET attempts = ?2, status = ?3 WHERE id = ?1",
                params![&id[..], attempts, status.as_str()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks the request confirmed and (re)registers the participant, in one transaction.
    /// `source`: the address the confirmation came from, the participant's registered source.
    pub fn confirm(
        &self,
        req: &RequestRow,
        nonce: &[u8; 32],
        channels: &str,
        source: Option<&str>,
        now: u64,
        key_expires: u64,
    ) -> Result<Participant> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(db_err)?;
        tx.execute(
            "UPDATE requests SET status = 'confirmed', confirm_nonce = ?2, attempts = attempts + 1 WHERE id = ?1",
            params![&req.id[..], &nonce[..]],
        )
        .map_err(db_err)?;
        let prev: Option<(i64, u32)> = tx
            .query_row("SELECT first_vsu, vsu_count FROM participants WHERE name = ?1", params![req.name], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db_err)?;
        let (first, count) = prev.map(|(f, n)| (f as u64, n + 1)).unwrap_or((now, 1));
        tx.execute(
            "INSERT OR REPLACE INTO participants
             (name, x25519, ed25519, email, oob, channels, cdsk, first_vsu, last_vsu, vsu_count, key_expires, request_id, status, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'confirmed', ?13)",
            params![
                req.name, &req.x25519[..], &req.ed25519[..], req.email, req.oob, channels, &req.cdsk.expose()[..],
                first as i64, now as i64, count, key_expires as i64, &req.id[..], source
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        drop(c);
        Ok(self.participant(&req.name)?.expect("just written"))
    }

    pub fn participant(&self, name: &str) -> Result<Option<Participant>> {
        self.conn()
            .query_row(
                "SELECT name, x25519, ed25519, channels, first_vsu, last_vsu, vsu_count, key_expires, status
                 FROM participants WHERE name = ?1",
                params![name],
                |r| {
                    Ok(Participant {
                        name: r.get(0)?,
                        x25519: arr(r.get(1)?)?,
                        ed25519: arr(r.get(2)?)?,
                        channels: r.get(3)?,
                        first_vsu: r.get::<_, i64>(4)? as u64,
                        last_vsu: r.get::<_, i64>(5)? as u64,
                        vsu_count: r.get(6)?,
                        key_expires: r.get::<_, i64>(7)? as u64,
                        status: r.get(8)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    /// A confirmed participant's CDSK and key expiry.
    pub fn participant_cdsk(&self, name: &str) -> Result<Option<(Secret<32>, u64)>> {
        self.conn()
            .query_row(
                "SELECT cdsk, key_expires FROM participants WHERE name = ?1 AND status = 'confirmed'",
                params![name],
                |r| Ok((Secret::new(arr(r.get(0)?)?), r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(db_err)
    }

    /// The address a participant confirmed its enrollment from (the seed's ANI), if recorded.
    pub fn participant_source(&self, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT source FROM participants WHERE name = ?1", params![name], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(db_err)
    }

    /// The billing tape: a call is logged when it starts (or is refused) ...
    pub fn call_started(
        &self,
        tracking_id: &[u8; 16],
        caller: &str,
        callee: &str,
        start: u64,
        result: &str,
    ) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO calls (tracking_id, caller, callee, start, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&tracking_id[..], caller, callee, start as i64, result],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// ... and completed when it ends, with the bytes each way.
    pub fn call_ended(
        &self,
        tracking_id: &[u8; 16],
        end: u64,
        bytes_up: u64,
        bytes_down: u64,
        result: &str,
    ) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE calls SET end = ?2, bytes_up = ?3, bytes_down = ?4, result = ?5 WHERE tracking_id = ?1",
                params![&tracking_id[..], end as i64, bytes_up as i64, bytes_down as i64, result],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Calls that started at or after `since`, oldest first.
    pub fn calls_since(&self, since: u64) -> Result<Vec<CallRecord>> {
        let c = self.conn();
        let mut st = c
            .prepare(
                "SELECT tracking_id, caller, callee, start, end, bytes_up, bytes_down, result FROM calls
                 WHERE start >= ?1 ORDER BY start, rowid",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![since as i64], |r| {
                Ok(CallRecord {
                    tracking_id: hex_of(&r.get::<_, Vec<u8>>(0)?),
                    caller: r.get(1)?,
                    callee: r.get(2)?,
                    start: r.get::<_, i64>(3)? as u64,
                    end: r.get::<_, Option<i64>>(4)?.map(|e| e as u64),
                    bytes_up: r.get::<_, i64>(5)? as u64,
                    bytes_down: r.get::<_, i64>(6)? as u64,
                    result: r.get(7)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Keeps something for a participant who is not connected (AH-CDS tickets, later bundles).
    pub fn mailbox_put(&self, m: &MailboxItem<'_>) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO mailbox (recipient, kind, sender, session_id, body, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![m.recipient, m.kind, m.sender, m.session_id, m.body, m.created as i64, m.expires as i64],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// How many unexpired items wait for `recipient` (of one kind).
    pub fn mailbox_count(&self, recipient: &str, kind: &str, now: u64) -> Result<u64> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM mailbox WHERE recipient = ?1 AND kind = ?2 AND expires > ?3",
                params![recipient, kind, now as i64],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err)
    }

    /// Bytes of bundles waiting for `recipient`.
    pub fn bundles_size(&self, recipient: &str) -> Result<u64> {
        self.conn()
            .query_row("SELECT COALESCE(SUM(size), 0) FROM bundles WHERE recipient = ?1", params![recipient], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(db_err)
    }

    /// Records a stored bundle (its bytes already in `path`) and its delivery state "queued".
    pub fn bundle_put(&self, b: &StoredBundle) -> Result<()> {
        let c = self.conn();
        c.execute(
            "INSERT INTO bundles (recipient, sender, bundle_id, size, path, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![b.recipient, b.sender, &b.bundle_id[..], b.size as i64, b.path, b.created as i64, b.expires as i64],
        )
        .map_err(db_err)?;
        c.execute(
            "INSERT OR REPLACE INTO deliveries (sender, bundle_id, recipient, state, time) VALUES (?1, ?2, ?3, 1, ?4)",
            params![b.sender, &b.bundle_id[..], b.recipient, b.created as i64],
        )
        .map_err(db_err)?;
        Ok(())
    }

    /// The oldest unexpired bundle for `recipient`; expired ones met on the way are dropped
    /// (state 4) and their files returned for removal.
    pub fn bundle_next(&self, recipient: &str, now: u64) -> Result<NextBundle> {
        let c = self.conn();
        let mut gone = Vec::new();
        let mut st = c
            .prepare(
                "SELECT id, recipient, sender, bundle_id, size, path, created, expires FROM bundles
                 WHERE recipient = ?1 ORDER BY id",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![recipient], |r| {
                let bid: Vec<u8> = r.get(3)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    StoredBundle {
                        recipient: r.get(1)?,
                        sender: r.get(2)?,
                        bundle_id: bid.try_into().unwrap_or([0; 8]),
                        size: r.get::<_, i64>(4)? as u64,
                        path: r.get(5)?,
                        created: r.get::<_, i64>(6)? as u64,
                        expires: r.get::<_, i64>(7)? as u64,
                    },
                ))
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        drop(st);
        for (id, b) in rows {
            if b.expires > now {
                return Ok((Some((id, b)), gone));
            }
            c.execute("DELETE FROM bundles WHERE id = ?1", params![id]).map_err(db_err)?;
            c.execute(
                "UPDATE deliveries SET state = 4, time = ?3 WHERE sender = ?1 AND bundle_id = ?2",
                params![b.sender, &b.bundle_id[..], now as i64],
            )
            .map_err(db_err)?;
            gone.push(b.path);
        }
        Ok((None, gone))
    }

    /// The recipient took item `id`: forget it, record the outcome (2 opened, 3 refused).
    /// Returns the file to remove.
    pub fn bundle_done(&self, recipient: &str, id: i64, state: u8, now: u64) -> Result<Option<String>> {
        let c = self.conn();
        let row: Option<(String, Vec<u8>, String)> = c
            .query_row(
                "SELECT sender, bundle_id, path FROM bundles WHERE id = ?1 AND recipient = ?2",
                params![id, recipient],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db_err)?;
        let Some((sender, bid, path)) = row else { return Ok(None) };
        c.execute("DELETE FROM bundles WHERE id = ?1", params![id]).map_err(db_err)?;
        c.execute(
            "UPDATE deliveries SET state = ?3, time = ?4 WHERE sender = ?1 AND bundle_id = ?2",
            params![sender, bid, state as i64, now as i64],
        )
        .map_err(db_err)?;
        Ok(Some(path))
    }

    /// The delivery state of `sender`'s bundles: (state, time), state 0 when unknown.
    pub fn delivery_states(&self, sender: &str, ids: &[[u8; 8]]) -> Result<Vec<(u8, u64)>> {
        let c = self.conn();
        ids.iter()
            .map(|id| {
                c.query_row(
                    "SELECT state, time FROM deliveries WHERE sender = ?1 AND bundle_id = ?2",
                    params![sender, &id[..]],
                    |r| Ok((r.get::<_, i64>(0)? as u8, r.get::<_, i64>(1)? as u64)),
                )
                .optional()
                .map(|o| o.unwrap_or((0, 0)))
                .map_err(db_err)
            })
            .collect()
    }

    /// Whether a request for `name` is pending (for standing).
    pub fn has_pending(&self, name: &str, now: u64) -> Result<bool> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM requests WHERE name = ?1 AND status = 'pending' AND expires > ?2",
                params![name, now as i64],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        Ok(n > 0)
    }

    /// Forgets requests that expired more than `grace` seconds ago (pending or denied); confirmed
    /// ones stay as the history of the participant's VSUs.
    pub fn purge_expired(&self, now: u64, grace: u64) -> Result<usize> {
        let c = self.conn();
        let cutoff = now.saturating_sub(grace) as i64;
        let n = c
            .execute("DELETE FROM requests WHERE status != 'confirmed' AND expires < ?1", params![cutoff])
            .map_err(db_err)?;
        c.execute("DELETE FROM mailbox WHERE expires < ?1", params![now as i64]).map_err(db_err)?;
        Ok(n)
    }

    /// Admin: forget a registration, so the name can be enrolled again by any key.
    pub fn release(&self, name: &str) -> Result<bool> {
        let n = self.conn().execute("DELETE FROM participants WHERE name = ?1", params![name]).map_err(db_err)?;
        Ok(n > 0)
    }
}
