//! The library's error type and the kinds that map to exit codes (`cli::exit`).

use crate::keys::KeyError;
use crate::wire::WireError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure, for exit codes and for scripts (`--json` carries `kind` as a stable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything else (I/O, internal).
    Failure,
    /// Bad arguments or a bad local file the user named.
    Usage,
    /// A MAC, signature, proof, checksum or AEAD tag did not verify, or the CDS denied.
    VerifyFailed,
    /// Something has expired or is not yet valid.
    Expired,
    /// The peer (the CDS) refused, with a reason.
    Refused,
    /// A name, request or key is not known.
    NotFound,
    /// The peer could not be reached or timed out.
    Unavailable,
    /// Input that does not parse at all (a token's layout or checksum).
    Malformed,
    /// Addressed to another node (a token sealed to someone else).
    NotForUs,
}

impl ErrorKind {
    /// The exit code every sslx command uses for this kind (documented in the man pages).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failure => 1,
            ErrorKind::Usage => 2,
            ErrorKind::VerifyFailed => 3,
            ErrorKind::Expired => 4,
            ErrorKind::Refused => 5,
            ErrorKind::NotFound => 6,
            ErrorKind::Unavailable => 7,
            ErrorKind::Malformed => 8,
            ErrorKind::NotForUs => 9,
        }
    }

    /// A stable lower-case code for `--json` output.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Failure => "failure",
            ErrorKind::Usage => "usage",
            ErrorKind::VerifyFailed => "verify_failed",
            ErrorKind::Expired => "expired",
            ErrorKind::Refused => "refused",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Malformed => "malformed",
            ErrorKind::NotForUs => "not_for_us",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
    /// A pairing or a transfer (the courier).
    #[error(transparent)]
    Courier(#[from] crate::courier::CourierError),
    /// A session's handshake or stream.
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    /// A session's or a bundle's record.
    #[error(transparent)]
    Record(#[from] crate::session::record::RecordError),
    /// One of the SQLite files (the CDS store, the courier log, a cache).
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// Crypto failures stay opaque: what failed to verify, never why.
    #[error("{0}")]
    VerifyFailed(String),
    /// An answer or a push said to come from the CDS does not open under this participant's
    /// CDSK: it is not from the CDS, or not for this participant, or was altered.
    #[error("{0} did not verify under this machine's CDS key")]
    NotFromTheCds(&'static str),
    /// The CDS's answer is about another name than the one asked for.
    #[error("the CDS {what} {said:?}, not {expected:?}")]
    CdsNamedOther { what: &'static str, said: String, expected: String },
    #[error("{what} (now {now}, {edge})")]
    Expired { what: String, now: String, edge: String },
    #[error("refused by the CDS: {reason}")]
    Refused { code: u16, reason: String },
    /// A newer hook of this participant for the same service took this one's place at the CDS.
    #[error(
        "another sslx went on hook at the CDS as {name} for service {service:?}, so this one stops \
         (one process per participant and service)"
    )]
    HookReplaced { name: String, service: String },
    /// The peer of a courier exchange refused (its negative acknowledge), with its reason.
    #[error("{peer} refused: {reason}")]
    PeerRefused { peer: String, code: u16, reason: String },
    /// A transfer would place `name` where something of that name is (`path`).
    #[error(
        "{path} already exists: nothing was replaced (move it away, or receive with --on-conflict rename, \
         overwrite or skip)"
    )]
    Exists { name: String, path: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Usage(String),
    /// The I/O error is part of the message, not a source (it would print twice in a chain).
    #[error("{context}: {io}")]
    Io { context: String, io: std::io::Error },
    /// Whoever reads our output went away (`sslx dial … | head`): not the session's fault.
    #[error("the output was closed before the stream ended")]
    OutputClosed,
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Wire(_) => ErrorKind::VerifyFailed,
            Error::Key(k) => k.kind(),
            Error::Token(t) => t.kind(),
            Error::Db(_) => ErrorKind::Failure,
            Error::Record(r) => r.kind(),
            Error::Session(s) => s.kind(),
            Error::Courier(c) => c.kind(),
            Error::VerifyFailed(_) | Error::NotFromTheCds(_) | Error::CdsNamedOther { .. } => ErrorKind::VerifyFailed,
            Error::Expired { .. } => ErrorKind::Expired,
            Error::Refused { code, .. } => crate::wire::RefusalCode::kind_of(*code),
            Error::PeerRefused { code, .. } => crate::wire::RefusalCode::kind_of(*code),
            Error::HookReplaced { .. } => ErrorKind::Refused,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Usage(_) => ErrorKind::Usage,
            // A name that exists where files are received: refused by the destination's rule.
            Error::Exists { .. } => ErrorKind::Refused,
            // A file named on the command line (or one sslx keeps) that is not there.
            Error::Io { io, .. } if io.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Error::Io { .. } | Error::OutputClosed | Error::Other(_) => ErrorKind::Failure,
        }
    }

    /// The refusal code a local failure is reported to a peer with (a refused frame, a receipt's
    /// status): the same failure gets the same code everywhere (PROTOCOL.md 5.7).
    pub fn refusal_code(&self) -> crate::wire::RefusalCode {
        use crate::wire::{RefusalCode, WireError};
        match self {
            Error::Wire(WireError::UnsupportedVersion(_)) => RefusalCode::Incompatible,
            Error::Wire(_) => RefusalCode::Malformed,
            Error::Exists { .. } => RefusalCode::NameTaken,
            // The recipient's own I/O (a folder that is gone, a full disk): 10, whatever its kind.
            Error::Io { .. } => RefusalCode::Internal,
            e => match e.kind() {
                ErrorKind::VerifyFailed => RefusalCode::BadSignature,
                ErrorKind::NotFound => RefusalCode::NotFound,
                ErrorKind::Expired => RefusalCode::Expired,
                ErrorKind::Failure | ErrorKind::Unavailable => RefusalCode::Internal,
                _ => RefusalCode::BadRequest,
            },
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), io: source }
    }
}

/// What a refusal means for the user: "expired" or "clock skew" print both clocks; the rest
/// is refused with the peer's reason.
pub fn refusal_error(r: crate::wire::Refused) -> Error {
    use crate::wire::RefusalCode;
    match RefusalCode::from_u16(r.code) {
        Some(RefusalCode::Expired) | Some(RefusalCode::ClockSkew) => Error::Expired {
            what: format!("refused by the CDS: {}", r.reason),
            now: crate::clock::fmt_time(crate::clock::now_unix()),
            edge: format!("CDS clock {}", crate::clock::fmt_time(r.server_time)),
        },
        _ => Error::Refused { code: r.code, reason: r.reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipients_own_io_failure_reaches_the_peer_as_10_whatever_its_kind() {
        let gone = Error::io("creating a temp dir in inbox/2026-12-03", std::io::ErrorKind::NotFound.into());
        assert_eq!(gone.kind(), ErrorKind::NotFound, "exit 6 on this side");
        assert_eq!(gone.refusal_code(), crate::wire::RefusalCode::Internal, "not 2 (not paired) to the peer");
        let exists = Error::Exists { name: "docs".into(), path: "/srv/in/docs".into() };
        assert_eq!((exists.kind(), exists.refusal_code()), (ErrorKind::Refused, crate::wire::RefusalCode::NameTaken));
    }
}
