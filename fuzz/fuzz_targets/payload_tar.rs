//! What a bundle carries, once its records verified: zstd chunks making a tar stream, unpacked
//! into a temp dir. Any bytes, as chunks and as a raw tar stream: never a panic, and nothing is
//! ever written outside the temp dir (the destination stays empty, the parent untouched).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fn unpack(tar_bytes: impl Read) {
    let work = tempfile::tempdir().unwrap();
    let (tmp, dest) = (work.path().join("tmp"), work.path().join("dest"));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    let mut archive = tar::Archive::new(tar_bytes);
    let _ = sslx::courier::tree::unpack(&mut archive, &tmp, &sslx::courier::tree::Destination::new(&dest));
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "unpack wrote into the destination");
    let names: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "unpack wrote beside its temp dir: {names:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = sslx::courier::payload::PayloadReader::new(data) {
        unpack(p);
    }
    unpack(data);
});
