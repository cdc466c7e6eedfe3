//! Key lines: Bech32m with the kind as the human-readable prefix, so a line carries its kind and
//! a checksum and survives email and copy-paste. Secret kinds are upper case, as age's are.

use super::{KeyError, LineFailure};
use bech32::{Bech32m, Hrp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A participant's public identity: X25519 public ‖ Ed25519 public (64 bytes).
    Public,
    /// A participant's secret identity: X25519 secret ‖ Ed25519 seed (64 bytes).
    SecretKey,
    /// A CDS key (CDSK, 32 bytes).
    Cdsk,
    /// Reply B of the verified setup: request id ‖ offset(H2, H1) (32 bytes).
    ReplyB,
    /// A pair key (LTK) shared with one peer after `sslx pair` (32 bytes).
    PairKey,
    /// A service principal's key at the KDC (a host's for `sslx-execd`, a gateway's), kept in
    /// its key table (32 bytes).
    ServiceKey,
}

impl LineKind {
    pub fn hrp(self) -> &'static str {
        match self {
            LineKind::Public => "sslx-pub",
            LineKind::SecretKey => "SSLX-SECRET-KEY-",
            LineKind::Cdsk => "SSLX-CDSK-",
            LineKind::ReplyB => "sslx-reply-b",
            LineKind::PairKey => "SSLX-PAIR-KEY-",
            LineKind::ServiceKey => "SSLX-SERVICE-KEY-",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LineKind::Public => "public key",
            LineKind::SecretKey => "secret key",
            LineKind::Cdsk => "CDS key",
            LineKind::ReplyB => "reply B",
            LineKind::PairKey => "pair key",
            LineKind::ServiceKey => "service key",
        }
    }

    pub fn data_len(self) -> usize {
        match self {
            LineKind::Public | LineKind::SecretKey => 64,
            LineKind::Cdsk | LineKind::ReplyB | LineKind::PairKey | LineKind::ServiceKey => 32,
        }
    }

    fn is_secret(self) -> bool {
        matches!(self, LineKind::SecretKey | LineKind::Cdsk | LineKind::PairKey | LineKind::ServiceKey)
    }
}

pub fn encode_line(kind: LineKind, data: &[u8]) -> String {
    assert_eq!(data.len(), kind.data_len());
    let hrp = Hrp::parse(&kind.hrp().to_ascii_lowercase()).expect("valid HRP");
    let s = bech32::encode::<Bech32m>(hrp, data).expect("short enough for Bech32m");
    if kind.is_secret() {
        s.to_ascii_uppercase()
    } else {
        s
    }
}

/// Decodes one line of the given kind: the prefix, the checksum and the length must all hold.
pub fn decode_line(kind: LineKind, line: &str) -> Result<Vec<u8>, KeyError> {
    let bad = |class: LineFailure, why: String| KeyError::BadLine { expected: kind.name(), why, class };
    let line = line.trim();
    if line.len() > 1000 {
        return Err(bad(LineFailure::Malformed, format!("{} characters is too long", line.len())));
    }
    // Bech32m only (a Bech32 checksum is a wrong checksum), and the padding bits zero: one
    // spelling per key.
    use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError, ChecksumError};
    let checked = CheckedHrpstring::new::<Bech32m>(line).map_err(|e| match e {
        CheckedHrpstringError::Checksum(ChecksumError::InvalidResidue) => {
            bad(LineFailure::Checksum, "checksum mismatch (a character was changed, lost or added)".into())
        }
        other => bad(LineFailure::Malformed, format!("{other}")),
    })?;
    checked
        .validate_segwit_padding()
        .map_err(|e| bad(LineFailure::Malformed, format!("the last character's padding bits: {e}")))?;
    let (hrp, data): (Hrp, Vec<u8>) = (checked.hrp(), checked.byte_iter().collect());
    if !hrp.as_str().eq_ignore_ascii_case(kind.hrp()) {
        return Err(bad(LineFailure::WrongKind, format!("it is tagged '{}', expected '{}'", hrp.as_str(), kind.hrp())));
    }
    if data.len() != kind.data_len() {
        return Err(bad(
            LineFailure::WrongLength,
            format!("{} bytes of data, expected {}", data.len(), kind.data_len()),
        ));
    }
    Ok(data)
}

/// Finds the first line of `kind` in a text (an email, a file with comments).
pub fn find_line(kind: LineKind, text: &str) -> Option<&str> {
    let prefix = format!("{}1", kind.hrp());
    text.lines()
        .map(str::trim)
        .find(|l| l.len() > prefix.len() && l.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_line_does_not_panic_on_multibyte_text() {
        // "SSLX-CDSK-" is 10 bytes: a line whose 11th byte falls inside a character.
        assert_eq!(find_line(LineKind::Cdsk, "ééééé1xyz\nSSLX-CDSK-éé\n"), None);
        assert_eq!(find_line(LineKind::Cdsk, "aaaaaaaaaé"), None);
    }

    #[test]
    fn only_bech32m_with_zero_padding_is_a_key_line() {
        let data = [7u8; 32];
        let good = encode_line(LineKind::Cdsk, &data);
        assert_eq!(decode_line(LineKind::Cdsk, &good).unwrap(), data);
        // The same data under the original Bech32 checksum: a wrong checksum.
        let hrp = Hrp::parse(&LineKind::Cdsk.hrp().to_ascii_lowercase()).unwrap();
        let old = bech32::encode::<bech32::Bech32>(hrp, &data).unwrap().to_ascii_uppercase();
        let e = decode_line(LineKind::Cdsk, &old).unwrap_err();
        assert!(matches!(e, KeyError::BadLine { class: LineFailure::Checksum, .. }), "{e}");
        // Non-zero padding bits in the last data character (with a checksum made to match).
        let mut fes: Vec<bech32::Fe32> = bech32::primitives::decode::CheckedHrpstring::new::<Bech32m>(&good)
            .unwrap()
            .fe32_iter::<std::iter::Empty<u8>>()
            .collect();
        let last = fes.len() - 1;
        fes[last] = bech32::Fe32::try_from(fes[last].to_u8() | 1).unwrap();
        let unpadded: String = {
            use bech32::primitives::iter::Fe32IterExt;
            fes.into_iter().with_checksum::<Bech32m>(&hrp).chars().collect::<String>().to_ascii_uppercase()
        };
        let e = decode_line(LineKind::Cdsk, &unpadded).unwrap_err();
        assert!(matches!(e, KeyError::BadLine { class: LineFailure::Malformed, .. }), "{e}");
    }

    #[test]
    fn round_trips_each_kind() {
        for kind in [
            LineKind::Public,
            LineKind::SecretKey,
            LineKind::Cdsk,
            LineKind::ReplyB,
            LineKind::PairKey,
            LineKind::ServiceKey,
        ] {
            let data: Vec<u8> = (0..kind.data_len() as u8).collect();
            let line = encode_line(kind, &data);
            assert!(line.to_ascii_lowercase().starts_with(&kind.hrp().to_ascii_lowercase()));
            assert_eq!(decode_line(kind, &line).unwrap(), data);
        }
    }

    #[test]
    fn rejects_wrong_kind_and_flipped_character() {
        let line = encode_line(LineKind::Cdsk, &[1u8; 32]);
        assert!(decode_line(LineKind::ReplyB, &line).is_err());
        let mut b = line.into_bytes();
        let i = b.len() - 5;
        b[i] = if b[i] == b'Q' { b'P' } else { b'Q' };
        let err = decode_line(LineKind::Cdsk, std::str::from_utf8(&b).unwrap()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
