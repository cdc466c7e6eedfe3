//! A participant's public standing at its CDS (seed 000 [0045]-[0046]; PROTOCOL.md 6): the JSON
//! document the CDS serves over HTTP and `sslx standing` reads.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Standing {
    pub name: String,
    /// `confirmed`, `expired` (key life over) or `pending` (a VSU is under way, none confirmed yet).
    pub status: String,
    pub public_key: Option<String>,
    pub first_vsu: Option<String>,
    pub last_vsu: Option<String>,
    pub vsu_count: u32,
    pub channels: Vec<String>,
    pub key_expires: Option<String>,
    /// When the key was last renewed (`sslx vsu --renew`) since the last VSU; absent from a CDS
    /// older than renewal.
    #[serde(default)]
    pub key_renewed: Option<String>,
    /// Days from the last VSU (or renewal) to the key's expiry.
    pub key_life_days: Option<u64>,
}
