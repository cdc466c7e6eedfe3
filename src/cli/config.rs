//! `sslx.toml` in the home: settings for commands an admin sets up once (`sslx recv` as a
//! service). A flag given on the command line overrides the file; the file overrides the
//! built-in default. Unknown keys are refused (a typo must not be silently ignored), and so is a
//! file others can write (`exec-after` runs what it says).
//!
//! ```toml
//! [recv]
//! into = "/srv/inbox/%F"
//! on-conflict = "rename"
//! exec-after = "/usr/local/bin/ingest \"$@\""
//! max-transfers = 4
//! ```

use crate::courier::tree::OnConflict;
use crate::keys::Home;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;

pub const FILE: &str = "sslx.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub recv: RecvConfig,
    /// Where it was read from (none: no file).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecvConfig {
    pub into: Option<String>,
    #[serde(default, deserialize_with = "on_conflict")]
    pub on_conflict: Option<OnConflict>,
    pub exec_after: Option<String>,
    pub max_transfers: Option<usize>,
}

fn on_conflict<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<OnConflict>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Reads `sslx.toml` from the home; no file is the empty config.
pub fn load(home: &Home) -> Result<Config> {
    use std::os::unix::fs::MetadataExt;
    let path = home.path(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let md = std::fs::metadata(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if md.mode() & 0o022 != 0 {
        return Err(Error::Usage(format!(
            "{} can be changed by others (mode {:o}), and its exec-after would run as you: chmod go-w it",
            path.display(),
            md.mode() & 0o777
        )));
    }
    let mut c: Config =
        toml::from_str(&text).map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
    c.path = Some(path);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_file_is_read_checked_for_typos_and_refused_when_others_can_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert!(load(&home).unwrap().recv.into.is_none(), "no file: the defaults");
        let p = home.path(FILE);
        std::fs::write(&p, "[recv]\ninto = \"in/%F\"\non-conflict = \"rename\"\nmax-transfers = 2\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = load(&home).unwrap();
        assert_eq!(
            (c.recv.into.as_deref(), c.recv.on_conflict, c.recv.max_transfers),
            (Some("in/%F"), Some(OnConflict::Rename), Some(2))
        );
        std::fs::write(&p, "[recv]\nin-to = \"x\"\n").unwrap();
        let e = load(&home).unwrap_err().to_string();
        assert!(e.contains("sslx.toml") && e.contains("in-to"), "{e}");
        std::fs::write(&p, "[recv]\non-conflict = \"merge\"\n").unwrap();
        assert!(load(&home).unwrap_err().to_string().contains("not one of fail, rename"));
        std::fs::write(&p, "[recv]\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(load(&home).unwrap_err().to_string().contains("chmod go-w"));
    }
}
