//! CDS state: pending requests, registered participants, the call log (the billing tape), the
//! mailbox's bundles and their delivery states, rate-limit events, and the CDS's own signing key.
//! The CDS reaches it only through the [`Store`] trait; [`SqliteStore`] keeps it in one SQLite
//! file (WAL) and is the default. Everything the registrar confirms is committed before it
//! answers.
//!
//! Keys at rest: every CDSK and the signing seed are sealed ([`AtRest`], wrap 3.) under a 32-byte
//! key kept in a separate file (`--key-file`, default `DB.key`, made 0600 on first start), so a
//! copy of the database alone opens nothing. A request's CDSK is wiped once the request is
//! confirmed, denied for good, or expired; the participant's current CDSK is the one kept.

mod postgres;
mod sqlite;

pub use postgres::{is_postgres_url, redacted, PgCluster, PgOptions, PgStore, PG_MIGRATIONS};
pub use sqlite::{SqliteStore, SCHEMA};

use crate::crypto::{self, Secret};
use crate::db::Column;
use crate::relay::DeliveryState;
use crate::{Error, Result};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Everything the CDS keeps, as one interface: the SQLite implementation is [`SqliteStore`];
/// another backend implements the same methods with the same meaning (each says what must be
/// atomic) and runs the same tests (`store::tests::conformance`).
pub trait Store: Send + Sync {
    /// The CDS's Ed25519 signing seed, made (from `rng`) and kept on first use; made once even
    /// when several CDS processes start on a new store at the same moment.
    fn sign_seed(&self, rng: &dyn SecureRandom) -> Result<Secret<32>>;

    /// Records an open request (its CDSK sealed at rest).
    fn insert_request(&self, r: &RequestRow) -> Result<()>;
    fn delete_request(&self, id: &[u8; 16]) -> Result<()>;
    /// A request; its CDSK is `None` once wiped (confirmed, denied for good, or expired).
    fn request(&self, id: &[u8; 16]) -> Result<Option<RequestRow>>;
    /// Takes one confirmation attempt of a pending request, atomically (only while fewer than
    /// `max` were made): concurrent confirmations cannot make more than `max` attempts between
    /// them. Returns the attempts made including this one, or `None` when none is left (or the
    /// request is not pending).
    fn take_attempt(&self, id: &[u8; 16], max: u32) -> Result<Option<u32>>;
    /// A failed attempt that was the last one: the request, if still pending, is denied for
    /// good and its CDSK wiped (one confirmed meanwhile stays confirmed).
    fn deny_for_good(&self, id: &[u8; 16]) -> Result<()>;
    /// Marks the request confirmed (its CDSK wiped) and (re)registers the participant with it,
    /// atomically with two checks: the request is still pending (else [`Confirmation::Replay`]:
    /// confirmed meanwhile), and the name is free, or registered to this request's key, or to
    /// the key the request proved when it was opened (else [`Confirmation::NameTaken`]: another
    /// key registered it meanwhile; first come wins, and nothing changes). `source`: the address
    /// the confirmation came from, the participant's registered source.
    fn confirm(
        &self,
        req: &RequestRow,
        nonce: &[u8; 32],
        channels: &str,
        source: Option<&str>,
        now: u64,
        key_expires: u64,
    ) -> Result<Confirmation>;
    /// A renewal (PROTOCOL.md 5.8): the participant's CDSK becomes `new`, valid until
    /// `key_expires`, renewed at `now`, atomically and only while its key is still `current`
    /// (`false`, and nothing changed, otherwise: another renewal, a new VSU or a release came
    /// first). Not a VSU: the channels, the VSU times and count and the registered source stay.
    fn renew_key(&self, name: &str, current: &Secret<32>, new: &Secret<32>, now: u64, key_expires: u64)
        -> Result<bool>;
    /// Whether a request for `name` is pending and unexpired (for standing).
    fn has_pending(&self, name: &str, now: u64) -> Result<bool>;

    fn participant(&self, name: &str) -> Result<Option<Participant>>;
    /// A confirmed participant's CDSK and key expiry.
    fn participant_cdsk(&self, name: &str) -> Result<Option<(Secret<32>, u64)>>;
    /// The address a participant confirmed its enrollment from (the seed's ANI), if recorded.
    fn participant_source(&self, name: &str) -> Result<Option<String>>;
    /// Admin: forgets a registration, so the name can be enrolled again by any key.
    fn release(&self, name: &str) -> Result<bool>;

