//! The secure courier (seed 004) through the real binaries: `sslx pair`, `sslx send`,
//! `sslx recv`, `sslx log`, live through the CDS relay and as bundle files, with the attacks the
//! receiver must refuse leaving nothing behind.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Runs a pairing: `b` accepts (the string from stdin), `a` initiates with --yes; `typed` makes
/// what b's person types from the string a shows. Returns both exit codes and stderrs.
fn pair(a: &Participant, b: &Participant, typed: impl Fn(&str) -> String) -> (i32, String, i32, String) {
    let mut acc = Listener::command(b, &["pair", "--accept", "--sas-file", "-"], true);
    let mut init = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(a.home())
        .args(["pair", &b.name, "--yes"])
        .env_remove("SSLX_YES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(init.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let shown = line.trim().to_owned();
    assert_eq!(shown.len(), 5, "the initiator shows a 5-character string: {line:?}");
    let mut stdin = acc.child.stdin.take().unwrap();
    writeln!(stdin, "{}", typed(&shown)).unwrap();
    drop(stdin);
    let out = init.wait_with_output().unwrap();
    let (acc_status, _, acc_err) = acc.wait();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned(), acc_status.code().unwrap(), acc_err)
}

fn paired_couple(cds: &Cds, a: &str, b: &str) -> (Participant, Participant) {
    let (pa, pb) = (enroll(cds, a), enroll(cds, b));
    let (ca, ea, cb, eb) = pair(&pa, &pb, |s| s.to_lowercase());
    assert_eq!((ca, cb), (0, 0), "pairing failed:\n{ea}\n{eb}");
    (pa, pb)
}

#[test]
fn pairing_saves_the_pair_key_only_when_the_strings_match() {
    let cds = Cds::start_dev();
    let (a, b) = (enroll(&cds, "pa"), enroll(&cds, "pb"));
    // A wrong string: both sides fail, nothing saved anywhere.
    let wrong = |s: &str| {
        let c = if s.starts_with('Z') { "Y" } else { "Z" };
        format!("{c}{}", &s[1..])
    };
    let (ca, ea, cb, eb) = pair(&a, &b, wrong);
    assert_eq!((ca, cb), (3, 3), "{ea}\n{eb}");
    assert!(eb.contains("does not match") && eb.contains("nothing was saved"), "{eb}");
    assert!(ea.contains("pb refused") && ea.contains("does not match"), "{ea}");
    assert!(!a.has("pairs/pb.key") && !b.has("pairs/pa.key"));
    // The right one (typed in lower case, with a dash: normalized): both save the same key, 0600.
    let (ca, ea, cb, eb) = pair(&a, &b, |s| format!("{}-{}", &s[..2], &s[2..]).to_lowercase());
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    assert!(eb.contains("paired with pa"), "{eb}");
    let (ka, kb) = (a.home().join("pairs/pb.key"), b.home().join("pairs/pa.key"));
    assert_eq!(std::fs::read_to_string(&ka).unwrap(), std::fs::read_to_string(&kb).unwrap());
    assert!(std::fs::read_to_string(&ka).unwrap().starts_with("SSLX-PAIR-KEY-1"));
    assert_eq!(std::fs::metadata(&ka).unwrap().permissions().mode() & 0o777, 0o600);
    // No terminal and no --yes / string: fail at once with a hint, before any call.
    a.cmd().args(["pair", "pb"]).assert().code(2).stderr(predicates::str::contains("--yes"));
    b.cmd().args(["pair", "--accept"]).assert().code(2).stderr(predicates::str::contains("--sas"));
}

