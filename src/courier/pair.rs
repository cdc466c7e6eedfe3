//! Pairing (seed 004 Fig. 5): handshake packets A1, B, A2 with an X25519 exchange and a
//! commitment to RandomA; both sides derive the same 5-character string X from the transcript
//! and the long-term key `LTK = HKDF(shared secret, transcript)`. The people compare X over the
//! phone; only then is the LTK saved (`save_pair_key`). The state machine is I/O-free: each
//! step takes the peer's frame and returns the next one; `accept` and `initiate` run it over a
//! session, asking the person (`PairingPrompts`) at each point.

use super::error::CourierError;
use super::msgs::{PairA1, PairA2, PairB, PairConfirm, COURIER_VERSION};
use crate::crypto::{self, Ephemeral, Secret};
use crate::keys::{save_pair_key, Home};
use crate::wire::{Frame, Msg};
use crate::{Error, Result};
use ring::rand::SecureRandom;
use zeroize::Zeroize;

use crate::crypto::labels::pair::{CONFIRM_LABEL, LTK_SALT, PROOF_LABEL, SAS_LABEL};

/// Crockford's base-32 alphabet: digits and upper-case letters without I, L, O and U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in the short string: 25 bits, so a man in the middle (who cannot grind it, thanks
/// to the commitment) goes unnoticed once in 33 million pairings.
pub const SAS_LEN: usize = 5;

/// Which side of the pairing: the initiator (`sslx pair PEER`, the seed's sender) or the
/// acceptor (`sslx pair --accept`, the recipient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Initiator,
    Acceptor,
}

fn x25519(shared_with: &[u8; 32], mine: Ephemeral) -> Result<Secret<32>> {
    mine.agree(shared_with).ok_or_else(|| CourierError::LowOrderPoint.into())
}

/// `ProofB = HMAC(HKDF(shared, "sslx-pair-proof-v1"), A1 frame ‖ account B ‖ X25519 public B)`.
pub fn proof_b(shared: &Secret<32>, a1_frame: &[u8], account_b: &str, pub_b: &[u8; 32]) -> [u8; 32] {
    let mut k = [0u8; 32];
    crypto::hkdf(PROOF_LABEL, PROOF_LABEL, shared.expose(), &mut k);
    let mac = crypto::hmac_sha256(&k, &[a1_frame, account_b.as_bytes(), pub_b]);
    k.zeroize();
    mac
}

/// The short string of a transcript: the first 25 bits of `SHA-256("sslx-pair-sas-v1" ‖ T)`
/// as 5 Crockford base-32 characters.
pub fn short_string(transcript: &[u8; 32]) -> String {
    let h = crypto::sha256(&[SAS_LABEL, transcript.as_slice()].concat());
    let bits = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) >> 7;
    (0..SAS_LEN).map(|i| CROCKFORD[((bits >> (5 * (SAS_LEN - 1 - i))) & 31) as usize] as char).collect()
}

