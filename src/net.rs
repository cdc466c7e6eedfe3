//! Opening a TCP connection the way every sslx client does: resolve, connect with a timeout,
//! no Nagle delay, and an "unavailable" error (exit 7) that names what could not be reached.

use crate::{Error, Result};
use std::net::{IpAddr, Ipv6Addr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The bucket a source address counts in wherever sslx limits or compares sources (the CDS's
/// waiting connections and HTTP side, a listener's admission, the relay's registered-source
/// check): an IPv4 address as itself, an IPv4-mapped IPv6 address as that IPv4 address, any
/// other IPv6 address as its /64 (one host's privacy addresses rotate within it).
pub fn source_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr`; `what` names it in errors ("the CDS at 127.0.0.1:7450").
pub fn connect(addr: &str, what: &str) -> Result<TcpStream> {
    let unavailable = |e: std::io::Error| Error::Unavailable(format!("cannot reach {what}: {e}"));
    let sa = addr
        .to_socket_addrs()
        .map_err(unavailable)?
        .next()
        .ok_or_else(|| Error::Unavailable(format!("{addr}: no address")))?;
    let s = TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT).map_err(unavailable)?;
    s.set_nodelay(true).ok();
    Ok(s)
}

/// TCP keepalive probes on a long-lived connection (a hook, at both ends): after 60 s of silence,
/// every 10 s; 6 unanswered end it. A peer gone without a FIN (a NAT that forgot the flow, a host
/// that lost power) is found without waiting for a write to fail.
pub fn keep_tcp_alive<S: std::os::fd::AsFd>(sock: &S) {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    let _ = socket2::SockRef::from(sock).set_tcp_keepalive(&ka);
}

/// Waits between attempts to reach a server again: exponential from `first`, capped at `cap`,
/// each wait drawn at random between half and all of its step (so that the clients a restart
/// dropped together do not come back together).
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    step: Duration,
}

impl Backoff {
    /// 1 s, 2 s, 4 s, … up to a minute.
    pub fn new() -> Self {
        Self::between(Duration::from_secs(1), Duration::from_secs(60))
    }

    pub fn between(first: Duration, cap: Duration) -> Self {
        Backoff { first, cap, step: first }
    }

    /// The next wait, `rng` drawing where it falls in its step.
    pub fn next_wait(&mut self, rng: &dyn ring::rand::SecureRandom) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(self.cap);
        let r = u32::from_be_bytes(crate::crypto::random_array(rng));
        step / 2 + (step / 2).mul_f64(f64::from(r) / f64::from(u32::MAX))
    }

    /// Back to the first step (the server answered and stayed).
    pub fn reset(&mut self) {
        self.step = self.first;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// How long the CDS may take to send its hello once connected.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the CDS's protocol port after its hello: every request sent on it binds
/// `challenge` (docs/PROTOCOL.md section 2), so it verifies on this connection only.
pub struct CdsConn {
    pub stream: TcpStream,
    pub challenge: [u8; crate::wire::CHALLENGE_LEN],
    /// The CDS's clock when it said hello.
    pub cds_time: u64,
    /// The address (of the list given) that answered: a hook's rings are answered there.
    pub addr: String,
}

/// The addresses of a `--cds` value: one `HOST:PORT`, or several instances of one CDS over a
/// shared store, comma-separated (`a:7450,b:7450,c:7450`).
pub fn cds_addresses(cds: &str) -> Vec<&str> {
    cds.split(',').map(str::trim).filter(|a| !a.is_empty()).collect()
}

/// Which address of each list answered last in this process: the next connection starts there
/// (a list's first connection starts at one drawn at random, spreading participants over the
/// instances).
static LAST_GOOD: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

/// Connects to the CDS at `addr` and reads its hello (unbuffered: the next bytes on the socket
/// are the answer to this connection's request). `addr` may list several instances (see
/// [`cds_addresses`]): they are tried in turn, from the one that answered last, past those that
/// cannot be reached or are busy; the error, when none answers, names each. A CDS that turns the
/// connection away because too many from this address are waiting (refused 19 in place of the
/// hello: a burst of this machine's own connections) is tried again a few times, after 25 ms,
/// 50 ms, … (about 1.5 s in all). Any other refusal instead of the hello is returned as the error
/// it carries.
pub fn connect_cds(addr: &str) -> Result<CdsConn> {
    let list = cds_addresses(addr);
    if list.len() <= 1 {
        return connect_cds_retrying(list.first().copied().unwrap_or(addr));
    }
    let start = {
        let mut known = LAST_GOOD.lock().unwrap_or_else(|p| p.into_inner());
        match known.iter().find(|(l, _)| l == addr) {
            Some((_, i)) => *i,
            None => {
                let i = usize::from(crate::crypto::random_array::<1>(&crate::crypto::system_rng())[0]) % list.len();
                known.push((addr.to_owned(), i));
                i
            }
        }
    };
    // Rounds over the list: one where every instance was busy is tried again after a pause (as
    // a single address is); anything else an instance answers in place of its hello (down,
    // stopping, not a CDS) sends the connection to the next one.
    let mut wait = Duration::from_millis(50);
    for round in 0..4 {
        let (mut failed, mut busy) = (Vec::new(), 0);
        for k in 0..list.len() {
            let i = (start + k) % list.len();
            match connect_cds_once(list[i]) {
                Ok(c) => {
                    let mut known = LAST_GOOD.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(e) = known.iter_mut().find(|(l, _)| l == addr) {
                        e.1 = i;
                    }
                    return Ok(c);
                }
                Err(Error::Refused { code, reason }) if code == crate::wire::RefusalCode::RateLimited as u16 => {
                    busy += 1;
                    failed.push(format!("the CDS at {} is busy: {reason}", list[i]))
                }
                Err(e) => failed.push(e.to_string()),
            }
        }
        if busy < list.len() || round == 3 {
            return Err(Error::Unavailable(format!("no instance of the CDS answered: {}", failed.join("; "))));
        }
        std::thread::sleep(wait);
        wait *= 2;
    }
    unreachable!("the last round returns")
}

fn connect_cds_retrying(addr: &str) -> Result<CdsConn> {
    let mut wait = Duration::from_millis(25);
    let mut tries = 0;
    loop {
        match connect_cds_once(addr) {
            Err(Error::Refused { code, .. }) if code == crate::wire::RefusalCode::RateLimited as u16 && tries < 6 => {
                tries += 1;
                // A little jitter, so that a burst does not come back all at once.
                let jitter = u64::from(crate::crypto::random_array::<1>(&crate::crypto::system_rng())[0]) % 25;
                std::thread::sleep(wait + Duration::from_millis(jitter));
                wait *= 2;
            }
            other => return other,
        }
    }
}

fn connect_cds_once(addr: &str) -> Result<CdsConn> {
    use crate::wire::{CdsHello, Msg, Refused, TYPE_REFUSED};
    let mut stream = connect(addr, &format!("the CDS at {addr}"))?;
    stream.set_read_timeout(Some(HELLO_TIMEOUT)).ok();
    let f = crate::wire::read_frame(&mut stream)
        .map_err(|e| Error::Unavailable(format!("reading the CDS's hello from {addr}: {e}")))?
        .ok_or_else(|| Error::Unavailable(format!("the CDS at {addr} closed the connection before its hello")))?;
    if f.msg_type == TYPE_REFUSED {
        return Err(crate::error::refusal_error(Refused::from_frame(&f)?));
    }
    let hello = CdsHello::from_frame(&f)?;
    Ok(CdsConn { stream, challenge: hello.challenge, cds_time: hello.cds_time, addr: addr.to_owned() })
}

/// A deadline for a whole exchange on a blocking socket (per-read timeouts do not stop a peer
/// that trickles a byte at a time): unless disarmed within the limit, the socket is shut down
/// both ways, so the exchange's next read or write fails.
pub struct Watchdog {
    disarm: Option<std::sync::mpsc::Sender<()>>,
    fired: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    pub fn arm(stream: &TcpStream, limit: Duration) -> Self {
        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        if let Ok(s) = stream.try_clone() {
            let f = fired.clone();
            std::thread::spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    f.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            });
        }
        Watchdog { disarm: Some(tx), fired }
    }

    /// Stops the clock; true if the deadline had passed (the socket is shut down).
    pub fn disarm(mut self) -> bool {
        let _ = self.disarm.take().map(|tx| tx.send(()));
        self.fired.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How long a client waits on one read or write of a CDS connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How far this machine's clock may be from the CDS's (its hello says) before a request is
/// not even sent: expiries (of requests, keys, tickets) would be judged wrongly.
pub const MAX_CLOCK_SKEW: u64 = 300;

/// Connects to the CDS at `addr`, checks its clock against this machine's, builds the request
/// from the connection's challenge, sends it and waits up to `answer_wait` for the answer frame;
/// a refused frame is turned into its error (`error::refusal_error`).
pub fn exchange(
    addr: &str,
    answer_wait: Duration,
    request: impl FnOnce(&[u8; crate::wire::CHALLENGE_LEN]) -> Result<Vec<u8>>,
) -> Result<crate::wire::Frame> {
    use crate::wire::{read_frame, write_frame, Msg, Refused, TYPE_REFUSED};
    let unavailable = |e: std::io::Error| Error::Unavailable(format!("cannot reach the CDS at {addr}: {e}"));
    let conn = connect_cds(addr)?;
    let now = crate::clock::now_unix();
    if now.abs_diff(conn.cds_time) > MAX_CLOCK_SKEW {
        return Err(Error::Expired {
            what: format!(
                "this machine's clock and the CDS's differ by more than {MAX_CLOCK_SKEW} s: set the clock right"
            ),
            now: crate::clock::fmt_time(now),
            edge: format!("CDS clock {}", crate::clock::fmt_time(conn.cds_time)),
        });
    }
    let mut s = conn.stream;
    s.set_read_timeout(Some(answer_wait)).ok();
    s.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let frame = request(&conn.challenge)?;
    write_frame(&mut s, &frame).map_err(unavailable)?;
    let f = read_frame(&mut s)
        .map_err(|e| Error::Unavailable(format!("reading the CDS's answer: {e}")))?
        .ok_or_else(|| Error::Unavailable(format!("the CDS at {addr} closed the connection without answering")))?;
    if f.msg_type == TYPE_REFUSED {
        return Err(crate::error::refusal_error(Refused::from_frame(&f)?));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn backoff_doubles_to_its_cap_with_each_wait_in_the_upper_half_of_its_step() {
        let rng = crate::crypto::system_rng();
        let mut b = Backoff::between(Duration::from_secs(1), Duration::from_secs(8));
        let steps = [1, 2, 4, 8, 8, 8];
        for (i, step) in steps.iter().enumerate() {
            let w = b.next_wait(&rng);
            let step = Duration::from_secs(*step);
            assert!(w >= step / 2 && w <= step, "wait {i}: {w:?} not within half of {step:?} and all of it");
        }
        b.reset();
        assert!(b.next_wait(&rng) <= Duration::from_secs(1), "reset starts again at the first step");
        // The waits are spread, not all the same (a thousand clients would come back together).
        let waits: std::collections::HashSet<_> =
            (0..20).map(|_| Backoff::between(Duration::from_secs(4), Duration::from_secs(4)).next_wait(&rng)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn a_watchdog_ends_a_trickling_exchange_and_a_disarmed_one_does_nothing() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let w = Watchdog::arm(&s, Duration::from_millis(50));
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).unwrap_or(0), 0, "the read ends when the deadline passes");
        assert!(w.disarm());
        let _client2 = TcpStream::connect(addr).unwrap();
        let (s2, _) = l.accept().unwrap();
        assert!(!Watchdog::arm(&s2, Duration::from_secs(60)).disarm());
    }
}
