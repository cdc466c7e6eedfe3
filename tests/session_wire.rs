//! The session protocol under attack, against a real `sslx listen` and a real CDS: a replayed
//! M1, a flipped or replayed record, streams cut off mid-record or before the final record.

mod common;
use common::*;
use sslx::session::handshake::ClientParams;
use sslx::session::io::{client_handshake, Conn};
use sslx::session::msgs::{KeyRef, ListenerHello};
use sslx::wire::Msg;
use std::io::{Read, Write};
use std::net::TcpStream;

struct Setup {
    _cds: Cds,
    alice: Participant,
    _bob: Participant,
}

fn setup() -> Setup {
    let cds = Cds::start_dev();
    let alice = enroll(&cds, "wa");
    let bob = enroll(&cds, "wb");
    Setup { _cds: cds, alice, _bob: bob }
}

/// A fresh ticket for alice → bob from the real CDS, as the client parameters of a handshake.
fn params(s: &Setup) -> ClientParams {
    let home = sslx::keys::Home::new(s.alice.home());
    let ep = sslx::session::endpoint::Endpoint::load(&home, None).unwrap();
    let rng = sslx::crypto::system_rng();
    let g = sslx::broker::client::request_session(&ep.cds, &ep.name, &ep.cdsk(), "wb", &rng).unwrap();
    ClientParams {
        name: "wa".into(),
        key_ref: KeyRef::Ticket(g.ticket),
        psk: g.dsmk,
        forward_secrecy: true,
        suites: vec![1, 2],
        expect_server: Some("wb".into()),
    }
}

fn connect(addr: &str) -> Conn {
    let mut conn = Conn::new(TcpStream::connect(addr).unwrap()).unwrap();
    let (hello, _) = conn.expect::<ListenerHello>().unwrap();
    assert_eq!(hello.name, "wb");
    conn
}

/// A handshake with the listener, then `attack` writes what it wants on the raw socket.
fn after_handshake(s: &Setup, l: &Listener, attack: impl FnOnce(&mut sslx::session::Session, &mut TcpStream)) {
    let mut conn = connect(&l.addr);
    let rng = sslx::crypto::system_rng();
    let mut session = client_handshake(&mut conn, params(s), &rng).unwrap();
    attack(&mut session, &mut conn.writer);
}

/// The listener must exit 3 with `needle` in its message; returns what it wrote to stdout.
fn listener_fails_with(l: Listener, needle: &str) -> Vec<u8> {
    let (status, out, err) = l.wait();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains(needle), "{err}");
    out
}

#[test]
fn a_replayed_m1_is_refused() {
    let s = setup();
    let l = Listener::start(&s._bob, &[]);
    let rng = sslx::crypto::system_rng();
    let (_, m1) = sslx::session::client_start(params(&s), &rng).unwrap();
    let mut first = connect(&l.addr);
    first.send(&m1).unwrap();
    let f = first.reader.next_frame("M2").unwrap();
    assert_eq!(f.msg_type, sslx::session::msgs::TYPE_M2);
    drop(first);
    let mut again = connect(&l.addr);
    again.send(&m1).unwrap();
    let f = again.reader.next_frame("an answer").unwrap();
    let r = sslx::vsu::Refused::from_frame(&f).expect("a refusal");
    assert!(r.reason.contains("used before"), "{}", r.reason);
}

#[test]
fn a_flipped_byte_in_a_record_is_rejected() {
    let s = setup();
    let l = Listener::start(&s._bob, &["--once"]);
    after_handshake(&s, &l, |session, sock| {
        let mut r = session.sender.seal(b"attack at dawn", false).unwrap();
        let last = r.len() - 20;
        r[last] ^= 0x01;
        sock.write_all(&r).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    });
    assert!(listener_fails_with(l, "failed authentication").is_empty(), "nothing unauthenticated reaches the output");
}

#[test]
fn a_replayed_record_is_rejected() {
    let s = setup();
    let l = Listener::start(&s._bob, &["--once"]);
    after_handshake(&s, &l, |session, sock| {
        let r = session.sender.seal(b"pay 100", false).unwrap();
        sock.write_all(&r).unwrap();
        sock.write_all(&r).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    });
    assert_eq!(
        listener_fails_with(l, "failed authentication"),
        b"pay 100",
        "the genuine record once, the replay never"
    );
}

#[test]
fn a_stream_cut_before_its_final_record_is_an_error() {
    let s = setup();
    let l = Listener::start(&s._bob, &["--once"]);
    after_handshake(&s, &l, |session, sock| {
        sock.write_all(&session.sender.seal(b"part one", false).unwrap()).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    });
    assert_eq!(listener_fails_with(l, "cut off before the peer's final record"), b"part one");
}

#[test]
fn a_stream_cut_inside_a_record_is_an_error() {
    let s = setup();
    let l = Listener::start(&s._bob, &["--once"]);
    after_handshake(&s, &l, |session, sock| {
        let r = session.sender.seal(&[7u8; 1000], true).unwrap();
        sock.write_all(&r[..500]).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    });
    assert!(listener_fails_with(l, "cut off inside a record").is_empty());
}

#[test]
fn a_clean_final_record_ends_the_call_with_success() {
    let s = setup();
    let l = Listener::start(&s._bob, &["--once"]);
    after_handshake(&s, &l, |session, sock| {
        sock.write_all(&session.sender.seal(b"all of it", true).unwrap()).unwrap();
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.read_to_end(&mut Vec::new());
    });
    let (status, out, err) = l.wait();
    assert!(status.success(), "{err}");
    assert_eq!(out, b"all of it");
}
