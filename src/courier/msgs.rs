//! Courier messages (seed 004): the handshake packets of pairing (Fig. 5), the transfer packets
//! of a data exchange (Fig. 7), and the frames of a bundle. Byte layouts: docs/PROTOCOL.md
//! "Courier". Every message is a frame (`type u8 | version u8 | length u32 BE | body`).

use crate::wire::{put_str16, put_str8, Msg, Reader, WireError};

pub const TYPE_PAIR_A1: u8 = 0x50;
pub const TYPE_PAIR_B: u8 = 0x51;
pub const TYPE_PAIR_A2: u8 = 0x52;
pub const TYPE_PAIR_CONFIRM: u8 = 0x53;
pub const TYPE_TRANSFER_A1: u8 = 0x58;
pub const TYPE_TRANSFER_B: u8 = 0x59;
pub const TYPE_TRANSFER_A2: u8 = 0x5a;
pub const TYPE_ACK: u8 = 0x5b;
pub const TYPE_RECORD_AEAD: u8 = 0x5c;
pub const TYPE_RECORD_3DES: u8 = 0x5d;
pub const TYPE_TRAILER: u8 = 0x5e;
pub const TYPE_RECEIPT: u8 = 0x5f;

/// Courier protocol versions this implementation speaks (the packets' low/high version).
pub const COURIER_VERSION: u8 = 1;

/// How a bundle's records are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BundleSuite {
    /// AES-256-GCM records (the `aead` suite).
    Aes256Gcm = 1,
    /// ChaCha20-Poly1305 records (the `aead` suite on machines without AES instructions).
    ChaCha20Poly1305 = 2,
    /// The seed's triple-DES EDE in CBC mode, each record with an HMAC-SHA-256 (the `3des` suite).
    TripleDes = 3,
}

impl BundleSuite {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(BundleSuite::Aes256Gcm),
            2 => Some(BundleSuite::ChaCha20Poly1305),
            3 => Some(BundleSuite::TripleDes),
            _ => None,
        }
    }
    /// The name `--suite` and the logs use.
    pub fn family(self) -> &'static str {
        match self {
            BundleSuite::TripleDes => "3des",
            _ => "aead",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            BundleSuite::Aes256Gcm => "aead (AES-256-GCM)",
            BundleSuite::ChaCha20Poly1305 => "aead (ChaCha20-Poly1305)",
            BundleSuite::TripleDes => "3des (3DES-EDE-CBC + HMAC-SHA-256)",
        }
    }
}

/// Whether a transfer is a live call (the recipient answers with Transfer Packet B) or a bundle
/// written for later (a file, a pipe, the CDS mailbox): then Challenge B is all zeros and the
/// recipient refuses a Challenge A it has seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Online = 1,
    Offline = 2,
}

fn versions(r: &mut Reader<'_>) -> Result<(u8, u8), WireError> {
    let (lo, hi) = (r.u8("low version")?, r.u8("high version")?);
    if lo == 0 || lo > hi {
        return Err(WireError::Invalid("the version range is empty"));
    }
    Ok((lo, hi))
}

fn account(r: &mut Reader<'_>, what: &'static str) -> Result<String, WireError> {
    let s = r.str8(what)?;
    crate::keys::check_name(s).map_err(|_| WireError::Invalid("an account name is not a valid participant name"))?;
    Ok(s.to_owned())
}

/// Pairing, sender → recipient: versions, account, X25519 public, SHA-256(RandomA) (the
/// commitment that keeps a man in the middle from grinding the short string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairA1 {
    pub low_version: u8,
    pub high_version: u8,
    pub account: String,
    pub x25519: [u8; 32],
    pub hash_random_a: [u8; 32],
}

impl Msg for PairA1 {
    const TYPE: u8 = TYPE_PAIR_A1;
    const NAME: &'static str = "handshake packet A1";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&[self.low_version, self.high_version]);
        put_str8(out, &self.account)?;
        out.extend_from_slice(&self.x25519);
        out.extend_from_slice(&self.hash_random_a);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let (low_version, high_version) = versions(r)?;
        Ok(PairA1 {
            low_version,
            high_version,
            account: account(r, "account")?,
            x25519: r.take_array("X25519 public")?,
            hash_random_a: r.take_array("hash of RandomA")?,
        })
    }
}

/// Pairing, recipient → sender: the version spoken, account, X25519 public, and ProofB, an HMAC
/// over A1 and this packet under a key from the shared secret (the recipient computed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairB {
    pub version: u8,
    pub account: String,
    pub x25519: [u8; 32],
    pub proof_b: [u8; 32],
}

impl Msg for PairB {
    const TYPE: u8 = TYPE_PAIR_B;
    const NAME: &'static str = "handshake packet B";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.version);
        put_str8(out, &self.account)?;
        out.extend_from_slice(&self.x25519);
        out.extend_from_slice(&self.proof_b);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(PairB {
            version: r.u8("version")?,
            account: account(r, "account")?,
            x25519: r.take_array("X25519 public")?,
            proof_b: r.take_array("proof B")?,
        })
    }
}

