//! Test harness: a real `sslx-cds` on port 0, participants with their own homes, and the real
//! SMTP and HTTP servers the CDS delivers to. No fixed ports, no mocks.
#![allow(dead_code)]

pub mod bulk;
pub mod pg;

use assert_cmd::Command;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

pub fn bin(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// `n` bytes that look random (a SHA-256 chain from `seed`), the same every run.
pub fn pseudo_random(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut block = sslx::crypto::sha256(&[seed]);
    while out.len() < n {
        out.extend_from_slice(&block);
        block = sslx::crypto::sha256(&block);
    }
    out.truncate(n);
    out
}

/// A blocking TCP connection to `to` from the loopback address `from` (127.0.0.2, …: all of
/// 127/8 is this machine, so one test can be several sources).
pub fn connect_from(from: &str, to: &str) -> std::net::TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&format!("{from}:0").parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.connect(&to.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.into()
}

/// `sslx --home HOME` with every `SSLX_*` variable cleared.
pub fn sslx(home: &Path) -> Command {
    let mut c = Command::new(bin("sslx"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SSLX_") {
            c.env_remove(k);
        }
    }
    c.arg("--home").arg(home);
    c
}

/// A running `sslx-cds serve`, killed on drop.
pub struct Cds {
    pub child: Child,
    pub listen: String,
    pub http: String,
    pub db: PathBuf,
    /// The key file that seals the database's secrets.
    pub key_file: PathBuf,
    /// Where bundles wait.
    pub mailbox_dir: PathBuf,
    pub outbox: Option<PathBuf>,
    pub oob_dir: Option<PathBuf>,
    pub stderr_log: PathBuf,
    _state: Option<tempfile::TempDir>,
}

impl Cds {
    /// `sslx-cds serve --dev` on port 0.
    pub fn start_dev() -> Cds {
        Cds::start(&["--dev"], &[])
    }

    /// `sslx-cds serve ARGS --listen 127.0.0.1:0 --http 127.0.0.1:0`, waiting for its JSON line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Cds {
        Cds::start_on(args, env, "127.0.0.1:0")
    }

    /// `start` listening on `listen` (a restarted CDS takes its old address again).
    pub fn start_on(args: &[&str], env: &[(&str, &str)], listen: &str) -> Cds {
        let log = tempfile::Builder::new().prefix("sslx-cds-log-").tempfile().unwrap().into_temp_path().keep().unwrap();
        let mut cmd = std::process::Command::new(bin("sslx-cds"));
        // Never the default ./sslx-cds.db: a database of the test's own unless one is given
        // (with SSLX_TEST_CDS_DB=postgres, a new PostgreSQL database, --dev or not).
        let on_pg = backend_is_postgres();
        let state =
            ((on_pg || !args.contains(&"--dev")) && !args.contains(&"--db")).then(|| tempfile::tempdir().unwrap());
        cmd.arg("serve");
        if let Some(s) = &state {
            cmd.arg("--db").arg(test_db(s.path()));
            if on_pg && !args.contains(&"--mailbox-dir") {
                cmd.arg("--mailbox-dir").arg(s.path().join("mailbox"));
            }
        }
        // A PostgreSQL database's key file (and, without --dev, its mailbox) are named.
        let db_arg = args.iter().position(|a| *a == "--db").map(|i| PathBuf::from(args[i + 1]));
        if let Some(key) = state.as_ref().map(|s| test_db(s.path())).or(db_arg).as_deref().and_then(key_file_of) {
            if !args.contains(&"--key-file") {
                cmd.arg("--key-file").arg(key);
            }
        }
        cmd.args(args).args(["--listen", listen, "--http", "127.0.0.1:0"]);
        // The database as given (the JSON line shows a URL's password as ***).
        let db_given = state
            .as_ref()
            .map(|s| test_db(s.path()))
            .or_else(|| args.iter().position(|a| *a == "--db").map(|i| PathBuf::from(args[i + 1])));
        for (k, _) in std::env::vars() {
            if k.starts_with("SSLX_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap()).spawn().expect("spawn sslx-cds");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("sslx-cds did not start: {}", std::fs::read_to_string(&log).unwrap_or_default())
        });
        let p = |k: &str| v[k].as_str().map(PathBuf::from);
        Cds {
            child,
            listen: v["listen"].as_str().unwrap().to_owned(),
            http: v["http"].as_str().unwrap().to_owned(),
            db: db_given.filter(|d| d.to_str().is_some_and(|d| d.starts_with("postgres://"))).or(p("db")).unwrap(),
            key_file: p("key_file").unwrap(),
            mailbox_dir: p("mailbox_dir").unwrap(),
            outbox: p("outbox"),
            oob_dir: p("oob_dir"),
            stderr_log: log,
            _state: state,
        }
    }

    /// `sslx-cds ARGS --db DB --key-file KEY`: an admin command on this CDS's database.
    pub fn admin(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("sslx-cds"));
        c.args(args).arg("--db").arg(&self.db).arg("--key-file").arg(&self.key_file);
        c
    }

    /// Runs SQL on this CDS's database, whichever backend keeps it.
    pub fn sql(&self, sql: &str) {
        match self.db.to_str().filter(|d| d.starts_with("postgres://")) {
            Some(url) => {
                pg::postgres().expect("PostgreSQL").psql(pg::db_name(url), sql);
            }
            None => rusqlite::Connection::open(&self.db).unwrap().execute_batch(sql).unwrap(),
        }
    }

    /// The billing tape, `sslx-cds calls --format json`, a value per call.
    pub fn calls_json(&self) -> Vec<serde_json::Value> {
        let out = self.admin(&["calls", "--format", "json"]).assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The newest reply B email in the outbox.
    pub fn reply_b_file(&self, request_id: &str) -> PathBuf {
        let dir = self.outbox.as_ref().expect("CDS has an outbox");
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if std::fs::read_to_string(&p).unwrap().contains(request_id) {
                return p;
            }
        }
        panic!("no email for request {request_id} in {}", dir.display());
    }

    /// The PIN the CDS wrote to its out-of-band folder for a request.
    pub fn pin(&self, request_id: &str) -> String {
        let p = self.oob_dir.as_ref().expect("CDS has an oob dir").join(format!("{request_id}.txt"));
        let text = std::fs::read_to_string(&p).unwrap();
        sslx::vsu::ReplyC::pin_in(&text).expect("a PIN in the out-of-band message")
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

/// A participant: a home directory under a temp dir.
pub struct Participant {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Participant {
    pub fn new(name: &str) -> Participant {
        let dir = tempfile::tempdir().unwrap();
        let p = Participant { dir, name: name.to_owned() };
        p.cmd().args(["keygen", "--name", name]).assert().success();
        p
    }
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn cmd(&self) -> Command {
        sslx(&self.home())
    }
    /// `sslx --cds CDS vsu --email EMAIL --oob OOB`, to be run by the caller.
    pub fn vsu_cmd(&self, cds: &str, email: &str, oob: &str) -> Command {
        let mut c = self.cmd();
        c.args(["--cds", cds, "vsu", "--email", email, "--oob", oob]);
        c
    }
    /// `sslx vsu` against a CDS; returns the request id.
    pub fn vsu(&self, cds: &Cds, oob: &str) -> String {
        request_id_of(self.vsu_cmd(&cds.listen, &format!("{}@example.com", self.name), oob))
    }
    pub fn has(&self, file: &str) -> bool {
        self.home().join(file).exists()
    }
}

/// Runs an `sslx vsu` command that must succeed (with `--json` added); returns the request id.
pub fn request_id_of(mut c: Command) -> String {
    let out = c.arg("--json").assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v["request_id"].as_str().unwrap().to_owned()
}

/// Enrolls `name` end to end on a `--dev` style CDS (outbox and oob folder).
pub fn enroll(cds: &Cds, name: &str) -> Participant {
    let p = Participant::new(name);
    let rid = p.vsu(cds, "sms:+15551234567");
    p.cmd()
        .args(["assemble-key", "--reply-b"])
        .arg(cds.reply_b_file(&rid))
        .args(["--pin", &cds.pin(&rid)])
        .assert()
        .success();
    p.cmd().args(["vsu", "--confirm"]).assert().success();
    p
}

/// One message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
struct SmtpHandler {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Mail,
}

impl mailin::Handler for SmtpHandler {
    fn rcpt(&mut self, to: &str) -> mailin::Response {
        if to.starts_with("reject") {
            return mailin::response::NO_MAILBOX;
        }
        self.current.to.push(to.to_owned());
        mailin::response::OK
    }
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> mailin::Response {
        self.current.data.clear();
        mailin::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }
    fn data_end(&mut self) -> mailin::Response {
        let m = std::mem::replace(&mut self.current, Mail { to: vec![], data: String::new() });
        self.mails.lock().unwrap().push(m);
        mailin::response::OK
    }
}

/// One SMTP session's lines until it ends (None) or asks for STARTTLS.
fn smtp_lines<S: Read + std::io::Write>(
    session: &mut mailin::Session<SmtpHandler>,
    stream: &mut std::io::BufReader<S>,
) -> Option<mailin::Action> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if stream.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let res = session.process(&line);
        if matches!(res.action, mailin::Action::NoReply) {
            continue;
        }
        res.write_to(stream.get_mut()).ok()?;
        std::io::Write::flush(stream.get_mut()).ok()?;
        match res.action {
            mailin::Action::Reply | mailin::Action::NoReply => {}
            other => return Some(other),
        }
    }
}

