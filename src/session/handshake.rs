//! The seed-002 handshake as two I/O-free state machines: bytes in, bytes out.

use super::error::SessionError;
use super::keys;
use super::msgs::*;
use super::record::{RecordReceiver, RecordSender};
use crate::crypto::{random_array, Ephemeral, Secret};
use crate::wire::{Frame, Msg};
use crate::{Error, Result};
use ring::rand::SecureRandom;

/// What a finished handshake established, as `sslx handshake` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HandshakeSummary {
    pub peer: String,
    pub key_id: String,
    pub cipher: &'static str,
    pub forward_secrecy: bool,
    pub resumed: bool,
    pub version: u8,
}

/// An established session: its master key (for the resumption cache) and the two directions.
pub struct Session {
    pub summary: HandshakeSummary,
    pub master_key: Secret<32>,
    pub key_id: [u8; 16],
    pub sender: RecordSender,
    pub receiver: RecordReceiver,
}

pub struct ClientParams {
    pub name: String,
    pub key_ref: KeyRef,
    pub psk: Secret<32>,
    pub forward_secrecy: bool,
    pub suites: Vec<u8>,
    /// The server must call itself this.
    pub expect_server: Option<String>,
}

pub struct ClientAwaitM2 {
    p: ClientParams,
    m1: Vec<u8>,
    client_nonce: [u8; 32],
    eph: Option<Ephemeral>,
}

