//! Public standing of a participant (seed 000 [0045]–[0046]): served as JSON over HTTP.

use super::store::Participant;

pub use crate::vsu::standing::Standing;

impl Standing {
    pub fn of(p: &Participant, now: u64) -> Self {
        let t = crate::clock::fmt_time;
        Standing {
            name: p.name.clone(),
            status: if p.key_expires > now { crate::db::Column::as_str(p.status).into() } else { "expired".into() },
            public_key: Some(crate::keys::PublicIdentity { x25519: p.x25519, ed25519: p.ed25519 }.to_line()),
            first_vsu: Some(t(p.first_vsu)),
            last_vsu: Some(t(p.last_vsu)),
            vsu_count: p.vsu_count,
            channels: p.channels.split(',').map(str::to_owned).collect(),
            key_expires: Some(t(p.key_expires)),
            key_renewed: p.key_renewed.map(t),
            key_life_days: Some(p.key_expires.saturating_sub(p.key_renewed.unwrap_or(p.last_vsu)) / 86400),
        }
    }

    pub fn pending(name: &str) -> Self {
        Standing {
            name: name.to_owned(),
            status: "pending".into(),
            public_key: None,
            first_vsu: None,
            last_vsu: None,
            vsu_count: 0,
            channels: vec![],
            key_expires: None,
            key_renewed: None,
            key_life_days: None,
        }
    }
}