/// A rustls (ring) server configuration with a fresh self-signed certificate for "localhost",
/// whose PEM is written to `dir/name`.
fn tls_config(dir: &Path, name: &str) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.join(name);
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    (Arc::new(config), cert_path)
}

/// A real SMTP server (mailin-embedded) on 127.0.0.1:0. Recipients starting with "reject" get 550.
pub struct SmtpServer {
    pub addr: String,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        Self::start_with(None)
    }

    /// An SMTP server offering STARTTLS (RFC 3207) with a fresh self-signed certificate for
    /// "localhost"; returns the server and the certificate's PEM file (for `sslx-cds --smtp-ca`).
    pub fn start_starttls(dir: &Path) -> (SmtpServer, PathBuf) {
        let (acceptor, cert) = tls_config(dir, "smtp-cert.pem");
        (Self::start_with(Some(acceptor)), cert)
    }

    /// An SMTP server reached over implicit TLS (`smtps://`): a rustls front on 127.0.0.1:0 that
    /// terminates TLS with a fresh certificate for "localhost" and passes the bytes to the same
    /// real SMTP server. Returns the server (its `addr` is the TLS address) and the certificate.
    pub fn start_implicit_tls(dir: &Path) -> (SmtpServer, PathBuf) {
        let (config, cert_path) = tls_config(dir, "smtps-cert.pem");
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let inner = Self::start();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let backend = inner.addr.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (sock, _) = listener.accept().await.unwrap();
                    let (acceptor, backend) = (acceptor.clone(), backend.clone());
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(sock).await else { return };
                        let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    });
                }
            });
        });
        (SmtpServer { addr, mails: inner.mails }, cert_path)
    }

    /// The SMTP server: mailin's session (the protocol: greeting, EHLO, STARTTLS, MAIL, RCPT,
    /// DATA, QUIT) over a thread per connection; STARTTLS upgrades the connection with rustls.
    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> SmtpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let handler = SmtpHandler { mails: mails.clone(), current: Mail { to: vec![], data: String::new() } };
        let mut builder = mailin::SessionBuilder::new("test.smtp.local");
        if tls.is_some() {
            builder.enable_start_tls();
        }
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (builder, handler, tls) = (builder.clone(), handler.clone(), tls.clone());
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(60))).ok();
                    let remote = conn.peer_addr().map(|a| a.ip()).unwrap_or([127, 0, 0, 1].into());
                    let mut session = builder.build(remote, handler);
                    let mut plain = std::io::BufReader::new(conn);
                    if session.greeting().write_to(plain.get_mut()).is_err() {
                        return;
                    }
                    if smtp_lines(&mut session, &mut plain) != Some(mailin::Action::UpgradeTls) {
                        return;
                    }
                    let Some(config) = tls else { return };
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut secure = std::io::BufReader::new(rustls::StreamOwned::new(conn, plain.into_inner()));
                    session.tls_active();
                    smtp_lines(&mut session, &mut secure);
                });
            }
        });
        SmtpServer { addr, mails }
    }

    /// Waits (bounded) for a message to `to`.
    pub fn wait_for(&self, to: &str) -> Mail {
        for _ in 0..200 {
            if let Some(m) = self.mails.lock().unwrap().iter().find(|m| m.to.iter().any(|t| t.contains(to))) {
                return m.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("no mail to {to} arrived");
    }
}

/// One request an HTTP server of the tests received.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub path: String,
    pub authorization: String,
    pub body: String,
}

