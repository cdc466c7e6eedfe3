//! The CDS store in one SQLite file (WAL), its schema versioned (`db::Schema`).

use super::*;
use crate::db::{self, Migration, Schema};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::sync::Mutex;

/// The CDS database's schema. Version 1 is the tables as the first sslx-cds made them (a file
/// from before versions existed opens as version 0 and gains only what it lacks); 2 adds the
/// reservation flag of deposits; 3 makes the enum columns strict (`CHECK`), splits a call's
/// result into its outcome and detail, and drops the unused `mailbox` table; 4 makes bundle ids
/// never reused (`AUTOINCREMENT`: an item id a recipient acknowledges late names no other bundle);
/// 5 adds when a participant's key was last renewed; 6 the KDC's principals (5F); 7 the
/// mailbox's running totals (`mailbox_use`, kept by triggers: a deposit is weighed in four
/// lookups, not sums over every bundle).
pub static SCHEMA: Schema = Schema {
    what: "CDS database",
    migrations: &[
        Migration::Sql(V1),
        Migration::Step(v2_reservations),
        Migration::Sql(V3),
        Migration::Sql(V4),
        Migration::Sql(V5),
        Migration::Sql(V6),
        Migration::Sql(V7),
    ],
};

const V1: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
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
    time INTEGER NOT NULL, PRIMARY KEY (sender, bundle_id));
CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_events_key ON rate_events(key, at);
";

/// Version 2: `bundles.stored` (0 while a deposit's bytes are arriving). A file made before
/// versions existed may have it already; one from an early development build may also lack
/// columns added since (a request's proven prior key, a participant's source).
fn v2_reservations(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (table, column, decl) in [
        ("bundles", "stored", "INTEGER NOT NULL DEFAULT 1"),
        ("requests", "prior_ed25519", "BLOB"),
        ("participants", "source", "TEXT"),
    ] {
        let has = tx.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?.exists(params![table, column])?;
        if !has {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// Version 3: strict enum columns (a table is rebuilt to gain a `CHECK`; a value outside the
/// set fails the migration, which then leaves the file as it was).
const V3: &str = "
CREATE TABLE requests_v3 (
    id BLOB PRIMARY KEY, name TEXT NOT NULL, x25519 BLOB NOT NULL, ed25519 BLOB NOT NULL,
    email TEXT NOT NULL, oob TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
    cdsk BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'denied')),
    confirm_nonce BLOB, prior_ed25519 BLOB);
INSERT INTO requests_v3 SELECT id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status,
    confirm_nonce, prior_ed25519 FROM requests;
DROP TABLE requests;
ALTER TABLE requests_v3 RENAME TO requests;
CREATE INDEX requests_name ON requests(name);

CREATE TABLE participants_v3 (
    name TEXT PRIMARY KEY, x25519 BLOB NOT NULL, ed25519 BLOB NOT NULL, email TEXT NOT NULL,
    oob TEXT NOT NULL, channels TEXT NOT NULL, cdsk BLOB NOT NULL, first_vsu INTEGER NOT NULL,
    last_vsu INTEGER NOT NULL, vsu_count INTEGER NOT NULL, key_expires INTEGER NOT NULL,
    request_id BLOB NOT NULL, status TEXT NOT NULL CHECK (status IN ('confirmed')), source TEXT);
INSERT INTO participants_v3 SELECT name, x25519, ed25519, email, oob, channels, cdsk, first_vsu, last_vsu,
    vsu_count, key_expires, request_id, status, source FROM participants;
DROP TABLE participants;
ALTER TABLE participants_v3 RENAME TO participants;

CREATE TABLE calls_v3 (
    tracking_id BLOB PRIMARY KEY, caller TEXT NOT NULL, callee TEXT NOT NULL, start INTEGER NOT NULL,
    end INTEGER, bytes_up INTEGER NOT NULL DEFAULT 0, bytes_down INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('connected', 'completed', 'cut', 'no answer', 'refused')),
    detail TEXT NOT NULL DEFAULT '');
INSERT INTO calls_v3 (rowid, tracking_id, caller, callee, start, end, bytes_up, bytes_down, outcome, detail)
    SELECT rowid, tracking_id, caller, callee, start, end, bytes_up, bytes_down,
    CASE WHEN result LIKE 'refused: %' THEN 'refused' WHEN result LIKE 'cut: %' THEN 'cut' ELSE result END,
    CASE WHEN result LIKE 'refused: %' THEN substr(result, 10) WHEN result LIKE 'cut: %' THEN substr(result, 6)
         ELSE '' END
    FROM calls;