/// What a person typed, made comparable: spaces and dashes dropped, upper case, and the
/// look-alikes read as Crockford does (O → 0, I and L → 1).
pub fn normalize_short_string(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// Both sides after A2: the peer, the string to compare, and the key to save once it matches.
pub struct Paired {
    pub peer: String,
    pub side: Side,
    pub short_string: String,
    transcript: [u8; 32],
    ltk: Secret<32>,
}

impl Paired {
    /// The pairing the frames A1, B, A2 and the X25519 shared secret give (vectors use this to
    /// check the derivations without the curve).
    pub fn new(peer: String, side: Side, shared: &Secret<32>, a1: &[u8], b: &[u8], a2: &[u8]) -> Self {
        let transcript = crypto::sha256(&[a1, b, a2].concat());
        let mut ltk = [0u8; 32];
        crypto::hkdf(LTK_SALT, &transcript, shared.expose(), &mut ltk);
        Paired { peer, side, short_string: short_string(&transcript), transcript, ltk: Secret::new(ltk) }
    }

    /// Whether `typed` is this pairing's short string (constant time after normalizing).
    pub fn matches(&self, typed: &str) -> bool {
        crypto::ct_eq(normalize_short_string(typed).as_bytes(), self.short_string.as_bytes())
    }

    fn confirm_mac(&self, side: Side) -> [u8; 32] {
        let tag: &[u8] = if side == Side::Initiator { b"A" } else { b"B" };
        crypto::hmac_sha256(self.ltk.expose(), &[CONFIRM_LABEL, tag, &self.transcript])
    }

    /// This side's confirmation, sent once its person confirmed the string.
    pub fn confirmation(&self) -> Vec<u8> {
        PairConfirm { mac: self.confirm_mac(self.side) }.to_frame().expect("a fixed-size frame")
    }

    /// Checks the peer's confirmation frame.
    pub fn check_confirmation(&self, f: &Frame) -> Result<()> {
        let c = PairConfirm::from_frame(f)?;
        let other = if self.side == Side::Initiator { Side::Acceptor } else { Side::Initiator };
        if !crypto::ct_eq(&c.mac, &self.confirm_mac(other)) {
            return Err(CourierError::PairConfirmation { peer: self.peer.clone() }.into());
        }
        Ok(())
    }

    pub fn ltk(&self) -> &Secret<32> {
        &self.ltk
    }
}

/// The initiator between A1 and B.
pub struct Initiator {
    me: String,
    eph: Ephemeral,
    random_a: Secret<32>,
    a1: Vec<u8>,
}

impl Initiator {
    /// Makes the ephemeral key and RandomA; returns the state and Handshake Packet A1.
    pub fn start(me: &str, rng: &dyn SecureRandom) -> Result<(Self, Vec<u8>)> {
        let eph = Ephemeral::generate(rng);
        let public = eph.public();
        let random_a = Secret::<32>::random(rng);
        let a1 = PairA1 {
            low_version: COURIER_VERSION,
            high_version: COURIER_VERSION,
            account: me.to_owned(),
            x25519: public,
            hash_random_a: crypto::sha256(random_a.expose()),
        }
        .to_frame()?;
        Ok((Initiator { me: me.to_owned(), eph, random_a, a1: a1.clone() }, a1))
    }

    /// Checks B (version, the account called, ProofB) and returns the pairing and A2.
    pub fn on_b(self, f: &Frame, peer: &str) -> Result<(Paired, Vec<u8>)> {
        let b = PairB::from_frame(f)?;
        if b.version != COURIER_VERSION {
            return Err(Error::Wire(crate::wire::WireError::UnsupportedVersion(b.version)));
        }
        if b.account != peer {
            return Err(CourierError::AnsweredAs { role: "peer", said: b.account, expected: peer.to_owned() }.into());
        }
        if b.account == self.me {
            return Err(Error::Usage("a participant cannot pair with itself".into()));
        }
        let shared = x25519(&b.x25519, self.eph)?;
        if !crypto::ct_eq(&b.proof_b, &proof_b(&shared, &self.a1, &b.account, &b.x25519)) {
            let why = "the exchange was altered".to_owned();
            return Err(CourierError::ProofB { peer: peer.to_owned(), why }.into());
        }
        let a2 = PairA2 { random_a: *self.random_a.expose() }.to_frame()?;
        let paired = Paired::new(b.account, Side::Initiator, &shared, &self.a1, &f.to_bytes(), &a2);
        Ok((paired, a2))
    }
}

/// The acceptor between B and A2.
pub struct Acceptor {
    peer: String,
    shared: Secret<32>,
    hash_random_a: [u8; 32],
    a1: Vec<u8>,
    b: Vec<u8>,
}

impl Acceptor {
    /// Answers A1 with Handshake Packet B. `expect_peer`: the caller's name as the session
    /// authenticated it, when there is one.
    pub fn on_a1(me: &str, f: &Frame, expect_peer: Option<&str>, rng: &dyn SecureRandom) -> Result<(Self, Vec<u8>)> {
        let a1 = PairA1::from_frame(f)?;
        if !(a1.low_version..=a1.high_version).contains(&COURIER_VERSION) {
            return Err(Error::Wire(crate::wire::WireError::UnsupportedVersion(a1.high_version)));
        }
        if let Some(p) = expect_peer {
            if a1.account != p {
                return Err(CourierError::CallsItself { caller: p.to_owned(), said: a1.account }.into());
            }
        }
        if a1.account == me {
            return Err(Error::Usage("a participant cannot pair with itself".into()));
        }
        let eph = Ephemeral::generate(rng);
        let public = eph.public();
        let shared = x25519(&a1.x25519, eph)?;
        let a1_bytes = f.to_bytes();
        let b = PairB {
            version: COURIER_VERSION,
            account: me.to_owned(),
            x25519: public,
            proof_b: proof_b(&shared, &a1_bytes, me, &public),
        }
        .to_frame()?;
        Ok((Acceptor { peer: a1.account, shared, hash_random_a: a1.hash_random_a, a1: a1_bytes, b: b.clone() }, b))
    }

    /// Checks RandomA against A1's commitment and returns the pairing.
    pub fn on_a2(self, f: &Frame) -> Result<Paired> {
        let a2 = PairA2::from_frame(f)?;
        if !crypto::ct_eq(&crypto::sha256(&a2.random_a), &self.hash_random_a) {
            return Err(CourierError::CommitmentBroken.into());
        }
        Ok(Paired::new(self.peer, Side::Acceptor, &self.shared, &self.a1, &self.b, &f.to_bytes()))
    }
}

// ---- the two sides' flows over a live session (`sslx pair --accept`, `sslx pair PEER`) ----

/// What the people (or the scripts) at the two ends supply and are shown. The flows below call
/// these in protocol order; a `Result` error ends the pairing with nothing saved.
pub trait PairingPrompts {
    /// The acceptor: the string the caller reads out. The initiator with `unattended`: the
    /// string the acceptor's side showed (carried by a script).
    fn typed_string(&mut self, peer: &str) -> Result<String>;
    /// The initiator: the string to read to the peer (shown before the peer types it).
    fn show_string(&mut self, peer: &str, short_string: &str) -> Result<()>;
    /// The acceptor: the typed string matched; this side's own string, for a script on the
    /// other side to compare.
    fn matched(&mut self, peer: &str, short_string: &str) -> Result<()>;
    /// The initiator, attended: the peer's side says the string matched: did the peer say so?
    fn confirmed_by_person(&mut self, peer: &str) -> Result<bool>;
    /// A line of progress for the person.
    fn say(&mut self, line: &str);
}

/// What a pairing ended with: the peer and where its pair key was saved.
#[derive(Debug, Clone)]
pub struct PairingDone {
    pub peer: String,
    pub key_file: std::path::PathBuf,
}

/// The acceptor's side (the seed's recipient) on a session the caller opened: A1 → B, A2, the
/// typed string, the confirmations; saves the pair key only when everything matched.
pub fn accept(
    home: &Home,
    me: &str,
    ch: &mut super::Channel,
    rng: &dyn SecureRandom,
    ui: &mut dyn PairingPrompts,
) -> Result<PairingDone> {
    use crate::wire::RefusalCode;
    let caller = ch.peer().to_owned();
    let f = ch.recv("handshake packet A1")?;
    if f.msg_type == super::msgs::TYPE_TRANSFER_A1 {
        ch.refuse(RefusalCode::BadRequest, &format!("{me} is waiting to pair, not to receive files"));
        return Err(Error::Usage(format!("{caller} tried to send files; this is sslx pair --accept")));
    }
    let (acceptor, b) = Acceptor::on_a1(me, &f, Some(&caller), rng).map_err(|e| ch.refuse_with(e))?;
    ch.send(&b, false)?;
    let f = ch.recv("handshake packet A2")?;
    let paired = acceptor.on_a2(&f).map_err(|e| ch.refuse_with(e))?;
    ui.say(&format!("sslx: {caller} asks to pair; {caller} will read you a 5-character string"));
    let typed = ui.typed_string(&caller)?;
    if !paired.matches(&typed) {
        ch.refuse(RefusalCode::BadSignature, &format!("the string {me} typed does not match: nothing was saved"));
        return Err(CourierError::StringMismatch { peer: caller.to_owned() }.into());
    }
    // A script on the other side compares this side's string with its own (pair --yes): it is
    // out before the confirmation, so it is there when the initiator looks.
    ui.matched(&caller, &paired.short_string)?;
    ch.send(&paired.confirmation(), true)?;
    ui.say(&format!("sslx: the string matches; waiting for {caller} to confirm"));
    let f = ch.recv("pairing confirmation")?;
    paired.check_confirmation(&f)?;
    let key_file = save_pair_key(home, &caller, paired.ltk())?;
    Ok(PairingDone { peer: caller, key_file })
}

/// The initiator's side (the seed's sender) on a session it opened to the peer: A1, B → A2,
/// the string shown, the peer's confirmation, then this side's: attended, the person says the
/// peer confirmed; `unattended`, the acceptor's own string (from `typed_string`) must be this
/// side's. Saves the pair key only then.
pub fn initiate(
    home: &Home,
    me: &str,
    ch: &mut super::Channel,
    unattended: bool,
    rng: &dyn SecureRandom,
    ui: &mut dyn PairingPrompts,
) -> Result<PairingDone> {
    use crate::wire::RefusalCode;
    let peer = ch.peer().to_owned();
    let (initiator, a1) = Initiator::start(me, rng)?;
    ch.send(&a1, false)?;
    let f = ch.recv("handshake packet B")?;
    let (paired, a2) = initiator.on_b(&f, &peer).map_err(|e| ch.refuse_with(e))?;
    ch.send(&a2, false)?;
    ui.show_string(&peer, &paired.short_string)?;
    let f = ch.recv("pairing confirmation")?;
    paired.check_confirmation(&f)?;
    if unattended {
        // The acceptor's confirmation alone proves nothing against whoever sits between the
        // two: its own string, carried by the script, must be this side's.
        let theirs = ui.typed_string(&peer)?;
        if !paired.matches(&theirs) {
            ch.refuse(RefusalCode::BadSignature, "the strings of the two sides differ: nothing was saved");
            return Err(CourierError::TheirStringMismatch { peer: peer.clone() }.into());
        }
    } else if !ui.confirmed_by_person(&peer)? {
        ch.refuse(RefusalCode::BadRequest, "the initiator did not confirm: nothing was saved");
        return Err(CourierError::NotConfirmed.into());
    }
    ch.send(&paired.confirmation(), true)?;
    let key_file = save_pair_key(home, &peer, paired.ltk())?;
    Ok(PairingDone { peer, key_file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Frame;

    fn run(tamper_a2: bool) -> Result<(Paired, Paired)> {
        let rng = ring::rand::SystemRandom::new();
        let (init, a1) = Initiator::start("alice", &rng)?;
        let (acc, b) = Acceptor::on_a1("bob", &Frame::parse(&a1)?, Some("alice"), &rng)?;
        let (pa, mut a2) = init.on_b(&Frame::parse(&b)?, "bob")?;
        if tamper_a2 {
            let n = a2.len() - 1;
            a2[n] ^= 1;
        }
        let pb = acc.on_a2(&Frame::parse(&a2)?)?;
        Ok((pa, pb))
    }

    #[test]
    fn both_sides_agree() {
        let (a, b) = run(false).unwrap();
        assert_eq!(a.short_string, b.short_string);
        assert_eq!(a.short_string.len(), SAS_LEN);
        assert!(a.ltk().ct_eq(b.ltk()));
        b.check_confirmation(&Frame::parse(&a.confirmation()).unwrap()).unwrap();
        a.check_confirmation(&Frame::parse(&b.confirmation()).unwrap()).unwrap();
        // A confirmation is bound to its side: reflecting it back fails.
        assert!(a.check_confirmation(&Frame::parse(&a.confirmation()).unwrap()).is_err());
    }

    #[test]
    fn a_broken_commitment_is_refused() {
        assert!(run(true).is_err());
    }

    #[test]
    fn typed_strings_are_normalized() {
        assert_eq!(normalize_short_string(" ab-o1 l"), "AB011");
        let t = [7u8; 32];
        let s = short_string(&t);
        assert!(s.bytes().all(|c| CROCKFORD.contains(&c)));
    }
}
