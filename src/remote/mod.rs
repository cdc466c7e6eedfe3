//! Remote execution, the client's side (seed 003, first patent): `sslx login` asks a gateway to
//! log the user in at the KDC and keeps the credentials cache it hands back (boxes 601-613);
//! `sslx logout` forgets it. The gateway's HTTPS API is PROTOCOL.md 5G.

pub mod tls;

use crate::kdc::CredentialsCache;
use crate::keys::Home;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The home's credentials cache (secret).
pub const CREDENTIALS_FILE: &str = "credentials";

/// `POST /v1/login`'s body.
#[derive(Serialize, Deserialize)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

impl Drop for LoginRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// `POST /v1/login`'s answer.
#[derive(Serialize, Deserialize)]
pub struct LoginAnswer {
    pub user: String,
    /// The credentials cache's text form (`sslx-ccache1:…`).
    pub credentials_cache: String,
    pub expires: u64,
}

impl Drop for LoginAnswer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.credentials_cache);
    }
}

/// Every error the gateway answers: a stable `error` and a sentence.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
    pub message: String,
}

/// The `error` of each kind of failure, and back.
pub fn error_name(e: &Error) -> (u16, &'static str) {
    use crate::ErrorKind::*;
    match e {
        Error::Refused { code, .. } if *code == crate::wire::RefusalCode::Disabled as u16 => (403, "disabled"),
        Error::Refused { code, .. } if *code == crate::wire::RefusalCode::NotAllowed as u16 => (403, "denied"),
        _ => match e.kind() {
            VerifyFailed => (401, "authentication_failed"),
            Expired => (401, "expired"),
            NotFound => (404, "not_found"),
            Unavailable => (502, "kdc_unavailable"),
            Usage | Malformed => (400, "bad_request"),
            Refused => (403, "refused"),
            _ => (500, "internal"),
        },
    }
}

fn error_from(answer: ErrorAnswer) -> Error {
    let m = answer.message;
    match answer.error.as_str() {
        "authentication_failed" => Error::VerifyFailed(format!("the gateway's KDC refused: {m}")),
        "expired" => Error::Expired {
            what: m,
            now: crate::clock::fmt_time(crate::clock::now_unix()),
            edge: "at the gateway".into(),
        },
        "disabled" => Error::Refused {
            code: crate::wire::RefusalCode::Disabled as u16,
            reason: format!("at the gateway's KDC: {m}"),
        },
        "denied" => Error::Refused { code: crate::wire::RefusalCode::NotAllowed as u16, reason: m },
        "not_found" => Error::NotFound(m),
        "kdc_unavailable" | "busy" => Error::Unavailable(m),
        "bad_request" => Error::Usage(m),
        "refused" => Error::Refused { code: crate::wire::RefusalCode::BadRequest as u16, reason: m },
        _ => Error::Other(format!("the gateway: {m}")),
    }
}

/// `POST /v1/exec`'s body: the credentials cache, the host, the command and its input.
#[derive(Serialize, Deserialize)]
pub struct ExecRequest {
    pub credentials_cache: String,
    pub host: String,
    pub argv: Vec<String>,
    /// The local user asked for (empty: the host's ACL chooses).
    #[serde(default)]
    pub as_user: String,
    /// The command's whole stdin, base64 (standard, padded).
    #[serde(default)]
    pub stdin: String,
}

impl Drop for ExecRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.credentials_cache);
    }
}

/// One line (NDJSON) of `POST /v1/exec`'s answer, as they come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ExecEvent {
    /// The host accepted the command; it runs as `local_user`.
    Started { host: String, local_user: String },
    /// A piece of its stdout, base64.
    Stdout { data: String },
    /// A piece of its stderr, base64.
    Stderr { data: String },
    /// It exited with `code`.
    Exit { code: u8 },
    /// A signal ended it.
    Signal { signal: u8 },
    /// The session broke after the start (what was said before stands).
    Error { error: String, message: String },
}

/// What `sslx login` keeps: the gateway it logged in at (and its certificate's fingerprint, if
/// pinned) and the credentials cache. The file (0600):
/// `# comment` / `gateway URL [FINGERPRINT]` / the cache's text form.
pub struct Credentials {
    pub gateway: String,
    pub fingerprint: Option<String>,
    pub cache: CredentialsCache,
}

impl Credentials {
    pub fn save(&self, home: &Home) -> Result<()> {
        let pin = self.fingerprint.as_deref().map(|f| format!(" {f}")).unwrap_or_default();
        let text = zeroize::Zeroizing::new(format!(
            "# sslx credentials of {} from the gateway {}, valid until {}\ngateway {}{pin}\n{}\n",
            self.cache.user,
            self.gateway,
            crate::clock::fmt_time(self.cache.expires),
            self.gateway,
            self.cache.to_text()?.as_str()
        ));
        home.ensure()?;
        crate::keys::write_secret_atomic(&home.path(CREDENTIALS_FILE), text.as_bytes())
    }

