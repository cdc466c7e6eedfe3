//! Relay messages: each proves its sender by a wrap under the sender's CDSK, bound to the message
//! type and the sender's name. Byte layouts: docs/PROTOCOL.md "Relay".

use crate::crypto::{self, Secret};
use crate::wire::{put_bytes16, put_str8, Msg, Reader, WireError, CHALLENGE_LEN, VERSION};
use ring::rand::SecureRandom;

pub const TYPE_ON_HOOK: u8 = 0x40;
pub const TYPE_HOOK_OK: u8 = 0x41;
pub const TYPE_RING: u8 = 0x42;
pub const TYPE_ANSWER: u8 = 0x43;
pub const TYPE_CALL: u8 = 0x44;
pub const TYPE_CALL_OK: u8 = 0x45;
pub const TYPE_TICKET_PUSH: u8 = 0x46;
pub const TYPE_DEPOSIT: u8 = 0x47;
pub const TYPE_DEPOSIT_OK: u8 = 0x48;
pub const TYPE_COLLECT: u8 = 0x49;
pub const TYPE_DELIVERY: u8 = 0x4a;
pub const TYPE_COLLECTED: u8 = 0x4b;
pub const TYPE_STATUS: u8 = 0x4c;
pub const TYPE_STATUS_OK: u8 = 0x4d;
pub const TYPE_KEEPALIVE: u8 = 0x4e;
pub const TYPE_HOOK_REPLACED: u8 = 0x4f;
pub const TYPE_MAILBOX_NOTICE: u8 = 0x60;

/// Bundle ids in one status request (its answer, 17 bytes each, stays within one frame).
pub const MAX_STATUS_IDS: usize = 3000;

pub use crate::crypto::labels::relay::{
    ANSWER_LABEL, CALL_LABEL, CALL_OK_LABEL, COLLECTED_LABEL, COLLECT_LABEL, DELIVERY_LABEL, DEPOSIT_LABEL,
    DEPOSIT_OK_LABEL, HOOK_OK_LABEL, HOOK_REPLACED_LABEL, KEEPALIVE_LABEL, MAILBOX_NOTICE_LABEL, ON_HOOK_LABEL,
    RING_LABEL, STATUS_LABEL, STATUS_OK_LABEL, TICKET_PUSH_LABEL,
};

/// A participant's message to the CDS, wrapped (AEAD, not signed) under its CDSK:
/// `str8 sender ‖ bytes16 wrap(CDSK_sender, label, aad = type ‖ version ‖ str8 sender ‖
/// challenge, body)`: the shape of every message a participant sends the relay (on hook,
/// answer, call, the mailbox's). The challenge is the one of the connection it is sent on
/// (the CDS hello), so a recorded message does not verify anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromParticipant<const T: u8> {
    pub sender: String,
    pub wrapped: Vec<u8>,
}

fn aad(t: u8, sender: &str, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, WireError> {
    let mut a = vec![t, VERSION];
    put_str8(&mut a, sender)?;
    a.extend_from_slice(challenge);
    Ok(a)
}

fn label(t: u8) -> &'static [u8] {
    match t {
        TYPE_ON_HOOK => ON_HOOK_LABEL,
        TYPE_ANSWER => ANSWER_LABEL,
        TYPE_DEPOSIT => DEPOSIT_LABEL,
        TYPE_COLLECT => COLLECT_LABEL,
        TYPE_COLLECTED => COLLECTED_LABEL,
        TYPE_STATUS => STATUS_LABEL,
        _ => CALL_LABEL,
    }
}

impl<const T: u8> FromParticipant<T> {
    pub fn new(
        sender: &str,
        cdsk: &Secret<32>,
        challenge: &[u8; CHALLENGE_LEN],
        body: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let wrapped = crypto::wrap(cdsk.expose(), label(T), &aad(T, sender, challenge)?, body, rng);
        Ok(FromParticipant { sender: sender.to_owned(), wrapped })
    }
    /// The body, if the message verifies under `cdsk` on the connection with `challenge`.
    pub fn open(&self, cdsk: &Secret<32>, challenge: &[u8; CHALLENGE_LEN]) -> Option<Vec<u8>> {
        crypto::unwrap(cdsk.expose(), label(T), &aad(T, &self.sender, challenge).ok()?, &self.wrapped)
    }
}

