//! The secure courier (seed 004) through the real binaries: `sslx pair`, `sslx send`,
//! `sslx recv`, `sslx log`, live through the CDS relay and as bundle files, with the attacks the
//! receiver must refuse leaving nothing behind.

mod common;
use common::*;
use predicates::prelude::PredicateBooleanExt;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Runs a pairing as two scripts do: `b` accepts (the string from stdin), `a` initiates with
/// --yes and reads the string b's side shows from its stdin; `typed` makes what b's person types
/// from the string a shows, `back` what reaches a from the string b shows. Returns both exit
/// codes and stderrs.
fn pair_both_ways(
    a: &Participant,
    b: &Participant,
    typed: impl Fn(&str) -> String,
    back: impl Fn(&str) -> String,
) -> (i32, String, i32, String) {
    pair_both_ways_with(a, b, typed, back, &[])
}

/// [`pair_both_ways`] with `extra` arguments for the initiator.
fn pair_both_ways_with(
    a: &Participant,
    b: &Participant,
    typed: impl Fn(&str) -> String,
    back: impl Fn(&str) -> String,
    extra: &[&str],
) -> (i32, String, i32, String) {
    let mut acc = Listener::command(b, &["pair", "--accept", "--sas-file", "-"], true);
    let mut init = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(a.home())
        .args(["pair", &b.name, "--yes", "--sas-file", "-"])
        .args(extra)
        .env_remove("SSLX_YES")
        .env_remove("SSLX_SAS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut init_out = BufReader::new(init.stdout.take().unwrap());
    let mut line = String::new();
    init_out.read_line(&mut line).unwrap();
    let shown = line.trim().to_owned();
    assert_eq!(shown.len(), 5, "the initiator shows a 5-character string: {line:?}");
    let mut stdin = acc.child.stdin.take().unwrap();
    writeln!(stdin, "{}", typed(&shown)).unwrap();
    drop(stdin);
    // The acceptor shows its own string once it matched (nothing when it did not).
    let mut acc_out = BufReader::new(acc.child.stdout.take().unwrap());
    let mut theirs = String::new();
    acc_out.read_line(&mut theirs).unwrap();
    let mut to_init = init.stdin.take().unwrap();
    if !theirs.trim().is_empty() {
        let _ = writeln!(to_init, "{}", back(theirs.trim()));
    }
    drop(to_init);
    let mut err = String::new();
    init.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = init.wait().unwrap();
    let (acc_status, _, acc_err) = acc.wait();
    (status.code().unwrap(), err, acc_status.code().unwrap(), acc_err)
}

/// `pair_both_ways` with the acceptor's string carried back as it is.
fn pair(a: &Participant, b: &Participant, typed: impl Fn(&str) -> String) -> (i32, String, i32, String) {
    pair_both_ways(a, b, typed, str::to_owned)
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
    // Without a terminal, no QR code unless asked for.
    assert!(!ea.contains('\u{2580}'), "{ea}");
    // The right one (typed in lower case, with a dash: normalized): both save the same key, 0600.
    // --qr: the string the initiator shows is a QR code on stderr too.
    let (ca, ea, cb, eb) =
        pair_both_ways_with(&a, &b, |s| format!("{}-{}", &s[..2], &s[2..]).to_lowercase(), str::to_owned, &["--qr"]);
    assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    let shown = ea.split("by phone: ").nth(1).and_then(|r| r.lines().next()).unwrap_or_else(|| panic!("{ea}"));
    assert!(ea.contains(&sslx::cli::prompts::qr_code(shown).unwrap()), "{ea}");
    assert!(eb.contains("paired with pa"), "{eb}");
    let (ka, kb) = (a.home().join("pairs/pb.key"), b.home().join("pairs/pa.key"));
    assert_eq!(std::fs::read_to_string(&ka).unwrap(), std::fs::read_to_string(&kb).unwrap());
    assert!(std::fs::read_to_string(&ka).unwrap().starts_with("SSLX-PAIR-KEY-1"));
    assert_eq!(std::fs::metadata(&ka).unwrap().permissions().mode() & 0o777, 0o600);
    // No terminal and no --yes / string: fail at once with a hint, before any call.
    a.cmd().args(["pair", "pb"]).assert().code(2).stderr(predicates::str::contains("--yes"));
    b.cmd().args(["pair", "--accept"]).assert().code(2).stderr(predicates::str::contains("--sas"));
    // --yes alone is not enough: the initiator must be given the acceptor's string too.
    a.cmd().args(["pair", "pb", "--yes"]).assert().code(2).stderr(predicates::str::contains("--sas-file"));
}

#[test]
fn an_unattended_initiator_saves_nothing_when_the_acceptors_string_differs() {
    // Whoever sits between the two can send the initiator a "matched" confirmation under the
    // key it shares with it; --yes must not take that on trust. Here the acceptor's side matched
    // (it was typed the initiator's string), but the string it shows reaches the initiator
    // altered, as it would if the two sides had different transcripts: the initiator refuses.
    let cds = Cds::start_dev();
    let (a, b) = (enroll(&cds, "ua"), enroll(&cds, "ub"));
    let other = |s: &str| {
        let c = if s.starts_with('Z') { "Y" } else { "Z" };
        format!("{c}{}", &s[1..])
    };
    let (ca, ea, _, _) = pair_both_ways(&a, &b, str::to_owned, other);
    assert_eq!(ca, 3, "{ea}");
    assert!(ea.contains("not this side's") && ea.contains("nothing was saved"), "{ea}");
    assert!(!a.has("pairs/ub.key"), "the initiator saved a key on the peer's word alone");
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

    // The sender's connection cut after 8 MiB (a proxy in front of the CDS): the receiver reports
    // a cut-off and places nothing; what verified of the tar stream is kept for a resume.
    let dest2 = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest2.path().to_str().unwrap()], false);
    let proxy = cutting_proxy(&cds.listen, 8 << 20);
    let out = a.cmd().args(["--cds", &proxy, "send", "--suite", "3des", "--to", "tb"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _, rerr) = recv.wait();
    assert_eq!(status.code(), Some(3), "{rerr}");
    assert!(rerr.contains("cut off") || rerr.contains("connection was cut"), "{rerr}");
    assert_eq!(entries(dest2.path()), [".sslx-resume-ta"], "something was left behind");
    b.cmd().args(["log", "--received"]).assert().success().stdout(predicates::str::contains("failed"));
}

/// The names in a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The NDJSON `done` event of a command's stdout.
fn done_event(stdout: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "done")
        .unwrap_or_else(|| panic!("no done event in {}", String::from_utf8_lossy(stdout)))
}

/// A live send from `a` to `b`'s `recv --once --into into`, cut by a proxy in front of the CDS
/// after the sender wrote `cut` bytes: the sender exits 7, the receiver 3 (cut off).
fn cut_send(cds: &Cds, a: &Participant, b: &Participant, to: &str, into: &str, cut: u64, path: &Path) {
    let recv = Listener::command(b, &["recv", "--once", "--into", into], false);
    let proxy = cutting_proxy(&cds.listen, cut);
    let out = a.cmd().args(["--cds", &proxy, "send", "--to", to]).arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _, err) = recv.wait();
    assert_eq!(status.code(), Some(3), "{err}");
}

/// A whole live send (`--json`) from `a` to `b`'s `recv --once --into into`; both must succeed.
/// Returns the sender's and the receiver's `done` events.
fn json_send(
    a: &Participant,
    b: &Participant,
    to: &str,
    into: &str,
    path: &Path,
) -> (serde_json::Value, serde_json::Value) {
    let recv = Listener::command(b, &["recv", "--once", "--json", "--into", into], false);
    let out = a.cmd().args(["send", "--json", "--to", to]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, stdout, err) = recv.wait();
    assert!(status.success(), "{err}");
    (done_event(&out.stdout), done_event(&stdout))
}

#[test]
fn a_cut_transfer_resumes_after_what_the_recipient_kept_and_moves_only_the_rest() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ra", "rb");
    let src = tempfile::tempdir().unwrap();
    let photos = src.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for (i, mib) in [6usize, 5, 5].iter().enumerate() {
        write_big(&photos.join(format!("p{i}.raw")), mib << 20, 40 + i as u8);
    }
    set_mtime(&photos, 1_690_000_000);
    let total = 16u64 << 20;
    let dest = tempfile::tempdir().unwrap();
    let into = dest.path().to_str().unwrap().to_owned();
    let kept = dest.path().join(".sslx-resume-ra");
    // Cut twice (deterministically: a proxy in front of the CDS closes the sender's connection
    // after so many bytes), inside the first file and then, resumed, inside the third: each time
    // nothing is placed and the kept stream grows.
    let mut held = 0u64;
    for cut in [3u64 << 20, 9 << 20] {
        cut_send(&cds, &a, &b, "rb", &into, cut, &photos);
        assert_eq!(entries(dest.path()), [".sslx-resume-ra"]);
        let md = std::fs::metadata(&kept).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        // The second cut run resumed too: it kept what it had, then added what verified.
        assert!(md.len() > held && md.len() < held + cut, "kept {} after a cut at {cut} (before: {held})", md.len());
        held = md.len();
    }
    // The next send resumes after the kept bytes: it says so, and what it puts on the wire is the
    // rest (plus records' overhead), not the whole.
    let (done, got) = json_send(&a, &b, "rb", &into, &photos);
    assert_eq!(done["resumed_from"], held, "{done}");
    let wire = done["wire_bytes"].as_u64().unwrap();
    let rest = total + 8 * 1024 - held;
    assert!(wire < rest + rest / 50 && wire + (1 << 20) > rest, "{wire} bytes on the wire for the last {rest}");
    assert_eq!(got["resumed_from"], held);
    // Verified end to end like a whole one: every file whole, the kept stream gone.
    for i in 0..3 {
        let name = format!("p{i}.raw");
        assert_eq!(digest(&photos.join(&name)), digest(&dest.path().join("photos").join(&name)), "{name}");
    }
    assert_eq!(entries(dest.path()), ["photos"]);
    b.cmd().args(["log", "--received"]).assert().success().stdout(predicates::str::contains("resumed"));

    // Content that changed since the cut (a file in the kept part touched) is sent whole.
    let dest = tempfile::tempdir().unwrap();
    let into = dest.path().to_str().unwrap().to_owned();
    cut_send(&cds, &a, &b, "rb", &into, 6 << 20, &photos);
    set_mtime(&photos.join("p0.raw"), 1_690_000_001);
    // The sender's stream no longer starts with the kept bytes: it starts over.
    assert_eq!(json_send(&a, &b, "rb", &into, &photos).0["resumed_from"], 0);
    assert_eq!(digest(&photos.join("p0.raw")), digest(&dest.path().join("photos/p0.raw")));
    assert_eq!(entries(dest.path()), ["photos"]);
}

