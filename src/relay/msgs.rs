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

/// Bundle ids in one status request (its answer, 17 bytes each, stays within one frame).
pub const MAX_STATUS_IDS: usize = 3000;

pub const ON_HOOK_LABEL: &[u8] = b"sslx-relay-on-hook-v1";
pub const HOOK_OK_LABEL: &[u8] = b"sslx-relay-hook-ok-v1";
pub const RING_LABEL: &[u8] = b"sslx-relay-ring-v1";
pub const ANSWER_LABEL: &[u8] = b"sslx-relay-answer-v1";
pub const CALL_LABEL: &[u8] = b"sslx-relay-call-v1";
pub const CALL_OK_LABEL: &[u8] = b"sslx-relay-call-ok-v1";
pub const TICKET_PUSH_LABEL: &[u8] = b"sslx-relay-ticket-push-v1";
pub const DEPOSIT_LABEL: &[u8] = b"sslx-mailbox-deposit-v1";
pub const DEPOSIT_OK_LABEL: &[u8] = b"sslx-mailbox-deposit-ok-v1";
pub const COLLECT_LABEL: &[u8] = b"sslx-mailbox-collect-v1";
pub const DELIVERY_LABEL: &[u8] = b"sslx-mailbox-delivery-v1";
pub const COLLECTED_LABEL: &[u8] = b"sslx-mailbox-collected-v1";
pub const STATUS_LABEL: &[u8] = b"sslx-mailbox-status-v1";
pub const STATUS_OK_LABEL: &[u8] = b"sslx-mailbox-status-ok-v1";

/// `str8 sender ‖ bytes16 wrap(CDSK_sender, label, aad = type ‖ version ‖ str8 sender ‖
/// challenge, body)`: the shape of every message a participant sends the relay (on hook,
/// answer, call, the mailbox's). The challenge is the one of the connection it is sent on
/// (the CDS hello), so a recorded message does not verify anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<const T: u8> {
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

impl<const T: u8> Signed<T> {
    pub fn new(
        sender: &str,
        cdsk: &Secret<32>,
        challenge: &[u8; CHALLENGE_LEN],
        body: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let wrapped = crypto::wrap(cdsk.expose(), label(T), &aad(T, sender, challenge)?, body, rng);
        Ok(Signed { sender: sender.to_owned(), wrapped })
    }
    /// The body, if the message verifies under `cdsk` on the connection with `challenge`.
    pub fn open(&self, cdsk: &Secret<32>, challenge: &[u8; CHALLENGE_LEN]) -> Option<Vec<u8>> {
        crypto::unwrap(cdsk.expose(), label(T), &aad(T, &self.sender, challenge).ok()?, &self.wrapped)
    }
}

impl<const T: u8> Msg for Signed<T> {
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
        Ok(Signed { sender: r.str8("sender")?.to_owned(), wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// Callee → CDS: stay reachable. Body: `[16] hook nonce`.
pub type OnHook = Signed<TYPE_ON_HOOK>;
/// Callee → CDS on a new connection after a ring. Body: `[16] call id`.
pub type Answer = Signed<TYPE_ANSWER>;
/// Caller → CDS. Body: `str8 callee ‖ [16] call nonce` (the callee named encrypted).
pub type Call = Signed<TYPE_CALL>;

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
        _ => "call OK",
    };
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(FromCds { wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// CDS → callee: hook accepted. Bound to the on-hook nonce; body `u64 CDS time`.
pub type HookOk = FromCds<TYPE_HOOK_OK>;
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
pub type Deposit = Signed<TYPE_DEPOSIT>;
/// CDS → sender: the bundle is stored. Bound to the deposit nonce; body `u64 expires`.
pub type DepositOk = FromCds<TYPE_DEPOSIT_OK>;
/// Recipient → CDS: the next bundle waiting, please. Body `[16] nonce`, a fresh one for each
/// collect on the connection.
pub type Collect = Signed<TYPE_COLLECT>;
/// CDS → recipient. Bound to the collect nonce; body `u8 0` (nothing waits) or `u8 1 ‖ u64 item
/// ‖ str8 sender ‖ u64 size ‖ [8] bundle id`, the bundle's bytes following the frame.
pub type Delivery = FromCds<TYPE_DELIVERY>;
/// Recipient → CDS after a delivery: body `[16] nonce ‖ u64 item ‖ u8 outcome`: 1 opened, 0
/// refused for good (the CDS forgets the bundle and records the outcome for the sender), 2 keep
/// it for later (the collect ends).
pub type Collected = Signed<TYPE_COLLECTED>;
/// Sender → CDS: what became of its bundles. Body `[16] nonce ‖ u16 n ‖ n × [8] bundle id`.
pub type Status = Signed<TYPE_STATUS>;
/// CDS → sender. Bound to the status nonce; body `u16 n ‖ n × ([8] bundle id ‖ u8 state ‖ u64 time)`,
/// state 0 unknown, 1 queued, 2 delivered, 3 refused by the recipient, 4 expired.
pub type StatusOk = FromCds<TYPE_STATUS_OK>;

/// Parses `[16] nonce` (on hook, collect).
pub fn parse_nonce(b: &[u8]) -> Option<[u8; 16]> {
    b.try_into().ok()
}

/// Parses `str8 callee ‖ [16] nonce` (call).
pub fn parse_call(b: &[u8]) -> Option<(String, [u8; 16])> {
    let mut r = Reader::new(b);
    let v = (r.str8("callee").ok()?.to_owned(), r.take_array("nonce").ok()?);
    r.finish().ok()?;
    Some(v)
}

/// Parses `[16] call id ‖ str8 caller` (ring).
pub fn parse_ring(b: &[u8]) -> Option<([u8; 16], String)> {
    let mut r = Reader::new(b);
    let v = (r.take_array("call id").ok()?, r.str8("caller").ok()?.to_owned());
    r.finish().ok()?;
    Some(v)
}

pub fn call_body(callee: &str, nonce: &[u8; 16]) -> Result<Vec<u8>, WireError> {
    let mut b = Vec::new();
    put_str8(&mut b, callee)?;
    b.extend_from_slice(nonce);
    Ok(b)
}

pub fn ring_body(call_id: &[u8; 16], caller: &str) -> Result<Vec<u8>, WireError> {
    let mut b = call_id.to_vec();
    put_str8(&mut b, caller)?;
    Ok(b)
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
