//! Common session tokens (seed 003, second patent): a node mints a signed, optionally sealed,
//! URL-safe token carrying a user's session; another node verifies it (and, for `@NODE.ID`
//! values, fetches the data out of band). Layout: `layout.rs` and docs/PROTOCOL.md "Tokens".

pub mod keyring;
pub mod layout;
pub mod numbers;
pub mod oob;

pub use keyring::Keyring;
pub use layout::{Sealed, Token};

use crate::crypto;
use crate::keys::Identity;
use ring::rand::SecureRandom;

pub use crate::crypto::labels::token::{BODY_KEY_CONTEXT, EPHEMERAL_SALT, SEAL_INFO};
/// Default size limit of the encoded token: what fits in a URL or a cookie everywhere.
pub const DEFAULT_MAX_LEN: usize = 1024;
/// Default clock-skew allowance when checking times, seconds.
pub const DEFAULT_SKEW: u64 = 5;

/// Why a token was refused; each maps to its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("unknown node {0}: it is not in the keyring")]
    UnknownNode(u16),
    #[error("{what} (now {now}, {edge})")]
    Expired { what: String, now: String, edge: String },
    #[error("not for this node: {0}")]
    NotForUs(String),
    #[error("the token would be {len} characters, over the {max}-character limit")]
    TooLarge { len: usize, max: usize },
    #[error("{0}")]
    Usage(String),
}

impl TokenError {
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind::*;
        match self {
            TokenError::Malformed(_) => Malformed,
            TokenError::BadSignature(_) => VerifyFailed,
            TokenError::UnknownNode(_) => NotFound,
            TokenError::Expired { .. } => Expired,
            TokenError::NotForUs(_) => NotForUs,
            TokenError::TooLarge { .. } | TokenError::Usage(_) => Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            TokenError::TooLarge { .. } => Some(
                "move bulky fields out of band: give them as @NODE.ID references (sslx token serve keeps the data), \
                 or raise --max-size"
                    .into(),
            ),
            TokenError::UnknownNode(n) => Some(format!("add a line `{n} sslx-pub1…` for that node to the keyring")),
            _ => None,
        }
    }
}

/// Session data: `Key: Value` lines, in order, keys unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Fields(pub Vec<(String, String)>);

/// Keys are what an RFC 822 header allows in practice: letters, digits and `-`.
pub fn check_key(k: &str) -> Result<(), TokenError> {
    if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(TokenError::Usage(format!("field name {k:?}: use 1-64 letters, digits and '-'")));
    }
    Ok(())
}