#[test]
fn a_kept_stream_altered_on_disk_is_not_resumed_from() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "rc", "rd");
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("dump.bin");
    write_big(&file, 12 << 20, 9);
    let dest = tempfile::tempdir().unwrap();
    let into = dest.path().to_str().unwrap().to_owned();
    cut_send(&cds, &a, &b, "rd", &into, 7 << 20, &file);
    // One byte of the kept stream flipped (a bad disk, a meddler with the recipient's rights).
    let kept = dest.path().join(".sslx-resume-rc");
    let mut bytes = std::fs::read(&kept).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&kept, &bytes).unwrap();
    let resumed = json_send(&a, &b, "rd", &into, &file).0["resumed_from"].clone();
    assert_eq!(resumed, 0, "the sender's stream does not start with those bytes");
    assert_eq!(digest(&file), digest(&dest.path().join("dump.bin")));
    assert_eq!(entries(dest.path()), ["dump.bin"]);
    // A kept stream with a second name (a hard link someone made) is not used, nor written to.
    std::fs::remove_file(dest.path().join("dump.bin")).unwrap();
    cut_send(&cds, &a, &b, "rd", &into, 7 << 20, &file);
    let other = dest.path().join("other-name");
    std::fs::hard_link(&kept, &other).unwrap();
    let before = std::fs::read(&other).unwrap();
    assert_eq!(json_send(&a, &b, "rd", &into, &file).0["resumed_from"], 0);
    assert_eq!(std::fs::read(&other).unwrap(), before, "the other name's bytes are untouched");
    std::fs::remove_file(&other).unwrap();
    assert_eq!(entries(dest.path()), ["dump.bin"]);

    // A transfer under 1 MiB is not kept when cut (sending it again costs less).
    let small = src.path().join("small.bin");
    write_big(&small, 900 << 10, 4);
    let dest = tempfile::tempdir().unwrap();
    let into = dest.path().to_str().unwrap().to_owned();
    cut_send(&cds, &a, &b, "rd", &into, 400 << 10, &small);
    assert!(is_empty(dest.path()), "{:?}", entries(dest.path()));

    // sslx's own names are not a bundle's to place (a sender cannot plant what a cut kept).
    let planted = src.path().join(".sslx-resume-x");
    std::fs::write(&planted, "planted").unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", &into], false);
    a.cmd().args(["send", "--to", "rd"]).arg(&planted).assert().code(3);
    let (status, _, err) = recv.wait();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("a name sslx keeps for itself"), "{err}");
    assert!(is_empty(dest.path()));
}

/// Two participants paired by writing the same pair key into both homes (offline bundles need
/// no CDS).
fn offline_couple(a: &str, b: &str) -> (Participant, Participant) {
    let (pa, pb) = (Participant::new(a), Participant::new(b));
    let key = sslx::crypto::Secret::<32>::random(&ring::rand::SystemRandom::new());
    sslx::courier::save_pair_key(&sslx::keys::Home::new(pa.home()), b, &key).unwrap();
    sslx::courier::save_pair_key(&sslx::keys::Home::new(pb.home()), a, &key).unwrap();
    (pa, pb)
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

/// Receives `bundle` into a fresh directory; returns the exit code, stderr and whether the
/// directory stayed empty.
fn open_bundle(p: &Participant, bundle: &[u8]) -> (i32, String, bool) {
    let dest = tempfile::tempdir().unwrap();
    let out =
        p.cmd().args(["recv", "--in", "-", "--into"]).arg(dest.path()).write_stdin(bundle.to_vec()).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned(), is_empty(dest.path()))
}

fn frame_len(b: &[u8]) -> usize {
    6 + u32::from_be_bytes(b[2..6].try_into().unwrap()) as usize
}

#[test]
fn a_bundle_altered_cut_replayed_or_for_another_key_is_refused_and_nothing_is_left() {
    let (a, b) = offline_couple("oa", "ob");
    let src = tempfile::tempdir().unwrap();
    small_tree(&src.path().join("docs"), 60);
    let bundle_path = src.path().join("docs.sslx");
    let make = |suite: &str| -> Vec<u8> {
        a.cmd()
            .args(["send", "--suite", suite, "--to", "ob", "--out"])
            .arg(&bundle_path)
            .arg(src.path().join("docs"))
            .assert()
            .success();
        std::fs::read(&bundle_path).unwrap()
    };
    for suite in ["aead", "3des"] {
        let bundle = make(suite);
        let (a1, a2) = (frame_len(&bundle), frame_len(&bundle[frame_len(&bundle)..]));
        // One byte flipped in every region: A1, A2, a record header, record bodies, the trailer.
        let n = bundle.len();
        for pos in [0, 3, 8, a1 + 1, a1 + 12, a1 + a2 + 4, a1 + a2 + 40, n / 2, n - 50, n - 1] {
            let mut bad = bundle.clone();
            bad[pos] ^= 0x20;
            let (code, err, empty) = open_bundle(&b, &bad);
            assert_eq!(code, 3, "{suite} byte {pos}: every region's check fails as a verification: {err}");
            assert!(empty, "{suite} byte {pos}: something was left: {err}");
        }
        // Cut off half-way, or just before the trailer.
        for cut in [n / 2, n - 10] {
            let (code, err, empty) = open_bundle(&b, &bundle[..cut]);
            assert_eq!(code, 3, "{err}");
            assert!(err.contains("cut off") && empty, "{err}");
        }
        // Bytes after the trailer.
        let (code, err, empty) = open_bundle(&b, &[&bundle[..], &bundle[..a1]].concat());
        assert!(code == 3 && empty, "{err}");
        // The untouched bundle opens, once.
        let (code, err, empty) = open_bundle(&b, &bundle);
        assert!(code == 0 && !empty, "{err}");
        let (code, err, empty) = open_bundle(&b, &bundle);
        assert!(code == 3 && err.contains("opened before") && empty, "{err}");
    }

    // A DeltaKey swapped in from another bundle: KeyProof fails.
    let (one, two) = (make("aead"), make("aead"));
    let a1 = frame_len(&one);
    let a2_one = sslx::wire::Frame::parse(&one[a1..a1 + frame_len(&one[a1..])]).unwrap();
    let a1_two = frame_len(&two);
    let a2_two = sslx::wire::Frame::parse(&two[a1_two..a1_two + frame_len(&two[a1_two..])]).unwrap();
    use sslx::wire::Msg;
    let mut m = sslx::courier::msgs::TransferA2::from_frame(&a2_one).unwrap();
    m.delta_key = sslx::courier::msgs::TransferA2::from_frame(&a2_two).unwrap().delta_key;
    let swapped = [&one[..a1], &m.to_frame().unwrap()[..], &one[a1 + frame_len(&one[a1..])..]].concat();
    let (code, err, empty) = open_bundle(&b, &swapped);
    assert!(code == 3 && err.contains("KeyProof") && empty, "{err}");

    // The wrong pair key (re-paired with someone else since): proof A fails.
    let key = sslx::crypto::Secret::<32>::random(&ring::rand::SystemRandom::new());
    sslx::courier::save_pair_key(&sslx::keys::Home::new(b.home()), "oa", &key).unwrap();
    let (code, err, empty) = open_bundle(&b, &two);
    assert!(code == 3 && err.contains("proof A") && empty, "{err}");

    // A bundle for someone else, and one from someone we are not paired with.
    let c = Participant::new("oc");
    let (code, err, _) = open_bundle(&c, &two);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("for \"ob\""), "{err}");
    a.cmd().args(["send", "--to", "oc", "--out", "-"]).arg(src.path()).assert().code(6);

    // A device as --out is written in place, never renamed over (/dev/null stays /dev/null).
    a.cmd().args(["send", "--to", "ob", "--out", "/dev/null"]).arg(src.path().join("docs")).assert().success();
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());

    // A name that already exists is refused and not touched.
    let (pa, pb) = offline_couple("xa", "xb");
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(dest.path().join("docs"), "mine").unwrap();
    let bundle =
        pa.cmd().args(["send", "--to", "xb", "--out", "-"]).arg(src.path().join("docs")).output().unwrap().stdout;
    pb.cmd()
        .args(["recv", "--in", "-", "--into"])
        .arg(dest.path())
        .write_stdin(bundle)
        .assert()
        .code(5)
        .stderr(predicates::str::contains("already exists"));
    assert_eq!(std::fs::read_to_string(dest.path().join("docs")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1);
}

/// One raw tar entry, written by hand so that names tar-rs itself would refuse can be made.
fn tar_entry(name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    let u = h.as_ustar_mut().unwrap();
    u.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        u.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn unsafe_names_in_a_bundle_are_refused() {
    use tar::EntryType::*;
    let (a, b) = offline_couple("ua", "ub");
    let dir = |n: &str| tar_entry(n, Directory, b"", None);
    let file = |n: &str| tar_entry(n, Regular, b"gotcha\n", None);
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        ("dot-dot", vec![file("../evil")], "'..'"),
        ("dot-dot inside", vec![dir("d"), file("d/../../evil")], "'..'"),
        ("absolute", vec![file("/tmp/sslx-evil-abs")], "absolute"),
        ("escaping link", vec![dir("d"), tar_entry("d/l", Symlink, b"", Some("../../etc"))], "points outside"),
        ("absolute link", vec![dir("d"), tar_entry("d/l", Symlink, b"", Some("/etc"))], "points outside"),
        ("hard link", vec![dir("d"), file("d/x"), tar_entry("d/h", Link, b"", Some("d/x"))], "hard link"),
        ("device", vec![dir("d"), tar_entry("d/tty", Char, b"", None)], "device"),
        ("twice", vec![dir("d"), file("d/x"), file("d/x")], "twice"),
        (
            "through a link",
            vec![dir("d"), tar_entry("d/l", Symlink, b"", Some(".")), file("d/l/x")],
            "through a symbolic link",
        ),
    ];
    let outside = tempfile::tempdir().unwrap();
    for (what, entries, says) in cases {
        let mut tar = entries.concat();
        tar.extend_from_slice(&[0u8; 1024]);
        let bundle = a.cmd().args(["send", "-", "--to", "ub", "--out", "-"]).write_stdin(tar).output().unwrap();
        assert!(bundle.status.success(), "{what}: {}", String::from_utf8_lossy(&bundle.stderr));
        let dest = outside.path().join("inbox");
        std::fs::create_dir_all(&dest).unwrap();
        let out = b.cmd().args(["recv", "--in", "-", "--into"]).arg(&dest).write_stdin(bundle.stdout).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {err}");
        assert!(err.contains(says) && err.contains("nothing was kept"), "{what}: {err}");
        assert!(is_empty(&dest), "{what}: something was left");
        assert!(!outside.path().join("evil").exists() && !Path::new("/tmp/sslx-evil-abs").exists(), "{what}");
    }
}

#[test]
fn a_bundle_for_an_absent_recipient_waits_in_its_mailbox_and_the_logs_follow() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ma", "mb");
    let src = tempfile::tempdir().unwrap();
    small_tree(&src.path().join("night"), 40);
    // mb is not listening: the bundle is left at the CDS.
    a.cmd()
        .args(["send", "--to", "mb"])
        .arg(src.path().join("night"))
        .assert()
        .success()
        .stderr(predicates::str::contains("mailbox (queued until"));
    let sent = |p: &Participant| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_slice(&p.cmd().args(["log", "--sent", "--json"]).assert().success().get_output().stdout)
                .unwrap();
        v["entries"][0].clone()
    };
    assert_eq!((sent(&a)["result"].as_str(), sent(&a)["via"].as_str()), (Some("queued"), Some("mailbox")));
    // --no-mailbox: the caller would rather fail.
    a.cmd().args(["send", "--no-mailbox", "--to", "mb"]).arg(src.path().join("night")).assert().code(7);
    // Later, mb receives (recv --once takes the mailbox first and ends).
    let dest = tempfile::tempdir().unwrap();
    b.cmd()
        .args(["recv", "--once", "--into"])
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("via mailbox"));
    assert_eq!(snapshot(&src.path().join("night")), snapshot(&dest.path().join("night")));
    // Delivered in the sender's log, received in the recipient's; the mailbox is empty.
    let e = sent(&a);
    assert_eq!(e["result"].as_str(), Some("delivered"), "{e}");
    b.cmd().args(["log", "--received"]).assert().success().stdout(predicates::str::contains("mailbox"));
    b.cmd()
        .args(["recv", "--from-mailbox", "--into"])
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("the mailbox is empty"));
    // A bundle the recipient cannot place yet (the name exists) stays in the mailbox.
    a.cmd().args(["send", "--to", "mb"]).arg(src.path().join("night")).assert().success();
    b.cmd().args(["recv", "--from-mailbox", "--into"]).arg(dest.path()).assert().code(5);
    let other = tempfile::tempdir().unwrap();
    b.cmd().args(["recv", "--from-mailbox", "--into"]).arg(other.path()).assert().success();
    assert!(other.path().join("night").is_dir());
}

