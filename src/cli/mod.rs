//! What the binaries share: time formatting, the home's VSU state, secret input, output.

pub mod args;
pub mod exit;
pub mod input;
pub mod progress;

/// Seconds since the Unix epoch (overridable for tests with `SSLX_NOW`, a Unix time).
pub fn now_unix() -> u64 {
    if let Some(t) = std::env::var("SSLX_NOW").ok().and_then(|v| v.parse().ok()) {
        return t;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// RFC 3339, UTC.
pub fn fmt_time(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}
