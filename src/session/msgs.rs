//! Handshake messages M1 and M2 (same format, seed 002 claim 9) and the listener's hello.

use crate::wire::{put_bytes16, put_str8, Msg, Reader, WireError};

pub const TYPE_M1: u8 = 0x30;
pub const TYPE_M2: u8 = 0x31;
pub const TYPE_RECORD: u8 = 0x32;
pub const TYPE_LISTENER_HELLO: u8 = 0x33;

/// Session protocol versions this implementation speaks.
pub const SESSION_VERSIONS: &[u8] = &[1];

/// Record ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Suite {
    Aes256Gcm = 1,
    ChaCha20Poly1305 = 2,
}

impl Suite {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Suite::Aes256Gcm),
            2 => Some(Suite::ChaCha20Poly1305),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "AES-256-GCM",
            Suite::ChaCha20Poly1305 => "ChaCha20-Poly1305",
        }
    }
    pub fn algorithm(self) -> &'static ring::aead::Algorithm {
        match self {
            Suite::Aes256Gcm => &ring::aead::AES_256_GCM,
            Suite::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        }
    }
}

/// What the pre-shared key is: a ticket from the CDS (full handshake), a Key-ID (resumption),
/// or a KDC service ticket for a host (remote execution, 5F/5H: the key is the server session
/// key; `kvno` the version of the host key it is sealed under).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Ticket(Vec<u8>),
    KeyId([u8; 16]),
    ServiceTicket { kvno: u32, ticket: Vec<u8> },
}

impl KeyRef {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            KeyRef::Ticket(t) => {
                out.push(0);
                put_bytes16(out, t)
            }
            KeyRef::KeyId(k) => {
                out.push(1);
                put_bytes16(out, k)
            }
            KeyRef::ServiceTicket { kvno, ticket } => {
                out.push(2);
                put_bytes16(out, &[&kvno.to_be_bytes()[..], ticket].concat())
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let kind = r.u8("key reference kind")?;
        let b = r.bytes16("key reference")?;
        match kind {
            0 => Ok(KeyRef::Ticket(b.to_vec())),
            1 => Ok(KeyRef::KeyId(b.try_into().map_err(|_| WireError::Invalid("a Key-ID is 16 bytes"))?)),
            2 if b.len() >= 4 => Ok(KeyRef::ServiceTicket {
                kvno: u32::from_be_bytes(b[..4].try_into().expect("4 bytes")),
                ticket: b[4..].to_vec(),
            }),
            2 => Err(WireError::Invalid("a service ticket reference is its key version and the ticket")),
            _ => Err(WireError::Invalid("unknown key reference kind")),
        }
    }
}

fn put_list(out: &mut Vec<u8>, v: &[u8]) -> Result<(), WireError> {
    out.push(u8::try_from(v.len()).map_err(|_| WireError::FieldTooLong { len: v.len(), max: 255 })?);
    out.extend_from_slice(v);
    Ok(())
}

fn put_ephemeral(out: &mut Vec<u8>, e: &Option<[u8; 32]>) {
    match e {
        None => out.push(0),
        Some(k) => {
            out.push(32);
            out.extend_from_slice(k);
        }
    }
}

fn ephemeral(r: &mut Reader<'_>) -> Result<Option<[u8; 32]>, WireError> {
    match r.u8("ephemeral length")? {
        0 => Ok(None),
        32 => Ok(Some(r.take_array("X25519 ephemeral")?)),
        _ => Err(WireError::Invalid("ephemeral length must be 0 or 32")),
    }
}

/// M1, client → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M1 {
    pub versions: Vec<u8>,
    pub suites: Vec<u8>,
    pub key_ref: KeyRef,
    pub client_nonce: [u8; 32],
    pub ephemeral: Option<[u8; 32]>,
    pub client_name: String,
}

impl Msg for M1 {
    const TYPE: u8 = TYPE_M1;
    const NAME: &'static str = "M1";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_list(out, &self.versions)?;
        put_list(out, &self.suites)?;
        self.key_ref.encode(out)?;
        out.extend_from_slice(&self.client_nonce);
        put_ephemeral(out, &self.ephemeral);
        put_str8(out, &self.client_name)?;
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = r.u8("versions")? as usize;
        let versions = r.take(n, "versions")?.to_vec();
        let n = r.u8("suites")? as usize;
        let suites = r.take(n, "suites")?.to_vec();
        Ok(M1 {
            versions,
            suites,
            key_ref: KeyRef::decode(r)?,
            client_nonce: r.take_array("client nonce")?,
            ephemeral: ephemeral(r)?,
            client_name: r.str8("client name")?.to_owned(),
        })
    }
}