impl<const T: u8> Msg for FromParticipant<T> {
    const TYPE: u8 = T;
    const NAME: &'static str = match T {
        TYPE_ON_HOOK => "on hook",
        TYPE_ANSWER => "answer",
        TYPE_DEPOSIT => "mailbox deposit",
        TYPE_COLLECT => "mailbox collect",
        TYPE_COLLECTED => "mailbox collected",
        TYPE_STATUS => "mailbox status",
        _ => "call",
    };
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.sender)?;
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(FromParticipant { sender: r.str8("sender")?.to_owned(), wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// Callee → CDS: stay reachable. Body: `[16] hook nonce`.
pub type OnHook = FromParticipant<TYPE_ON_HOOK>;
/// Callee → CDS on a new connection after a ring. Body: `[16] call id`.
pub type Answer = FromParticipant<TYPE_ANSWER>;
/// Caller → CDS. Body: `str8 callee ‖ [16] call nonce` (the callee named encrypted).
pub type Call = FromParticipant<TYPE_CALL>;

/// CDS → participant: `bytes16 wrap(CDSK, label, aad = type ‖ version ‖ nonce, body)`, bound to
/// the nonce of the message it answers (hook OK, call OK) or to the call id (ring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromCds<const T: u8> {
    pub wrapped: Vec<u8>,
}

impl<const T: u8> FromCds<T> {
    fn label() -> &'static [u8] {
        match T {
            TYPE_HOOK_OK => HOOK_OK_LABEL,
            TYPE_RING => RING_LABEL,
            TYPE_TICKET_PUSH => TICKET_PUSH_LABEL,
            TYPE_DEPOSIT_OK => DEPOSIT_OK_LABEL,
            TYPE_DELIVERY => DELIVERY_LABEL,
            TYPE_STATUS_OK => STATUS_OK_LABEL,
            TYPE_KEEPALIVE => KEEPALIVE_LABEL,
            TYPE_HOOK_REPLACED => HOOK_REPLACED_LABEL,
            TYPE_MAILBOX_NOTICE => MAILBOX_NOTICE_LABEL,
            _ => CALL_OK_LABEL,
        }
    }
    fn aad(binding: &[u8; 16]) -> Vec<u8> {
        let mut a = vec![T, VERSION];
        a.extend_from_slice(binding);
        a
    }
    pub fn new(cdsk: &Secret<32>, binding: &[u8; 16], body: &[u8], rng: &dyn SecureRandom) -> Self {
        FromCds { wrapped: crypto::wrap(cdsk.expose(), Self::label(), &Self::aad(binding), body, rng) }
    }
    pub fn open(&self, cdsk: &Secret<32>, binding: &[u8; 16]) -> Option<Vec<u8>> {
        crypto::unwrap(cdsk.expose(), Self::label(), &Self::aad(binding), &self.wrapped)
    }
}

