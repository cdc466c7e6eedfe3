//! Common session tokens through the real binary: `sslx token mint` and `sslx token verify`,
//! with every way a token can be wrong and the exit code each one gets.

mod common;
use base64::Engine;
use common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// Two nodes (1 and 2): identity files, a keyring of both, node 2's keyring line for --to.
struct Nodes {
    dir: tempfile::TempDir,
}

impl Nodes {
    fn new() -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = String::from("# trusted nodes\n");
        for n in [1, 2] {
            let out = sslx(&dir.path().join("home"))
                .args(["keygen", "--name", &format!("node{n}"), "--out"])
                .arg(dir.path().join(format!("n{n}.key")))
                .output()
                .unwrap();
            let public = String::from_utf8(out.stdout).unwrap();
            let line = format!("{n} {}\n", public.split_whitespace().nth(1).unwrap());
            std::fs::write(dir.path().join(format!("n{n}.line")), &line).unwrap();
            ring.push_str(&line);
        }
        std::fs::write(dir.path().join("ring"), ring).unwrap();
        Nodes { dir }
    }
    fn p(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
    fn cmd(&self) -> assert_cmd::Command {
        sslx(&self.p("home"))
    }
    fn mint(&self, extra: &[&str]) -> String {
        let out = self
            .cmd()
            .args(["token", "mint", "--node", "1", "--key"])
            .arg(self.p("n1.key"))
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap().trim().to_owned()
    }
    /// `sslx token store --db data.db ITEMS...`.
    fn store(&self, items: &[&str]) {
        self.cmd().args(["token", "store", "--db"]).arg(self.p("data.db")).args(items).assert().success();
    }
    fn verify(&self, token: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd().args(["token", "verify", token, "--keyring"]).arg(self.p("ring")).args(extra).assert()
    }
}

