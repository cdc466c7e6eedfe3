//! What the CDS lets one source, one participant and everyone together hold at once: waiting
//! connections (per source bucket, the oldest of the fullest bucket evicted when the table is
//! full), work slots (open requests in a pool of their own), long-lived streams (deposits,
//! collects, relayed calls: per participant and in all, none holding a work slot) and HTTP
//! connections. `ConnLimits::fit` scales them down to the process's file descriptors.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Limits on connections and streams.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Connections from one source (an IPv6 source by its /64) that have not yet sent their
    /// request; more are refused at once.
    pub per_source: usize,
    /// Connections, from all sources, that have not yet sent their request; when full, the
    /// oldest connection of the source holding most is closed to make room.
    pub max_pending: usize,
    /// Requests being worked on at once (a request that becomes a long-lived stream gives its
    /// slot back once it is authenticated).
    pub max_working: usize,
    /// Of those, open requests (each may wait on a webhook or a mail server): they can never
    /// take the slots that confirmations, session requests and the relay need.
    pub max_opening: usize,
    /// Long-lived streams (deposits, collects, calls it made) one participant may hold at once.
    pub streams_per_participant: usize,
    /// Long-lived streams in all.
    pub max_streams: usize,
    /// A relayed session that moves no byte either way for this long is cut.
    pub splice_idle: Duration,
    /// A hook that has carried nothing for this long gets a keepalive (zero: never).
    pub hook_keepalive: Duration,
    /// HTTP connections from one source, and in all (each lives at most `HTTP_LIFETIME`).
    pub http_per_source: usize,
    pub http_max: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            per_source: 64,
            max_pending: 16_384,
            max_working: 1024,
            max_opening: 256,
            streams_per_participant: 256,
            max_streams: 8192,
            splice_idle: Duration::from_secs(15 * 60),
            hook_keepalive: Duration::from_secs(30),
            http_per_source: 16,
            http_max: 1024,
        }
    }
}

/// Descriptors kept back for the store, mailbox files, outgoing mail and webhooks.
const RESERVED_FDS: u64 = 256;

impl ConnLimits {
    /// These limits, lowered where needed so that all of them together fit in `nofile`
    /// descriptors (a relayed call holds two).
    pub fn fit(mut self, nofile: u64) -> Self {
        let budget = nofile.saturating_sub(RESERVED_FDS).max(64) as usize;
        self.max_pending = self.max_pending.min(budget * 4 / 10).max(1);
        self.max_working = self.max_working.min(budget / 10).max(2);
        self.max_opening = self.max_opening.min(self.max_working / 4).max(1);
        self.max_streams = self.max_streams.min(budget * 4 / 10 / 2).max(1);
        self.http_max = self.http_max.min(budget / 10).max(1);
        self.per_source = self.per_source.min(self.max_pending);
        self.http_per_source = self.http_per_source.min(self.http_max);
        self
    }
}

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit { rlim_cur: r.rlim_max, rlim_max: r.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
        r.rlim_cur
    }
}

/// Connections the kernel may hold ready for `accept` (Linux caps it at `net.core.somaxconn`):
/// well above the default 1,024, so that a burst of connections is queued, not dropped (a
/// dropped SYN costs the client a second).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` (the first address it resolves to) with `LISTEN_BACKLOG`.
pub async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let a = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{addr} has no address")))?;
    let s = if a.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    s.set_reuseaddr(true)?;
    s.bind(a)?;
    s.listen(LISTEN_BACKLOG)
}

pub use crate::net::source_bucket as bucket;

/// Why a tally would not take one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// This key holds its share already.
    Key,
    /// All keys together hold the total.
    Total,
}

/// Counts held per key and in all, under one lock.
pub struct Tally<K> {
    held: Mutex<(HashMap<K, usize>, usize)>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally { held: Mutex::new((HashMap::new(), 0)) }
    }
}