/// M2, server → client: the same format, one version and suite chosen, the client nonce echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M2 {
    pub version: u8,
    pub suite: u8,
    pub key_ref: KeyRef,
    pub client_nonce: [u8; 32],
    pub server_nonce: [u8; 32],
    pub ephemeral: Option<[u8; 32]>,
    pub server_name: String,
}

impl Msg for M2 {
    const TYPE: u8 = TYPE_M2;
    const NAME: &'static str = "M2";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.version);
        out.push(self.suite);
        self.key_ref.encode(out)?;
        out.extend_from_slice(&self.client_nonce);
        out.extend_from_slice(&self.server_nonce);
        put_ephemeral(out, &self.ephemeral);
        put_str8(out, &self.server_name)?;
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(M2 {
            version: r.u8("version")?,
            suite: r.u8("suite")?,
            key_ref: KeyRef::decode(r)?,
            client_nonce: r.take_array("client nonce")?,
            server_nonce: r.take_array("server nonce")?,
            ephemeral: ephemeral(r)?,
            server_name: r.str8("server name")?.to_owned(),
        })
    }
}

/// The first frame a listener sends on a new connection: its name, so the caller knows whose
/// ticket to ask the CDS for. Unauthenticated: only the ticket proves who the listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerHello {
    pub name: String,
}

impl Msg for ListenerHello {
    const TYPE: u8 = TYPE_LISTENER_HELLO;
    const NAME: &'static str = "listener hello";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.name)?;
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ListenerHello { name: r.str8("listener name")?.to_owned() })
    }
}

/// How a `listen --exec` command ended: the plaintext of the final record of the listener's
/// direction when it carries `FLAG_EXIT`. `u8 how ‖ u8 value`: how 0, exited with status
/// `value`; how 1, killed by signal `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteExit {
    Exited(u8),
    Signal(u8),
}

impl RemoteExit {
    pub fn encode(&self) -> [u8; 2] {
        match *self {
            RemoteExit::Exited(c) => [0, c],
            RemoteExit::Signal(s) => [1, s],
        }
    }

    pub fn decode(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let (how, value) = (r.u8("how the command ended")?, r.u8("exit status")?);
        r.finish()?;
        match how {
            0 => Ok(RemoteExit::Exited(value)),
            1 => Ok(RemoteExit::Signal(value)),
            _ => Err(WireError::Invalid("how the command ended is neither 0 (exited) nor 1 (a signal)")),
        }
    }

    /// From the process's status (a status past 255 or a stop counts as status 255).
    pub fn of(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => RemoteExit::Exited(u8::try_from(c).unwrap_or(255)),
            (None, Some(s)) => RemoteExit::Signal(u8::try_from(s).unwrap_or(255)),
            (None, None) => RemoteExit::Exited(255),
        }
    }

    /// The caller's exit code for it: the status itself, or 128 + the signal (as a shell says).
    pub fn exit_code(&self) -> u8 {
        match *self {
            RemoteExit::Exited(c) => c,
            RemoteExit::Signal(s) => 128u8.saturating_add(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::check_codec;

    #[test]
    fn a_remote_exit_round_trips_and_anything_else_is_refused() {
        for e in [RemoteExit::Exited(0), RemoteExit::Exited(3), RemoteExit::Signal(15)] {
            assert_eq!(RemoteExit::decode(&e.encode()).unwrap(), e);
        }
        assert_eq!((RemoteExit::Exited(3).exit_code(), RemoteExit::Signal(15).exit_code()), (3, 143));
        for bad in [&[][..], &[0], &[0, 1, 2], &[2, 0]] {
            assert!(RemoteExit::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn m1_m2_and_the_listener_hello_round_trip_and_reject_bad_frames() {
        for (key_ref, ephemeral) in [(KeyRef::Ticket(vec![1; 120]), Some([2; 32])), (KeyRef::KeyId([3; 16]), None)] {
            check_codec(&M1 {
                versions: vec![1],
                suites: vec![1, 2],
                key_ref: key_ref.clone(),
                client_nonce: [4; 32],
                ephemeral,
                client_name: "alice".into(),
            });
            check_codec(&M2 {
                version: 1,
                suite: 2,
                key_ref,
                client_nonce: [4; 32],
                server_nonce: [5; 32],
                ephemeral,
                server_name: "bob".into(),
            });
        }
        check_codec(&ListenerHello { name: "bob".into() });
    }
}
