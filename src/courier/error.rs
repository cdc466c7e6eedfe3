//! What goes wrong in a pairing or a transfer, by kind: the peer is not the one asked for, a
//! proof does not verify, the short strings differ, a bundle is replayed, cut off or malformed,
//! an entry would land outside its destination. Each is a failed verification (exit 3), and
//! nothing is saved or kept.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourierError {
    /// The peer of this exchange answers as someone else (`role`: the peer, the recipient).
    #[error("the {role} answered as {said:?}, not {expected:?}")]
    AnsweredAs { role: &'static str, said: String, expected: String },
    /// The caller's pairing A1 names another account than the one the call came from.
    #[error("the caller {caller:?} calls itself {said:?} in A1")]
    CallsItself { caller: String, said: String },
    /// A live A1 names other parties or another mode than this call's.
    #[error("A1 names {from:?} → {to:?} on a call from {peer:?} to {me:?}")]
    WrongParties { from: String, to: String, peer: String, me: String },
    /// A transfer's A2 is for another account than this home's.
    #[error("A2 is for {said:?}, this home is {me:?}")]
    NotForThisHome { said: String, me: String },
    /// A bundle from a mailbox claims another sender than the one who deposited it.
    #[error("the bundle says it is from {said:?}, but {depositor:?} left it in the mailbox: refused")]
    NotFromDepositor { said: String, depositor: String },
    /// The listener reached is another participant than the one named.
    #[error("{target} is {said}, not {expected}")]
    ListenerIsAnother { target: String, said: String, expected: String },

    /// Proof B (pairing or transfer) does not verify.
    #[error("{peer}'s proof B does not verify: {why}")]
    ProofB { peer: String, why: String },
    #[error(
        "proof A does not verify: the sender does not hold our pair key (paired with someone else, or \
         re-paired since), or the transfer was made for another direction, suite or recipient"
    )]
    ProofA,
    #[error("KeyProof does not verify: DeltaKey was altered")]
    KeyProof,
    #[error("FileProof does not verify: the bundle was altered; nothing was kept")]
    FileProof,
    #[error("{peer}'s confirmation does not match this pairing: the two sides hold different keys")]
    PairConfirmation { peer: String },
    #[error("RandomA does not match its hash in A1: the commitment was broken")]
    CommitmentBroken,
    #[error("the peer's X25519 public key is invalid (a low-order point)")]
    LowOrderPoint,

    /// The string typed on this side is not this pairing's.
    #[error(
        "the string does not match this pairing's: nothing was saved. Misheard, or someone is between you \
         and {peer}: pair again, and if it fails again, do not trust this connection"
    )]
    StringMismatch { peer: String },
    /// The string the acceptor's side shows is not the initiator's.
    #[error(
        "the string {peer}'s side shows is not this side's: nothing was saved. Someone may be between you \
         and {peer}: pair again, and if it fails again, do not trust this connection"
    )]
    TheirStringMismatch { peer: String },
    #[error("not confirmed: nothing was saved")]
    NotConfirmed,

    #[error("not an sslx bundle: it starts with a frame of type 0x{0:02x}, not transfer packet A1")]
    NotABundle(u8),
    #[error(
        "not an sslx bundle: this is text (a bundle starts with byte 0x58, an armored one with the line \
         -----BEGIN SSLX BUNDLE-----)"
    )]
    TextNotABundle,
    #[error("this is a recorded live transfer, not a bundle: refused")]
    RecordedLive,
    #[error("bundle {bundle} from {from} was opened before: a replayed bundle is refused")]
    Replayed { bundle: String, from: String },
    #[error("this bundle was opened meanwhile by another sslx recv")]
    OpenedMeanwhile,
    #[error("the bundle was cut off {0}: nothing was kept")]
    CutOff(&'static str),
    #[error("there are bytes after the bundle's trailer: nothing was kept")]
    AfterTrailer,
    #[error("a bundle record carries {len} bytes, over the {max}-byte limit")]
    RecordTooLarge { len: usize, max: usize },
    #[error("0x{0:02x} where the bundle trailer belongs")]
    NotTheTrailer(u8),
    #[error("the trailer says {said} payload bytes, the records carried {carried}: nothing was kept")]
    LengthMismatch { said: u64, carried: u64 },
    #[error("the payload is malformed: {0}")]
    MalformedPayload(String),
    /// A tar entry that would land outside its destination, or is not accepted.
    #[error("refused: {0}; nothing was kept")]
    UnsafeEntry(String),
    #[error("a second finished record")]
    SecondFinished,
    /// Resuming: the start of this side's tar stream is no longer what the recipient kept.
    #[error(
        "a file changed while it was sent (the part the recipient kept is no longer what is here): nothing \
         more was sent; send again"
    )]
    ChangedWhileSent,
}

impl CourierError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CourierError::ChangedWhileSent => crate::ErrorKind::Failure,
            _ => crate::ErrorKind::VerifyFailed,
        }
    }
}
