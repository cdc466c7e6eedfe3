//! The `rust-version` in Cargo.toml is true: no locked dependency asks for a newer Rust (the
//! machine has one toolchain, so this and clippy's `incompatible_msrv` lint, which checks our
//! own uses of the standard library against it, are the MSRV check).

/// `1.88` and `1.88.0` alike, as (major, minor, patch).
fn version(v: &str) -> [u32; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part.parse().expect("a numeric Rust version");
    }
    out
}

#[test]
fn no_locked_dependency_needs_a_newer_rust_than_rust_version_says() {
    // The packages this machine builds (a fresh machine has no others downloaded: offline,
    // the Windows-only ones would fail the resolution; sslx is built for Unix only).
    let cargo = std::process::Command::new(env!("CARGO")).arg("-vV").output().expect("running cargo -vV");
    let host = String::from_utf8_lossy(&cargo.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("cargo -vV names the host");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1", "--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages.iter().find(|p| p["name"] == "sslx").expect("the sslx package");
    let msrv = version(ours["rust_version"].as_str().expect("sslx declares rust-version"));
    let mut newer: Vec<String> = packages
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?, p["version"].as_str()?, p["rust_version"].as_str()?)))
        .filter(|(_, _, rv)| version(rv) > msrv)
        .map(|(n, v, rv)| format!("{n} {v} needs Rust {rv}"))
        .collect();
    newer.sort();
    assert!(newer.is_empty(), "rust-version {msrv:?} is not true: {newer:#?}");
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    assert!(!manifest.contains("incompatible_msrv"), "the MSRV lint stays on");
}
