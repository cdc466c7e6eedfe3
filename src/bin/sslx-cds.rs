//! `sslx-cds`: the Common Directory Server. Parses flags, opens the store, binds, serves.

use anyhow::{Context, Result};
use clap::Parser;
use sslx::cds::mail::Mailer;
use sslx::cds::oob::{Oob, OobConfig, SmsGateway};
use sslx::cds::{Cds, CdsConfig, Registrar, RegistrarConfig, Store};
use sslx::cli::args::*;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = match parse_with_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sslx-cds: error: {e:#}");
            return ExitCode::from(sslx::ErrorKind::Usage.exit_code());
        }
    };
    match run(cli) {
        Ok(c) => c,
        Err(e) => sslx::cli::exit::report("sslx-cds", &e),
    }
}

/// The command line, with `serve --config FILE`'s settings for the flags it did not give (a
/// flag or an environment variable given wins over the file).
fn parse_with_config() -> Result<CdsCli> {
    use clap::{CommandFactory, FromArgMatches};
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = CdsCli::command().get_matches_from(&argv);
    let cli = CdsCli::from_arg_matches(&matches)?;
    let (CdsCommand::Serve(a), Some(("serve", m))) = (&cli.command, matches.subcommand()) else { return Ok(cli) };
    let Some(path) = a.config.as_deref() else { return Ok(cli) };
    let serve = CdsCli::command().find_subcommand("serve").expect("serve is a subcommand").clone();
    let given = |id: &str| {
        matches!(
            m.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        )
    };
    let from_file = sslx::cli::config::flags_from_file(path, &serve, given)?;
    let at = argv.iter().position(|x| x == "serve").expect("serve was given") + 1;
    let merged: Vec<_> = argv[..at].iter().cloned().chain(from_file).chain(argv[at..].iter().cloned()).collect();
    CdsCli::try_parse_from(merged).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))
}

fn run(cli: CdsCli) -> Result<ExitCode> {
    match cli.command {
        CdsCommand::Serve(a) => serve(*a),
        CdsCommand::Calls(a) => calls(a),
        CdsCommand::Principal(c) => principal(c),
        CdsCommand::Host(c) => service(c, sslx::kdc::PrincipalKind::Host),
        CdsCommand::Gateway(c) => service(c, sslx::kdc::PrincipalKind::Gateway),
        CdsCommand::Migrate(a) => migrate(a),
        CdsCommand::Release(a) => {
            let store = open_existing_store(&a.store)?;
            if store.release(&a.name)? {
                eprintln!("released {}: the name can be enrolled again by any key", a.name);
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("sslx-cds: error: no participant named {:?} in {}", a.name, db_name(&a.store.db));
                Ok(ExitCode::from(sslx::ErrorKind::NotFound.exit_code()))
            }
        }
    }
}

