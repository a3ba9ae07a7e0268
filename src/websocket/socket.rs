//! [`WebSocket`]: what a handler callback uses to act on its connection.
//! (Named after the browser's `WebSocket` object, which it mirrors.)

use std::net::SocketAddr;
use std::sync::Arc;

use super::clock::Stamp;
use super::outgoing;
use super::{timers, Config, ConnState, WsCommand, WsCounters};
use crate::reactor::{ConnId, Ops};
use crate::ws::{Framed, Message, Opcode, SendError};

/// One connection, as seen from inside a [`Handler`](crate::Handler) callback.
///
/// It is a short-lived borrow of the connection's state: it exists for the
/// duration of one callback. To reach a connection later or from another
/// connection, keep its [`WebSocket::id`] and use [`WebSocket::send_to`] (or
/// `ServerHandle::send` from another thread).
pub struct WebSocket<'a> {
    pub(crate) ops: Ops<'a, WsCommand>,
    pub(crate) conn: &'a mut ConnState,
    pub(crate) config: &'a Config,
    pub(crate) counters: &'a Arc<WsCounters>,
    /// The message this callback was given, framed in place for an echo
    /// (`Session::read_whole_framed`); taken by the first send of it.
    pub(crate) framed: Option<Framed>,
    /// The message part this callback was given, where it lies in the
    /// buffer being read (address, length): sent on as a fragment, its
    /// bytes are lent to the transport, not copied.
    pub(crate) part: Option<(usize, usize)>,
}

