//! Key lines and the files they live in: every kind's decoder, the line finder and the
//! identity file parser, over any text. What decodes re-encodes to the same data.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::keys::{decode_line, encode_line, find_line, Identity, LineKind};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for kind in [LineKind::Public, LineKind::SecretKey, LineKind::Cdsk, LineKind::ReplyB, LineKind::PairKey] {
        if let Ok(d) = decode_line(kind, &text) {
            assert_eq!(decode_line(kind, &encode_line(kind, &d)).unwrap(), d);
        }
        let _ = find_line(kind, &text);
    }
    let _ = Identity::from_file_text(&text);
    let _ = sslx::keys::PublicIdentity::from_line(&text);
});