/// A real HTTP server (hyper through axum, the CDS's own stack) on 127.0.0.1:0 that records each
/// request and answers `status`: a webhook receiver, or a Twilio-compatible SMS API.
pub struct WebhookServer {
    pub url: String,
    pub calls: Arc<Mutex<Vec<HttpCall>>>,
}

impl WebhookServer {
    pub fn start() -> WebhookServer {
        Self::answering(200)
    }

    pub fn answering(status: u16) -> WebhookServer {
        Self::serve(status, None)
    }

    /// Answers every request with a redirect (307) to `to`.
    pub fn redirecting(to: &str) -> WebhookServer {
        Self::serve(307, Some(to.to_owned()))
    }

    fn serve(status: u16, location: Option<String>) -> WebhookServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    let (c, location) = (c.clone(), location.clone());
                    async move {
                        let path = req.uri().to_string();
                        let authorization = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                        let body = String::from_utf8_lossy(&body).into_owned();
                        c.lock().unwrap().push(HttpCall { path, authorization, body });
                        let mut r = axum::http::Response::builder().status(status);
                        if let Some(to) = &location {
                            r = r.header("location", to);
                        }
                        r.body(axum::body::Body::from(if location.is_some() { "" } else { "{}" })).unwrap()
                    }
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        WebhookServer { url, calls }
    }

    /// The webhook address the tests give as an out-of-band URI.
    pub fn hook(&self) -> String {
        format!("{}/hook", self.url)
    }

    pub fn last(&self) -> HttpCall {
        self.calls.lock().unwrap().last().cloned().expect("a call")
    }

    pub fn wait_for(&self, needle: &str) -> serde_json::Value {
        for _ in 0..200 {
            if let Some(c) = self.calls.lock().unwrap().iter().find(|c| c.body.contains(needle)) {
                return serde_json::from_str(&c.body).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("no webhook call containing {needle}");
    }
}

/// A running `sslx listen --bind 127.0.0.1:0` of a participant, killed on drop.
pub struct Listener {
    pub child: Child,
    pub addr: String,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Its stderr so far, line by line.
    seen: Arc<Mutex<String>>,
}

impl Listener {
    /// `sslx listen --bind 127.0.0.1:0 EXTRA`: `addr` is where it listens.
    pub fn start(p: &Participant, extra: &[&str]) -> Listener {
        let mut args = vec!["--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::spawn(p, &args)
    }

    /// `sslx listen EXTRA` on hook at the participant's CDS: `addr` is the CDS's address.
    pub fn on_hook(p: &Participant, extra: &[&str]) -> Listener {
        Self::spawn(p, extra)
    }

    fn spawn(p: &Participant, args: &[&str]) -> Listener {
        let mut all = vec!["listen"];
        all.extend_from_slice(args);
        Self::command(p, &all, false)
    }

    /// Any `sslx` command that listens (`recv`, `pair --accept`, `listen`): started, and its
    /// "listening on" line read. `stdin`: keep its stdin as a pipe (`child.stdin`).
    pub fn command(p: &Participant, args: &[&str], stdin: bool) -> Listener {
        Self::command_with_env(p, args, stdin, &[])
    }

    /// `command` with these environment variables set (after sslx's own are cleared).
    pub fn command_with_env(p: &Participant, args: &[&str], stdin: bool, env: &[(&str, &str)]) -> Listener {
        let mut cmd = std::process::Command::new(bin("sslx"));
        for (k, _) in std::env::vars() {
            if k.starts_with("SSLX_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        cmd.arg("--home").arg(p.home()).args(args);
        if stdin {
            cmd.stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null());
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        // With `listen --json` the line is an event: {"event":"listening","on":...}.
        let event = serde_json::from_str::<serde_json::Value>(&line).ok();
        let on = event.as_ref().and_then(|v| v["on"].as_str()).map(|on| format!("sslx: listening on {on} "));
        let line = on.unwrap_or(line);
        let addr = line
            .strip_prefix("sslx: listening on hook at the CDS ")
            .or_else(|| line.strip_prefix("sslx: listening on "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("listener did not start: {line}"))
            .to_owned();
        let seen = Arc::new(Mutex::new(String::new()));
        let so_far = seen.clone();
        let stderr = std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).unwrap_or(0) > 0 {
                so_far.lock().unwrap().push_str(&line);
                line.clear();
            }
            so_far.lock().unwrap().clone()
        });
        Listener { child, addr, stderr: Some(stderr), seen }
    }

    /// Waits up to `secs` until its stderr (after the "listening on" line) has `needle` at least
    /// `count` times; returns all of stderr so far (panics with it on a timeout).
    pub fn await_stderr(&self, needle: &str, count: usize, secs: u64) -> String {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let text = self.seen.lock().unwrap().clone();
            if text.matches(needle).count() >= count {
                return text;
            }
            if std::time::Instant::now() > end {
                panic!("no {count} x {needle:?} on the listener's stderr in {secs} s:\n{text}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Waits for the listener to exit (after --once); returns its status, stdout and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<u8>, String) {
        let mut out = Vec::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_end(&mut out).unwrap();
        }
        let status = self.child.wait().unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        (status, out, err)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A participant's name and confirmed CDSK, read from its home.
pub fn keys(p: &Participant) -> (String, sslx::crypto::Secret<32>) {
    sslx::broker::client::enrolled(&sslx::keys::Home::new(p.home())).unwrap()
}

/// A raw deposit of `size` zero bytes from `from` to `to`: its frame is sent, its bytes not yet
/// (the test sends them, or not).
pub fn start_deposit(
    cds: &Cds,
    from: &(String, sslx::crypto::Secret<32>),
    to: &str,
    size: u64,
    tag: u8,
) -> std::net::TcpStream {
    use sslx::wire::Msg;
    let mut c = sslx::net::connect_cds(&cds.listen).unwrap();
    c.stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let sha256 = if size < 1 << 24 { sslx::crypto::sha256(&vec![0u8; size as usize]) } else { [0; 32] };
    let body = sslx::relay::DepositBody { recipient: to.into(), nonce: [tag; 16], size, bundle_id: [tag; 8], sha256 }
        .encode()
        .unwrap();
    let f = sslx::relay::Deposit::new(&from.0, &from.1, &c.challenge, &body, &sslx::crypto::system_rng())
        .unwrap()
        .to_frame()
        .unwrap();
    sslx::wire::write_frame(&mut c.stream, &f).unwrap();
    c.stream
}

/// A TCP proxy on 127.0.0.1 to `target` that passes each connection through until the client has
/// sent `after` bytes on it, then cuts both directions: a deterministic "sender died half-way".
/// Its threads end with their connections; the listener lives as long as the test process.
pub fn cutting_proxy(target: &str, after: u64) -> String {
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let target = target.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut sent = 0u64;
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let take = (n as u64).min(after - sent) as usize;
                    if s_write.write_all(&buf[..take]).is_err() {
                        break;
                    }
                    sent += take as u64;
                    if sent >= after {
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Both);
                let _ = c_read.shutdown(Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Both);
            });
        }
    });
    addr
}

