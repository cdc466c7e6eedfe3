//! The pair keys (LTKs) this home shares with its peers: one 0600 file per peer under
//! `pairs/`, written by pairing (courier) and read by the courier and by a listener's allow list.

use super::{check_name, decode_line, encode_line, read_secret_file, write_secret_atomic, Home, LineKind};
use crate::crypto::Secret;
use crate::{Error, Result};
use zeroize::Zeroize;

fn pair_key_path(home: &Home, peer: &str) -> Result<std::path::PathBuf> {
    check_name(peer)?;
    Ok(home.path("pairs").join(format!("{peer}.key")))
}

/// Saves the LTK for `peer` (0600, atomically), replacing an older pairing.
pub fn save_pair_key(home: &Home, peer: &str, ltk: &Secret<32>) -> Result<std::path::PathBuf> {
    let path = pair_key_path(home, peer)?;
    home.ensure()?;
    let dir = path.parent().expect("pairs dir");
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let line = format!("{}\n", encode_line(LineKind::PairKey, ltk.expose()));
    write_secret_atomic(&path, line.as_bytes())?;
    Ok(path)
}

/// The LTK shared with `peer`, if the two are paired.
pub fn load_pair_key(home: &Home, peer: &str) -> Result<Option<Secret<32>>> {
    let path = pair_key_path(home, peer)?;
    if !path.exists() {
        return Ok(None);
    }
    let text = read_secret_file(&path)?;
    let mut data = decode_line(LineKind::PairKey, text.trim())?;
    let key = Secret::from_slice(&data).expect("checked length");
    data.zeroize();
    Ok(Some(key))
}

/// The peers this home is paired with.
pub fn paired_peers(home: &Home) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(home.path("pairs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".key").map(str::to_owned))
        .collect();
    v.sort();
    v
}

/// Whether this home is paired with `peer`: its pair key loads (a bad name, a damaged file or
/// one readable by others is no pairing).
pub fn is_paired(home: &Home, peer: &str) -> bool {
    load_pair_key(home, peer).is_ok_and(|k| k.is_some())
}

/// When the pair key for `peer` was saved (Unix seconds), if there is one.
pub fn paired_since(home: &Home, peer: &str) -> Option<u64> {
    let md = std::fs::metadata(pair_key_path(home, peer).ok()?).ok()?;
    md.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Forgets the pairing with `peer` (its pair key file goes); false if there was none.
pub fn remove_pair_key(home: &Home, peer: &str) -> Result<bool> {
    let path = pair_key_path(home, peer)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// The paired peer whose name is closest to `name` (a typo in `--to`), if one is close.
pub fn closest_peer(home: &Home, name: &str) -> Option<String> {
    paired_peers(home)
        .into_iter()
        .map(|p| (strsim::damerau_levenshtein(&p, name), p))
        .filter(|(d, p)| *d <= 2.max(p.len() / 3))
        .min()
        .map(|(_, p)| p)
}