impl<const T: u8> Msg for FromCds<T> {
    const TYPE: u8 = T;
    const NAME: &'static str = match T {
        TYPE_HOOK_OK => "hook OK",
        TYPE_RING => "ring",
        TYPE_TICKET_PUSH => "ticket push",
        TYPE_DEPOSIT_OK => "deposit OK",
        TYPE_DELIVERY => "delivery",
        TYPE_STATUS_OK => "status OK",
        TYPE_KEEPALIVE => "keepalive",
        TYPE_HOOK_REPLACED => "hook replaced",
        TYPE_MAILBOX_NOTICE => "mailbox notice",
        _ => "call OK",
    };
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(FromCds { wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// CDS → callee: hook accepted. Bound to the on-hook nonce; body [`HookOkBody`].
pub type HookOk = FromCds<TYPE_HOOK_OK>;
/// CDS → callee over an idle hook, every keepalive interval (hook OK says it). Bound to the hook
/// nonce; body `u64 CDS time`.
pub type Keepalive = FromCds<TYPE_KEEPALIVE>;
/// CDS → callee over the hook, its last message: a newer hook of the same name and service took
/// this one's place. Bound to the hook nonce; body `u64 CDS time`.
pub type HookReplaced = FromCds<TYPE_HOOK_REPLACED>;
/// CDS → recipient over its `files` hook: a bundle was left in its mailbox (it may collect now).
/// Bound to the hook nonce; body [`NoticeBody`].
pub type MailboxNotice = FromCds<TYPE_MAILBOX_NOTICE>;
/// CDS → callee over the hook: a call. Bound to the hook nonce; body `[16] call id ‖ str8 caller`.
pub type Ring = FromCds<TYPE_RING>;
/// CDS → caller: the callee answered; the splice starts after this frame. Bound to the call
/// nonce; body `[16] tracking id`.
pub type CallOk = FromCds<TYPE_CALL_OK>;

/// CDS → callee over the hook: a session was granted with it (AH-CDS AC-CDS2, pushed because it
/// is connected). Bound to the hook nonce; body: the ticket (section 5A).
pub type TicketPush = FromCds<TYPE_TICKET_PUSH>;

/// Sender → CDS (store-and-forward): body `str8 recipient ‖ [16] nonce ‖ u64 size ‖ [8] bundle
/// id ‖ [32] SHA-256 of the bundle`; the bundle's `size` bytes follow the frame.
pub type Deposit = FromParticipant<TYPE_DEPOSIT>;
/// CDS → sender: the bundle is stored. Bound to the deposit nonce; body `u64 expires`.
pub type DepositOk = FromCds<TYPE_DEPOSIT_OK>;
/// Recipient → CDS: the next bundle waiting, please. Body `[16] nonce`, a fresh one for each
/// collect on the connection.
pub type Collect = FromParticipant<TYPE_COLLECT>;
/// CDS → recipient. Bound to the collect nonce; body `u8 0` (nothing waits) or `u8 1 ‖ u64 item
/// ‖ str8 sender ‖ u64 size ‖ [8] bundle id`, the bundle's bytes following the frame.
pub type Delivery = FromCds<TYPE_DELIVERY>;
/// Recipient → CDS after a delivery: body `[16] nonce ‖ u64 item ‖ u8 outcome`: 1 opened, 0
/// refused for good (the CDS forgets the bundle and records the outcome for the sender), 2 keep
/// it for later (the collect ends).
pub type Collected = FromParticipant<TYPE_COLLECTED>;
/// Sender → CDS: what became of its bundles. Body `[16] nonce ‖ u16 n ‖ n × [8] bundle id`.
pub type Status = FromParticipant<TYPE_STATUS>;
/// CDS → sender. Bound to the status nonce; body `u16 n ‖ n × ([8] bundle id ‖ u8 state ‖ u64 time)`,
/// state 0 unknown, 1 queued, 2 delivered, 3 refused by the recipient, 4 expired.
pub type StatusOk = FromCds<TYPE_STATUS_OK>;

// ---- the bodies inside the wraps: one type, one encoder, one decoder each (PROTOCOL.md 5C, 5D.5) ----

fn finish<T>(r: Reader<'_>, v: T) -> Result<T, WireError> {
    r.finish()?;
    Ok(v)
}

/// `[16] nonce`: collect (a fresh nonce per collect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceBody {
    pub nonce: [u8; 16],
}

impl NonceBody {
    pub fn encode(&self) -> Vec<u8> {
        self.nonce.to_vec()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = NonceBody { nonce: r.take_array("nonce")? };
        finish(r, v)
    }
}

/// The services a participant's hooks answer for (5C): each hook is for one, a call names one.
pub mod service {
    /// `sslx recv`: bundles, live.
    pub const FILES: &str = "files";
    /// `sslx pair --accept`: pairing.
    pub const PAIR: &str = "pair";
    /// `sslx listen` and `sslx dial` unless `--service NAME` names another.
    pub const SESSION: &str = "session";
    /// The longest service name.
    pub const MAX_LEN: usize = 32;

    /// A service name: 1-32 of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit.
    pub fn check(name: &str) -> Result<(), String> {
        if crate::keys::is_name_shaped(name, MAX_LEN) {
            Ok(())
        } else {
            Err(format!(
                "invalid service name {name:?}: use 1-{MAX_LEN} of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            ))
        }
    }
}

/// On hook: `[16] hook nonce ‖ str8 service` (which calls this hook answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookBody {
    pub nonce: [u8; 16],
    pub service: String,
}

impl HookBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = self.nonce.to_vec();
        put_str8(&mut b, &self.service)?;
        Ok(b)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = HookBody { nonce: r.take_array("hook nonce")?, service: r.str8("service")?.to_owned() };
        finish(r, v)
    }
}