impl Fields {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str())
    }

    /// Adds a field; a key given twice, or a value with a line break, is refused.
    pub fn push(&mut self, k: &str, v: &str) -> Result<(), TokenError> {
        check_key(k)?;
        if v.contains(['\n', '\r']) {
            return Err(TokenError::Usage(format!("the value of {k} has a line break")));
        }
        if self.get(k).is_some() {
            return Err(TokenError::Usage(format!("the field {k} is given twice")));
        }
        self.0.push((k.to_owned(), v.trim().to_owned()));
        Ok(())
    }

    pub fn to_text(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }

    /// Parses session data exactly as docs/PROTOCOL.md 5E fixes it, the only form a verifier
    /// accepts (so two verifiers never read one signed token differently): lines
    /// `KEY ": " VALUE LF`, the last one ending in LF too; no CR, no empty line; keys of
    /// letters, digits and `-` (1–64), unique case-insensitively; values without CR or LF and
    /// without a space or tab at either end (they may be empty); `Created` then `Expires` first,
    /// each a decimal number without leading zeros.
    pub fn parse_session_data(text: &str) -> Result<Self, TokenError> {
        let bad = |why: String| TokenError::Malformed(format!("the session data is not canonical: {why}"));
        let body = text.strip_suffix('\n').ok_or_else(|| bad("it does not end with a line feed".into()))?;
        let mut f = Fields::default();
        for line in body.split('\n') {
            if line.contains('\r') {
                return Err(bad("a line holds a carriage return".into()));
            }
            let (k, v) = line.split_once(": ").ok_or_else(|| bad(format!("{line:?} is not `Key: Value`")))?;
            check_key(k).map_err(|e| bad(e.to_string()))?;
            if v.trim_matches([' ', '\t']) != v {
                return Err(bad(format!("the value of {k} starts or ends with a space")));
            }
            if f.get(k).is_some() {
                return Err(bad(format!("the field {k} is given twice")));
            }
            f.0.push((k.to_owned(), v.to_owned()));
        }
        match f.0.as_slice() {
            [(c, _), (e, _), ..] if c == "Created" && e == "Expires" => {}
            _ => return Err(bad("it does not start with Created, then Expires".into())),
        }
        for (k, v) in &f.0 {
            if ["Created", "Expires", "Version"].iter().any(|n| n.eq_ignore_ascii_case(k)) && parse_number(v).is_none()
            {
                return Err(bad(format!("{k} is not a decimal number without leading zeros")));
            }
        }
        Ok(f)
    }

    /// Parses `Key: Value` lines given to `sslx token mint --fields` (a person's input: blank
    /// lines skipped, spaces around keys and values dropped); minting writes them canonically.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let mut f = Fields::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| TokenError::Malformed(format!("a session-data line without ':' ({line:?})")))?;
            f.push(k.trim(), v).map_err(|e| TokenError::Malformed(e.to_string()))?;
        }
        Ok(f)
    }

    /// The `@NODE.ID` references: (field, node, data id).
    pub fn references(&self) -> Vec<(String, u16, String)> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let (node, id) = v.strip_prefix('@')?.split_once('.')?;
                // Decimal digits only, no leading zero: `@+1.X` and `@01.X` refer to nothing.
                let canonical = !node.is_empty()
                    && node.bytes().all(|b| b.is_ascii_digit())
                    && (node == "0" || !node.starts_with('0'));
                Some((k.clone(), node.parse().ok().filter(|_| canonical)?, id.to_owned()))
            })
            .collect()
    }
}

fn rfc3339(t: u64) -> String {
    crate::clock::fmt_time(t)
}

/// A number in session data: decimal digits, no sign, no leading zero (but `0` itself), at
/// most 20 digits and within u64.
pub fn parse_number(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// `Created` and `Expires` are Unix seconds in the token (10 characters where RFC 3339 takes
/// 20: a token must fit in a URL); `--json` shows them in RFC 3339 as well.
fn parse_time(s: &str) -> Option<u64> {
    parse_number(s)
}

/// The minting node's keys: Ed25519 expanded once (signing many tokens), and its X25519
/// secret (the sealing ephemerals derive from it, so the minter can open its own sealed tokens).
pub struct Signer {
    ed25519: ring::signature::Ed25519KeyPair,
    x25519: crypto::X25519Secret,
}

impl Signer {
    pub fn new(identity: &Identity) -> Self {
        Signer { ed25519: crypto::ed25519_keypair(identity.ed25519_seed.expose()), x25519: identity.x25519.clone() }
    }
    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.ed25519.sign(msg).as_ref().try_into().expect("64-byte Ed25519 signature")
    }
}

/// Sealing (docs/PROTOCOL.md 5E): the body is ChaCha20-Poly1305 under a key exported from an
/// HPKE base-mode context to the target node, whose ephemeral key is derived from the minter's
/// X25519 secret, the token's salt, session id and target. The target opens it with its key;
/// the minter, who can derive the same ephemeral, opens it too (the out-of-band server checks
/// the tokens it is shown).
pub mod seal {
    use super::*;
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    use zeroize::Zeroizing;

