//! Who a listener (`sslx listen`, `sslx recv`, `sslx token serve`) lets in, and when: at most
//! `max` served at once, as many again waiting a short while for a slot, and a few per source
//! waiting or in their handshake. The accept loop never blocks: `queue` answers at once, the
//! connection's own thread waits for its slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max: usize,
    /// Connections from one source waiting or in their handshake.
    pub per_source: usize,
    /// How long a connection may wait for a slot before it is told the listener is busy.
    pub wait: Duration,
}

impl Limits {
    /// `max` at once, half of that (at least 2) per source, 15 s of waiting.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Limits { max, per_source: (max / 2).max(2), wait: Duration::from_secs(15) }
    }
}

#[derive(Default)]
struct State {
    serving: usize,
    waiting: usize,
    /// Per source: waiting or in the handshake.
    early: HashMap<IpAddr, usize>,
}

/// A listener's admission state; clone it into each connection's thread.
#[derive(Clone)]
pub struct Admission {
    limits: Limits,
    state: Arc<(Mutex<State>, Condvar)>,
}

/// A connection let in to wait for a slot.
pub struct Queued {
    adm: Admission,
    source: Option<IpAddr>,
    waiting: bool,
}

/// A connection being served; `handshake_done` once its peer is authenticated.
pub struct Admitted {
    adm: Admission,
    source: Option<IpAddr>,
}

impl Admission {
    pub fn new(limits: Limits) -> Self {
        Admission { limits, state: Arc::new((Mutex::new(State::default()), Condvar::new())) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets a new connection from `source` (None: not counted per source, e.g. calls that all
    /// come through the CDS's relay) in to wait, or says why not. Never blocks.
    pub fn queue(&self, source: Option<IpAddr>) -> Result<Queued, String> {
        let source = source.map(crate::net::source_bucket);
        let mut s = self.lock();
        let l = self.limits;
        if s.serving + s.waiting >= 2 * l.max {
            return Err(format!("it serves {} connections at once and as many wait already", l.max));
        }
        if let Some(ip) = source {
            let n = s.early.entry(ip).or_insert(0);
            if *n >= l.per_source {
                return Err(format!("{} connections from {ip} are waiting or in their handshake", l.per_source));
            }
            *n += 1;
        }
        s.waiting += 1;
        Ok(Queued { adm: self.clone(), source, waiting: true })
    }

    /// Connections being served now.
    pub fn serving(&self) -> usize {
        self.lock().serving
    }

    fn early_done(&self, s: &mut State, source: Option<IpAddr>) {
        if let Some(ip) = source {
            if let Some(n) = s.early.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    s.early.remove(&ip);
                }
            }
        }
    }
}

impl Queued {
    /// Waits (up to the limit's `wait`) for a slot.
    pub fn admit(mut self) -> Result<Admitted, String> {
        let deadline = Instant::now() + self.adm.limits.wait;
        let adm = self.adm.clone();
        let mut s = adm.lock();
        while s.serving >= adm.limits.max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no slot came free within {} s", adm.limits.wait.as_secs()));
            }
            s = adm.state.1.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        s.waiting -= 1;
        s.serving += 1;
        self.waiting = false;
        Ok(Admitted { adm: adm.clone(), source: self.source.take() })
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.waiting {
            let mut s = self.adm.lock();
            s.waiting -= 1;
            self.adm.early_done(&mut s, self.source);
        }
    }
}