/// Hook OK: `u64 CDS time ‖ u16 keepalive seconds` (how often the CDS sends a keepalive down an
/// idle hook; 0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookOkBody {
    pub time: u64,
    pub keepalive: u16,
}

impl HookOkBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.time.to_be_bytes().to_vec();
        b.extend_from_slice(&self.keepalive.to_be_bytes());
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = HookOkBody { time: r.u64("time")?, keepalive: r.u16("keepalive seconds")? };
        finish(r, v)
    }
}

/// `[16] id`: answer (the call id it answers) and call OK (the call's tracking id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBody {
    pub id: [u8; 16],
}

impl IdBody {
    pub fn encode(&self) -> Vec<u8> {
        self.id.to_vec()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = IdBody { id: r.take_array("id")? };
        finish(r, v)
    }
}

/// `u64 time`: keepalive and hook replaced (the CDS's clock), deposit OK (when the bundle
/// expires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBody {
    pub time: u64,
}

impl TimeBody {
    pub fn encode(&self) -> Vec<u8> {
        self.time.to_be_bytes().to_vec()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = TimeBody { time: r.u64("time")? };
        finish(r, v)
    }
}

/// Mailbox notice: `u64 CDS time ‖ str8 sender ‖ [8] bundle id` (who left which bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeBody {
    pub time: u64,
    pub sender: String,
    pub bundle_id: [u8; 8],
}

impl NoticeBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = self.time.to_be_bytes().to_vec();
        put_str8(&mut out, &self.sender)?;
        out.extend_from_slice(&self.bundle_id);
        Ok(out)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let time = r.u64("time")?;
        let sender = r.str8("sender")?.to_owned();
        let v = NoticeBody { time, sender, bundle_id: r.take_array("bundle id")? };
        finish(r, v)
    }
}

/// Call: `str8 callee ‖ [16] call nonce ‖ str8 service` (the callee and the service named inside
/// the wrap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallBody {
    pub callee: String,
    pub nonce: [u8; 16],
    pub service: String,
}

impl CallBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = Vec::new();
        put_str8(&mut b, &self.callee)?;
        b.extend_from_slice(&self.nonce);
        put_str8(&mut b, &self.service)?;
        Ok(b)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = CallBody {
            callee: r.str8("callee")?.to_owned(),
            nonce: r.take_array("nonce")?,
            service: r.str8("service")?.to_owned(),
        };
        finish(r, v)
    }
}

/// Ring: `[16] call id ‖ str8 caller`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingBody {
    pub call_id: [u8; 16],
    pub caller: String,
    /// Where to answer when it is not the CDS instance the hook is up at (several instances
    /// over one store: the caller's instance, which splices), as `host:port`.
    pub answer_at: Option<String>,
}

impl RingBody {
    /// `[16] call id ‖ str8 caller`, then `str8 answer_at` when there is one.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = self.call_id.to_vec();
        put_str8(&mut b, &self.caller)?;
        if let Some(at) = &self.answer_at {
            put_str8(&mut b, at)?;
        }
        Ok(b)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let call_id = r.take_array("call id")?;
        let caller = r.str8("caller")?.to_owned();
        let answer_at = if r.remaining() > 0 { Some(r.str8("answer at")?.to_owned()) } else { None };
        if answer_at.as_deref().is_some_and(|a| a.is_empty()) {
            return Err(WireError::Invalid("a ring's answer address is empty"));
        }
        finish(r, RingBody { call_id, caller, answer_at })
    }
}

/// A bundle handed over from the mailbox: the delivery's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxItem {
    pub item: u64,
    pub sender: String,
    pub size: u64,
    pub bundle_id: [u8; 8],
}

/// Delivery: `u8 0` (nothing waits) or `u8 1 ‖ u64 item ‖ str8 sender ‖ u64 size ‖ [8] bundle
/// id`, the bundle's bytes following the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryBody {
    Empty,
    Item(MailboxItem),
}