/// path → (kind, mode, mtime, content digest or link target), for comparing trees.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (char, u32, i64, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (char, u32, i64, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_owned();
            let mode = md.mode() & 0o7777;
            if md.file_type().is_symlink() {
                out.insert(rel, ('l', 0, 0, std::fs::read_link(&p).unwrap().display().to_string()));
            } else if md.is_dir() {
                walk(root, &p, out);
                let md = std::fs::metadata(&p).unwrap();
                out.insert(rel, ('d', mode, md.mtime(), String::new()));
            } else {
                out.insert(rel, ('f', mode, md.mtime(), digest(&p)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn digest(p: &Path) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    hex::encode(ctx.finish())
}

fn set_mtime(p: &Path, t: i64) {
    filetime::set_symlink_file_times(
        p,
        filetime::FileTime::from_unix_time(t, 0),
        filetime::FileTime::from_unix_time(t, 0),
    )
    .unwrap();
}

/// A tree of `n` small files in nested directories, with varied modes and mtimes and a link.
fn small_tree(root: &Path, n: usize) {
    for i in 0..n {
        let d = root.join(format!("d{:02}", i % 20)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join(format!("f{i:04}.txt"));
        let body = format!("file {i} of the nightly batch\n").repeat(i % 150);
        std::fs::write(&f, body).unwrap();
        let mode = [0o644, 0o600, 0o755, 0o640][i % 4];
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        set_mtime(&f, 1_600_000_000 + i as i64 * 37);
    }
    std::os::unix::fs::symlink("e0/f0000.txt", root.join("d00/link-to-first")).unwrap();
    for e in std::fs::read_dir(root).unwrap() {
        set_mtime(&e.unwrap().path(), 1_650_000_000);
    }
    set_mtime(root, 1_700_000_000);
}

fn write_big(p: &Path, n: usize, seed: u8) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
    let mut left = n;
    let mut s = seed;
    while left > 0 {
        let chunk = left.min(64 << 20);
        f.write_all(&pseudo_random(chunk, s)).unwrap();
        s = s.wrapping_add(1);
        left -= chunk;
    }
    f.flush().unwrap();
    set_mtime(p, 1_690_000_000);
}

#[test]
fn a_tree_of_2000_files_and_a_1_gib_file_arrive_whole_through_the_relay() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "sa", "sb");
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("batch");
    small_tree(&tree, 2000);
    let big = src.path().join("big.bin");
    write_big(&big, 1 << 30, 7);
    let dest = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest.path().to_str().unwrap()], false);
    let out = a.cmd().args(["send", "--to", "sb"]).arg(&tree).arg(&big).assert().success().get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    // No terminal: no progress bar, one summary line.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sslx: sent 2001 file(s)") && !err.contains('\r'), "{err}");
    let (status, _, rerr) = recv.wait();
    assert!(status.success(), "{rerr}");
    assert!(rerr.contains("received 2001 file(s)"), "{rerr}");
    assert_eq!(snapshot(&tree), snapshot(&dest.path().join("batch")));
    assert_eq!(digest(&big), digest(&dest.path().join("big.bin")));
    let (m1, m2) = (std::fs::metadata(&big).unwrap(), std::fs::metadata(dest.path().join("big.bin")).unwrap());
    assert_eq!((m1.mode(), m1.mtime()), (m2.mode(), m2.mtime()));
    // Nothing else left in the destination (the temp dir is gone).
    let names: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // Both logs.
    let log = |p: &Participant| -> serde_json::Value {
        serde_json::from_slice(&p.cmd().args(["log", "--json"]).assert().success().get_output().stdout).unwrap()
    };
    let (la, lb) = (log(&a), log(&b));
    let (ea, eb) = (&la["entries"][0], &lb["entries"][0]);
    assert_eq!(
        (ea["direction"].as_str(), ea["peer"].as_str(), ea["result"].as_str()),
        (Some("sent"), Some("sb"), Some("ok"))
    );
    assert_eq!(
        (eb["direction"].as_str(), eb["peer"].as_str(), eb["result"].as_str()),
        (Some("received"), Some("sa"), Some("ok"))
    );
    assert_eq!(ea["bundle"], eb["bundle"]);
    assert_eq!(eb["files"].as_u64(), Some(2001));
    assert_eq!(eb["names"], serde_json::json!(["batch", "big.bin"]));
    b.cmd().args(["log", "--received"]).assert().success().stdout(predicates::str::contains("batch big.bin"));
}

#[test]
fn the_3des_suite_carries_64_mib_and_a_cut_connection_leaves_nothing() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ta", "tb");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("ledger.bin");
    write_big(&file, 64 << 20, 3);
    let dest = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest.path().to_str().unwrap()], false);
    a.cmd().args(["send", "--suite", "3des", "--to", "tb"]).arg(&file).assert().success();
    let (status, _, rerr) = recv.wait();
    assert!(status.success() && rerr.contains("suite 3des"), "{rerr}");
    assert_eq!(digest(&file), digest(&dest.path().join("ledger.bin")));

    // The sender killed half-way: the receiver reports a cut-off, and keeps nothing.
    let dest2 = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest2.path().to_str().unwrap()], false);
    let mut sender = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(a.home())
        .args(["send", "--suite", "3des", "--to", "tb"])
        .arg(&file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let partial = std::fs::read_dir(dest2.path())
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::metadata(e.path().join("ledger.bin")).ok())
            .any(|m| m.len() > 4 << 20);
        if partial {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the transfer never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sender.kill().unwrap();
    sender.wait().unwrap();
    let (status, _, rerr) = recv.wait();
    assert_eq!(status.code(), Some(3), "{rerr}");
    assert!(rerr.contains("cut off") || rerr.contains("connection was cut"), "{rerr}");
    assert_eq!(std::fs::read_dir(dest2.path()).unwrap().count(), 0, "something was left behind");
    b.cmd().args(["log", "--received"]).assert().success().stdout(predicates::str::contains("failed"));
}