fn b64(t: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).unwrap()
}

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Recomputes the CRC, so that a change reaches the checks behind it.
fn fix_crc(b: &mut [u8]) {
    let n = b.len();
    let crc = crc32fast::hash(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn a_token_round_trips_plain_and_sealed() {
    let n = Nodes::new();
    let t = n.mint(&["--field", "User-ID=fred", "--field", "Email-Address=fred@fred.org", "--field", "Version=7"]);
    assert!(t.len() < 400 && !t.contains(['=', '+', '/']), "{t}");
    n.verify(&t, &[]).success().stdout(
        predicate::str::starts_with("Session-ID: 0001:")
            .and(predicate::str::contains("User-ID: fred\nEmail-Address: fred@fred.org\nVersion: 7\n"))
            .and(predicate::str::contains("Expires: ")),
    );
    // Sealed to node 2: node 2 reads it; without the key it is a usage error; node 1 is not its target.
    let s = n.mint(&["--to", n.p("n2.line").to_str().unwrap(), "--field", "User-ID=fred"]);
    let out = n
        .verify(&s, &["--json", "--node", "2", "--key", n.p("n2.key").to_str().unwrap()])
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (v["sealed"].as_bool(), v["fields"]["User-ID"].as_str(), v["node"].as_u64()),
        (Some(true), Some("fred"), Some(1))
    );
    n.verify(&s, &[]).code(2).stderr(predicate::str::contains("sealed to node 2"));
    n.verify(&s, &["--node", "1", "--key", n.p("n1.key").to_str().unwrap()]).code(9);
    // The sealed body is not readable in the token.
    assert!(!String::from_utf8_lossy(&b64(&s)).contains("fred"));
    // Fields from stdin, as lines or as JSON; from - as the token too.
    let out = n
        .cmd()
        .args(["token", "mint", "--node", "1", "--key"])
        .arg(n.p("n1.key"))
        .args(["--fields", "-"])
        .write_stdin("{\"User-ID\": \"ann\", \"Telephone\": \"@1.Ann.Telephone\", \"Age\": 7}")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    n.cmd()
        .args(["token", "verify", "-", "--keyring"])
        .arg(n.p("ring"))
        .write_stdin(out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Telephone: @1.Ann.Telephone\n").and(predicate::str::contains("Age: 7\n")));
    // A URL and a cookie.
    let u = n.mint(&["--url", "https://b.example.com/migrate?lang=en"]);
    assert!(u.starts_with("https://b.example.com/migrate?lang=en&sslx_token="), "{u}");
    let c = n.mint(&["--cookie", "--ttl", "5m"]);
    assert!(c.starts_with("Set-Cookie: sslx_token=") && c.contains("Max-Age=300") && c.contains("HttpOnly"), "{c}");
}

#[test]
fn each_wrong_token_gets_its_own_exit_code() {
    let n = Nodes::new();
    let t = n.mint(&["--field", "User-ID=fred"]);
    let bytes = b64(&t);
    let len = bytes.len();
    // Any byte flipped: the CRC catches it (malformed, 8).
    for i in [0, 1, 4, 9, 11, 14, len / 2, len - 70, len - 5, len - 1] {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        n.verify(&enc(&b), &[]).code(8).stderr(predicate::str::contains("malformed"));
    }
    // With the CRC made right again, each region meets its own check.
    let region = |i: usize, mask: u8, code: i32, says: &str| {
        let mut b = bytes.clone();
        b[i] ^= mask;
        fix_crc(&mut b);
        n.verify(&enc(&b), &[]).code(code).stderr(predicate::str::contains(says));
    };
    region(0, 0x01, 8, "unknown token format"); // format id
    region(2, 0x01, 6, "unknown node"); // node id: 1 → 0 (not in the keyring)
    region(1, 0x01, 6, "unknown node"); // node id: 1 → 0x0101
    region(5, 0x01, 3, "bad signature"); // session number
    region(9, 0x01, 8, "length"); // length field
    region(11, 0x80, 8, "unknown flags"); // flags: a bit no version defines
    region(11, 0x01, 3, "bad signature"); // flags: "sealed", which the signature covers
    region(20, 0x01, 3, "bad signature"); // body
    region(len - 10, 0x01, 3, "bad signature"); // signature
                                                // Node 2's signature cannot pass for node 1's: re-signed tokens claim their own node.
    let mut b = bytes.clone();
    b[2] = 2; // node 1 → 2, still in the keyring
    fix_crc(&mut b);
    n.verify(&enc(&b), &[]).code(3);
    // Truncated, padded, not base64url, empty.
    n.verify(&t[..t.len() - 3], &[]).code(8);
    n.verify(&enc(&[&bytes[..], &[0u8; 4]].concat()), &[]).code(8);
    n.verify(&format!("{t}="), &[]).code(8);
    n.verify("", &[]).code(8);
    // A keyring without node 1.
    std::fs::write(n.p("ring2"), std::fs::read_to_string(n.p("n2.line")).unwrap()).unwrap();
    n.cmd().args(["token", "verify", &t, "--keyring"]).arg(n.p("ring2")).assert().code(6).stderr(
        predicate::str::contains("unknown node 1").and(predicate::str::contains("hint: add a line `1 sslx-pub1")),
    );
}

fn now_of(n: &Nodes, t: &str) -> u64 {
    let out = n.verify(t, &["--json"]).success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v["fields"]["Created"].as_str().unwrap().parse().unwrap()
}

#[test]
fn expiry_is_checked_with_the_skew_allowance_and_both_clocks_printed() {
    let n = Nodes::new();
    let t = n.mint(&["--ttl", "10s"]);
    let created = now_of(&n, &t);
    let at = |secs: u64, extra: &[&str]| {
        n.cmd()
            .env("SSLX_TEST_NOW", secs.to_string())
            .args(["token", "verify", &t, "--keyring"])
            .arg(n.p("ring"))
            .args(extra)
            .assert()
    };
    at(created + 14, &[]).success(); // expired 4 s ago: inside the default 5 s
    at(created + 16, &[]).code(4).stderr(predicate::str::contains("expired").and(predicate::str::contains("now ")));
    at(created + 16, &["--skew", "10s"]).success();
    at(created - 4, &[]).success(); // the verifier's clock a little behind
    at(created - 60, &[]).code(4).stderr(predicate::str::contains("not valid before"));
}

#[test]
fn a_token_over_the_size_limit_is_refused_with_a_hint() {
    let n = Nodes::new();
    let address = "x".repeat(900);
    n.cmd()
        .args(["token", "mint", "--node", "1", "--key"])
        .arg(n.p("n1.key"))
        .args(["--field", &format!("Postal-Address={address}")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("over the 1024-character limit").and(predicate::str::contains("out of band")));
    n.mint(&["--max-size", "2000", "--field", &format!("Postal-Address={address}")]);
    // Bad fields are usage errors.
    for f in ["no-equals", "Bad Key=x", "User-ID=a", "Created=now"] {
        let mut c = n.cmd();
        c.args(["token", "mint", "--node", "1", "--key"]).arg(n.p("n1.key")).args(["--field", f]);
        if f == "User-ID=a" {
            c.args(["--field", "user-id=b"]);
        }
        c.assert().code(2);
    }
}

#[test]
fn session_numbers_are_unique_over_many_mints_concurrent_processes_and_restarts() {
    let n = Nodes::new();
    let key = n.p("n1.key");
    let number = |t: &str| -> u64 {
        let b = b64(t);
        u64::from_be_bytes(b[1..9].try_into().unwrap()) & ((1 << 48) - 1)
    };
    let mut seen = std::collections::HashSet::new();
    // Eight processes at once, four times over.
    for _ in 0..4 {
        let kids: Vec<_> = (0..8)
            .map(|_| {
                std::process::Command::new(bin("sslx"))
                    .args(["token", "mint", "--node", "1", "--key"])
                    .arg(&key)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for k in kids {
            let out = k.wait_with_output().unwrap();
            assert!(out.status.success());
            assert!(seen.insert(number(String::from_utf8(out.stdout).unwrap().trim())), "a session number repeated");
        }
    }
    // The library allocator in threads, in blocks.
    let alloc = sslx::token::numbers::SessionNumbers::for_key(&key);
    let now = sslx::cli::now_unix();
    let blocks: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8).map(|_| s.spawn(|| alloc.reserve(100, now).unwrap())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for b in blocks {
        for x in b..b + 100 {
            assert!(seen.insert(x), "a reserved number repeated");
        }
    }
    // A "restart" is a new process reading the state file: it continues after everything above.
    let max = *seen.iter().max().unwrap();
    assert!(number(&n.mint(&[])) > max);
    // The state file is the node's: 0600, beside its key.
    use std::os::unix::fs::PermissionsExt;
    let seq = Path::new(&format!("{}.seq", key.display())).to_owned();
    assert_eq!(std::fs::metadata(seq).unwrap().permissions().mode() & 0o777, 0o600);
}

/// `sslx token serve` for node 1 on a free port; killed on drop. Its log is read (and
/// dropped) as it comes, so that its writes never fail.
struct Serve(std::process::Child, String);

impl Serve {
    fn start(n: &Nodes, ring: &Path) -> Serve {
        Self::start_with(n, ring, None, &[])
    }

    /// With its clock at `now` (the test clock of debug builds).
    fn start_at(n: &Nodes, ring: &Path, now: Option<u64>) -> Serve {
        Self::start_with(n, ring, now, &[])
    }

    fn start_with(n: &Nodes, ring: &Path, now: Option<u64>, extra: &[&str]) -> Serve {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(bin("sslx"));
        if let Some(t) = now {
            cmd.env("SSLX_TEST_NOW", t.to_string());
        }
        let mut c = cmd
            .args(["token", "serve", "--node", "1", "--listen", "127.0.0.1:0", "--key"])
            .arg(n.p("n1.key"))
            .arg("--keyring")
            .arg(ring)
            .arg("--db")
            .arg(n.p("data.db"))
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(c.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{line}");
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Serve(c, addr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn out_of_band_values_are_fetched_from_their_node_and_cached_by_version() {
    let n = Nodes::new();
    let store = |items: &[&str]| {
        n.cmd().args(["token", "store", "--db"]).arg(n.p("data.db")).args(items).assert().success();
    };
    store(&["Fred.Telephone=(345) 555-1212", "Fred.Address=12345 Main Street Anytown, USA 98765-1234"]);
    let server = Serve::start(&n, &n.p("ring"));
    // Node 2's keyring knows where node 1 answers.
    let line1 = std::fs::read_to_string(n.p("n1.line")).unwrap();
    let ring2 = format!("{} {}\n{}", line1.trim(), server.1, std::fs::read_to_string(n.p("n2.line")).unwrap());
    std::fs::write(n.p("ring-node2"), ring2).unwrap();
    let mint = |version: &str, phone: &str| {
        n.mint(&[
            "--to",
            n.p("n2.line").to_str().unwrap(),
            "--field",
            "User-ID=Fred",
            "--field",
            &format!("Telephone={phone}"),
            "--field",
            "Postal-Address=@1.Fred.Address",
            "--field",
            &format!("Version={version}"),
        ])
    };
    let resolve = |t: &str, home: &str| {
        sslx(&n.p(home))
            .args(["token", "resolve", t, "--node", "2", "--key"])
            .arg(n.p("n2.key"))
            .arg("--keyring")
            .arg(n.p("ring-node2"))
            .assert()
    };
    let t1 = mint("1", "@1.Fred.Telephone");
    resolve(&t1, "home2")
        .success()
        .stdout(
            predicate::str::contains("Telephone: (345) 555-1212\n")
                .and(predicate::str::contains("Postal-Address: 12345 Main Street Anytown, USA 98765-1234\n")),
        )
        .stderr(predicate::str::contains("2 fetched, 0 from the cache"));
    // The same version again: from the cache, even with node 1 gone.
    drop(server);
    resolve(&mint("1", "@1.Fred.Telephone"), "home2")
        .success()
        .stdout(predicate::str::contains("Telephone: (345) 555-1212"))
        .stderr(predicate::str::contains("0 fetched, 2 from the cache"));
    // A newer version is fetched again, and brings the new value.
    store(&["Fred.Telephone=(345) 555-0000"]);
    let server = Serve::start(&n, &n.p("ring"));
    let ring2 = format!("{} {}\n{}", line1.trim(), server.1, std::fs::read_to_string(n.p("n2.line")).unwrap());
    std::fs::write(n.p("ring-node2"), ring2).unwrap();
    resolve(&mint("2", "@1.Fred.Telephone"), "home2")
        .success()
        .stdout(predicate::str::contains("Telephone: (345) 555-0000"))
        .stderr(predicate::str::contains("2 fetched"));
    // A reference to a node nobody knows.
    resolve(&mint("2", "@9.Fred.Telephone"), "home2").code(6).stderr(predicate::str::contains("unknown node 9"));
    // An id node 1 has no data for.
    resolve(&mint("3", "@1.Fred.Fax"), "home2").code(6);
    // Node 1 answers only nodes in its own keyring: without node 2 in it, the query is refused.
    std::fs::write(n.p("ring-only1"), &line1).unwrap();
    let strict = Serve::start(&n, &n.p("ring-only1"));
    let ring2 = format!("{} {}\n{}", line1.trim(), strict.1, std::fs::read_to_string(n.p("n2.line")).unwrap());
    std::fs::write(n.p("ring-node2"), ring2).unwrap();
    resolve(&mint("4", "@1.Fred.Telephone"), "home3")
        .code(5)
        .stderr(predicate::str::contains("node 2 is not in this node's keyring"));
}

/// A dialogue with `token serve` as node 2 (its key from n2.key), returning the server's answer
/// line for `ids` after presenting `token`, or its refusal.
fn ask(n: &Nodes, addr: &str, token: &str, ids: &[&str]) -> Result<oob_answer::Answer, String> {
    let me = sslx::keys::load_identity_file(&n.p("n2.key")).unwrap();
    let server = sslx::keys::load_identity_file(&n.p("n1.key")).unwrap().public().ed25519;
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = std::io::BufReader::new(stream);
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    sslx::token::oob::query(&mut r, &mut w, (2, &me), (1, &server), token, &ids, &sslx::crypto::system_rng())
        .map_err(|e| e.to_string())
}

mod oob_answer {
    pub use sslx::token::oob::Answer;
}

#[test]
fn token_serve_answers_only_ids_its_valid_token_refers_to() {
    // Issue 10, finding 1: any token node 1 ever minted used to fetch any id.
    let n = Nodes::new();
    n.store(&["Fred.Telephone=(345) 555-1212", "Payroll.Ceo=1000000"]);
    let server = Serve::start(&n, &n.p("ring"));
    let refers = n.mint(&["--field", "User-ID=Fred", "--field", "Telephone=@1.Fred.Telephone"]);
    let got = ask(&n, &server.1, &refers, &["Fred.Telephone"]).unwrap();
    assert_eq!(got.values["Fred.Telephone"].as_deref(), Some("(345) 555-1212"));
    // An id the token does not refer to is refused, not answered (nor answered with null).
    let e = ask(&n, &server.1, &refers, &["Payroll.Ceo"]).unwrap_err();
    assert!(e.contains("does not refer to \"Payroll.Ceo\""), "{e}");
    let e = ask(&n, &server.1, &refers, &["Fred.Telephone", "Payroll.Ceo"]).unwrap_err();
    assert!(e.contains("Payroll.Ceo"), "{e}");
    // A token that refers to nothing gets nothing.
    let nothing = n.mint(&["--field", "User-ID=Fred"]);
    assert!(ask(&n, &server.1, &nothing, &["Fred.Telephone"]).is_err());
    // An expired token: the server checks the times too (its own clock, 5 s of skew): here a
    // server whose clock is an hour on.
    let later = Serve::start_at(&n, &n.p("ring"), Some(now_of(&n, &refers) + 3600));
    let e = ask(&n, &later.1, &refers, &["Fred.Telephone"]).unwrap_err();
    assert!(e.contains("expired"), "{e}");
    // A sealed token is opened by the node that minted it, and held to the same rules.
    let sealed = n.mint(&["--to", n.p("n2.line").to_str().unwrap(), "--field", "Telephone=@1.Fred.Telephone"]);
    assert!(ask(&n, &server.1, &sealed, &["Fred.Telephone"]).is_ok());
    assert!(ask(&n, &server.1, &sealed, &["Payroll.Ceo"]).is_err());
}

/// A server that says it is node `node` and answers every query with `values` at `version`,
/// sealed (correctly) to the asker but signed with a key of its own: what anyone who can reach
/// the asker, or sit in the path, could send.
fn fake_server(node: u16, asker_x25519: [u8; 32], version: u64) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let rng = sslx::crypto::system_rng();
        let fake = sslx::keys::Identity::generate("mallory", &rng).unwrap();
        for sock in listener.incoming().flatten() {
            let mut w = sock.try_clone().unwrap();
            let mut r = std::io::BufReader::new(sock);
            let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let sn = [9u8; 32];
            let _ = write!(
                w,
                "{node} Connected to server {node}, please identify and authenticate self. Nonce: {}\r\n",
                b64(&sn)
            );
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let cn: Vec<u8> = line
                .split(" Nonce ")
                .nth(1)
                .and_then(|x| x.split(' ').next())
                .and_then(|x| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x).ok())
                .unwrap_or_default();
            let _ = write!(w, "{node} Server 2 authenticated, please make your requests.\r\n");
            let (mut token, mut ids) = (String::new(), String::new());
            let _ = r.read_line(&mut token);
            let _ = r.read_line(&mut ids);
            let values: serde_json::Map<String, serde_json::Value> =
                ids.trim().split(", ").map(|i| (i.to_owned(), serde_json::json!("forged"))).collect();
            let body = serde_json::json!({"version": version, "values": values}).to_string();
            let aad = [&sn[..], &cn].concat();
            let (enc, ct) =
                sslx::crypto::hpke_seal(&asker_x25519, b"sslx-token-data-v2", &aad, body.as_bytes(), &rng).unwrap();
            let sealed = [&enc[..], &ct].concat();
            let sig = fake.sign(&sealed);
            let _ = write!(w, "{node} Data {} Signature {}\r\n", b64(&sealed), b64(&sig));
            let mut quit = String::new();
            let _ = r.read_line(&mut quit);
        }
    });
    addr
}

#[test]
fn a_forged_answer_is_refused_and_never_cached() {
    // Issue 10, finding 2: answers were HPKE base mode (anyone can seal to the asker), and the
    // resolver cached a forged `Version: 999999` answer for good.
    let n = Nodes::new();
    let me = sslx::keys::load_identity_file(&n.p("n2.key")).unwrap();
    let fake = fake_server(1, me.public().x25519, 999_999);
    let line1 = std::fs::read_to_string(n.p("n1.line")).unwrap();
    let ring = |addr: &str| {
        let text = format!("{} {addr}\n{}", line1.trim(), std::fs::read_to_string(n.p("n2.line")).unwrap());
        std::fs::write(n.p("ring-node2"), text).unwrap();
    };
    let resolve = |t: &str| {
        sslx(&n.p("home2"))
            .args(["token", "resolve", t, "--node", "2", "--key"])
            .arg(n.p("n2.key"))
            .arg("--keyring")
            .arg(n.p("ring-node2"))
            .assert()
    };
    let t = n.mint(&["--field", "Telephone=@1.Fred.Telephone", "--field", "Version=1"]);
    ring(&fake);
    resolve(&t).code(3).stderr(predicate::str::contains("signature"));
    // Nothing of it was cached: the real node 1, once reachable, is asked and its value shown.
    n.store(&["Fred.Telephone=(345) 555-1212"]);
    let server = Serve::start(&n, &n.p("ring"));
    ring(&server.1);
    resolve(&t)
        .success()
        .stdout(predicate::str::contains("Telephone: (345) 555-1212"))
        .stderr(predicate::str::contains("1 fetched"));
}

#[test]
fn the_old_clock_variable_moves_no_clock() {
    // Issue 10, finding 19: SSLX_NOW moved the clock of every build, so an expired token
    // verified with it set. The test clock is SSLX_TEST_NOW, and only debug builds read it.
    let n = Nodes::new();
    let t = n.mint(&["--ttl", "10s"]);
    let created = now_of(&n, &t);
    n.cmd()
        .env("SSLX_NOW", (created + 5).to_string())
        .env("SSLX_TEST_NOW", (created + 3600).to_string())
        .args(["token", "verify", &t, "--keyring"])
        .arg(n.p("ring"))
        .assert()
        .code(4);
}

/// A token of node 1 whose session data is exactly `data`, properly signed (what any node could
/// sign, canonical or not).
fn signed_with_data(n: &Nodes, data: &str) -> String {
    let id = sslx::keys::load_identity_file(&n.p("n1.key")).unwrap();
    let body = data.as_bytes().to_vec();
    let signed = sslx::token::Token::signed_bytes(1, 42, None, &body);
    sslx::token::Token { node: 1, number: 42, sealed: None, body, signature: id.sign(&signed) }.encode()
}

#[test]
fn verify_reads_session_data_by_the_one_grammar_and_refuses_anything_else() {
    // Issue 11: `User-ID:  fred` verified as "fred" while a literal reader sees " fred": two
    // verifiers disagreed on a signed value. Only the canonical form verifies now.
    let n = Nodes::new();
    let now = sslx::cli::now_unix();
    let good = format!("Created: {now}\nExpires: {}\nUser-ID: fred\nEmpty: \n", now + 600);
    n.verify(&signed_with_data(&n, &good), &[]).success().stdout(predicate::str::contains("User-ID: fred\n"));
    for bad in [
        format!("Created: {now}\nExpires: {}\nUser-ID:  fred\n", now + 600),
        format!("Created: {now}\nExpires: {}\nUser-ID:fred\n", now + 600),
        format!("Created: {now}\nExpires: {}\nUser-ID: fred", now + 600),
        format!("Created: {now}\r\nExpires: {}\r\n", now + 600),
        format!("Created: {now}\nExpires: {}\n\nUser-ID: fred\n", now + 600),
        format!("Expires: {}\nCreated: {now}\n", now + 600),
        format!("Created: 0{now}\nExpires: {}\n", now + 600),
        format!("Created: {now}\nExpires: {}\nVersion: 007\n", now + 600),
        format!("Created: {now}\nExpires: {}\nUser-ID: fred \n", now + 600),
        format!("Created: {now}\nExpires: {}\nuser-id: a\nUser-ID: b\n", now + 600),
    ] {
        n.verify(&signed_with_data(&n, &bad), &[]).code(8).stderr(predicate::str::contains("malformed"));
    }
    // verify holds tokens to the size minting does.
    let big = n.mint(&["--max-size", "2000", "--field", &format!("Postal-Address={}", "x".repeat(900))]);
    n.verify(&big, &[]).code(8).stderr(predicate::str::contains("over the 1024-character limit"));
    n.verify(&big, &["--max-size", "2000"]).success();
    // Minting writes only what verifies: a Version with leading zeros is refused at once.
    n.cmd()
        .args(["token", "mint", "--node", "1", "--key"])
        .arg(n.p("n1.key"))
        .args(["--data-version", "7"])
        .assert()
        .success();
    n.cmd()
        .args(["token", "mint", "--node", "1", "--key"])
        .arg(n.p("n1.key"))
        .args(["--field", "Version=007"])
        .assert()
        .code(2);
}

/// Authenticates to `token serve` as node 2 by hand (the steps of `query`, one at a time).
fn authenticated(n: &Nodes, addr: &str) -> (std::io::BufReader<std::net::TcpStream>, std::net::TcpStream) {
    use std::io::{BufRead, Write};
    let me = sslx::keys::load_identity_file(&n.p("n2.key")).unwrap();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = std::io::BufReader::new(stream);
    let mut hello = String::new();
    r.read_line(&mut hello).unwrap();
    let sn: [u8; 32] = b64(hello.trim().rsplit(' ').next().unwrap()).try_into().unwrap();
    let cn = [7u8; 32];
    let sig = me.sign(&sslx::token::oob::auth_message(&sn, &cn, 1, 2));
    write!(w, "Server: 2 Nonce {} Signature {}\r\n", enc(&cn), enc(&sig)).unwrap();
    let mut ok = String::new();
    r.read_line(&mut ok).unwrap();
    assert!(ok.contains("authenticated"), "{ok}");
    (r, w)
}

#[test]
fn a_token_that_expires_during_a_dialogue_is_not_served_after_it_expired() {
    // Attack review L3: the token was checked once, at the connection's start.
    use std::io::{BufRead, Write};
    let n = Nodes::new();
    n.cmd().args(["token", "store", "--db"]).arg(n.p("data.db")).args(["Fred.Telephone=1"]).assert().success();
    let server = Serve::start_with(&n, &n.p("ring"), None, &["--skew", "0"]);
    let token = n.mint(&["--ttl", "2s", "--field", "Telephone=@1.Fred.Telephone"]);
    let (mut r, mut w) = authenticated(&n, &server.1);
    write!(w, "Token: {token}\r\nFred.Telephone\r\n").unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("1 Data "), "while valid: {line}");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    write!(w, "Fred.Telephone\r\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("ERR") && line.contains("expired"), "after it expired: {line}");
}

#[test]
fn trickling_clients_cannot_take_token_serve_from_others() {
    // Attack review M5: 64 sockets sending a byte now and then held every slot.
    use std::io::{BufRead, Write};
    let n = Nodes::new();
    n.cmd().args(["token", "store", "--db"]).arg(n.p("data.db")).args(["Fred.Telephone=1"]).assert().success();
    let server = Serve::start(&n, &n.p("ring"));
    let token = n.mint(&["--field", "Telephone=@1.Fred.Telephone"]);
    // Eight dialogues from one address are all it gets; the ninth hears at once that it is busy.
    let mut held: Vec<_> = (0..8).map(|_| connect_from("127.0.0.2", &server.1)).collect();
    for h in &mut held {
        h.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut greeting = String::new();
        std::io::BufReader::new(h.try_clone().unwrap()).read_line(&mut greeting).unwrap();
        h.write_all(b"S").unwrap();
    }
    let mut ninth = std::io::BufReader::new(connect_from("127.0.0.2", &server.1));
    let mut busy = String::new();
    ninth.read_line(&mut busy).unwrap();
    assert!(busy.contains("ERR busy"), "{busy}");
    // A client reads that greeting as the server's refusal, "busy" (which the resolver asks again).
    let s = connect_from("127.0.0.2", &server.1);
    let me = sslx::keys::load_identity_file(&n.p("n2.key")).unwrap();
    let key = sslx::keys::load_identity_file(&n.p("n1.key")).unwrap().public().ed25519;
    let e = sslx::token::oob::query(
        &mut std::io::BufReader::new(s.try_clone().unwrap()),
        &mut s.try_clone().unwrap(),
        (2, &me),
        (1, &key),
        &token,
        &["Fred.Telephone".to_owned()],
        &sslx::crypto::system_rng(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, sslx::Error::Refused { code, .. } if *code == sslx::wire::RefusalCode::RateLimited as u16),
        "{e}"
    );
    // Another address is answered meanwhile.
    assert!(ask(&n, &server.1, &token, &["Fred.Telephone"]).is_ok());
    drop(held);
}

/// The library's `token::oob::serve` (what `sslx token serve` runs), on a port-0 listener in a
/// thread: it answers a query, reports each dialogue's end, and returns when told to stop.
#[test]
fn the_library_query_server_answers_reports_and_stops() {
    use sslx::token::oob::{serve, ServeConfig, ServeEvent};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    let n = Nodes::new();
    n.store(&["Fred.Telephone=(345) 555-1212"]);
    let cfg = ServeConfig {
        node: 1,
        identity: sslx::keys::load_identity_file(&n.p("n1.key")).unwrap(),
        keyring: sslx::token::Keyring::parse(&std::fs::read_to_string(n.p("ring")).unwrap()).unwrap(),
        db: n.p("data.db"),
        skew: 5,
        now: sslx::clock::now_unix,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let token = n.mint(&["--field", "Telephone=@1.Fred.Telephone"]);
    let (stop, events) = (AtomicBool::new(false), Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        let server = s.spawn(|| serve(listener, &cfg, &stop, &|e| events.lock().unwrap().push(e)));
        let got = ask(&n, &addr, &token, &["Fred.Telephone"]).unwrap();
        assert_eq!(got.values["Fred.Telephone"].as_deref(), Some("(345) 555-1212"));
        assert!(ask(&n, &addr, &token, &["Payroll.Ceo"]).is_err());
        // The second dialogue's end is reported once its thread is done: wait for it (bounded).
        for _ in 0..200 {
            if events.lock().unwrap().len() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
    });
    let events = events.into_inner().unwrap();
    assert!(
        matches!(&events[0], ServeEvent::Answered { client: 2, ids, .. } if ids == &["Fred.Telephone".to_owned()]),
        "{events:?}"
    );
    assert!(matches!(&events[1], ServeEvent::Refused { .. }), "{events:?}");
}
