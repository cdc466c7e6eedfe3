//! CDS state in SQLite (one file, WAL): pending requests, registered participants, the call
//! log, the mailbox, rate-limit events, and the CDS's own signing key. Everything the
//! registrar confirms is committed before it answers.
//!
//! Keys at rest: every CDSK and the signing seed are sealed (wrap, 3.) under a 32-byte key kept
//! in a separate file (`--key-file`, default `DB.key`, made 0600 on first start), so a copy of
//! the database alone opens nothing. A request's CDSK is wiped once the request is confirmed,
//! denied for good, or expired; the participant's current CDSK is the one kept.

use crate::crypto::{self, Secret};
use crate::{Error, Result};
use ring::rand::SystemRandom;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Label of the at-rest wrap of the CDS's secrets.
const AT_REST_LABEL: &[u8] = b"sslx-cds-at-rest-v1";

pub struct Store {
    conn: Mutex<Connection>,
    /// The key file's key: seals every secret column.
    at_rest: Secret<32>,
    rng: SystemRandom,
}

/// The key file beside a database when `--key-file` is not given: `DB.key`.
pub fn default_key_file(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

/// Reads the at-rest key from `path` (refused if group or others can read it), or makes a new
/// one there (0600) when neither the file nor a sealed database exists yet.
fn load_or_create_key(path: &Path, rng: &SystemRandom) -> Result<(Secret<32>, bool)> {
    use crate::keys::{decode_line, encode_line, LineKind};
    if path.exists() {
        let text = crate::keys::read_secret_file(path)?;
        let line = crate::keys::find_line(LineKind::Cdsk, &text)
            .ok_or_else(|| Error::Other(format!("{}: no SSLX-CDSK-1 line (not a CDS key file)", path.display())))?;
        let d = zeroize::Zeroizing::new(decode_line(LineKind::Cdsk, line)?);
        return Ok((Secret::from_slice(&d).expect("32 bytes"), false));
    }
    let k: Secret<32> = Secret::random(rng);
    let text = format!(
        "# sslx-cds key file: seals the CDS keys in the database; keep it apart from the database\n{}\n",
        encode_line(LineKind::Cdsk, k.expose())
    );
    crate::keys::write_secret_atomic(path, text.as_bytes())?;
    Ok((k, true))
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
    /// The request's CDSK; `None` once wiped (confirmed, denied for good, expired).
    pub cdsk: Option<Secret<32>>,
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

fn participant_aad(name: &str) -> Vec<u8> {
    [b"participant:".as_slice(), name.as_bytes()].concat()
}

fn request_aad(id: &[u8]) -> Vec<u8> {
    [b"request:".as_slice(), id].concat()
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

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

/// Mailbox limits for a deposit: bytes that may wait for one recipient, and for one
/// recipient from one sender.
#[derive(Debug, Clone, Copy)]
pub struct MailboxLimits {
    /// Bytes waiting for one recipient.
    pub quota: u64,
    /// Bytes waiting for one recipient from one sender.
    pub per_sender: u64,
    /// Bytes one sender has waiting, for all its recipients together.
    pub sender_total: u64,
    /// Bytes waiting in all.
    pub total: u64,
}

/// What the hourly purge removed.
#[derive(Debug, Default)]
pub struct Purged {
    pub requests: usize,
    /// Files of expired bundles, for the caller to delete.
    pub bundle_files: Vec<String>,
}

/// A rate limit: at most `count` events per `window` seconds for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window: u64,
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
    /// Opens (or creates, mode 0600) the database with the key file beside it (`DB.key`).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_key(path, &default_key_file(path))
    }

    /// Opens (or creates, mode 0600) the database, its secrets sealed under the key in
    /// `key_file` (made on first start). A database that group or others can read is refused,
    /// and so is a key file that does not open the database's secrets.
    pub fn open_with_key(path: &Path, key_file: &Path) -> Result<Self> {
        let rng = SystemRandom::new();
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
                size INTEGER NOT NULL, path TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
                stored INTEGER NOT NULL DEFAULT 1);
             CREATE INDEX IF NOT EXISTS bundles_recipient ON bundles(recipient);
             CREATE TABLE IF NOT EXISTS deliveries (
                sender TEXT NOT NULL, bundle_id BLOB NOT NULL, recipient TEXT NOT NULL, state INTEGER NOT NULL,
                time INTEGER NOT NULL, PRIMARY KEY (sender, bundle_id));
             CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, at INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS rate_events_key ON rate_events(key, at);",
        )
        .map_err(db_err)?;
        let has_stored: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('bundles') WHERE name = 'stored'")
            .and_then(|mut st| st.exists([]))
            .map_err(db_err)?;
        if !has_stored {
            conn.execute_batch("ALTER TABLE bundles ADD COLUMN stored INTEGER NOT NULL DEFAULT 1").map_err(db_err)?;
        }
        let check: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'at_rest_check'", [], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        if check.is_some() && !key_file.exists() {
            return Err(Error::Other(format!(
                "{} holds sealed CDS keys, but the key file {} is missing: give the database's --key-file",
                path.display(),
                key_file.display()
            )));
        }
        // No deposit is under way when the CDS starts: reservations left by a stop are free again.
        conn.execute("DELETE FROM bundles WHERE stored = 0", []).map_err(db_err)?;
        let (at_rest, _) = load_or_create_key(key_file, &rng)?;
        let store = Store { conn: Mutex::new(conn), at_rest, rng };
        match check {
            Some(c) => {
                if crypto::unwrap(store.at_rest.expose(), AT_REST_LABEL, b"check", &c).is_none() {
                    return Err(Error::Other(format!(
                        "the key file {} does not open the CDS keys in {}: it belongs to another database",
                        key_file.display(),
                        path.display()
                    )));
                }
            }
            None => store.seal_legacy_secrets()?,
        }
        Ok(store)
    }

    fn seal(&self, aad: &[u8], secret: &[u8]) -> Vec<u8> {
        crypto::wrap(self.at_rest.expose(), AT_REST_LABEL, aad, secret, &self.rng)
    }

    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Secret<32>> {
        crypto::unwrap(self.at_rest.expose(), AT_REST_LABEL, aad, sealed)
            .and_then(|v| Secret::from_slice(&zeroize::Zeroizing::new(v)))
            .ok_or_else(|| Error::Other("CDS database: a sealed key does not open under the key file".into()))
    }

    /// A database written before keys were sealed (or a new one): seals every clear key in
    /// it, then records the check value that ties the database to its key file.
    fn seal_legacy_secrets(&self) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(db_err)?;
        let participants: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT name, cdsk FROM participants WHERE length(cdsk) = 32")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(db_err)?;
        for (name, k) in participants {
            let sealed = self.seal(&participant_aad(&name), &k);
            tx.execute("UPDATE participants SET cdsk = ?2 WHERE name = ?1", params![name, sealed]).map_err(db_err)?;
        }
        let requests: Vec<(Vec<u8>, Vec<u8>)> = tx
            .prepare("SELECT id, cdsk FROM requests WHERE length(cdsk) = 32")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(db_err)?;
        for (id, k) in requests {
            let sealed = self.seal(&request_aad(&id), &k);
            tx.execute("UPDATE requests SET cdsk = ?2 WHERE id = ?1", params![id, sealed]).map_err(db_err)?;
        }
        let seed: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE key = 'sign_seed' AND length(value) = 32", [], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        if let Some(seed) = seed {
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'sign_seed'", params![self.seal(b"sign_seed", &seed)])
                .map_err(db_err)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('at_rest_check', ?1)",
            params![self.seal(b"check", b"")],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
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
        if let Some(v) = got {
            return self.unseal(b"sign_seed", &v);
        }
        let s: Secret<32> = Secret::random(rng);
        c.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('sign_seed', ?1)",
            params![self.seal(b"sign_seed", s.expose())],
        )
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
                    r.expires as i64, r.cdsk.as_ref().map(|k| self.seal(&request_aad(&r.id), k.expose())).unwrap_or_default(),
                    r.attempts, r.status.as_str(),
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

    /// A request; its CDSK is `None` once wiped (confirmed, denied for good, or expired).
    pub fn request(&self, id: &[u8; 16]) -> Result<Option<RequestRow>> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519
                 FROM requests WHERE id = ?1",
                params![&id[..]],
                |r| {
                    Ok((
                        RequestRow {
                            id: arr(r.get(0)?)?,
                            name: r.get(1)?,
                            x25519: arr(r.get(2)?)?,
                            ed25519: arr(r.get(3)?)?,
                            email: r.get(4)?,
                            oob: r.get(5)?,
                            created: r.get::<_, i64>(6)? as u64,
                            expires: r.get::<_, i64>(7)? as u64,
                            cdsk: None,
                            attempts: r.get(9)?,
                            status: RequestStatus::parse(&r.get::<_, String>(10)?),
                            prior_ed25519: r.get::<_, Option<Vec<u8>>>(11)?.map(arr).transpose()?,
                        },
                        r.get::<_, Vec<u8>>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err)?;
        row.map(|(mut req, sealed)| {
            if !sealed.is_empty() {
                req.cdsk = Some(self.unseal(&request_aad(&req.id), &sealed)?);
            }
            Ok(req)
        })
        .transpose()
    }

    /// Takes one confirmation attempt of a pending request, atomically (`attempts + 1` in SQL,
    /// only while fewer than `max` were made): concurrent confirmations cannot make more than
    /// `max` attempts between them. Returns the attempts made including this one, or `None`
    /// when none is left (or the request is not pending).
    pub fn take_attempt(&self, id: &[u8; 16], max: u32) -> Result<Option<u32>> {
        self.conn()
            .query_row(
                "UPDATE requests SET attempts = attempts + 1
                 WHERE id = ?1 AND status = 'pending' AND attempts < ?2 RETURNING attempts",
                params![&id[..], max],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    /// A failed attempt that was the last one: the request is denied for good and its CDSK wiped.
    pub fn deny_for_good(&self, id: &[u8; 16]) -> Result<()> {
        self.conn()
            .execute("UPDATE requests SET status = 'denied', cdsk = X'' WHERE id = ?1", params![&id[..]])
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks the request confirmed and (re)registers the participant, in one transaction;
    /// `None` if the request was no longer pending (confirmed meanwhile: a replay).
    /// `source`: the address the confirmation came from, the participant's registered source.
    pub fn confirm(
        &self,
        req: &RequestRow,
        nonce: &[u8; 32],
        channels: &str,
        source: Option<&str>,
        now: u64,
        key_expires: u64,
    ) -> Result<Option<Participant>> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let cdsk = req.cdsk.as_ref().ok_or_else(|| Error::Other("the request's key was wiped".into()))?;
        // The request keeps no key once confirmed: the participant's row holds the current one.
        let n = tx
            .execute(
                "UPDATE requests SET status = 'confirmed', confirm_nonce = ?2, cdsk = X'' WHERE id = ?1 AND status = 'pending'",
                params![&req.id[..], &nonce[..]],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Ok(None);
        }
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
                req.name, &req.x25519[..], &req.ed25519[..], req.email, req.oob, channels,
                self.seal(&participant_aad(&req.name), cdsk.expose()),
                first as i64, now as i64, count, key_expires as i64, &req.id[..], source
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        drop(c);
        Ok(Some(self.participant(&req.name)?.expect("just written")))
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
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .query_row(
                "SELECT cdsk, key_expires FROM participants WHERE name = ?1 AND status = 'confirmed'",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)?;
        row.map(|(sealed, exp)| Ok((self.unseal(&participant_aad(name), &sealed)?, exp as u64))).transpose()
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

    /// Reserves room for a deposit before its bytes arrive, atomically with the check, so
    /// concurrent deposits cannot all pass it: the recipient's mailbox stays within `quota`, and
    /// what one sender has waiting for it within `per_sender` (sums in checked arithmetic).
    /// `Ok(Err(why))` when it does not fit. The row holds no file until `bundle_stored`.
    pub fn bundle_reserve(&self, b: &StoredBundle, limits: MailboxLimits) -> Result<std::result::Result<i64, String>> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let sum = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
            tx.query_row(sql, p, |r| r.get::<_, i64>(0)).map(|n| n.max(0) as u64).map_err(db_err)
        };
        let used = sum("SELECT COALESCE(SUM(size), 0) FROM bundles WHERE recipient = ?1", &[&b.recipient])?;
        let from_sender = sum(
            "SELECT COALESCE(SUM(size), 0) FROM bundles WHERE recipient = ?1 AND sender = ?2",
            &[&b.recipient, &b.sender],
        )?;
        let sent = sum("SELECT COALESCE(SUM(size), 0) FROM bundles WHERE sender = ?1", &[&b.sender])?;
        let all = sum("SELECT COALESCE(SUM(size), 0) FROM bundles", &[])?;
        let fits = |have: u64, max: u64| have.checked_add(b.size).is_some_and(|t| t <= max);
        if b.size > i64::MAX as u64 || !fits(used, limits.quota) {
            return Ok(Err(format!(
                "{:?}'s mailbox is full: {used} of {} bytes wait, this bundle is {}",
                b.recipient, limits.quota, b.size
            )));
        }
        if !fits(from_sender, limits.per_sender) {
            return Ok(Err(format!(
                "{} bytes from {:?} already wait for {:?} (at most {} from one sender), this bundle is {}",
                from_sender, b.sender, b.recipient, limits.per_sender, b.size
            )));
        }
        if !fits(sent, limits.sender_total) {
            return Ok(Err(format!(
                "{sent} bytes from {:?} already wait at this CDS (at most {} from one sender), this bundle is {}",
                b.sender, limits.sender_total, b.size
            )));
        }
        if !fits(all, limits.total) {
            return Ok(Err(format!(
                "the CDS's mailbox is full ({all} of {} bytes), this bundle is {}",
                limits.total, b.size
            )));
        }
        tx.execute(
            "INSERT INTO bundles (recipient, sender, bundle_id, size, path, created, expires, stored)
             VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, 0)",
            params![b.recipient, b.sender, &b.bundle_id[..], b.size as i64, b.created as i64, b.expires as i64],
        )
        .map_err(db_err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(db_err)?;
        Ok(Ok(id))
    }

    /// A reservation whose bytes did not arrive (cut off, wrong hash): the room is free again.
    pub fn bundle_cancel(&self, id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM bundles WHERE id = ?1 AND stored = 0", params![id]).map_err(db_err)?;
        Ok(())
    }

    /// The reserved bundle's bytes are in `path`: it waits for its recipient, state "queued".
    pub fn bundle_stored(&self, id: i64, b: &StoredBundle) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(db_err)?;
        tx.execute("UPDATE bundles SET path = ?2, stored = 1 WHERE id = ?1", params![id, b.path]).map_err(db_err)?;
        tx.execute(
            "INSERT OR REPLACE INTO deliveries (sender, bundle_id, recipient, state, time) VALUES (?1, ?2, ?3, 1, ?4)",
            params![b.sender, &b.bundle_id[..], b.recipient, b.created as i64],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    /// Counts one event for each of `keys` if none of them is over its limit, atomically; else
    /// counts nothing and returns the key that is over, with the seconds until it frees up.
    pub fn rate_take(&self, keys: &[(String, Limit)], now: u64) -> Result<Option<(String, u64)>> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        for (key, limit) in keys {
            let since = now.saturating_sub(limit.window) as i64;
            let (n, oldest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT COUNT(*), MIN(at) FROM rate_events WHERE key = ?1 AND at > ?2",
                    params![key, since],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_err)?;
            if n as u64 >= limit.count as u64 {
                let frees = (oldest.unwrap_or(now as i64) as u64 + limit.window).saturating_sub(now).max(1);
                return Ok(Some((key.clone(), frees)));
            }
        }
        for (key, _) in keys {
            tx.execute("INSERT INTO rate_events (key, at) VALUES (?1, ?2)", params![key, now as i64])
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(None)
    }

    /// The oldest unexpired bundle for `recipient` but those in `skip` (kept on this
    /// collection); expired ones met on the way are dropped (state 4) and their files returned
    /// for removal.
    pub fn bundle_next(&self, recipient: &str, now: u64, skip: &std::collections::HashSet<i64>) -> Result<NextBundle> {
        let c = self.conn();
        let mut gone = Vec::new();
        let mut st = c
            .prepare(
                "SELECT id, recipient, sender, bundle_id, size, path, created, expires FROM bundles
                 WHERE recipient = ?1 AND stored = 1 ORDER BY id",
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
            if b.expires > now && skip.contains(&id) {
                continue;
            }
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
    pub fn bundle_done(
        &self,
        recipient: &str,
        id: i64,
        state: crate::relay::DeliveryState,
        now: u64,
    ) -> Result<Option<String>> {
        let state = state as u8;
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
    pub fn delivery_states(&self, sender: &str, ids: &[[u8; 8]]) -> Result<Vec<(crate::relay::DeliveryState, u64)>> {
        use crate::relay::DeliveryState;
        let c = self.conn();
        ids.iter()
            .map(|id| {
                c.query_row(
                    "SELECT state, time FROM deliveries WHERE sender = ?1 AND bundle_id = ?2",
                    params![sender, &id[..]],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)),
                )
                .optional()
                .map(|o| {
                    o.and_then(|(s, t)| Some((DeliveryState::from_u8(u8::try_from(s).ok()?)?, t)))
                        .unwrap_or((DeliveryState::Unknown, 0))
                })
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

    /// The hourly purge: wipes the CDSK of requests that expired, forgets requests that expired
    /// more than `grace` seconds ago (pending or denied; confirmed ones stay as the history of
    /// the participant's VSUs), drops expired bundles (state 4, their files returned for
    /// removal) and rate-limit events older than `rate_window`.
    pub fn purge_expired(&self, now: u64, grace: u64, rate_window: u64) -> Result<Purged> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(db_err)?;
        let cutoff = now.saturating_sub(grace) as i64;
        tx.execute("UPDATE requests SET cdsk = X'' WHERE expires <= ?1 AND length(cdsk) > 0", params![now as i64])
            .map_err(db_err)?;
        let requests = tx
            .execute("DELETE FROM requests WHERE status != 'confirmed' AND expires < ?1", params![cutoff])
            .map_err(db_err)?;
        tx.execute("DELETE FROM mailbox", []).map_err(db_err)?;
        // Reservations whose deposit never finished (the CDS stopped half-way).
        tx.execute(
            "DELETE FROM bundles WHERE stored = 0 AND created < ?1",
            params![now.saturating_sub(6 * 3600) as i64],
        )
        .map_err(db_err)?;
        let expired: Vec<(i64, String, Vec<u8>, String)> = tx
            .prepare("SELECT id, sender, bundle_id, path FROM bundles WHERE expires <= ?1 AND stored = 1")
            .and_then(|mut st| {
                st.query_map(params![now as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
            })
            .map_err(db_err)?;
        let mut bundle_files = Vec::new();
        for (id, sender, bid, path) in expired {
            tx.execute("DELETE FROM bundles WHERE id = ?1", params![id]).map_err(db_err)?;
            tx.execute(
                "UPDATE deliveries SET state = 4, time = ?3 WHERE sender = ?1 AND bundle_id = ?2",
                params![sender, bid, now as i64],
            )
            .map_err(db_err)?;
            bundle_files.push(path);
        }
        tx.execute("DELETE FROM rate_events WHERE at <= ?1", params![now.saturating_sub(rate_window) as i64])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Purged { requests, bundle_files })
    }

    /// Admin: forget a registration, so the name can be enrolled again by any key.
    pub fn release(&self, name: &str) -> Result<bool> {
        let n = self.conn().execute("DELETE FROM participants WHERE name = ?1", params![name]).map_err(db_err)?;
        Ok(n > 0)
    }
}
