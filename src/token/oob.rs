//! The out-of-band query dialogue (seed 003, second patent): a target node asks the source node
//! for the data a token refers to (`@NODE.ID`). Text lines over TCP, as in the seed's example.
//! Both sides bring a nonce; the querying node signs both with its Ed25519 key, the server signs
//! its answer over both nonces, the two node ids, the token and the request, and seals the
//! values to the querying node's X25519 key (the keyrings hold both keys), so an answer is
//! neither readable on the way, nor forged, nor replayed from another dialogue:
//!
//! ```text
//! S: 123 Connected to server 123, please identify and authenticate self. Nonce: <b64url SN>
//! C: Server: 456 Nonce <b64url CN> Signature <b64url Ed25519(456, "sslx-token-query-v2" ‖ SN ‖ CN ‖ u16 123 ‖ u16 456)>
//! S: 123 Server 456 authenticated, please make your requests.      (or: 123 ERR <reason>, then close)
//! C: Token: <the token that refers to the data>
//! C: Fred.Telephone, Fred.Address
//! S: 123 Data <b64url enc ‖ HPKE(JSON)> Signature <b64url Ed25519(123, "sslx-token-answer-v1" ‖ …)>
//! C: QUIT
//! S: 123 Goodbye, server 456.
//! ```
//!
//! The server answers only for a token that it minted, that is valid now (times, skew), and
//! that is not sealed to another node, and only for ids that the token refers to as
//! `@<this node>.ID`; anything else is refused (`123 ERR <reason>`, then it closes).

use super::{Fields, Keyring, Token, TokenError};
use crate::crypto;
use crate::db::{Migration, Schema};
use crate::keys::Identity;
use crate::wire::RefusalCode;
use crate::{Error, Result};
use base64::Engine;
use ring::rand::SecureRandom;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::crypto::labels::token_oob::{ANSWER_LABEL, AUTH_LABEL, DATA_INFO};
/// The longest line either side accepts.
pub const MAX_LINE: usize = 16 * 1024;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()).ok()
}

/// What the querying node signs: `"sslx-token-query-v2" ‖ SN ‖ CN ‖ u16 server ‖ u16 client`.
pub fn auth_message(sn: &[u8; 32], cn: &[u8; 32], server: u16, client: u16) -> Vec<u8> {
    [AUTH_LABEL, sn, cn, &server.to_be_bytes(), &client.to_be_bytes()].concat()
}

/// What the server signs over an answer: `"sslx-token-answer-v1" ‖ SN ‖ CN ‖ u16 server ‖
/// u16 client ‖ SHA-256(token) ‖ SHA-256(request line) ‖ enc ‖ ct`.
fn answer_message(d: &Dialogue, token: &str, request: &str, sealed: &[u8]) -> Vec<u8> {
    [
        ANSWER_LABEL,
        &d.sn,
        &d.cn,
        &d.server.to_be_bytes(),
        &d.client.to_be_bytes(),
        &crypto::sha256(token.trim().as_bytes()),
        &crypto::sha256(request.as_bytes()),
        sealed,
    ]
    .concat()
}

/// The two nonces and two nodes of one dialogue (the HPKE aad is `SN ‖ CN`).
pub struct Dialogue {
    pub sn: [u8; 32],
    pub cn: [u8; 32],
    pub server: u16,
    pub client: u16,
}

impl Dialogue {
    fn aad(&self) -> [u8; 64] {
        let mut a = [0u8; 64];
        a[..32].copy_from_slice(&self.sn);
        a[32..].copy_from_slice(&self.cn);
        a
    }
}