impl WebSocket<'_> {
    /// This connection's id, valid for its whole life and never reused.
    pub fn id(&self) -> ConnId {
        self.ops.id()
    }

    /// The peer's address.
    pub fn peer_addr(&mut self) -> SocketAddr {
        self.ops.transport().peer_addr()
    }

    /// The request path of the opening handshake (e.g. `/chat?room=1`).
    pub fn path(&self) -> &str {
        self.conn.path.as_deref().map_or("/", String::as_str)
    }

    /// Sends a message.
    ///
    /// Fails with `SendError::BufferFull` rather than queue past
    /// [`Config::max_write_buffer`], and with `SendError::Closed` once the
    /// closing handshake has begun.
    pub fn send(&mut self, msg: Message<'_>) -> Result<(), SendError> {
        self.check_room(msg.len())?;
        let session = &mut self.conn.session;
        let transport = self.ops.transport();
        let lent = match self.framed.take() {
            Some(framed) if framed.is(&msg) => outgoing::send_framed(session, transport, framed),
            _ => false,
        };
        let result = if lent {
            Ok(())
        } else {
            outgoing::send_borrowed(session, transport, msg.opcode(), msg.as_bytes())
        };
        self.conn.last_activity = Stamp::at(self.ops.now());
        if result.is_ok() {
            self.ops.count_sent(1);
        }
        if self.ops.tracing() {
            let queued = self.ops.transport().write_buffer_size();
            self.ops.trace(format_args!(
                "ws: send {} bytes: {}, {queued} bytes now queued",
                msg.len(),
                match result {
                    Ok(()) if lent => "framed in place, lent".to_string(),
                    Ok(()) => "framed".to_string(),
                    Err(e) => e.to_string(),
                }
            ));
        }
        result
    }

    /// Sends one fragment of a message. The first call's `kind`
    /// ([`Opcode::Text`] or [`Opcode::Binary`]) starts the message; later
    /// calls pass the same kind and go out as continuation frames; `fin`
    /// ends the message. A text message's fragments must add up to valid
    /// UTF-8, though one may end inside a character. Until the last
    /// fragment, [`WebSocket::send`] fails with
    /// `SendError::FragmentInProgress`; pings and the close may go between
    /// fragments.
    ///
    /// This is how a message taken in parts
    /// ([`Handler::on_message_part`](crate::Handler::on_message_part)) is
    /// sent on as it arrives:
    /// `ws.send_fragment(part.opcode(), part.as_bytes(), part.is_last())`.
    pub fn send_fragment(
        &mut self,
        kind: Opcode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_room(payload.len())?;
        let session = &mut self.conn.session;
        let transport = self.ops.transport();
        let start = payload.as_ptr() as usize;
        let lendable = self
            .part
            .is_some_and(|(at, len)| start >= at && start + payload.len() <= at + len);
        let result = outgoing::send_fragment(session, transport, kind, payload, fin, lendable);
        self.conn.last_activity = Stamp::at(self.ops.now());
        if result.is_ok() && fin {
            self.ops.count_sent(1);
        }
        if self.ops.tracing() {
            let queued = self.ops.transport().write_buffer_size();
            self.ops.trace(format_args!(
                "ws: send a fragment of {} bytes{}: {}, {queued} bytes now queued",
                payload.len(),
                if fin { " (the last)" } else { "" },
                match result {
                    Ok(true) => "framed, lent".to_string(),
                    Ok(false) => "framed".to_string(),
                    Err(e) => e.to_string(),
                }
            ));
        }
        result.map(|_| ())
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send(Message::Text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send(Message::Binary(data))
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        let session = &mut self.conn.session;
        self.ops
            .transport()
            .write_with(|out| session.ping(payload, out))
            .unwrap_or(Err(SendError::Closed))
    }

    /// Starts the closing handshake with `code` and `reason`. The connection
    /// closes when the peer answers, or after the close timeout.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        let session = &mut self.conn.session;
        let result = self
            .ops
            .transport()
            .write_with(|out| session.close(code, reason, out));
        let result = result.unwrap_or(Err(SendError::Closed));
        if result.is_ok() {
            if let Some(timeout) = self.config.close_timeout {
                self.ops.set_timer(timeout, timers::CLOSE);
            }
        }
        result
    }

    /// Bytes queued for this connection and not yet taken by the kernel
    /// (the browser API's `bufferedAmount`).
    pub fn buffered_amount(&mut self) -> usize {
        self.ops.transport().write_buffer_size()
    }

    /// Stops reading from this peer: no `on_message` until [`WebSocket::resume`].
    pub fn pause(&mut self) {
        self.conn.user_paused = true;
        self.ops.transport().pause_reading();
    }

    /// Resumes reading (unless the write queue itself holds reading paused,
    /// in which case reading resumes when it drains).
    pub fn resume(&mut self) {
        self.conn.user_paused = false;
        if !self.conn.write_paused {
            self.ops.transport().resume_reading();
        }
    }

    /// Whether the application paused reading.
    pub fn is_paused(&self) -> bool {
        self.conn.user_paused
    }

    /// Sends `msg` to another connection (delivered right after this
    /// callback; dropped if that connection is gone). The hard cap applies
    /// there per [`Config::overflow`].
    pub fn send_to(&mut self, to: ConnId, msg: Message<'_>) {
        self.ops.send_to(to, WsCommand::send(msg));
    }

    /// Sends `msg` to each of `to`, in order after anything sent to them
    /// before. The frame is encoded once and shared.
    pub fn send_to_many(&mut self, to: impl IntoIterator<Item = ConnId>, msg: Message<'_>) {
        let command = WsCommand::frame(msg);
        for id in to {
            self.ops.send_to(id, command.clone());
        }
    }

    /// Sends `msg` to every open connection of this loop, this one included.
    pub fn broadcast(&mut self, msg: Message<'_>) {
        self.ops.broadcast(WsCommand::frame(msg));
    }

    /// The settings this connection runs with.
    pub fn config(&self) -> &Config {
        self.config
    }

    /// The endpoint's counters.
    pub fn counters(&self) -> &WsCounters {
        self.counters
    }

    fn check_room(&mut self, len: usize) -> Result<(), SendError> {
        let queued = self.ops.transport().write_buffer_size();
        match outgoing::fits(queued, len, self.config.max_write_buffer) {
            true => Ok(()),
            false => Err(SendError::BufferFull),
        }
    }
}