    fn ephemeral_ikm(minter: &crypto::X25519Secret, node: u16, number: u64, s: &Sealed) -> Zeroizing<[u8; 32]> {
        let mut info = s.salt.to_vec();
        info.extend_from_slice(&Token::aad(node, number)[1..]);
        info.extend_from_slice(&s.target.to_be_bytes());
        let mut ikm = Zeroizing::new([0u8; 32]);
        crypto::hkdf(EPHEMERAL_SALT, &info, minter.expose(), &mut *ikm);
        ikm
    }

    fn aead(key: &[u8; 32]) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte key"))
    }

    /// Seals `lines` to `target` (its X25519 key): the sealed header and the ciphertext.
    pub fn seal(
        minter: &crypto::X25519Secret,
        node: u16,
        number: u64,
        target: (u16, [u8; 32]),
        lines: &[u8],
        rng: &dyn SecureRandom,
    ) -> Option<(Sealed, Vec<u8>)> {
        let mut s = Sealed { target: target.0, salt: crypto::random_array(rng), enc: [0; 32] };
        let mut key = Zeroizing::new([0u8; 32]);
        s.enc = crypto::hpke_export_to(
            &target.1,
            SEAL_INFO,
            &ephemeral_ikm(minter, node, number, &s),
            BODY_KEY_CONTEXT,
            &mut *key,
        )?;
        let mut body = lines.to_vec();
        aead(&key)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::from(Token::aad(node, number)),
                &mut body,
            )
            .ok()?;
        Some((s, body))
    }

    fn open_with(key: &[u8; 32], t: &Token) -> Option<Vec<u8>> {
        let mut body = t.body.clone();
        let n = aead(key)
            .open_in_place(Nonce::assume_unique_for_key([0; 12]), Aad::from(Token::aad(t.node, t.number)), &mut body)
            .ok()?
            .len();
        body.truncate(n);
        Some(body)
    }

    /// The target node opens a token sealed to it.
    pub fn open_as_target(me: &crypto::X25519Secret, t: &Token) -> Option<Vec<u8>> {
        let s = t.sealed?;
        let mut key = Zeroizing::new([0u8; 32]);
        crypto::hpke_export_from(me, &s.enc, SEAL_INFO, BODY_KEY_CONTEXT, &mut *key)?;
        open_with(&key, t)
    }

    /// The minting node opens a token it sealed to `target_public` (the target's X25519 key).
    pub fn open_as_minter(minter: &crypto::X25519Secret, target_public: &[u8; 32], t: &Token) -> Option<Vec<u8>> {
        let s = t.sealed?;
        let mut key = Zeroizing::new([0u8; 32]);
        let enc = crypto::hpke_export_to(
            target_public,
            SEAL_INFO,
            &ephemeral_ikm(minter, t.node, t.number, &s),
            BODY_KEY_CONTEXT,
            &mut *key,
        )?;
        if !crypto::ct_eq(&enc, &s.enc) {
            return None;
        }
        open_with(&key, t)
    }
}

/// What to mint.
pub struct Mint<'a> {
    /// The minting node: its id and its signing key.
    pub node: u16,
    pub signer: &'a Signer,
    /// The session number (from `numbers::SessionNumbers`).
    pub number: u64,
    pub now: u64,
    pub ttl: u64,
    /// Fields after Created and Expires.
    pub fields: &'a Fields,
    /// Seal the body to this node: (node id, its X25519 public key).
    pub to: Option<(u16, [u8; 32])>,
    pub max_len: usize,
}