/// The ids of a request line: `A, B, C`.
fn request_ids(line: &str) -> Vec<String> {
    line.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

/// Reads one line (without its end), refusing one over MAX_LINE; None at EOF.
pub fn read_line(r: &mut impl BufRead) -> Result<Option<String>> {
    let mut buf = Vec::new();
    let n = std::io::Read::take(&mut *r, MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::Unavailable(format!("reading the dialogue: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE {
        return Err(Error::Token(TokenError::Malformed("a dialogue line is too long".into())));
    }
    let s = String::from_utf8(buf).map_err(|_| Error::Token(TokenError::Malformed("a line is not UTF-8".into())))?;
    Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned()))
}

fn send(w: &mut impl Write, line: &str) -> Result<()> {
    w.write_all(format!("{line}\r\n").as_bytes())
        .and_then(|_| w.flush())
        .map_err(|e| Error::Unavailable(format!("writing the dialogue: {e}")))
}

/// The data a node keeps for out-of-band queries, and its version (SQLite).
pub struct DataStore {
    conn: Connection,
    path: std::path::PathBuf,
}

/// A node's data file's schema (version 1: the tables as the first sslx made them).
pub static DATA_SCHEMA: Schema = Schema {
    what: "token data",
    migrations: &[Migration::Sql(
        "CREATE TABLE IF NOT EXISTS data (id TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    )],
};

/// `token-cache.db`'s schema (version 1: the table as the first sslx made it).
pub static CACHE_SCHEMA: Schema = Schema {
    what: "token cache",
    migrations: &[Migration::Sql(
        "CREATE TABLE IF NOT EXISTS cache (node INTEGER NOT NULL, id TEXT NOT NULL, value TEXT, version INTEGER NOT NULL,
            PRIMARY KEY (node, id));",
    )],
};

impl DataStore {
    pub fn open(path: &std::path::Path) -> Result<Self> {
        Ok(DataStore { conn: crate::db::open(path, &DATA_SCHEMA)?, path: path.to_owned() })
    }

    /// The node-wide version of the data (bumped by every `put`).
    pub fn version(&self) -> Result<u64> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT v FROM meta WHERE k = 'version'", [], |r| r.get(0))
            .optional()
            .map_err(crate::db::error(&self.path))?;
        Ok(v.unwrap_or(0) as u64)
    }

    /// Sets values; returns the new version.
    pub fn put(&mut self, items: &[(String, String)]) -> Result<u64> {
        let tx = self.conn.transaction().map_err(crate::db::error(&self.path))?;
        let v: i64 = tx
            .query_row("SELECT COALESCE((SELECT v FROM meta WHERE k = 'version'), 0) + 1", [], |r| r.get(0))
            .map_err(crate::db::error(&self.path))?;
        for (id, value) in items {
            tx.execute(
                "INSERT INTO data (id, value, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET value = excluded.value, version = excluded.version",
                params![id, value, v],
            )
            .map_err(crate::db::error(&self.path))?;
        }
        tx.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('version', ?1)", params![v])
            .map_err(crate::db::error(&self.path))?;
        tx.commit().map_err(crate::db::error(&self.path))?;
        Ok(v as u64)
    }

    pub fn get(&self, id: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM data WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(crate::db::error(&self.path))
    }
}

/// One `ID=VALUE` for the data store (`sslx token store`): an id the dialogue can carry (no
/// spaces, commas or line breaks) and a value on one line.
pub fn parse_item(item: &str) -> std::result::Result<(String, String), TokenError> {
    let bad =
        || TokenError::Usage(format!("{item:?}: give ID=VALUE, an id without spaces or commas, a value on one line"));
    let (k, v) = item.split_once('=').ok_or_else(bad)?;
    let k = k.trim();
    if k.is_empty() || k.contains([',', ' ', '\n', '\r', '\t']) || v.contains(['\n', '\r']) {
        return Err(bad());
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// The source node's side of one connection.
pub struct Server<'a> {
    pub node: u16,
    pub identity: &'a Identity,
    pub keyring: &'a Keyring,
    pub store: &'a DataStore,
    /// The clock (read afresh for every request: a token that expires during a dialogue
    /// stops being served) and the skew a presented token's times are checked with.
    pub now: &'a (dyn Fn() -> u64 + Sync),
    pub skew: u64,
}

impl Server<'_> {
    /// Runs the dialogue on one connection; returns the querying node and the ids it got.
    pub fn serve(
        &self,
        r: &mut impl BufRead,
        w: &mut impl Write,
        rng: &dyn SecureRandom,
    ) -> Result<(u16, Vec<String>)> {
        let me = self.node;
        let sn: [u8; 32] = crypto::random_array(rng);
        send(w, &format!("{me} Connected to server {me}, please identify and authenticate self. Nonce: {}", b64(&sn)))?;
        let refuse = |w: &mut dyn Write, why: &str| -> Error {
            let _ = w.write_all(format!("{me} ERR {why}\r\n").as_bytes());
            Error::Refused { code: crate::wire::RefusalCode::BadRequest as u16, reason: why.to_owned() }
        };
        let line = read_line(r)?.ok_or_else(|| Error::Unavailable("the client left".into()))?;
        let (client, cn, sig) = line
            .strip_prefix("Server: ")
            .and_then(|rest| {
                let (n, rest) = rest.split_once(" Nonce ")?;
                let (cn, s) = rest.split_once(" Signature ")?;
                let cn: [u8; 32] = unb64(cn)?.try_into().ok()?;
                Some((n.trim().parse::<u16>().ok()?, cn, unb64(s)?))
            })
            .ok_or_else(|| refuse(w, "expected `Server: NODE Nonce CN Signature SIG`"))?;
        let Some(public) = self.keyring.get(client) else {
            return Err(refuse(w, &format!("node {client} is not in this node's keyring")));
        };
        let sig: [u8; 64] = sig.try_into().map_err(|_| refuse(w, "the signature is not 64 bytes"))?;
        if !crypto::ed25519_verify(&public.ed25519, &auth_message(&sn, &cn, me, client), &sig) {
            return Err(refuse(w, &format!("the signature of node {client} does not verify")));
        }
        let d = Dialogue { sn, cn, server: me, client };
        send(w, &format!("{me} Server {client} authenticated, please make your requests."))?;
        let mut served = Vec::new();
        let mut token: Option<String> = None;
        while let Some(line) = read_line(r)? {
            if line.trim() == "QUIT" {
                send(w, &format!("{me} Goodbye, server {client}."))?;
                return Ok((client, served));
            }
            if let Some(t) = line.strip_prefix("Token: ") {
                match self.check_token(t, client, &public.x25519) {
                    Ok(_) => token = Some(t.trim().to_owned()),
                    Err(e) => return Err(refuse(w, &e.to_string())),
                }
                continue;
            }
            let Some(text) = &token else {
                return Err(refuse(w, "send the token that refers to the data first (`Token: …`)"));
            };
            // Checked again, at this request's time.
            let fields = match self.check_token(text, client, &public.x25519) {
                Ok(f) => f,
                Err(e) => return Err(refuse(w, &e.to_string())),
            };
            let ids = request_ids(&line);
            let referenced: std::collections::BTreeSet<String> =
                fields.references().into_iter().filter(|(_, n, _)| *n == me).map(|(_, _, id)| id).collect();
            if ids.is_empty() {
                return Err(refuse(w, "the request names no id"));
            }
            if let Some(other) = ids.iter().find(|id| !referenced.contains(*id)) {
                return Err(refuse(w, &format!("the token does not refer to {other:?} on node {me}: refused")));
            }
            send(w, &answer_line(&d, self.identity, &public.x25519, self.store, text, &line, &ids, rng)?)?;
            served.extend(ids);
        }
        Ok((client, served))
    }

    /// The token a query comes with must be this node's, signed by it, valid now, and not
    /// sealed to another node; returns its fields (a sealed one is opened with the key the
    /// minter derived its seal from).
    fn check_token(
        &self,
        text: &str,
        client: u16,
        client_x25519: &[u8; 32],
    ) -> std::result::Result<Fields, TokenError> {
        let t = Token::decode(text)?;
        if t.node != self.node {
            return Err(TokenError::NotForUs(format!("the token was minted by node {}, not {}", t.node, self.node)));
        }
        super::check_signature(&t, &self.identity.public().ed25519)
            .map_err(|_| TokenError::BadSignature("the token is not one this node minted".into()))?;
        let lines = match t.sealed {
            None => t.body.clone(),
            Some(s) if s.target != client => {
                return Err(TokenError::NotForUs(format!("the token is sealed to node {}, not {client}", s.target)))
            }
            Some(_) => super::seal::open_as_minter(&self.identity.x25519, client_x25519, &t)
                .ok_or_else(|| TokenError::BadSignature("the token's sealed part does not open".into()))?,
        };
        Ok(super::check_data(&t, lines, (self.now)(), self.skew)?.fields)
    }
}

/// `sslx token serve`'s limits: dialogues served at once, from one source (its bucket), and how
/// long one may take in all. Over them a client is told at once (`NODE ERR busy: …`), never kept
/// waiting.
pub const DIALOGUES: usize = 64;
pub const DIALOGUES_PER_SOURCE: usize = 8;
pub const DIALOGUE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
/// How long one line may take to arrive.
pub const LINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a node serving queries answers with, and how it checks tokens.
pub struct ServeConfig {
    pub node: u16,
    pub identity: Identity,
    pub keyring: Keyring,
    /// The data store (`sslx token store`), opened afresh per dialogue.
    pub db: std::path::PathBuf,
    pub skew: u64,
    pub now: fn() -> u64,
}

/// What became of one dialogue.
#[derive(Debug)]
pub enum ServeEvent {
    /// `client` (node id) at `peer` got `ids`.
    Answered { peer: String, client: u16, ids: Vec<String> },
    /// Refused, with why (bad signature, a token it may not use, an id it may not ask…).
    Refused { peer: String, error: Error },
    /// Cut off at `DIALOGUE_DEADLINE`.
    CutOff { peer: String },
    /// Turned away at once: too many dialogues (in all, or from this source).
    Busy { peer: String, why: String },
}

/// Serves out-of-band queries on `listener` until `shutdown` is set (checked every 50 ms),
/// each dialogue on a thread of its own within the limits above; `on_event` hears how each
/// ended. Returns once every dialogue under way has ended too.
pub fn serve(
    listener: std::net::TcpListener,
    cfg: &ServeConfig,
    shutdown: &std::sync::atomic::AtomicBool,
    on_event: &(dyn Fn(ServeEvent) + Sync),
) -> Result<()> {
    use crate::session::admission::{Admission, Limits};
    use std::sync::atomic::Ordering;
    DataStore::open(&cfg.db)?;
    listener.set_nonblocking(true).map_err(|e| Error::io("setting up the listener", e))?;
    let admission =
        Admission::new(Limits { max: DIALOGUES, per_source: DIALOGUES_PER_SOURCE, wait: std::time::Duration::ZERO });
    std::thread::scope(|scope| {
        while !shutdown.load(Ordering::Relaxed) {
            let mut sock = match listener.accept() {
                Ok((sock, _)) => sock,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
                Err(_) => continue,
            };
            sock.set_nonblocking(false).ok();
            let peer = sock.peer_addr().map(|p| p.to_string()).unwrap_or_default();
            let source = sock.peer_addr().ok().map(|p| p.ip());
            let place = match admission.queue(source).and_then(|q| q.admit()) {
                Ok(p) => p,
                Err(why) => {
                    let _ = sock.write_all(format!("{} ERR busy: {why}\r\n", cfg.node).as_bytes());
                    on_event(ServeEvent::Busy { peer, why });
                    continue;
                }
            };
            scope.spawn(move || {
                let _place = place;
                sock.set_read_timeout(Some(LINE_TIMEOUT)).ok();
                let watchdog = crate::net::Watchdog::arm(&sock, DIALOGUE_DEADLINE);
                let result = (|| -> Result<(u16, Vec<String>)> {
                    let store = DataStore::open(&cfg.db)?;
                    let mut w = sock.try_clone().map_err(|e| Error::io("cloning the socket", e))?;
                    let mut r = std::io::BufReader::new(sock);
                    let now = cfg.now;
                    let server = Server {
                        node: cfg.node,
                        identity: &cfg.identity,
                        keyring: &cfg.keyring,
                        store: &store,
                        now: &now,
                        skew: cfg.skew,
                    };
                    server.serve(&mut r, &mut w, &crypto::system_rng())
                })();
                let late = watchdog.disarm();
                on_event(match result {
                    Ok((client, ids)) => ServeEvent::Answered { peer, client, ids },
                    Err(_) if late => ServeEvent::CutOff { peer },
                    Err(error) => ServeEvent::Refused { peer, error },
                });
            });
        }
    });
    Ok(())
}

/// The server's answer to a request for `ids`: `NODE Data <b64url(enc ‖ ct)> Signature <sig>`,
/// the values and the data version sealed to the asking node and signed by this node.
#[allow(clippy::too_many_arguments)]
pub fn answer_line(
    d: &Dialogue,
    me: &Identity,
    asker_x25519: &[u8; 32],
    store: &DataStore,
    token: &str,
    request: &str,
    ids: &[String],
    rng: &dyn SecureRandom,
) -> Result<String> {
    let mut values = BTreeMap::new();
    for id in ids {
        values.insert(id.clone(), store.get(id)?);
    }
    let body = serde_json::json!({"version": store.version()?, "values": values}).to_string();
    let (enc, ct) = crypto::hpke_seal(asker_x25519, DATA_INFO, &d.aad(), body.as_bytes(), rng)
        .ok_or_else(|| Error::Other("sealing the answer".into()))?;
    let sealed = [&enc[..], &ct].concat();
    let sig = me.sign(&answer_message(d, token, request, &sealed));
    Ok(format!("{} Data {} Signature {}", d.server, b64(&sealed), b64(&sig)))
}

/// What a query brought back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub version: u64,
    pub values: BTreeMap<String, Option<String>>,
}

