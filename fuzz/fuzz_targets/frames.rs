//! Frames from any bytes: the parser and the stream reader agree, never panic, and what they
//! accept re-encodes to the same bytes; a session's record receiver refuses every frame.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sslx::wire::{read_frame, Frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::parse(data) {
        assert_eq!(f.to_bytes(), data);
        let key = sslx::crypto::Secret::new([3; 32]);
        for suite in [sslx::session::Suite::Aes256Gcm, sslx::session::Suite::ChaCha20Poly1305] {
            let mut r = sslx::session::RecordReceiver::new(suite, &key, [0; 32]);
            let mut body = f.body.clone();
            assert!(r.open(&f.header(), &mut body).is_err());
        }
    }
    let mut cursor = data;
    if let Ok(Some(f)) = read_frame(&mut cursor) {
        assert_eq!(f.to_bytes(), &data[..data.len() - cursor.len()]);
    }
    let mut fr = sslx::session::io::FrameReader::new(data);
    while let Ok(Some(_)) = fr.next_record() {}
});
