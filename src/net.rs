//! Opening a TCP connection the way every sslx client does: resolve, connect with a timeout,
//! no Nagle delay, and an "unavailable" error (exit 7) that names what could not be reached.

use crate::{Error, Result};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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
