//! [`WebSocket`]: what a handler callback uses to act on its connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::{Config, Link, WsCommand, WsCounters};
use crate::handler::Message;
use crate::reactor::{ConnId, Ops};
use crate::transport::Transport;
use crate::ws::{Opcode, SendError, Session};

/// Payloads at least this large are queued by reference instead of copied
/// when they are already shared (`Bytes`); below it a copy is cheaper than
/// an extra chunk in the write queue.
pub(crate) const SHARE_THRESHOLD: usize = 4096;

/// A server writes payloads at least this large straight from the caller's
/// slice to the socket when nothing is queued ahead of them: copying them
/// into the write queue first costs more than giving up corking for them.
const WRITE_THROUGH_THRESHOLD: usize = 8192;

/// One connection, as seen from inside a [`Handler`](crate::Handler) callback.
///
/// It is a short-lived borrow of the connection's state: it exists for the
/// duration of one callback. To reach a connection later or from another
/// connection, keep its [`WebSocket::id`] and use [`WebSocket::send_to`] (or
/// `ServerHandle::send` from another thread).
pub struct WebSocket<'a> {
    pub(crate) ops: Ops<'a, WsCommand>,
    pub(crate) link: &'a mut Link,
    pub(crate) config: &'a Config,
    pub(crate) counters: &'a Arc<WsCounters>,
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
        &self.link.path
    }

    /// Sends a message.
    ///
    /// Fails with `SendError::BufferFull` rather than queue past
    /// [`Config::max_write_buffer`], and with `SendError::Closed` once the
    /// closing handshake has begun.
    pub fn send(&mut self, msg: Message<'_>) -> Result<(), SendError> {
        let kind = if msg.is_text() {
            Opcode::Text
        } else {
            Opcode::Binary
        };
        self.check_room(msg.len())?;
        let session = &mut self.link.session;
        let transport = self.ops.transport();
        let payload = msg.as_bytes();
        let header = (payload.len() >= WRITE_THROUGH_THRESHOLD)
            .then(|| session.frame_header(kind, payload.len()).ok())
            .flatten();
        // Without a header (small payload, client role, or an error that
        // `Session::send` reports) the frame is encoded into the queue.
        let result = match header {
            Some((header, len)) => transport
                .write_with(|out| {
                    // Pending control frames must go out before this message.
                    session.take_pending(out);
                    out.extend_from_slice(&header[..len]);
                })
                .map(|()| {
                    transport.write_through(payload);
                    Ok(())
                }),
            None => transport.write_with(|out| session.send(kind, payload, out)),
        };
        self.link.last_activity = self.ops.now();
        result.unwrap_or(Err(SendError::Closed))
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
        let session = &mut self.link.session;
        self.ops
            .transport()
            .write_with(|out| session.ping(payload, out))
            .unwrap_or(Err(SendError::Closed))
    }

    /// Starts the closing handshake with `code` and `reason`. The connection
    /// closes when the peer answers, or after the close timeout.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        let session = &mut self.link.session;
        let result = self
            .ops
            .transport()
            .write_with(|out| session.close(code, reason, out));
        let result = result.unwrap_or(Err(SendError::Closed));
        if result.is_ok() {
            if let Some(timeout) = self.config.close_timeout {
                self.ops.set_timer(timeout, super::tag::CLOSE);
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
        self.link.user_paused = true;
        self.ops.transport().pause_reading();
    }

    /// Resumes reading (unless the write queue itself holds reading paused,
    /// in which case reading resumes when it drains).
    pub fn resume(&mut self) {
        self.link.user_paused = false;
        if !self.link.write_paused {
            self.ops.transport().resume_reading();
        }
    }

    /// Whether the application paused reading.
    pub fn is_paused(&self) -> bool {
        self.link.user_paused
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
        if self.ops.transport().write_buffer_size() + len + 14 > self.config.max_write_buffer {
            return Err(SendError::BufferFull);
        }
        Ok(())
    }
}

/// Queues one message whose payload is already shared. A server writes the
/// header and then the payload by reference; a client must mask, and so copies.
pub(crate) fn send_shared(
    session: &mut Session,
    transport: &mut Transport,
    kind: Opcode,
    payload: Bytes,
) -> Result<(), SendError> {
    if payload.len() >= SHARE_THRESHOLD {
        if let Ok((header, len)) = session.frame_header(kind, payload.len()) {
            // Pending control frames must go out before this message.
            transport.write_with(|out| {
                session.take_pending(out);
                out.extend_from_slice(&header[..len]);
            });
            transport.write_shared(payload);
            return Ok(());
        }
    }
    transport
        .write_with(|out| session.send(kind, &payload, out))
        .unwrap_or(Err(SendError::Closed))
}
