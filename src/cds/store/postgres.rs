//! The CDS store in PostgreSQL, for several `sslx-cds` instances over one database (issue 16).
//!
//! The same tables as the SQLite file, through the same [`Store`] trait with the same meaning.
//! Where SQLite serializes writers (`BEGIN IMMEDIATE`), this backend takes a transaction-scoped
//! advisory lock on what the operation must see unchanged (a name being confirmed, a rate-limit
//! key, the mailbox's sums), or lets a single-row `UPDATE … RETURNING` / `DELETE … RETURNING` be
//! the atomic step, so concurrent instances keep every promise the trait makes.
//!
//! The client is `tokio-postgres` behind a `deadpool-postgres` pool, on a runtime of the store's
//! own: the trait is synchronous (the CDS calls it from blocking threads, as it calls SQLite), and
//! each call runs its queries on that runtime and waits for the answer. TLS to the database is
//! rustls (`sslmode=require` in the URL; the server's certificate is always verified, against
//! `--db-ca` or the web's roots, with its host name: libpq's `verify-full`).
//!
//! Instances: each store registers itself in `instances` (a random id, heartbeat from the
//! database's clock every few seconds); a reservation names the instance whose deposit it is,
//! so a starting instance forgets only the reservations of instances that are gone.

use super::*;
use crate::db::{Column, DbError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Row;

/// The migrations of the PostgreSQL schema, in order: migration `i` takes the database from
/// version `i` to `i + 1` (recorded in `sslx_schema`).
pub static PG_MIGRATIONS: &[&str] = &[PG_V1, PG_V2, PG_V3];

/// Version 1: every table of SQLite's version 6, in PostgreSQL's types, and the instances.
const PG_V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE requests (
    id BYTEA PRIMARY KEY, name TEXT NOT NULL, x25519 BYTEA NOT NULL, ed25519 BYTEA NOT NULL,
    email TEXT NOT NULL, oob TEXT NOT NULL, created BIGINT NOT NULL, expires BIGINT NOT NULL,
    cdsk BYTEA NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'denied')),
    confirm_nonce BYTEA, prior_ed25519 BYTEA);
CREATE INDEX requests_name ON requests (name);
CREATE INDEX requests_expires ON requests (expires);
CREATE TABLE participants (
    name TEXT PRIMARY KEY, x25519 BYTEA NOT NULL, ed25519 BYTEA NOT NULL, email TEXT NOT NULL,
    oob TEXT NOT NULL, channels TEXT NOT NULL, cdsk BYTEA NOT NULL, first_vsu BIGINT NOT NULL,
    last_vsu BIGINT NOT NULL, vsu_count BIGINT NOT NULL, key_expires BIGINT NOT NULL,
    request_id BYTEA NOT NULL, status TEXT NOT NULL CHECK (status IN ('confirmed')), source TEXT,
    key_renewed BIGINT);
CREATE TABLE calls (
    seq BIGSERIAL NOT NULL, tracking_id BYTEA PRIMARY KEY, caller TEXT NOT NULL, callee TEXT NOT NULL,
    start BIGINT NOT NULL, ended BIGINT, bytes_up BIGINT NOT NULL DEFAULT 0, bytes_down BIGINT NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('connected', 'completed', 'cut', 'no answer', 'refused')),
    detail TEXT NOT NULL DEFAULT '');
CREATE INDEX calls_start ON calls (start, seq);
CREATE TABLE bundles (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, recipient TEXT NOT NULL, sender TEXT NOT NULL,
    bundle_id BYTEA NOT NULL, size BIGINT NOT NULL CHECK (size >= 0), path TEXT NOT NULL,
    created BIGINT NOT NULL, expires BIGINT NOT NULL, stored BOOLEAN NOT NULL, reserved_by TEXT);
CREATE INDEX bundles_recipient ON bundles (recipient, id);
CREATE INDEX bundles_sender ON bundles (sender);
CREATE TABLE deliveries (
    sender TEXT NOT NULL, bundle_id BYTEA NOT NULL, recipient TEXT NOT NULL,
    state SMALLINT NOT NULL CHECK (state BETWEEN 1 AND 4), time BIGINT NOT NULL,
    PRIMARY KEY (sender, bundle_id));
CREATE TABLE rate_events (key TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX rate_events_key ON rate_events (key, at);
CREATE INDEX rate_events_at ON rate_events (at);
CREATE TABLE principals (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('user', 'host', 'gateway')),
    kvno BIGINT NOT NULL, key BYTEA NOT NULL, prev_kvno BIGINT, prev_key BYTEA, prev_until BIGINT,
    salt BYTEA, argon2_m BIGINT, argon2_t BIGINT, argon2_p BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT false, created BIGINT NOT NULL);
CREATE TABLE instances (
    id TEXT PRIMARY KEY, started TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(), address TEXT NOT NULL DEFAULT '');
";

/// Version 2: who is on hook at which instance (several instances, one switchboard).
const PG_V2: &str = "
CREATE TABLE hooks (
    name TEXT NOT NULL, service TEXT NOT NULL, instance TEXT NOT NULL, hook BIGINT NOT NULL,
    since TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (name, service));
CREATE INDEX hooks_instance ON hooks (instance);
";

/// Version 3: what waits in the mailbox, by `store::use_keys`, each bundle weighing
/// `GREATEST(size, 4096)` (`store::BUNDLE_FLOOR`); SQLite's version 7. Kept by statement-level
/// triggers over the rows a statement inserted, deleted or changed, one change per total and
/// statement (a row trigger would update the `*` row once per bundle, and PostgreSQL slows with
/// every version of one row a transaction leaves: a purge of 100k bundles would not end).
/// Every transaction that changes bundles takes `MAILBOX_LOCK` first, so the totals' rows are
/// never locked in two orders. `bundles` is locked while the existing ones are counted: an
/// instance of the previous version still running waits rather than slipping one past the count.
pub(crate) const PG_V3: &str = "
LOCK TABLE bundles IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE mailbox_use (k TEXT PRIMARY KEY, bytes BIGINT NOT NULL);
INSERT INTO mailbox_use (k, bytes)
    SELECT k, SUM(w) FROM (
            SELECT '*' AS k, GREATEST(size, 4096) AS w FROM bundles
            UNION ALL SELECT 'r ' || recipient, GREATEST(size, 4096) FROM bundles
            UNION ALL SELECT 's ' || sender, GREATEST(size, 4096) FROM bundles
            UNION ALL SELECT 'p ' || recipient || ' ' || sender, GREATEST(size, 4096) FROM bundles) w
    GROUP BY k;
