//! A PostgreSQL server of the tests' own: `initdb` and `postgres` from the machine's PostgreSQL
//! (15 on these machines), one per test process, on a free port on 127.0.0.1 and a Unix socket
//! in its temp dir, a random password over TCP (the socket, in the run's own directory, trusts), durability
//! off (fsync, synchronous_commit: a test's database is thrown away). Run as the unprivileged
//! user `sslx-pg-test` when the tests run as root (PostgreSQL refuses root), made with `useradd`
//! if missing. The server gets SIGQUIT when the test process ends (PR_SET_PDEATHSIG, set from a
//! thread that lives as long as the process), and a later run removes the directories of
//! servers whose test process is gone.
//!
//! Each test takes a database of its own (`Postgres::database`), so tests run in parallel.
//! Without PostgreSQL on the machine the tests that need it skip with a reason, except under
//! CI (`CI` set), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Postgres {
    pub bin: PathBuf,
    pub port: u16,
    pub socket_dir: PathBuf,
    pub dir: PathBuf,
    /// The server's TLS certificate (a CA of its own signed it: `ca_pem`).
    pub ca_pem: PathBuf,
    /// The role's password over TCP.
    pub password: String,
}

const USER: &str = "sslx-pg-test";
/// The role the tests connect as (made by initdb).
pub const ROLE: &str = "sslx";

/// The machine's PostgreSQL server programs: `SSLX_TEST_PG_BIN`, or the newest
/// /usr/lib/postgresql/N/bin, or `initdb` on the PATH.
fn find_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("SSLX_TEST_PG_BIN") {
        return Some(b.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, b)| b.join("postgres").exists())
        .collect();
    found.sort();
    if let Some((_, b)) = found.pop() {
        return Some(b);
    }
    let which = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
    let p = PathBuf::from(String::from_utf8(which.stdout).ok()?.trim());
    p.parent().filter(|d| d.join("postgres").exists()).map(Path::to_path_buf)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid to run PostgreSQL as: ours, or `sslx-pg-test`'s when we are root.
fn run_as() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let id = |flag: &str| Command::new("id").args([flag, USER]).output().ok().filter(|o| o.status.success());
    if id("-u").is_none() {
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER])
            .status()
            .expect("useradd");
        assert!(made.success() || id("-u").is_some(), "useradd {USER} failed");
    }
    let num = |flag: &str| String::from_utf8(id(flag).unwrap().stdout).unwrap().trim().parse().unwrap();
    Some((num("-u"), num("-g")))
}

