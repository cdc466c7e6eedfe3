//! Who may call a listener (`sslx listen --allow/--allowed-peers/--allow-any`): the policy the
//! endpoint applies to the caller's name in M1 before anything else of the call is done.
//!
//! Without `--exec` anyone enrolled at the CDS may call unless a list is given; with `--exec`
//! (a command runs for each call) only the paired peers and the listed names may, unless
//! `--allow-any` says otherwise.

use super::endpoint::AllowFn;
use crate::keys::{check_name, is_paired, Home};
use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// The largest `--allowed-peers` file read (a line a name: 256 KiB is thousands of names).
pub const MAX_ALLOWED_PEERS_FILE: u64 = 256 * 1024;

/// The names a listener takes calls from.
#[derive(Debug, Clone)]
pub struct AllowList {
    /// Named on the command line.
    pub names: Vec<String>,
    /// A file of names (one a line, `#` comments), read again at each call so that it can be
    /// edited while the listener runs; a file that cannot be read allows no one.
    pub file: Option<PathBuf>,
    /// Also the peers this home is paired with.
    pub paired_in: Option<Home>,
}

impl AllowList {
    /// The listener's policy: `None` lets any enrolled participant call. Names are checked and
    /// the file must exist now (a typo is an error at start, not a listener that allows no one).
    pub fn for_listener(
        home: &Home,
        names: &[String],
        file: Option<PathBuf>,
        allow_any: bool,
        exec: bool,
    ) -> Result<Option<AllowList>> {
        if allow_any || (!exec && names.is_empty() && file.is_none()) {
            return Ok(None);
        }
        for n in names {
            check_name(n).map_err(|e| Error::Usage(format!("--allow {n}: {e}")))?;
        }
        if let Some(f) = &file {
            std::fs::metadata(f).map_err(|e| Error::io(format!("--allowed-peers {}", f.display()), e))?;
        }
        Ok(Some(AllowList { names: names.to_vec(), file, paired_in: exec.then(|| home.clone()) }))
    }

    /// Whether `peer` may call.
    pub fn allows(&self, peer: &str) -> bool {
        self.names.iter().any(|n| n == peer)
            || self.paired_in.as_ref().is_some_and(|home| is_paired(home, peer))
            || self.file.as_ref().is_some_and(|f| listed_in(f, peer))
    }

    /// The policy as the endpoint's `Options::allow`.
    pub fn into_fn(self) -> AllowFn {
        Arc::new(move |peer: &str| self.allows(peer))
    }
}

fn listed_in(file: &std::path::Path, peer: &str) -> bool {
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(file).and_then(|f| f.take(MAX_ALLOWED_PEERS_FILE).read_to_string(&mut text)).is_ok();
    read && text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).any(|l| l == peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Secret;

    fn home() -> (tempfile::TempDir, Home) {
        let d = tempfile::tempdir().unwrap();
        let h = Home::new(d.path());
        (d, h)
    }

    #[test]
    fn without_exec_and_without_a_list_anyone_may_call() {
        let (_d, h) = home();
        assert!(AllowList::for_listener(&h, &[], None, false, false).unwrap().is_none());
        assert!(AllowList::for_listener(&h, &["bob".into()], None, true, true).unwrap().is_none(), "--allow-any");
    }

    #[test]
    fn with_exec_only_paired_peers_and_named_ones_may_call() {
        let (_d, h) = home();
        crate::keys::save_pair_key(&h, "paired", &Secret::new([7; 32])).unwrap();
        let list = AllowList::for_listener(&h, &["named".into()], None, false, true).unwrap().unwrap();
        assert!(list.allows("paired"));
        assert!(list.allows("named"));
        assert!(!list.allows("stranger"));
        assert!(!list.allows("../pairs/paired"), "a bad name is not paired");
        std::fs::write(h.path("pairs").join("damaged.key"), "not a key line\n").unwrap();
        assert!(!list.allows("damaged"), "a damaged pair key is no pairing");
        // Without --exec a pairing is no permission: only the list counts.
        let list = AllowList::for_listener(&h, &["named".into()], None, false, false).unwrap().unwrap();
        assert!(!list.allows("paired"));
    }

    #[test]
    fn the_file_is_read_at_each_call_with_comments_and_blanks() {
        let (d, h) = home();
        let f = d.path().join("peers");
        std::fs::write(&f, "# ops\n  alice  # on call\n\n").unwrap();
        let list = AllowList::for_listener(&h, &[], Some(f.clone()), false, false).unwrap().unwrap();
        assert!(list.allows("alice"));
        assert!(!list.allows("bob"));
        assert!(!list.allows("ops"), "a comment is no name");
        std::fs::write(&f, "bob\n").unwrap();
        assert!(list.allows("bob") && !list.allows("alice"), "edited while running");
        std::fs::remove_file(&f).unwrap();
        assert!(!list.allows("bob"), "a file gone allows no one");
    }

    #[test]
    fn bad_names_and_a_missing_file_are_refused_at_start() {
        let (d, h) = home();
        let e = AllowList::for_listener(&h, &["no/slash".into()], None, false, false).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("--allow no/slash"), "{e}");
        let e = AllowList::for_listener(&h, &[], Some(d.path().join("absent")), false, false).unwrap_err();
        assert!(e.to_string().contains("--allowed-peers"), "{e}");
    }
}