/// Pairing, sender → recipient: RandomA, opening the commitment of A1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairA2 {
    pub random_a: [u8; 32],
}

impl Msg for PairA2 {
    const TYPE: u8 = TYPE_PAIR_A2;
    const NAME: &'static str = "handshake packet A2";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.random_a);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(PairA2 { random_a: r.take_array("RandomA")? })
    }
}

/// Pairing, either way: this side's person confirmed the short string; an HMAC under the new LTK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairConfirm {
    pub mac: [u8; 32],
}

impl Msg for PairConfirm {
    const TYPE: u8 = TYPE_PAIR_CONFIRM;
    const NAME: &'static str = "pairing confirmation";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.mac);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(PairConfirm { mac: r.take_array("confirmation")? })
    }
}

/// Transfer Packet A1, sender → recipient: versions, mode, suite, the sender's account, the
/// recipient's account (an offline bundle must say whom it is for), Challenge A.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferA1 {
    pub low_version: u8,
    pub high_version: u8,
    pub mode: Mode,
    pub suite: BundleSuite,
    pub account: String,
    pub recipient: String,
    pub challenge_a: [u8; 32],
}

impl Msg for TransferA1 {
    const TYPE: u8 = TYPE_TRANSFER_A1;
    const NAME: &'static str = "transfer packet A1";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&[self.low_version, self.high_version, self.mode as u8, self.suite as u8]);
        put_str8(out, &self.account)?;
        put_str8(out, &self.recipient)?;
        out.extend_from_slice(&self.challenge_a);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let (low_version, high_version) = versions(r)?;
        let mode = match r.u8("mode")? {
            1 => Mode::Online,
            2 => Mode::Offline,
            _ => return Err(WireError::Invalid("unknown transfer mode")),
        };
        let suite = BundleSuite::from_u8(r.u8("suite")?).ok_or(WireError::Invalid("unknown bundle suite"))?;
        Ok(TransferA1 {
            low_version,
            high_version,
            mode,
            suite,
            account: account(r, "sender account")?,
            recipient: account(r, "recipient account")?,
            challenge_a: r.take_array("challenge A")?,
        })
    }
}

/// Transfer Packet B, recipient → sender: version, account, Challenge B,
/// `ProofB = HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ "Verify")`, and what the recipient kept of a cut
/// transfer from this sender: `held` bytes of its tar stream with their SHA-256 (0 and zeros:
/// nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferB {
    pub version: u8,
    pub account: String,
    pub challenge_b: [u8; 32],
    pub proof_b: [u8; 32],
    pub held: u64,
    pub held_hash: [u8; 32],
}

impl Msg for TransferB {
    const TYPE: u8 = TYPE_TRANSFER_B;
    const NAME: &'static str = "transfer packet B";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.push(self.version);
        put_str8(out, &self.account)?;
        out.extend_from_slice(&self.challenge_b);
        out.extend_from_slice(&self.proof_b);
        out.extend_from_slice(&self.held.to_be_bytes());
        out.extend_from_slice(&self.held_hash);
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let b = TransferB {
            version: r.u8("version")?,
            account: account(r, "account")?,
            challenge_b: r.take_array("challenge B")?,
            proof_b: r.take_array("proof B")?,
            held: r.u64("bytes held")?,
            held_hash: r.take_array("hash of the bytes held")?,
        };
        if b.held == 0 && b.held_hash != [0; 32] {
            return Err(WireError::Invalid("no bytes held, but a hash of them"));
        }
        Ok(b)
    }
}

/// Transfer Packet A2, sender → recipient: the recipient's account, ProofA, DeltaKey (SKey
/// offset by an LTK value), KeyProof, the size of the packed data (for progress only), and
/// where in the tar stream the bundle starts (0, or the `held` of transfer packet B: resumed).
/// FileProof follows the bundle, in the trailer: it covers every byte, so it can only be known
/// once the bundle is written in one streaming pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferA2 {
    pub account_b: String,
    pub proof_a: [u8; 32],
    pub delta_key: [u8; 32],
    pub key_proof: [u8; 32],
    pub size_hint: u64,
    pub resume_from: u64,
}

impl Msg for TransferA2 {
    const TYPE: u8 = TYPE_TRANSFER_A2;
    const NAME: &'static str = "transfer packet A2";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        put_str8(out, &self.account_b)?;
        out.extend_from_slice(&self.proof_a);
        out.extend_from_slice(&self.delta_key);
        out.extend_from_slice(&self.key_proof);
        out.extend_from_slice(&self.size_hint.to_be_bytes());
        out.extend_from_slice(&self.resume_from.to_be_bytes());
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(TransferA2 {
            account_b: account(r, "recipient account")?,
            proof_a: r.take_array("proof A")?,
            delta_key: r.take_array("DeltaKey")?,
            key_proof: r.take_array("KeyProof")?,
            size_hint: r.u64("size")?,
            resume_from: r.u64("resume from")?,
        })
    }
}