CREATE FUNCTION sslx_mailbox_apply(ks TEXT[], ns BIGINT[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO mailbox_use (k, bytes) SELECT k, n FROM unnest(ks, ns) AS d(k, n)
        ON CONFLICT (k) DO UPDATE SET bytes = mailbox_use.bytes + EXCLUDED.bytes;
    DELETE FROM mailbox_use WHERE k = ANY(ks) AND bytes <= 0;
$$;
CREATE FUNCTION sslx_mailbox_came() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sslx_mailbox_apply(array_agg(k), array_agg(n)) FROM (SELECT k, SUM(w)::BIGINT AS n FROM (
            SELECT '*' AS k, GREATEST(size, 4096) AS w FROM came
            UNION ALL SELECT 'r ' || recipient, GREATEST(size, 4096) FROM came
            UNION ALL SELECT 's ' || sender, GREATEST(size, 4096) FROM came
            UNION ALL SELECT 'p ' || recipient || ' ' || sender, GREATEST(size, 4096) FROM came) w
        GROUP BY k) d;
    RETURN NULL;
END
$$;
CREATE FUNCTION sslx_mailbox_went() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sslx_mailbox_apply(array_agg(k), array_agg(n)) FROM (SELECT k, SUM(w)::BIGINT AS n FROM (
            SELECT '*' AS k, -GREATEST(size, 4096) AS w FROM went
            UNION ALL SELECT 'r ' || recipient, -GREATEST(size, 4096) FROM went
            UNION ALL SELECT 's ' || sender, -GREATEST(size, 4096) FROM went
            UNION ALL SELECT 'p ' || recipient || ' ' || sender, -GREATEST(size, 4096) FROM went) w
        GROUP BY k) d;
    RETURN NULL;
END
$$;
CREATE FUNCTION sslx_mailbox_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sslx_mailbox_apply(array_agg(k), array_agg(n)) FROM (SELECT k, SUM(w)::BIGINT AS n FROM (
            SELECT '*' AS k, GREATEST(size, 4096) AS w FROM came
            UNION ALL SELECT 'r ' || recipient, GREATEST(size, 4096) FROM came
            UNION ALL SELECT 's ' || sender, GREATEST(size, 4096) FROM came
            UNION ALL SELECT 'p ' || recipient || ' ' || sender, GREATEST(size, 4096) FROM came
            UNION ALL SELECT '*' AS k, -GREATEST(size, 4096) AS w FROM went
            UNION ALL SELECT 'r ' || recipient, -GREATEST(size, 4096) FROM went
            UNION ALL SELECT 's ' || sender, -GREATEST(size, 4096) FROM went
            UNION ALL SELECT 'p ' || recipient || ' ' || sender, -GREATEST(size, 4096) FROM went) w
        GROUP BY k HAVING SUM(w) <> 0) d;
    RETURN NULL;
END
$$;
CREATE TRIGGER bundles_came AFTER INSERT ON bundles REFERENCING NEW TABLE AS came
    FOR EACH STATEMENT EXECUTE FUNCTION sslx_mailbox_came();
CREATE TRIGGER bundles_went AFTER DELETE ON bundles REFERENCING OLD TABLE AS went
    FOR EACH STATEMENT EXECUTE FUNCTION sslx_mailbox_went();
CREATE TRIGGER bundles_changed AFTER UPDATE ON bundles REFERENCING OLD TABLE AS went NEW TABLE AS came
    FOR EACH STATEMENT EXECUTE FUNCTION sslx_mailbox_changed();
CREATE INDEX bundles_expires ON bundles (expires) WHERE stored;
";

/// How often an instance tells the database it is alive, and after how long without a word it
/// counts as gone.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const GONE_AFTER_SECS: u32 = 30;

/// The advisory lock that serializes migrations (any 64-bit number of our own).
const MIGRATION_LOCK: i64 = 0x7373_6c78_6364_7301;
/// The advisory lock that serializes every change to `bundles` (reservations weigh the totals
/// they keep; taken before any bundle's row, it orders the totals' row locks too).
const MAILBOX_LOCK: i64 = 0x7373_6c78_6364_7302;

/// How many bundles the purge removes in one transaction.
const PURGE_BATCH: i64 = 1000;

/// A transaction that may change `bundles`: `MAILBOX_LOCK` first.
async fn mailbox_tx<'a>(
    db: &'a mut deadpool_postgres::Object,
    err: &impl Fn(tokio_postgres::Error) -> Error,
) -> Result<deadpool_postgres::Transaction<'a>> {
    let tx = db.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MAILBOX_LOCK]).await.map_err(err)?;
    Ok(tx)
}
/// The advisory lock the hourly purge takes (one instance purges at a time).
const PURGE_LOCK: i64 = 0x7373_6c78_6364_7303;

/// How to reach the database: the URL's settings, and the roots its certificate is checked
/// against when the URL asks for TLS.
pub struct PgOptions {
    pub url: String,
    /// PEM root certificates for the server's TLS certificate (besides the web's roots).
    pub ca_pem: Option<Vec<u8>>,
    /// Connections this instance keeps open at most.
    pub pool_size: usize,
    /// Whether this store is a serving instance (registered in `instances`, with a heartbeat),
    /// rather than an admin command's.
    pub serving: bool,
}

/// Whether `db` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather than a
/// SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with any password in it blanked, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return "the PostgreSQL URL".into() };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// What every query needs: the pool, the at-rest key, the name for messages.
struct Ctx {
    pool: deadpool_postgres::Pool,
    at_rest: AtRest,
    label: String,
    instance: String,
    /// For connections outside the pool (the one that LISTENs).
    config: tokio_postgres::Config,
    /// Set when the instance leaves: its heartbeat stops.
    leaving: std::sync::atomic::AtomicBool,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

type Client = deadpool_postgres::Object;

impl Ctx {
    fn err(&self) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        move |e| pg_error(&self.label, &e).into()
    }

    async fn client(&self) -> Result<Client> {
        client_of(&self.pool, &self.label).await
    }
}

async fn client_of(pool: &deadpool_postgres::Pool, label: &str) -> Result<Client> {
    pool.get().await.map_err(|e| {
        let detail = match e {
            deadpool_postgres::PoolError::Backend(e) => describe(&e),
            deadpool_postgres::PoolError::Timeout(_) => "no connection to the database within 10 s".into(),
            other => other.to_string(),
        };
        Error::Db(DbError::Postgres { db: label.to_owned(), detail })
    })
}

/// A PostgreSQL error as one line: the server's own message and SQLSTATE, or the client's
/// error and what caused it.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({} {})", db.message(), db.severity(), db.code().code());
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn pg_error(label: &str, e: &tokio_postgres::Error) -> DbError {
    DbError::Postgres { db: label.to_owned(), detail: describe(e) }
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Other(format!("CDS database: {}", what.into()))
}

fn arr<const N: usize>(v: Vec<u8>, what: &str) -> Result<[u8; N]> {
    let n = v.len();
    v.try_into().map_err(|_| corrupt(format!("{what} holds {n} bytes, not {N}")))
}

fn col<C: Column>(s: String) -> Result<C> {
    crate::db::parse_column(&s).map_err(corrupt)
}

fn u32_of(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(format!("{what} holds {v}")))
}

pub struct PgStore {
    ctx: Arc<Ctx>,
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Never blocks (the store may be dropped on an async thread): its tasks just stop.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The TLS connector for the URL's `sslmode`: rustls on ring, the server's certificate checked
/// against `ca_pem` (when given) and the web's roots.
fn tls(ca_pem: Option<&[u8]>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Usage(format!("--db-ca: not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Usage("--db-ca: no certificate in the file".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| Error::Usage(format!("--db-ca: {e}")))?;
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(crate::remote::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
}

type Connector = Option<tokio_postgres_rustls::MakeRustlsConnect>;

fn pool_of(opts: &PgOptions, label: &str) -> Result<(deadpool_postgres::Pool, tokio_postgres::Config, Connector)> {
    use std::str::FromStr;
    let mut cfg = tokio_postgres::Config::from_str(&opts.url)
        .map_err(|e| Error::Usage(format!("{label}: not a PostgreSQL URL: {}", describe(&e))))?;
    if cfg.get_application_name().is_none() {
        cfg.application_name("sslx-cds");
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(10));
    }
    // A stuck instance (paused, cut off mid-transaction) must not hold a lock the others queue
    // behind: lock waits, statements and idle transactions are bounded, and a dead peer is
    // found by TCP keepalive within a minute.
    if cfg.get_options().is_none() {
        cfg.options("-c lock_timeout=5000 -c statement_timeout=30000 -c idle_in_transaction_session_timeout=30000");
    }
    cfg.keepalives(true)
        .keepalives_idle(Duration::from_secs(20))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(4);
    // libpq's default `prefer` would go on in plaintext when an attacker on the path says the
    // server has no TLS: over TCP anything but an explicit `disable` means `require`.
    let tcp = cfg.get_hosts().iter().any(|h| matches!(h, tokio_postgres::config::Host::Tcp(_)));
    if tcp && cfg.get_ssl_mode() != tokio_postgres::config::SslMode::Disable {
        cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
    }
    let mgr_cfg = deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast };
    let connector = match cfg.get_ssl_mode() {
        tokio_postgres::config::SslMode::Disable => None,
        _ => Some(tls(opts.ca_pem.as_deref())?),
    };
    let mgr = match &connector {
        None => deadpool_postgres::Manager::from_config(cfg.clone(), tokio_postgres::NoTls, mgr_cfg),
        Some(t) => deadpool_postgres::Manager::from_config(cfg.clone(), t.clone(), mgr_cfg),
    };
    let pool = deadpool_postgres::Pool::builder(mgr)
        .max_size(opts.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| Error::Other(format!("{label}: {e}")))?;
    Ok((pool, cfg, connector))
}

/// Brings the database to this sslx's schema version under an advisory lock (instances starting
/// together: one migrates, the others wait and find nothing to do), all in one transaction.
/// Returns the version it had. A database of a newer sslx is refused.
async fn migrate_pg(pool: &deadpool_postgres::Pool, label: &str) -> Result<u32> {
    let err = |e: tokio_postgres::Error| Error::from(pg_error(label, &e));
    let mut c = client_of(pool, label).await?;
    let tx = c.transaction().await.map_err(&err)?;
    // A migration may count or rewrite big tables, and wait for other instances' transactions
    // (and instances starting together wait for the one migrating): not the serving
    // connections' timeouts.
    tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '120s'").await.map_err(&err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(&err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS sslx_schema (what TEXT PRIMARY KEY, version BIGINT NOT NULL)")
        .await
        .map_err(&err)?;
    let found: i64 = tx
        .query_opt("SELECT version FROM sslx_schema WHERE what = 'cds'", &[])
        .await
        .map_err(&err)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let known = PG_MIGRATIONS.len() as i64;
    if found > known {
        return Err(DbError::NewerSchema {
            file: label.to_owned(),
            what: "CDS database",
            found: found as u32,
            known: known as u32,
        }
        .into());
    }
    for m in &PG_MIGRATIONS[found as usize..] {
        tx.batch_execute(m).await.map_err(&err)?;
    }
    tx.execute(
        "INSERT INTO sslx_schema (what, version) VALUES ('cds', $1) ON CONFLICT (what) DO UPDATE SET version = $1",
        &[&known],
    )
    .await
    .map_err(&err)?;
    tx.commit().await.map_err(&err)?;
    Ok(found as u32)
}

/// An admin command's check: the database is at this sslx's schema version (else it says
/// which way to go).
async fn check_version(pool: &deadpool_postgres::Pool, label: &str) -> Result<()> {
    let db = client_of(pool, label).await?;
    let found: i64 = match db.query_opt("SELECT version FROM sslx_schema WHERE what = 'cds'", &[]).await {
        Ok(r) => r.map(|r| r.get(0)).unwrap_or(0),
        Err(_) => 0, // no sslx_schema table: a database no CDS has served from
    };
    let known = PG_MIGRATIONS.len() as i64;
    match found.cmp(&known) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(DbError::NewerSchema {
            file: label.to_owned(),
            what: "CDS database",
            found: found as u32,
            known: known as u32,
        }
        .into()),
        std::cmp::Ordering::Less => Err(Error::Usage(format!(
            "{label}: schema version {found}, this sslx's is {known}: run sslx-cds migrate (or start sslx-cds serve) first"
        ))),
    }
}