    /// The billing tape: a call is logged when it starts (or is refused) ...
    fn call_started(
        &self,
        tracking_id: &[u8; 16],
        caller: &str,
        callee: &str,
        start: u64,
        result: &CallResult,
    ) -> Result<()>;
    /// ... and completed when it ends, with the bytes each way.
    fn call_ended(
        &self,
        tracking_id: &[u8; 16],
        end: u64,
        bytes_up: u64,
        bytes_down: u64,
        result: &CallResult,
    ) -> Result<()>;
    /// Calls that started at or after `since`, oldest first (calls of one second in the order
    /// they were logged).
    fn calls_since(&self, since: u64) -> Result<Vec<CallRecord>>;

    /// Reserves room for a deposit before its bytes arrive, atomically with the check against
    /// every limit of `limits` (sums in checked arithmetic), so concurrent deposits cannot all
    /// pass it. `Ok(Err(why))` when it does not fit. The reservation holds no file until
    /// `bundle_stored`. Its id (the item id the recipient later acknowledges) is never given to
    /// another bundle, even after this one is gone.
    fn bundle_reserve(&self, b: &StoredBundle, limits: MailboxLimits) -> Result<std::result::Result<i64, String>>;
    /// A reservation whose bytes did not arrive (cut off, wrong hash): the room is free again.
    fn bundle_cancel(&self, id: i64) -> Result<()>;
    /// The reserved bundle's bytes are in `b.path`: it waits for its recipient, and its delivery
    /// state is queued, atomically. An error (and nothing recorded) when the reservation is gone
    /// (cancelled, or forgotten by a purge or a restart): the caller removes the file.
    fn bundle_stored(&self, id: i64, b: &StoredBundle) -> Result<()>;
    /// Forgets the reservations of deposits no CDS is taking: called once when a CDS starts
    /// serving. With one CDS on the store that is every reservation (those cut off by a stop
    /// left only their reservations); on a store several instances share, those of instances
    /// that are gone. Returns how many.
    fn forget_reservations(&self) -> Result<usize>;
    /// The oldest unexpired stored bundle for `recipient` but those in `skip` (kept on this
    /// collection); expired ones met on the way are dropped (state expired) and their files
    /// returned for removal.
    fn bundle_next(&self, recipient: &str, now: u64, skip: &HashSet<i64>) -> Result<NextBundle>;
    /// The recipient took stored item `id`: forgets it and records the outcome (delivered or
    /// refused), atomically. Returns the file to remove; `None` when `recipient` has no such
    /// stored item (taken already, or expired).
    fn bundle_done(&self, recipient: &str, id: i64, state: DeliveryState, now: u64) -> Result<Option<String>>;
    /// The delivery state of `sender`'s bundles with these ids: (state, time), unknown and 0
    /// for a bundle this CDS never stored for that sender.
    fn delivery_states(&self, sender: &str, ids: &[[u8; 8]]) -> Result<Vec<(DeliveryState, u64)>>;

    /// Counts one event for each of `keys` if none of them is over its limit, atomically; else
    /// counts nothing and returns the key that is over, with the seconds until it frees up.
    fn rate_take(&self, keys: &[(String, Limit)], now: u64) -> Result<Option<(String, u64)>>;

    /// The KDC's own key (seals ticket-granting tickets, 5F), made (from `rng`) and kept on first
    /// use, once, as the signing seed is.
    fn kdc_key(&self, rng: &dyn SecureRandom) -> Result<Secret<32>>;
    /// Adds a principal (its keys sealed at rest); `false`, and nothing changed, when the name
    /// is taken.
    fn principal_add(&self, p: &PrincipalRow) -> Result<bool>;
    fn principal(&self, name: &str) -> Result<Option<PrincipalRow>>;
    /// Every principal, by name.
    fn principals(&self) -> Result<Vec<PrincipalRow>>;
    /// A new key for a principal (a new password, a host's rotation), atomically: its version
    /// goes up by one, and the key it had is kept as the previous one until `previous_until`
    /// (0: not kept). Returns the new version; `None` when there is no such principal.
    fn principal_rekey(
        &self,
        name: &str,
        key: &Secret<32>,
        argon2: Option<crate::kdc::Argon2Params>,
        previous_until: u64,
    ) -> Result<Option<u32>>;
    /// Disables (or enables again) a principal; `false` when there is none.
    fn principal_set_disabled(&self, name: &str, disabled: bool) -> Result<bool>;
    fn principal_delete(&self, name: &str) -> Result<bool>;

