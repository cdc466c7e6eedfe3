//! Key material as text lines, the participant's identity, and the home that keeps them.

mod identity;
mod keystore;
mod line;
mod pairs;

pub use identity::{check_name, is_name_shaped, Identity, PublicIdentity};
pub use keystore::{
    check_secret_file_mode, load_identity_file, open_special, prepare_secret_file, private_dir, read_secret_file,
    write_atomic, write_secret_atomic, Home,
};
pub use line::{decode_line, encode_line, find_line, LineKind};
pub use pairs::{closest_peer, is_paired, load_pair_key, paired_peers, paired_since, remove_pair_key, save_pair_key};

use crate::ErrorKind;

/// Why a key line was refused, as a class (vectors name these, not message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFailure {
    Checksum,
    WrongKind,
    WrongLength,
    Malformed,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a valid {expected} line: {why}")]
    BadLine { expected: &'static str, why: String, class: LineFailure },
    #[error("{path}: secret file is readable by group or others (mode {mode:o})")]
    Exposed { path: String, mode: u32 },
    /// A directory for secrets (reply B's outbox, PINs, bundles) that others can write in.
    #[error("{path}: group or others can write in this directory (mode {mode:o}): no secrets are kept there")]
    SharedDir { path: String, mode: u32 },
    /// A directory for secrets that belongs to another user.
    #[error("{path}: this directory belongs to another user (uid {owner}): no secrets are kept there")]
    ForeignDir { path: String, owner: u32 },
    #[error("no identity in {0}: this home was never set up (nothing was done, nothing created)")]
    NoIdentity(String),
    #[error("an identity already exists in {0}")]
    IdentityExists(String),
    #[error("{0}")]
    Invalid(String),
    /// A file sslx keeps is not as sslx wrote it (damaged, or edited by hand).
    #[error("{path}: {what}: the file is damaged (sslx did not write it so)")]
    Damaged { path: String, what: String },
}

impl KeyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeyError::BadLine { .. } => ErrorKind::VerifyFailed,
            KeyError::Exposed { .. }
            | KeyError::SharedDir { .. }
            | KeyError::ForeignDir { .. }
            | KeyError::Damaged { .. } => ErrorKind::Failure,
            KeyError::NoIdentity(_) => ErrorKind::NotFound,
            KeyError::IdentityExists(_) | KeyError::Invalid(_) => ErrorKind::Usage,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            KeyError::Exposed { path, .. } => Some(format!("run: chmod 600 {path}")),
            KeyError::SharedDir { .. } | KeyError::ForeignDir { .. } => {
                Some("give a directory of its own (a missing one is made 0700)".into())
            }
            KeyError::NoIdentity(_) => Some(
                "a wrong home? (--home, SSLX_HOME; the default is $XDG_CONFIG_HOME/sslx); a new machine: sslx keygen \
                 --name NAME"
                    .into(),
            ),
            KeyError::IdentityExists(_) => Some("use another --home, or --force to replace it".into()),
            _ => None,
        }
    }
}