/// Recipient → sender: every proof held; send the bundle. Empty body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack;

impl Msg for Ack {
    const TYPE: u8 = TYPE_ACK;
    const NAME: &'static str = "acknowledge";
    fn encode_body(&self, _out: &mut Vec<u8>) -> Result<(), WireError> {
        Ok(())
    }
    fn decode_body(_r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Ack)
    }
}

/// After the bundle's final record: `FileProof = HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ FileHash ‖
/// u64 resume from ‖ prefix hash ‖ "Verify3")` and the number of payload bytes the records carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub file_proof: [u8; 32],
    pub payload_len: u64,
}

impl Msg for Trailer {
    const TYPE: u8 = TYPE_TRAILER;
    const NAME: &'static str = "bundle trailer";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.file_proof);
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Trailer { file_proof: r.take_array("FileProof")?, payload_len: r.u64("payload length")? })
    }
}

/// Recipient → sender at the end of a live transfer: what arrived (status 0), or why nothing
/// was kept (a refusal code and the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub status: u16,
    pub files: u32,
    pub bytes: u64,
    pub reason: String,
}

impl Msg for Receipt {
    const TYPE: u8 = TYPE_RECEIPT;
    const NAME: &'static str = "receipt";
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.files.to_be_bytes());
        out.extend_from_slice(&self.bytes.to_be_bytes());
        put_str16(out, &self.reason)?;
        Ok(())
    }
    fn decode_body(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let status = r.u16("status")?;
        let files = u32::from_be_bytes(r.take_array("files")?);
        Ok(Receipt { status, files, bytes: r.u64("bytes")?, reason: r.str16("reason")?.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{check_codec, HEADER_LEN};

    #[test]
    fn pairing_and_transfer_packets_round_trip_and_reject_bad_frames() {
        check_codec(&PairA1 {
            low_version: 1,
            high_version: 1,
            account: "alice".into(),
            x25519: [1; 32],
            hash_random_a: [2; 32],
        });
        check_codec(&PairB { version: 1, account: "bob".into(), x25519: [3; 32], proof_b: [4; 32] });
        check_codec(&PairA2 { random_a: [5; 32] });
        check_codec(&PairConfirm { mac: [6; 32] });
        for (mode, suite) in [(Mode::Online, BundleSuite::Aes256Gcm), (Mode::Offline, BundleSuite::TripleDes)] {
            check_codec(&TransferA1 {
                low_version: 1,
                high_version: 1,
                mode,
                suite,
                account: "alice".into(),
                recipient: "bob".into(),
                challenge_a: [7; 32],
            });
        }
        for (held, held_hash) in [(0, [0; 32]), (70_000, [14; 32])] {
            check_codec(&TransferB {
                version: 1,
                account: "bob".into(),
                challenge_b: [8; 32],
                proof_b: [9; 32],
                held,
                held_hash,
            });
        }
        check_codec(&TransferA2 {
            account_b: "bob".into(),
            proof_a: [10; 32],
            delta_key: [11; 32],
            key_proof: [12; 32],
            size_hint: 1 << 40,
            resume_from: 70_000,
        });
        check_codec(&Ack);
        check_codec(&Trailer { file_proof: [13; 32], payload_len: 3510 });
        check_codec(&Receipt { status: 0, files: 3, bytes: 51, reason: String::new() });
        check_codec(&Receipt { status: 6, files: 0, bytes: 0, reason: "bob is not paired with alice".into() });
    }

    #[test]
    fn transfer_packet_b_with_a_hash_of_nothing_held_is_refused() {
        let b = TransferB {
            version: 1,
            account: "bob".into(),
            challenge_b: [8; 32],
            proof_b: [9; 32],
            held: 0,
            held_hash: [1; 32],
        };
        let frame = b.to_frame().unwrap();
        assert!(TransferB::from_bytes(&frame).unwrap_err().to_string().contains("no bytes held"));
        // Truncated before the new fields, or inside them: refused too.
        for cut in [frame.len() - 40, frame.len() - 1] {
            let mut short = frame[..cut].to_vec();
            let len = (short.len() - 6) as u32;
            short[2..6].copy_from_slice(&len.to_be_bytes());
            assert!(TransferB::from_bytes(&short).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn an_empty_version_range_or_an_unknown_mode_or_suite_is_refused() {
        let a1 = TransferA1 {
            low_version: 1,
            high_version: 1,
            mode: Mode::Online,
            suite: BundleSuite::Aes256Gcm,
            account: "a".into(),
            recipient: "b".into(),
            challenge_a: [0; 32],
        };
        let f = a1.to_frame().unwrap();
        let with = |i: usize, v: u8| {
            let mut b = f.clone();
            b[i] = v;
            TransferA1::from_bytes(&b)
        };
        assert!(with(HEADER_LEN, 2).is_err(), "low version above high");
        assert!(with(HEADER_LEN + 2, 9).is_err(), "unknown mode");
        assert!(with(HEADER_LEN + 3, 9).is_err(), "unknown suite");
    }
}
