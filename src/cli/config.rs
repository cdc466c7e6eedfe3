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

/// Reads a settings file that only its reader (or root) can have written: owned by this user
/// or root, not writable by group or others (checked on the file opened, not on its name).
/// Returns its text and mode.
fn read_trusted(path: &std::path::Path, why: &str) -> Result<(String, u32)> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    let md = f.metadata().map_err(|e| Error::io(format!("reading {shown}"), e))?;
    let mode = md.mode() & 0o777;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me && md.uid() != 0 {
        return Err(Error::Usage(format!(
            "{shown} belongs to another user (uid {}), and {why}: refused (chown it)",
            md.uid()
        )));
    }
    if mode & 0o022 != 0 {
        return Err(Error::Usage(format!(
            "{shown} can be changed by others (mode {mode:o}), and {why}: chmod go-w it"
        )));
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(|e| Error::io(format!("reading {shown}"), e))?;
    Ok((text, mode))
}

/// Reads `sslx.toml` from the home; no file is the empty config.
pub fn load(home: &Home) -> Result<Config> {
    let path = home.path(FILE);
    let (text, _mode) = match read_trusted(&path, "its exec-after would run as you") {
        Ok(x) => x,
        Err(Error::Io { io, .. }) if io.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(e),
    };
    let mut c: Config =
        toml::from_str(&text).map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
    c.path = Some(path);
    Ok(c)
}

/// A settings file for a command whose every setting is a flag (`sslx-cds serve --config`):
/// each key is a long flag of `cmd` without its `--`; the flags it gives, as command-line
/// arguments, for the settings the command line (and the environment) did not give already.
/// `given(id)`: whether the argument with that id came from the command line or environment.
/// Refused: an unknown key (with the file's name), `config` itself, a value of the wrong shape,
/// and a file others can write (or read, when it holds `smtp`: its URL may carry a password).
pub fn flags_from_file(
    path: &std::path::Path,
    cmd: &clap::Command,
    given: impl Fn(&str) -> bool,
) -> Result<Vec<std::ffi::OsString>> {
    let shown = path.display();
    let (text, mode) = read_trusted(path, "its settings would be theirs")?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Error::Usage(format!("{shown}: {}", e.to_string().trim_end())))?;
    if table.contains_key("smtp") && mode & 0o077 != 0 {
        return Err(Error::Usage(format!(
            "{shown} holds smtp (its URL may carry a password) and others can read it (mode {mode:o}): chmod 600 it"
        )));
    }
    let mut out = Vec::new();
    for (key, value) in &table {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config" && key != "help")
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{shown}: {key:?} is not a setting (the settings are the flags of `{} --help` without their --)",
                    cmd.get_name()
                ))
            })?;
        if given(arg.get_id().as_str()) {
            continue;
        }
        let flag = format!("--{key}");
        let takes_value = arg.get_action().takes_values();
        let bad = |what: &str| Error::Usage(format!("{shown}: {key} must be {what}"));
        match value {
            toml::Value::Boolean(b) if !takes_value => {
                if *b {
                    out.push(flag.into());
                }
            }
            _ if !takes_value => return Err(bad("true or false")),
            toml::Value::String(s) => out.extend([flag.into(), s.into()]),
            toml::Value::Integer(n) => out.extend([flag.into(), n.to_string().into()]),
            toml::Value::Array(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Some(s.clone()),
                        toml::Value::Integer(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect();
                let parts = parts.ok_or_else(|| bad("a list of strings"))?;
                out.extend([flag.into(), parts.join(",").into()]);
            }
            _ => return Err(bad("a string or a number")),
        }
    }
    Ok(out)
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