fn chown(p: &Path, ids: Option<(u32, u32)>) {
    if let Some((u, g)) = ids {
        std::os::unix::fs::chown(p, Some(u), Some(g)).unwrap();
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// Directories of earlier runs whose test process is gone.
fn remove_stale(parent: &Path) {
    for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pid_alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Where the servers' directories go: a directory every user can reach (the server runs as
/// another user when we are root, and /tmp may be root's alone): /var/tmp, else /dev/shm (which
/// a container may make small), else the temp dir.
fn base_dir() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    ["/var/tmp", "/dev/shm"]
        .iter()
        .map(PathBuf::from)
        .find(|d| std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o1777 == 0o1777))
        .unwrap_or_else(std::env::temp_dir)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A CA and a server certificate for the name localhost only (a connection to 127.0.0.1 with
/// TLS must fail on the name), as PEM files in `dir`.
fn make_tls(dir: &Path, ids: Option<(u32, u32)>) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "sslx test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let write = |name: &str, text: String, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        chown(&p, ids);
    };
    write("server.crt", cert.pem(), 0o644);
    write("server.key", key.serialize_pem(), 0o600);
    write("ca.pem", ca_cert.pem(), 0o644);
    dir.join("ca.pem")
}

fn start() -> Result<Postgres, String> {
    let bin = find_bin().ok_or("no PostgreSQL server programs (initdb, postgres) on this machine")?;
    let ids = run_as();
    let parent = base_dir().join("sslx-pg-tests");
    std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    remove_stale(&parent);
    let dir = parent.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    chown(&dir, ids);
    let data = dir.join("data");
    let as_user = |c: &mut Command| {
        use std::os::unix::process::CommandExt;
        if let Some((u, g)) = ids {
            c.uid(u).gid(g);
        }
    };
    // TCP needs the role's password (a random one, in `password`); the Unix socket, in this
    // run's own directory, trusts (psql uses it).
    let password = hex::encode(sslx::crypto::random_array::<16>(&sslx::crypto::system_rng()));
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
    chown(&pwfile, ids);
    let mut initdb = Command::new(bin.join("initdb"));
    initdb.args(["--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C"]);
    initdb.args(["-U", ROLE]).arg(format!("--pwfile={}", pwfile.display())).arg("-D").arg(&data);
    as_user(&mut initdb);
    let out = initdb.stdin(Stdio::null()).output().map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let ca_pem = make_tls(&dir, ids);
    // The port may be taken between our probe and the server's bind: a few tries.
    for _ in 0..5 {
        let port = free_port();
        let (tx, rx) = std::sync::mpsc::channel();
        let (bin2, data2, dir2) = (bin.clone(), data.clone(), dir.clone());
        // The server is the child of a thread that never ends, so that PR_SET_PDEATHSIG (which
        // follows the thread that forked) fires only when the whole test process ends.
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut c = Command::new(bin2.join("postgres"));
            c.arg("-D").arg(&data2).args(["-p", &port.to_string(), "-k"]).arg(&dir2);
            for setting in [
                "listen_addresses=127.0.0.1",
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                "max_connections=400",
                "shared_buffers=64MB",
                "ssl=on",
                "log_min_messages=warning",
            ] {
                c.args(["-c", setting]);
            }
            c.arg("-c").arg(format!("ssl_cert_file={}", dir2.join("server.crt").display()));
            c.arg("-c").arg(format!("ssl_key_file={}", dir2.join("server.key").display()));
            if let Some((u, g)) = ids {
                c.uid(u).gid(g);
            }
            // SAFETY: prctl only sets this process's parent-death signal.
            unsafe {
                c.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                    Ok(())
                });
            }
            let log = std::fs::File::create(dir2.join(format!("postgres-{port}.log"))).unwrap();
            let child = c.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn();
            let _ = tx.send(child.map(|c| c.id()));
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap().map_err(|e| format!("starting postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = Command::new(bin.join("pg_isready"))
                .arg("-h")
                .arg(&dir)
                .args(["-p", &port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                let _ = std::fs::remove_file(&pwfile);
                return Ok(Postgres { bin, port, socket_dir: dir.clone(), dir, ca_pem, password });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let logs: String = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    Err(format!("postgres did not get ready: {logs}"))
}

static SERVER: OnceLock<Result<Postgres, String>> = OnceLock::new();

/// The test process's PostgreSQL, started on first use; `None` (with the reason printed) when
/// the machine has none and this is not CI.
pub fn postgres() -> Option<&'static Postgres> {
    match SERVER.get_or_init(start) {
        Ok(p) => Some(p),
        Err(why) if std::env::var_os("CI").is_some() => panic!("PostgreSQL for the tests: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Postgres {
    /// A new empty database, as a URL over TCP to 127.0.0.1 (no TLS).
    pub fn database(&self) -> String {
        let name = self.create_database();
        format!("postgres://{ROLE}:{}@127.0.0.1:{}/{name}?sslmode=disable", self.password, self.port)
    }

    /// A new empty database, as a URL whose host is the Unix socket's directory.
    pub fn database_on_socket(&self) -> String {
        let name = self.create_database();
        let dir =
            url::form_urlencoded::byte_serialize(self.socket_dir.to_str().unwrap().as_bytes()).collect::<String>();
        format!("postgres://{ROLE}@{dir}:{}/{name}", self.port)
    }

    /// A new empty database, as a URL that asks for TLS to `localhost`.
    pub fn database_tls(&self) -> String {
        let name = self.create_database();
        format!("postgres://{ROLE}:{}@localhost:{}/{name}?sslmode=require", self.password, self.port)
    }

    fn create_database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Runs `sql` in database `db` with psql; its output, unaligned, tuples only.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.socket_dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                ROLE,
                "-d",
                db,
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// The database name at the end of a URL made by [`Postgres::database`].
pub fn db_name(url: &str) -> &str {
    let tail = url.rsplit('/').next().unwrap();
    tail.split('?').next().unwrap()
}