impl PgStore {
    /// Connects (a pool of `opts.pool_size`), brings the schema to this version, checks that the
    /// key in `key_file` opens the database's secrets (the first instance on a new database
    /// records the check value), and registers this instance.
    pub fn open(opts: &PgOptions, key_file: &Path) -> Result<Self> {
        let label = redacted(&opts.url);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sslx-cds-db")
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("starting the database runtime: {e}")))?;
        let (pool, config, tls) = {
            let _in_rt = rt.enter();
            pool_of(opts, &label)?
        };
        let key_given = key_file.exists();
        if !opts.serving && !key_given {
            return Err(Error::Usage(format!(
                "the key file {} does not exist: give the --key-file the instances serve with",
                key_file.display()
            )));
        }
        let at_rest = AtRest::load_or_create(key_file)?;
        let instance = hex::encode(crate::crypto::random_array::<8>(&SystemRandom::new()));
        let leaving = std::sync::atomic::AtomicBool::new(false);
        let ctx = Arc::new(Ctx { pool, at_rest, label, instance, config, tls, leaving });
        let handle = rt.handle().clone();
        let store = PgStore { ctx, rt: Some(rt), handle };
        let c = store.ctx.clone();
        let key_file_name = key_file.display().to_string();
        let serving = opts.serving;
        store.run(async move {
            if serving {
                migrate_pg(&c.pool, &c.label).await?;
            } else {
                // An admin command changes no schema under running instances.
                check_version(&c.pool, &c.label).await?;
            }
            let err = c.err();
            let db = c.client().await?;
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('at_rest_check', $1) ON CONFLICT (key) DO NOTHING",
                &[&c.at_rest.check_value()],
            )
            .await
            .map_err(&err)?;
            let check: Vec<u8> =
                db.query_one("SELECT value FROM meta WHERE key = 'at_rest_check'", &[]).await.map_err(&err)?.get(0);
            if !c.at_rest.opens(&check) {
                return Err(Error::Usage(format!(
                    "the key file {} does not open the CDS keys in {}: {}",
                    key_file_name,
                    c.label,
                    if key_given {
                        "it belongs to another database"
                    } else {
                        "it was just made, but the database has keys sealed under another one (give every instance the same --key-file)"
                    }
                )));
            }
            Ok(())
        })?;
        if !opts.serving {
            return Ok(store);
        }
        let c = store.ctx.clone();
        store.run(async move {
            let db = c.client().await?;
            db.execute("INSERT INTO instances (id) VALUES ($1)", &[&c.instance]).await.map_err(c.err())?;
            Ok(())
        })?;
        let c = store.ctx.clone();
        store.handle.spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT);
            loop {
                every.tick().await;
                if c.leaving.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if let Ok(db) = c.client().await {
                    // An upsert: an instance silent long enough to be purged comes back.
                    let _ = db
                        .execute(
                            "INSERT INTO instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET heartbeat = now()",
                            &[&c.instance],
                        )
                        .await;
                }
            }
        });
        Ok(store)
    }

    /// Runs the migrations only (`sslx-cds migrate`): returns the versions before and after.
    pub fn migrate_only(opts: &PgOptions) -> Result<(u32, u32)> {
        let label = redacted(&opts.url);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("starting the database runtime: {e}")))?;
        rt.block_on(async {
            let (pool, _, _) = pool_of(opts, &label)?;
            let before = migrate_pg(&pool, &label).await?;
            Ok((before, PG_MIGRATIONS.len() as u32))
        })
    }

    /// This instance's id (in `instances`, and on the reservations of its deposits).
    pub fn instance(&self) -> &str {
        &self.ctx.instance
    }

    /// Runs `fut` on the store's runtime and waits for it (from any thread: the caller's own
    /// runtime, if it has one, is not used).
    fn run<T, F>(&self, fut: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(Error::Unavailable(format!("{}: no answer within 60 s", self.ctx.label)))
            }
            Err(_) => Err(Error::Other("the database task stopped".into())),
        }
    }

    fn ctx(&self) -> Arc<Ctx> {
        self.ctx.clone()
    }
}

/// A secret of the CDS's own in `meta`, made once even when instances start together.
async fn meta_secret(c: &Ctx, key: &str, fresh: Secret<32>) -> Result<Secret<32>> {
    let err = c.err();
    let db = c.client().await?;
    db.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&key, &c.at_rest.seal(key.as_bytes(), fresh.expose())],
    )
    .await
    .map_err(&err)?;
    let sealed: Vec<u8> = db.query_one("SELECT value FROM meta WHERE key = $1", &[&key]).await.map_err(&err)?.get(0);
    c.at_rest.unseal(key.as_bytes(), &sealed)
}

const PRINCIPAL_COLUMNS: &str =
    "name, kind, kvno, key, prev_kvno, prev_key, prev_until, salt, argon2_m, argon2_t, argon2_p, disabled, created";