/// A pseudo-terminal: (master, slave).
fn openpty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two new descriptors, which we then own.
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed");
    unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) }
}

#[test]
fn a_terminal_gets_a_progress_bar_and_json_gets_ndjson_events() {
    let (a, b) = offline_couple("ga", "gb");
    let src = tempfile::tempdir().unwrap();
    write_big(&src.path().join("data.bin"), 96 << 20, 11);
    // stderr on a terminal: indicatif draws the bar there.
    let (master, slave) = openpty();
    let mut child = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(a.home())
        .args(["send", "--to", "gb", "--out"])
        .arg(src.path().join("data.sslx"))
        .arg(src.path().join("data.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut m = master;
        let mut buf = [0u8; 4096];
        // Reading the master ends with EIO once the child (the last holder of the slave) exits.
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    assert!(child.wait().unwrap().success());
    let tty = reader.join().unwrap();
    assert!(tty.contains("sending") && tty.contains('\u{1b}'), "no progress bar on the terminal: {tty:?}");
    assert!(tty.contains("sslx: sent 1 file(s)"), "{tty:?}");

    // --json: one JSON object per line, start … done.
    let events = |out: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let out = a
        .cmd()
        .args(["--json", "send", "--to", "gb", "--out"])
        .arg(src.path().join("data2.sslx"))
        .arg(src.path().join("data.bin"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let ev = events(&out.stdout);
    assert_eq!(ev.first().unwrap()["event"], "start");
    assert_eq!((ev.last().unwrap()["event"].as_str(), ev.last().unwrap()["ok"].as_bool()), (Some("done"), Some(true)));
    assert_eq!(ev.last().unwrap()["bytes"].as_u64(), Some(96 << 20));
    let dest = tempfile::tempdir().unwrap();
    let out = b
        .cmd()
        .args(["--json", "recv", "--in"])
        .arg(src.path().join("data2.sslx"))
        .arg("--into")
        .arg(dest.path())
        .output()
        .unwrap();
    let ev = events(&out.stdout);
    assert_eq!((ev[0]["event"].as_str(), ev.last().unwrap()["event"].as_str()), (Some("start"), Some("done")));
    assert_eq!(ev.last().unwrap()["names"], serde_json::json!(["data.bin"]));
    // A failure is an error event with its stable code, and the exit code to match.
    let out = b
        .cmd()
        .args(["--json", "recv", "--in"])
        .arg(src.path().join("data2.sslx"))
        .arg("--into")
        .arg(dest.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let ev = events(&out.stdout);
    assert_eq!(
        (ev.last().unwrap()["event"].as_str(), ev.last().unwrap()["error"].as_str()),
        (Some("error"), Some("verify_failed"))
    );
}

#[test]
fn a_live_transfer_the_recipient_refuses_says_why_at_the_sender_and_links_named_are_followed() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ra", "rb");
    let src = tempfile::tempdir().unwrap();
    write_big(&src.path().join("big.bin"), 24 << 20, 4);
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(dest.path().join("big.bin"), "mine").unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest.path().to_str().unwrap()], false);
    // --no-mailbox: the refusal is the answer.
    a.cmd()
        .args(["send", "--no-mailbox", "--to", "rb"])
        .arg(src.path().join("big.bin"))
        .assert()
        .code(5)
        .stderr(predicates::str::contains("rb refused").and(predicates::str::contains("already exists")));
    let (status, _, err) = recv.wait();
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(err.contains("--on-conflict"), "the recipient is told its way out: {err}");
    assert_eq!(std::fs::read_to_string(dest.path().join("big.bin")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1, "a temp dir was left behind");
    // By default the refused transfer is not lost: it waits in the mailbox, and the sender is
    // told what the recipient must do (the recipient's path is not said, only the name).
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest.path().to_str().unwrap()], false);
    let out = a.cmd().args(["send", "--to", "rb"]).arg(src.path().join("big.bin")).assert().success();
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        said.contains("rb's sslx recv refused it (big.bin already exists where rb receives files)")
            && said.contains("rb must move that away")
            && said.contains("mailbox")
            && !said.contains(dest.path().to_str().unwrap()),
        "{said}"
    );
    assert_eq!(recv.wait().0.code(), Some(5));
    let log: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["log", "--sent", "--json"]).assert().success().get_output().stdout)
            .unwrap();
    let results: Vec<&str> = log["entries"].as_array().unwrap().iter().map(|e| e["result"].as_str().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| **r == "queued").count(),
        1,
        "one line for the send that went to the mailbox: {log}"
    );
    // The recipient takes it under another name.
    b.cmd()
        .args(["recv", "--from-mailbox", "--on-conflict", "rename", "--into"])
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("big.bin exists: placed as big.1.bin"));
    assert_eq!(digest(&dest.path().join("big.1.bin")), digest(&src.path().join("big.bin")));
    assert_eq!(std::fs::read_to_string(dest.path().join("big.bin")).unwrap(), "mine");
    std::fs::remove_file(dest.path().join("big.1.bin")).unwrap();
    // A link named on the command line is followed: the peer gets the file, under the link's name.
    std::os::unix::fs::symlink(src.path().join("big.bin"), src.path().join("latest.bin")).unwrap();
    let recv = Listener::command(&b, &["recv", "--once", "--into", dest.path().to_str().unwrap()], false);
    a.cmd().args(["send", "--to", "rb"]).arg(src.path().join("latest.bin")).assert().success();
    assert!(recv.wait().0.success());
    let got = dest.path().join("latest.bin");
    assert!(std::fs::symlink_metadata(&got).unwrap().is_file());
    assert_eq!(digest(&got), digest(&src.path().join("big.bin")));
}

#[test]
fn the_mailbox_has_a_quota_and_an_expiry() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("big.bin"), pseudo_random(64 * 1024, 8)).unwrap();
    // Quota: 10,000 bytes per recipient; a 64 KiB bundle is refused, and the log says so.
    let cds = Cds::start(&["--dev", "--mailbox-quota", "10000"], &[]);
    let (a, _b) = paired_couple(&cds, "qa", "qb");
    a.cmd()
        .args(["send", "--to", "qb"])
        .arg(src.path().join("big.bin"))
        .assert()
        .code(5)
        .stderr(predicates::str::contains("mailbox is full"));
    let log: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["log", "--json"]).assert().success().get_output().stdout).unwrap();
    assert_eq!(log["entries"][0]["result"], "failed", "{log}");
    drop(cds);
    // Expiry: with --mailbox-days 0 a bundle is gone before anyone collects it; the sender's
    // log learns so from the CDS.
    let cds = Cds::start(&["--dev", "--mailbox-days", "0"], &[]);
    let (a, b) = paired_couple(&cds, "xa", "xb");
    a.cmd().args(["send", "--to", "xb"]).arg(src.path().join("big.bin")).assert().success();
    let dest = tempfile::tempdir().unwrap();
    b.cmd()
        .args(["recv", "--from-mailbox", "--into"])
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("the mailbox is empty"));
    a.cmd().args(["log", "--sent"]).assert().success().stdout(predicates::str::contains("expired in the mailbox"));
}

#[test]
fn a_receiver_takes_several_transfers_at_once_and_never_lets_one_overwrite_another() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ka", "kb");
    let src = tempfile::tempdir().unwrap();
    for i in 0..4u8 {
        write_big(&src.path().join(format!("part{i}.bin")), (6 << 20) + i as usize, 20 + i);
    }
    // Two versions of one name, from two directories.
    for (d, seed) in [("x", 30u8), ("y", 31u8)] {
        std::fs::create_dir_all(src.path().join(d)).unwrap();
        write_big(&src.path().join(d).join("same.bin"), 8 << 20, seed);
    }
    let dest = tempfile::tempdir().unwrap();
    let _recv = Listener::command(&b, &["recv", "--into", dest.path().to_str().unwrap()], false);
    let send = |path: PathBuf| {
        let home = a.home();
        std::thread::spawn(move || sslx(&home).args(["send", "--no-mailbox", "--to", "kb"]).arg(path).output().unwrap())
    };
    let parts: Vec<_> = (0..4).map(|i| send(src.path().join(format!("part{i}.bin")))).collect();
    for (i, t) in parts.into_iter().enumerate() {
        let out = t.join().unwrap();
        assert!(out.status.success(), "part {i}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(digest(&dest.path().join(format!("part{i}.bin"))), digest(&src.path().join(format!("part{i}.bin"))));
    }
    // The same name twice at once: one arrives whole, the other is refused; nothing is replaced.
    let racers = [send(src.path().join("x/same.bin")), send(src.path().join("y/same.bin"))];
    let codes: Vec<i32> = racers.into_iter().map(|t| t.join().unwrap().status.code().unwrap()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    let got = digest(&dest.path().join("same.bin"));
    assert!(got == digest(&src.path().join("x/same.bin")) || got == digest(&src.path().join("y/same.bin")));
    let names: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
}

/// A receiver whose CDS goes away keeps trying (issue 13 item 2); when what answers at that
/// address no longer knows it (a CDS started afresh, its state lost), it stops with that refusal
/// instead of trying for ever.
#[test]
fn a_receiver_on_hook_stops_when_its_cds_comes_back_without_it() {
    let cds = Cds::start_dev();
    let b = enroll(&cds, "hb");
    let mut recv = Listener::command(&b, &["recv", "--into", b.home().to_str().unwrap()], false);
    let listen = cds.listen.clone();
    drop(cds);
    recv.await_stderr("off hook at the CDS", 1, 30);
    assert!(recv.child.try_wait().unwrap().is_none(), "recv keeps trying while its CDS is away");
    let _afresh = Cds::start_on(&["--dev"], &[], &listen);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        if let Some(s) = recv.child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "recv kept trying a CDS that does not know it");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (_, _, err) = recv.wait();
    assert_eq!(status.code(), Some(5), "refused: not enrolled at that CDS: {err}");
    assert!(err.contains("not enrolled") || err.contains("no participant"), "{err}");
}

