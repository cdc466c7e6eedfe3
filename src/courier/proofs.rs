//! The values of a data exchange (seed 004 Fig. 7, DESIGN.md "Courier"): the proofs both sides
//! compute from the pair key (LTK) and the two challenges, DeltaKey (SKey offset by an LTK
//! value, so only the paired peer can recover SKey), KeyProof and FileProof, and the keys of
//! the two bundle suites.
//!
//! The pair key is the same both ways, so nothing is computed under it directly: each
//! direction has its own key, `K_AB = HKDF(LTK, str8 sender ‖ str8 recipient)`, and every value
//! also covers the hash of transfer packet A1 (versions, mode, suite, both accounts, ChA). A
//! bundle alice sent bob therefore cannot be handed back to alice as if bob had sent it, nor
//! replayed under another suite or mode.

use super::error::CourierError;
use crate::crypto::{self, Secret};
use crate::Result;

use crate::crypto::labels::courier::{AEAD_LABEL, AEAD_SALT, DELTA_LABEL, DIRECTION_SALT};

/// Challenge B of an offline bundle: nobody answered, so it is all zeros, and the recipient
/// refuses a Challenge A it has opened before.
pub const OFFLINE_CHALLENGE_B: [u8; 32] = [0; 32];

/// The key of one direction of a pair: `K_AB = HKDF(salt = "sslx-courier-direction-v1",
/// ikm = LTK, info = str8 sender ‖ str8 recipient, 32)`.
pub fn direction_key(ltk: &Secret<32>, sender: &str, recipient: &str) -> Result<Secret<32>> {
    let mut info = Vec::new();
    crate::wire::put_str8(&mut info, sender)?;
    crate::wire::put_str8(&mut info, recipient)?;
    let mut k = [0u8; 32];
    crypto::hkdf(DIRECTION_SALT, &info, ltk.expose(), &mut k);
    Ok(Secret::new(k))
}

/// What one exchange's values are computed over: the two challenges and the hash of its
/// transfer packet A1 (the whole frame, header included).
#[derive(Debug, Clone, Copy)]
pub struct Challenges {
    pub a: [u8; 32],
    pub b: [u8; 32],
    /// SHA-256 of transfer packet A1.
    pub a1: [u8; 32],
}

impl Challenges {
    pub fn new(a: [u8; 32], b: [u8; 32], a1_frame: &[u8]) -> Self {
        Challenges { a, b, a1: crypto::sha256(a1_frame) }
    }

    fn mac(&self, key: &[u8], tail: &[&[u8]]) -> [u8; 32] {
        let mut parts: Vec<&[u8]> = vec![&self.a, &self.b, &self.a1];
        parts.extend_from_slice(tail);
        crypto::hmac_sha256(key, &parts)
    }

    /// `ProofB = HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ "Verify")`.
    pub fn proof_b(&self, kd: &Secret<32>) -> [u8; 32] {
        self.mac(kd.expose(), &[b"Verify"])
    }

    /// `ProofA = HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ "Verify2")`.
    pub fn proof_a(&self, kd: &Secret<32>) -> [u8; 32] {
        self.mac(kd.expose(), &[b"Verify2"])
    }

    /// `DeltaKey = offset(SKey, HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ "Delta"))`; the same call undoes it.
    pub fn delta_key(&self, kd: &Secret<32>, skey: &[u8; 32]) -> [u8; 32] {
        let v = self.mac(kd.expose(), &[b"Delta"]);
        crypto::offset(skey, &v, DELTA_LABEL).try_into().expect("32 bytes")
    }

    /// `KeyProof = HMAC(SKey, ChA ‖ ChB ‖ H(A1) ‖ "KeyProof")`.
    pub fn key_proof(&self, skey: &Secret<32>) -> [u8; 32] {
        self.mac(skey.expose(), &[b"KeyProof"])
    }

