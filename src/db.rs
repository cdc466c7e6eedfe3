//! The SQLite files sslx keeps (the CDS store, the courier log, the session cache, a node's
//! token data, the resolver's cache): how they are opened, and their schemas with a version.
//!
//! Every file carries its schema version in `PRAGMA user_version` and a [`Schema`] lists the
//! ordered migrations that take it from one version to the next: migration `i` (0-based) takes a
//! file from version `i` to `i + 1`. Opening a file runs the migrations it lacks in one
//! transaction (all or none), so a file made by an earlier sslx opens, and a file made by a
//! newer sslx (a version this one does not know) is refused rather than misread. Migrations are
//! one-way: an older sslx does not know what a newer one made of its file (upgrade every process
//! that opens a file together, and keep a copy of a CDS database from before an upgrade). Version 0 is a
//! new file or one made before versions existed: the first migration of each schema creates its
//! tables only where they are missing, so both end up the same.

use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;

/// What went wrong with one of the SQLite files.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed (the file, then SQLite's own message).
    #[error("{file}: {source}")]
    Sqlite {
        file: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was made by a newer sslx: this one does not know its schema.
    #[error(
        "{file}: made by a newer sslx ({what} schema version {found}; this sslx knows up to {known}): \
         use that sslx, or a newer one"
    )]
    NewerSchema { file: String, what: &'static str, found: u32, known: u32 },
    /// PostgreSQL failed (the database, then the server's or the client's message).
    #[error("{db}: {detail}")]
    Postgres { db: String, detail: String },
}

/// One step of a schema: SQL run as a batch, or a function for what SQL alone cannot say
/// ("add this column unless a file made before versions has it already").
pub enum Migration {
    Sql(&'static str),
    Step(fn(&Transaction<'_>) -> rusqlite::Result<()>),
}

/// The schema of one kind of file: a name for messages, and its migrations in order.
pub struct Schema {
    pub what: &'static str,
    pub migrations: &'static [Migration],
}

impl Schema {
    /// The version a file has once every migration has run.
    pub fn version(&self) -> u32 {
        self.migrations.len() as u32
    }
}

/// The schema version of the SQLite file at `file` (0 for a new or pre-version file).
pub fn schema_version(file: &Path) -> crate::Result<u32> {
    let c = Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite_err(file))?;
    Ok(version_of(&c).map_err(sqlite_err(file))?)
}

/// The version recorded in a file (`PRAGMA user_version`).
pub fn version_of(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map(|v| v as u32)
}

/// Brings `conn` to `schema`'s version: the migrations it lacks run in one immediate transaction
/// (a second process opening the same file waits, then finds nothing left to do). Returns the
/// version the file had.
pub fn migrate(conn: &mut Connection, file: &Path, schema: &Schema) -> Result<u32, DbError> {
    let sql = sqlite_err(file);
    let known = schema.version();
    let newer = |found| DbError::NewerSchema { file: file.display().to_string(), what: schema.what, found, known };
    let found = version_of(conn).map_err(&sql)?;
    if found == known {
        return Ok(found);
    }
    if found > known {
        return Err(newer(found));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&sql)?;
    let found = version_of(&tx).map_err(&sql)?;
    if found > known {
        return Err(newer(found));
    }
    if found == known {
        // Another process migrated it meanwhile (many `sslx` started at once on a new home):
        // nothing to write, and the lock is given back at once.
        return Ok(found);
    }
    for m in &schema.migrations[found as usize..] {
        match m {
            Migration::Sql(s) => tx.execute_batch(s),
            Migration::Step(f) => f(&tx),
        }
        .map_err(&sql)?;
    }
    tx.pragma_update(None, "user_version", known).map_err(&sql)?;
    tx.commit().map_err(&sql)?;
    Ok(found)
}

/// Opens (creating it 0600 if missing; one that group or others can read is refused) a SQLite
/// file that holds secrets or state, and brings it to `schema`'s version. WAL, commits not synced
/// one by one (losing the last entry on a power cut is acceptable for these; an fsync per
/// operation is not), and a busy handler installed before anything else, since even switching
/// to WAL can meet a lock held by another sslx process.
pub fn open(path: &Path, schema: &Schema) -> crate::Result<Connection> {
    let mut conn = connect(path)?;
    migrate(&mut conn, path, schema)?;
    Ok(conn)
}

/// [`open`] without the migrations, for a caller that checks something first (the CDS its key
/// file: a migration is one-way, so it runs only once the file is known to be the right one).
pub fn connect(path: &Path) -> crate::Result<Connection> {
    crate::keys::prepare_secret_file(path)?;
    let sql = sqlite_err(path);
    let conn = Connection::open(path).map_err(&sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(&sql)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(&sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(&sql)?;
    Ok(conn)
}

/// Turns SQLite's errors on `file` into the library's error (for the stores built on these files).
pub fn error(file: &Path) -> impl Fn(rusqlite::Error) -> crate::Error + '_ {
    move |e| sqlite_err(file)(e).into()
}

/// Turns SQLite's errors on `file` into [`DbError::Sqlite`].
pub fn sqlite_err(file: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |source| DbError::Sqlite { file: file.display().to_string(), source }
}

/// A column that holds one of a fixed set of names (an enum in the code, a `CHECK` in the
/// schema): its name in the file, and back.
pub trait Column: Sized + Copy + PartialEq + 'static {
    /// Every value, each with the name stored for it.
    const ALL: &'static [(Self, &'static str)];
    /// The column's name, for messages.
    const COLUMN: &'static str;

    fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(v, _)| *v == self).map(|(_, s)| *s).expect("every value is listed")
    }
}

/// Reads column `i` of a row as a [`Column`] value; a value outside the set is a conversion
/// error that names the column and the value.
pub fn get<C: Column>(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<C> {
    let s: String = row.get(i)?;
    parse_column(&s)
        .map_err(|why| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, why.into()))
}

/// A [`Column`] value from its stored name; a name outside the set is an error that names the
/// column and the value (whatever the backend).
pub fn parse_column<C: Column>(s: &str) -> Result<C, String> {
    C::ALL
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(v, _)| *v)
        .ok_or_else(|| format!("{} holds {s:?}, which this sslx does not know", C::COLUMN))
}

/// For the migration tests: a file made from a dump of one that an earlier sslx wrote
/// (`tests/fixtures/*-v0.sql`), 0600, at `dir/file`.
#[cfg(test)]
pub(crate) fn made_by_the_previous_version(dir: &Path, file: &str, dump: &str) -> std::path::PathBuf {
    let path = dir.join(file);
    crate::keys::prepare_secret_file(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute_batch(dump).unwrap();
    assert_eq!(version_of(&c).unwrap(), 0);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    static TWO: Schema = Schema {
        what: "test",
        migrations: &[
            Migration::Sql("CREATE TABLE IF NOT EXISTS t (a INTEGER NOT NULL);"),
            Migration::Step(|tx| tx.execute_batch("ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'")),
        ],
    };

    #[test]
    fn migrations_run_once_in_order_and_a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let c = open(&path, &Schema { what: "test", migrations: &TWO.migrations[..1] }).unwrap();
            assert_eq!(version_of(&c).unwrap(), 1);
            c.execute("INSERT INTO t (a) VALUES (7)", []).unwrap();
        }
        let c = open(&path, &TWO).unwrap();
        assert_eq!(version_of(&c).unwrap(), 2);
        let (a, b): (i64, String) = c.query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!((a, b.as_str()), (7, "x"), "the row made at version 1 is kept");
        drop(c);
        assert_eq!(version_of(&open(&path, &TWO).unwrap()).unwrap(), 2, "nothing runs twice");
        let e = open(&path, &Schema { what: "test", migrations: &TWO.migrations[..1] }).unwrap_err();
        assert!(e.to_string().contains("made by a newer sslx (test schema version 2; this sslx knows up to 1)"), "{e}");
    }

    /// Many processes start at once on a new home (200 `sslx dial` in one script): each opens
    /// the new file, one migrates, none fails on the lock.
    #[test]
    fn many_opening_a_new_file_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::thread::scope(|s| {
            let all: Vec<_> = (0..32).map(|_| s.spawn(|| open(&path, &TWO).map(|c| version_of(&c).unwrap()))).collect();
            for t in all {
                assert_eq!(t.join().unwrap().unwrap(), 2);
            }
        });
    }

    #[test]
    fn a_failing_migration_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open(&path, &Schema { what: "test", migrations: &TWO.migrations[..1] }).unwrap());
        static BROKEN: Schema = Schema {
            what: "test",
            migrations: &[
                Migration::Sql("CREATE TABLE IF NOT EXISTS t (a INTEGER NOT NULL);"),
                Migration::Sql("CREATE TABLE u (x); CREATE TABLE t (a);"),
            ],
        };
        assert!(open(&path, &BROKEN).is_err());
        let c = Connection::open(&path).unwrap();
        assert_eq!(version_of(&c).unwrap(), 1);
        let u: i64 = c.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'u'", [], |r| r.get(0)).unwrap();
        assert_eq!(u, 0, "the half-run migration was rolled back");
    }
}