/// An offline bundle from `from` to `to` under the pair key `ltk` whose records carry exactly
/// `payload` (the sender's own encoder, minus the packing): authentic, whatever it holds.
fn authentic_bundle(from: &str, to: &str, ltk: &sslx::crypto::Secret<32>, payload: &[u8]) -> Vec<u8> {
    use sslx::courier::bundle::BundleWriter;
    use sslx::courier::msgs::*;
    use sslx::courier::proofs::{direction_key, Challenges};
    use sslx::wire::Msg;
    let rng = sslx::crypto::system_rng();
    let cha: [u8; 32] = sslx::crypto::random_array(&rng);
    let a1 = TransferA1 {
        low_version: 1,
        high_version: 1,
        mode: Mode::Offline,
        suite: BundleSuite::Aes256Gcm,
        account: from.into(),
        recipient: to.into(),
        challenge_a: cha,
    }
    .to_frame()
    .unwrap();
    let kd = direction_key(ltk, from, to).unwrap();
    let chs = Challenges::new(cha, [0; 32], &a1);
    let skey = sslx::crypto::Secret::<32>::random(&rng);
    let a2 = TransferA2 {
        account_b: to.into(),
        proof_a: chs.proof_a(&kd),
        delta_key: chs.delta_key(&kd, skey.expose()),
        key_proof: chs.key_proof(&skey),
        size_hint: payload.len() as u64,
        resume_from: 0,
    }
    .to_frame()
    .unwrap();
    let mut w = BundleWriter::new(Vec::new(), BundleSuite::Aes256Gcm, &skey);
    w.write_all(payload).unwrap();
    let (records, sealed) = w.finish().unwrap();
    let key = sslx::courier::proofs::ProofKey { challenges: chs, kd, resume: sslx::courier::proofs::Resume::WHOLE };
    [a1, a2, records, sealed.trailer(&key).unwrap()].concat()
}

#[test]
fn a_malformed_payload_inside_an_authentic_bundle_is_a_verification_failure() {
    let (a, b) = (Participant::new("ma"), Participant::new("mb"));
    let key = sslx::crypto::Secret::<32>::random(&sslx::crypto::system_rng());
    sslx::courier::save_pair_key(&sslx::keys::Home::new(a.home()), "mb", &key).unwrap();
    sslx::courier::save_pair_key(&sslx::keys::Home::new(b.home()), "ma", &key).unwrap();
    let work = tempfile::tempdir().unwrap();
    let bad_chunk = [9u8, 0, 0, 0, 1, 0, 0, 0, 1, 0];
    let zstd_twice = {
        let one = zstd::bulk::compress(b"x", 3).unwrap();
        let two = [one.clone(), one].concat();
        let mut c = vec![1u8];
        c.extend_from_slice(&2u32.to_be_bytes());
        c.extend_from_slice(&(two.len() as u32).to_be_bytes());
        c.extend_from_slice(&two);
        c
    };
    for (i, payload) in [&bad_chunk[..], &zstd_twice[..]].into_iter().enumerate() {
        let file = work.path().join(format!("bad{i}.sslx"));
        std::fs::write(&file, authentic_bundle("ma", "mb", &key, payload)).unwrap();
        let dest = work.path().join(format!("in{i}"));
        b.cmd()
            .args(["recv", "--in"])
            .arg(&file)
            .arg("--into")
            .arg(&dest)
            .assert()
            .code(3)
            .stderr(predicates::str::contains("the payload is malformed"));
        assert_eq!(std::fs::read_dir(&dest).map(|d| d.count()).unwrap_or(0), 0);
    }
}

/// The library's store-and-forward flow (courier::mailbox), driven directly against a dev CDS:
/// a deposit waits as queued; the recipient's collection opens the one from its paired peer and
/// keeps the one from a sender it is not paired with; the sender's log learns "delivered".
#[test]
fn the_mailbox_flow_deposits_collects_keeps_and_refreshes_the_log() {
    use sslx::courier::mailbox::{self, CollectEvents};
    use sslx::courier::{log::CourierLog, transfer::SendSpec, BundleSuite};
    use sslx::session::endpoint::Endpoint;
    let cds = Cds::start_dev();
    let (a, b, c) = (enroll(&cds, "ma"), enroll(&cds, "mb"), enroll(&cds, "mc"));
    let key = sslx::crypto::Secret::<32>::random(&ring::rand::SystemRandom::new());
    let home = |p: &Participant| sslx::keys::Home::new(p.home());
    sslx::courier::save_pair_key(&home(&a), "mb", &key).unwrap();
    sslx::courier::save_pair_key(&home(&b), "ma", &key).unwrap();
    // mc holds a pair key for mb that mb does not know.
    let stranger = sslx::crypto::Secret::<32>::random(&ring::rand::SystemRandom::new());
    sslx::courier::save_pair_key(&home(&c), "mb", &stranger).unwrap();
    let rng = sslx::crypto::system_rng();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("note.txt"), "for the mailbox").unwrap();
    let plan = sslx::courier::tree::Plan::new(&[src.path().join("note.txt")]).unwrap();
    let send = |p: &Participant, ltk: &sslx::crypto::Secret<32>| {
        let ep = Endpoint::load(&home(p), None).unwrap();
        let spec = SendSpec {
            me: &p.name,
            peer: "mb",
            ltk,
            suite: BundleSuite::Aes256Gcm,
            compression: sslx::courier::payload::Compression::Auto,
            plan: &plan,
        };
        mailbox::deposit(&ep, &spec, &rng, &mut |_| {}).unwrap()
    };
    let (sent, expires) = send(&a, &key);
    assert!(expires > sslx::clock::now_unix());
    send(&c, &stranger);
    let ep_a = Endpoint::load(&home(&a), None).unwrap();
    assert_eq!(mailbox::refresh_queued(&ep_a, &rng).unwrap(), 0, "nothing collected yet");

    #[derive(Default)]
    struct Seen {
        opened: Vec<String>,
        failed: Vec<(String, bool)>,
    }
    impl CollectEvents for Seen {
        fn progress(&mut self, _: &sslx::relay::client::MailboxItem, _: u64, _: u64) {}
        fn opened(&mut self, g: &sslx::courier::Got) {
            self.opened.push(g.peer.clone());
        }
        fn failed(&mut self, item: &sslx::relay::client::MailboxItem, _: &sslx::Error, kept: bool) {
            self.failed.push((item.sender.clone(), kept));
        }
    }
    let dest = tempfile::tempdir().unwrap();
    let ep_b = Endpoint::load(&home(&b), None).unwrap();
    let mut seen = Seen::default();
    assert_eq!(
        mailbox::collect(&ep_b, &sslx::courier::tree::Destination::new(dest.path()), &rng, &mut seen).unwrap(),
        1
    );
    assert_eq!(seen.opened, ["ma"]);
    assert_eq!(seen.failed, [("mc".to_owned(), true)], "not paired with mc: kept for later, not refused");
    assert_eq!(std::fs::read_to_string(dest.path().join("note.txt")).unwrap(), "for the mailbox");
    assert_eq!(mailbox::refresh_queued(&ep_a, &rng).unwrap(), 1);
    let log = CourierLog::open(&home(&a)).unwrap().list(None).unwrap();
    let entry = log.iter().find(|e| e.bundle == sent.bundle).unwrap();
    assert_eq!(entry.result, sslx::courier::log::Outcome::Delivered);
    // The kept bundle is still there: a second collection meets it again, and opens nothing.
    let mut again = Seen::default();
    assert!(
        mailbox::collect(&ep_b, &sslx::courier::tree::Destination::new(dest.path()), &rng, &mut again).is_err(),
        "only a failure: it is the error"
    );
    assert_eq!(again.failed, [("mc".to_owned(), true)]);
}

/// The pairing flows of the library (courier::pair::{accept, initiate}) over a direct session,
/// each side in a thread with prompts that carry the strings between them as the people (or
/// scripts) would: the same pair key on both sides; a wrong string saves nothing on either.
#[test]
fn the_library_pairing_flows_save_one_key_only_when_the_strings_match() {
    use sslx::courier::pair::{self, PairingPrompts};
    use sslx::courier::Channel;
    use sslx::session::endpoint::{Endpoint, Options};
    use std::sync::mpsc;
    struct Person {
        typed: mpsc::Receiver<String>,
        shown: mpsc::Sender<String>,
        garble: bool,
    }
    impl PairingPrompts for Person {
        fn typed_string(&mut self, _: &str) -> sslx::Result<String> {
            let s = self.typed.recv().map_err(|_| sslx::Error::Usage("no string".into()))?;
            Ok(if self.garble { "00000".into() } else { s })
        }
        fn show_string(&mut self, _: &str, s: &str) -> sslx::Result<()> {
            let _ = self.shown.send(s.to_owned());
            Ok(())
        }
        fn matched(&mut self, _: &str, s: &str) -> sslx::Result<()> {
            let _ = self.shown.send(s.to_owned());
            Ok(())
        }
        fn confirmed_by_person(&mut self, _: &str) -> sslx::Result<bool> {
            Ok(true)
        }
        fn say(&mut self, _: &str) {}
    }
    let cds = Cds::start_dev();
    let (a, b) = (enroll(&cds, "la"), enroll(&cds, "lb"));
    let home = |p: &Participant| sslx::keys::Home::new(p.home());
    let run = |garble: bool| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = format!("lb@{}", listener.local_addr().unwrap());
        let (to_b, b_hears) = mpsc::channel();
        let (to_a, a_hears) = mpsc::channel();
        std::thread::scope(|s| {
            let acceptor = s.spawn(|| {
                let ep = Endpoint::load(&home(&b), None).unwrap();
                let rng = sslx::crypto::system_rng();
                let (session, conn) = ep.accept(listener.accept().unwrap().0, &Options::default(), &rng).unwrap();
                let mut ch = Channel::new(session, conn);
                pair::accept(&home(&b), "lb", &mut ch, &rng, &mut Person { typed: b_hears, shown: to_a, garble })
            });
            let ep = Endpoint::load(&home(&a), None).unwrap();
            let rng = sslx::crypto::system_rng();
            let (session, conn) = ep.dial(&target, &Options::default(), &rng).unwrap();
            let mut ch = Channel::new(session, conn);
            let mine = pair::initiate(
                &home(&a),
                "la",
                &mut ch,
                true,
                &rng,
                &mut Person { typed: a_hears, shown: to_b, garble: false },
            );
            (mine, acceptor.join().unwrap())
        })
    };
    let (mine, theirs) = run(true);
    use sslx::courier::CourierError::StringMismatch;
    assert!(matches!(&theirs, Err(sslx::Error::Courier(StringMismatch { peer })) if peer == "la"), "{theirs:?}");
    assert_eq!(theirs.as_ref().unwrap_err().kind(), sslx::ErrorKind::VerifyFailed);
    assert!(mine.is_err());
    assert!(sslx::courier::load_pair_key(&home(&a), "lb").unwrap().is_none(), "nothing saved");
    assert!(sslx::courier::load_pair_key(&home(&b), "la").unwrap().is_none(), "nothing saved");
    let (mine, theirs) = run(false);
    assert_eq!((mine.unwrap().peer, theirs.unwrap().peer), ("lb".to_owned(), "la".to_owned()));
    let (ka, kb) = (
        sslx::courier::load_pair_key(&home(&a), "lb").unwrap().unwrap(),
        sslx::courier::load_pair_key(&home(&b), "la").unwrap().unwrap(),
    );
    assert!(ka.ct_eq(&kb));
}

/// `transfer::send_to_path`: a bundle file written through a temp file and renamed into place
/// (nothing else left beside it), or written in place to a device; the file opens.
#[test]
fn the_library_writes_a_bundle_file_whole_or_not_at_all() {
    use sslx::courier::{transfer, BundleSuite, SendSpec};
    let (a, b) = offline_couple("wa", "wb");
    let ltk = sslx::courier::load_pair_key(&sslx::keys::Home::new(a.home()), "wb").unwrap().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("n.txt"), "bundle me").unwrap();
    let plan = sslx::courier::tree::Plan::new(&[src.path().join("n.txt")]).unwrap();
    let spec = SendSpec {
        me: "wa",
        peer: "wb",
        ltk: &ltk,
        suite: BundleSuite::Aes256Gcm,
        compression: sslx::courier::payload::Compression::Auto,
        plan: &plan,
    };
    let (home, rng) = (sslx::keys::Home::new(a.home()), sslx::crypto::system_rng());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("n.sslx");
    transfer::send_to_path(&home, &file, &spec, false, &rng, &mut |_| {}).unwrap();
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["n.sslx"], "no temp file left beside it");
    transfer::send_to_path(&home, std::path::Path::new("/dev/null"), &spec, false, &rng, &mut |_| {}).unwrap();
    let dest = tempfile::tempdir().unwrap();
    b.cmd().args(["recv", "--in"]).arg(&file).arg("--into").arg(dest.path()).assert().success();
    assert_eq!(std::fs::read_to_string(dest.path().join("n.txt")).unwrap(), "bundle me");
}

