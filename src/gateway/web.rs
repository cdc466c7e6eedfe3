//! The gateway's face for a web browser (seed 003, FIGS. 4-7): a login form (boxes 601-603),
//! the credentials cache handed back sealed in a cookie with a command form (611-613), a command
//! submitted with it (1501) and its output streamed into the page (1525). The gateway keeps
//! nothing between requests: the cookie is the session, sealed (AES-256-GCM) under a key of the
//! gateway's configuration that every instance behind one name shares. PROTOCOL.md 5I.
//!
//! Every POST carries a CSRF token: an HMAC of the session cookie (or, for the login form, of a
//! random pre-login cookie) under a second key from the same configuration. Pages are rendered
//! from askama templates (escaped), carry a strict Content-Security-Policy (scripts only from
//! /static, none inline: the pages work without them) and are never cached.

use super::{log_in, start_command, Gateway, NotLoggedIn, NotStarted};
use crate::crypto::Secret;
use crate::remote::ExecEvent;
use askama::Template;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;

/// The session cookie (`__Host-`: Secure, Path=/, no Domain: no other site can set it).
pub const SESSION_COOKIE: &str = "__Host-sslx-session";
/// The random cookie the login form's CSRF token is bound to.
pub const PRE_COOKIE: &str = "__Host-sslx-pre";
/// Output shown in a page at most by default; past it the command is stopped.
pub const WEB_MAX_OUTPUT: u64 = 1 << 20;
/// A command form's body at most (the web face sends no stdin).
pub const WEB_MAX_BODY: usize = 64 * 1024;
/// The AAD of a sealed session cookie.
const SESSION_AAD: &[u8] = b"sslx-gateway-session1";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The two keys of the web face, from the one secret of `--web-key`.
pub struct WebKeys {
    seal: ring::aead::LessSafeKey,
    csrf: ring::hmac::Key,
}

/// The web face's settings.
pub struct Web {
    pub keys: WebKeys,
    /// Bytes of output a page shows at most (stdout and stderr together).
    pub max_output: u64,
}

struct Len(usize);
impl ring::hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl WebKeys {
    /// The sealing key and the CSRF key, each HKDF-SHA256 of `secret` (salt empty, info
    /// `sslx-gateway web seal` / `sslx-gateway web csrf`).
    pub fn derive(secret: &Secret<32>) -> Self {
        let (seal, csrf) = Self::sub_keys(secret);
        WebKeys {
            seal: ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, seal.expose()).expect("a 32-byte key"),
            ),
            csrf: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, csrf.expose()),
        }
    }

    /// The sealing key and the CSRF key themselves (for the vectors).
    pub fn sub_keys(secret: &Secret<32>) -> (Secret<32>, Secret<32>) {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(secret.expose());
        let take = |info: &[u8]| {
            let mut k = [0u8; 32];
            prk.expand(&[info], Len(32)).and_then(|okm| okm.fill(&mut k)).expect("32 bytes of HKDF-SHA256");
            Secret::new(k)
        };
        (take(b"sslx-gateway web seal"), take(b"sslx-gateway web csrf"))
    }

    /// The `--web-key` file: 64 hex digits (0600, refused when others may read it); made with a
    /// new random key when it is not there. Every gateway behind one name needs the same file.
    pub fn load_or_create(path: &std::path::Path, rng: &dyn ring::rand::SecureRandom) -> crate::Result<(Self, bool)> {
        if !path.exists() {
            let k: Secret<32> = Secret::random(rng);
            crate::keys::write_secret_atomic(path, format!("{}\n", hex::encode(k.expose())).as_bytes())?;
            return Ok((Self::derive(&k), true));
        }
        let text = zeroize::Zeroizing::new(crate::keys::read_secret_file(path)?);
        let mut k = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut k).map_err(|_| {
            crate::Error::Usage(format!("{} is not a web key (64 hex digits: sslx-gateway makes one)", path.display()))
        })?;
        Ok((Self::derive(&Secret::new(k)), false))
    }

    /// `base64url(nonce ‖ AES-256-GCM(cache text))`.
    pub fn seal(&self, cache_text: &str, rng: &dyn ring::rand::SecureRandom) -> crate::Result<String> {
        let nonce: [u8; 12] = crate::crypto::random_array(rng);
        let mut body = cache_text.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(SESSION_AAD),
                &mut body,
            )
            .map_err(|_| crate::Error::Other("sealing the session".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// The cache text a cookie holds, if it opens.
    pub fn open(&self, cookie: &str) -> Option<zeroize::Zeroizing<String>> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cookie).ok()?;
        if raw.len() < 12 + 16 {
            return None;
        }
        let (nonce, body) = raw.split_at(12);
        let mut body = body.to_vec();
        let n = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self.seal.open_in_place(n, ring::aead::Aad::from(SESSION_AAD), &mut body).ok()?;
        String::from_utf8(plain.to_vec()).ok().map(zeroize::Zeroizing::new)
    }

    /// The CSRF token of a form: `base64url(HMAC-SHA256(csrf key, purpose ‖ 0x00 ‖ bound))`.
    pub fn csrf(&self, purpose: &str, bound: &str) -> String {
        let tag = ring::hmac::sign(&self.csrf, &[purpose.as_bytes(), b"\0", bound.as_bytes()].concat());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `token` is the form's (constant time).
    pub fn csrf_ok(&self, purpose: &str, bound: &str, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else { return false };
        ring::hmac::verify(&self.csrf, &[purpose.as_bytes(), b"\0", bound.as_bytes()].concat(), &tag).is_ok()
    }
}