/// One place in a tally; given back when dropped.
pub struct TallyGuard<K: Hash + Eq> {
    tally: Arc<Tally<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Tally<K> {
    /// A place for `key`, or which limit is reached.
    pub fn enter(self: &Arc<Self>, key: K, per_key: usize, total: usize) -> Result<TallyGuard<K>, Full> {
        let mut g = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (m, sum) = &mut *g;
        if *sum >= total {
            return Err(Full::Total);
        }
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= per_key {
            return Err(Full::Key);
        }
        *n += 1;
        *sum += 1;
        Ok(TallyGuard { tally: self.clone(), key })
    }

    /// How many places `key` holds.
    pub fn held_by(&self, key: &K) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).0.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Drop for TallyGuard<K> {
    fn drop(&mut self) {
        let mut g = self.tally.held.lock().unwrap_or_else(|p| p.into_inner());
        let (m, sum) = &mut *g;
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            *sum -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Connections waiting for their first frame: per source bucket, oldest first, each with a
/// way to be told it was evicted.
#[derive(Default)]
pub struct Pending {
    table: Mutex<PendingTable>,
}

#[derive(Default)]
struct PendingTable {
    by_source: HashMap<IpAddr, VecDeque<(u64, Arc<Notify>)>>,
    total: usize,
    next: u64,
}

/// One waiting connection; `evicted()` resolves if it was closed to make room.
pub struct PendingGuard {
    pending: Arc<Pending>,
    source: IpAddr,
    id: u64,
    evict: Arc<Notify>,
}

impl PendingGuard {
    /// Resolves when this connection was evicted to make room for a newer one.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut t = self.pending.table.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *t;
        if let Some(q) = t.by_source.get_mut(&self.source) {
            if let Some(i) = q.iter().position(|(id, _)| *id == self.id) {
                q.remove(i);
                t.total -= 1;
            }
            if q.is_empty() {
                t.by_source.remove(&self.source);
            }
        }
    }
}

impl Pending {
    /// A place for a new connection from `ip`, or why not. A full table makes room by
    /// evicting the oldest connection of the source that holds the most, so that sources
    /// flooding it push out their own connections, not those of a source with few.
    pub fn enter(self: &Arc<Self>, ip: IpAddr, limits: &ConnLimits) -> Result<PendingGuard, String> {
        let source = bucket(ip);
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *t;
        let mine = t.by_source.get(&source).map_or(0, VecDeque::len);
        if mine >= limits.per_source {
            return Err(format!(
                "too many connections from {source} are waiting to send their request; try again shortly"
            ));
        }
        if t.total >= limits.max_pending {
            let fullest = t.by_source.iter().max_by_key(|(_, q)| q.len()).map(|(s, _)| *s);
            let Some(victim) = fullest.and_then(|s| t.by_source.get_mut(&s).and_then(VecDeque::pop_front)) else {
                return Err("the CDS has too many connections waiting; try again shortly".into());
            };
            victim.1.notify_one();
            t.total -= 1;
            t.by_source.retain(|_, q| !q.is_empty());
        }
        let id = t.next;
        t.next += 1;
        let evict = Arc::new(Notify::new());
        t.by_source.entry(source).or_default().push_back((id, evict.clone()));
        t.total += 1;
        Ok(PendingGuard { pending: self.clone(), source, id, evict })
    }

    /// Connections waiting now.
    pub fn total(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

/// Where bundles wait and for how long.
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    /// Directory for the bundles' bytes (created 0700). None: store-and-forward is off.
    pub dir: Option<std::path::PathBuf>,
    /// Bytes that may wait for one recipient.
    pub quota: u64,
    /// Bytes that may wait for one recipient from one sender.
    pub per_sender: u64,
    /// Bytes one sender may have waiting, for all its recipients together.
    pub sender_total: u64,
    /// Bytes that may wait in all.
    pub total: u64,
    /// Bytes the mailbox's filesystem must keep free after a bundle is stored.
    pub min_free: u64,
    /// Seconds a bundle waits before it is dropped.
    pub ttl: u64,
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig {
            dir: None,
            quota: 1 << 30,
            per_sender: 1 << 29,
            sender_total: 1 << 31,
            total: 1 << 36,
            min_free: 1 << 30,
            ttl: 7 * 86400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_source: usize, max_pending: usize) -> ConnLimits {
        ConnLimits { per_source, max_pending, ..Default::default() }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_of_the_fullest_source() {
        let p = Arc::new(Pending::default());
        let l = limits(3, 4);
        let flood: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let f: Vec<_> = (0..3).map(|_| p.enter(flood, &l).unwrap()).collect();
        let o = p.enter(other, &l).unwrap();
        // Full: a newcomer pushes out the flood's oldest, never the other's one.
        let n = p.enter("192.0.2.3".parse().unwrap(), &l).unwrap();
        assert_eq!(p.total(), 4);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(100), f[0].evicted()).await.expect("oldest evicted");
            assert!(tokio::time::timeout(Duration::from_millis(20), o.evicted()).await.is_err());
            assert!(tokio::time::timeout(Duration::from_millis(20), f[1].evicted()).await.is_err());
        });
        drop(f);
        assert_eq!(p.total(), 2);
        drop((o, n));
        assert_eq!(p.total(), 0);
    }

    #[test]
    fn a_source_at_its_share_is_refused_and_ipv6_counts_by_64() {
        let p = Arc::new(Pending::default());
        let l = limits(2, 100);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let _g = (p.enter(a, &l).unwrap(), p.enter(b, &l).unwrap());
        assert!(p.enter("2001:db8:1:2::77".parse().unwrap(), &l).is_err());
        assert!(p.enter("2001:db8:1:3::1".parse().unwrap(), &l).is_ok());
    }

    #[test]
    fn tallies_count_per_key_and_in_all_and_give_back_on_drop() {
        let t = Arc::new(Tally::<String>::default());
        let a = t.enter("a".into(), 2, 3).unwrap();
        let _b = t.enter("a".into(), 2, 3).unwrap();
        assert_eq!(t.enter("a".into(), 2, 3).err(), Some(Full::Key));
        let _c = t.enter("b".into(), 2, 3).unwrap();
        assert_eq!(t.enter("c".into(), 2, 3).err(), Some(Full::Total));
        drop(a);
        assert_eq!(t.held_by(&"a".to_string()), 1);
        assert!(t.enter("c".into(), 2, 3).is_ok());
    }

    #[test]
    fn limits_fit_in_few_descriptors() {
        let l = ConnLimits::default().fit(1024);
        let used = l.max_pending + l.max_working + 2 * l.max_streams + l.http_max;
        assert!(used as u64 + RESERVED_FDS <= 1024, "{l:?}");
        let big = ConnLimits::default().fit(1 << 20);
        assert_eq!(big.max_pending, ConnLimits::default().max_pending);
    }
}
