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
        "not_found" => Error::NotFound(m),
        "kdc_unavailable" | "busy" => Error::Unavailable(m),
        "bad_request" => Error::Usage(m),
        "refused" => Error::Refused { code: crate::wire::RefusalCode::BadRequest as u16, reason: m },
        _ => Error::Other(format!("the gateway: {m}")),
    }
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
        let answer: ErrorAnswer = serde_json::from_slice(&bytes).map_err(|_| {
            Error::Other(format!("the gateway answered {status} without saying why (is {gateway} an sslx-gateway?)"))
        })?;
        return Err(error_from(answer));
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