/// A message on a page.
pub struct Message {
    pub class: &'static str,
    pub text: String,
}

fn error(text: impl Into<String>) -> Option<Message> {
    Some(Message { class: "error", text: text.into() })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    gateway: &'a str,
    csrf: String,
    user: String,
    message: Option<Message>,
}

#[derive(Template)]
#[template(path = "command.html")]
struct CommandPage<'a> {
    gateway: &'a str,
    csrf: String,
    user: &'a str,
    expires: String,
    hosts: Vec<String>,
    host: String,
    program: String,
    args: String,
    message: Option<Message>,
}

#[derive(Template)]
#[template(path = "exec_head.html")]
struct ExecHead<'a> {
    gateway: &'a str,
    host: &'a str,
    program: &'a str,
    command: String,
    local_user: &'a str,
    user: &'a str,
}

#[derive(Template)]
#[template(path = "exec_chunk.html")]
struct ExecChunk<'a> {
    class: &'static str,
    text: &'a str,
}

#[derive(Template)]
#[template(path = "exec_end.html")]
struct ExecEnd {
    notice: Option<String>,
    class: &'static str,
    end: String,
}

/// The headers every page of the web face carries.
fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(h);
    r
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
}

fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        log::error!("a page could not be made: {e}");
        "<!doctype html><title>error</title><p>The page could not be made (the gateway's log says why).</p>".into()
    })
}

/// A cookie of the request by name.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(r: &mut Response, name: &str, value: &str, max_age: u64) {
    let c = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn see_other(to: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")));
    secure_headers(r.headers_mut());
    r
}

/// What the session cookie says.
enum Session {
    None,
    /// Sealed by another key, or changed.
    Unreadable,
    Expired(u64),
    Live(crate::kdc::CredentialsCache, String),
}

fn session(web: &Web, headers: &HeaderMap, now: u64) -> Session {
    let Some(c) = cookie(headers, SESSION_COOKIE) else { return Session::None };
    let Some(text) = web.keys.open(c) else { return Session::Unreadable };
    match crate::kdc::CredentialsCache::from_text(&text) {
        Ok(cache) if cache.expires <= now => Session::Expired(cache.expires),
        Ok(cache) => Session::Live(cache, c.to_owned()),
        Err(_) => Session::Unreadable,
    }
}