/// `--direct ADDR` says where the peer listens; a listener there that is someone else (db's
/// recv, where dc was meant) is refused before a byte of the bundle goes out, and nothing
/// arrives.
#[test]
fn a_direct_send_to_a_listener_that_is_not_the_peer_is_refused() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "da", "db");
    let c = enroll(&cds, "dc");
    let (ca, ea, cc, ec) = pair(&a, &c, |s| s.to_lowercase());
    assert_eq!((ca, cc), (0, 0), "pairing failed:\n{ea}\n{ec}");
    let dest = tempfile::tempdir().unwrap();
    let mut recv = Listener::command(
        &b,
        &["recv", "--once", "--bind", "127.0.0.1:0", "--into", dest.path().to_str().unwrap()],
        false,
    );
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("for-dc.txt"), "for dc only").unwrap();
    let out = a
        .cmd()
        .args(["send", "--to", "dc", "--direct", &recv.addr])
        .arg(src.path().join("for-dc.txt"))
        .output()
        .unwrap();
    let (code, stderr) = (out.status.code().unwrap(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains(r#"says it is "db", not "dc": refused before anything was sent"#), "{stderr}");
    let _ = recv.child.kill();
    assert!(is_empty(dest.path()), "nothing arrived at db");
    // To the right peer it goes, and both sides say (and log) it went direct, not by the relay;
    // a bundle to stdout or a file says so too (via is relay|direct|mailbox|file|stdout).
    let recv = Listener::command(
        &b,
        &["recv", "--once", "--json", "--bind", "127.0.0.1:0", "--into", dest.path().to_str().unwrap()],
        false,
    );
    std::fs::write(src.path().join("for-db.txt"), "for db").unwrap();
    let out = a
        .cmd()
        .args(["send", "--json", "--to", "db", "--direct", &recv.addr])
        .arg(src.path().join("for-db.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(done_event(&out.stdout)["via"], "direct");
    let (status, stdout, err) = recv.wait();
    assert!(status.success(), "{err}");
    assert_eq!(done_event(&stdout)["via"], "direct");
    let via_logged = |p: &Participant, which: &str| -> Vec<String> {
        let out = p.cmd().args(["log", which, "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["entries"].as_array().unwrap().iter().map(|e| e["via"].as_str().unwrap().to_owned()).collect()
    };
    assert!(via_logged(&a, "--sent").contains(&"direct".to_owned()));
    assert_eq!(via_logged(&b, "--received"), ["direct"]);
    let out = a
        .cmd()
        .args(["send", "--json", "--to", "db", "--out", "-"])
        .arg(src.path().join("for-db.txt"))
        .output()
        .unwrap();
    // With the bundle on stdout, the events go to stderr: the bundle stays whole.
    assert_eq!(out.stdout[0], 0x58, "stdout holds the bundle and nothing else");
    assert_eq!(done_event(&out.stderr)["via"], "stdout");
    let file = src.path().join("b.sslx");
    let out = a
        .cmd()
        .args(["send", "--json", "--to", "db", "--out"])
        .arg(&file)
        .arg(src.path().join("for-db.txt"))
        .output()
        .unwrap();
    let done = done_event(&out.stdout);
    assert_eq!((done["via"].as_str(), done["out"].as_str()), (Some("file"), file.to_str()));
    let sent = via_logged(&a, "--sent");
    assert!(sent.contains(&"stdout".to_owned()) && sent.contains(&"file".to_owned()), "{sent:?}");
}

/// Issue 13, item 1: one participant keeps several hooks, one per service. `sslx recv` (files),
/// `sslx listen` (session), a named `listen --service backup` and `sslx pair --accept` (pair)
/// run at once for bob; each call reaches the one its service names, and none kicks another off
/// (before, each new hook replaced the last one, and the first process exited 7).
#[test]
fn recv_listen_and_pair_accept_keep_their_hooks_side_by_side() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "sva", "svb");
    let inbox = tempfile::tempdir().unwrap();
    let mut recv = Listener::command(&b, &["recv", "--into", inbox.path().to_str().unwrap()], false);
    let _shell = Listener::on_hook(&b, &["--exec", "tr a-z A-Z", "--allow", "sva"]);
    let _backup = Listener::on_hook(&b, &["--service", "backup", "--exec", "wc -c", "--allow", "sva"]);
    let mut pairing = Listener::command(&b, &["pair", "--accept", "--sas", "00000"], false);
    let file = a.home().join("note.txt");
    std::fs::write(&file, b"night one\n").unwrap();
    a.cmd().args(["-q", "send", "--to", "svb"]).arg(&file).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("note.txt")).unwrap(), b"night one\n", "recv took the bundle");
    a.cmd().args(["-q", "dial", "svb"]).write_stdin("hello").assert().success().stdout("HELLO");
    a.cmd()
        .args(["-q", "dial", "--service", "backup", "svb"])
        .write_stdin(vec![b'x'; 321])
        .assert()
        .success()
        .stdout(predicates::str::contains("321"));
    a.cmd()
        .args(["dial", "--service", "nothing", "svb"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("svb must run `sslx listen --service nothing`"));
    a.cmd().args(["dial", "--service", "Bad/Name", "svb"]).assert().code(2);
    // Everyone is still there: a second night's file reaches recv, and pair --accept still waits.
    std::fs::write(&file, b"night two\n").unwrap();
    let second = a.home().join("second.txt");
    std::fs::copy(&file, &second).unwrap();
    a.cmd().args(["-q", "send", "--to", "svb"]).arg(&second).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("second.txt")).unwrap(), b"night two\n");
    assert!(recv.child.try_wait().unwrap().is_none(), "recv is still running");
    assert!(pairing.child.try_wait().unwrap().is_none(), "pair --accept is still waiting");
    // sslx status says which are up; one that is gone (killed: no goodbye) drops off the list.
    let up = |p: &Participant| -> Vec<String> {
        let out = p.cmd().args(["status", "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["listening"].as_array().unwrap().iter().map(|l| l["service"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(up(&b), ["backup", "files", "pair", "session"]);
    recv.child.kill().unwrap();
    recv.child.wait().unwrap();
    assert_eq!(up(&b), ["backup", "pair", "session"]);
    b.cmd().arg("status").assert().success().stdout(predicates::str::contains("listening    backup (hook at the CDS"));
}

/// Without a `sslx recv`, the sender is told what the recipient must run (and the bundle goes to
/// the mailbox, as before); a `listen` on hook does not take files meant for `recv`.
#[test]
fn a_listener_alone_does_not_take_files_and_the_sender_learns_what_to_run() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "nfa", "nfb");
    let _shell = Listener::on_hook(&b, &["--exec", "cat", "--allow", "nfa"]);
    let file = a.home().join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    a.cmd()
        .args(["send", "--no-mailbox", "--to", "nfb"])
        .arg(&file)
        .assert()
        .code(7)
        .stderr(predicates::str::contains("nfb must run `sslx recv`"));
    a.cmd().args(["send", "--to", "nfb"]).arg(&file).assert().success().stderr(predicates::str::contains("mailbox"));
}

/// Polls until `path` exists (a file a running `recv` places), up to `secs`.
fn arrives(path: &Path, secs: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// Issue 13, item 2: the CDS killed (-9) and started again on the same address and state under a
/// running `sslx recv`: recv says its hook dropped, keeps trying, says when it is back, and takes
/// the next file live; it never exited.
#[test]
fn recv_rides_out_a_cds_restart_and_takes_the_next_file_live() {
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("cds.db");
    let args = ["--dev", "--db", db.to_str().unwrap()];
    let mut cds = Cds::start(&args, &[]);
    let (a, b) = paired_couple(&cds, "rsa", "rsb");
    let inbox = tempfile::tempdir().unwrap();
    let mut recv = Listener::command(&b, &["recv", "--into", inbox.path().to_str().unwrap()], false);
    let listen = cds.listen.clone();
    cds.child.kill().unwrap();
    cds.child.wait().unwrap();
    recv.await_stderr("off hook at the CDS", 1, 30);
    // Down for a few tries.
    recv.await_stderr("still off hook", 1, 30);
    assert!(recv.child.try_wait().unwrap().is_none(), "recv keeps trying while the CDS is down");
    let _cds = Cds::start_on(&args, &[], &listen);
    let err = recv.await_stderr("back on hook at the CDS (service files)", 1, 90);
    assert!(err.contains("calls cannot reach us"), "{err}");
    let file = a.home().join("after-restart.txt");
    std::fs::write(&file, b"still here\n").unwrap();
    a.cmd().args(["-q", "send", "--no-mailbox", "--to", "rsb"]).arg(&file).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("after-restart.txt")).unwrap(), b"still here\n");
    assert!(recv.child.try_wait().unwrap().is_none(), "recv is still running");
}

/// Issue 13, item 2: a connection that dies without a FIN (the path between recv and the CDS falls
/// silent) is found by the hook's keepalive; while recv cannot get back on hook, a file sent to
/// it waits in the mailbox; when it is back, it collects that file at once, and takes the next one
/// live. `--json` tells each step as an event.
#[test]
fn a_silent_hook_is_found_by_its_keepalive_and_recv_collects_what_waited_meanwhile() {
    let cds = Cds::start(&["--dev", "--hook-keepalive", "1", "--health-detail"], &[]);
    let (a, b) = paired_couple(&cds, "kaa", "kab");
    let proxy = Proxy::start(&cds.listen);
    let inbox = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["--cds", &proxy.addr, "recv", "--into", inbox.path().to_str().unwrap()], false);
    assert_eq!(bulk::on_hook_count(&cds.http), 1);
    proxy.refuse_new(true);
    proxy.go_silent();
    let err = recv.await_stderr("off hook at the CDS (nothing from the CDS in 3 s", 1, 30);
    assert!(err.contains("it sends a keepalive every 1 s"), "{err}");
    recv.await_stderr("still off hook", 1, 30);
    // recv closed its end: the CDS hears that through the proxy and takes the hook down.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while bulk::on_hook_count(&cds.http) != 0 {
        assert!(std::time::Instant::now() < end, "the CDS still has the silent hook");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let waited = a.home().join("waited.txt");
    std::fs::write(&waited, b"left in the mailbox\n").unwrap();
    a.cmd().args(["send", "--to", "kab"]).arg(&waited).assert().success().stderr(predicates::str::contains("mailbox"));
    assert!(!inbox.path().join("waited.txt").exists());
    proxy.refuse_new(false);
    recv.await_stderr("back on hook at the CDS (service files)", 1, 90);
    assert!(arrives(&inbox.path().join("waited.txt"), 30), "recv collected the mailbox when it came back");
    let live = a.home().join("live.txt");
    std::fs::write(&live, b"live again\n").unwrap();
    a.cmd().args(["-q", "send", "--no-mailbox", "--to", "kab"]).arg(&live).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("live.txt")).unwrap(), b"live again\n");

    // The same drop, told as NDJSON events on stdout.
    let inbox2 = tempfile::tempdir().unwrap();
    drop(recv);
    let proxy2 = Proxy::start(&cds.listen);
    let mut events = Listener::command(
        &b,
        &["--json", "--cds", &proxy2.addr, "recv", "--into", inbox2.path().to_str().unwrap()],
        false,
    );
    proxy2.go_silent();
    let mut out = BufReader::new(events.child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
        seen.push(v["event"].as_str().unwrap_or("").to_owned());
        if v["event"] == "hook_down" {
            assert_eq!((v["service"].as_str(), v["again"].as_bool()), (Some("files"), Some(false)), "{v}");
            assert!(v["retry_in"].as_f64().unwrap() > 0.0, "{v}");
        }
        if v["event"] == "hook_up" {
            break;
        }
    }
    assert_eq!(seen, ["listening", "hook_down", "hook_up"], "{seen:?}");
}