/// The querying node's side: authenticate, send the token, ask for `ids`, check the server's
/// signature over the answer, QUIT. `server`: the node asked and its Ed25519 key (keyring).
pub fn query(
    r: &mut impl BufRead,
    w: &mut impl Write,
    me: (u16, &Identity),
    server: (u16, &[u8; 32]),
    token: &str,
    ids: &[String],
    rng: &dyn SecureRandom,
) -> Result<Answer> {
    let cn: [u8; 32] = crypto::random_array(rng);
    query_with_nonce(r, w, me, server, token, ids, &cn)
}

/// `query` with a given client nonce (vectors).
pub fn query_with_nonce(
    r: &mut impl BufRead,
    w: &mut impl Write,
    me: (u16, &Identity),
    server: (u16, &[u8; 32]),
    token: &str,
    ids: &[String],
    cn: &[u8; 32],
) -> Result<Answer> {
    let (server, server_key) = server;
    // An answer that fails a check is refused (exit 3); a line `NNN ERR reason`, wherever it
    // comes (the greeting included: a busy server), is the server's refusal (exit 5).
    let bad = |why: String| Error::VerifyFailed(format!("node {server}: {why}"));
    let refused = |line: &str| {
        let reason = line.split_once(" ERR ").map_or(line, |(_, r)| r);
        let code = if reason.starts_with("busy") { RefusalCode::RateLimited } else { RefusalCode::BadRequest };
        Error::Refused { code: code as u16, reason: format!("node {server}: {reason}") }
    };
    let next_line = |r: &mut dyn BufRead| -> Result<String> {
        let mut r = r;
        let line =
            read_line(&mut r)?.ok_or_else(|| Error::Unavailable(format!("node {server} closed the connection")))?;
        if line.starts_with(&format!("{server} ERR ")) {
            return Err(refused(&line));
        }
        Ok(line)
    };
    let hello = next_line(r)?;
    let sn: [u8; 32] = hello
        .split_once("Nonce: ")
        .and_then(|(_, n)| unb64(n)?.try_into().ok())
        .ok_or_else(|| bad(format!("unexpected greeting {hello:?}")))?;
    if !hello.starts_with(&format!("{server} ")) {
        return Err(bad(format!("the server says it is not node {server}: {hello:?}")));
    }
    let d = Dialogue { sn, cn: *cn, server, client: me.0 };
    let sig = me.1.sign(&auth_message(&sn, cn, server, me.0));
    send(w, &format!("Server: {} Nonce {} Signature {}", me.0, b64(cn), b64(&sig)))?;
    let ok = next_line(r)?;
    if ok != format!("{server} Server {} authenticated, please make your requests.", me.0) {
        return Err(bad(format!("unexpected answer to the authentication {ok:?}")));
    }
    let request = ids.join(", ");
    send(w, &format!("Token: {token}"))?;
    send(w, &request)?;
    let data = next_line(r)?;
    let Some(rest) = data.strip_prefix(&format!("{server} Data ")) else {
        return Err(bad(format!("unexpected answer {data:?}")));
    };
    let (sealed, sig) = rest.split_once(" Signature ").ok_or_else(|| bad("the answer is not signed".into()))?;
    let sealed = unb64(sealed).ok_or_else(|| bad("the answer is not base64url".into()))?;
    let sig: [u8; 64] =
        unb64(sig).and_then(|s| s.try_into().ok()).ok_or_else(|| bad("the answer's signature is malformed".into()))?;
    // Nothing is opened, let alone cached, unless node `server` signed it for this dialogue.
    if !crypto::ed25519_verify(server_key, &answer_message(&d, token, &request, &sealed), &sig) {
        return Err(Error::VerifyFailed(format!(
            "the answer does not carry node {server}'s signature for this query: refused (not cached)"
        )));
    }
    if sealed.len() < crypto::HPKE_ENC_LEN {
        return Err(bad("the answer is too short".into()));
    }
    let (enc, ct) = sealed.split_at(crypto::HPKE_ENC_LEN);
    let plain = crypto::hpke_open(&me.1.x25519, enc.try_into().expect("32 bytes"), DATA_INFO, &d.aad(), ct)
        .ok_or_else(|| Error::VerifyFailed(format!("node {server}'s answer does not open with this node's key")))?;
    let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|e| bad(format!("the answer: {e}")))?;
    let version = v["version"].as_u64().ok_or_else(|| bad("the answer has no version".into()))?;
    let values: BTreeMap<String, Option<String>> = v["values"]
        .as_object()
        .ok_or_else(|| bad("the answer has no values".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
        .collect();
    let asked: std::collections::BTreeSet<&String> = ids.iter().collect();
    if values.keys().collect::<std::collections::BTreeSet<_>>() != asked {
        return Err(bad("the answer is not for the ids asked".into()));
    }
    send(w, "QUIT")?;
    let _ = read_line(r);
    Ok(Answer { version, values })
}

/// The resolver's cache: (node, id) → value at a version.
pub struct Cache {
    conn: Connection,
    path: std::path::PathBuf,
}

impl Cache {
    pub fn open(home: &crate::keys::Home) -> Result<Self> {
        let path = home.state_file("token-cache.db")?;
        Ok(Cache { conn: crate::db::open(&path, &CACHE_SCHEMA)?, path })
    }

    /// The cached value of (node, id) if it was fetched at `version` or later.
    pub fn get(&self, node: u16, id: &str, version: u64) -> Result<Option<Option<String>>> {
        self.conn
            .query_row(
                "SELECT value FROM cache WHERE node = ?1 AND id = ?2 AND version >= ?3",
                params![node, id, version as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(crate::db::error(&self.path))
    }

    pub fn put(&self, node: u16, id: &str, value: Option<&str>, version: u64) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cache (node, id, value, version) VALUES (?1, ?2, ?3, ?4)",
                params![node, id, value, version as i64],
            )
            .map(|_| ())
            .map_err(crate::db::error(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_item, DataStore, DATA_SCHEMA};

    /// A node's data file as `sslx token store` of commit 9cb70be left it.
    #[test]
    fn data_made_by_the_previous_version_opens_with_its_values_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let dump = include_str!("../../tests/fixtures/token-data-v0.sql");
        let path = crate::db::made_by_the_previous_version(dir.path(), "d.db", dump);
        let mut d = DataStore::open(&path).unwrap();
        assert_eq!(crate::db::version_of(&d.conn).unwrap(), DATA_SCHEMA.version());
        assert_eq!(d.version().unwrap(), 1);
        assert_eq!(d.get("Fred.Telephone").unwrap().as_deref(), Some("(345) 555-1212"));
        assert_eq!(d.put(&[("Fred.Email".into(), "f@example.org".into())]).unwrap(), 2);
    }

    #[test]
    fn store_items_are_ids_the_dialogue_can_carry_and_one_line_values() {
        assert_eq!(
            parse_item("Fred.Telephone=(345) 555-1212").unwrap(),
            ("Fred.Telephone".into(), "(345) 555-1212".into())
        );
        assert_eq!(parse_item(" Fred.X =a=b").unwrap(), ("Fred.X".into(), "a=b".into()));
        for bad in ["no-equals", "=v", "a b=v", "a,b=v", "a=line\nbreak", "a\tb=v"] {
            assert!(parse_item(bad).is_err(), "{bad:?}");
        }
    }
}