/// Why the login form is shown again (`/?m=…`): fixed texts, nothing of the request reflected.
fn reason(code: &str) -> Option<Message> {
    match code {
        "out" => Some(Message { class: "info", text: "You are logged out.".into() }),
        "expired" => error("Your session expired: log in again."),
        "unreadable" => {
            error("Your session could not be read (it was changed, or sealed by another gateway's key): log in again.")
        }
        "csrf" => error("The form was too old or not this gateway's: try again."),
        _ => None,
    }
}

fn login_page(
    web: &Web,
    gw: &Gateway,
    headers: &HeaderMap,
    user: String,
    message: Option<Message>,
    status: StatusCode,
) -> Response {
    let rng = crate::crypto::system_rng();
    let (pre, fresh) = match cookie(headers, PRE_COOKIE) {
        Some(p) if pre_cookie_ok(p) => (p.to_owned(), false),
        _ => {
            let b: [u8; 16] = crate::crypto::random_array(&rng);
            (base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b), true)
        }
    };
    let t = LoginPage { gateway: &gw.keytab.principal, csrf: web.keys.csrf("login", &pre), user, message };
    let mut r = page(status, render(&t));
    if fresh {
        set_cookie(&mut r, PRE_COOKIE, &pre, 3600);
    }
    r
}

/// A pre-login cookie as `GET /` makes them: base64url of 16 bytes.
fn pre_cookie_ok(p: &str) -> bool {
    p.len() == 22 && base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).is_ok_and(|b| b.len() == 16)
}

/// A second guard beside the tokens: a POST whose `Origin` (or `Sec-Fetch-Site`) says it came
/// from another site is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    // A browser that says where a request comes from (Fetch Metadata) is taken at its word;
    // otherwise its Origin must be this gateway.
    let ok = match (get("sec-fetch-site"), get("origin"), get("host")) {
        (Some(site), ..) => site == "same-origin" || site == "none",
        (None, Some("null"), _) => false,
        (None, Some(o), Some(host)) => o.strip_prefix("https://").is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => true,
    };
    if !ok {
        log::info!(
            "a POST from another site refused: sec-fetch-site {:?}, origin {:?}, host {:?}",
            get("sec-fetch-site"),
            get("origin"),
            get("host")
        );
    }
    ok
}

struct CommandForm {
    host: String,
    program: String,
    args: String,
}

fn command_page(
    web: &Web,
    gw: &Gateway,
    cache: &crate::kdc::CredentialsCache,
    sealed: &str,
    form: CommandForm,
    message: Option<Message>,
    status: StatusCode,
) -> Response {
    let mut hosts: Vec<String> = gw.hosts.keys().cloned().collect();
    hosts.sort();
    let t = CommandPage {
        gateway: &gw.keytab.principal,
        csrf: web.keys.csrf("session", sealed),
        user: &cache.user,
        expires: crate::clock::fmt_time(cache.expires),
        host: if form.host.is_empty() && hosts.len() == 1 { hosts[0].clone() } else { form.host },
        hosts,
        program: form.program,
        args: form.args,
        message,
    };
    page(status, render(&t))
}

/// `GET /`: the command form with a live session, the login form without.
async fn index(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let Some(web) = gw.web.as_ref() else { return not_enabled() };
    let code = url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "m")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match session(web, &headers, crate::clock::now_unix()) {
        Session::Live(cache, sealed) => {
            let form = CommandForm { host: String::new(), program: String::new(), args: String::new() };
            command_page(web, &gw, &cache, &sealed, form, None, StatusCode::OK)
        }
        Session::Expired(at) => {
            let m = error(format!("Your session expired at {}: log in again.", crate::clock::fmt_time(at)));
            clear_session(login_page(web, &gw, &headers, String::new(), m, StatusCode::OK))
        }
        Session::Unreadable => {
            clear_session(login_page(web, &gw, &headers, String::new(), reason("unreadable"), StatusCode::OK))
        }
        Session::None => login_page(web, &gw, &headers, String::new(), reason(&code), StatusCode::OK),
    }
}

fn clear_session(mut r: Response) -> Response {
    set_cookie(&mut r, SESSION_COOKIE, "", 0);
    r
}