fn principal_of(c: &Ctx, r: &Row) -> Result<PrincipalRow> {
    let name: String = r.get(0);
    let kind: crate::kdc::PrincipalKind = col(r.get(1))?;
    let kvno = u32_of(r.get(2), "principals.kvno")?;
    let key = c.at_rest.unseal(&principal_key_aad(kind, &name, kvno), &r.get::<_, Vec<u8>>(3))?;
    let previous = match (r.get::<_, Option<i64>>(4), r.get::<_, Option<Vec<u8>>>(5), r.get::<_, Option<i64>>(6)) {
        (Some(v), Some(k), Some(until)) => {
            let v = u32_of(v, "principals.prev_kvno")?;
            Some((v, c.at_rest.unseal(&principal_key_aad(kind, &name, v), &k)?, until as u64))
        }
        _ => None,
    };
    let argon2 = match (
        r.get::<_, Option<Vec<u8>>>(7),
        r.get::<_, Option<i64>>(8),
        r.get::<_, Option<i64>>(9),
        r.get::<_, Option<i64>>(10),
    ) {
        (Some(salt), Some(m), Some(t), Some(p)) => Some(crate::kdc::Argon2Params {
            salt: arr(salt, "principals.salt")?,
            m_kib: u32_of(m, "principals.argon2_m")?,
            t: u32_of(t, "principals.argon2_t")?,
            p: u32_of(p, "principals.argon2_p")?,
        }),
        _ => None,
    };
    Ok(PrincipalRow {
        name,
        kind,
        kvno,
        key,
        previous,
        argon2,
        disabled: r.get(11),
        created: r.get::<_, i64>(12) as u64,
    })
}

fn participant_of(r: &Row) -> Result<Participant> {
    Ok(Participant {
        name: r.get(0),
        x25519: arr(r.get(1), "participants.x25519")?,
        ed25519: arr(r.get(2), "participants.ed25519")?,
        channels: r.get(3),
        first_vsu: r.get::<_, i64>(4) as u64,
        last_vsu: r.get::<_, i64>(5) as u64,
        vsu_count: u32_of(r.get(6), "participants.vsu_count")?,
        key_expires: r.get::<_, i64>(7) as u64,
        status: col(r.get(8))?,
        key_renewed: r.get::<_, Option<i64>>(9).map(|t| t as u64),
    })
}

fn bundle_of(r: &Row) -> Result<(i64, StoredBundle)> {
    Ok((
        r.get(0),
        StoredBundle {
            recipient: r.get(1),
            sender: r.get(2),
            bundle_id: arr(r.get(3), "bundles.bundle_id")?,
            size: r.get::<_, i64>(4) as u64,
            path: r.get(5),
            created: r.get::<_, i64>(6) as u64,
            expires: r.get::<_, i64>(7) as u64,
        },
    ))
}

/// A bundle leaves the mailbox with its final delivery state, in `tx`.
async fn bundle_gone(
    tx: &deadpool_postgres::Transaction<'_>,
    c: &Ctx,
    sender: &str,
    bundle_id: &[u8],
    state: DeliveryState,
    now: u64,
) -> Result<()> {
    tx.execute(
        "UPDATE deliveries SET state = $3, time = $4 WHERE sender = $1 AND bundle_id = $2",
        &[&sender, &bundle_id, &(state as u8 as i16), &(now as i64)],
    )
    .await
    .map_err(c.err())?;
    Ok(())
}

impl Store for PgStore {
    fn sign_seed(&self, rng: &dyn SecureRandom) -> Result<Secret<32>> {
        let (c, fresh) = (self.ctx(), Secret::random(rng));
        self.run(async move { meta_secret(&c, "sign_seed", fresh).await })
    }

    fn kdc_key(&self, rng: &dyn SecureRandom) -> Result<Secret<32>> {
        let (c, fresh) = (self.ctx(), Secret::random(rng));
        self.run(async move { meta_secret(&c, "kdc_key", fresh).await })
    }

    fn insert_request(&self, r: &RequestRow) -> Result<()> {
        let c = self.ctx();
        let sealed = r.cdsk.as_ref().map(|k| c.at_rest.seal(&request_aad(&r.id), k.expose())).unwrap_or_default();
        let (id, name, x, e, email, oob) =
            (r.id.to_vec(), r.name.clone(), r.x25519.to_vec(), r.ed25519.to_vec(), r.email.clone(), r.oob.clone());
        let (created, expires, attempts, status) =
            (r.created as i64, r.expires as i64, r.attempts as i64, r.status.as_str());
        let prior = r.prior_ed25519.map(|k| k.to_vec());
        self.run(async move {
            c.client()
                .await?
                .execute(
                    "INSERT INTO requests (id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[&id, &name, &x, &e, &email, &oob, &created, &expires, &sealed, &attempts, &status, &prior],
                )
                .await
                .map_err(c.err())?;
            Ok(())
        })
    }

    fn delete_request(&self, id: &[u8; 16]) -> Result<()> {
        let (c, id) = (self.ctx(), id.to_vec());
        self.run(async move {
            c.client().await?.execute("DELETE FROM requests WHERE id = $1", &[&id]).await.map_err(c.err())?;
            Ok(())
        })
    }

