//! `sslx token mint|verify|resolve|store|serve`: session tokens (seed 001).

use crate::{usage, Ctx};
use anyhow::{Context, Result};
use sslx::cli::args::{MintArgs, ResolveArgs, TokenServeArgs, TokenStoreArgs, VerifyArgs};
use std::process::ExitCode;

pub fn token_err(e: sslx::token::TokenError) -> anyhow::Error {
    sslx::Error::from(e).into()
}

pub fn token_mint(ctx: &Ctx, a: MintArgs) -> Result<ExitCode> {
    use sslx::token::{Fields, Keyring, Mint};
    let identity = sslx::keys::load_identity_file(&a.key)?;
    let ttl = sslx::cli::parse_duration(&a.ttl).map_err(|e| usage(format!("--ttl: {e}")))?;
    let mut fields = Fields::default();
    let version = a.data_version.map(|v| v.to_string());
    for (k, v) in [
        ("User-ID", &a.user),
        ("Email-Address", &a.email),
        ("Telephone", &a.phone),
        ("Postal-Address", &a.address),
        ("Version", &version),
    ] {
        if let Some(v) = v {
            fields.push(k, v).map_err(token_err)?;
        }
    }
    for f in &a.fields {
        fields.push_assignment(f).map_err(token_err)?;
    }
    if let Some(file) = a.fields_file.as_deref() {
        let text = sslx::cli::input::read_input(file, 1 << 20, "fields")?;
        for (k, v) in Fields::parse_input(&text).map_err(|e| usage(format!("--fields {file}: {e}")))?.0 {
            fields.push(&k, &v).map_err(token_err)?;
        }
    }
    let to = match a.to.as_deref() {
        None => None,
        Some(p) => {
            let text = sslx::cli::input::read_input(&p.to_string_lossy(), 1 << 16, "public key file")?;
            Some(Keyring::single(&text).map_err(|e| usage(format!("--to {}: {e}", p.display())))?)
        }
    };
    let now = sslx::cli::now_unix();
    let number = sslx::token::numbers::SessionNumbers::for_key(&a.key).reserve(1, now)?;
    let rng = sslx::crypto::system_rng();
    let signer = sslx::token::Signer::new(&identity);
    let m = Mint { node: a.node, signer: &signer, number, now, ttl, fields: &fields, to, max_len: a.max_size };
    let token = sslx::token::mint(&m, &rng).map_err(token_err)?;
    let handover = match (&a.url, a.cookie) {
        (Some(base), _) => sslx::token::Handover::Url(base.clone()),
        (None, true) => sslx::token::Handover::Cookie { ttl },
        (None, false) => sslx::token::Handover::Bare,
    };
    let out = handover.render(&token);
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "token": token, "output": out, "node": a.node,
            "session_id": format!("{:04x}:{number:012x}", a.node), "expires": sslx::cli::fmt_time(now + ttl),
            "sealed_to": to.map(|(n, _)| n), "length": token.len()}));
    } else {
        println!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token_verify(ctx: &Ctx, a: VerifyArgs) -> Result<ExitCode> {
    use sslx::token::{Keyring, Verifier};
    let text = if a.token == "-" { sslx::cli::input::read_input("-", 1 << 16, "token")? } else { a.token.clone() };
    let keyring = Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
        .map_err(token_err)?;
    let me = match (a.key.as_deref(), a.node) {
        (Some(k), Some(n)) => Some((n, sslx::keys::load_identity_file(k)?)),
        _ => None,
    };
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let v = Verifier {
        keyring: &keyring,
        me: me.as_ref().map(|(n, id)| (*n, id)),
        now: sslx::cli::now_unix(),
        skew,
        max_len: a.max_size,
    };
    let got = sslx::token::verify(&text, &v).map_err(token_err)?;
    ctx.out.token_fields(&got, &got.fields, serde_json::json!({}))?;
    Ok(ExitCode::SUCCESS)
}

pub fn token_resolve(ctx: &Ctx, a: ResolveArgs) -> Result<ExitCode> {
    use sslx::token::{Keyring, Verifier};
    let text = if a.token == "-" { sslx::cli::input::read_input("-", 1 << 16, "token")? } else { a.token.clone() };
    let keyring = Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
        .map_err(token_err)?;
    let id = sslx::keys::load_identity_file(&a.key)?;
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let v =
        Verifier { keyring: &keyring, me: Some((a.node, &id)), now: sslx::cli::now_unix(), skew, max_len: a.max_size };
    let got = sslx::token::verify(&text, &v).map_err(token_err)?;
    let cache = sslx::token::oob::Cache::open(&ctx.home)?;
    let rng = sslx::crypto::system_rng();
    let (fields, fetched) = sslx::token::resolve(text.trim(), &got, &keyring, (a.node, &id), &cache, &rng)?;
    let refs = got.fields.references().len();
    ctx.say(format!("sslx: {refs} out-of-band value(s): {fetched} fetched, {} from the cache", refs - fetched));
    ctx.out.token_fields(&got, &fields, serde_json::json!({"fetched": fetched, "cached": refs - fetched}))?;
    Ok(ExitCode::SUCCESS)
}

pub fn token_store(ctx: &Ctx, a: TokenStoreArgs) -> Result<ExitCode> {
    let items =
        a.items.iter().map(|it| sslx::token::oob::parse_item(it)).collect::<Result<Vec<_>, _>>().map_err(token_err)?;
    let version = sslx::token::oob::DataStore::open(&a.db)?.put(&items)?;
    if ctx.out.json {
        ctx.print_json(serde_json::json!({"ok": true, "version": version}));
    } else {
        println!("{version}");
        ctx.say(format!("sslx: {} value(s) stored; mint tokens with --field Version={version}", items.len()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn token_serve(ctx: &Ctx, a: TokenServeArgs) -> Result<ExitCode> {
    use sslx::token::oob::{ServeConfig, ServeEvent, DIALOGUE_DEADLINE};
    let keyring =
        sslx::token::Keyring::parse(&sslx::cli::input::read_input(&a.keyring.to_string_lossy(), 1 << 20, "keyring")?)
            .map_err(token_err)?;
    let identity = sslx::keys::load_identity_file(&a.key)?;
    let skew = sslx::cli::parse_duration(&a.skew).map_err(|e| usage(format!("--skew: {e}")))?;
    let listener = std::net::TcpListener::bind(&a.listen).with_context(|| format!("binding {}", a.listen))?;
    let cfg = ServeConfig { node: a.node, identity, keyring, db: a.db.clone(), skew, now: sslx::clock::now_unix };
    eprintln!("sslx: node {} answers out-of-band queries on {}", a.node, listener.local_addr()?);
    let quiet = ctx.out.quiet;
    let shutdown = std::sync::atomic::AtomicBool::new(false);
    sslx::token::oob::serve(listener, &cfg, &shutdown, &|event| match event {
        ServeEvent::Answered { peer, client, ids } if !quiet => {
            eprintln!("sslx: node {client} ({peer}) asked for {}", ids.join(", "))
        }
        ServeEvent::Answered { .. } => {}
        ServeEvent::CutOff { peer } => {
            eprintln!("sslx: a query from {peer} was cut off after {} s", DIALOGUE_DEADLINE.as_secs())
        }
        ServeEvent::Refused { peer, error } => eprintln!("sslx: a query from {peer} was refused: {error}"),
        // Not logged: their number is the client's to choose.
        ServeEvent::Busy { .. } => {}
    })?;
    Ok(ExitCode::SUCCESS)
}