impl Admitted {
    /// The peer is authenticated: it no longer counts against its source.
    pub fn handshake_done(&mut self) {
        if let Some(ip) = self.source.take() {
            let mut s = self.adm.lock();
            self.adm.early_done(&mut s, Some(ip));
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.handshake_done();
        self.adm.lock().serving -= 1;
        self.adm.state.1.notify_one();
    }
}

/// Tells a caller this listener is busy, in place of its hello (a refused frame, code 19:
/// callers retry shortly), and closes.
pub fn refuse_busy(sock: &mut std::net::TcpStream, me: &str, why: &str) {
    let r = crate::wire::Refused {
        code: crate::wire::RefusalCode::RateLimited as u16,
        server_time: crate::clock::now_unix(),
        reason: format!("{me} is busy: {why}; try again shortly"),
    };
    let _ = std::io::Write::write_all(sock, &r.frame());
}

impl Admission {
    /// A place in the queue for a new call, or `None` once the caller was told this listener is
    /// busy. On a bound socket (`by_source`) calls count by their source; through the relay
    /// every call comes from the CDS's address, so only the totals count.
    pub fn queue_or_refuse(&self, sock: &mut std::net::TcpStream, by_source: bool, me: &str) -> Option<Queued> {
        let source = if by_source { sock.peer_addr().ok().map(|p| p.ip()) } else { None };
        match self.queue(source) {
            Ok(q) => Some(q),
            Err(why) => {
                refuse_busy(sock, me, &why);
                None
            }
        }
    }
}

/// Serves every call from `calls` on its own thread once `admission` admits it (a call over the
/// limits is told this listener is busy and closed; the loop never waits): `serve` gets the
/// socket and its place, and runs the handshake and the rest. `bound`: calls come from a bound
/// socket, each counted by its source. `on_error` hears each error as it happens: on a bound
/// socket (an accept that failed) the next call follows; through the hook (not bound) an error
/// means the hook ended, nothing more will ring, and it is returned once the calls under way
/// have ended (each ends with its stream: a caller that keeps its stream open keeps this open).
pub fn serve_each<I, F>(
    calls: I,
    bound: bool,
    admission: &Admission,
    me: &str,
    serve: F,
    mut on_error: impl FnMut(&crate::Error),
) -> crate::Result<()>
where
    I: IntoIterator<Item = crate::Result<std::net::TcpStream>>,
    F: Fn(std::net::TcpStream, Admitted) + Sync,
{
    std::thread::scope(|s| {
        for call in calls {
            let mut sock = match call {
                Ok(sock) => sock,
                Err(e) => {
                    on_error(&e);
                    if !bound {
                        return Err(e);
                    }
                    continue;
                }
            };
            let Some(queued) = admission.queue_or_refuse(&mut sock, bound, me) else { continue };
            let serve = &serve;
            s.spawn(move || match queued.admit() {
                Ok(place) => serve(sock, place),
                Err(why) => refuse_busy(&mut sock, me, &why),
            });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_hook_that_ends_is_heard_at_once_and_ends_the_loop() {
        let adm = Admission::new(Limits::new(4));
        let mut heard = 0;
        let calls = vec![
            Err(crate::Error::Unavailable("the hook is gone".into())),
            Err(crate::Error::Unavailable("never read".into())),
        ];
        let r = serve_each(calls, false, &adm, "me", |_, _| panic!("no call"), |_| heard += 1);
        assert_eq!((heard, r.unwrap_err().to_string().as_str()), (1, "the hook is gone"));
    }

    #[test]
    fn each_call_is_served_on_its_own_thread_and_one_over_the_limits_is_told_busy() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let adm = Admission::new(Limits { max: 1, per_source: 1, wait: Duration::from_millis(200) });
        let served = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let calls = listener.incoming().take(2).map(|c| c.map_err(|e| crate::Error::io("accepting", e)));
            let server = s.spawn(|| {
                serve_each(
                    calls,
                    true,
                    &adm,
                    "me",
                    |mut sock, _place| {
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = sock.read_to_end(&mut Vec::new());
                    },
                    |_| {},
                )
            });
            let first = std::net::TcpStream::connect(at).unwrap();
            while served.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut second = std::net::TcpStream::connect(at).unwrap();
            let f = crate::wire::read_frame(&mut second).unwrap().expect("a refused frame");
            let r = <crate::wire::Refused as crate::wire::Msg>::from_frame(&f).unwrap();
            assert_eq!(r.code, crate::wire::RefusalCode::RateLimited as u16);
            assert!(r.reason.starts_with("me is busy"), "{}", r.reason);
            drop(first);
            server.join().unwrap().unwrap();
        });
        assert_eq!(served.into_inner(), 1, "the busy caller was never served");
    }

    #[test]
    fn one_source_gets_its_share_and_waiters_get_the_next_slot() {
        let adm = Admission::new(Limits { max: 2, per_source: 2, wait: Duration::from_secs(5) });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let mut one = adm.queue(Some(a)).unwrap().admit().unwrap();
        let _two = adm.queue(Some(a)).unwrap().admit().unwrap();
        assert!(adm.queue(Some(a)).is_err(), "a third handshake from one source");
        one.handshake_done();
        // Full: a third waits, and gets the slot the first gives back.
        let third = adm.queue(Some(a)).unwrap();
        let t = std::thread::spawn(move || third.admit().map(drop));
        std::thread::sleep(Duration::from_millis(50));
        drop(one);
        t.join().unwrap().unwrap();
    }

    #[test]
    fn a_waiter_gives_up_and_the_queue_is_bounded() {
        let adm = Admission::new(Limits { max: 1, per_source: 10, wait: Duration::from_millis(30) });
        let _held = adm.queue(None).unwrap().admit().unwrap();
        let q = adm.queue(None).unwrap();
        assert!(adm.queue(None).is_err(), "one serving and one waiting is the most");
        assert!(q.admit().is_err());
        assert!(adm.queue(None).is_ok(), "the waiter's place is given back");
        assert_eq!(adm.serving(), 1);
    }

    #[test]
    fn one_ipv6_host_counts_as_its_64() {
        let adm = Admission::new(Limits { max: 4, per_source: 2, wait: Duration::from_secs(1) });
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let _a = adm.queue(Some(ip("2001:db8:0:1::1"))).unwrap();
        let _b = adm.queue(Some(ip("2001:db8:0:1::2"))).unwrap();
        assert!(adm.queue(Some(ip("2001:db8:0:1:ffff::3"))).is_err(), "a third address of the same /64");
        assert!(adm.queue(Some(ip("2001:db8:0:2::1"))).is_ok(), "another /64");
    }
}