    fn request(&self, id: &[u8; 16]) -> Result<Option<RequestRow>> {
        let (c, id) = (self.ctx(), id.to_vec());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    "SELECT id, name, x25519, ed25519, email, oob, created, expires, cdsk, attempts, status, prior_ed25519
                     FROM requests WHERE id = $1",
                    &[&id],
                )
                .await
                .map_err(c.err())?;
            let Some(r) = row else { return Ok(None) };
            let id: [u8; 16] = arr(r.get(0), "requests.id")?;
            let sealed: Vec<u8> = r.get(8);
            let cdsk = if sealed.is_empty() { None } else { Some(c.at_rest.unseal(&request_aad(&id), &sealed)?) };
            Ok(Some(RequestRow {
                id,
                name: r.get(1),
                x25519: arr(r.get(2), "requests.x25519")?,
                ed25519: arr(r.get(3), "requests.ed25519")?,
                email: r.get(4),
                oob: r.get(5),
                created: r.get::<_, i64>(6) as u64,
                expires: r.get::<_, i64>(7) as u64,
                cdsk,
                attempts: u32_of(r.get(9), "requests.attempts")?,
                status: col(r.get(10))?,
                prior_ed25519: r.get::<_, Option<Vec<u8>>>(11).map(|k| arr(k, "requests.prior_ed25519")).transpose()?,
            }))
        })
    }

    fn take_attempt(&self, id: &[u8; 16], max: u32) -> Result<Option<u32>> {
        let (c, id) = (self.ctx(), id.to_vec());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    "UPDATE requests SET attempts = attempts + 1
                     WHERE id = $1 AND status = 'pending' AND attempts < $2 RETURNING attempts",
                    &[&id, &(max as i64)],
                )
                .await
                .map_err(c.err())?;
            row.map(|r| u32_of(r.get(0), "requests.attempts")).transpose()
        })
    }

    fn deny_for_good(&self, id: &[u8; 16]) -> Result<()> {
        let (c, id) = (self.ctx(), id.to_vec());
        self.run(async move {
            c.client()
                .await?
                .execute(
                    "UPDATE requests SET status = 'denied', cdsk = '' WHERE id = $1 AND status = 'pending'",
                    &[&id],
                )
                .await
                .map_err(c.err())?;
            Ok(())
        })
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
        let c = self.ctx();
        let cdsk = req.cdsk.as_ref().ok_or_else(|| Error::NotFound("the request's key was wiped".into()))?;
        let sealed = c.at_rest.seal(&participant_aad(&req.name), cdsk.expose());
        let req = RequestRow {
            id: req.id,
            name: req.name.clone(),
            x25519: req.x25519,
            ed25519: req.ed25519,
            email: req.email.clone(),
            oob: req.oob.clone(),
            created: req.created,
            expires: req.expires,
            cdsk: None,
            attempts: req.attempts,
            status: req.status,
            prior_ed25519: req.prior_ed25519,
        };
        let (nonce, channels, source) = (nonce.to_vec(), channels.to_owned(), source.map(str::to_owned));
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            // One confirmation of a name at a time, across every instance.
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&format!("participant:{}", req.name)])
                .await
                .map_err(&err)?;
            let holder = tx
                .query_opt("SELECT ed25519, first_vsu, vsu_count FROM participants WHERE name = $1", &[&req.name])
                .await
                .map_err(&err)?;
            let n = tx
                .execute(
                    "UPDATE requests SET status = 'confirmed', confirm_nonce = $2, cdsk = '' WHERE id = $1 AND status = 'pending'",
                    &[&req.id.to_vec(), &nonce],
                )
                .await
                .map_err(&err)?;
            if n == 0 {
                return Ok(Confirmation::Replay); // dropped: the transaction rolls back
            }
            let holder = match holder {
                Some(r) => {
                    let key: Vec<u8> = r.get(0);
                    if !<[u8; 32]>::try_from(key.as_slice()).is_ok_and(|k| may_take_name(&req, &k)) {
                        return Ok(Confirmation::NameTaken);
                    }
                    Some((r.get::<_, i64>(1) as u64, u32_of(r.get(2), "participants.vsu_count")?))
                }
                None => None,
            };
            let (first, count) = holder.map(|(f, n)| (f, n + 1)).unwrap_or((now, 1));
            tx.execute(
                "INSERT INTO participants
                 (name, x25519, ed25519, email, oob, channels, cdsk, first_vsu, last_vsu, vsu_count, key_expires, request_id, status, source, key_renewed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)
                 ON CONFLICT (name) DO UPDATE SET x25519 = EXCLUDED.x25519, ed25519 = EXCLUDED.ed25519,
                   email = EXCLUDED.email, oob = EXCLUDED.oob, channels = EXCLUDED.channels, cdsk = EXCLUDED.cdsk,
                   first_vsu = EXCLUDED.first_vsu, last_vsu = EXCLUDED.last_vsu, vsu_count = EXCLUDED.vsu_count,
                   key_expires = EXCLUDED.key_expires, request_id = EXCLUDED.request_id, status = EXCLUDED.status,
                   source = EXCLUDED.source, key_renewed = NULL",
                &[
                    &req.name, &req.x25519.to_vec(), &req.ed25519.to_vec(), &req.email, &req.oob, &channels, &sealed,
                    &(first as i64), &(now as i64), &(count as i64), &(key_expires as i64), &req.id.to_vec(),
                    &ParticipantStatus::Confirmed.as_str(), &source,
                ],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(Confirmation::Confirmed(Participant::confirmed(&req, channels, first, now, count, key_expires)))
        })
    }

    fn renew_key(
        &self,
        name: &str,
        current: &Secret<32>,
        new: &Secret<32>,
        now: u64,
        key_expires: u64,
    ) -> Result<bool> {
        let c = self.ctx();
        let (name, current) = (name.to_owned(), current.clone());
        let sealed_new = c.at_rest.seal(&participant_aad(&name), new.expose());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            let row = tx
                .query_opt(
                    "SELECT cdsk FROM participants WHERE name = $1 AND status = 'confirmed' FOR UPDATE",
                    &[&name],
                )
                .await
                .map_err(&err)?;
            let Some(row) = row else { return Ok(false) };
            if !c.at_rest.unseal(&participant_aad(&name), &row.get::<_, Vec<u8>>(0))?.ct_eq(&current) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE participants SET cdsk = $2, key_expires = $3, key_renewed = $4 WHERE name = $1",
                &[&name, &sealed_new, &(key_expires as i64), &(now as i64)],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(true)
        })
    }

    fn has_pending(&self, name: &str, now: u64) -> Result<bool> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    "SELECT 1 FROM requests WHERE name = $1 AND status = 'pending' AND expires > $2 LIMIT 1",
                    &[&name, &(now as i64)],
                )
                .await
                .map_err(c.err())?;
            Ok(row.is_some())
        })
    }

    fn participant(&self, name: &str) -> Result<Option<Participant>> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    "SELECT name, x25519, ed25519, channels, first_vsu, last_vsu, vsu_count, key_expires, status, key_renewed
                     FROM participants WHERE name = $1",
                    &[&name],
                )
                .await
                .map_err(c.err())?;
            row.as_ref().map(participant_of).transpose()
        })
    }

    fn participant_cdsk(&self, name: &str) -> Result<Option<(Secret<32>, u64)>> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    "SELECT cdsk, key_expires FROM participants WHERE name = $1 AND status = 'confirmed'",
                    &[&name],
                )
                .await
                .map_err(c.err())?;
            row.map(|r| {
                Ok((c.at_rest.unseal(&participant_aad(&name), &r.get::<_, Vec<u8>>(0))?, r.get::<_, i64>(1) as u64))
            })
            .transpose()
        })
    }

    fn participant_source(&self, name: &str) -> Result<Option<String>> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt("SELECT source FROM participants WHERE name = $1", &[&name])
                .await
                .map_err(c.err())?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    fn release(&self, name: &str) -> Result<bool> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let n = c
                .client()
                .await?
                .execute("DELETE FROM participants WHERE name = $1", &[&name])
                .await
                .map_err(c.err())?;
            Ok(n > 0)
        })
    }

    fn call_started(
        &self,
        tracking_id: &[u8; 16],
        caller: &str,
        callee: &str,
        start: u64,
        result: &CallResult,
    ) -> Result<()> {
        let c = self.ctx();
        let (t, caller, callee, outcome, detail) = (
            tracking_id.to_vec(),
            caller.to_owned(),
            callee.to_owned(),
            result.outcome.as_str(),
            result.detail.clone(),
        );
        self.run(async move {
            c.client()
                .await?
                .execute(
                    "INSERT INTO calls (tracking_id, caller, callee, start, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&t, &caller, &callee, &(start as i64), &outcome, &detail],
                )
                .await
                .map_err(c.err())?;
            Ok(())
        })
    }

    fn call_ended(
        &self,
        tracking_id: &[u8; 16],
        end: u64,
        bytes_up: u64,
        bytes_down: u64,
        result: &CallResult,
    ) -> Result<()> {
        let c = self.ctx();
        let (t, outcome, detail) = (tracking_id.to_vec(), result.outcome.as_str(), result.detail.clone());
        self.run(async move {
            c.client()
                .await?
                .execute(
                    "UPDATE calls SET ended = $2, bytes_up = $3, bytes_down = $4, outcome = $5, detail = $6 WHERE tracking_id = $1",
                    &[&t, &(end as i64), &(bytes_up as i64), &(bytes_down as i64), &outcome, &detail],
                )
                .await
                .map_err(c.err())?;
            Ok(())
        })
    }

    fn calls_since(&self, since: u64) -> Result<Vec<CallRecord>> {
        let c = self.ctx();
        self.run(async move {
            let rows = c
                .client()
                .await?
                .query(
                    "SELECT tracking_id, caller, callee, start, ended, bytes_up, bytes_down, outcome, detail FROM calls
                     WHERE start >= $1 ORDER BY start, seq",
                    &[&(since as i64)],
                )
                .await
                .map_err(c.err())?;
            rows.iter()
                .map(|r| {
                    let result = CallResult { outcome: col(r.get(7))?, detail: r.get(8) };
                    Ok(CallRecord {
                        tracking_id: hex::encode(r.get::<_, Vec<u8>>(0)),
                        caller: r.get(1),
                        callee: r.get(2),
                        start: r.get::<_, i64>(3) as u64,
                        end: r.get::<_, Option<i64>>(4).map(|e| e as u64),
                        bytes_up: r.get::<_, i64>(5) as u64,
                        bytes_down: r.get::<_, i64>(6) as u64,
                        outcome: result.outcome,
                        result: result.to_string(),
                    })
                })
                .collect()
        })
    }

    fn bundle_reserve(&self, b: &StoredBundle, limits: MailboxLimits) -> Result<std::result::Result<i64, String>> {
        let (c, b) = (self.ctx(), b.clone());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = mailbox_tx(&mut db, &err).await?;
            let keys = use_keys(&b.recipient, &b.sender);
            let rows = tx
                .query("SELECT k, bytes FROM mailbox_use WHERE k = ANY($1)", &[&keys.to_vec()])
                .await
                .map_err(&err)?;
            let of = |k: &str| {
                rows.iter().find(|r| r.get::<_, &str>(0) == k).map_or(0, |r| r.get::<_, i64>(1).max(0) as u64)
            };
            let [all, recipient, sender, pair] = &keys;
            let used = Used { recipient: of(recipient), from_sender: of(pair), sender: of(sender), all: of(all) };
            if let Some(why) = over_limit(&b, limits, used) {
                return Ok(Err(why));
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO bundles (recipient, sender, bundle_id, size, path, created, expires, stored, reserved_by)
                     VALUES ($1, $2, $3, $4, '', $5, $6, false, $7) RETURNING id",
                    &[
                        &b.recipient, &b.sender, &b.bundle_id.to_vec(), &(b.size as i64), &(b.created as i64),
                        &(b.expires as i64), &c.instance,
                    ],
                )
                .await
                .map_err(&err)?
                .get(0);
            tx.commit().await.map_err(&err)?;
            Ok(Ok(id))
        })
    }

    fn bundle_cancel(&self, id: i64) -> Result<()> {
        let c = self.ctx();
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = mailbox_tx(&mut db, &err).await?;
            tx.execute("DELETE FROM bundles WHERE id = $1 AND NOT stored", &[&id]).await.map_err(&err)?;
            tx.commit().await.map_err(&err)
        })
    }

    fn bundle_stored(&self, id: i64, b: &StoredBundle) -> Result<()> {
        let (c, b) = (self.ctx(), b.clone());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            let n = tx
                .execute("UPDATE bundles SET path = $2, stored = true WHERE id = $1 AND NOT stored", &[&id, &b.path])
                .await
                .map_err(&err)?;
            if n != 1 {
                return Err(Error::NotFound(format!("the reservation {id} for the deposit is gone")));
            }
            tx.execute(
                "INSERT INTO deliveries (sender, bundle_id, recipient, state, time) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sender, bundle_id) DO UPDATE SET recipient = EXCLUDED.recipient, state = EXCLUDED.state,
                   time = EXCLUDED.time",
                &[
                    &b.sender,
                    &b.bundle_id.to_vec(),
                    &b.recipient,
                    &(DeliveryState::Queued as u8 as i16),
                    &(b.created as i64),
                ],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)
        })
    }

    fn forget_reservations(&self) -> Result<usize> {
        let c = self.ctx();
        self.run(async move {
            // This instance's own (it is starting: none is under way) and those of instances that
            // are gone (and older ones, from before instances had names); another live instance
            // may be taking a deposit now.
            let err = c.err();
            let mut db = c.client().await?;
            let tx = mailbox_tx(&mut db, &err).await?;
            let live = "SELECT id FROM instances WHERE heartbeat > now() - make_interval(secs => $1)";
            let n = tx
                .execute(
                    &format!(
                        "DELETE FROM bundles WHERE NOT stored AND (reserved_by IS NULL OR reserved_by = $2
                           OR reserved_by NOT IN ({live}))"
                    ),
                    &[&(GONE_AFTER_SECS as f64), &c.instance],
                )
                .await
                .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(n as usize)
        })
    }

    fn bundle_next(&self, recipient: &str, now: u64, skip: &HashSet<i64>) -> Result<NextBundle> {
        let (c, recipient) = (self.ctx(), recipient.to_owned());
        let skip: Vec<i64> = skip.iter().copied().collect();
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let mut gone = Vec::new();
            // A page at a time (a recipient with many bundles costs one page per collect);
            // expired ones met on the way leave, so the next page starts past them.
            const PAGE: i64 = 64;
            loop {
                let rows = db
                    .query(
                        "SELECT id, recipient, sender, bundle_id, size, path, created, expires FROM bundles
                         WHERE recipient = $1 AND stored AND NOT (id = ANY($2)) ORDER BY id LIMIT $3",
                        &[&recipient, &skip, &PAGE],
                    )
                    .await
                    .map_err(&err)?;
                for r in &rows {
                    let (id, b) = bundle_of(r)?;
                    if b.expires > now {
                        return Ok((Some((id, b)), gone));
                    }
                    // Expired: it leaves (once, whichever instance sees it first).
                    let tx = mailbox_tx(&mut db, &err).await?;
                    let n = tx.execute("DELETE FROM bundles WHERE id = $1", &[&id]).await.map_err(&err)?;
                    if n == 1 {
                        bundle_gone(&tx, &c, &b.sender, &b.bundle_id, DeliveryState::Expired, now).await?;
                        gone.push(b.path);
                    }
                    tx.commit().await.map_err(&err)?;
                }
                if (rows.len() as i64) < PAGE {
                    return Ok((None, gone));
                }
            }
        })
    }

    fn bundle_done(&self, recipient: &str, id: i64, state: DeliveryState, now: u64) -> Result<Option<String>> {
        let (c, recipient) = (self.ctx(), recipient.to_owned());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = mailbox_tx(&mut db, &err).await?;
            let row = tx
                .query_opt(
                    "DELETE FROM bundles WHERE id = $1 AND recipient = $2 AND stored RETURNING sender, bundle_id, path",
                    &[&id, &recipient],
                )
                .await
                .map_err(&err)?;
            let Some(r) = row else { return Ok(None) };
            let (sender, bid, path): (String, Vec<u8>, String) = (r.get(0), r.get(1), r.get(2));
            bundle_gone(&tx, &c, &sender, &bid, state, now).await?;
            tx.commit().await.map_err(&err)?;
            Ok(Some(path))
        })
    }

    fn delivery_states(&self, sender: &str, ids: &[[u8; 8]]) -> Result<Vec<(DeliveryState, u64)>> {
        let (c, sender) = (self.ctx(), sender.to_owned());
        let ids: Vec<Vec<u8>> = ids.iter().map(|i| i.to_vec()).collect();
        self.run(async move {
            let rows = c
                .client()
                .await?
                .query(
                    "SELECT bundle_id, state, time FROM deliveries WHERE sender = $1 AND bundle_id = ANY($2)",
                    &[&sender, &ids],
                )
                .await
                .map_err(c.err())?;
            let mut found = std::collections::HashMap::new();
            for r in &rows {
                let s: i16 = r.get(1);
                let state = u8::try_from(s)
                    .ok()
                    .and_then(DeliveryState::from_u8)
                    .ok_or_else(|| corrupt(format!("deliveries.state holds {s}, which this sslx does not know")))?;
                found.insert(r.get::<_, Vec<u8>>(0), (state, r.get::<_, i64>(2) as u64));
            }
            Ok(ids.iter().map(|i| found.get(i).copied().unwrap_or((DeliveryState::Unknown, 0))).collect())
        })
    }

    fn rate_take(&self, keys: &[(String, Limit)], now: u64) -> Result<Option<(String, u64)>> {
        let (c, keys) = (self.ctx(), keys.to_vec());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            // Each key's count is read and added to under its own lock (taken in one order, so
            // two instances taking overlapping sets cannot wait on each other).
            let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            for k in &names {
                tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", &[&format!("rate:{k}")])
                    .await
                    .map_err(&err)?;
            }
            for (key, limit) in &keys {
                let since = now.saturating_sub(limit.window) as i64;
                let r = tx
                    .query_one("SELECT COUNT(*), MIN(at) FROM rate_events WHERE key = $1 AND at > $2", &[key, &since])
                    .await
                    .map_err(&err)?;
                let (n, oldest): (i64, Option<i64>) = (r.get(0), r.get(1));
                if n as u64 >= limit.count as u64 {
                    let frees = (oldest.unwrap_or(now as i64) as u64 + limit.window).saturating_sub(now).max(1);
                    return Ok(Some((key.clone(), frees)));
                }
            }
            for (key, _) in &keys {
                tx.execute("INSERT INTO rate_events (key, at) VALUES ($1, $2)", &[key, &(now as i64)])
                    .await
                    .map_err(&err)?;
            }
            tx.commit().await.map_err(&err)?;
            Ok(None)
        })
    }

    fn principal_add(&self, p: &PrincipalRow) -> Result<bool> {
        let c = self.ctx();
        let prev = p.previous.as_ref();
        let key = c.at_rest.seal(&principal_key_aad(p.kind, &p.name, p.kvno), p.key.expose());
        let prev_key = prev.map(|(v, k, _)| c.at_rest.seal(&principal_key_aad(p.kind, &p.name, *v), k.expose()));
        let (prev_kvno, prev_until) = (prev.map(|(v, _, _)| *v as i64), prev.map(|(_, _, u)| *u as i64));
        let (name, kind, kvno, disabled, created) =
            (p.name.clone(), p.kind.as_str(), p.kvno as i64, p.disabled, p.created as i64);
        let salt = p.argon2.map(|a| a.salt.to_vec());
        let (m, t, pp) = (p.argon2.map(|a| a.m_kib as i64), p.argon2.map(|a| a.t as i64), p.argon2.map(|a| a.p as i64));
        self.run(async move {
            let n = c
                .client()
                .await?
                .execute(
                    &format!(
                        "INSERT INTO principals ({PRINCIPAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                         ON CONFLICT (name) DO NOTHING"
                    ),
                    &[&name, &kind, &kvno, &key, &prev_kvno, &prev_key, &prev_until, &salt, &m, &t, &pp, &disabled, &created],
                )
                .await
                .map_err(c.err())?;
            Ok(n > 0)
        })
    }

    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let row = c
                .client()
                .await?
                .query_opt(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE name = $1"), &[&name])
                .await
                .map_err(c.err())?;
            row.map(|r| principal_of(&c, &r)).transpose()
        })
    }

    fn principals(&self) -> Result<Vec<PrincipalRow>> {
        let c = self.ctx();
        self.run(async move {
            let rows = c
                .client()
                .await?
                .query(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY name"), &[])
                .await
                .map_err(c.err())?;
            rows.iter().map(|r| principal_of(&c, r)).collect()
        })
    }

    fn principal_rekey(
        &self,
        name: &str,
        key: &Secret<32>,
        argon2: Option<crate::kdc::Argon2Params>,
        previous_until: u64,
    ) -> Result<Option<u32>> {
        let (c, name, key) = (self.ctx(), name.to_owned(), key.clone());
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            let row = tx
                .query_opt("SELECT kvno, key, kind FROM principals WHERE name = $1 FOR UPDATE", &[&name])
                .await
                .map_err(&err)?;
            let Some(r) = row else { return Ok(None) };
            let (kvno, sealed, kind): (i64, Vec<u8>, crate::kdc::PrincipalKind) = (r.get(0), r.get(1), col(r.get(2))?);
            let new = u32_of(kvno, "principals.kvno")? + 1;
            let (prev_kvno, prev_key, prev_until) = if previous_until > 0 {
                (Some(kvno), Some(sealed), Some(previous_until as i64))
            } else {
                (None, None, None)
            };
            tx.execute(
                "UPDATE principals SET kvno = $2, key = $3, prev_kvno = $4, prev_key = $5, prev_until = $6,
                 salt = COALESCE($7, salt), argon2_m = COALESCE($8, argon2_m), argon2_t = COALESCE($9, argon2_t),
                 argon2_p = COALESCE($10, argon2_p) WHERE name = $1",
                &[
                    &name,
                    &(new as i64),
                    &c.at_rest.seal(&principal_key_aad(kind, &name, new), key.expose()),
                    &prev_kvno,
                    &prev_key,
                    &prev_until,
                    &argon2.map(|a| a.salt.to_vec()),
                    &argon2.map(|a| a.m_kib as i64),
                    &argon2.map(|a| a.t as i64),
                    &argon2.map(|a| a.p as i64),
                ],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(Some(new))
        })
    }

    fn principal_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let n = c
                .client()
                .await?
                .execute("UPDATE principals SET disabled = $2 WHERE name = $1", &[&name, &disabled])
                .await
                .map_err(c.err())?;
            Ok(n > 0)
        })
    }

    fn principal_delete(&self, name: &str) -> Result<bool> {
        let (c, name) = (self.ctx(), name.to_owned());
        self.run(async move {
            let n =
                c.client().await?.execute("DELETE FROM principals WHERE name = $1", &[&name]).await.map_err(c.err())?;
            Ok(n > 0)
        })
    }

    fn purge_expired(&self, now: u64, grace: u64, rate_window: u64) -> Result<Purged> {
        let c = self.ctx();
        self.run(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            // One instance does this part at a time (the others' hourly purges would only wait
            // on its row locks, or deadlock with it on the multi-row deletes).
            let ours: bool =
                tx.query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PURGE_LOCK]).await.map_err(&err)?.get(0);
            if !ours {
                return Ok(Purged::default());
            }
            let cutoff = now.saturating_sub(grace) as i64;
            tx.execute("UPDATE requests SET cdsk = '' WHERE expires <= $1 AND length(cdsk) > 0", &[&(now as i64)])
                .await
                .map_err(&err)?;
            let requests = tx
                .execute("DELETE FROM requests WHERE status != 'confirmed' AND expires < $1", &[&cutoff])
                .await
                .map_err(&err)?;
            tx.execute("DELETE FROM rate_events WHERE at <= $1", &[&(now.saturating_sub(rate_window) as i64)])
                .await
                .map_err(&err)?;
            tx.execute("DELETE FROM instances WHERE heartbeat < now() - interval '1 day'", &[]).await.map_err(&err)?;
            tx.execute("DELETE FROM hooks WHERE instance NOT IN (SELECT id FROM instances)", &[])
                .await
                .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            // Bundles: a batch at a time, each a short transaction under the mailbox's lock (the
            // deposits and collects of every instance wait on it, at most 5 s; two instances'
            // batches interleave harmlessly). The conditions stand in the outer WHERE too: a row
            // a deposit was storing meanwhile is checked again as it is now.
            let mut bundle_files = Vec::new();
            let batches = async {
                // Reservations of instances that are gone (no deposit is arriving for them), and
                // any older than six hours.
                let stale = format!("NOT stored AND (reserved_by NOT IN ({LIVE}) OR created < $1)");
                loop {
                    let tx = mailbox_tx(&mut db, &err).await?;
                    let n = tx
                        .execute(
                            &format!(
                                "DELETE FROM bundles WHERE {stale} AND id IN (SELECT id FROM bundles WHERE {stale} LIMIT $2)"
                            ),
                            &[&(now.saturating_sub(6 * 3600) as i64), &PURGE_BATCH],
                        )
                        .await
                        .map_err(&err)?;
                    tx.commit().await.map_err(&err)?;
                    if n < PURGE_BATCH as u64 {
                        break;
                    }
                }
                // Expired bundles: their files go, their senders hear so.
                loop {
                    let tx = mailbox_tx(&mut db, &err).await?;
                    let expired = tx
                        .query(
                            "DELETE FROM bundles WHERE stored AND expires <= $1
                               AND id IN (SELECT id FROM bundles WHERE stored AND expires <= $1 LIMIT $2)
                             RETURNING sender, bundle_id, path",
                            &[&(now as i64), &PURGE_BATCH],
                        )
                        .await
                        .map_err(&err)?;
                    let (mut senders, mut ids, mut paths) = (Vec::new(), Vec::new(), Vec::new());
                    for r in &expired {
                        senders.push(r.get::<_, String>(0));
                        ids.push(r.get::<_, Vec<u8>>(1));
                        paths.push(r.get::<_, String>(2));
                    }
                    tx.execute(
                        "UPDATE deliveries d SET state = $3, time = $4 FROM unnest($1::TEXT[], $2::BYTEA[]) AS g(sender, bundle_id)
                         WHERE d.sender = g.sender AND d.bundle_id = g.bundle_id",
                        &[&senders, &ids, &(DeliveryState::Expired as u8 as i16), &(now as i64)],
                    )
                    .await
                    .map_err(&err)?;
                    tx.commit().await.map_err(&err)?;
                    bundle_files.append(&mut paths);
                    if (expired.len() as i64) < PURGE_BATCH {
                        break;
                    }
                }
                Ok::<_, Error>(())
            };
            // Batches committed before a failure are gone from the database: their files must
            // still go (the rest waits for the next purge).
            if let Err(e) = batches.await {
                log::warn!("purging the mailbox (cut short, {} bundle(s) purged so far): {e}", bundle_files.len());
            }
            Ok(Purged { requests: requests as usize, bundle_files })
        })
    }
}

