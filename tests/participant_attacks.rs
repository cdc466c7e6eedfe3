//! Issue 10's attacks on participants, through the real `sslx` binary: a chain of links that
//! walks out of the received tree, a bundle reflected to its sender or slipped into a mailbox
//! by someone else, a listener answering under another name, strangers calling a command, and
//! a peer's modes. Each test names its finding.

mod common;
use common::*;
use predicates::prelude::*;
use sslx::wire::Msg;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Gives both homes the same pair key, as a pairing would have.
fn pair_keys(a: &Participant, b: &Participant) {
    let key = sslx::crypto::Secret::<32>::random(&sslx::crypto::system_rng());
    sslx::courier::save_pair_key(&sslx::keys::Home::new(a.home()), &b.name, &key).unwrap();
    sslx::courier::save_pair_key(&sslx::keys::Home::new(b.home()), &a.name, &key).unwrap();
}

/// A tar stream: (path, link target or None for a directory).
fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, target) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        match target {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
            Some(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// `sslx send - --to PEER --out FILE` with `tar` on stdin: a bundle of exactly that tar stream.
fn bundle_of(from: &Participant, to: &Participant, tar: Vec<u8>, out: &Path) {
    from.cmd().args(["send", "-", "--to", &to.name, "--out"]).arg(out).write_stdin(tar).assert().success();
}

#[test]
fn finding_5_a_chain_of_links_cannot_walk_out_of_the_received_tree() {
    let (alice, bob) = (Participant::new("la"), Participant::new("lb"));
    pair_keys(&alice, &bob);
    // t/a/up -> .. is t; x1 -> a/up/.. is the temp dir, x2 -> x1/.. the destination, and so
    // on up to /; etc -> x40/etc would be /etc. Each link alone passes a text check.
    let mut entries: Vec<(String, Option<String>)> = vec![("t".into(), None), ("t/a".into(), None)];
    entries.push(("t/a/up".into(), Some("..".into())));
    entries.push(("t/x1".into(), Some("a/up/..".into())));
    for k in 2..=40 {
        entries.push((format!("t/x{k}"), Some(format!("x{}/..", k - 1))));
    }
    entries.push(("t/etc".into(), Some("x40/etc".into())));
    let refs: Vec<(&str, Option<&str>)> = entries.iter().map(|(p, t)| (p.as_str(), t.as_deref())).collect();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("chain.sslx");
    bundle_of(&alice, &bob, tar_of(&refs), &file);
    let dest = work.path().join("inbox");
    std::fs::create_dir(&dest).unwrap();
    bob.cmd()
        .args(["recv", "--in"])
        .arg(&file)
        .arg("--into")
        .arg(&dest)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("through another link"));
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "something was left in the destination");
    // A link to a link inside its directory is still fine.
    let ok = tar_of(&[("u", None), ("u/f", None), ("u/l1", Some("f")), ("u/l2", Some("l1"))]);
    bundle_of(&alice, &bob, ok, &file);
    bob.cmd().args(["recv", "--in"]).arg(&file).arg("--into").arg(&dest).assert().success();
    assert!(dest.join("u/l2").symlink_metadata().unwrap().file_type().is_symlink());
}

/// Splits a bundle file into its frames.
fn frames(b: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let len = 6 + u32::from_be_bytes(b[at + 2..at + 6].try_into().unwrap()) as usize;
        v.push(b[at..at + len].to_vec());
        at += len;
    }
    v
}

#[test]
fn finding_6_a_bundle_cannot_be_reflected_to_its_sender() {
    use sslx::courier::msgs::{TransferA1, TransferA2};
    let (alice, bob) = (Participant::new("fa"), Participant::new("fb"));
    pair_keys(&alice, &bob);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("pay.txt"), "pay 10 to fa").unwrap();
    let file = work.path().join("to-bob.sslx");
    alice
        .cmd()
        .args(["send"])
        .arg(work.path().join("pay.txt"))
        .args(["--to", "fb", "--out"])
        .arg(&file)
        .assert()
        .success();
    // The same bundle, its accounts swapped, handed to alice as if bob had sent it.
    let mut f = frames(&std::fs::read(&file).unwrap());
    let mut a1 = TransferA1::from_bytes(&f[0]).unwrap();
    std::mem::swap(&mut a1.account, &mut a1.recipient);
    f[0] = a1.to_frame().unwrap();
    let mut a2 = TransferA2::from_bytes(&f[1]).unwrap();
    a2.account_b = "fa".into();
    f[1] = a2.to_frame().unwrap();
    let reflected = work.path().join("to-alice.sslx");
    std::fs::write(&reflected, f.concat()).unwrap();
    let dest = work.path().join("alice-inbox");
    alice
        .cmd()
        .args(["recv", "--in"])
        .arg(&reflected)
        .arg("--into")
        .arg(&dest)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("proof A"));
    assert!(!dest.join("pay.txt").exists());
    // bob opens the original.
    bob.cmd().args(["recv", "--in"]).arg(&file).arg("--into").arg(work.path().join("bob-inbox")).assert().success();
}

