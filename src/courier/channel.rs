//! Courier packets over a live session: each one rides in one session record, and a refusal
//! from the peer (in a record or in the clear) becomes its error.

use super::error::CourierError;
use crate::session::io::Conn;
use crate::session::record::Received;
use crate::session::Session;
use crate::wire::{Frame, Msg, RefusalCode, Refused, TYPE_REFUSED};
use crate::{Error, Result};

/// A peer's refusal inside a courier exchange.
fn peer_refused(peer: &str, r: Refused) -> Error {
    Error::PeerRefused { peer: peer.to_owned(), code: r.code, reason: r.reason }
}

/// Packets over a live session: each one rides in one session record.
pub struct Channel {
    pub session: Session,
    pub conn: Conn,
}

impl Channel {
    pub fn new(session: Session, conn: Conn) -> Self {
        Channel { session, conn }
    }

    pub fn peer(&self) -> &str {
        &self.session.summary.peer
    }

    pub fn send(&mut self, frame: &[u8], last: bool) -> Result<()> {
        let rec = self.session.sender.seal(frame, last)?;
        self.conn.send(&rec)
    }

    /// The next packet; a refusal from the peer becomes the error.
    pub fn recv(&mut self, expecting: &str) -> Result<Frame> {
        let peer = self.session.summary.peer.clone();
        let (h, body) = self.conn.reader.next_record()?.ok_or_else(|| {
            Error::Unavailable(format!("{peer} closed the connection before sending the {expecting}"))
        })?;
        if h.msg_type == TYPE_REFUSED {
            let f = Frame { msg_type: h.msg_type, version: h.version, body: body.to_vec() };
            return Err(peer_refused(&peer, Refused::from_frame(&f)?));
        }
        match self.session.receiver.open(&h, body)? {
            Received::Finished => Err(CourierError::SecondFinished.into()),
            Received::Data { data, .. } => {
                let f = Frame::parse(data)?;
                if f.msg_type == TYPE_REFUSED {
                    return Err(peer_refused(&peer, Refused::from_frame(&f)?));
                }
                Ok(f)
            }
        }
    }

    /// Sends a refusal (the seed's negative acknowledge) as this side's last packet.
    pub fn refuse(&mut self, code: RefusalCode, reason: &str) {
        let r = Refused { code: code as u16, server_time: crate::clock::now_unix(), reason: reason.to_owned() };
        if !self.session.sender.finished() {
            let _ = self.send(&r.frame(), true);
        }
    }
}

impl Channel {
    /// Sends the refusal `e` calls for (`Error::refusal_code`, its message as the reason), then
    /// returns `e`: a local failure the peer must hear about.
    pub fn refuse_with(&mut self, e: Error) -> Error {
        self.refuse(e.refusal_code(), &e.to_string());
        e
    }
}
