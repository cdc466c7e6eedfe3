//! Exit codes, shared by every sslx command (listed in the man pages).

/// 0 ok, 1 failure, 2 usage, 3 verification failed, 4 expired, 5 refused, 6 not found,
/// 7 unavailable, 130 interrupted.
pub const EXIT_CODES_HELP: &str = "Exit status: 0 ok, 1 failure, 2 usage, 3 verification failed (MAC, signature, checksum, denied), 4 expired or clock skew, 5 refused by the CDS, 6 not found, 7 CDS or server unavailable, 8 malformed input, 9 not for this node, 130 interrupted.";

use crate::Error;

/// Finds the library error in an anyhow chain and maps it to an exit code and a hint.
pub fn classify(err: &anyhow::Error) -> (u8, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return (e.kind().exit_code(), hint(e));
        }
        if let Some(k) = cause.downcast_ref::<crate::keys::KeyError>() {
            return (k.kind().exit_code(), k.hint());
        }
        // A file named on the command line that is not there is "not found", as everywhere.
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) {
            return (crate::ErrorKind::NotFound.exit_code(), None);
        }
    }
    (1, None)
}

/// A daemon's failure (`sslx-cds`, `sslx-gateway`, `sslx-execd`): `PROGRAM: error: …` and its
/// hint on stderr, and the exit code.
pub fn report(program: &str, err: &anyhow::Error) -> std::process::ExitCode {
    let (code, hint) = classify(err);
    eprintln!("{program}: error: {err:#}");
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
    std::process::ExitCode::from(code)
}

pub fn hint(e: &Error) -> Option<String> {
    match e {
        Error::Key(k) => k.hint(),
        Error::Token(t) => t.hint(),
        // Only when the CDS itself could not be reached: not when a peer hung up or a
        // connection was cut half-way (those messages say what happened and what to do).
        Error::Unavailable(m) if m.starts_with("cannot reach the CDS") => {
            Some("is sslx-cds running? Check --cds HOST:PORT (or SSLX_CDS)".into())
        }
        // The CDS took a renewal whose answer was lost: the home still uses the old key.
        Error::Refused { code: 6, reason } if reason.contains("wrong or replaced key") => Some(
            "if a renewal of this home's CDS key was cut (sslx status says so), sslx vsu --renew finishes it".into(),
        ),
        _ => None,
    }
}
