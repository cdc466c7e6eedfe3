//! Session benchmarks, sslx beside rustls TLS 1.3 in the same run:
//! - handshakes per second, full (X25519 ephemeral, forward secrecy) and resumed, in memory and
//!   over loopback TCP, beside rustls full (Ed25519 certificate) and resumed. rustls resumes with
//!   psk_dhe_ke only (the PSK plus an X25519 exchange), the same work as sslx's default
//!   resumption with forward secrecy; sslx's PSK-only resumption (`--no-fs`) does no key
//!   exchange at all and is shown beside them as the different work it is;
//! - session record throughput over loopback beside raw TCP.
//!
//! Run: cargo bench --bench session

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sslx::crypto::Secret;
use sslx::session::handshake::{ClientParams, ServerParams};
use sslx::session::io::{client_handshake, pump, server_handshake, Conn};
use sslx::session::record::Received;
use sslx::session::*;
use sslx::wire::{Frame, Msg};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PSK: [u8; 32] = [7; 32];

fn client_params(fs: bool, resume: bool) -> ClientParams {
    ClientParams {
        name: "alice".into(),
        key_ref: if resume { KeyRef::KeyId([1; 16]) } else { KeyRef::Ticket(vec![0; 120]) },
        psk: Secret::new(PSK),
        forward_secrecy: fs,
        suites: vec![1, 2],
        expect_server: Some("bob".into()),
    }
}

/// One whole handshake in memory, both finished values checked.
fn sslx_handshake(fs: bool, resume: bool, rng: &dyn ring::rand::SecureRandom) {
    let (c, m1) = client_start(client_params(fs, resume), rng).unwrap();
    let m1m = M1::from_bytes(&m1).unwrap();
    let (mut s, m2, m4) = server_accept(
        &m1m,
        &m1,
        ServerParams { name: "bob".into(), psk: Secret::new(PSK), suites: vec![1, 2], forward_secrecy: true },
        rng,
    )
    .unwrap();
    let (mut cs, m3) = c.on_m2(&Frame::parse(&m2).unwrap()).unwrap();
    for (r, bytes) in [(&mut s.receiver, m3), (&mut cs.receiver, m4)] {
        let f = Frame::parse(&bytes).unwrap();
        let mut b = f.body;
        assert_eq!(
            r.open(&Frame { msg_type: f.msg_type, version: f.version, body: vec![] }.header_with_len(b.len()), &mut b)
                .unwrap(),
            Received::Finished
        );
    }
}

trait HeaderWithLen {
    fn header_with_len(&self, len: usize) -> sslx::wire::Header;
}
impl HeaderWithLen for Frame {
    fn header_with_len(&self, len: usize) -> sslx::wire::Header {
        sslx::wire::Header { msg_type: self.msg_type, version: self.version, len: len as u32 }
    }
}

struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn tls_configs() -> Tls {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["bob".to_owned()]).unwrap().self_signed(&key).unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls { server: Arc::new(server), client: Arc::new(client) }
}

/// Moves TLS bytes between the two ends in memory until neither has anything to say.
fn tls_transfer(c: &mut rustls::ClientConnection, s: &mut rustls::ServerConnection) {
    let mut buf = Vec::new();
    loop {
        let mut moved = false;
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            moved = true;
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets().unwrap();
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn rustls_handshake(t: &Tls) -> bool {
    let mut c = rustls::ClientConnection::new(t.client.clone(), ServerName::try_from("bob").unwrap()).unwrap();
    let mut s = rustls::ServerConnection::new(t.server.clone()).unwrap();
    tls_transfer(&mut c, &mut s);
    assert!(!c.is_handshaking() && !s.is_handshaking());
    c.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
}

fn bench_in_memory(c: &mut Criterion) {
    let rng = sslx::crypto::system_rng();
    let mut g = c.benchmark_group("handshake_in_memory");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sslx_full_forward_secrecy", |b| b.iter(|| sslx_handshake(true, false, &rng)));
    g.bench_function("sslx_full_no_fs", |b| b.iter(|| sslx_handshake(false, false, &rng)));
    g.bench_function("sslx_resumed_forward_secrecy", |b| b.iter(|| sslx_handshake(true, true, &rng)));
    g.bench_function("sslx_resumed_psk_only_no_dh", |b| b.iter(|| sslx_handshake(false, true, &rng)));
    let full = tls_configs();
    let mut no_resume = (*full.client).clone();
    no_resume.resumption = rustls::client::Resumption::disabled();
    let full_only = Tls { server: full.server.clone(), client: Arc::new(no_resume) };
    g.bench_function("rustls_tls13_full_ed25519", |b| b.iter(|| assert!(!rustls_handshake(&full_only))));
    rustls_handshake(&full); // prime the client's ticket cache
    g.bench_function("rustls_tls13_resumed_psk_dhe_ke", |b| b.iter(|| assert!(rustls_handshake(&full))));
    g.finish();
}

/// An sslx listener on loopback that answers handshakes with a fixed PSK and closes.
fn sslx_loopback_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let rng = sslx::crypto::system_rng();
        for sock in l.incoming() {
            let mut conn = Conn::new(sock.unwrap()).unwrap();
            let _ = server_handshake(&mut conn, "bob", &[1, 2], true, |_| Ok(Secret::new(PSK)), |_| Ok(()), &rng);
        }
    });
    addr
}

