//! The home's enrollment state (PROTOCOL.md 4, "the home"): the VSU under way, the assembled
//! and the confirmed CDSK, and where the CDS is. Every client flow that talks to the CDS reads
//! it from here (the VSU writes it).

use crate::crypto::Secret;
use crate::keys::{decode_line, Home, LineKind};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A participant's CDS key.
pub type Cdsk = Secret<32>;

/// The open request waiting for replies B and C (`vsu-pending.json`).
pub const PENDING_FILE: &str = "vsu-pending.json";
/// The assembled, not yet confirmed CDSK (secret).
pub const ASSEMBLED_FILE: &str = "cdsk.pending";
/// The confirmed CDSK (secret).
pub const CDSK_FILE: &str = "cdsk";
/// A renewal's new CDSK and nonce while the CDS has not said it installed it (secret; 5.8).
pub const RENEWING_FILE: &str = "cdsk.renewing";
/// Where the CDS is and what it confirmed (`cds.json`).
pub const CDS_STATE_FILE: &str = "cds.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingVsu {
    pub request_id: String,
    pub name: String,
    pub cds: String,
    pub cds_http: String,
    pub cds_sign_key: String,
    pub email: String,
    pub oob: String,
    pub created: u64,
    pub expires: u64,
    pub reply_a: String,
    /// The protocol addresses the CDS announced in reply A (several instances), remembered once
    /// the VSU is confirmed in place of the one it went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CdsState {
    pub name: String,
    pub cds: String,
    pub cds_http: String,
    pub cds_sign_key: String,
    pub request_id: String,
    pub confirmed_at: u64,
    pub key_expires: u64,
    /// When the key was last renewed (`sslx vsu --renew`), if it was since the VSU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<u64>,
}

/// A CDSK file of the home (`cdsk` or `cdsk.pending`), if there is one.
pub fn read_cdsk_file(home: &Home, file: &str) -> Result<Option<Cdsk>> {
    let p = home.path(file);
    if !p.exists() {
        return Ok(None);
    }
    let text = crate::keys::read_secret_file(&p)?;
    let line = crate::keys::find_line(LineKind::Cdsk, &text).ok_or_else(|| crate::keys::KeyError::Damaged {
        path: p.display().to_string(),
        what: "no SSLX-CDSK-1 line".into(),
    })?;
    let d = zeroize::Zeroizing::new(decode_line(LineKind::Cdsk, line)?);
    Ok(Secret::from_slice(&d))
}

/// The confirmed CDSK, if any.
pub fn load_cdsk(home: &Home) -> Result<Option<Cdsk>> {
    read_cdsk_file(home, CDSK_FILE)
}

/// The home's confirmed CDSK for a process that runs for long (`sslx recv`, `sslx listen`): read
/// again whenever the file changed, so a renewal (`sslx vsu --renew`, another process) reaches
/// it without a restart. A file that cannot be read keeps the key last read.
pub struct CurrentCdsk {
    home: Home,
    held: std::sync::Mutex<(Option<FileStamp>, Cdsk)>,
}

/// A file's inode and modification time (seconds, nanoseconds).
type FileStamp = (u64, i64, i64);

impl CurrentCdsk {
    pub fn new(home: &Home, key: Cdsk) -> Self {
        let seen = Self::stamp(&home.path(CDSK_FILE));
        CurrentCdsk { home: home.clone(), held: std::sync::Mutex::new((seen, key)) }
    }

    /// The file's inode and modification time (a rename puts a new inode in place).
    fn stamp(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
    }

    /// Whether a renewal of the key is not finished (`cdsk.renewing` is there): the CDS may
    /// already refuse the key the file holds.
    pub fn renewal_unfinished(&self) -> bool {
        self.home.path(RENEWING_FILE).exists()
    }

    /// The key as the file holds it now.
    pub fn get(&self) -> Cdsk {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = Self::stamp(&self.home.path(CDSK_FILE));
        if now.is_some() && now != held.0 {
            if let Ok(Some(k)) = read_cdsk_file(&self.home, CDSK_FILE) {
                *held = (now, k);
            }
        }
        held.1.clone()
    }
}

/// The CDS HTTP base URL for `standing`: the flag, else what the CDS announced.
pub fn cds_http(home: &Home, flag: Option<&str>) -> Result<String> {
    if let Some(f) = flag {
        return Ok(f.trim_end_matches('/').to_owned());
    }
    if let Some(s) = home.read_json::<CdsState>(CDS_STATE_FILE)? {
        return Ok(s.cds_http);
    }
    if let Some(p) = home.read_json::<PendingVsu>(PENDING_FILE)? {
        return Ok(p.cds_http);
    }
    Err(Error::Usage("no CDS HTTP address known: give --cds-http URL (or SSLX_CDS_HTTP)".into()))
}

/// The CDS protocol address: the flag, else the remembered one.
pub fn cds_addr(home: &Home, flag: Option<&str>) -> Result<String> {
    if let Some(f) = flag {
        return Ok(f.to_owned());
    }
    if let Some(s) = home.read_json::<CdsState>(CDS_STATE_FILE)? {
        return Ok(s.cds);
    }
    if let Some(p) = home.read_json::<PendingVsu>(PENDING_FILE)? {
        return Ok(p.cds);
    }
    Err(Error::Usage("no CDS address known: give --cds HOST:PORT (or SSLX_CDS)".into()))
}

/// The confirmed CDSK and this participant's name, or a clear "not enrolled".
pub fn enrolled(home: &Home) -> Result<(String, Secret<32>)> {
    let state: Option<CdsState> = home.read_json(CDS_STATE_FILE)?;
    let cdsk = load_cdsk(home)?;
    match (state, cdsk) {
        (Some(s), Some(k)) => Ok((s.name, k)),
        _ => Err(Error::NotFound(format!(
            "{} holds no confirmed CDS key: enroll first (sslx vsu, sslx assemble-key, sslx vsu --confirm)",
            home.dir.display()
        ))),
    }
}