/// The instances on one PostgreSQL database as this one sees them: presence in `hooks`, live
/// instances by their heartbeat, signals by `NOTIFY` on a channel per instance
/// (`sslx_<instance id>`).
pub struct PgCluster {
    ctx: Arc<Ctx>,
    handle: tokio::runtime::Handle,
    address: String,
}

impl PgStore {
    /// This instance as one of several over the database, reachable by participants at
    /// `address` (rings from here name it).
    pub fn cluster(&self, address: &str) -> Result<Arc<PgCluster>> {
        let (c, a) = (self.ctx(), address.to_owned());
        self.run(async move {
            let db = c.client().await?;
            db.execute("UPDATE instances SET address = $2 WHERE id = $1", &[&c.instance, &a]).await.map_err(c.err())?;
            Ok(())
        })?;
        Ok(Arc::new(PgCluster { ctx: self.ctx(), handle: self.handle.clone(), address: address.to_owned() }))
    }
}

/// Live instances: a heartbeat within `GONE_AFTER_SECS`.
const LIVE: &str = "SELECT id FROM instances WHERE heartbeat > now() - make_interval(secs => 30)";

fn channel_of(instance: &str) -> String {
    format!("sslx_{instance}")
}

impl PgCluster {
    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> crate::cds::cluster::ClusterFuture<Result<T>> {
        let task = self.handle.spawn(fut);
        // A task cut short (the store's runtime stopping) is an error, not a panic.
        Box::pin(async move { task.await.unwrap_or_else(|e| Err(Error::Other(format!("the database task: {e}")))) })
    }
}