/// What an admin command did: `line` on stderr, or `json` on stdout with --json.
fn done(json: bool, line: String, v: serde_json::Value) -> Result<ExitCode> {
    if json {
        println!("{v}");
    } else {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `sslx-cds principal …`, `host …`, `gateway …`: the KDC's principals (PROTOCOL.md 5F).
fn principal(c: PrincipalCommand) -> Result<ExitCode> {
    use sslx::kdc::{Argon2Params, PrincipalKind};
    let rng = sslx::crypto::system_rng();
    let now = sslx::cli::now_unix();
    let not_found = |name: &str| -> Result<ExitCode> {
        eprintln!("sslx-cds: error: no principal named {name:?}");
        Ok(ExitCode::from(sslx::ErrorKind::NotFound.exit_code()))
    };
    let password = |name: &str, file: Option<&str>| -> Result<zeroize::Zeroizing<String>> {
        // --password-file, when given, wins over SSLX_PASSWORD.
        let env = std::env::var("SSLX_PASSWORD").ok().filter(|_| file.is_none());
        let (from_env, file_given) = (env.is_some(), file.is_some());
        let p = zeroize::Zeroizing::new(sslx::cli::input::secret(
            env,
            file,
            &format!("password for {name}: "),
            "SSLX_PASSWORD",
        )?);
        if !from_env && !file_given {
            let again =
                zeroize::Zeroizing::new(sslx::cli::input::secret(None, None, "the same again: ", "SSLX_PASSWORD")?);
            if *again != *p {
                return Err(sslx::Error::Usage("the two passwords differ; nothing changed".into()).into());
            }
        }
        if p.is_empty() {
            return Err(sslx::Error::Usage("an empty password: nothing changed".into()).into());
        }
        Ok(p)
    };
    let derive = |pw: &str, m_kib: u32, t: u32, p: u32| -> Result<(sslx::crypto::Secret<32>, Argon2Params)> {
        let params = Argon2Params { salt: sslx::crypto::random_array(&rng), m_kib, t, p };
        let (mm, mt, mp) = sslx::kdc::MAX_ARGON2;
        if m_kib > mm || t > mt || p > mp || t == 0 || p == 0 || m_kib < 8 * p {
            return Err(sslx::Error::Usage(format!(
                "Argon2id costs out of range: memory 8 x lanes to {mm} KiB, passes 1 to {mt}, lanes 1 to {mp}"
            ))
            .into());
        }
        Ok((sslx::kdc::tickets::user_key(pw.as_bytes(), &params)?, params))
    };
    match c {
        PrincipalCommand::Add(a) => {
            sslx::keys::check_name(&a.name)?;
            let store = open_existing_store(&a.db.store)?;
            if store.principal(&a.name)?.is_some() {
                return Err(sslx::Error::Usage(format!("a principal named {:?} exists already", a.name)).into());
            }
            let pw = password(&a.name, a.password_file.as_deref())?;
            let (key, params) = derive(&pw, a.argon2_memory, a.argon2_passes, a.argon2_lanes)?;
            let row = sslx::cds::store::PrincipalRow {
                name: a.name.clone(),
                kind: PrincipalKind::User,
                kvno: 1,
                key,
                previous: None,
                argon2: Some(params),
                disabled: false,
                created: now,
            };
            if !store.principal_add(&row)? {
                return Err(sslx::Error::Usage(format!("a principal named {:?} exists already", a.name)).into());
            }
            done(
                a.db.json,
                format!(
                    "added the user {} (Argon2id: {} KiB, {} passes, {} lane(s))",
                    a.name, params.m_kib, params.t, params.p
                ),
                serde_json::json!({"added": a.name, "kind": "user", "kvno": 1,
                    "argon2": {"memory_kib": params.m_kib, "passes": params.t, "lanes": params.p}}),
            )
        }
        PrincipalCommand::Passwd(a) => {
            let store = open_existing_store(&a.db.store)?;
            let Some(p) = store.principal(&a.name)?.filter(|p| p.kind == PrincipalKind::User) else {
                return not_found(&a.name);
            };
            let old = p.argon2.expect("a user has its costs");
            let pw = password(&a.name, a.password_file.as_deref())?;
            let (key, params) = derive(&pw, old.m_kib, old.t, old.p)?;
            let kvno = store.principal_rekey(&a.name, &key, Some(params), 0)?;
            done(
                a.db.json,
                format!("set the password of {}", a.name),
                serde_json::json!({"password_set": a.name, "kvno": kvno}),
            )
        }
        PrincipalCommand::Disable(a) => {
            let store = open_existing_store(&a.db.store)?;
            if !store.principal_set_disabled(&a.name, true)? {
                return not_found(&a.name);
            }
            done(
                a.db.json,
                format!("disabled {}: refused from now on", a.name),
                serde_json::json!({"disabled": a.name}),
            )
        }
        PrincipalCommand::Enable(a) => {
            let store = open_existing_store(&a.db.store)?;
            if !store.principal_set_disabled(&a.name, false)? {
                return not_found(&a.name);
            }
            done(a.db.json, format!("enabled {}", a.name), serde_json::json!({"enabled": a.name}))
        }
        PrincipalCommand::Del(a) => {
            let store = open_existing_store(&a.db.store)?;
            if !store.principal_delete(&a.name)? {
                return not_found(&a.name);
            }
            done(a.db.json, format!("deleted {}", a.name), serde_json::json!({"deleted": a.name}))
        }
        PrincipalCommand::List(a) => {
            use sslx::db::Column;
            let store = open_existing_store(&a.db.store)?;
            let mut out = std::io::stdout().lock();
            for p in store.principals()? {
                let state = if p.disabled { "disabled" } else { "enabled" };
                if a.db.json {
                    let v = serde_json::json!({"name": p.name, "kind": p.kind.as_str(), "kvno": p.kvno, "state": state,
                        "created": sslx::cli::fmt_time(p.created), "created_unix": p.created,
                        "argon2": p.argon2.map(|x| serde_json::json!({"memory_kib": x.m_kib, "passes": x.t, "lanes": x.p})),
                        "previous_key_until": p.previous.as_ref().map(|(_, _, u)| sslx::cli::fmt_time(*u))});
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "{:<24} {:<8} kvno {:<3} {:<9} since {}",
                        p.name,
                        p.kind.as_str(),
                        p.kvno,
                        state,
                        sslx::cli::fmt_time(p.created)
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn service(c: ServiceCommand, kind: sslx::kdc::PrincipalKind) -> Result<ExitCode> {
    use sslx::kdc::keytab::{KeyEntry, KeyTable};
    let rng = sslx::crypto::system_rng();
    let now = sslx::cli::now_unix();
    let what = if kind == sslx::kdc::PrincipalKind::Host { "host" } else { "gateway" };
    match c {
        ServiceCommand::Add(a) => {
            sslx::keys::check_name(&a.name)?;
            let store = open_existing_store(&a.db.store)?;
            if a.keytab.exists() {
                return Err(sslx::Error::Usage(format!("{} exists: give another --keytab", a.keytab.display())).into());
            }
            let key: sslx::crypto::Secret<32> = sslx::crypto::Secret::random(&rng);
            let row = sslx::cds::store::PrincipalRow {
                name: a.name.clone(),
                kind,
                kvno: 1,
                key: key.clone(),
                previous: None,
                argon2: None,
                disabled: false,
                created: now,
            };
            // The key table is written beside its place first, the principal committed, then
            // the table renamed in: a failure at any step leaves neither half.
            let table =
                KeyTable { principal: a.name.clone(), kind, keys: vec![KeyEntry { kvno: 1, key, until: None }] };
            let new = table.save_beside(&a.keytab)?;
            match store.principal_add(&row) {
                Ok(true) => KeyTable::put_in_place(&new, &a.keytab)?,
                Ok(false) => {
                    let _ = std::fs::remove_file(&new);
                    return Err(sslx::Error::Usage(format!("a principal named {:?} exists already", a.name)).into());
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&new);
                    return Err(e.into());
                }
            }
            done(
                a.db.json,
                format!("added the {what} {}; its key table is {} (0600)", a.name, a.keytab.display()),
                serde_json::json!({"added": a.name, "kind": what, "kvno": 1, "keytab": a.keytab}),
            )
        }
        ServiceCommand::Rotate(a) => {
            let grace = sslx::cli::parse_duration(&a.grace).map_err(|e| sslx::Error::Usage(format!("--grace: {e}")))?;
            let store = open_existing_store(&a.db.store)?;
            let Some(p) = store.principal(&a.name)?.filter(|p| p.kind == kind) else {
                eprintln!("sslx-cds: error: no {what} named {:?}", a.name);
                return Ok(ExitCode::from(sslx::ErrorKind::NotFound.exit_code()));
            };
            let key: sslx::crypto::Secret<32> = sslx::crypto::Secret::random(&rng);
            let until = now + grace;
            let table = KeyTable {
                principal: a.name.clone(),
                kind,
                keys: vec![
                    KeyEntry { kvno: p.kvno + 1, key: key.clone(), until: None },
                    KeyEntry { kvno: p.kvno, key: p.key.clone(), until: Some(until) },
                ],
            };
            let new = table.save_beside(&a.keytab)?;
            let kvno = match store.principal_rekey(&a.name, &key, None, until) {
                Ok(Some(v)) if v == p.kvno + 1 => v,
                done => {
                    let _ = std::fs::remove_file(&new);
                    return Err(match done {
                        Err(e) => e.into(),
                        // Deleted, or rotated by someone else, meanwhile: the table would be wrong.
                        _ => anyhow::anyhow!("{} changed while it was rotated: run the rotation again", a.name),
                    });
                }
            };
            KeyTable::put_in_place(&new, &a.keytab)?;
            done(
                a.db.json,
                format!(
                    "rotated the {what} {}: key {kvno} in {}; key {} stays valid until {}",
                    a.name,
                    a.keytab.display(),
                    p.kvno,
                    sslx::cli::fmt_time(until)
                ),
                serde_json::json!({"rotated": a.name, "kind": what, "kvno": kvno, "keytab": a.keytab,
                    "previous_kvno": p.kvno, "previous_valid_until": sslx::cli::fmt_time(until),
                    "previous_valid_until_unix": until}),
            )
        }
    }
}

/// The store of a CDS that has run: the admin commands read an existing database, never make
/// one (a SQLite file must exist; a PostgreSQL database is brought to this schema).
fn open_existing_store(a: &StoreArgs) -> Result<Box<dyn Store>> {
    if !is_postgres(&a.db) && !a.db.exists() {
        return Err(sslx::Error::NotFound(format!(
            "no CDS database at {}: give the --db of the sslx-cds serve that keeps it",
            a.db.display()
        ))
        .into());
    }
    let pg = sslx::cds::store::PgSettings { ca: a.db_ca.clone(), pool_size: 2, ..Default::default() };
    open_store(&a.db, a.key_file.as_deref(), pg)
}

fn open_store(
    db: &std::path::Path,
    key_file: Option<&std::path::Path>,
    pg: sslx::cds::store::PgSettings,
) -> Result<Box<dyn Store>> {
    sslx::cds::store::open(db, key_file, pg).with_context(|| format!("opening the database {}", db_name(db)))
}

fn is_postgres(db: &std::path::Path) -> bool {
    db.to_str().is_some_and(sslx::cds::store::is_postgres_url)
}

/// The database as messages name it (a URL without its password).
fn db_name(db: &std::path::Path) -> String {
    match db.to_str() {
        Some(d) if sslx::cds::store::is_postgres_url(d) => sslx::cds::store::redacted(d),
        _ => db.display().to_string(),
    }
}

/// `sslx-cds migrate`: the schema brought to this version, nothing else changed.
fn migrate(a: MigrateArgs) -> Result<ExitCode> {
    let db = &a.store.db;
    if is_postgres(db) {
        let ca_pem = a
            .store
            .db_ca
            .as_ref()
            .map(|p| std::fs::read(p).with_context(|| format!("--db-ca {}", p.display())))
            .transpose()?;
        let opts = sslx::cds::store::PgOptions {
            url: db.to_string_lossy().into_owned(),
            ca_pem,
            pool_size: 1,
            serving: false,
        };
        let (before, after) = sslx::cds::store::PgStore::migrate_only(&opts)
            .with_context(|| format!("migrating the database {}", db_name(db)))?;
        say_migrated(db, before, after);
        return Ok(ExitCode::SUCCESS);
    }
    if !db.exists() {
        return Err(sslx::Error::NotFound(format!("no CDS database at {}: nothing to migrate", db.display())).into());
    }
    let before = sslx::db::schema_version(db)?;
    open_existing_store(&a.store)?;
    say_migrated(db, before, sslx::cds::store::SCHEMA.version());
    Ok(ExitCode::SUCCESS)
}

fn say_migrated(db: &std::path::Path, before: u32, after: u32) {
    if before == after {
        eprintln!("{}: schema version {after}, this sslx's: nothing to do", db_name(db));
    } else {
        eprintln!("{}: schema version {before} -> {after}", db_name(db));
    }
}

fn limit(flag: &str, v: &str) -> Result<Option<sslx::cds::store::Limit>> {
    sslx::cds::registrar::parse_limit(v).map_err(|e| anyhow::Error::from(sslx::Error::Usage(format!("--{flag}: {e}"))))
}

/// `--phone-prefixes`: each a + and 1 to 4 digits.
fn phone_prefixes(given: &[String]) -> Result<Vec<String>> {
    given
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let digits = p.strip_prefix('+').unwrap_or("");
            if (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(p.to_owned())
            } else {
                Err(sslx::Error::Usage(format!("--phone-prefixes: {p:?} is not a country code like +1 or +44")).into())
            }
        })
        .collect()
}

fn serve(a: ServeArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(serve_async(a))
}

async fn serve_async(a: ServeArgs) -> Result<ExitCode> {
    let log =
        sslx::cli::logfile::LineLog::install("sslx-cds", a.log_file.as_deref()).with_context(|| match &a.log_file {
            Some(p) => format!("opening the log {}", p.display()),
            None => "setting up the log".to_owned(),
        })?;
    // --dev: everything in a temp dir that lives as long as the process.
    let dev_dir = if a.dev { Some(tempfile::Builder::new().prefix("sslx-cds-dev-").tempdir()?) } else { None };
    let in_dev = |sub: &str| dev_dir.as_ref().map(|d| d.path().join(sub));
    let db = a.db.clone().or_else(|| in_dev("cds.db")).unwrap_or_else(|| "sslx-cds.db".into());
    let postgres = is_postgres(&db);
    // Nothing lies beside a URL: the key file and the mailbox are given (or in --dev's temp dir).
    let key_file = a.key_file.clone().or_else(|| if postgres { in_dev("cds.key") } else { None });
    if postgres && a.mailbox_dir.is_none() && !a.dev {
        return Err(sslx::Error::Usage(
            "a PostgreSQL database needs --mailbox-dir: where bundles wait, a directory every instance mounts at the same path"
                .into(),
        )
        .into());
    }
    let outbox = a.outbox.clone().or_else(|| if a.smtp.is_none() { in_dev("outbox") } else { None });
    let oob_dir = a.oob_dir.clone().or_else(|| in_dev("oob"));
    // Reply B and the PINs are written there: 0700 folders (refused when others can write in
    // them), 0600 files.
    for d in outbox.iter().chain(oob_dir.iter()) {
        sslx::keys::private_dir(d)?;
    }
    let limits = sslx::cds::RateLimits {
        per_source: limit("rate-source", &a.rate_source)?,
        per_email: limit("rate-email", &a.rate_email)?,
        per_oob: limit("rate-oob", &a.rate_oob)?,
        total: limit("rate-open-total", &a.rate_open_total)?,
        phone_total: limit("rate-phone-total", &a.rate_phone_total)?,
    };
    let mailer = match (&a.smtp, &outbox) {
        (Some(url), _) => {
            let ca = a
                .smtp_ca
                .as_ref()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            Mailer::smtp(url, ca.as_deref()).map_err(sslx::Error::Usage)?
        }
        (None, Some(dir)) => Mailer::outbox(dir.clone())?,
        (None, None) => {
            return Err(sslx::Error::Usage(
                "no way to send email: give --smtp URL (or SSLX_SMTP), --outbox DIR, or --dev".into(),
            )
            .into())
        }
    };
    let sms = match &a.twilio_url {
        Some(url) => Some(SmsGateway {
            base_url: url.clone(),
            account_sid: std::env::var("SSLX_TWILIO_SID").context("--twilio-url needs SSLX_TWILIO_SID")?,
            auth_token: std::env::var("SSLX_TWILIO_TOKEN").context("--twilio-url needs SSLX_TWILIO_TOKEN")?,
            from: std::env::var("SSLX_TWILIO_FROM").context("--twilio-url needs SSLX_TWILIO_FROM")?,
        }),
        None => None,
    };
    let listener =
        sslx::cds::limits::bind(&a.listen).await.with_context(|| format!("binding --listen {}", a.listen))?;
    let http = sslx::cds::limits::bind(&a.http).await.with_context(|| format!("binding --http {}", a.http))?;
    let listen_addr = listener.local_addr()?;
    let http_url = format!("http://{}", http.local_addr()?);
    let public_http = a.public_http.clone().unwrap_or_else(|| http_url.clone());
    let rng = sslx::crypto::system_rng();
    // Rings from this instance name the address participants reach it at.
    let host_port = |at: &str| {
        at.len() <= 255
            && !at.contains(',')
            && at.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
    };
    let announce: Vec<&str> =
        a.announce.iter().flat_map(|l| l.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect();
    if let Some(bad) = announce.iter().find(|at| !host_port(at)) {
        return Err(sslx::Error::Usage(format!("--announce: {bad:?} is not HOST:PORT")).into());
    }
    let announce = announce.join(",");
    if announce.len() > 4096 {
        return Err(sslx::Error::Usage("--announce: at most 4096 bytes of addresses".into()).into());
    }
    let advertise = match &a.advertise {
        Some(at) => {
            let ok = host_port(at);
            if !ok {
                return Err(sslx::Error::Usage(format!(
                    "--advertise {at:?}: give one HOST:PORT (at most 255 bytes) where participants reach this instance"
                ))
                .into());
            }
            at.clone()
        }
        None if listen_addr.ip().is_unspecified() && postgres => {
            return Err(sslx::Error::Usage(format!(
                "--listen {listen_addr} is every address: give --advertise HOST:PORT, where participants reach this instance"
            ))
            .into())
        }
        None => listen_addr.to_string(),
    };
    let pg = sslx::cds::store::PgSettings {
        ca: a.db_ca.clone(),
        pool_size: a.db_pool.max(2),
        serving: true,
        advertise: Some(advertise.clone()),
    };
    let (store, cluster) = sslx::cds::store::open_serving(&db, key_file.as_deref(), pg)
        .with_context(|| format!("opening the database {}", db_name(&db)))?;
    let cfg = RegistrarConfig {
        request_ttl: a.request_ttl,
        max_attempts: a.max_attempts.max(1),
        key_life: a.key_life_days * 86400,
        pin_digits: a.pin_digits as usize,
        cds_http: public_http.clone(),
        cds_addresses: announce,
        limits,
    };
    let registrar = Registrar::new(store, cfg, &rng)?;
    let oob = Oob::new(OobConfig {
        dir: oob_dir.clone(),
        sms,
        exec: a.oob_exec.clone(),
        allow_http: a.allow_http_webhooks,
        allow_private: a.allow_private_webhooks,
        phone_prefixes: phone_prefixes(&a.phone_prefixes)?,
    });
    // As many descriptors as the system lets us have, and limits that fit in them.
    let nofile = sslx::cds::limits::raise_nofile();
    let max_working = a.max_working.max(2);
    let conn_limits = sslx::cds::limits::ConnLimits {
        per_source: a.max_waiting_per_source.max(1),
        max_working,
        max_opening: (max_working / 4).max(1),
        streams_per_participant: a.streams_per_participant.max(1),
        splice_idle: std::time::Duration::from_secs(a.splice_idle.max(1)),
        hook_keepalive: std::time::Duration::from_secs(a.hook_keepalive.into()),
        ..Default::default()
    }
    .fit(nofile);
    let mut relay = sslx::cds::relay::Relay::new(!a.no_source_check);
    relay.cluster = cluster;
    // Every bundle counts as at least BUNDLE_FLOOR: a smaller quota would take none.
    for (flag, q) in [
        ("--mailbox-quota", a.mailbox_quota),
        ("--mailbox-sender-quota", a.mailbox_sender_quota),
        ("--mailbox-sender-total", a.mailbox_sender_total),
        ("--mailbox-total", a.mailbox_total),
    ] {
        let floor = sslx::cds::store::BUNDLE_FLOOR;
        if q < floor {
            return Err(sslx::Error::Usage(format!(
                "{flag} {q}: at least {floor} (every bundle counts as {floor} bytes or more, so less would take none)"
            ))
            .into());
        }
    }
    let mut mailbox_name = db.clone().into_os_string();
    mailbox_name.push(".mailbox");
    let mailbox_dir = a
        .mailbox_dir
        .clone()
        .or_else(|| if postgres { in_dev("mailbox") } else { None })
        .unwrap_or_else(|| mailbox_name.into());
    // Bundles' paths are kept in the database: the same on every instance, whatever its cwd.
    let mailbox_dir =
        std::path::absolute(&mailbox_dir).with_context(|| format!("--mailbox-dir {}", mailbox_dir.display()))?;
    sslx::keys::private_dir(&mailbox_dir)?;
    relay.mailbox = sslx::cds::mailbox::MailboxConfig {
        dir: Some(mailbox_dir.clone()),
        quota: a.mailbox_quota,
        per_sender: a.mailbox_sender_quota,
        sender_total: a.mailbox_sender_total,
        total: a.mailbox_total,
        min_free: a.mailbox_min_free,
        ttl: a.mailbox_days.saturating_mul(86400),
    };
    let cfg = CdsConfig {
        mail_from: a.mail_from.clone(),
        conn: conn_limits,
        health_detail: a.health_detail,
        drain: std::time::Duration::from_secs(a.drain_timeout),
    };
    let cds = Arc::new(Cds { registrar, relay, mailer, oob, cfg, rng, clock: Box::new(sslx::clock::SystemClock) });
    if cds.cfg.conn.max_working < a.max_working {
        log::warn!(
            "the open-file limit is {nofile}: at most {} requests at once, {} waiting connections \
             (raise LimitNOFILE / ulimit -n for more)",
            cds.cfg.conn.max_working,
            cds.cfg.conn.max_pending
        );
    }
    // Several instances: the others' signals are listened for before anyone is told we are up.
    sslx::cds::serve::listen_to_cluster(&cds).await;

    let info = serde_json::json!({
        "listen": listen_addr.to_string(),
        "http": http_url,
        "db": db_name(&db),
        "key_file": key_file.clone().unwrap_or_else(|| sslx::cds::store::default_key_file(&db)),
        "mailbox_dir": mailbox_dir,
        "outbox": outbox.as_ref().map(|p| p.display().to_string()),
        "oob_dir": oob_dir.as_ref().map(|p| p.display().to_string()),
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{info}")?;
        out.flush()?;
    }
    log::info!(
        "protocol on {listen_addr}, standing on {public_http}/v1/standing/NAME, email via {}",
        cds.mailer.describe()
    );
    if let Some(d) = &oob_dir {
        log::info!("out-of-band messages go to {}", d.display());
    }
    if a.dev {
        log::info!("--dev: all state is thrown away when this process ends");
        // For the person trying it: lines to paste into the shells that run `sslx`.
        eprintln!("# for the shells that run sslx (the outbox and out-of-band folders hold reply B and the PIN):");
        eprintln!("export SSLX_CDS={listen_addr}");
        eprintln!("export SSLX_CDS_HTTP={http_url}");
    }
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut hup) = (signal(SignalKind::terminate())?, signal(SignalKind::hangup())?);
    // SIGHUP: the log file again by its name (logrotate moved the old one).
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match log.reopen() {
                Ok(()) => log::info!("SIGHUP: the log reopened"),
                Err(e) => eprintln!("sslx-cds: SIGHUP: reopening the log: {e}"),
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => log::info!("SIGINT: stopping"),
            _ = term.recv() => log::info!("SIGTERM: stopping"),
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    };
    // Under systemd (Type=notify): ready once both ports are bound and the store is open.
    let status = format!("protocol on {listen_addr}, HTTP on {http_url}");
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)]) {
        log::warn!("telling the service manager we are ready: {e}");
    }
    sslx::cds::serve(listener, http, cds, shutdown).await?;
    log::info!("stopped");
    drop(dev_dir);
    Ok(ExitCode::SUCCESS)
}

/// The billing tape: every call since a time, as CSV or JSON lines.
fn calls(a: CallsArgs) -> Result<ExitCode> {
    let since = match a.since.as_deref() {
        None => 0,
        Some(t) => parse_time(t).with_context(|| {
            format!("--since {t:?}: give Unix seconds, an RFC 3339 time, or an age like 90m, 24h, 7d")
        })?,
    };
    let store = open_existing_store(&a.store)?;
    let rows = store.calls_since(since)?;
    let mut out = std::io::stdout().lock();
    match a.format {
        CallsFormat::Json => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        CallsFormat::Csv => {
            // Quoted by the csv crate; a field that a spreadsheet would run as a formula
            // (= + - @ first) gets a leading apostrophe.
            let mut w = csv::Writer::from_writer(out);
            w.write_record(["tracking_id", "caller", "callee", "start", "end", "bytes_up", "bytes_down", "result"])?;
            for r in &rows {
                let end = r.end.map(sslx::cli::fmt_time).unwrap_or_default();
                w.write_record([
                    r.tracking_id.clone(),
                    cell(&r.caller),
                    cell(&r.callee),
                    sslx::cli::fmt_time(r.start),
                    end,
                    r.bytes_up.to_string(),
                    r.bytes_down.to_string(),
                    cell(&r.result),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV cell that a spreadsheet will show, never evaluate.
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Unix seconds, RFC 3339, or an age before now (`90m`, `24h`, `7d`).
fn parse_time(t: &str) -> Result<u64> {
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    if let Ok(d) = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
        return Ok(d.unix_timestamp().max(0) as u64);
    }
    let secs = sslx::cli::parse_duration(t).map_err(anyhow::Error::msg)?;
    Ok(sslx::cli::now_unix().saturating_sub(secs))
}