/// Issue 13, item 2: a second `sslx recv` for the same participant takes the hook, and the first
/// is told why and stops (exit 5), instead of the two knocking each other off for ever.
#[test]
fn a_second_recv_takes_the_hook_and_the_first_stops_saying_why() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "rpa", "rpb");
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = Listener::command(&b, &["recv", "--into", one.path().to_str().unwrap()], false);
    let second = Listener::command(&b, &["recv", "--into", two.path().to_str().unwrap()], false);
    let (status, _, err) = first.wait();
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(
        err.contains(r#"another sslx went on hook at the CDS as rpb for service "files", so this one stops"#),
        "{err}"
    );
    let file = a.home().join("to-second.txt");
    std::fs::write(&file, b"2").unwrap();
    a.cmd().args(["-q", "send", "--no-mailbox", "--to", "rpb"]).arg(&file).assert().success();
    assert!(two.path().join("to-second.txt").exists());
    drop(second);
}

/// `sslx recv` set up once as a service: sslx.toml's [recv] (a dated folder, rename on
/// conflict, a command after each arrival), READY=1 and a status line to systemd's
/// NOTIFY_SOCKET once on hook; flags override the file; a failing --exec-after is the exit status
/// of `recv --once`.
#[test]
fn recv_as_a_service_reads_sslx_toml_dates_its_folder_runs_exec_after_and_tells_systemd() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "sa", "sb");
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("x.txt"), "night one").unwrap();
    let ran = root.path().join("ran.log");
    let conf = format!(
        "[recv]\ninto = \"{}/inbox/%Y/%F\"\non-conflict = \"rename\"\nexec-after = 'printf \"%s|%s|%s|%s\\n\" \"$SSLX_PEER\" \"$SSLX_VIA\" \"$SSLX_FILES\" \"$*\" >> {}'\n",
        root.path().display(),
        ran.display()
    );
    let conf_path = b.home().join("sslx.toml");
    std::fs::write(&conf_path, conf).unwrap();
    std::fs::set_permissions(&conf_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let notify = std::os::unix::net::UnixDatagram::bind(root.path().join("notify.sock")).unwrap();
    notify.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let sock = root.path().join("notify.sock");
    let day = || {
        let f = time::macros::format_description!("[year]/[year]-[month]-[day]");
        time::OffsetDateTime::now_utc().format(&f).unwrap()
    };
    let before = day();
    let recv =
        Listener::command_with_env(&b, &["recv"], false, &[("NOTIFY_SOCKET", sock.to_str().unwrap()), ("TZ", "UTC")]);
    let mut buf = [0u8; 4096];
    let n = notify.recv(&mut buf).unwrap();
    let told = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(told.contains("READY=1\n") && told.contains("STATUS=taking calls for sb on hook at the CDS"), "{told}");
    for i in 1..=2 {
        a.cmd().args(["send", "--to", "sb"]).arg(src.path().join("x.txt")).assert().success();
        recv.await_stderr("sslx: received", i, 30);
    }
    let err = recv.await_stderr("placed as x.1.txt", 1, 30);
    // The command runs after the line is told: wait for its second line.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&ran).unwrap_or_default().lines().count() < 2 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(recv);
    let after = day();
    let dir = [before, after]
        .iter()
        .map(|d| root.path().join("inbox").join(d))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no dated folder under inbox/: {err}"));
    assert_eq!(std::fs::read_to_string(dir.join("x.txt")).unwrap(), "night one");
    assert_eq!(std::fs::read_to_string(dir.join("x.1.txt")).unwrap(), "night one");
    let lines = std::fs::read_to_string(&ran).unwrap();
    assert_eq!(
        lines,
        format!("sa|relay|1|{}\nsa|relay|1|{}\n", dir.join("x.txt").display(), dir.join("x.1.txt").display()),
        "{err}"
    );
    // A flag overrides the file: skip keeps what is there, and nothing new means no command.
    let recv = Listener::command_with_env(&b, &["recv", "--once", "--on-conflict", "skip"], false, &[("TZ", "UTC")]);
    a.cmd().args(["send", "--to", "sb"]).arg(src.path().join("x.txt")).assert().success();
    let (status, _, err) = recv.wait();
    assert!(status.success() && err.contains("x.txt exists: skipped"), "{err}");
    assert!(!dir.join("x.2.txt").exists());
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 2);
    // A failing --exec-after is recv --once's failure (the transfer itself arrived).
    std::fs::write(src.path().join("y.txt"), "y").unwrap();
    let recv = Listener::command_with_env(&b, &["recv", "--once", "--exec-after", "exit 3"], false, &[("TZ", "UTC")]);
    a.cmd().args(["send", "--to", "sb"]).arg(src.path().join("y.txt")).assert().success();
    let (status, _, err) = recv.wait();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("--exec-after exited with 3 for bundle"), "{err}");
    assert!(dir.join("y.txt").is_file() || root.path().join("inbox").join(day()).join("y.txt").is_file());
    // A config others can write is refused: its exec-after would run as this user.
    std::fs::set_permissions(&conf_path, std::fs::Permissions::from_mode(0o666)).unwrap();
    b.cmd().args(["recv", "--from-mailbox"]).assert().code(2).stderr(predicates::str::contains("chmod go-w"));
}

/// After hook OK only the CDS's sealed messages count: a refusal written into the hook by
/// someone on the path ("not enrolled"), or a frame of an unknown type, ends the connection as
/// a dead one and recv hooks again, instead of stopping for good.
#[test]
fn a_frame_injected_into_the_hook_is_a_dead_connection_not_the_end_of_recv() {
    use sslx::wire::Msg;
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ija", "ijb");
    let proxy = Proxy::start(&cds.listen);
    let inbox = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["--cds", &proxy.addr, "recv", "--into", inbox.path().to_str().unwrap()], false);
    let forged = sslx::wire::Refused { code: 14, server_time: 0, reason: "not enrolled".into() }.to_frame().unwrap();
    proxy.inject(&forged);
    let err = recv.await_stderr("back on hook at the CDS (service files)", 1, 60);
    assert!(err.contains("what is not the CDS's"), "{err}");
    let unknown = sslx::wire::Frame { msg_type: 0x99, version: 2, body: vec![1, 2, 3] }.to_bytes();
    proxy.inject(&unknown);
    recv.await_stderr("back on hook at the CDS (service files)", 2, 60);
    let live = a.home().join("live.txt");
    std::fs::write(&live, b"still here\n").unwrap();
    a.cmd().args(["-q", "send", "--no-mailbox", "--to", "ijb"]).arg(&live).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("live.txt")).unwrap(), b"still here\n");
}

/// A keepalive recorded and replayed into a hook whose connection is dead is no sign of life:
/// each must be newer than the last, and silence counts from the last one that was.
#[test]
fn a_replayed_keepalive_does_not_keep_a_dead_hook_up() {
    let cds = Cds::start(&["--dev", "--hook-keepalive", "1"], &[]);
    let (_a, b) = paired_couple(&cds, "rka", "rkb");
    let proxy = Proxy::start(&cds.listen);
    let inbox = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["--cds", &proxy.addr, "recv", "--into", inbox.path().to_str().unwrap()], false);
    // Let a few keepalives through, so the last thing the CDS sent is one.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    proxy.refuse_new(true);
    proxy.go_silent_replaying_the_last();
    recv.await_stderr("off hook at the CDS (nothing from the CDS in 3 s", 1, 60);
}

/// --on-conflict overwrite never replaces the receiver's sslx home (its sslx.toml runs
/// commands), nor a folder holding it; a mailbox bundle that could not be placed stays there
/// and opens at a later collection (it is not taken for a replay).
#[test]
fn overwrite_spares_the_sslx_home_and_a_bundle_that_could_not_be_placed_opens_later() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ova", "ovb");
    // A folder named as b's home, holding a settings file with a command in it.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("home")).unwrap();
    std::fs::write(src.path().join("home/sslx.toml"), "[recv]\nexec-after = \"touch /tmp/owned\"\n").unwrap();
    a.cmd().args(["send", "--to", "ovb"]).arg(src.path().join("home")).assert().success();
    let into = b.dir.path();
    b.cmd()
        .args(["recv", "--from-mailbox", "--on-conflict", "overwrite", "--into"])
        .arg(into)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("holds the sslx home"));
    assert!(b.home().join("identity.key").is_file(), "the home was replaced");
    assert!(!b.home().join("sslx.toml").exists());
    // It stayed in the mailbox, and opens under another name.
    b.cmd()
        .args(["recv", "--from-mailbox", "--on-conflict", "rename", "--into"])
        .arg(into)
        .assert()
        .success()
        .stderr(predicates::str::contains("home exists: placed as home.1"));
    assert!(into.join("home.1/sslx.toml").is_file());
}

/// A bundle left in the mailbox while recv is on hook (a sender that found it busy, or a
/// deposit made on purpose) is told down the files hook (a mailbox notice) and fetched at once.
#[test]
fn a_bundle_deposited_while_recv_is_on_hook_is_told_and_fetched_at_once() {
    use sslx::courier::{load_pair_key, mailbox, transfer::SendSpec, BundleSuite};
    use sslx::session::endpoint::Endpoint;
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "mna", "mnb");
    let inbox = tempfile::tempdir().unwrap();
    let recv = Listener::command(&b, &["--json", "recv", "--into", inbox.path().to_str().unwrap()], false);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("left.txt"), "deposited meanwhile").unwrap();
    let plan = sslx::courier::tree::Plan::new(&[src.path().join("left.txt")]).unwrap();
    let home = sslx::keys::Home::new(a.home());
    let ltk = load_pair_key(&home, "mnb").unwrap().unwrap();
    let spec = SendSpec {
        me: "mna",
        peer: "mnb",
        ltk: &ltk,
        suite: BundleSuite::Aes256Gcm,
        compression: sslx::courier::payload::Compression::Auto,
        plan: &plan,
    };
    let ep = Endpoint::load(&home, None).unwrap();
    mailbox::deposit(&ep, &spec, &sslx::crypto::system_rng(), &mut |_| {}).unwrap();
    assert!(arrives(&inbox.path().join("left.txt"), 30), "recv did not fetch the deposited bundle");
    assert_eq!(std::fs::read_to_string(inbox.path().join("left.txt")).unwrap(), "deposited meanwhile");
    let mut recv = recv;
    let _ = recv.child.kill();
    let (_, out, _) = recv.wait();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(r#""event":"mailbox""#) && text.contains(r#""sender":"mna""#), "{text}");
}