fn not_enabled() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<!doctype html><title>sslx gateway</title><p>This gateway has no web face (sslx-gateway --web-key FILE).</p>"
            .into(),
    )
}

/// A form body's fields (`application/x-www-form-urlencoded`).
fn fields(body: &[u8]) -> std::collections::HashMap<String, zeroize::Zeroizing<String>> {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), zeroize::Zeroizing::new(v.into_owned()))).collect()
}

/// `POST /login`: the same login as `POST /v1/login`; the cache goes back sealed in the cookie.
async fn login(
    State(gw): State<Arc<Gateway>>,
    axum::Extension(peer): axum::Extension<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(web) = gw.web.as_ref() else { return not_enabled() };
    let mut f = fields(&body);
    let user = f.remove("user").map(|u| u.trim().to_owned()).unwrap_or_default();
    let token = f.remove("csrf").unwrap_or_default();
    let pre = cookie(&headers, PRE_COOKIE).unwrap_or("");
    if !same_origin(&headers) || !pre_cookie_ok(pre) || !web.keys.csrf_ok("login", pre, &token) {
        return login_page(web, &gw, &headers, user, reason("csrf"), StatusCode::FORBIDDEN);
    }
    let password = f.remove("password").unwrap_or_default();
    if user.is_empty() || password.is_empty() {
        let m = error("Give your user name and your password.");
        return login_page(web, &gw, &headers, user, m, StatusCode::BAD_REQUEST);
    }
    let failed = |m: String, status| login_page(web, &gw, &headers, user.clone(), error(m), status);
    match log_in(&gw, user.clone(), password, peer.ip()).await {
        Ok(cache) => {
            let sealed = cache
                .to_text()
                .map_err(crate::Error::from)
                .and_then(|t| web.keys.seal(&t, &crate::crypto::system_rng()));
            match sealed {
                Ok(sealed) => {
                    let mut r = see_other("/");
                    let life = cache.expires.saturating_sub(crate::clock::now_unix());
                    set_cookie(&mut r, SESSION_COOKIE, &sealed, life);
                    r
                }
                Err(e) => failed(format!("The login could not be kept: {e}"), StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        Err(NotLoggedIn::Busy) => failed(
            "The gateway is busy with other logins: try again in a moment.".into(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Err(NotLoggedIn::TooMany(wait)) => failed(
            format!("Too many logins from your address: try again in {} s.", wait.as_secs().max(1)),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(NotLoggedIn::Failed(e)) => {
            let (status, name) = crate::remote::error_name(&e);
            let text = match name {
                "authentication_failed" => "The user name or the password is wrong.".to_owned(),
                "disabled" => "This user is disabled at the KDC.".to_owned(),
                "bad_request" => format!("That is not a user name: {e}"),
                // Its address is the gateway's business: said in its log, not to the page.
                "kdc_unavailable" => "The KDC cannot be reached just now: try again later.".to_owned(),
                "refused" => "The KDC refused the login (too many tries for this user?): try again later.".to_owned(),
                _ => format!("The login failed: {e}"),
            };
            failed(text, StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// `POST /logout`: the cookie goes (a copy of it stays valid until the cache expires: the
/// gateway keeps nothing to revoke it with).
async fn logout(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(web) = gw.web.as_ref() else { return not_enabled() };
    let token = fields(&body).remove("csrf").unwrap_or_default();
    let Session::Live(cache, sealed) = session(web, &headers, crate::clock::now_unix()) else {
        // Nothing live to end: the cookie goes all the same.
        return clear_session(see_other("/?m=out"));
    };
    if !same_origin(&headers) || !web.keys.csrf_ok("session", &sealed, &token) {
        let form = CommandForm { host: String::new(), program: String::new(), args: String::new() };
        return command_page(web, &gw, &cache, &sealed, form, reason("csrf"), StatusCode::FORBIDDEN);
    }
    clear_session(see_other("/?m=out"))
}

/// A stream's bytes as text for the page: UTF-8 kept whole across chunks, what is not UTF-8
/// shown as U+FFFD.
#[derive(Default)]
pub struct TextOf {
    pending: Vec<u8>,
    /// Whether some bytes were not UTF-8.
    pub replaced: bool,
}

impl TextOf {
    pub fn push(&mut self, data: &[u8]) -> String {
        self.pending.extend_from_slice(data);
        let all = std::mem::take(&mut self.pending);
        let mut out = String::new();
        let mut rest: &[u8] = &all;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (ok, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(ok).expect("valid up to here"));
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            self.replaced = true;
                            rest = &bad[n..];
                        }
                        None => {
                            // A character cut at the chunk's end: the rest comes next.
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// What is left at the end.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.pending.clear();
        self.replaced = true;
        "\u{FFFD}".into()
    }
}

/// `POST /exec`: the command form, run as `sslx exec` runs it; the answer streams a page (or,
/// asked for `application/x-ndjson` by the page's script, the events of `POST /v1/exec`).
async fn exec(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(web) = gw.web.as_ref() else { return not_enabled() };
    let (cache, sealed) = match session(web, &headers, crate::clock::now_unix()) {
        Session::Live(c, s) => (c, s),
        Session::Expired(_) => return clear_session(see_other("/?m=expired")),
        Session::Unreadable => return clear_session(see_other("/?m=unreadable")),
        Session::None => return see_other("/?m=expired"),
    };
    let mut f = fields(&body);
    let token = f.remove("csrf").unwrap_or_default();
    let take = |f: &mut std::collections::HashMap<String, zeroize::Zeroizing<String>>, k: &str| {
        f.remove(k).map(|v| v.to_string()).unwrap_or_default()
    };
    let form = CommandForm {
        host: take(&mut f, "host").trim().to_owned(),
        program: take(&mut f, "program").trim().to_owned(),
        args: take(&mut f, "args"),
    };
    let again =
        |form: CommandForm, m: Option<Message>, status| command_page(web, &gw, &cache, &sealed, form, m, status);
    if !same_origin(&headers) || !web.keys.csrf_ok("session", &sealed, &token) {
        // The form again, with this session's token (another tab may have logged in anew).
        return again(form, reason("csrf"), StatusCode::FORBIDDEN);
    }
    if form.host.is_empty() || form.program.is_empty() {
        return again(form, error("Give a host and a program."), StatusCode::BAD_REQUEST);
    }
    let mut argv = vec![form.program.clone()];
    argv.extend(form.args.lines().map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned()).filter(|l| !l.is_empty()));
    let cmd = crate::execd::ExecCommand { as_user: String::new(), argv: argv.clone() };
    let user = cache.user.clone();
    let rx = match start_command(&gw, cache.clone(), form.host.clone(), cmd, Vec::new()).await {
        Ok(rx) => rx,
        Err(NotStarted::Busy) => {
            let m = error("The gateway is busy with other commands: try again in a moment.");
            return again(form, m, StatusCode::SERVICE_UNAVAILABLE);
        }
        Err(NotStarted::Failed(e)) => {
            let (status, name) = crate::remote::error_name(&e);
            if name == "expired" {
                return clear_session(see_other("/?m=expired"));
            }
            let why = match &e {
                crate::Error::Refused { reason, .. } => reason.clone(),
                e => e.to_string(),
            };
            let text = match name {
                "denied" => format!("Denied by the ACL of {}: {why}", form.host),
                "disabled" => "This user is disabled at the KDC.".to_owned(),
                "not_found" => format!("No such host as {} at the KDC: {why}", form.host),
                "kdc_unavailable" => format!("{} or the KDC cannot be reached: {why}", form.host),
                _ => format!("The command did not start: {why}"),
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return again(form, error(text), status);
        }
    };
    let max = web.max_output;
    let wants_events =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/x-ndjson"));
    if wants_events {
        let mut r = super::ndjson(cut_events(rx, max));
        secure_headers(r.headers_mut());
        return r;
    }
    let pieces = page_pieces(rx, max, form.host.clone(), user, argv, gw.keytab.principal.clone());
    let mut r = Response::new(axum::body::Body::from_stream(pieces));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(r.headers_mut());
    r
}

/// Output within a page's limit: what of `bytes` still fits after `shown` of `max`, and whether
/// it was cut.
fn within(shown: &mut u64, max: u64, bytes: &[u8]) -> (usize, bool) {
    let room = max.saturating_sub(*shown);
    let n = (bytes.len() as u64).min(room) as usize;
    *shown += n as u64;
    (n, n < bytes.len())
}

fn cut_notice(max: u64) -> String {
    format!(
        "The output passed this page's limit of {max} bytes: what follows is not shown, and the command was stopped."
    )
}

/// The events, cut at `max` bytes of output: the chunk that crosses it is cut, an error event
/// says so, and the command stops (the receiver is dropped).
fn cut_events(mut rx: tokio::sync::mpsc::Receiver<ExecEvent>, max: u64) -> tokio::sync::mpsc::Receiver<ExecEvent> {
    let (tx, out) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut shown = 0u64;
        while let Some(ev) = rx.recv().await {
            let ev = match ev {
                ExecEvent::Stdout { data } | ExecEvent::Stderr { data } if data.is_empty() => continue,
                ExecEvent::Stdout { ref data } | ExecEvent::Stderr { ref data } => {
                    let bytes = b64.decode(data).unwrap_or_default();
                    let (n, cut) = within(&mut shown, max, &bytes);
                    if cut {
                        let data = b64.encode(&bytes[..n]);
                        let part = match ev {
                            ExecEvent::Stdout { .. } => ExecEvent::Stdout { data },
                            _ => ExecEvent::Stderr { data },
                        };
                        if n > 0 {
                            let _ = tx.send(part).await;
                        }
                        let _ = tx.send(ExecEvent::Error { error: "cut".into(), message: cut_notice(max) }).await;
                        return;
                    }
                    ev
                }
                ev => ev,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    out
}

/// The page of a running command, in pieces as its events come: the head (once the host said
/// as whom it runs), a `<pre>` per chunk of stdout or stderr, the end.
fn page_pieces(
    rx: tokio::sync::mpsc::Receiver<ExecEvent>,
    max: u64,
    host: String,
    user: String,
    argv: Vec<String>,
    gateway: String,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    struct St {
        rx: tokio::sync::mpsc::Receiver<ExecEvent>,
        out: TextOf,
        err: TextOf,
        shown: u64,
        done: bool,
        ctx: (String, String, Vec<String>, String),
    }
    let st = St {
        rx,
        out: TextOf::default(),
        err: TextOf::default(),
        shown: 0,
        done: false,
        ctx: (host, user, argv, gateway),
    };
    futures_util::stream::unfold(st, move |mut st| async move {
        if st.done {
            return None;
        }
        let ev = st.rx.recv().await;
        let chunk = |class: &'static str, text: &str| {
            if text.is_empty() {
                String::new()
            } else {
                render(&ExecChunk { class, text })
            }
        };
        let end = |st: &mut St, class: &'static str, end: String, extra: Option<String>| {
            let tail = format!("{}{}", chunk("stdout", &st.out.finish()), chunk("stderr", &st.err.finish()));
            let mut notice = extra;
            if st.out.replaced || st.err.replaced {
                let n = "Some of the output is not UTF-8 text: those bytes show as \u{FFFD}.".to_owned();
                notice = Some(notice.map(|x| format!("{x} {n}")).unwrap_or(n));
            }
            st.done = true;
            format!("{tail}{}", render(&ExecEnd { notice, class, end }))
        };
        let html = match ev {
            Some(ExecEvent::Started { local_user, .. }) => {
                // The head (the first event is always this) names the local user the host chose.
                let (host, user, argv, gateway) = &st.ctx;
                render(&ExecHead {
                    gateway,
                    host,
                    program: &argv[0],
                    command: argv.join(" "),
                    local_user: &local_user,
                    user,
                })
            }
            Some(ev @ (ExecEvent::Stdout { .. } | ExecEvent::Stderr { .. })) => {
                let (class, data) = match ev {
                    ExecEvent::Stdout { data } => ("stdout", data),
                    ExecEvent::Stderr { data } => ("stderr", data),
                    _ => unreachable!("matched above"),
                };
                let bytes = base64::engine::general_purpose::STANDARD.decode(data).unwrap_or_default();
                let (n, cut) = within(&mut st.shown, max, &bytes);
                let text = if class == "stdout" { &mut st.out } else { &mut st.err };
                let c = chunk(class, &text.push(&bytes[..n]));
                if cut {
                    format!("{c}{}", end(&mut st, "failed", "cut".into(), Some(cut_notice(max))))
                } else {
                    c
                }
            }
            Some(ExecEvent::Exit { code }) => {
                end(&mut st, if code == 0 { "ok" } else { "failed" }, format!("exit code {code}"), None)
            }
            Some(ExecEvent::Signal { signal }) => end(&mut st, "failed", format!("killed by signal {signal}"), None),
            Some(ExecEvent::Error { message, .. }) => end(&mut st, "failed", message, None),
            None => end(&mut st, "failed", "the command's answer ended early".into(), None),
        };
        Some((Ok(axum::body::Bytes::from(html)), st))
    })
}

async fn style() -> Response {
    let mut r = (StatusCode::OK, include_str!("static/style.css")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    secure_headers(r.headers_mut());
    r
}

async fn script() -> Response {
    let mut r = (StatusCode::OK, include_str!("static/app.js")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    secure_headers(r.headers_mut());
    r
}

/// The web face's routes, on the gateway's router.
pub fn routes() -> axum::Router<Arc<Gateway>> {
    axum::Router::new()
        .route("/", axum::routing::get(index))
        .route("/login", axum::routing::post(login).layer(DefaultBodyLimit::max(super::MAX_BODY)))
        .route("/logout", axum::routing::post(logout).layer(DefaultBodyLimit::max(super::MAX_BODY)))
        .route("/exec", axum::routing::post(exec).layer(DefaultBodyLimit::max(WEB_MAX_BODY)))
        .route("/static/style.css", axum::routing::get(style))
        .route("/static/app.js", axum::routing::get(script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_keeps_characters_whole_across_chunks_and_marks_what_is_not_utf8() {
        let mut t = TextOf::default();
        let euro = "€".as_bytes();
        assert_eq!(t.push(&euro[..2]), "");
        assert_eq!(t.push(&euro[2..]), "€");
        assert!(!t.replaced);
        assert_eq!(t.push(b"a\xffb"), "a\u{FFFD}b");
        assert!(t.replaced);
        assert_eq!(t.push(&euro[..1]), "");
        assert_eq!(t.finish(), "\u{FFFD}");
    }

    #[test]
    fn a_session_cookie_opens_under_its_key_only_and_not_once_changed() {
        let rng = crate::crypto::system_rng();
        let keys = WebKeys::derive(&Secret::new([7; 32]));
        let other = WebKeys::derive(&Secret::new([8; 32]));
        let c = keys.seal("sslx-ccache1:AAAA", &rng).unwrap();
        assert_eq!(keys.open(&c).unwrap().as_str(), "sslx-ccache1:AAAA");
        assert!(other.open(&c).is_none());
        let mut b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&c).unwrap();
        for i in 0..b.len() {
            b[i] ^= 1;
            assert!(keys.open(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b)).is_none(), "byte {i}");
            b[i] ^= 1;
        }
        let t = keys.csrf("session", &c);
        assert!(keys.csrf_ok("session", &c, &t));
        assert!(!keys.csrf_ok("login", &c, &t), "bound to its purpose");
        assert!(!keys.csrf_ok("session", "another", &t), "bound to its cookie");
        assert!(!other.csrf_ok("session", &c, &t));
        assert!(!keys.csrf_ok("session", &c, "not base64!"));
    }
}