/// Mints a token: `Created`, `Expires`, then the fields; sealed if asked; signed over everything.
pub fn mint(m: &Mint<'_>, rng: &dyn SecureRandom) -> Result<String, TokenError> {
    if m.number > layout::MAX_NUMBER {
        return Err(TokenError::Usage("session numbers of this node are exhausted".into()));
    }
    let mut all = Fields::default();
    all.push("Created", &m.now.to_string())?;
    all.push("Expires", &(m.now + m.ttl).to_string())?;
    for (k, v) in &m.fields.0 {
        all.push(k, v)?;
    }
    let lines = all.to_text();
    // What is signed must read back as itself under the verifier's strict grammar.
    Fields::parse_session_data(&lines).map_err(|e| TokenError::Usage(e.to_string()))?;
    let (sealed, body) = match m.to {
        None => (None, lines.into_bytes()),
        Some(target) => {
            let (s, ct) = seal::seal(&m.signer.x25519, m.node, m.number, target, lines.as_bytes(), rng)
                .ok_or_else(|| TokenError::Usage("the target's public key is not a valid X25519 key".into()))?;
            (Some(s), ct)
        }
    };
    let budget = u16::MAX as usize - layout::OVERHEAD - 1 - layout::SEALED_HEAD - layout::SIG_LEN;
    if body.len() > budget {
        return Err(TokenError::TooLarge { len: body.len() * 4 / 3, max: m.max_len });
    }
    let signed = Token::signed_bytes(m.node, m.number, sealed, &body);
    let signature = m.signer.sign(&signed);
    let token = Token { node: m.node, number: m.number, sealed, body, signature }.encode();
    if token.len() > m.max_len {
        return Err(TokenError::TooLarge { len: token.len(), max: m.max_len });
    }
    Ok(token)
}

/// A verified token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub node: u16,
    pub number: u64,
    pub sealed: bool,
    pub created: u64,
    pub expires: u64,
    pub fields: Fields,
}

impl Verified {
    /// `NODE:NUMBER` in hex, the session id people quote.
    pub fn session_id(&self) -> String {
        format!("{:04x}:{:012x}", self.node, self.number)
    }
}

/// Who is verifying: its node id and identity (needed for sealed tokens).
pub struct Verifier<'a> {
    pub keyring: &'a Keyring,
    pub me: Option<(u16, &'a Identity)>,
    pub now: u64,
    pub skew: u64,
    /// The longest token (characters of its text form) accepted, as minting limits it.
    pub max_len: usize,
}

/// Checks a token in order: layout and CRC (malformed), the node (unknown node), the signature
/// (bad signature), the target (not for this node), the data, then the times (expired, with
/// the allowed skew).
pub fn verify(text: &str, v: &Verifier<'_>) -> Result<Verified, TokenError> {
    let len = text.trim().len();
    if len > v.max_len {
        return Err(TokenError::Malformed(format!(
            "the token is {len} characters, over the {}-character limit",
            v.max_len
        )));
    }
    let t = Token::decode(text)?;
    let public = v.keyring.get(t.node).ok_or(TokenError::UnknownNode(t.node))?;
    check_signature(&t, &public.ed25519)?;
    let lines = match t.sealed {
        None => t.body.clone(),
        Some(s) => {
            let (me, id) = v.me.ok_or_else(|| {
                TokenError::Usage(format!(
                    "the token is sealed to node {}: give that node's --key and --node",
                    s.target
                ))
            })?;
            if s.target != me {
                return Err(TokenError::NotForUs(format!(
                    "the token is sealed to node {}, this is node {me}",
                    s.target
                )));
            }
            seal::open_as_target(&id.x25519, &t).ok_or_else(|| {
                TokenError::NotForUs(format!("the sealed part does not open with the key of node {me}"))
            })?
        }
    };
    check_data(&t, lines, v.now, v.skew)
}

/// The signature: Ed25519 by the minting node over every byte before it.
pub fn check_signature(t: &Token, ed25519: &[u8; 32]) -> Result<(), TokenError> {
    let signed = Token::signed_bytes(t.node, t.number, t.sealed, &t.body);
    if !crypto::ed25519_verify(ed25519, &signed, &t.signature) {
        return Err(TokenError::BadSignature(format!(
            "the token does not verify under node {}'s key (altered, or signed by someone else)",
            t.node
        )));
    }
    Ok(())
}