    /// The hourly purge, in one transaction: wipes the CDSK of requests that expired, forgets
    /// requests that expired more than `grace` seconds ago (pending or denied; confirmed ones
    /// stay as the history of the participant's VSUs), drops reservations older than six hours,
    /// drops expired bundles (state expired, their files returned for removal) and rate-limit
    /// events older than `rate_window`.
    fn purge_expired(&self, now: u64, grace: u64, rate_window: u64) -> Result<Purged>;
}

/// Opens the store `db` names: a PostgreSQL database for a `postgres://` URL (`pg` says how;
/// its key file must be given, since nothing lies beside a URL), else the SQLite file (its key
/// file `DB.key` unless given).
pub fn open(db: &Path, key_file: Option<&Path>, pg: PgSettings) -> Result<Box<dyn Store>> {
    open_serving(db, key_file, pg).map(|(s, _)| s)
}

/// [`open`], and for a PostgreSQL store opened to serve (with `pg.advertise`), this instance
/// as one of the cluster over it.
pub fn open_serving(
    db: &Path,
    key_file: Option<&Path>,
    pg: PgSettings,
) -> Result<(Box<dyn Store>, Option<SharedCluster>)> {
    match db.to_str().filter(|d| is_postgres_url(d)) {
        Some(url) => {
            let key_file = key_file.ok_or_else(|| {
                Error::Usage(
                    "a PostgreSQL database needs --key-file: the key that seals its secrets, the same file on every instance"
                        .into(),
                )
            })?;
            let ca_pem = pg
                .ca
                .as_deref()
                .map(|p| std::fs::read(p).map_err(|e| Error::Usage(format!("--db-ca {}: {e}", p.display()))))
                .transpose()?;
            let opts = PgOptions { url: url.to_owned(), ca_pem, pool_size: pg.pool_size, serving: pg.serving };
            let store = PgStore::open(&opts, key_file)?;
            let cluster = match (&pg.advertise, pg.serving) {
                (Some(at), true) => Some(store.cluster(at)? as SharedCluster),
                _ => None,
            };
            Ok((Box::new(store), cluster))
        }
        None => {
            let key = key_file.map(Path::to_path_buf).unwrap_or_else(|| default_key_file(db));
            Ok((Box::new(SqliteStore::open_with_key(db, &key)?), None))
        }
    }
}

/// This instance's view of the others over one store.
pub type SharedCluster = std::sync::Arc<dyn crate::cds::cluster::Cluster>;

/// What opening a PostgreSQL store takes besides its URL and key file.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// PEM root certificates for the server's TLS certificate (`--db-ca`).
    pub ca: Option<PathBuf>,
    /// Connections kept open at most (`--db-pool`).
    pub pool_size: usize,
    /// A serving instance (registered, with a heartbeat), not an admin command.
    pub serving: bool,
    /// Where participants reach this instance (`--advertise`): a serving instance with one is
    /// one of a cluster.
    pub advertise: Option<String>,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings { ca: None, pool_size: 4, serving: false, advertise: None }
    }
}