    /// `FileProof = HMAC(K_AB, ChA ‖ ChB ‖ H(A1) ‖ FileHash ‖ u64 resume from ‖ [32] prefix hash
    /// ‖ "Verify3")`. Under the direction key, not SKey: the recipients of one bundle share SKey,
    /// and none of them may pass altered records to another as the sender's.
    pub fn file_proof(&self, kd: &Secret<32>, file_hash: &[u8; 32], resume: &Resume) -> [u8; 32] {
        self.mac(kd.expose(), &[file_hash, &resume.from.to_be_bytes(), &resume.prefix_hash, b"Verify3"])
    }

    /// What the recipient does with Transfer Packet A2: checks ProofA, recovers SKey from
    /// DeltaKey, checks KeyProof. Each failure says which proof failed. `kd`: the direction
    /// key of this exchange (sender → recipient).
    pub fn open_a2(
        &self,
        kd: &Secret<32>,
        proof_a: &[u8; 32],
        delta_key: &[u8; 32],
        key_proof: &[u8; 32],
    ) -> Result<Secret<32>> {
        if !crypto::ct_eq(proof_a, &self.proof_a(kd)) {
            return Err(CourierError::ProofA.into());
        }
        let skey = Secret::new(self.delta_key(kd, delta_key));
        if !crypto::ct_eq(key_proof, &self.key_proof(&skey)) {
            return Err(CourierError::KeyProof.into());
        }
        Ok(skey)
    }
}

/// Where a live transfer starts in the tar stream: `from` bytes the recipient kept from a cut
/// transfer, and the SHA-256 of those bytes (32 zero bytes when `from` is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resume {
    pub from: u64,
    pub prefix_hash: [u8; 32],
}

impl Resume {
    /// A whole transfer.
    pub const WHOLE: Resume = Resume { from: 0, prefix_hash: [0; 32] };
}

/// What a bundle's FileProof is computed under and over, besides its FileHash: the exchange's
/// challenges, its direction key and where it started.
#[derive(Clone)]
pub struct ProofKey {
    pub challenges: Challenges,
    pub kd: Secret<32>,
    pub resume: Resume,
}

impl ProofKey {
    pub fn file_proof(&self, file_hash: &[u8; 32]) -> [u8; 32] {
        self.challenges.file_proof(&self.kd, file_hash, &self.resume)
    }
}

/// `FileHash = HMAC(SKey, "File_Check" ‖ T_0 ‖ … ‖ T_n)`, T_i the authentication tag of bundle
/// record i (the AEAD tag, or the 3des record's HMAC), computed as the records stream. Every
/// byte of the bundle is covered by exactly one tag, so this is the seed's hash of the bundle
/// through its records' MACs; hashing the payload bytes a second time with SHA-256 was the
/// slowest stage of a transfer (1.8 GB/s against AES-GCM's 8.6) for no added assurance.
pub struct FileHash(ring::hmac::Context);

impl FileHash {
    pub fn new(skey: &Secret<32>) -> Self {
        let mut ctx = ring::hmac::Context::with_key(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, skey.expose()));
        ctx.update(b"File_Check");
        FileHash(ctx)
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data)
    }
    pub fn finish(self) -> [u8; 32] {
        self.0.sign().as_ref().try_into().expect("32 bytes")
    }
}

/// The record key of the `aead` suite: `HKDF(salt "sslx-courier-v1", SKey, "sslx-courier-aead-v1")`.
pub fn aead_key(skey: &Secret<32>) -> Secret<32> {
    let mut k = [0u8; 32];
    crypto::hkdf(AEAD_SALT, AEAD_LABEL, skey.expose(), &mut k);
    Secret::new(k)
}

/// The three DES keys of the `3des` suite: the left 64 bits of `HMAC(SKey, "KEY1")`,
/// `HMAC(SKey, "KEY22")` and `HMAC(SKey, "KEY333")` (the seed's derivation), as K1 ‖ K2 ‖ K3.
pub fn triple_des_keys(skey: &Secret<32>) -> zeroize::Zeroizing<[u8; 24]> {
    let mut k = zeroize::Zeroizing::new([0u8; 24]);
    for (i, label) in [&b"KEY1"[..], b"KEY22", b"KEY333"].iter().enumerate() {
        k[i * 8..i * 8 + 8].copy_from_slice(&crypto::hmac_sha256(skey.expose(), &[label])[..8]);
    }
    k
}
