//! The KDC's messages (PROTOCOL.md 5F), one type each with one encoder and one decoder: the
//! gateway's requests, wrapped under its service key and bound to the connection, and the
//! KDC's answers, wrapped under the same key and bound to the request's nonce; and the bodies
//! inside them.

use crate::crypto::{self, labels::kdc as labels, Secret};
use crate::wire::{put_bytes16, put_str16, put_str8, Msg, Reader, WireError, CHALLENGE_LEN, VERSION};
use ring::rand::SecureRandom;

pub const TYPE_PARAMS_REQUEST: u8 = 0x70;
pub const TYPE_PARAMS: u8 = 0x71;
pub const TYPE_AS_REQUEST: u8 = 0x72;
pub const TYPE_AS_REPLY: u8 = 0x73;
pub const TYPE_TGS_REQUEST: u8 = 0x74;
pub const TYPE_TGS_REPLY: u8 = 0x75;

/// A request's nonce: the answer is bound to it.
pub type Nonce = [u8; 16];

fn label(t: u8) -> &'static [u8] {
    match t {
        TYPE_PARAMS_REQUEST => labels::PARAMS_REQUEST,
        TYPE_PARAMS => labels::PARAMS,
        TYPE_AS_REQUEST => labels::AS_REQUEST,
        TYPE_AS_REPLY => labels::AS_REPLY,
        TYPE_TGS_REQUEST => labels::TGS_REQUEST,
        TYPE_TGS_REPLY => labels::TGS_REPLY,
        _ => unreachable!("not a KDC message type"),
    }
}

/// Gateway → KDC: `str8 gateway ‖ bytes16 wrap(gateway key, label, aad = type ‖ version ‖
/// str8 gateway ‖ challenge, body)`. Only a gateway the KDC knows can ask, and nobody on the
/// path sees who logs in or where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromGateway<const T: u8> {
    pub gateway: String,
    pub wrapped: Vec<u8>,
}

fn request_aad(t: u8, gateway: &str, challenge: &[u8; CHALLENGE_LEN]) -> Result<Vec<u8>, WireError> {
    let mut a = vec![t, VERSION];
    put_str8(&mut a, gateway)?;
    a.extend_from_slice(challenge);
    Ok(a)
}

impl<const T: u8> FromGateway<T> {
    pub fn new(
        gateway: &str,
        key: &Secret<32>,
        challenge: &[u8; CHALLENGE_LEN],
        body: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Self, WireError> {
        let wrapped = crypto::wrap(key.expose(), label(T), &request_aad(T, gateway, challenge)?, body, rng);
        Ok(FromGateway { gateway: gateway.to_owned(), wrapped })
    }
    /// The body, if the request verifies under `key` on the connection with `challenge`.
    pub fn open(&self, key: &Secret<32>, challenge: &[u8; CHALLENGE_LEN]) -> Option<Vec<u8>> {
        crypto::unwrap(key.expose(), label(T), &request_aad(T, &self.gateway, challenge).ok()?, &self.wrapped)
    }
}

impl<const T: u8> Msg for FromGateway<T> {
    const TYPE: u8 = T;
    const NAME: &'static str = match T {
        TYPE_PARAMS_REQUEST => "KDC parameters request",
        TYPE_AS_REQUEST => "KDC login request",
        _ => "KDC ticket request",
    };
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.gateway)?;
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(FromGateway { gateway: r.str8("gateway")?.to_owned(), wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// KDC → gateway: `bytes16 wrap(gateway key, label, aad = type ‖ version ‖ nonce, body)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToGateway<const T: u8> {
    pub wrapped: Vec<u8>,
}

impl<const T: u8> ToGateway<T> {
    fn aad(nonce: &Nonce) -> Vec<u8> {
        [&[T, VERSION][..], nonce].concat()
    }
    pub fn new(key: &Secret<32>, nonce: &Nonce, body: &[u8], rng: &dyn SecureRandom) -> Self {
        ToGateway { wrapped: crypto::wrap(key.expose(), label(T), &Self::aad(nonce), body, rng) }
    }
    pub fn open(&self, key: &Secret<32>, nonce: &Nonce) -> Option<Vec<u8>> {
        crypto::unwrap(key.expose(), label(T), &Self::aad(nonce), &self.wrapped)
    }
}

impl<const T: u8> Msg for ToGateway<T> {
    const TYPE: u8 = T;
    const NAME: &'static str = match T {
        TYPE_PARAMS => "KDC parameters",
        TYPE_AS_REPLY => "KDC login reply",
        _ => "KDC ticket reply",
    };
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_bytes16(out, &self.wrapped)
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ToGateway { wrapped: r.bytes16("wrapped body")?.to_vec() })
    }
}

/// Gateway → KDC: the user's key-derivation parameters, please. Body [`ParamsRequestBody`].
pub type ParamsRequest = FromGateway<TYPE_PARAMS_REQUEST>;
/// KDC → gateway. Body [`Argon2Params`] with the salt.
pub type Params = ToGateway<TYPE_PARAMS>;
/// Gateway → KDC: a ticket-granting ticket for the user (box 606). Body [`AsRequestBody`].
pub type AsRequest = FromGateway<TYPE_AS_REQUEST>;
/// KDC → gateway: the TGT and the KDC session key wrapped in the user key (box 608).
pub type AsReply = ToGateway<TYPE_AS_REPLY>;
/// Gateway → KDC: a service ticket for a host, with the TGT and an authenticator (box 1506).
pub type TgsRequest = FromGateway<TYPE_TGS_REQUEST>;
/// KDC → gateway: the service ticket and the server session key wrapped in the KDC session key
/// (box 1510).
pub type TgsReply = ToGateway<TYPE_TGS_REPLY>;