fn rustls_loopback_server(t: &Tls) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let cfg = t.server.clone();
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let mut sock = sock.unwrap();
            sock.set_nodelay(true).unwrap();
            let mut s = rustls::ServerConnection::new(cfg.clone()).unwrap();
            while s.is_handshaking() {
                if s.complete_io(&mut sock).is_err() {
                    break;
                }
            }
            let _ = s.complete_io(&mut sock);
        }
    });
    addr
}

fn bench_loopback(c: &mut Criterion) {
    let rng = sslx::crypto::system_rng();
    let mut g = c.benchmark_group("handshake_loopback");
    g.throughput(Throughput::Elements(1));
    let addr = sslx_loopback_server();
    for (name, fs, resume) in [
        ("sslx_full_forward_secrecy", true, false),
        ("sslx_resumed_forward_secrecy", true, true),
        ("sslx_resumed_psk_only_no_dh", false, true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut conn = Conn::new(TcpStream::connect(&addr).unwrap()).unwrap();
                client_handshake(&mut conn, client_params(fs, resume), &rng).unwrap();
            })
        });
    }
    let t = tls_configs();
    let taddr = rustls_loopback_server(&t);
    let mut no_resume = (*t.client).clone();
    no_resume.resumption = rustls::client::Resumption::disabled();
    let no_resume = Arc::new(no_resume);
    for (name, cfg) in [("rustls_tls13_full_ed25519", no_resume), ("rustls_tls13_resumed_psk_dhe_ke", t.client.clone())]
    {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut sock = TcpStream::connect(&taddr).unwrap();
                sock.set_nodelay(true).unwrap();
                let mut c = rustls::ClientConnection::new(cfg.clone(), ServerName::try_from("bob").unwrap()).unwrap();
                while c.is_handshaking() {
                    c.complete_io(&mut sock).unwrap();
                }
                // Read the session tickets so the next connection can resume.
                let _ = c.complete_io(&mut sock);
            })
        });
    }
    g.finish();
}

/// Bytes through a session over loopback (sender thread, receiver discards) vs raw TCP.
fn bench_throughput(c: &mut Criterion) {
    const N: usize = 256 << 20;
    let mut g = c.benchmark_group("loopback_throughput");
    g.throughput(Throughput::Bytes(N as u64)).sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function(BenchmarkId::new("raw_tcp", "256MiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let rx = std::thread::spawn(move || {
                    let (mut s, _) = l.accept().unwrap();
                    std::io::copy(&mut s, &mut std::io::sink()).unwrap()
                });
                let start = Instant::now();
                let mut s = TcpStream::connect(addr).unwrap();
                let buf = vec![0u8; 256 * 1024];
                for _ in 0..N / buf.len() {
                    s.write_all(&buf).unwrap();
                }
                drop(s);
                assert_eq!(rx.join().unwrap() as usize, N);
                total += start.elapsed();
            }
            total
        })
    });
    for suite in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
        g.bench_function(BenchmarkId::new("sslx_session", suite.name()), |b| {
            b.iter_custom(|iters| {
                let rng = sslx::crypto::system_rng();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let l = TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = l.local_addr().unwrap();
                    let rx = std::thread::spawn(move || {
                        let rng = sslx::crypto::system_rng();
                        let mut conn = Conn::new(l.accept().unwrap().0).unwrap();
                        let s = server_handshake(
                            &mut conn,
                            "bob",
                            &[suite as u8],
                            true,
                            |_| Ok(Secret::new(PSK)),
                            |_| Ok(()),
                            &rng,
                        )
                        .unwrap();
                        pump(s, conn, std::io::empty(), std::io::sink()).unwrap().received
                    });
                    let start = Instant::now();
                    let mut conn = Conn::new(TcpStream::connect(addr).unwrap()).unwrap();
                    let mut p = client_params(true, false);
                    p.suites = vec![suite as u8];
                    let s = client_handshake(&mut conn, p, &rng).unwrap();
                    let t = pump(s, conn, std::io::repeat(0).take(N as u64), std::io::sink()).unwrap();
                    assert_eq!(t.sent as usize, N);
                    assert_eq!(rx.join().unwrap() as usize, N);
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_in_memory, bench_loopback, bench_throughput);
criterion_main!(benches);