/// The key file beside a database when `--key-file` is not given: `DB.key`.
pub fn default_key_file(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

use crate::crypto::labels::cds::AT_REST_LABEL;

/// The key file's key: seals every secret a store keeps (each under its own associated data,
/// [`participant_aad`], [`request_aad`], `sign_seed`), whatever the backend.
pub struct AtRest {
    key: Secret<32>,
    rng: SystemRandom,
}

impl AtRest {
    /// Reads the at-rest key from `path` (refused if group or others can read it), or makes a
    /// new one there (0600) when the file does not exist. Made without replacing: when several
    /// instances start at once on one shared path, the first file stays and every one reads it.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        use crate::keys::{decode_line, encode_line, LineKind};
        let rng = SystemRandom::new();
        let read = |path: &Path| -> Result<Self> {
            let text = crate::keys::read_secret_file(path)?;
            let line = crate::keys::find_line(LineKind::Cdsk, &text)
                .ok_or_else(|| Error::Usage(format!("{}: no SSLX-CDSK-1 line (not a CDS key file)", path.display())))?;
            let d = zeroize::Zeroizing::new(decode_line(LineKind::Cdsk, line)?);
            Ok(AtRest { key: Secret::from_slice(&d).expect("32 bytes"), rng: SystemRandom::new() })
        };
        if path.exists() {
            return read(path);
        }
        let key: Secret<32> = Secret::random(&rng);
        let text = zeroize::Zeroizing::new(format!(
            "# sslx-cds key file: seals the CDS keys in the database; keep it apart from the database\n{}\n",
            encode_line(LineKind::Cdsk, key.expose())
        ));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let io = |e: std::io::Error| Error::io(format!("writing the key file {}", path.display()), e);
        let mut tmp = tempfile::Builder::new().prefix(".sslx-cds-key-").tempfile_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        match tmp.persist_noclobber(path) {
            Ok(_) => {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(AtRest { key, rng })
            }
            // Another process made it first: that one is the key.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read(path),
            Err(e) => Err(io(e.error)),
        }
    }

    pub fn seal(&self, aad: &[u8], secret: &[u8]) -> Vec<u8> {
        crypto::wrap(self.key.expose(), AT_REST_LABEL, aad, secret, &self.rng)
    }

    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Secret<32>> {
        crypto::unwrap(self.key.expose(), AT_REST_LABEL, aad, sealed)
            .and_then(|v| Secret::from_slice(&zeroize::Zeroizing::new(v)))
            .ok_or_else(|| Error::VerifyFailed("CDS database: a sealed key does not open under the key file".into()))
    }

    /// The key that authenticates signals between instances of one store (HKDF of this key:
    /// every instance has it, the database alone does not).
    pub fn signal_key(&self) -> Secret<32> {
        let mut k = [0u8; 32];
        crypto::hkdf(b"", crate::crypto::labels::cds::SIGNAL_KEY_LABEL, self.key.expose(), &mut k);
        let s = Secret::from_slice(&k).expect("32 bytes");
        zeroize::Zeroize::zeroize(&mut k);
        s
    }

    /// The check value that ties a database to its key file.
    pub fn check_value(&self) -> Vec<u8> {
        self.seal(b"check", b"")
    }

    /// Whether `check` was made by [`AtRest::check_value`] under this key.
    pub fn opens(&self, check: &[u8]) -> bool {
        crypto::unwrap(self.key.expose(), AT_REST_LABEL, b"check", check).is_some()
    }
}

/// The associated data of a participant's sealed CDSK.
pub fn participant_aad(name: &str) -> Vec<u8> {
    [b"participant:".as_slice(), name.as_bytes()].concat()
}

/// The associated data of a request's sealed CDSK.
pub fn request_aad(id: &[u8]) -> Vec<u8> {
    [b"request:".as_slice(), id].concat()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Confirmed,
    Denied,
}

impl Column for RequestStatus {
    const COLUMN: &'static str = "requests.status";
    const ALL: &'static [(Self, &'static str)] = &[
        (RequestStatus::Pending, "pending"),
        (RequestStatus::Confirmed, "confirmed"),
        (RequestStatus::Denied, "denied"),
    ];
}

/// A registered participant's status (what standing shows, until its key expires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantStatus {
    Confirmed,
}

impl Column for ParticipantStatus {
    const COLUMN: &'static str = "participants.status";
    const ALL: &'static [(Self, &'static str)] = &[(ParticipantStatus::Confirmed, "confirmed")];
}

/// An open request the CDS has answered and waits to see confirmed.
pub struct RequestRow {
    pub id: [u8; 16],
    pub name: String,
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
    pub email: String,
    pub oob: String,
    pub created: u64,
    pub expires: u64,
    /// The request's CDSK; `None` once wiped (confirmed, denied for good, expired).
    pub cdsk: Option<Secret<32>>,
    pub attempts: u32,
    pub status: RequestStatus,
    /// When the name was registered to another key at open time: that key, proven by the request.
    pub prior_ed25519: Option<[u8; 32]>,
}

