//! VSU benchmarks: open requests per second a CDS completes on loopback (file transport for
//! email, a folder for the PIN: the `--dev` set-up), and the time to assemble a CDSK.
//! Run: cargo bench --bench vsu   (or bench/vsu.sh, which also times the whole command)

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sslx::cds::mail::Mailer;
use sslx::cds::oob::{Oob, OobConfig};
use sslx::cds::{Cds, CdsConfig, Registrar, RegistrarConfig, SqliteStore};
use sslx::crypto::{self, Secret};
use sslx::keys::Identity;
use sslx::vsu::assemble::{self, ReplyParams};
use sslx::vsu::*;
use sslx::wire::Msg;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts an in-process CDS on 127.0.0.1:0 with a file outbox; returns its address.
fn start_cds(dir: &std::path::Path) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let rng = crypto::system_rng();
            let outbox = dir.join("outbox");
            let oob = dir.join("oob");
            std::fs::create_dir_all(&outbox).unwrap();
            std::fs::create_dir_all(&oob).unwrap();
            let store = SqliteStore::open(&dir.join("cds.db")).unwrap();
            let registrar = Registrar::new(
                Box::new(store),
                RegistrarConfig {
                    cds_http: "http://127.0.0.1:1".into(),
                    limits: sslx::cds::RateLimits::off(),
                    ..Default::default()
                },
                &rng,
            )
            .unwrap();
            let cds = Arc::new(Cds {
                registrar,
                relay: sslx::cds::relay::Relay::new(true),
                mailer: Mailer::outbox(outbox).unwrap(),
                oob: Oob::new(OobConfig {
                    dir: Some(oob),
                    sms: None,
                    exec: None,
                    allow_http: false,
                    allow_private: false,
                    phone_prefixes: Vec::new(),
                }),
                cfg: CdsConfig {
                    mail_from: "cds@localhost".into(),
                    conn: Default::default(),
                    health_detail: false,
                    drain: std::time::Duration::from_secs(1),
                },
                rng,
                clock: Box::new(sslx::clock::SystemClock),
            });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let h = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().to_string()).unwrap();
            sslx::cds::serve(l, h, cds, std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// The open request for a connection's challenge (each one is signed for its connection).
fn open_request_frame(id: &Identity, challenge: &[u8; 32]) -> Vec<u8> {
    let mut req = OpenRequest {
        ar: AR_VSU_DS.into(),
        name: id.name.clone(),
        public: id.public(),
        email: "bench@example.com".into(),
        oob: "sms:+15551234567".into(),
        signature: [0; 64],
        proof: None,
    };
    req.signature = id.sign(&req.signed_bytes(challenge).unwrap());
    req.to_frame().unwrap()
}

fn bench_open_requests(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let addr = start_cds(dir.path());
    let id = Arc::new(Identity::generate("bench", &crypto::system_rng()).unwrap());
    let mut g = c.benchmark_group("cds");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    // Requests from 4 client threads at once, a new TCP connection each, as `sslx vsu` makes them.
    g.bench_function("open_request_loopback_file_transport", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let per = iters.div_ceil(4);
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (addr, id) = (addr.clone(), id.clone());
                    std::thread::spawn(move || {
                        for _ in 0..per {
                            let f = sslx::vsu::client::exchange(&addr, |ch| Ok(open_request_frame(&id, ch))).unwrap();
                            assert_eq!(f.msg_type, TYPE_REPLY_A);
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            start.elapsed() * iters as u32 / (per * 4) as u32
        })
    });
    g.finish();
}

fn bench_assemble(c: &mut Criterion) {
    let rng = crypto::system_rng();
    let id = Identity::generate("bench", &rng).unwrap();
    let cdsk = Secret::random(&rng);
    let p = ReplyParams {
        request_id: [1; 16],
        name: "bench",
        ds_public: &id.public(),
        expires: u64::MAX,
        cds_http: "",
        cds_sign_key: [0; 32],
        cds_addresses: "",
    };
    let r = assemble::make_replies(&cdsk, "1A2B3C", &p, &rng).unwrap();
    let mut g = c.benchmark_group("vsu");
    g.bench_function("assemble_cdsk", |b| b.iter(|| assemble::assemble_cdsk(&id, &r.a, &r.b, "1A2B3C").unwrap()));
    g.bench_function("make_replies", |b| b.iter(|| assemble::make_replies(&cdsk, "1A2B3C", &p, &rng).unwrap()));
    g.finish();
}

criterion_group!(benches, bench_open_requests, bench_assemble);
criterion_main!(benches);
