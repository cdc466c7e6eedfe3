//! The receiving side as a service: where each arrival goes (`--into` with strftime fields, so
//! every night has its folder) and the command run after it (`--exec-after`).

use super::transfer::Got;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use time::format_description::OwnedFormatItem;
use time::OffsetDateTime;

/// A destination folder whose strftime fields (`%F`, `%Y`, `%H`…, `%%` for a `%`) are filled
/// in with the time of each arrival.
#[derive(Debug, Clone)]
pub struct IntoPattern {
    raw: String,
    fields: Option<OwnedFormatItem>,
}

impl IntoPattern {
    /// Checks the pattern's fields now, so a typo fails at start and not at the first arrival.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::Usage("--into is empty: give a folder (. for this one)".into()));
        }
        let fields = if raw.contains('%') {
            let f = time::format_description::parse_strftime_owned(raw)
                .map_err(|e| Error::Usage(format!("--into {raw:?}: {e} (a literal % is written %%)")))?;
            Some(f)
        } else {
            None
        };
        Ok(IntoPattern { raw: raw.to_owned(), fields })
    }

    /// Whether the folder depends on the time.
    pub fn is_dated(&self) -> bool {
        self.fields.is_some()
    }

    /// The folder for an arrival at `at` (in the zone `at` carries).
    pub fn at(&self, at: OffsetDateTime) -> Result<PathBuf> {
        match &self.fields {
            None => Ok(PathBuf::from(&self.raw)),
            Some(f) => {
                let s = at.format(f).map_err(|e| Error::Usage(format!("--into {:?}: {e}", self.raw)))?;
                Ok(PathBuf::from(s))
            }
        }
    }
}

/// Runs `command` (with `sh -c`) after an arrival placed in `dir`: the placed paths are its
/// arguments (`"$@"`, never spliced into the command line: they are the sender's names), and
/// SSLX_PEER, SSLX_BUNDLE, SSLX_INTO, SSLX_VIA, SSLX_FILES and SSLX_BYTES say what arrived. Its
/// stdin is empty and its stdout goes to our stderr (our stdout may be NDJSON). Returns once it
/// has exited: an error when it could not start or did not exit 0.
pub fn run_after(command: &str, got: &Got, dir: &Path, via: &str) -> Result<()> {
    let paths: Vec<PathBuf> = got.unpacked.names.iter().map(|n| dir.join(n)).collect();
    use std::os::fd::AsFd;
    let stdout = std::io::stderr().as_fd().try_clone_to_owned().map_err(|e| Error::io("duplicating stderr", e))?;
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .arg("sslx-exec-after")
        .args(&paths)
        .env("SSLX_PEER", &got.peer)
        .env("SSLX_BUNDLE", &got.bundle)
        .env("SSLX_INTO", dir)
        .env("SSLX_VIA", via)
        .env("SSLX_FILES", got.unpacked.files.to_string())
        .env("SSLX_BYTES", got.unpacked.bytes.to_string())
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .status()
        .map_err(|e| Error::io(format!("starting --exec-after {command:?}"), e))?;
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
        (Some(c), _) => format!("exited with {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".to_owned(),
    };
    Err(Error::Other(format!("--exec-after {how} for bundle {} from {}", got.bundle, got.peer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_folder_is_filled_in_at_each_arrival_and_a_bad_field_fails_at_once() {
        let at = time::macros::datetime!(2026-12-03 02:30:05 +01:00);
        let p = IntoPattern::parse("inbox/%F/%H%M").unwrap();
        assert!(p.is_dated());
        assert_eq!(p.at(at).unwrap(), PathBuf::from("inbox/2026-12-03/0230"));
        assert_eq!(IntoPattern::parse("100%%/x").unwrap().at(at).unwrap(), PathBuf::from("100%/x"));
        let plain = IntoPattern::parse("in box").unwrap();
        assert!(!plain.is_dated());
        assert_eq!(plain.at(at).unwrap(), PathBuf::from("in box"));
        for bad in ["inbox/%Q", "inbox/%", ""] {
            assert!(matches!(IntoPattern::parse(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