/// The session data lines and the two times, checked against `now` with `skew`.
pub fn check_data(t: &Token, lines: Vec<u8>, now: u64, skew: u64) -> Result<Verified, TokenError> {
    let text = String::from_utf8(lines).map_err(|_| TokenError::Malformed("the session data is not UTF-8".into()))?;
    let fields = Fields::parse_session_data(&text)?;
    let time = |k: &str| {
        fields
            .get(k)
            .and_then(parse_time)
            .ok_or_else(|| TokenError::Malformed(format!("the session data has no valid {k} time")))
    };
    let (created, expires) = (time("Created")?, time("Expires")?);
    if now > expires.saturating_add(skew) {
        return Err(TokenError::Expired {
            what: format!("the token expired at {}", rfc3339(expires)),
            now: rfc3339(now),
            edge: format!("{skew} s of clock skew allowed"),
        });
    }
    if created > now.saturating_add(skew) {
        return Err(TokenError::Expired {
            what: format!("the token is not valid before {} (clocks apart?)", rfc3339(created)),
            now: rfc3339(now),
            edge: format!("{skew} s of clock skew allowed"),
        });
    }
    Ok(Verified { node: t.node, number: t.number, sealed: t.sealed.is_some(), created, expires, fields })
}

/// Replaces every `@NODE.ID` value of a verified token with the data from its node: from the
/// cache when it holds the id at the token's `Version` (or later), else asked from the node
/// (`oob::query`) and cached. A reference to a node not in the keyring, or without an address,
/// is an error (unknown node).
pub fn resolve(
    token: &str,
    got: &Verified,
    keyring: &Keyring,
    me: (u16, &Identity),
    cache: &oob::Cache,
    rng: &dyn SecureRandom,
) -> crate::Result<(Fields, usize)> {
    let version: u64 = got.fields.get("Version").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let refs = got.fields.references();
    let mut values: std::collections::BTreeMap<(u16, String), Option<String>> = Default::default();
    let mut by_node: std::collections::BTreeMap<u16, std::collections::BTreeSet<String>> = Default::default();
    for (_, node, id) in &refs {
        keyring.get(*node).ok_or(TokenError::UnknownNode(*node))?;
        match cache.get(*node, id, version)? {
            Some(v) => {
                values.insert((*node, id.clone()), v);
            }
            None => {
                by_node.entry(*node).or_default().insert(id.clone());
            }
        }
    }
    let mut fetched = 0;
    for (node, ids) in by_node {
        let ids: Vec<String> = ids.into_iter().collect();
        let server = keyring.get(node).ok_or(TokenError::UnknownNode(node))?;
        let addr = keyring.addr(node).ok_or_else(|| {
            TokenError::Usage(format!("the keyring gives no address for node {node} (add HOST:PORT to its line)"))
        })?;
        // A busy node (its greeting is `NNN ERR busy: …`) is asked again a few times.
        let mut delay = std::time::Duration::from_millis(50);
        let answer = loop {
            let stream = crate::net::connect(addr, &format!("node {node} at {addr}"))?;
            stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).ok();
            let mut w = stream.try_clone().map_err(|e| crate::Error::io("cloning the socket", e))?;
            let mut r = std::io::BufReader::new(stream);
            match oob::query(&mut r, &mut w, me, (node, &server.ed25519), token, &ids, rng) {
                Err(crate::Error::Refused { code, .. })
                    if code == crate::wire::RefusalCode::RateLimited as u16 && delay.as_millis() < 3200 =>
                {
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                other => break other?,
            }
        };
        for id in ids {
            let v = answer.values.get(&id).cloned().flatten();
            cache.put(node, &id, v.as_deref(), answer.version)?;
            values.insert((node, id), v);
            fetched += 1;
        }
    }
    let mut out = Fields::default();
    for (k, v) in &got.fields.0 {
        let value = match refs.iter().find(|(f, _, _)| f == k) {
            Some((_, node, id)) => values
                .get(&(*node, id.clone()))
                .cloned()
                .flatten()
                .ok_or_else(|| crate::Error::NotFound(format!("{k}: node {node} has no data under {id:?}")))?,
            None => v.clone(),
        };
        out.0.push((k.clone(), value));
    }
    Ok((out, fetched))
}