/// A send stopped half-way (Ctrl-C) leaves its line in the send log as interrupted, not as
/// nothing, and not as sent.
#[test]
fn a_send_stopped_half_way_is_logged_as_interrupted() {
    let cds = Cds::start_dev();
    let (a, _b) = paired_couple(&cds, "ia", "ib");
    let src = tempfile::tempdir().unwrap();
    write_big(&src.path().join("big.bin"), 16 << 20, 9);
    let fifo = src.path().join("out.fifo");
    mkfifo(&fifo);
    let mut send = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(a.home())
        .args(["-q", "send", "--to", "ib", "--out", fifo.to_str().unwrap()])
        .arg(src.path().join("big.bin"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A reader that takes a little and then nothing more: the send blocks half-way.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut first = vec![0u8; 4096];
    reader.read_exact(&mut first).unwrap();
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(send.id() as i32, libc::SIGINT) }, 0);
    let status = send.wait().unwrap();
    assert!(!status.success());
    drop(reader);
    let log: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["log", "--sent", "--json"]).assert().success().get_output().stdout)
            .unwrap();
    let e = &log["entries"][0];
    assert_eq!((e["result"].as_str(), e["peer"].as_str()), (Some("interrupted"), Some("ib")), "{log}");
    assert!(e["detail"].as_str().unwrap().contains("Ctrl-C"), "{log}");
}

/// A recv killed with -9 half-way leaves its temp dir (nothing was placed); the next receive
/// into that folder removes it, and says so.
#[test]
fn the_temp_dir_of_a_killed_recv_is_removed_by_the_next_one() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ka", "kb");
    let src = tempfile::tempdir().unwrap();
    write_big(&src.path().join("big.bin"), 8 << 20, 3);
    let bundle = src.path().join("big.sslx");
    a.cmd().args(["-q", "send", "--to", "kb", "--out"]).arg(&bundle).arg(src.path().join("big.bin")).assert().success();
    let bytes = std::fs::read(&bundle).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let fifo = src.path().join("in.fifo");
    mkfifo(&fifo);
    let mut recv = std::process::Command::new(bin("sslx"))
        .arg("--home")
        .arg(b.home())
        .args(["-q", "recv", "--in", fifo.to_str().unwrap(), "--into", dest.path().to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&bytes[..bytes.len() / 2]).unwrap();
    let left = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".sslx-recv-"))
            .count()
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while left(dest.path()) == 0 {
        assert!(std::time::Instant::now() < end, "recv made no temp dir");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    recv.kill().unwrap();
    recv.wait().unwrap();
    drop(w);
    assert_eq!(left(dest.path()), 1, "kill -9 leaves the temp dir");
    b.cmd()
        .args(["recv", "--in"])
        .arg(&bundle)
        .arg("--into")
        .arg(dest.path())
        .assert()
        .success()
        .stderr(predicates::str::contains("left by a receive that was stopped half-way"));
    assert_eq!(left(dest.path()), 0);
    assert_eq!(digest(&dest.path().join("big.bin")), digest(&src.path().join("big.bin")));
}

/// `sslx send -` takes a tar stream: it says what it held (files, bytes), and anything else on
/// stdin is refused before anything is sent or logged.
#[test]
fn send_dash_reports_what_the_tar_stream_held_and_refuses_what_is_not_tar() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "ta", "tb");
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("d/sub")).unwrap();
    std::fs::write(src.path().join("d/one.txt"), "one").unwrap();
    std::fs::write(src.path().join("d/sub/two.txt"), "two!").unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    tb.append_dir_all("d", src.path().join("d")).unwrap();
    let tar = tb.into_inner().unwrap();
    let bundle = src.path().join("d.sslx");
    let out = a
        .cmd()
        .args(["--json", "send", "-", "--to", "tb", "--out"])
        .arg(&bundle)
        .write_stdin(tar)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap().lines().last().unwrap().to_owned();
    let done: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((done["files"].as_u64(), done["bytes"].as_u64()), (Some(2), Some(7)), "{done}");
    let dest = tempfile::tempdir().unwrap();
    b.cmd().args(["recv", "--in"]).arg(&bundle).arg("--into").arg(dest.path()).assert().success();
    assert_eq!(std::fs::read_to_string(dest.path().join("d/sub/two.txt")).unwrap(), "two!");
    // Not tar: refused at once, with what to do instead; nothing logged.
    for (input, why) in [
        (&b"hello, this is not a tar stream\n"[..], "shorter than one tar block"),
        (&[b'x'; 2048][..], "not a tar header"),
        (&b""[..], "it is empty"),
    ] {
        a.cmd()
            .args(["send", "-", "--to", "tb"])
            .write_stdin(input.to_vec())
            .assert()
            .code(2)
            .stderr(predicates::str::contains("stdin is not a tar stream").and(predicates::str::contains(why)));
    }
    let log: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["log", "--sent", "--json"]).assert().success().get_output().stdout)
            .unwrap();
    assert_eq!(log["entries"].as_array().unwrap().len(), 1, "{log}");
}

/// An armored bundle (--armor) is text for an email: it opens from a file or from stdin, after
/// a mail client's CRLFs, and an altered or cut one is refused with what was wrong.
#[test]
fn an_armored_bundle_goes_through_email_and_opens_by_itself() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "aa", "ab");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("notes.txt"), "by email\n".repeat(500)).unwrap();
    let asc = src.path().join("notes.sslx.txt");
    a.cmd()
        .args(["-q", "send", "--to", "ab", "--armor", "--out"])
        .arg(&asc)
        .arg(src.path().join("notes.txt"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&asc).unwrap();
    assert!(text.starts_with("-----BEGIN SSLX BUNDLE-----\n") && text.ends_with("-----END SSLX BUNDLE-----\n"));
    assert!(text.lines().all(|l| l.len() <= 64 && l.is_ascii()), "{text}");
    // Altered in transit: refused, nothing placed (the bundle is still good for the real open).
    let dest = tempfile::tempdir().unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let broken = lines[2].replacen(|c: char| c.is_ascii_alphanumeric(), "*", 1);
    lines[2] = &broken;
    let altered = src.path().join("altered.txt");
    std::fs::write(&altered, lines.join("\n") + "\n").unwrap();
    b.cmd()
        .args(["recv", "--in"])
        .arg(&altered)
        .arg("--into")
        .arg(dest.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("line 3 of the armored bundle is not base64"));
    let cut = src.path().join("cut.txt");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    b.cmd()
        .args(["recv", "--in"])
        .arg(&cut)
        .arg("--into")
        .arg(dest.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("cut off"));
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
    // Pasted through a mail client (CRLF), on stdin.
    let mailed = format!("\r\n{}", text.replace('\n', "\r\n"));
    b.cmd().args(["-q", "recv", "--in", "-", "--into"]).arg(dest.path()).write_stdin(mailed).assert().success();
    assert_eq!(std::fs::read_to_string(dest.path().join("notes.txt")).unwrap(), "by email\n".repeat(500));
    // --armor is for bundles written out.
    a.cmd().args(["send", "--to", "ab", "--armor"]).arg(src.path().join("notes.txt")).assert().code(2);
}

/// `sslx status`, `sslx pairs` and `sslx unpair`: where a machine stands, from its home.
#[test]
fn status_pairs_and_unpair_tell_and_change_where_a_machine_stands() {
    let cds = Cds::start_dev();
    let (a, _b) = paired_couple(&cds, "sta", "stb");
    let out = a.cmd().arg("status").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("name         sta") && text.contains(&format!("CDS          {}", cds.listen)), "{text}");
    assert!(text.contains("pairs        stb (confirmed)") && text.contains("CDS key      confirmed"), "{text}");
    let v: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["--json", "status"]).assert().success().get_output().stdout).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["pairs"][0].as_str(), v["cds"]["expired"].as_bool()),
        (Some("sta"), Some("stb"), Some(false)),
        "{v}"
    );
    assert_eq!(v["cds"]["renew_soon"].as_bool(), Some(false), "{v}");
    // Each peer's standing at the CDS; with the CDS gone, unknown (and status still answers).
    assert_eq!(v["peers"][0]["standing"], "confirmed", "{v}");
    drop(cds);
    let v: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["--json", "status"]).assert().success().get_output().stdout).unwrap();
    assert!(v["peers"][0]["standing"].as_str().unwrap().starts_with("unknown"), "{v}");
    let v: serde_json::Value =
        serde_json::from_slice(&a.cmd().args(["--json", "pairs"]).assert().success().get_output().stdout).unwrap();
    assert_eq!(v["pairs"][0]["peer"].as_str(), Some("stb"), "{v}");
    a.cmd().args(["pairs"]).assert().success().stdout(predicates::str::contains("stb"));
    a.cmd()
        .args(["unpair", "stb"])
        .assert()
        .success()
        .stderr(predicates::str::contains("stb keeps its copy until it runs sslx unpair sta"));
    a.cmd().args(["unpair", "stb"]).assert().code(6).stderr(predicates::str::contains("not paired with stb"));
    a.cmd().args(["unpair", "../x"]).assert().code(2);
    a.cmd().args(["send", "--to", "stb"]).arg(a.home().join("identity.pub")).assert().code(6);
    // A home without an identity says so, and nothing is made there.
    let empty = tempfile::tempdir().unwrap();
    let home = empty.path().join("nohome");
    sslx(&home).arg("status").assert().code(6);
    assert!(!home.exists(), "status made the home");
    // Every command that needs the identity says that first (not "not paired", not "no CDS
    // key"), with the wrong-home hint, and makes nothing (sslx log used to make courier.db).
    std::fs::create_dir(&home).unwrap();
    let f = a.home().join("identity.pub");
    let f = f.to_str().unwrap();
    for args in [
        vec!["send", "--to", "stb", f],
        vec!["recv", "--once"],
        vec!["log"],
        vec!["pairs"],
        vec!["listen"],
        vec!["dial", "stb"],
        vec!["pair", "stb"],
        vec!["vsu", "--confirm"],
    ] {
        let out = sslx(&home).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {err}");
        assert!(err.starts_with("sslx: error: no identity in") && err.contains("a wrong home?"), "{args:?}: {err}");
        assert!(is_empty(&home), "{args:?} made {:?}", entries(&home));
    }
    // What outlives an identity can still be listed and cleaned up: pairs, then unpair.
    sslx::courier::save_pair_key(&sslx::keys::Home::new(&home), "old-peer", &sslx::crypto::Secret::new([7; 32]))
        .unwrap();
    sslx(&home).arg("pairs").assert().success().stdout(predicates::str::contains("old-peer"));
    sslx(&home).args(["unpair", "old-peer"]).assert().success();
    // keygen --force on an enrolled, paired machine says what it changes and how to enroll again.
    let out = a.cmd().args(["keygen", "--force", "--name", "sta"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the old identity is kept as") && err.contains("--prove-with"), "{err}");
    assert!(err.contains("the CDS key here still works"), "{err}");
}

/// Hints that match the cause: a misspelt --to gets the closest paired name, a text file given
/// as a bundle is called text, and sslx-cds calls on a database that is not there makes none.
#[test]
fn a_misspelt_peer_a_text_file_and_a_missing_database_get_the_right_hint() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "hinta", "hintbob");
    let f = a.home().join("identity.pub");
    a.cmd()
        .args(["send", "--to", "hintbbo"])
        .arg(&f)
        .assert()
        .code(6)
        .stderr(predicates::str::contains("did you mean --to hintbob?"));
    a.cmd().args(["send", "--to", "zed"]).arg(&f).assert().code(6).stderr(predicates::str::contains("sslx pair zed"));
    let text = a.home().join("notes.txt");
    std::fs::write(&text, "just some notes\n").unwrap();
    let dest = tempfile::tempdir().unwrap();
    b.cmd()
        .args(["recv", "--in"])
        .arg(&text)
        .arg("--into")
        .arg(dest.path())
        .assert()
        .code(3)
        .stderr(predicates::str::contains("this is text").and(predicates::str::contains("version").not()));
    let missing = dest.path().join("nope.db");
    assert_cmd::Command::new(bin("sslx-cds"))
        .args(["calls", "--db"])
        .arg(&missing)
        .assert()
        .code(6)
        .stderr(predicates::str::contains("no CDS database at"));
    assert!(!missing.exists(), "calls made a database");
}