DROP TABLE calls;
ALTER TABLE calls_v3 RENAME TO calls;
CREATE INDEX calls_start ON calls(start);

CREATE TABLE deliveries_v3 (
    sender TEXT NOT NULL, bundle_id BLOB NOT NULL, recipient TEXT NOT NULL,
    state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 4),
    time INTEGER NOT NULL, PRIMARY KEY (sender, bundle_id));
INSERT INTO deliveries_v3 SELECT sender, bundle_id, recipient, state, time FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v3 RENAME TO deliveries;

DROP TABLE mailbox;
";

/// Version 4: `bundles.id` AUTOINCREMENT (SQLite gives a deleted highest rowid out again otherwise).
const V4: &str = "
CREATE TABLE bundles_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, sender TEXT NOT NULL, bundle_id BLOB NOT NULL,
    size INTEGER NOT NULL, path TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
    stored INTEGER NOT NULL DEFAULT 1);
INSERT INTO bundles_v4 SELECT id, recipient, sender, bundle_id, size, path, created, expires, stored FROM bundles;
DROP TABLE bundles;
ALTER TABLE bundles_v4 RENAME TO bundles;
CREATE INDEX bundles_recipient ON bundles(recipient);
";

/// Version 5: `participants.key_renewed` (NULL: not renewed since the last VSU).
const V5: &str = "ALTER TABLE participants ADD COLUMN key_renewed INTEGER;";

/// Version 6: the KDC's principals, each key sealed at rest (`principal_key_aad`).
const V6: &str = "
CREATE TABLE principals (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('user', 'host', 'gateway')),
    kvno INTEGER NOT NULL, key BLOB NOT NULL, prev_kvno INTEGER, prev_key BLOB, prev_until INTEGER,
    salt BLOB, argon2_m INTEGER, argon2_t INTEGER, argon2_p INTEGER,
    disabled INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
";

/// Version 7: what waits in the mailbox, by `store::use_keys` (`*`, `r RECIPIENT`, `s SENDER`,
/// `p RECIPIENT SENDER`), each bundle weighing `MAX(size, 4096)` (`store::BUNDLE_FLOOR`); kept
/// by triggers on every insert, delete and change of a bundle, whichever statement makes it.
pub(crate) const V7: &str = "
CREATE TABLE mailbox_use (k TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO mailbox_use (k, bytes)
    SELECT k, SUM(w) FROM (
        SELECT '*' AS k, MAX(size, 4096) AS w FROM bundles
        UNION ALL SELECT 'r ' || recipient, MAX(size, 4096) FROM bundles
        UNION ALL SELECT 's ' || sender, MAX(size, 4096) FROM bundles
        UNION ALL SELECT 'p ' || recipient || ' ' || sender, MAX(size, 4096) FROM bundles)
    GROUP BY k;
CREATE TRIGGER bundles_use_in AFTER INSERT ON bundles BEGIN
    INSERT INTO mailbox_use (k, bytes) VALUES
        ('*', MAX(NEW.size, 4096)), ('r ' || NEW.recipient, MAX(NEW.size, 4096)),
        ('s ' || NEW.sender, MAX(NEW.size, 4096)), ('p ' || NEW.recipient || ' ' || NEW.sender, MAX(NEW.size, 4096))
        ON CONFLICT (k) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER bundles_use_out AFTER DELETE ON bundles BEGIN
    UPDATE mailbox_use SET bytes = bytes - MAX(OLD.size, 4096)
        WHERE k IN ('*', 'r ' || OLD.recipient, 's ' || OLD.sender, 'p ' || OLD.recipient || ' ' || OLD.sender);
    DELETE FROM mailbox_use WHERE bytes <= 0
        AND k IN ('*', 'r ' || OLD.recipient, 's ' || OLD.sender, 'p ' || OLD.recipient || ' ' || OLD.sender);
END;
CREATE TRIGGER bundles_use_change AFTER UPDATE OF size, recipient, sender ON bundles BEGIN
    UPDATE mailbox_use SET bytes = bytes - MAX(OLD.size, 4096)
        WHERE k IN ('*', 'r ' || OLD.recipient, 's ' || OLD.sender, 'p ' || OLD.recipient || ' ' || OLD.sender);
    DELETE FROM mailbox_use WHERE bytes <= 0
        AND k IN ('*', 'r ' || OLD.recipient, 's ' || OLD.sender, 'p ' || OLD.recipient || ' ' || OLD.sender);
    INSERT INTO mailbox_use (k, bytes) VALUES
        ('*', MAX(NEW.size, 4096)), ('r ' || NEW.recipient, MAX(NEW.size, 4096)),
        ('s ' || NEW.sender, MAX(NEW.size, 4096)), ('p ' || NEW.recipient || ' ' || NEW.sender, MAX(NEW.size, 4096))
        ON CONFLICT (k) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
";

const PRINCIPAL_COLUMNS: &str =
    "name, kind, kvno, key, prev_kvno, prev_key, prev_until, salt, argon2_m, argon2_t, argon2_p, disabled, created";

pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    at_rest: AtRest,
}