/// What [`Store::confirm`] did.
#[derive(Debug, Clone)]
pub enum Confirmation {
    /// The participant as registered now.
    Confirmed(Participant),
    /// The request was not pending any more (a replayed confirmation).
    Replay,
    /// The name is registered to another key, which the request did not prove.
    NameTaken,
}

/// Whether a request may take a name registered to `holder`: its own key, or the one it proved
/// when it was opened (a key rotation).
pub fn may_take_name(req: &RequestRow, holder: &[u8; 32]) -> bool {
    crypto::ct_eq(holder, &req.ed25519) || req.prior_ed25519.is_some_and(|k| crypto::ct_eq(&k, holder))
}

/// A participant whose VSU succeeded.
#[derive(Debug, Clone)]
pub struct Participant {
    pub name: String,
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
    pub channels: String,
    pub first_vsu: u64,
    pub last_vsu: u64,
    pub vsu_count: u32,
    pub key_expires: u64,
    /// When the key was last renewed (5.8) since the last VSU; `None` if never.
    pub key_renewed: Option<u64>,
    pub status: ParticipantStatus,
}

impl Participant {
    /// The participant as [`Store::confirm`] registers it from `req` (whatever the backend):
    /// its VSU count and first VSU carried over from the registration it replaces, if any.
    pub(crate) fn confirmed(
        req: &RequestRow,
        channels: String,
        first_vsu: u64,
        now: u64,
        vsu_count: u32,
        key_expires: u64,
    ) -> Participant {
        Participant {
            name: req.name.clone(),
            x25519: req.x25519,
            ed25519: req.ed25519,
            channels,
            first_vsu,
            last_vsu: now,
            vsu_count,
            key_expires,
            key_renewed: None,
            status: ParticipantStatus::Confirmed,
        }
    }
}

/// A principal of the KDC (5F): a user (its key from a password, with the Argon2id
/// parameters that made it), a host or a gateway (its key in a key table).
#[derive(Clone)]
pub struct PrincipalRow {
    pub name: String,
    pub kind: crate::kdc::PrincipalKind,
    /// The key's version (1 at first, up by one at each new key).
    pub kvno: u32,
    pub key: Secret<32>,
    /// The key before this one, still valid until the time given (a host's rotation).
    pub previous: Option<(u32, Secret<32>, u64)>,
    pub argon2: Option<crate::kdc::Argon2Params>,
    pub disabled: bool,
    pub created: u64,
}

impl std::fmt::Debug for PrincipalRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalRow")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("kvno", &self.kvno)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl PrincipalRow {
    /// The key of version `kvno`, if it is the current one or a previous one still valid at `now`.
    pub fn key_of(&self, kvno: u32, now: u64) -> Option<&Secret<32>> {
        if kvno == self.kvno {
            return Some(&self.key);
        }
        self.previous.as_ref().filter(|(v, _, until)| *v == kvno && *until > now).map(|(_, k, _)| k)
    }
}

/// The associated data of a principal's sealed key of one version: its kind is bound in, so a
/// write to the database alone cannot make a user's key a gateway's.
pub fn principal_key_aad(kind: crate::kdc::PrincipalKind, name: &str, kvno: u32) -> Vec<u8> {
    format!("principal:{}:{name}:{kvno}", crate::db::Column::as_str(kind)).into_bytes()
}

/// How a call on the billing tape went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// The callee answered; the splice is running.
    Connected,
    /// Both directions ended cleanly.
    Completed,
    /// The splice broke (idle, reset).
    Cut,
    /// The callee was rung but did not answer.
    #[serde(rename = "no answer")]
    NoAnswer,
    /// The CDS refused the call.
    Refused,
}

impl Column for CallOutcome {
    const COLUMN: &'static str = "calls.outcome";
    const ALL: &'static [(Self, &'static str)] = &[
        (CallOutcome::Connected, "connected"),
        (CallOutcome::Completed, "completed"),
        (CallOutcome::Cut, "cut"),
        (CallOutcome::NoAnswer, "no answer"),
        (CallOutcome::Refused, "refused"),
    ];
}

/// A call's outcome and what more there is to say (a refusal's reason, why a splice was cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    pub outcome: CallOutcome,
    pub detail: String,
}

impl CallResult {
    pub fn new(outcome: CallOutcome, detail: impl Into<String>) -> Self {
        CallResult { outcome, detail: detail.into() }
    }
}

