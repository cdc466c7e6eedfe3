//! The clock, at the bottom of the library: flows take `now` as an argument, and the binaries
//! (and daemons) read it here.
//!
//! Debug builds (the ones `cargo test` drives) read a fixed time from `SSLX_TEST_NOW` (Unix
//! seconds) so that tests can move a process's clock; release builds never look at it, so
//! nobody can make a release `sslx` accept an expired token by setting a variable.

/// The variable a debug build takes its clock from, when set.
pub const TEST_CLOCK_VAR: &str = "SSLX_TEST_NOW";

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    now_with_override(cfg!(debug_assertions), std::env::var(TEST_CLOCK_VAR).ok().as_deref())
}

/// The system clock, or `overridden` when `allowed` (debug builds) and it is a Unix time.
pub fn now_with_override(allowed: bool, overridden: Option<&str>) -> u64 {
    if allowed {
        if let Some(t) = overridden.and_then(|v| v.trim().parse().ok()) {
            return t;
        }
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where a long-running part reads the time (the CDS: its purge, expiries, the billing tape,
/// the clock in its hello and its refusals): the system clock in production, one a test sets.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

/// The system clock ([`now_unix`]: a debug build honours `SSLX_TEST_NOW`).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        now_unix()
    }
}

/// A clock that says what it is told, and moves when told to (tests).
pub struct FixedClock(std::sync::atomic::AtomicU64);

impl FixedClock {
    pub fn new(t: u64) -> Self {
        FixedClock(std::sync::atomic::AtomicU64::new(t))
    }
    pub fn set(&self, t: u64) {
        self.0.store(t, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// RFC 3339, UTC.
pub fn fmt_time(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// A duration as people write it: `90` (seconds), `30s`, `15m`, `24h`, `7d`.
pub fn parse_duration(t: &str) -> std::result::Result<u64, String> {
    let t = t.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let unit = t.chars().last().ok_or_else(|| "an empty duration".to_owned())?;
    let num = &t[..t.len() - unit.len_utf8()];
    let n: u64 = num.parse().map_err(|_| format!("{t:?} is not a duration (like 30s, 15m, 24h, 7d)"))?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(format!("{t:?}: unknown unit (use s, m, h or d)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{t:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_clock_moves_only_builds_that_allow_it() {
        assert_eq!(now_with_override(true, Some("1000000000")), 1_000_000_000);
        // A release build (not allowed) reads the system clock whatever the variable says.
        assert!(now_with_override(false, Some("1000000000")) > 1_700_000_000);
        assert!(now_with_override(true, Some("not a time")) > 1_700_000_000);
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_time(u64::MAX), u64::MAX.to_string());
    }
}