fn finish<T>(r: Reader<'_>, v: T) -> Result<T, WireError> {
    r.finish()?;
    Ok(v)
}

/// `[16] nonce ‖ str8 user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsRequestBody {
    pub nonce: Nonce,
    pub user: String,
}

impl ParamsRequestBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = self.nonce.to_vec();
        put_str8(&mut o, &self.user)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = ParamsRequestBody { nonce: r.take_array("nonce")?, user: r.str8("user")?.to_owned() };
        finish(r, v)
    }
}

/// How a user key is derived from the password: Argon2id with this salt and these costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub salt: [u8; 16],
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// The most a KDC may ask a gateway to spend on one login (a KDC is not trusted to make the
/// gateway allocate without bound): 1 GiB, 16 passes, 8 lanes.
pub const MAX_ARGON2: (u32, u32, u32) = (1 << 20, 16, 8);

impl Argon2Params {
    /// `[16] salt ‖ u32 m_kib ‖ u32 t ‖ u32 p`.
    pub fn encode(&self) -> Vec<u8> {
        [&self.salt[..], &self.m_kib.to_be_bytes(), &self.t.to_be_bytes(), &self.p.to_be_bytes()].concat()
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let u32_ = |r: &mut Reader<'_>, what| r.take_array::<4>(what).map(u32::from_be_bytes);
        let v = Argon2Params {
            salt: r.take_array("salt")?,
            m_kib: u32_(&mut r, "Argon2 memory")?,
            t: u32_(&mut r, "Argon2 passes")?,
            p: u32_(&mut r, "Argon2 lanes")?,
        };
        let (m, t, p) = MAX_ARGON2;
        if v.m_kib > m || v.t > t || v.p > p || v.t == 0 || v.p == 0 || v.m_kib < 8 * v.p {
            return Err(WireError::Invalid("Argon2 parameters out of range"));
        }
        finish(r, v)
    }
}

/// `[16] nonce ‖ str8 user ‖ str16 client ‖ bytes16 preauth`: `client` is the address the user
/// came from (as the gateway saw it); `preauth` proves the user key (PROTOCOL.md 5F).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsRequestBody {
    pub nonce: Nonce,
    pub user: String,
    pub client: String,
    pub preauth: Vec<u8>,
}

impl AsRequestBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = self.nonce.to_vec();
        put_str8(&mut o, &self.user)?;
        put_str16(&mut o, &self.client)?;
        put_bytes16(&mut o, &self.preauth)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = AsRequestBody {
            nonce: r.take_array("nonce")?,
            user: r.str8("user")?.to_owned(),
            client: r.str16("client address")?.to_owned(),
            preauth: r.bytes16("pre-authentication")?.to_vec(),
        };
        finish(r, v)
    }
}

/// `bytes16 tgt ‖ bytes16 key_for_user`: the sealed TGT (opaque to the gateway) and
/// `wrap(user key, …, kdc session key ‖ u64 expires)` (PROTOCOL.md 5F).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsReplyBody {
    pub tgt: Vec<u8>,
    pub key_for_user: Vec<u8>,
}

impl AsReplyBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = Vec::new();
        put_bytes16(&mut o, &self.tgt)?;
        put_bytes16(&mut o, &self.key_for_user)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = AsReplyBody {
            tgt: r.bytes16("ticket-granting ticket")?.to_vec(),
            key_for_user: r.bytes16("wrapped KDC session key")?.to_vec(),
        };
        finish(r, v)
    }
}

/// `[16] nonce ‖ str8 host ‖ bytes16 tgt ‖ bytes16 authenticator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgsRequestBody {
    pub nonce: Nonce,
    pub host: String,
    pub tgt: Vec<u8>,
    pub authenticator: Vec<u8>,
}

impl TgsRequestBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = self.nonce.to_vec();
        put_str8(&mut o, &self.host)?;
        put_bytes16(&mut o, &self.tgt)?;
        put_bytes16(&mut o, &self.authenticator)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = TgsRequestBody {
            nonce: r.take_array("nonce")?,
            host: r.str8("host")?.to_owned(),
            tgt: r.bytes16("ticket-granting ticket")?.to_vec(),
            authenticator: r.bytes16("authenticator")?.to_vec(),
        };
        finish(r, v)
    }
}

/// `u32 kvno ‖ bytes16 ticket ‖ bytes16 key_for_gateway`: the service ticket under the host
/// key of that version, and `wrap(kdc session key, …, server session key ‖ u64 expires)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgsReplyBody {
    pub kvno: u32,
    pub ticket: Vec<u8>,
    pub key_for_gateway: Vec<u8>,
}

impl TgsReplyBody {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut o = self.kvno.to_be_bytes().to_vec();
        put_bytes16(&mut o, &self.ticket)?;
        put_bytes16(&mut o, &self.key_for_gateway)?;
        Ok(o)
    }
    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let v = TgsReplyBody {
            kvno: u32::from_be_bytes(r.take_array("key version")?),
            ticket: r.bytes16("service ticket")?.to_vec(),
            key_for_gateway: r.bytes16("wrapped server session key")?.to_vec(),
        };
        finish(r, v)
    }
}