impl std::fmt::Display for CallResult {
    /// As the tape shows it: `completed`, `refused: <reason>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.outcome.as_str())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// One call on the billing tape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub tracking_id: String,
    pub caller: String,
    pub callee: String,
    pub start: u64,
    pub end: Option<u64>,
    /// Bytes from the caller to the callee.
    pub bytes_up: u64,
    /// Bytes from the callee to the caller.
    pub bytes_down: u64,
    pub outcome: CallOutcome,
    /// The outcome as the tape shows it (`refused: <reason>`).
    pub result: String,
}

/// The next bundle for a recipient (its item id), and the files of expired ones to remove.
pub type NextBundle = (Option<(i64, StoredBundle)>, Vec<String>);

/// A bundle kept for a recipient who was not listening (store-and-forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBundle {
    pub recipient: String,
    pub sender: String,
    pub bundle_id: [u8; 8],
    pub size: u64,
    pub path: String,
    pub created: u64,
    pub expires: u64,
}

/// Mailbox limits for a deposit.
#[derive(Debug, Clone, Copy)]
pub struct MailboxLimits {
    /// Bytes waiting for one recipient.
    pub quota: u64,
    /// Bytes waiting for one recipient from one sender.
    pub per_sender: u64,
    /// Bytes one sender has waiting, for all its recipients together.
    pub sender_total: u64,
    /// Bytes waiting in all.
    pub total: u64,
}

/// What each bundle weighs against the quotas at least, whatever its size: its file and its row
/// take room too (without it, empty bundles would pass every quota, without end). The stores
/// keep running totals of these weights (`mailbox_use`, kept by triggers on `bundles`), so the
/// number is in their schemas too (`sqlite::V7`, `postgres::PG_V3`).
pub const BUNDLE_FLOOR: u64 = 4096;

/// The running totals a deposit is weighed against, as keys of `mailbox_use`: everything, the
/// recipient's, the sender's, and the sender's for this recipient (names hold no spaces).
pub(crate) fn use_keys(recipient: &str, sender: &str) -> [String; 4] {
    ["*".to_owned(), format!("r {recipient}"), format!("s {sender}"), format!("p {recipient} {sender}")]
}

/// What the hourly purge removed.
#[derive(Debug, Default)]
pub struct Purged {
    pub requests: usize,
    /// Files of expired bundles, for the caller to delete.
    pub bundle_files: Vec<String>,
}

/// A rate limit: at most `count` events per `window` seconds for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub window: u64,
}

/// Why a deposit does not fit (the reason `bundle_reserve` gives), one wording for every backend.
pub(crate) fn over_limit(b: &StoredBundle, limits: MailboxLimits, used: Used) -> Option<String> {
    let weight = b.size.max(BUNDLE_FLOOR);
    let fits = |have: u64, max: u64| have.checked_add(weight).is_some_and(|t| t <= max);
    let this = if weight > b.size {
        format!("this bundle is {} (and counts as {weight}, every bundle's least)", b.size)
    } else {
        format!("this bundle is {}", b.size)
    };
    if b.size > i64::MAX as u64 || !fits(used.recipient, limits.quota) {
        return Some(format!(
            "{:?}'s mailbox is full: {} of {} bytes wait, {this}",
            b.recipient, used.recipient, limits.quota
        ));
    }
    if !fits(used.from_sender, limits.per_sender) {
        return Some(format!(
            "{} bytes from {:?} already wait for {:?} (at most {} from one sender), {this}",
            used.from_sender, b.sender, b.recipient, limits.per_sender
        ));
    }
    if !fits(used.sender, limits.sender_total) {
        return Some(format!(
            "{} bytes from {:?} already wait at this CDS (at most {} from one sender), {this}",
            used.sender, b.sender, limits.sender_total
        ));
    }
    if !fits(used.all, limits.total) {
        return Some(format!("the CDS's mailbox is full ({} of {} bytes), {this}", used.all, limits.total));
    }
    None
}

/// Bytes waiting (reserved or stored, each bundle weighing at least `BUNDLE_FLOOR`), as
/// `over_limit` weighs a deposit against them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Used {
    pub recipient: u64,
    pub from_sender: u64,
    pub sender: u64,
    pub all: u64,
}

#[doc(hidden)]
pub mod conformance;
#[cfg(test)]
mod tests;
