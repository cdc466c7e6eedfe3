//! What goes wrong in a session's handshake and stream, as kinds (the record layer's own
//! failures are `RecordError`). Every one is about the peer's bytes or the connection, so each
//! is "did not verify" (exit 3), except a peer that stops answering (`Error::Unavailable`).

use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer's X25519 ephemeral key is a low-order point (no shared secret).
    #[error("the peer's X25519 ephemeral key is invalid")]
    InvalidEphemeral,
    /// The server's M2 does not answer this client's M1.
    #[error("the server's M2 is not valid: {0}")]
    BadM2(&'static str),
    /// The server's M2 names another server than the one called.
    #[error("the server calls itself {said:?}, not {expected:?}")]
    ServerNamedOther { said: String, expected: String },
    /// The CDS relay connected a listener announcing another name than the one called.
    #[error("the relay connected a listener calling itself {said:?}, not {expected:?}")]
    RelayConnectedOther { said: String, expected: String },
    /// A listener met directly announces another name than the one expected there.
    #[error(
        "the listener at {addr} says it is {said:?}, not {expected:?}: refused before anything was sent \
         (if {said} is whom you meant, dial {said}@{addr})"
    )]
    ListenerNamedOther { addr: String, said: String, expected: String },
    /// The stream ended where more was due.
    #[error("the stream was cut off {0}: the data is incomplete")]
    CutOff(&'static str),
    /// The peer reset the connection.
    #[error("the connection was cut: {0}")]
    ConnectionCut(std::io::Error),
    /// A finished record where the peer's data belongs.
    #[error("a second finished record")]
    SecondFinished,
    /// The listener's final record says it holds an exit status that does not decode.
    #[error("the listener's command's exit status is malformed")]
    BadExitStatus,
}

impl SessionError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::VerifyFailed
    }
}
