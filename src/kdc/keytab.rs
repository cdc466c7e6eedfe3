//! Key tables: a service principal's keys (a host's for `sslx-execd`, a gateway's), one file
//! (0600, refused when others can read it), written by `sslx-cds host add` and `gateway add`
//! (PROTOCOL.md 5F):
//!
//! ```text
//! # sslx key table of the host web1; keep it 0600, readable by sslx-execd only
//! principal host web1
//! key 2 SSLX-SERVICE-KEY-1…
//! key 1 SSLX-SERVICE-KEY-1… until 1790000000
//! ```
//!
//! Newest first; an older key (kept through a rotation) is valid until the time given.

use super::PrincipalKind;
use crate::crypto::Secret;
use crate::db::Column;
use crate::keys::{decode_line, encode_line, KeyError, LineKind};
use crate::Result;
use std::path::Path;

/// One key of a key table: its version, and until when an older one is still valid.
#[derive(Clone)]
pub struct KeyEntry {
    pub kvno: u32,
    pub key: Secret<32>,
    pub until: Option<u64>,
}

/// A service principal's keys.
#[derive(Clone)]
pub struct KeyTable {
    pub principal: String,
    pub kind: PrincipalKind,
    /// Newest first.
    pub keys: Vec<KeyEntry>,
}

impl KeyTable {
    /// The key to use now: the newest.
    pub fn current(&self) -> &KeyEntry {
        &self.keys[0]
    }

    /// The key of version `kvno`, if the table has it and it is still valid at `now`.
    pub fn key(&self, kvno: u32, now: u64) -> Option<&Secret<32>> {
        self.keys.iter().find(|e| e.kvno == kvno && e.until.is_none_or(|u| u > now)).map(|e| &e.key)
    }

    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        let what = match self.kind {
            PrincipalKind::Host => "host",
            PrincipalKind::Gateway => "gateway",
            PrincipalKind::User => "user",
        };
        let mut t = zeroize::Zeroizing::new(format!(
            "# sslx key table of the {what} {}; keep it 0600, readable only by the service that uses it\nprincipal {} {}\n",
            self.principal,
            self.kind.as_str(),
            self.principal
        ));
        for e in &self.keys {
            t.push_str(&format!("key {} {}", e.kvno, encode_line(LineKind::ServiceKey, e.key.expose())));
            if let Some(u) = e.until {
                t.push_str(&format!(" until {u}"));
            }
            t.push('\n');
        }
        t
    }

    pub fn parse(text: &str, path: &str) -> std::result::Result<Self, KeyError> {
        let damaged = |what: String| KeyError::Damaged { path: path.to_owned(), what };
        let mut principal = None;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["principal", kind, name] if principal.is_none() && keys.is_empty() => {
                    let kind = PrincipalKind::ALL
                        .iter()
                        .find(|(_, s)| s == kind)
                        .map(|(k, _)| *k)
                        .filter(|k| *k != PrincipalKind::User)
                        .ok_or_else(|| damaged(format!("line {}: {kind:?} is not host or gateway", n + 1)))?;
                    crate::keys::check_name(name).map_err(|e| damaged(format!("line {}: {e}", n + 1)))?;
                    principal = Some((kind, (*name).to_owned()));
                }
                ["key", kvno, k, rest @ ..] => {
                    let kvno: u32 =
                        kvno.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                            damaged(format!("line {}: {kvno:?} is not a key version (1 and up)", n + 1))
                        })?;
                    if principal.is_none() {
                        return Err(damaged(format!("line {}: a key before the principal line", n + 1)));
                    }
                    let d = zeroize::Zeroizing::new(decode_line(LineKind::ServiceKey, k)?);
                    let until = match rest {
                        [] => None,
                        ["until", t] => {
                            Some(t.parse().map_err(|_| damaged(format!("line {}: {t:?} is not a time", n + 1)))?)
                        }
                        _ => return Err(damaged(format!("line {}: unexpected {:?}", n + 1, rest.join(" ")))),
                    };
                    keys.push(KeyEntry { kvno, key: Secret::from_slice(&d).expect("32 bytes"), until });
                }
                _ => return Err(damaged(format!("line {}: not one principal line, then key lines", n + 1))),
            }
        }
        let (kind, principal) = principal.ok_or_else(|| damaged("no principal line".into()))?;
        if keys.is_empty() {
            return Err(damaged("no key".into()));
        }
        keys.sort_by_key(|e| std::cmp::Reverse(e.kvno));
        if keys.windows(2).any(|w| w[0].kvno == w[1].kvno) {
            return Err(damaged("two keys of one version".into()));
        }
        Ok(KeyTable { principal, kind, keys })
    }

    /// Reads a key table (refused when group or others can read it).
    pub fn load(path: &Path) -> Result<Self> {
        let text = zeroize::Zeroizing::new(crate::keys::read_secret_file(path)?);
        Ok(Self::parse(&text, &path.display().to_string())?)
    }

    /// Writes it 0600, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::keys::write_secret_atomic(path, self.to_text().as_bytes())
    }

    /// Writes it beside `path` (as `path.sslx-new`, 0600) without touching `path`: the caller
    /// commits what the table goes with, then [`KeyTable::put_in_place`] renames it.
    pub fn save_beside(&self, path: &Path) -> Result<std::path::PathBuf> {
        let mut new = path.as_os_str().to_owned();
        new.push(".sslx-new");
        let new = std::path::PathBuf::from(new);
        self.save(&new)?;
        Ok(new)
    }

    /// Renames a table written by [`KeyTable::save_beside`] into `path`.
    pub fn put_in_place(new: &Path, path: &Path) -> Result<()> {
        std::fs::rename(new, path).map_err(|e| crate::Error::io(format!("renaming {} into place", new.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_table_round_trips_and_an_older_key_lapses() {
        let t = KeyTable {
            principal: "web1".into(),
            kind: PrincipalKind::Host,
            keys: vec![
                KeyEntry { kvno: 2, key: Secret::new([2; 32]), until: None },
                KeyEntry { kvno: 1, key: Secret::new([1; 32]), until: Some(100) },
            ],
        };
        let back = KeyTable::parse(&t.to_text(), "t").unwrap();
        assert_eq!((back.principal.as_str(), back.kind, back.current().kvno), ("web1", PrincipalKind::Host, 2));
        assert_eq!(back.key(1, 99).unwrap().expose(), &[1; 32]);
        assert!(back.key(1, 100).is_none() && back.key(3, 0).is_none());
        for bad in [
            "principal user bob\nkey 1 x\n",
            "principal host web1\n",
            "key 1 abc\n",
            "principal host web1\nkey one x\n",
        ] {
            assert!(KeyTable::parse(bad, "t").is_err(), "{bad}");
        }
        let text = t.to_text();
        let twice = format!("{}{}\n", text.as_str(), text.lines().nth(2).unwrap());
        let zero = text.replace("key 2 ", "key 0 ");
        let two_principals = format!("{}principal host x\n", text.as_str());
        let key_first = format!("{}\n{}", text.lines().nth(2).unwrap(), text.lines().nth(1).unwrap());
        for bad in [twice, zero, two_principals, key_first] {
            assert!(KeyTable::parse(&bad, "t").is_err(), "{bad}");
        }
    }
}