fn agree(sk: Ephemeral, peer: &[u8; 32]) -> Result<Secret<32>> {
    sk.agree(peer).ok_or_else(|| SessionError::InvalidEphemeral.into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Client: makes M1.
pub fn client_start(p: ClientParams, rng: &dyn SecureRandom) -> Result<(ClientAwaitM2, Vec<u8>)> {
    let client_nonce: [u8; 32] = random_array(rng);
    let (eph, eph_pub) = if p.forward_secrecy {
        let e = Ephemeral::generate(rng);
        let pk = e.public();
        (Some(e), Some(pk))
    } else {
        (None, None)
    };
    let m1 = M1 {
        versions: SESSION_VERSIONS.to_vec(),
        suites: p.suites.clone(),
        key_ref: p.key_ref.clone(),
        client_nonce,
        ephemeral: eph_pub,
        client_name: p.name.clone(),
    }
    .to_frame()?;
    Ok((ClientAwaitM2 { p, m1: m1.clone(), client_nonce, eph }, m1))
}

impl ClientAwaitM2 {
    /// Client: takes M2, derives the keys, returns the session and M3 (its finished record).
    pub fn on_m2(self, frame: &Frame) -> Result<(Session, Vec<u8>)> {
        let m2 = M2::from_frame(frame)?;
        let m2_bytes = frame.to_bytes();
        let bad = |why: &'static str| Err(SessionError::BadM2(why).into());
        if !SESSION_VERSIONS.contains(&m2.version) {
            return bad("it chose a version this client did not offer");
        }
        let suite = match Suite::from_u8(m2.suite).filter(|_| self.p.suites.contains(&m2.suite)) {
            Some(s) => s,
            None => return bad("it chose a cipher this client did not offer"),
        };
        if m2.key_ref != self.p.key_ref || m2.client_nonce != self.client_nonce {
            return bad("it does not echo this client's key reference and nonce");
        }
        if let Some(expect) = &self.p.expect_server {
            if &m2.server_name != expect {
                return Err(SessionError::ServerNamedOther { said: m2.server_name, expected: expect.clone() }.into());
            }
        }
        if m2.server_name == self.p.name {
            return bad("the server has this client's name");
        }
        let dh = match (self.eph, m2.ephemeral) {
            (Some(sk), Some(pk)) => Some(agree(sk, &pk)?),
            (None, None) => None,
            (Some(_), None) => return bad("forward secrecy was asked for and the server sent no ephemeral key"),
            (None, Some(_)) => return bad("the server sent an ephemeral key that was not asked for"),
        };
        let mk = keys::master_key(
            self.p.psk.expose(),
            &m2.server_nonce,
            &self.client_nonce,
            &self.m1,
            &m2_bytes,
            dh.as_ref().map(|d| &d.expose()[..]),
        );
        let key_id = keys::key_id(&mk);
        let mut sender = RecordSender::new(suite, &keys::direction_key(&mk, &self.p.name));
        let receiver = RecordReceiver::new(
            suite,
            &keys::direction_key(&mk, &m2.server_name),
            keys::finished(&mk, &m2.server_nonce, &self.client_nonce),
        );
        let m3 = sender.seal(&keys::finished(&mk, &self.client_nonce, &m2.server_nonce), false)?;
        let summary = HandshakeSummary {
            peer: m2.server_name,
            key_id: hex(&key_id),
            cipher: suite.name(),
            forward_secrecy: dh.is_some(),
            resumed: matches!(self.p.key_ref, KeyRef::KeyId(_)),
            version: m2.version,
        };
        Ok((Session { summary, master_key: mk, key_id, sender, receiver }, m3))
    }
}

pub struct ServerParams {
    pub name: String,
    pub psk: Secret<32>,
    /// Ciphers in this server's order of preference.
    pub suites: Vec<u8>,
    /// Answer an M1 that carries an ephemeral key with one (forward secrecy). Without it (a
    /// listener started with `--no-fs`) such an M1 is refused with code 13: this side does no
    /// key exchange, and the caller asked for one.
    pub forward_secrecy: bool,
}

/// Server: takes M1 (whose key reference the caller already resolved to `p.psk`), returns the
/// session, M2, and M4 (its finished record), to be sent together.
pub fn server_accept(
    m1: &M1,
    m1_bytes: &[u8],
    p: ServerParams,
    rng: &dyn SecureRandom,
) -> Result<(Session, Vec<u8>, Vec<u8>)> {
    let version = *SESSION_VERSIONS.iter().rev().find(|v| m1.versions.contains(v)).ok_or_else(|| Error::Refused {
        code: 13,
        reason: format!("no common session version (this side speaks {SESSION_VERSIONS:?})"),
    })?;
    let suite = p
        .suites
        .iter()
        .find(|s| m1.suites.contains(s))
        .and_then(|s| Suite::from_u8(*s))
        .ok_or_else(|| Error::Refused { code: 13, reason: "no common cipher".into() })?;
    if m1.client_name == p.name {
        return Err(Error::Refused { code: 11, reason: "a participant cannot open a session with itself".into() });
    }
    if m1.ephemeral.is_some() && !p.forward_secrecy {
        return Err(Error::Refused {
            code: 13,
            reason: format!("{} does no key exchange (it listens with --no-fs): call with --no-fs", p.name),
        });
    }
    let server_nonce: [u8; 32] = random_array(rng);
    let (eph_pub, dh) = match m1.ephemeral {
        Some(peer) => {
            let e = Ephemeral::generate(rng);
            (Some(e.public()), Some(agree(e, &peer)?))
        }
        None => (None, None),
    };
    let m2 = M2 {
        version,
        suite: suite as u8,
        key_ref: m1.key_ref.clone(),
        client_nonce: m1.client_nonce,
        server_nonce,
        ephemeral: eph_pub,
        server_name: p.name.clone(),
    }
    .to_frame()?;
    let mk = keys::master_key(
        p.psk.expose(),
        &server_nonce,
        &m1.client_nonce,
        m1_bytes,
        &m2,
        dh.as_ref().map(|d| &d.expose()[..]),
    );
    let key_id = keys::key_id(&mk);
    let mut sender = RecordSender::new(suite, &keys::direction_key(&mk, &p.name));
    let receiver = RecordReceiver::new(
        suite,
        &keys::direction_key(&mk, &m1.client_name),
        keys::finished(&mk, &m1.client_nonce, &server_nonce),
    );
    let m4 = sender.seal(&keys::finished(&mk, &server_nonce, &m1.client_nonce), false)?;
    let summary = HandshakeSummary {
        peer: m1.client_name.clone(),
        key_id: hex(&key_id),
        cipher: suite.name(),
        forward_secrecy: dh.is_some(),
        resumed: matches!(m1.key_ref, KeyRef::KeyId(_)),
        version,
    };
    Ok((Session { summary, master_key: mk, key_id, sender, receiver }, m2, m4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::Received;
    use crate::wire::Header;

    fn open(r: &mut RecordReceiver, bytes: &[u8]) -> Result<(Vec<u8>, bool)> {
        let f = Frame::parse(bytes).unwrap();
        let mut body = f.body.clone();
        match r.open(&f.header(), &mut body)? {
            Received::Finished => Ok((b"<finished>".to_vec(), false)),
            Received::Data { data, last, .. } => Ok((data.to_vec(), last)),
        }
    }

    fn pair(fs: bool) -> (Session, Session, Vec<u8>, Vec<u8>) {
        let rng = ring::rand::SystemRandom::new();
        let psk = Secret::new([7; 32]);
        let cp = ClientParams {
            name: "alice".into(),
            key_ref: KeyRef::Ticket(vec![1, 2, 3]),
            psk: psk.clone(),
            forward_secrecy: fs,
            suites: vec![1, 2],
            expect_server: Some("bob".into()),
        };
        let (c, m1) = client_start(cp, &rng).unwrap();
        let m1f = Frame::parse(&m1).unwrap();
        let m1m = M1::from_frame(&m1f).unwrap();
        let (s, m2, m4) = server_accept(
            &m1m,
            &m1,
            ServerParams { name: "bob".into(), psk, suites: vec![2, 1], forward_secrecy: true },
            &rng,
        )
        .unwrap();
        let (cs, m3) = c.on_m2(&Frame::parse(&m2).unwrap()).unwrap();
        (cs, s, m3, m4)
    }

    #[test]
    fn both_sides_agree_and_exchange_records() {
        for fs in [true, false] {
            let (mut c, mut s, m3, m4) = pair(fs);
            assert_eq!(c.key_id, s.key_id);
            assert!(c.master_key.ct_eq(&s.master_key));
            assert_eq!(c.summary.forward_secrecy, fs);
            assert_eq!(c.summary.cipher, "ChaCha20-Poly1305");
            assert_eq!(open(&mut s.receiver, &m3).unwrap().0, b"<finished>");
            assert_eq!(open(&mut c.receiver, &m4).unwrap().0, b"<finished>");
            let r = c.sender.seal(b"hello", false).unwrap();
            assert_eq!(open(&mut s.receiver, &r).unwrap(), (b"hello".to_vec(), false));
            let r = c.sender.seal(b"", true).unwrap();
            assert_eq!(open(&mut s.receiver, &r).unwrap(), (vec![], true));
            assert!(s.receiver.finished());
            assert!(c.sender.seal(b"x", false).is_err());
        }
    }

    #[test]
    fn rejects_flipped_reordered_and_replayed_records() {
        let (mut c, mut s, m3, _) = pair(true);
        let r1 = c.sender.seal(b"one", false).unwrap();
        let r2 = c.sender.seal(b"two", false).unwrap();
        // Every flipped bit is refused by the very receiver that accepts the original (a refused
        // record leaves it as it was), which then still takes the original.
        for i in 0..m3.len() {
            for bit in 0..8 {
                let mut t = m3.clone();
                t[i] ^= 1 << bit;
                if let Ok(f) = Frame::parse(&t) {
                    let mut b = f.body.clone();
                    assert!(s.receiver.open(&f.header(), &mut b).is_err(), "byte {i} bit {bit}");
                }
            }
        }
        open(&mut s.receiver, &m3).unwrap();
        assert!(open(&mut s.receiver, &r2).is_err(), "reordered");
        let (_, mut s2, m3b, _) = pair(true);
        open(&mut s2.receiver, &m3b).unwrap();
        assert!(open(&mut s2.receiver, &r1).is_err(), "another session's record");
        // The final flag is authenticated: clearing it breaks the record.
        let mut fin = c.sender.seal(b"end", true).unwrap();
        fin[HEADER_LEN_FOR_TEST] ^= 1;
        let h = Header::parse(fin[..6].try_into().unwrap()).unwrap();
        assert!(s.receiver.open(&h, &mut fin[6..].to_vec()).is_err());
    }

    const HEADER_LEN_FOR_TEST: usize = crate::wire::HEADER_LEN;

    #[test]
    fn a_resumption_with_an_ephemeral_has_forward_secrecy_and_a_no_fs_server_refuses_it() {
        let rng = ring::rand::SystemRandom::new();
        let start = |fs: bool| {
            let cp = ClientParams {
                name: "alice".into(),
                key_ref: KeyRef::KeyId([4; 16]),
                psk: Secret::new([4; 32]),
                forward_secrecy: fs,
                suites: vec![1],
                expect_server: Some("bob".into()),
            };
            client_start(cp, &rng).unwrap()
        };
        let server = |fs: bool| ServerParams {
            name: "bob".into(),
            psk: Secret::new([4; 32]),
            suites: vec![1],
            forward_secrecy: fs,
        };
        let (c, m1) = start(true);
        let m1m = M1::from_bytes(&m1).unwrap();
        assert!(m1m.ephemeral.is_some());
        let (s, m2, _) = server_accept(&m1m, &m1, server(true), &rng).unwrap();
        let (cs, _) = c.on_m2(&Frame::parse(&m2).unwrap()).unwrap();
        assert!(cs.summary.resumed && cs.summary.forward_secrecy && s.summary.forward_secrecy);
        assert!(cs.master_key.ct_eq(&s.master_key));
        // A listener without forward secrecy never answers with an ephemeral: it refuses.
        match server_accept(&m1m, &m1, server(false), &rng) {
            Err(Error::Refused { code: 13, .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a --no-fs server answered an ephemeral"),
        }
        // PSK only, both ways.
        let (c, m1) = start(false);
        let m1m = M1::from_bytes(&m1).unwrap();
        let (_, m2, _) = server_accept(&m1m, &m1, server(false), &rng).unwrap();
        assert!(M2::from_bytes(&m2).unwrap().ephemeral.is_none());
        assert!(!c.on_m2(&Frame::parse(&m2).unwrap()).unwrap().0.summary.forward_secrecy);
    }

    #[test]
    fn a_wrong_psk_fails_at_the_finished_check() {
        let rng = ring::rand::SystemRandom::new();
        let cp = ClientParams {
            name: "alice".into(),
            key_ref: KeyRef::KeyId([1; 16]),
            psk: Secret::new([1; 32]),
            forward_secrecy: true,
            suites: vec![1],
            expect_server: None,
        };
        let (c, m1) = client_start(cp, &rng).unwrap();
        let m1m = M1::from_bytes(&m1).unwrap();
        let (mut s, m2, m4) = server_accept(
            &m1m,
            &m1,
            ServerParams { name: "bob".into(), psk: Secret::new([2; 32]), suites: vec![1], forward_secrecy: true },
            &rng,
        )
        .unwrap();
        let (mut cs, m3) = c.on_m2(&Frame::parse(&m2).unwrap()).unwrap();
        assert!(open(&mut s.receiver, &m3).is_err());
        assert!(open(&mut cs.receiver, &m4).is_err());
    }
}