impl DeliveryBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        match self {
            DeliveryBody::Empty => Ok(vec![0]),
            DeliveryBody::Item(i) => {
                let mut b = vec![1u8];
                b.extend_from_slice(&i.item.to_be_bytes());
                put_str8(&mut b, &i.sender)?;
                b.extend_from_slice(&i.size.to_be_bytes());
                b.extend_from_slice(&i.bundle_id);
                Ok(b)
            }
        }
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = match r.u8("present")? {
            0 => DeliveryBody::Empty,
            1 => DeliveryBody::Item(MailboxItem {
                item: r.u64("item")?,
                sender: r.str8("sender")?.to_owned(),
                size: r.u64("size")?,
                bundle_id: r.take_array("bundle id")?,
            }),
            _ => return Err(WireError::Invalid("a delivery is 0 (empty) or 1 (an item)")),
        };
        finish(r, v)
    }
}

/// What the recipient did with a bundle from its mailbox (collected's outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused for good (altered, replayed, not for us): the CDS forgets it, the sender hears so.
    Refused = 0,
    /// Opened: the CDS forgets it and tells the sender "delivered".
    Opened = 1,
    /// Not now (a name already exists, a full disk, a sender not paired yet): the CDS keeps
    /// it for a later collection and this one moves on to the next bundle.
    Keep = 2,
}

/// Collected: `[16] the collect's nonce ‖ u64 item ‖ u8 outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectedBody {
    pub nonce: [u8; 16],
    pub item: u64,
    pub outcome: Outcome,
}

impl CollectedBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.nonce.to_vec();
        b.extend_from_slice(&self.item.to_be_bytes());
        b.push(self.outcome as u8);
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let (nonce, item) = (r.take_array("nonce")?, r.u64("item")?);
        let outcome = match r.u8("outcome")? {
            0 => Outcome::Refused,
            1 => Outcome::Opened,
            2 => Outcome::Keep,
            _ => return Err(WireError::Invalid("an outcome is 0, 1 or 2")),
        };
        finish(r, CollectedBody { nonce, item, outcome })
    }
}

/// What became of a deposited bundle (status OK's state, and the CDS's record of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Unknown = 0,
    Queued = 1,
    Delivered = 2,
    Refused = 3,
    Expired = 4,
}

impl DeliveryState {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => DeliveryState::Unknown,
            1 => DeliveryState::Queued,
            2 => DeliveryState::Delivered,
            3 => DeliveryState::Refused,
            4 => DeliveryState::Expired,
            _ => return None,
        })
    }
}

/// Status: `[16] nonce ‖ u16 n ‖ n × [8] bundle id`, n at most `MAX_STATUS_IDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusBody {
    pub nonce: [u8; 16],
    pub ids: Vec<[u8; 8]>,
}

impl StatusBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        if self.ids.len() > MAX_STATUS_IDS {
            return Err(WireError::Invalid("a status asks about 3,000 bundles at most"));
        }
        let mut b = self.nonce.to_vec();
        b.extend_from_slice(&(self.ids.len() as u16).to_be_bytes());
        self.ids.iter().for_each(|id| b.extend_from_slice(id));
        Ok(b)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let nonce = r.take_array("nonce")?;
        let n = r.u16("count")? as usize;
        if n > MAX_STATUS_IDS {
            return Err(WireError::Invalid("a status asks about 3,000 bundles at most"));
        }
        let ids = (0..n).map(|_| r.take_array("bundle id")).collect::<Result<_, _>>()?;
        finish(r, StatusBody { nonce, ids })
    }
}

/// Status OK: `u16 n ‖ n × ([8] bundle id ‖ u8 state ‖ u64 time)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOkBody {
    pub entries: Vec<([u8; 8], DeliveryState, u64)>,
}

impl StatusOkBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let n = u16::try_from(self.entries.len()).map_err(|_| WireError::Invalid("too many status entries"))?;
        let mut b = n.to_be_bytes().to_vec();
        for (id, state, time) in &self.entries {
            b.extend_from_slice(id);
            b.push(*state as u8);
            b.extend_from_slice(&time.to_be_bytes());
        }
        Ok(b)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let n = r.u16("count")?;
        let mut entries = Vec::with_capacity(usize::from(n).min(MAX_STATUS_IDS));
        for _ in 0..n {
            let id = r.take_array("bundle id")?;
            let state = DeliveryState::from_u8(r.u8("state")?).ok_or(WireError::Invalid("a state is 0 to 4"))?;
            entries.push((id, state, r.u64("time")?));
        }
        finish(r, StatusOkBody { entries })
    }
}