    /// The home's credentials, `None` when nobody logged in.
    pub fn load(home: &Home) -> Result<Option<Self>> {
        let p = home.path(CREDENTIALS_FILE);
        if !p.exists() {
            return Ok(None);
        }
        let text = zeroize::Zeroizing::new(crate::keys::read_secret_file(&p)?);
        let damaged = |what: &str| crate::keys::KeyError::Damaged { path: p.display().to_string(), what: what.into() };
        let mut gateway = None;
        let mut cache = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if let Some(rest) = line.strip_prefix("gateway ") {
                let mut f = rest.split_whitespace();
                gateway = Some((f.next().unwrap_or("").to_owned(), f.next().map(str::to_owned)));
            } else {
                cache = Some(
                    CredentialsCache::from_text(line).map_err(|e| damaged(&format!("the credentials cache: {e}")))?,
                );
            }
        }
        let ((gateway, fingerprint), cache) =
            gateway.zip(cache).ok_or_else(|| damaged("not a gateway line and a credentials cache"))?;
        Ok(Some(Credentials { gateway, fingerprint, cache }))
    }
}

/// How long `sslx login` waits for the gateway (it derives the user key and asks the KDC twice).
pub const LOGIN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `POST {gateway}/v1/login`: the credentials cache for `user`.
pub async fn login(gateway: &str, fingerprint: Option<&str>, user: &str, password: &str) -> Result<CredentialsCache> {
    crate::keys::check_name(user)?;
    let url = format!("{}/v1/login", gateway.trim_end_matches('/'));
    if !url.starts_with("https://") {
        return Err(Error::Usage(format!("{gateway:?}: the gateway is reached over HTTPS only (https://HOST:PORT)")));
    }
    let client = tls::client(fingerprint, LOGIN_WAIT)?;
    let body = LoginRequest { user: user.to_owned(), password: password.to_owned() };
    let r = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            let why = chain(&e);
            if why.contains("invalid peer certificate") || why.contains("the gateway's certificate is") {
                Error::VerifyFailed(format!(
                    "the gateway at {gateway} is not the one trusted ({}); a --dev gateway's certificate is self-signed: give --gateway-fingerprint sha256:… as it printed",
                    why.rsplit(": ").next().unwrap_or(&why)
                ))
            } else {
                Error::Unavailable(format!("cannot reach the gateway at {gateway}: {why}"))
            }
        })?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| Error::Unavailable(format!("reading the gateway's answer: {e}")))?;
    if bytes.len() > 64 * 1024 {
        return Err(Error::Other("the gateway's answer is over 64 KiB".into()));
    }
    if !status.is_success() {
        return Err(answered_error(status, &bytes, gateway));
    }
    let answer: LoginAnswer = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(format!("the gateway's login answer is not valid: {e}")))?;
    let cache = CredentialsCache::from_text(&answer.credentials_cache)
        .map_err(|e| Error::Other(format!("the gateway's credentials cache is not valid: {e}")))?;
    if cache.user != user {
        return Err(Error::VerifyFailed(format!("the gateway logged in {:?}, not {user:?}", cache.user)));
    }
    Ok(cache)
}

/// How long `sslx exec` waits for the gateway's next event (the command's output streams).
pub const EXEC_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// `POST {gateway}/v1/exec`: runs the command, giving each event to `on_event` as it comes;
/// returns the last (exit or signal). Failures before the host accepted it are errors.
pub async fn exec(
    creds: &Credentials,
    req: &ExecRequest,
    mut on_event: impl FnMut(&ExecEvent) -> Result<()>,
) -> Result<ExecEvent> {
    let gateway = &creds.gateway;
    let url = format!("{}/v1/exec", gateway.trim_end_matches('/'));
    let client = tls::client(creds.fingerprint.as_deref(), EXEC_WAIT)?;
    let mut r = client.post(&url).json(req).send().await.map_err(|e| {
        let why = chain(&e);
        Error::Unavailable(format!("cannot reach the gateway at {gateway}: {why}"))
    })?;
    if !r.status().is_success() {
        let status = r.status();
        let bytes = r.bytes().await.map_err(|e| Error::Unavailable(format!("reading the gateway's answer: {e}")))?;
        return Err(answered_error(status, &bytes[..bytes.len().min(64 * 1024)], gateway));
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut last = None;
    loop {
        let chunk =
            r.chunk().await.map_err(|e| Error::Unavailable(format!("the gateway's stream broke: {}", chain(&e))))?;
        let Some(chunk) = chunk else { break };
        pending.extend_from_slice(&chunk);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let ev: ExecEvent = serde_json::from_slice(&line)
                .map_err(|e| Error::Other(format!("the gateway sent an event that is not valid: {e}")))?;
            if let ExecEvent::Error { error, message } = &ev {
                return Err(error_from(ErrorAnswer { error: error.clone(), message: message.clone() }));
            }
            on_event(&ev)?;
            last = Some(ev);
        }
        if pending.len() > 8 << 20 {
            return Err(Error::Other("the gateway sent a line over 8 MiB".into()));
        }
    }
    match last {
        Some(ev @ (ExecEvent::Exit { .. } | ExecEvent::Signal { .. })) => Ok(ev),
        _ => Err(Error::Unavailable(format!("the gateway at {gateway} ended the stream before the command ended"))),
    }
}

/// The error a gateway's failure answer (`ErrorAnswer`, 5G) says.
fn answered_error(status: reqwest::StatusCode, body: &[u8], gateway: &str) -> Error {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(answer) => error_from(answer),
        Err(_) => {
            Error::Other(format!("the gateway answered {status} without saying why (is {gateway} an sslx-gateway?)"))
        }
    }
}

/// An error with its causes (reqwest's says "error sending request" and hides the TLS reason).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}