impl crate::cds::cluster::Cluster for PgCluster {
    fn address(&self) -> &str {
        &self.address
    }

    fn hook_up(
        &self,
        name: &str,
        service: &str,
        hook: u64,
    ) -> crate::cds::cluster::ClusterFuture<Result<Option<(String, u64)>>> {
        let (c, name, service) = (self.ctx.clone(), name.to_owned(), service.to_owned());
        self.spawn(async move {
            let err = c.err();
            let mut db = c.client().await?;
            let tx = db.transaction().await.map_err(&err)?;
            // Two first hooks of one name and service at once: one after the other, so the
            // second sees (and replaces) the first.
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 2))", &[&format!("hook:{name}/{service}")])
                .await
                .map_err(&err)?;
            let before = tx
                .query_opt("SELECT instance, hook FROM hooks WHERE name = $1 AND service = $2 FOR UPDATE", &[&name, &service])
                .await
                .map_err(&err)?
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64));
            tx.execute(
                "INSERT INTO hooks (name, service, instance, hook) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name, service) DO UPDATE SET instance = EXCLUDED.instance, hook = EXCLUDED.hook, since = now()",
                &[&name, &service, &c.instance, &(hook as i64)],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(before.filter(|(i, _)| *i != c.instance))
        })
    }

    fn leave(&self) -> crate::cds::cluster::ClusterFuture<Result<()>> {
        let c = self.ctx.clone();
        self.spawn(async move {
            c.leaving.store(true, std::sync::atomic::Ordering::SeqCst);
            let db = c.client().await?;
            db.execute("DELETE FROM hooks WHERE instance = $1", &[&c.instance]).await.map_err(c.err())?;
            db.execute("DELETE FROM instances WHERE id = $1", &[&c.instance]).await.map_err(c.err())?;
            Ok(())
        })
    }

    fn hang_up(&self, name: &str, service: &str, hook: u64) -> crate::cds::cluster::ClusterFuture<Result<()>> {
        let (c, name, service) = (self.ctx.clone(), name.to_owned(), service.to_owned());
        self.spawn(async move {
            c.client()
                .await?
                .execute(
                    "DELETE FROM hooks WHERE name = $1 AND service = $2 AND instance = $3 AND hook = $4",
                    &[&name, &service, &c.instance, &(hook as i64)],
                )
                .await
                .map_err(c.err())?;
            Ok(())
        })
    }

    fn find(&self, name: &str, service: &str) -> crate::cds::cluster::ClusterFuture<Result<Option<String>>> {
        let (c, name, service) = (self.ctx.clone(), name.to_owned(), service.to_owned());
        self.spawn(async move {
            let row = c
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT instance FROM hooks WHERE name = $1 AND service = $2 AND instance <> $3 AND instance IN ({LIVE})"
                    ),
                    &[&name, &service, &c.instance],
                )
                .await
                .map_err(c.err())?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn instances_of(&self, name: &str) -> crate::cds::cluster::ClusterFuture<Result<Vec<String>>> {
        let (c, name) = (self.ctx.clone(), name.to_owned());
        self.spawn(async move {
            let rows = c
                .client()
                .await?
                .query(
                    &format!("SELECT DISTINCT instance FROM hooks WHERE name = $1 AND instance <> $2 AND instance IN ({LIVE})"),
                    &[&name, &c.instance],
                )
                .await
                .map_err(c.err())?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn send(
        &self,
        instance: &str,
        signal: crate::cds::cluster::Signal,
    ) -> crate::cds::cluster::ClusterFuture<Result<()>> {
        let (c, channel) = (self.ctx.clone(), channel_of(instance));
        self.spawn(async move {
            let payload = signal.seal(&c.at_rest.signal_key(), &channel, crate::clock::now_unix());
            c.client().await?.execute("SELECT pg_notify($1, $2)", &[&channel, &payload]).await.map_err(c.err())?;
            Ok(())
        })
    }

    fn listen(&self, handler: crate::cds::cluster::SignalHandler) -> crate::cds::cluster::ClusterFuture<()> {
        let c = self.ctx.clone();
        let (up_tx, up_rx) = tokio::sync::oneshot::channel();
        self.handle.spawn(async move {
            let mut backoff = crate::net::Backoff::between(Duration::from_millis(200), Duration::from_secs(10));
            let rng = SystemRandom::new();
            let mut up = Some(up_tx);
            loop {
                match listen_once(&c, &handler, &mut up).await {
                    Ok(()) => backoff.reset(),
                    Err(e) => log::warn!("listening for the other instances' signals: {e}"),
                }
                tokio::time::sleep(backoff.next_wait(&rng)).await;
            }
        });
        Box::pin(async move {
            let _ = up_rx.await;
        })
    }
}

/// One listening connection, until it drops: `LISTEN sslx_<id>`, each notification to `handler`;
/// `up` is told once the LISTEN took (the first time only).
async fn listen_once(
    c: &Ctx,
    handler: &crate::cds::cluster::SignalHandler,
    up: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<()> {
    use tokio_postgres::AsyncMessage;
    let err = c.err();
    let (client, mut conn) = match &c.tls {
        None => {
            let (client, conn) = c.config.connect(tokio_postgres::NoTls).await.map_err(&err)?;
            (client, Box::pin(conn) as Pin<Box<dyn ConnStream>>)
        }
        Some(t) => {
            let (client, conn) = c.config.connect(t.clone()).await.map_err(&err)?;
            (client, Box::pin(conn) as Pin<Box<dyn ConnStream>>)
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.as_mut().poll_msg(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    log::warn!("the listening connection to the database: {}", describe(&e));
                    return;
                }
                None => return,
            }
        }
    });
    let channel = channel_of(&c.instance);
    client.batch_execute(&format!("LISTEN {channel}")).await.map_err(&err)?;
    if let Some(up) = up.take() {
        let _ = up.send(());
    }
    let key = c.at_rest.signal_key();
    // Nothing else is asked on this connection: a ping now and then finds one that went deaf
    // (a half-open TCP connection would otherwise lose every signal unnoticed).
    let mut ping = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            got = rx.recv() => {
                let Some(payload) = got else { break };
                match crate::cds::cluster::Signal::open(&payload, &key, &channel, crate::clock::now_unix()) {
                    Some(s) => handler(s),
                    None => log::warn!("a notification on {channel} that is not another instance's signal (dropped): {payload:.80}"),
                }
            }
            _ = ping.tick() => {
                let alive = tokio::time::timeout(Duration::from_secs(10), client.simple_query("SELECT 1")).await;
                if !matches!(alive, Ok(Ok(_))) {
                    log::warn!("the listening connection to the database does not answer: connecting again");
                    break;
                }
            }
        }
    }
    driver.abort();
    drop(client);
    Ok(())
}

use std::pin::Pin;

/// A tokio-postgres connection (plain or TLS) as a source of its asynchronous messages.
trait ConnStream: Send {
    fn poll_msg(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>>;
}

impl<S, T> ConnStream for tokio_postgres::Connection<S, T>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    fn poll_msg(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<tokio_postgres::AsyncMessage, tokio_postgres::Error>>> {
        self.get_mut().poll_message(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_reaches_a_message() {
        for url in ["postgres://sslx:hunter2@db/x", "postgres://sslx@db/x?sslmode=require&password=hunter2"] {
            let r = super::redacted(url);
            assert!(!r.contains("hunter2") && r.contains("***"), "{r}");
        }
        assert_eq!(super::redacted("postgres://sslx@db:5433/x"), "postgres://sslx@db:5433/x");
    }
}