/// A principal's row as stored (keys still sealed).
struct RawPrincipal {
    name: String,
    kind: crate::kdc::PrincipalKind,
    kvno: u32,
    key: Vec<u8>,
    prev_kvno: Option<u32>,
    prev_key: Option<Vec<u8>>,
    prev_until: Option<i64>,
    salt: Option<Vec<u8>>,
    argon2: Option<(u32, u32, u32)>,
    disabled: bool,
    created: i64,
}

fn raw_principal(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPrincipal> {
    let (m, t, p): (Option<u32>, Option<u32>, Option<u32>) = (r.get(8)?, r.get(9)?, r.get(10)?);
    Ok(RawPrincipal {
        name: r.get(0)?,
        kind: db::get(r, 1)?,
        kvno: r.get(2)?,
        key: r.get(3)?,
        prev_kvno: r.get(4)?,
        prev_key: r.get(5)?,
        prev_until: r.get(6)?,
        salt: r.get(7)?,
        argon2: m.zip(t).zip(p).map(|((m, t), p)| (m, t, p)),
        disabled: r.get(11)?,
        created: r.get(12)?,
    })
}

fn arr<const N: usize>(v: Vec<u8>) -> rusqlite::Result<[u8; N]> {
    v.try_into().map_err(|_| rusqlite::Error::InvalidQuery)
}

impl SqliteStore {
    /// Opens (or creates, mode 0600) the database with the key file beside it (`DB.key`).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_key(path, &default_key_file(path))
    }

    /// Opens (or creates, mode 0600) the database, its secrets sealed under the key in
    /// `key_file` (made on first start), and brings its schema to this version. A database that
    /// group or others can read is refused, and so is a key file that does not open the
    /// database's secrets.
    pub fn open_with_key(path: &Path, key_file: &Path) -> Result<Self> {
        let mut conn = db::connect(path)?;
        let sql = db::sqlite_err(path);
        // The key file is checked before any migration touches the file (they are one-way).
        let has_meta = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
            .and_then(|mut st| st.exists([]))
            .map_err(&sql)?;
        let check: Option<Vec<u8>> = if has_meta {
            conn.query_row("SELECT value FROM meta WHERE key = 'at_rest_check'", [], |r| r.get(0))
                .optional()
                .map_err(&sql)?
        } else {
            None
        };
        if check.is_some() && !key_file.exists() {
            return Err(Error::Usage(format!(
                "{} holds sealed CDS keys, but the key file {} is missing: give the database's --key-file",
                path.display(),
                key_file.display()
            )));
        }
        let at_rest = AtRest::load_or_create(key_file)?;
        if check.as_ref().is_some_and(|c| !at_rest.opens(c)) {
            return Err(Error::Usage(format!(
                "the key file {} does not open the CDS keys in {}: it belongs to another database",
                key_file.display(),
                path.display()
            )));
        }
        db::migrate(&mut conn, path, &SCHEMA)?;
        let store = SqliteStore { conn: Mutex::new(conn), path: path.to_owned(), at_rest };
        if check.is_none() {
            store.seal_legacy_secrets()?;
        }
        Ok(store)
    }

    /// A secret of the CDS's own kept in `meta` (sealed at rest), made once even when two
    /// processes start on a new file together: the first insert stays, and both read it back.
    fn meta_secret(&self, key: &str, rng: &dyn SecureRandom) -> Result<Secret<32>> {
        let err = self.err();
        let fresh: Secret<32> = Secret::random(rng);
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        tx.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, self.at_rest.seal(key.as_bytes(), fresh.expose())],
        )
        .map_err(&err)?;
        let sealed: Vec<u8> =
            tx.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0)).map_err(&err)?;
        tx.commit().map_err(&err)?;
        self.at_rest.unseal(key.as_bytes(), &sealed)
    }

    fn principal_row(&self, r: RawPrincipal) -> Result<PrincipalRow> {
        let key = self.at_rest.unseal(&principal_key_aad(r.kind, &r.name, r.kvno), &r.key)?;
        let previous = match (r.prev_kvno, r.prev_key, r.prev_until) {
            (Some(v), Some(k), Some(until)) => {
                Some((v, self.at_rest.unseal(&principal_key_aad(r.kind, &r.name, v), &k)?, until as u64))
            }
            _ => None,
        };
        let argon2 = match (r.salt, r.argon2) {
            (Some(salt), Some((m_kib, t, p))) => Some(crate::kdc::Argon2Params {
                salt: salt
                    .try_into()
                    .map_err(|_| Error::Other(format!("principal {}: a salt not of 16 bytes", r.name)))?,
                m_kib,
                t,
                p,
            }),
            _ => None,
        };
        Ok(PrincipalRow {
            name: r.name,
            kind: r.kind,
            kvno: r.kvno,
            key,
            previous,
            argon2,
            disabled: r.disabled,
            created: r.created as u64,
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        db::error(&self.path)
    }

    /// A database written before keys were sealed (or a new one): seals every clear key in
    /// it, then records the check value that ties the database to its key file.
    fn seal_legacy_secrets(&self) -> Result<()> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction().map_err(&err)?;
        let participants: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT name, cdsk FROM participants WHERE length(cdsk) = 32")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(&err)?;
        for (name, k) in participants {
            let sealed = self.at_rest.seal(&participant_aad(&name), &k);
            tx.execute("UPDATE participants SET cdsk = ?2 WHERE name = ?1", params![name, sealed]).map_err(&err)?;
        }
        let requests: Vec<(Vec<u8>, Vec<u8>)> = tx
            .prepare("SELECT id, cdsk FROM requests WHERE length(cdsk) = 32")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(&err)?;
        for (id, k) in requests {
            let sealed = self.at_rest.seal(&request_aad(&id), &k);
            tx.execute("UPDATE requests SET cdsk = ?2 WHERE id = ?1", params![id, sealed]).map_err(&err)?;
        }
        let seed: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE key = 'sign_seed' AND length(value) = 32", [], |r| r.get(0))
            .optional()
            .map_err(&err)?;
        if let Some(seed) = seed {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'sign_seed'",
                params![self.at_rest.seal(b"sign_seed", &seed)],
            )
            .map_err(&err)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('at_rest_check', ?1)",
            params![self.at_rest.check_value()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A bundle leaves the mailbox with its final delivery state, in `tx`.
    fn bundle_gone(
        tx: &Transaction<'_>,
        id: i64,
        sender: &str,
        bundle_id: &[u8],
        state: DeliveryState,
        now: u64,
    ) -> rusqlite::Result<()> {
        tx.execute("DELETE FROM bundles WHERE id = ?1", params![id])?;
        tx.execute(
            "UPDATE deliveries SET state = ?3, time = ?4 WHERE sender = ?1 AND bundle_id = ?2",
            params![sender, bundle_id, state as u8 as i64, now as i64],
        )?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn sign_seed(&self, rng: &dyn SecureRandom) -> Result<Secret<32>> {
        self.meta_secret("sign_seed", rng)
    }

    fn kdc_key(&self, rng: &dyn SecureRandom) -> Result<Secret<32>> {
        self.meta_secret("kdc_key", rng)
    }

    fn principal_add(&self, p: &PrincipalRow) -> Result<bool> {
        let prev = p.previous.as_ref();
        let n = self
            .conn()
            .execute(
                &format!(
                    "INSERT OR IGNORE INTO principals ({PRINCIPAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    p.name,
                    p.kind.as_str(),
                    p.kvno,
                    self.at_rest.seal(&principal_key_aad(p.kind, &p.name, p.kvno), p.key.expose()),
                    prev.map(|(v, _, _)| *v),
                    prev.map(|(v, k, _)| self.at_rest.seal(&principal_key_aad(p.kind, &p.name, *v), k.expose())),
                    prev.map(|(_, _, until)| *until as i64),
                    p.argon2.map(|a| a.salt.to_vec()),
                    p.argon2.map(|a| a.m_kib),
                    p.argon2.map(|a| a.t),
                    p.argon2.map(|a| a.p),
                    p.disabled,
                    p.created as i64
                ],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = ?1"),
                params![name],
                raw_principal,
            )
            .optional()
            .map_err(self.err())?;
        raw.map(|r| self.principal_row(r)).transpose()
    }

    fn principals(&self) -> Result<Vec<PrincipalRow>> {
        let raws: Vec<RawPrincipal> = self
            .conn()
            .prepare(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY name"))
            .and_then(|mut st| st.query_map([], raw_principal)?.collect())
            .map_err(self.err())?;
        raws.into_iter().map(|r| self.principal_row(r)).collect()
    }

    fn principal_rekey(
        &self,
        name: &str,
        key: &Secret<32>,
        argon2: Option<crate::kdc::Argon2Params>,
        previous_until: u64,
    ) -> Result<Option<u32>> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let cur: Option<(u32, Vec<u8>, crate::kdc::PrincipalKind)> = tx
            .query_row("SELECT kvno, key, kind FROM principals WHERE name = ?1", params![name], |r| {
                Ok((r.get(0)?, r.get(1)?, db::get(r, 2)?))
            })
            .optional()
            .map_err(&err)?;
        let Some((kvno, sealed, kind)) = cur else { return Ok(None) };
        let new = kvno + 1;
        // The key it had stays sealed as it was (for its own version).
        let (prev_kvno, prev_key, prev_until) = if previous_until > 0 {
            (Some(kvno), Some(sealed), Some(previous_until as i64))
        } else {
            (None, None, None)
        };
        tx.execute(
            "UPDATE principals SET kvno = ?2, key = ?3, prev_kvno = ?4, prev_key = ?5, prev_until = ?6,
             salt = COALESCE(?7, salt), argon2_m = COALESCE(?8, argon2_m), argon2_t = COALESCE(?9, argon2_t),
             argon2_p = COALESCE(?10, argon2_p) WHERE name = ?1",
            params![
                name,
                new,
                self.at_rest.seal(&principal_key_aad(kind, name, new), key.expose()),
                prev_kvno,
                prev_key,
                prev_until,
                argon2.map(|a| a.salt.to_vec()),
                argon2.map(|a| a.m_kib),
                argon2.map(|a| a.t),
                argon2.map(|a| a.p)
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Some(new))
    }

    fn principal_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let n = self
            .conn()
            .execute("UPDATE principals SET disabled = ?2 WHERE name = ?1", params![name, disabled])
            .map_err(self.err())?;
        Ok(n > 0)
    }

    fn principal_delete(&self, name: &str) -> Result<bool> {
        let n = self.conn().execute("DELETE FROM principals WHERE name = ?1", params![name]).map_err(self.err())?;
        Ok(n > 0)
    }

    fn insert_request(&self, r: &RequestRow) -> Result<()> {
        let sealed = r.cdsk.as_ref().map(|k| self.at_rest.seal(&request_aad(&r.id), k.expose())).unwrap_or_default();
        self.conn()
            .execute(
                "INSERT INTO requests (id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    &r.id[..], r.name, &r.x25519[..], &r.ed25519[..], r.email, r.oob, r.created as i64,
                    r.expires as i64, sealed, r.attempts, r.status.as_str(), r.prior_ed25519.map(|k| k.to_vec())
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn delete_request(&self, id: &[u8; 16]) -> Result<()> {
        self.conn().execute("DELETE FROM requests WHERE id = ?1", params![&id[..]]).map_err(self.err())?;
        Ok(())
    }

    fn request(&self, id: &[u8; 16]) -> Result<Option<RequestRow>> {
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
                            status: db::get(r, 10)?,
                            prior_ed25519: r.get::<_, Option<Vec<u8>>>(11)?.map(arr).transpose()?,
                        },
                        r.get::<_, Vec<u8>>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(mut req, sealed)| {
            if !sealed.is_empty() {
                req.cdsk = Some(self.at_rest.unseal(&request_aad(&req.id), &sealed)?);
            }
            Ok(req)
        })
        .transpose()
    }

    fn take_attempt(&self, id: &[u8; 16], max: u32) -> Result<Option<u32>> {
        self.conn()
            .query_row(
                "UPDATE requests SET attempts = attempts + 1
                 WHERE id = ?1 AND status = 'pending' AND attempts < ?2 RETURNING attempts",
                params![&id[..], max],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    fn deny_for_good(&self, id: &[u8; 16]) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE requests SET status = 'denied', cdsk = X'' WHERE id = ?1 AND status = 'pending'",
                params![&id[..]],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn confirm(
        &self,
        req: &RequestRow,
        nonce: &[u8; 32],
        channels: &str,
        source: Option<&str>,
        now: u64,
        key_expires: u64,
    ) -> Result<Confirmation> {
        let err = self.err();
        let cdsk = req.cdsk.as_ref().ok_or_else(|| Error::NotFound("the request's key was wiped".into()))?;
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let holder: Option<(Vec<u8>, i64, u32)> = tx
            .query_row(
                "SELECT ed25519, first_vsu, vsu_count FROM participants WHERE name = ?1",
                params![req.name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&err)?;
        // The request keeps no key once confirmed: the participant's row holds the current one.
        let n = tx
            .execute(
                "UPDATE requests SET status = 'confirmed', confirm_nonce = ?2, cdsk = X'' WHERE id = ?1 AND status = 'pending'",
                params![&req.id[..], &nonce[..]],
            )
            .map_err(&err)?;
        if n == 0 {
            return Ok(Confirmation::Replay);
        }
        if let Some((key, _, _)) = &holder {
            if !<[u8; 32]>::try_from(key.as_slice()).is_ok_and(|k| may_take_name(req, &k)) {
                return Ok(Confirmation::NameTaken); // dropped: the transaction rolls back
            }
        }
        let (first, count) = holder.map(|(_, f, n)| (f as u64, n + 1)).unwrap_or((now, 1));
        tx.execute(
            "INSERT OR REPLACE INTO participants
             (name, x25519, ed25519, email, oob, channels, cdsk, first_vsu, last_vsu, vsu_count, key_expires, request_id, status, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                req.name, &req.x25519[..], &req.ed25519[..], req.email, req.oob, channels,
                self.at_rest.seal(&participant_aad(&req.name), cdsk.expose()),
                first as i64, now as i64, count, key_expires as i64, &req.id[..],
                ParticipantStatus::Confirmed.as_str(), source
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Confirmation::Confirmed(Participant::confirmed(req, channels.to_owned(), first, now, count, key_expires)))
    }

    fn renew_key(
        &self,
        name: &str,
        current: &Secret<32>,
        new: &Secret<32>,
        now: u64,
        key_expires: u64,
    ) -> Result<bool> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let sealed: Option<Vec<u8>> = tx
            .query_row("SELECT cdsk FROM participants WHERE name = ?1 AND status = 'confirmed'", params![name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&err)?;
        let Some(sealed) = sealed else { return Ok(false) };
        if !self.at_rest.unseal(&participant_aad(name), &sealed)?.ct_eq(current) {
            return Ok(false);
        }
        tx.execute(
            "UPDATE participants SET cdsk = ?2, key_expires = ?3, key_renewed = ?4 WHERE name = ?1",
            params![name, self.at_rest.seal(&participant_aad(name), new.expose()), key_expires as i64, now as i64],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }

    fn has_pending(&self, name: &str, now: u64) -> Result<bool> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM requests WHERE name = ?1 AND status = 'pending' AND expires > ?2",
                params![name, now as i64],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    fn participant(&self, name: &str) -> Result<Option<Participant>> {
        self.conn()
            .query_row(
                "SELECT name, x25519, ed25519, channels, first_vsu, last_vsu, vsu_count, key_expires, status, key_renewed
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
                        status: db::get(r, 8)?,
                        key_renewed: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    fn participant_cdsk(&self, name: &str) -> Result<Option<(Secret<32>, u64)>> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .query_row(
                "SELECT cdsk, key_expires FROM participants WHERE name = ?1 AND status = 'confirmed'",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(sealed, exp)| Ok((self.at_rest.unseal(&participant_aad(name), &sealed)?, exp as u64))).transpose()
    }

    fn participant_source(&self, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT source FROM participants WHERE name = ?1", params![name], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(self.err())
    }

    fn release(&self, name: &str) -> Result<bool> {
        let n = self.conn().execute("DELETE FROM participants WHERE name = ?1", params![name]).map_err(self.err())?;
        Ok(n > 0)
    }

    fn call_started(
        &self,
        tracking_id: &[u8; 16],
        caller: &str,
        callee: &str,
        start: u64,
        result: &CallResult,
    ) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO calls (tracking_id, caller, callee, start, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&tracking_id[..], caller, callee, start as i64, result.outcome.as_str(), result.detail],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn call_ended(
        &self,
        tracking_id: &[u8; 16],
        end: u64,
        bytes_up: u64,
        bytes_down: u64,
        result: &CallResult,
    ) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE calls SET end = ?2, bytes_up = ?3, bytes_down = ?4, outcome = ?5, detail = ?6 WHERE tracking_id = ?1",
                params![
                    &tracking_id[..], end as i64, bytes_up as i64, bytes_down as i64, result.outcome.as_str(),
                    result.detail
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn calls_since(&self, since: u64) -> Result<Vec<CallRecord>> {
        let err = self.err();
        let c = self.conn();
        let mut st = c
            .prepare(
                "SELECT tracking_id, caller, callee, start, end, bytes_up, bytes_down, outcome, detail FROM calls
                 WHERE start >= ?1 ORDER BY start, rowid",
            )
            .map_err(&err)?;
        let rows = st
            .query_map(params![since as i64], |r| {
                Ok((
                    hex::encode(r.get::<_, Vec<u8>>(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, Option<i64>>(4)?.map(|e| e as u64),
                    r.get::<_, i64>(5)? as u64,
                    r.get::<_, i64>(6)? as u64,
                    db::get::<CallOutcome>(r, 7)?,
                    r.get::<_, String>(8)?,
                ))
            })
            .map_err(&err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(&err)?;
        Ok(rows
            .into_iter()
            .map(|(tracking_id, caller, callee, start, end, bytes_up, bytes_down, outcome, detail)| {
                let result = CallResult { outcome, detail };
                CallRecord {
                    tracking_id,
                    caller,
                    callee,
                    start,
                    end,
                    bytes_up,
                    bytes_down,
                    outcome: result.outcome,
                    result: result.to_string(),
                }
            })
            .collect())
    }

    fn bundle_reserve(&self, b: &StoredBundle, limits: MailboxLimits) -> Result<std::result::Result<i64, String>> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let [all, recipient, sender, pair] = use_keys(&b.recipient, &b.sender);
        let of = |k: &str| -> Result<u64> {
            let n = tx
                .query_row("SELECT bytes FROM mailbox_use WHERE k = ?1", [k], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(&err)?;
            Ok(n.unwrap_or(0).max(0) as u64)
        };
        let used = Used { recipient: of(&recipient)?, from_sender: of(&pair)?, sender: of(&sender)?, all: of(&all)? };
        if let Some(why) = over_limit(b, limits, used) {
            return Ok(Err(why));
        }
        tx.execute(
            "INSERT INTO bundles (recipient, sender, bundle_id, size, path, created, expires, stored)
             VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, 0)",
            params![b.recipient, b.sender, &b.bundle_id[..], b.size as i64, b.created as i64, b.expires as i64],
        )
        .map_err(&err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(&err)?;
        Ok(Ok(id))
    }

    fn bundle_cancel(&self, id: i64) -> Result<()> {
        self.conn().execute("DELETE FROM bundles WHERE id = ?1 AND stored = 0", params![id]).map_err(self.err())?;
        Ok(())
    }

    fn bundle_stored(&self, id: i64, b: &StoredBundle) -> Result<()> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction().map_err(&err)?;
        let n = tx
            .execute("UPDATE bundles SET path = ?2, stored = 1 WHERE id = ?1 AND stored = 0", params![id, b.path])
            .map_err(&err)?;
        if n != 1 {
            return Err(Error::NotFound(format!("the reservation {id} for the deposit is gone")));
        }
        tx.execute(
            "INSERT OR REPLACE INTO deliveries (sender, bundle_id, recipient, state, time) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![b.sender, &b.bundle_id[..], b.recipient, DeliveryState::Queued as u8 as i64, b.created as i64],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    fn forget_reservations(&self) -> Result<usize> {
        self.conn().execute("DELETE FROM bundles WHERE stored = 0", []).map_err(self.err())
    }

    fn bundle_next(&self, recipient: &str, now: u64, skip: &HashSet<i64>) -> Result<NextBundle> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        // A page at a time from where the last one ended (a recipient with many bundles costs
        // one page per collect, not a read of all of them); expired ones met on the way leave.
        const PAGE: i64 = 64;
        let (mut gone, mut next, mut after) = (Vec::new(), None, 0i64);
        while next.is_none() {
            let rows = tx
                .prepare_cached(
                    "SELECT id, recipient, sender, bundle_id, size, path, created, expires FROM bundles
                     WHERE recipient = ?1 AND stored = 1 AND id > ?2 ORDER BY id LIMIT ?3",
                )
                .and_then(|mut st| {
                    st.query_map(params![recipient, after, PAGE], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            StoredBundle {
                                recipient: r.get(1)?,
                                sender: r.get(2)?,
                                bundle_id: arr(r.get(3)?)?,
                                size: r.get::<_, i64>(4)? as u64,
                                path: r.get(5)?,
                                created: r.get::<_, i64>(6)? as u64,
                                expires: r.get::<_, i64>(7)? as u64,
                            },
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(&err)?;
            let full = rows.len() as i64 == PAGE;
            for (id, b) in rows {
                after = id;
                if b.expires > now {
                    if skip.contains(&id) {
                        continue;
                    }
                    next = Some((id, b));
                    break;
                }
                Self::bundle_gone(&tx, id, &b.sender, &b.bundle_id, DeliveryState::Expired, now).map_err(&err)?;
                gone.push(b.path);
            }
            if !full {
                break;
            }
        }
        tx.commit().map_err(&err)?;
        Ok((next, gone))
    }

    fn bundle_done(&self, recipient: &str, id: i64, state: DeliveryState, now: u64) -> Result<Option<String>> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        let row: Option<(String, Vec<u8>, String)> = tx
            .query_row(
                "SELECT sender, bundle_id, path FROM bundles WHERE id = ?1 AND recipient = ?2 AND stored = 1",
                params![id, recipient],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&err)?;
        let Some((sender, bid, path)) = row else { return Ok(None) };
        Self::bundle_gone(&tx, id, &sender, &bid, state, now).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Some(path))
    }

    fn delivery_states(&self, sender: &str, ids: &[[u8; 8]]) -> Result<Vec<(DeliveryState, u64)>> {
        let err = self.err();
        let c = self.conn();
        let state = |r: &rusqlite::Row<'_>| {
            let s: i64 = r.get(0)?;
            let state = u8::try_from(s).ok().and_then(DeliveryState::from_u8).ok_or_else(|| {
                let why = format!("deliveries.state holds {s}, which this sslx does not know");
                rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, why.into())
            })?;
            Ok((state, r.get::<_, i64>(1)? as u64))
        };
        ids.iter()
            .map(|id| {
                c.query_row(
                    "SELECT state, time FROM deliveries WHERE sender = ?1 AND bundle_id = ?2",
                    params![sender, &id[..]],
                    state,
                )
                .optional()
                .map(|o| o.unwrap_or((DeliveryState::Unknown, 0)))
                .map_err(&err)
            })
            .collect()
    }

    fn rate_take(&self, keys: &[(String, Limit)], now: u64) -> Result<Option<(String, u64)>> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
        for (key, limit) in keys {
            let since = now.saturating_sub(limit.window) as i64;
            let (n, oldest): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT COUNT(*), MIN(at) FROM rate_events WHERE key = ?1 AND at > ?2",
                    params![key, since],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(&err)?;
            if n as u64 >= limit.count as u64 {
                let frees = (oldest.unwrap_or(now as i64) as u64 + limit.window).saturating_sub(now).max(1);
                return Ok(Some((key.clone(), frees)));
            }
        }
        for (key, _) in keys {
            tx.execute("INSERT INTO rate_events (key, at) VALUES (?1, ?2)", params![key, now as i64]).map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(None)
    }

    fn purge_expired(&self, now: u64, grace: u64, rate_window: u64) -> Result<Purged> {
        let err = self.err();
        let mut c = self.conn();
        let tx = c.transaction().map_err(&err)?;
        let cutoff = now.saturating_sub(grace) as i64;
        tx.execute("UPDATE requests SET cdsk = X'' WHERE expires <= ?1 AND length(cdsk) > 0", params![now as i64])
            .map_err(&err)?;
        let requests = tx
            .execute("DELETE FROM requests WHERE status != 'confirmed' AND expires < ?1", params![cutoff])
            .map_err(&err)?;
        // Reservations whose deposit never finished (the CDS stopped half-way).
        tx.execute(
            "DELETE FROM bundles WHERE stored = 0 AND created < ?1",
            params![now.saturating_sub(6 * 3600) as i64],
        )
        .map_err(&err)?;
        let expired: Vec<(i64, String, Vec<u8>, String)> = tx
            .prepare("SELECT id, sender, bundle_id, path FROM bundles WHERE expires <= ?1 AND stored = 1")
            .and_then(|mut st| {
                st.query_map(params![now as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
            })
            .map_err(&err)?;
        let mut bundle_files = Vec::new();
        for (id, sender, bid, path) in expired {
            Self::bundle_gone(&tx, id, &sender, &bid, DeliveryState::Expired, now).map_err(&err)?;
            bundle_files.push(path);
        }
        tx.execute("DELETE FROM rate_events WHERE at <= ?1", params![now.saturating_sub(rate_window) as i64])
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Purged { requests, bundle_files })
    }
}