/// A TCP forwarder in front of a server, which a test can turn into the network's failures: the
/// connections it carries fall silent both ways without a FIN (a NAT that forgot them, a cable
/// pulled), and new connections are closed at once (a server down). An end that closes its side
/// is still passed on.
pub struct Proxy {
    pub addr: String,
    /// Connections accepted before this generation are silent.
    silent_before: Arc<std::sync::atomic::AtomicU64>,
    generation: Arc<std::sync::atomic::AtomicU64>,
    refuse: Arc<std::sync::atomic::AtomicBool>,
    /// The client ends of the connections carried so far.
    clients: Arc<Mutex<Vec<std::net::TcpStream>>>,
    /// The last piece the server sent that was passed on.
    last: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub fn start(target: &str) -> Proxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (silent_before, generation) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let refuse = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(Mutex::new(Vec::new()));
        let (sb, gen, no, all) = (silent_before.clone(), generation.clone(), refuse.clone(), clients.clone());
        let last = Arc::new(Mutex::new(Vec::new()));
        let last_seen = last.clone();
        let target = target.to_owned();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if no.load(SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
                let born = gen.load(SeqCst);
                all.lock().unwrap().push(client.try_clone().unwrap());
                for (mut from, mut to, downstream) in
                    [(client.try_clone().unwrap(), server.try_clone().unwrap(), false), (server, client, true)]
                {
                    let (sb, last) = (sb.clone(), last_seen.clone());
                    std::thread::spawn(move || {
                        use std::io::Write;
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            if born >= sb.load(SeqCst) {
                                if downstream {
                                    *last.lock().unwrap() = buf[..n].to_vec();
                                }
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Proxy { addr, silent_before, generation, refuse, clients, last }
    }

    /// Goes silent (as [`Proxy::go_silent`]), then writes the server's last piece again and again
    /// to every client, every half second: a recorded keepalive replayed into a dead connection.
    pub fn go_silent_replaying_the_last(&self) {
        self.go_silent();
        let (clients, last) = (self.clients.clone(), self.last.lock().unwrap().clone());
        std::thread::spawn(move || {
            use std::io::Write;
            for _ in 0..240 {
                for c in clients.lock().unwrap().iter_mut() {
                    let _ = c.write_all(&last);
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
    }

    /// Writes `bytes` to the client end of every connection carried so far, as someone on the
    /// path would (into a quiet connection: a frame of the server's may not be under way).
    pub fn inject(&self, bytes: &[u8]) {
        use std::io::Write;
        for c in self.clients.lock().unwrap().iter_mut() {
            let _ = c.write_all(bytes);
        }
    }

    /// The connections carried so far pass nothing more, either way (no FIN, no RST).
    pub fn go_silent(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let g = self.generation.fetch_add(1, SeqCst) + 1;
        self.silent_before.store(g, SeqCst);
    }

    /// New connections are closed as soon as they come (true), or carried again (false).
    pub fn refuse_new(&self, refuse: bool) {
        self.refuse.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A named pipe at `path` (0600).
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

/// A TCP proxy to `target` that carries connection number `nth` (from 0) up to the CDS's hello
/// and then drops everything the CDS sends, writing `instead` in its place: the request arrives,
/// its answer never does. Other connections pass whole.
pub fn answer_replacing_proxy(target: &str, nth: usize, instead: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let target = target.to_owned();
    std::thread::spawn(move || {
        for (i, client) in listener.incoming().flatten().enumerate() {
            let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            let instead = instead.clone();
            std::thread::spawn(move || {
                if i != nth {
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                    return;
                }
                let mut header = [0u8; sslx::wire::HEADER_LEN];
                s_read.read_exact(&mut header).unwrap();
                let len = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
                let mut body = vec![0u8; len];
                s_read.read_exact(&mut body).unwrap();
                c_write.write_all(&header).unwrap();
                c_write.write_all(&body).unwrap();
                // The answer is read and thrown away once the CDS sends it, then the client is cut.
                let mut answer = [0u8; 1];
                let _ = s_read.read(&mut answer);
                let _ = c_write.write_all(&instead);
                let _ = c_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

/// `sslx-cds ARGS --db DB`: a KDC admin command, without the test's own `SSLX_` variables
/// (and with the key file of a PostgreSQL database made by [`test_db`]).
pub fn kdc_admin(db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin("sslx-cds"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SSLX_") {
            c.env_remove(k);
        }
    }
    c.args(args).arg("--db").arg(db);
    if let Some(key) = key_file_of(db) {
        c.arg("--key-file").arg(key);
    }
    c
}

/// Whether the tests' CDSs keep their state in PostgreSQL (`SSLX_TEST_CDS_DB=postgres`, which
/// `.ci/run` sets for a second pass over the CDS's tests) rather than in SQLite files.
pub fn backend_is_postgres() -> bool {
    std::env::var("SSLX_TEST_CDS_DB").is_ok_and(|v| v == "postgres")
}

/// Key files of the PostgreSQL databases the tests made, by URL.
static PG_KEY_FILES: std::sync::Mutex<Vec<(PathBuf, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// A CDS database for a test whose state is in `dir`: `dir/cds.db`, or (PostgreSQL backend) a
/// new database whose key file is `dir/cds.key`. The same `dir` gives the same database.
pub fn test_db(dir: &Path) -> PathBuf {
    if !backend_is_postgres() {
        return dir.join("cds.db");
    }
    let key = dir.join("cds.key");
    let mut known = PG_KEY_FILES.lock().unwrap();
    if let Some((url, _)) = known.iter().find(|(_, k)| *k == key) {
        return url.clone();
    }
    let url = PathBuf::from(pg::postgres().expect("SSLX_TEST_CDS_DB=postgres, but no PostgreSQL").database());
    known.push((url.clone(), key));
    url
}

/// The key file of a PostgreSQL database [`test_db`] made.
pub fn key_file_of(db: &Path) -> Option<PathBuf> {
    PG_KEY_FILES.lock().unwrap().iter().find(|(u, _)| u == db).map(|(_, k)| k.clone())
}

/// A dev CDS whose KDC has the user alice (password "correct horse", Argon2id made cheap for
/// tests: 64 KiB, one pass), the gateway gw1 (`dir/gw1.keytab`) and the host web1
/// (`dir/web1.keytab`).
pub struct KdcSite {
    pub cds: Cds,
    pub db: PathBuf,
    pub dir: tempfile::TempDir,
}

pub fn kdc_site() -> KdcSite {
    let dir = tempfile::tempdir().unwrap();
    let db = test_db(dir.path());
    let cds = Cds::start(&["--dev", "--db", db.to_str().unwrap()], &[]);
    kdc_admin(&db, &["principal", "add", "alice", "--argon2-memory", "64", "--argon2-passes", "1"])
        .env("SSLX_PASSWORD", "correct horse")
        .assert()
        .success();
    for (what, name) in [("gateway", "gw1"), ("host", "web1")] {
        let keytab = dir.path().join(format!("{name}.keytab"));
        kdc_admin(&db, &[what, "add", name, "--keytab", keytab.to_str().unwrap()]).assert().success();
    }
    KdcSite { cds, db, dir }
}

/// A daemon whose first line on stdout is a JSON object saying where it is (`sslx-gateway`,
/// `sslx-execd`), run in an empty working directory of its own; killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub hello: serde_json::Value,
    pub cwd: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn daemon(name: &str, args: &[&std::ffi::OsStr]) -> Daemon {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin(name))
        .args(args)
        .current_dir(cwd.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let hello = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{name} did not start: {line:?}"));
    Daemon { child, hello, cwd }
}

/// `sslx-gateway --dev ARGS` for the KDC at `cds` (its Argon2id floor lowered to the tests'
/// 64 KiB): `hello` has `listen` (its URL) and `fingerprint`.
pub fn gateway(cds: &str, keytab: &Path, args: &[&str]) -> Daemon {
    let base = ["--dev", "--listen", "127.0.0.1:0", "--min-argon2-memory", "64", "--cds", cds, "--keytab"];
    let all: Vec<&std::ffi::OsStr> =
        base.iter().map(|a| a.as_ref()).chain([keytab.as_os_str()]).chain(args.iter().map(|a| a.as_ref())).collect();
    daemon("sslx-gateway", &all)
}

impl Daemon {
    /// What its hello says under `key`.
    pub fn at(&self, key: &str) -> String {
        self.hello[key].as_str().unwrap_or_else(|| panic!("no {key} in {}", self.hello)).to_owned()
    }
}