#[test]
fn one_send_to_three_recipients_goes_live_to_those_listening_and_to_the_mailbox_for_the_rest() {
    let cds = Cds::start_dev();
    let a = enroll(&cds, "fa");
    let (b, c, d) = (enroll(&cds, "fb"), enroll(&cds, "fc"), enroll(&cds, "fd"));
    for p in [&b, &c, &d] {
        let (ca, ea, cb, eb) = pair(&a, p, str::to_owned);
        assert_eq!((ca, cb), (0, 0), "{ea}\n{eb}");
    }
    let src = tempfile::tempdir().unwrap();
    let batch = src.path().join("batch");
    small_tree(&batch, 40);
    write_big(&batch.join("data.bin"), 3 << 20, 11);
    // fb named twice (--to and the file) gets one bundle; fd is not listening: its mailbox.
    let list = src.path().join("recipients");
    std::fs::write(&list, "# tonight's\nfc\n\nfd   # offline\nfb\n").unwrap();
    let (db, dc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let rb = Listener::command(&b, &["recv", "--once", "--into", db.path().to_str().unwrap()], false);
    let rc = Listener::command(&c, &["recv", "--once", "--into", dc.path().to_str().unwrap()], false);
    let out = a.cmd().args(["send", "--json", "--to", "fb", "--to-file"]).arg(&list).arg(&batch).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "done")
        .collect();
    let peers: Vec<&str> = events.iter().map(|e| e["peer"].as_str().unwrap()).collect();
    assert_eq!(peers, ["fb", "fc", "fd"], "{events:?}");
    assert_eq!(events[0]["via"], "relay");
    assert_eq!(events[1]["via"], "relay");
    assert!(events[2]["via"].as_str().unwrap().starts_with("mailbox"), "{events:?}");
    // One bundle each (its own Challenge A), the same records for all.
    let ids: std::collections::HashSet<&str> = events.iter().map(|e| e["bundle"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(events[0]["wire_bytes"], events[1]["wire_bytes"]);
    for (l, dest) in [(rb, &db), (rc, &dc)] {
        let (status, _, err) = l.wait();
        assert!(status.success(), "{err}");
        assert_eq!(snapshot(&batch), snapshot(&dest.path().join("batch")));
    }
    let dd = tempfile::tempdir().unwrap();
    d.cmd().args(["recv", "--from-mailbox", "--into"]).arg(dd.path()).assert().success();
    assert_eq!(snapshot(&batch), snapshot(&dd.path().join("batch")));
    // One log line per recipient.
    let log = a.cmd().args(["log", "--sent", "--json"]).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let mut logged: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["peer"].as_str().unwrap(), e["result"].as_str().unwrap())).collect();
    logged.sort();
    assert_eq!(logged, [("fb", "ok"), ("fc", "ok"), ("fd", "delivered")], "{log}");
    // The same again to fb and fc, which now have `batch`: both refuse at its first entry, and
    // the bundle waits in each one's mailbox, each told why (with --no-mailbox: the refusal).
    let rb = Listener::command(&b, &["recv", "--once", "--into", db.path().to_str().unwrap()], false);
    let rc = Listener::command(&c, &["recv", "--once", "--into", dc.path().to_str().unwrap()], false);
    let out = a.cmd().args(["send", "--json", "--to", "fb", "--to", "fc"]).arg(&batch).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(r#""via":"mailbox""#).count(), 2, "{text}");
    assert_eq!(rb.wait().0.code(), Some(5));
    assert_eq!(rc.wait().0.code(), Some(5));
    for p in [&b, &c] {
        let elsewhere = tempfile::tempdir().unwrap();
        p.cmd().args(["recv", "--from-mailbox", "--into"]).arg(elsewhere.path()).assert().success();
        assert_eq!(snapshot(&batch), snapshot(&elsewhere.path().join("batch")));
    }
    let rb = Listener::command(&b, &["recv", "--once", "--into", db.path().to_str().unwrap()], false);
    let rc = Listener::command(&c, &["recv", "--once", "--into", dc.path().to_str().unwrap()], false);
    let out = a.cmd().args(["send", "--no-mailbox", "--to", "fb", "--to", "fc"]).arg(&batch).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert_eq!(err.matches("already exists").count(), 2, "{err}");
    let _ = (rb.wait(), rc.wait());
    // A name never paired among them: refused before anything is sent, with the closest name.
    a.cmd()
        .args(["send", "--to", "fb", "--to", "fcc"])
        .arg(&batch)
        .assert()
        .code(6)
        .stderr(predicates::str::contains("did you mean --to fc"));
    // The shell completes --to with the paired peers (bash, the completion script as shipped).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/sslx.bash");
    let bindir = bin("sslx").parent().unwrap().to_owned();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(sslx send --to f); COMP_CWORD=3; _sslx sslx f --to; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .env("PATH", format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap()))
        .env("SSLX_HOME", a.home())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "fb fc fd", "{}", String::from_utf8_lossy(&out.stderr));
    // A file that is not there is "not found" (6), to send or to open.
    a.cmd().args(["send", "--to", "fb", "/nonexistent/x"]).assert().code(6);
    b.cmd().args(["recv", "--in", "/nonexistent/x.sslx"]).assert().code(6);
    // Several recipients make no --out file.
    a.cmd().args(["send", "--to", "fb", "--to", "fc", "--out", "x.sslx"]).arg(&batch).assert().code(2);
}

#[test]
fn a_co_recipient_who_knows_the_bundle_key_cannot_pass_altered_records_as_the_senders() {
    // alice sent one bundle to bob and carol: both know SKey. bob re-seals other records under
    // it and completes carol's bundle with everything he can compute; carol refuses it, because
    // FileProof is under the alice → carol direction key, which bob does not have.
    use sslx::courier::bundle::BundleWriter;
    use sslx::courier::msgs::*;
    use sslx::courier::proofs::{direction_key, Challenges, ProofKey, Resume};
    use sslx::wire::Msg;
    let (_alice, carol) = offline_couple("alice", "carol");
    let ltk_ac = sslx::courier::load_pair_key(&sslx::keys::Home::new(carol.home()), "alice").unwrap().unwrap();
    let rng = sslx::crypto::system_rng();
    let skey = sslx::crypto::Secret::<32>::random(&rng);
    let cha: [u8; 32] = sslx::crypto::random_array(&rng);
    let a1 = TransferA1 {
        low_version: 1,
        high_version: 1,
        mode: Mode::Offline,
        suite: BundleSuite::Aes256Gcm,
        account: "alice".into(),
        recipient: "carol".into(),
        challenge_a: cha,
    }
    .to_frame()
    .unwrap();
    let kd = direction_key(&ltk_ac, "alice", "carol").unwrap();
    let chs = Challenges::new(cha, [0; 32], &a1);
    // What alice sent carol (made here with alice's keys: A1 and A2 are as she wrote them).
    let a2 = TransferA2 {
        account_b: "carol".into(),
        proof_a: chs.proof_a(&kd),
        delta_key: chs.delta_key(&kd, skey.expose()),
        key_proof: chs.key_proof(&skey),
        size_hint: 100,
        resume_from: 0,
    }
    .to_frame()
    .unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(13);
    h.set_mode(0o644);
    tar.append_data(&mut h, "pay-to.txt", &b"account 6666\n"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let payload = [&[0u8][..], &(tar.len() as u32).to_be_bytes(), &(tar.len() as u32).to_be_bytes(), &tar].concat();
    let mut w = BundleWriter::new(Vec::new(), BundleSuite::Aes256Gcm, &skey);
    w.write_all(&payload).unwrap();
    let (records, sealed) = w.finish().unwrap();
    // bob's trailer: FileProof under every key he holds (SKey, his own direction key).
    let bobs_kd = direction_key(&sslx::crypto::Secret::new([3; 32]), "alice", "bob").unwrap();
    for forged_under in [skey.clone(), bobs_kd] {
        let key = ProofKey { challenges: chs, kd: forged_under, resume: Resume::WHOLE };
        let bundle = [a1.clone(), a2.clone(), records.clone(), sealed.trailer(&key).unwrap()].concat();
        let (code, err, empty) = open_bundle(&carol, &bundle);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("FileProof does not verify") && empty, "{err}");
    }
    // Under alice's own key (her bundle, unaltered) it opens.
    let key = ProofKey { challenges: chs, kd, resume: Resume::WHOLE };
    let bundle = [a1, a2, records, sealed.trailer(&key).unwrap()].concat();
    let (code, err, _) = open_bundle(&carol, &bundle);
    assert_eq!(code, 0, "{err}");
}

/// Issue 13, item 9: `sslx vsu --renew` under a running `sslx recv`: the CDS ends the hooks made
/// with the old key, recv hooks again with the new one (read from the home: no restart), and
/// takes the next file live from a sender that renewed too.
#[test]
fn a_running_recv_takes_up_a_renewed_cds_key_without_a_restart() {
    let cds = Cds::start_dev();
    let (a, b) = paired_couple(&cds, "rna", "rnb");
    let inbox = tempfile::tempdir().unwrap();
    let mut recv = Listener::command(&b, &["recv", "--into", inbox.path().to_str().unwrap()], false);
    let old = std::fs::read_to_string(b.home().join("cdsk")).unwrap();
    b.cmd().args(["vsu", "--renew"]).assert().success().stderr(predicates::str::contains("renewed: "));
    assert_ne!(std::fs::read_to_string(b.home().join("cdsk")).unwrap(), old);
    let err = recv.await_stderr("back on hook at the CDS (service files)", 1, 30);
    assert!(err.contains("off hook at the CDS (the CDS closed the hook)"), "{err}");
    a.cmd().args(["vsu", "--renew"]).assert().success();
    // A renewal whose answer is lost: the CDS holds b's new key, the home not yet. recv's hook
    // ends, and putting it up with the key the home has is refused; recv keeps trying while the
    // renewal is unfinished, and is back once the next run finished it.
    let proxy = answer_replacing_proxy(&cds.listen, 1, Vec::new());
    b.cmd().args(["--cds", &proxy, "vsu", "--renew"]).assert().code(7);
    recv.await_stderr("does not verify under the CDS key", 1, 30);
    recv.await_stderr("still off hook", 1, 30);
    assert!(recv.child.try_wait().unwrap().is_none(), "recv keeps trying while the renewal is unfinished");
    b.cmd().args(["vsu", "--renew"]).assert().success().stderr(predicates::str::contains("finished the renewal"));
    recv.await_stderr("back on hook at the CDS (service files)", 2, 60);
    let file = a.home().join("after-renewal.txt");
    std::fs::write(&file, b"new keys\n").unwrap();
    a.cmd().args(["-q", "send", "--no-mailbox", "--to", "rnb"]).arg(&file).assert().success();
    assert_eq!(std::fs::read(inbox.path().join("after-renewal.txt")).unwrap(), b"new keys\n");
}