/// A deposit's body: the recipient, a nonce, the bundle's size, id and SHA-256 (the CDS
/// stores the bytes only if they hash to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositBody {
    pub recipient: String,
    pub nonce: [u8; 16],
    pub size: u64,
    pub bundle_id: [u8; 8],
    pub sha256: [u8; 32],
}

impl DepositBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut b = Vec::new();
        put_str8(&mut b, &self.recipient)?;
        b.extend_from_slice(&self.nonce);
        b.extend_from_slice(&self.size.to_be_bytes());
        b.extend_from_slice(&self.bundle_id);
        b.extend_from_slice(&self.sha256);
        Ok(b)
    }

    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = DepositBody {
            recipient: r.str8("recipient")?.to_owned(),
            nonce: r.take_array("nonce")?,
            size: r.u64("size")?,
            bundle_id: r.take_array("bundle id")?,
            sha256: r.take_array("bundle hash")?,
        };
        r.finish()?;
        Ok(v)
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    /// Whether a body decodes.
    type Decodes = fn(&[u8]) -> bool;

    /// Every body: decode(encode(x)) == x; one byte more, or one less, is refused.
    #[test]
    fn round_trips_and_rejects_trailing_and_truncated_bodies() {
        let item = MailboxItem { item: 9, sender: "alice".into(), size: 70_000, bundle_id: [4; 8] };
        let cases: Vec<(Vec<u8>, Decodes)> = vec![
            (NonceBody { nonce: [1; 16] }.encode(), |b| NonceBody::decode(b).is_ok()),
            (HookBody { nonce: [1; 16], service: "files".into() }.encode().unwrap(), |b| HookBody::decode(b).is_ok()),
            (IdBody { id: [2; 16] }.encode(), |b| IdBody::decode(b).is_ok()),
            (TimeBody { time: 1_790_000_000 }.encode(), |b| TimeBody::decode(b).is_ok()),
            (HookOkBody { time: 1_790_000_000, keepalive: 30 }.encode(), |b| HookOkBody::decode(b).is_ok()),
            (CallBody { callee: "bob".into(), nonce: [3; 16], service: "session".into() }.encode().unwrap(), |b| {
                CallBody::decode(b).is_ok()
            }),
            (RingBody { call_id: [5; 16], caller: "al".into(), answer_at: None }.encode().unwrap(), |b| {
                RingBody::decode(b).is_ok()
            }),
            (DeliveryBody::Item(item.clone()).encode().unwrap(), |b| DeliveryBody::decode(b).is_ok()),
            (CollectedBody { nonce: [6; 16], item: 9, outcome: Outcome::Keep }.encode(), |b| {
                CollectedBody::decode(b).is_ok()
            }),
            (StatusBody { nonce: [7; 16], ids: vec![[8; 8]; 3] }.encode().unwrap(), |b| StatusBody::decode(b).is_ok()),
            (StatusOkBody { entries: vec![([8; 8], DeliveryState::Expired, 5)] }.encode().unwrap(), |b| {
                StatusOkBody::decode(b).is_ok()
            }),
        ];
        for (i, (bytes, decodes)) in cases.iter().enumerate() {
            assert!(decodes(bytes), "case {i}");
            let mut long = bytes.clone();
            long.push(0);
            assert!(!decodes(&long), "case {i}: a trailing byte");
            assert!(!decodes(&bytes[..bytes.len() - 1]), "case {i}: truncated");
        }
        assert_eq!(
            DeliveryBody::decode(&DeliveryBody::Item(item.clone()).encode().unwrap()).unwrap(),
            DeliveryBody::Item(item)
        );
        assert!(DeliveryBody::decode(&[2]).is_err(), "neither empty nor an item");
        assert!(StatusBody { nonce: [0; 16], ids: vec![[0; 8]; MAX_STATUS_IDS + 1] }.encode().is_err());
        assert!(StatusOkBody::decode(&[0, 1, 8, 8, 8, 8, 8, 8, 8, 8, 5, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(), "state 5");
    }
}
