//! Reply B out of a whole email (quoted-printable, `>` quoting, any text around it) and the PIN
//! out of a reply C message: never a panic, whatever the mail looks like.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(b) = sslx::vsu::ReplyB::find_in(&text) {
        // What it found is a reply B line, and reads back as itself.
        assert_eq!(sslx::vsu::ReplyB::find_in(&b.to_armor()).unwrap(), b);
    }
    let _ = sslx::vsu::ReplyC::pin_in(&text);
});