impl Fields {
    /// One `KEY=VALUE` (`sslx token mint --field`): the key trimmed, the value as given.
    pub fn push_assignment(&mut self, kv: &str) -> Result<(), TokenError> {
        let (k, v) = kv.split_once('=').ok_or_else(|| TokenError::Usage(format!("--field {kv:?}: give KEY=VALUE")))?;
        self.push(k.trim(), v)
    }

    /// Fields given as a document (`sslx token mint --fields FILE|-`): a JSON object (string
    /// values as they are, others in their JSON text), or `Key: Value` lines (`Fields::parse`).
    pub fn parse_input(text: &str) -> Result<Self, TokenError> {
        let mut f = Fields::default();
        if text.trim_start().starts_with('{') {
            let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| TokenError::Usage(format!("the fields are not a JSON object: {e}")))?;
            for (k, v) in obj {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                f.push(&k, &v)?;
            }
        } else {
            for (k, v) in Fields::parse(text)?.0 {
                f.push(&k, &v)?;
            }
        }
        Ok(f)
    }
}

/// How a minted token is handed over: bare, as a URL parameter (`--url BASE`), or as an HTTP
/// cookie (`--cookie`) that lives as long as the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    Bare,
    Url(String),
    Cookie { ttl: u64 },
}

impl Handover {
    pub fn render(&self, token: &str) -> String {
        match self {
            Handover::Bare => token.to_owned(),
            Handover::Url(base) => format!("{base}{}sslx_token={token}", if base.contains('?') { '&' } else { '?' }),
            Handover::Cookie { ttl } => {
                format!("Set-Cookie: sslx_token={token}; Max-Age={ttl}; Path=/; Secure; HttpOnly; SameSite=Lax")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_names_its_node_in_plain_decimal() {
        let mut f = Fields::default();
        for (k, v) in [("A", "@1.X"), ("B", "@+1.X"), ("C", "@01.X"), ("D", "@0.Y.Z"), ("E", "@70000.X")] {
            f.push(k, v).unwrap();
        }
        let refs: Vec<_> = f.references().into_iter().map(|(k, n, id)| format!("{k}{n}{id}")).collect();
        assert_eq!(refs, ["A1X", "D0Y.Z"]);
    }

    #[test]
    fn fields_come_from_assignments_json_and_lines() {
        let mut f = Fields::default();
        f.push_assignment(" User-ID =fred").unwrap();
        assert_eq!(f.get("User-ID"), Some("fred"));
        assert!(f.push_assignment("no equals sign").is_err());
        let j = Fields::parse_input(r#"{"Email-Address": "f@x.org", "Version": 3}"#).unwrap();
        assert_eq!((j.get("Email-Address"), j.get("Version")), (Some("f@x.org"), Some("3")));
        assert!(Fields::parse_input("{not json").is_err());
        let l = Fields::parse_input("User-ID: fred\n\nTelephone: @1.Fred.Telephone\n").unwrap();
        assert_eq!(l.get("Telephone"), Some("@1.Fred.Telephone"));
    }

    #[test]
    fn a_token_is_handed_over_bare_in_a_url_or_as_a_cookie() {
        assert_eq!(Handover::Bare.render("T"), "T");
        assert_eq!(Handover::Url("https://b.example/m".into()).render("T"), "https://b.example/m?sslx_token=T");
        assert_eq!(Handover::Url("https://b.example/m?x=1".into()).render("T"), "https://b.example/m?x=1&sslx_token=T");
        assert_eq!(
            Handover::Cookie { ttl: 300 }.render("T"),
            "Set-Cookie: sslx_token=T; Max-Age=300; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
    }
}