#[test]
fn finding_6_a_bundle_someone_else_left_in_the_mailbox_is_refused() {
    let cds = Cds::start_dev();
    let (alice, bob, mallory) = (enroll(&cds, "ma"), enroll(&cds, "mb"), enroll(&cds, "mm"));
    pair_keys(&alice, &bob);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("note.txt"), "from alice").unwrap();
    let file = work.path().join("b.sslx");
    alice
        .cmd()
        .args(["send"])
        .arg(work.path().join("note.txt"))
        .args(["--to", "mb", "--out"])
        .arg(&file)
        .assert()
        .success();
    // mallory deposits alice's bundle (copied off the wire, say) in bob's mailbox as hers.
    let (mn, mk) = sslx::broker::client::enrolled(&sslx::keys::Home::new(mallory.home())).unwrap();
    let mut f = std::fs::File::open(&file).unwrap();
    sslx::relay::client::deposit(&cds.listen, &mn, &mk, "mb", &[1; 8], &mut f, &sslx::crypto::system_rng()).unwrap();
    let dest = work.path().join("inbox");
    bob.cmd()
        .args(["recv", "--from-mailbox", "--into"])
        .arg(&dest)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("but \"mm\" left it in the mailbox"));
    assert!(!dest.join("note.txt").exists());
}

#[test]
fn finding_10_a_listener_answering_under_another_name_gets_nothing() {
    let cds = Cds::start_dev();
    let (alice, mallory) = (enroll(&cds, "na"), enroll(&cds, "nm"));
    let _bob = enroll(&cds, "nb");
    let work = tempfile::tempdir().unwrap();
    let got = work.path().join("got");
    let keep = format!("cat >> {}", got.display());
    let l = Listener::start(&mallory, &["--exec", &keep, "--allow-any"]);
    // alice wants bob at that address: mallory's hello says "nm": refused before anything is sent.
    alice
        .cmd()
        .args(["dial", &format!("nb@{}", l.addr)])
        .write_stdin("secret for bob")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("says it is \"nm\", not \"nb\""));
    // A bare address this home never met: refused with the name it found, and how to go on.
    alice
        .cmd()
        .args(["dial", &l.addr])
        .write_stdin("x")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("dial nm@{}", l.addr)));
    assert!(std::fs::read(&got).unwrap_or_default().is_empty(), "the listener got data meant for another");
    // --yes accepts and remembers it.
    alice.cmd().args(["dial", "--yes", &l.addr]).write_stdin("hello nm\n").assert().success();
    assert_eq!(std::fs::read(&got).unwrap(), b"hello nm\n");
    let known = std::fs::read_to_string(alice.home().join("known-listeners")).unwrap();
    assert!(known.contains(" nm"), "{known}");
    // Someone else at a remembered address is refused.
    std::fs::write(alice.home().join("known-listeners"), format!("{} nb\n", l.addr)).unwrap();
    alice.cmd().args(["dial", &l.addr]).write_stdin("x").assert().code(3);
    assert_eq!(std::fs::read(&got).unwrap(), b"hello nm\n");
    // send --direct checks the listener against --to the same way.
    let receiver = Listener::command(&mallory, &["recv", "--bind", "127.0.0.1:0"], false);
    std::fs::write(work.path().join("f"), "x").unwrap();
    pair_keys(&alice, &_bob);
    alice
        .cmd()
        .arg("send")
        .arg(work.path().join("f"))
        .args(["--to", "nb", "--direct", &receiver.addr])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not \"nb\""));
}

#[test]
fn finding_11_listen_exec_runs_its_command_only_for_allowed_peers() {
    let cds = Cds::start_dev();
    let (alice, bob, carol) = (enroll(&cds, "xa"), enroll(&cds, "xb"), enroll(&cds, "xc"));
    pair_keys(&alice, &bob);
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("ran");
    let cmd = format!("cat > {}.$SSLX_PEER", marker.display());
    let _l = Listener::on_hook(&bob, &["--exec", &cmd]);
    // carol is enrolled but not paired with bob: refused before the command starts.
    carol
        .cmd()
        .args(["dial", "xb"])
        .write_stdin("rm -rf ~")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("xb does not take calls from xc"));
    assert!(!Path::new(&format!("{}.xc", marker.display())).exists(), "the command ran for a stranger");
    // alice is paired with bob: her call runs the command, which knows who called.
    alice.cmd().args(["dial", "xb"]).write_stdin("hello").assert().success();
    assert_eq!(std::fs::read_to_string(format!("{}.xa", marker.display())).unwrap(), "hello");
    // --allow names others.
    drop(_l);
    let _l = Listener::on_hook(&bob, &["--exec", &cmd, "--allow", "xc"]);
    carol.cmd().args(["dial", "xb"]).write_stdin("now ok").assert().success();
    assert_eq!(std::fs::read_to_string(format!("{}.xc", marker.display())).unwrap(), "now ok");
}

#[test]
fn finding_14_received_modes_follow_the_umask_and_read_only_directories_arrive() {
    let (alice, bob) = (Participant::new("ua"), Participant::new("ub"));
    pair_keys(&alice, &bob);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("ro")).unwrap();
    std::fs::write(src.join("open.txt"), "x").unwrap();
    std::fs::write(src.join("ro/inside.txt"), "y").unwrap();
    std::fs::set_permissions(src.join("open.txt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(src.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let file = work.path().join("m.sslx");
    alice.cmd().arg("send").arg(&src).args(["--to", "ub", "--out"]).arg(&file).assert().success();
    let dest = work.path().join("inbox");
    std::fs::create_dir(&dest).unwrap();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077 && exec {} --home {} recv --in {} --into {}",
            bin("sslx").display(),
            bob.home().display(),
            file.display(),
            dest.display()
        ))
        .status()
        .unwrap();
    assert!(ok.success());
    let mode = |p: &str| std::fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("src/open.txt"), 0o600, "the umask was not applied");
    assert_eq!(mode("src/ro"), 0o500);
    assert_eq!(std::fs::read_to_string(dest.join("src/ro/inside.txt")).unwrap(), "y");
    std::fs::set_permissions(src.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dest.join("src/ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
}
