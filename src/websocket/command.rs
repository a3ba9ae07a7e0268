//! Work delivered to a connection from elsewhere ([`WsCommand`]), and the
//! overflow policy that bounds it: this file is the one home of
//! [`Overflow`].
//!
//! A handler's own `send` fails with `BufferFull` at the hard cap; a
//! message sent by another connection or thread cannot fail back to its
//! sender, so the receiving connection applies
//! [`Config::overflow`](super::Config::overflow): close itself with 1008,
//! or drop the message.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::clock::Stamp;
use super::outgoing::{self, Tail, SHARE_THRESHOLD};
use super::state::State;
use super::{Handler, Overflow, WsCounters, WsProtocol};
use crate::reactor::Context;
use crate::transport::Transport;
use crate::ws::deflate::{DeflateConfig, SharedCompressor};
use crate::ws::frame::FrameHeader;
use crate::ws::{close, Message, Opcode, Session};

/// Work delivered to one connection from elsewhere (another connection's
/// handler, or another thread).
#[derive(Clone, Debug)]
pub enum WsCommand {
    /// Send a message. The payload is shared, so a broadcast stores one
    /// copy however many connections it goes to.
    Send {
        /// `Opcode::Text` or `Opcode::Binary`.
        kind: Opcode,
        /// The payload (UTF-8 for text).
        payload: Bytes,
    },
    /// Send a message encoded once, for many connections: `frame` holds a
    /// complete unmasked frame (header then payload), and a server
    /// connection queues these very bytes. A client connection must mask,
    /// so it encodes the payload (`frame[header_len..]`) itself.
    Frame {
        /// `Opcode::Text` or `Opcode::Binary`.
        kind: Opcode,
        /// Header and payload.
        frame: Bytes,
        /// Where the payload starts in `frame`.
        header_len: usize,
        /// The payload compressed for connections that negotiated
        /// permessage-deflate without context takeover: filled by the
        /// first of them, then shared by all (see [`DeflatedOnce`]).
        deflated: DeflatedOnce,
    },
    /// Start the closing handshake.
    Close {
        /// Close code to send.
        code: u16,
        /// Reason to send.
        reason: String,
    },
}

impl WsCommand {
    /// A command that sends `msg`.
    pub fn send(msg: Message<'_>) -> Self {
        WsCommand::Send {
            kind: msg.opcode(),
            payload: Bytes::copy_from_slice(msg.as_bytes()),
        }
    }

    /// A command that sends `msg` as one frame encoded now, to be shared
    /// by every connection it is delivered to (see [`WsCommand::Frame`]).
    pub fn frame(msg: Message<'_>) -> Self {
        let header = FrameHeader {
            fin: true,
            opcode: msg.opcode(),
            mask: None,
            payload_len: msg.len() as u64,
        };
        let (head, header_len) = header.encode();
        let mut frame = Vec::with_capacity(header_len + msg.len());
        frame.extend_from_slice(&head[..header_len]);
        frame.extend_from_slice(msg.as_bytes());
        WsCommand::Frame {
            kind: msg.opcode(),
            frame: frame.into(),
            header_len,
            deflated: DeflatedOnce::default(),
        }
    }

    /// Bytes it would queue, about (a frame's header counted, a close
    /// not): what the hard cap is checked against.
    fn len(&self) -> usize {
        match self {
            WsCommand::Send { payload, .. } => payload.len(),
            WsCommand::Frame { frame, .. } => frame.len(),
            WsCommand::Close { .. } => 0,
        }
    }
}

/// A broadcast payload compressed at most once, by whichever connection
/// needs it first; every clone of a [`WsCommand::Frame`] shares it, on
/// every loop. `None` inside: compression did not pay, send it plain.
#[derive(Clone, Debug, Default)]
pub struct DeflatedOnce(Arc<OnceLock<Option<Bytes>>>);

/// Queues `head` (a header, or nothing) and then `bytes`, shared by
/// reference unless small enough that copying them into the queue's tail
/// beats a chunk of their own.
fn queue_frame(session: &mut Session, transport: &mut Transport, head: &[u8], bytes: Bytes) {
    if head.len() + bytes.len() < SHARE_THRESHOLD {
        let mut frame = head.to_vec();
        frame.extend_from_slice(&bytes);
        outgoing::queue_after_pending(session, transport, &frame, Tail::None);
    } else {
        outgoing::queue_after_pending(session, transport, head, Tail::Shared(bytes));
    }
}

/// The loop's compressor for broadcasts: one zlib stream, no context kept,
/// with the server's own window and level.
pub(crate) struct BroadcastCompressor {
    compressor: Option<SharedCompressor>,
    min_size: usize,
}

impl BroadcastCompressor {
    pub(crate) fn new(config: &DeflateConfig) -> Self {
        BroadcastCompressor {
            compressor: config.enabled.then(|| {
                SharedCompressor::new(
                    config.level,
                    config.mem_level,
                    config.server_max_window_bits,
                )
            }),
            min_size: config.min_size,
        }
    }

    /// How `session` sends a broadcast payload: the shared compressed
    /// bytes (compressing them on first use), the shared plain frame, or
    /// on its own.
    fn choose(
        &mut self,
        session: &Session,
        kind: Opcode,
        payload: &[u8],
        once: &DeflatedOnce,
        counters: &WsCounters,
    ) -> SharedSend {
        let Some(compressor) = self.compressor.as_mut() else {
            return SharedSend::Own;
        };
        // Only a connection that fits may trigger the compression.
        let fits = payload.len() >= self.min_size
            && matches!(
                session.compressed_frame_header(kind, 0, compressor),
                Ok(Some(_))
            );
        if !fits {
            return SharedSend::Own;
        }
        let deflated = once.0.get_or_init(|| {
            WsCounters::bump(&counters.broadcasts_compressed);
            let out = compressor.compress(payload);
            (out.len() < payload.len()).then(|| out.into())
        });
        let Some(deflated) = deflated.clone() else {
            // It did not shrink; without context on our side, plain is as good.
            return SharedSend::Plain;
        };
        match session.compressed_frame_header(kind, deflated.len(), compressor) {
            Ok(Some((header, n))) => SharedSend::Compressed(header[..n].to_vec(), deflated),
            _ => SharedSend::Own,
        }
    }
}

/// See [`BroadcastCompressor::choose`].
enum SharedSend {
    /// This header, then the shared compressed payload.
    Compressed(Vec<u8>, Bytes),
    /// The shared uncompressed frame as it is.
    Plain,
    /// Whatever the session itself would do (see [`WsProtocol::queue_forced`]).
    Own,
}

impl<H: Handler> WsProtocol<H> {
    /// Carries out a command delivered to this connection.
    pub(super) fn on_command(&mut self, cx: &mut Context<'_, Self>, command: WsCommand) {
        match command {
            WsCommand::Send { .. } | WsCommand::Frame { .. } => self.queue_forced(cx, command),
            WsCommand::Close { code, reason } => {
                if self.state.frames_flow() {
                    self.start_close(cx, code, &reason);
                } else if !cx.is_closing() {
                    // Not upgraded yet (or done): nothing to negotiate.
                    self.state = State::Done;
                    cx.close();
                }
            }
        }
    }

    /// Queues a message forced onto this connection, within the hard cap.
    fn queue_forced(&mut self, cx: &mut Context<'_, Self>, command: WsCommand) {
        let (WsCommand::Send { kind, .. } | WsCommand::Frame { kind, .. }) = &command else {
            return;
        };
        let (kind, len) = (*kind, command.len());
        let session = &self.conn.session;
        if !self.state.frames_flow() || session.close_sent() || session.close_received() {
            return;
        }
        let cap = cx.shared().config.max_write_buffer;
        let id = cx.id();
        // A lookup in an empty map returns before hashing: no cost per
        // broadcast recipient while nothing is held.
        let held = cx
            .shared()
            .held
            .get(&id)
            .map_or(0, |h| h.iter().map(WsCommand::len).sum());
        if !outgoing::fits(cx.write_buffer_size() + held, len, cap) {
            self.overflow(cx);
            return;
        }
        if session.is_sending_fragments() {
            // Not inside our fragmented message: after its last fragment
            // (`release_held`).
            cx.shared().held.entry(id).or_default().push(command);
            return;
        }
        let (endpoint, mut ops) = cx.split();
        let session = &mut self.conn.session;
        let transport = ops.transport();
        match command {
            WsCommand::Frame {
                frame,
                header_len,
                deflated,
                ..
            } => {
                let payload = frame.slice(header_len..);
                let how = endpoint.broadcast.choose(
                    session,
                    kind,
                    &payload,
                    &deflated,
                    &endpoint.counters,
                );
                if let SharedSend::Compressed(header, compressed) = how {
                    // Compressed once for every connection it fits.
                    queue_frame(session, transport, &header, compressed);
                } else if matches!(how, SharedSend::Plain)
                    || session.plain_frame_header(kind, payload.len()).is_some()
                {
                    // This connection may send the shared frame as it is.
                    queue_frame(session, transport, &[], frame);
                } else {
                    // Client role (masks per connection), or a compressor
                    // of its own: the session encodes the payload.
                    let _ = outgoing::send_shared(session, transport, kind, payload);
                }
            }
            WsCommand::Send { payload, .. } => {
                let _ = outgoing::send_shared(session, transport, kind, payload);
            }
            WsCommand::Close { .. } => {}
        }
        self.conn.last_activity = Stamp::at(cx.now());
        cx.count_sent(1);
    }

    /// Sends the messages held while this connection was sending a
    /// fragmented message, once it no longer is.
    pub(super) fn release_held(&mut self, cx: &mut Context<'_, Self>) {
        if cx.shared().held.is_empty() || self.conn.session.is_sending_fragments() {
            return;
        }
        let id = cx.id();
        if let Some(held) = cx.shared().held.remove(&id) {
            for command in held {
                self.queue_forced(cx, command);
            }
        }
    }

    /// The write queue is at its hard cap: apply [`Overflow`].
    fn overflow(&mut self, cx: &mut Context<'_, Self>) {
        let peer = cx.peer_addr();
        let counters = cx.shared().counters.clone();
        match cx.shared().config.overflow {
            Overflow::Drop => {
                log::debug!("{peer}: write buffer full, message dropped");
                WsCounters::bump(&counters.overflow_drops);
            }
            Overflow::Close => {
                log::warn!("{peer}: write buffer full, closing with 1008");
                WsCounters::bump(&counters.overflow_closes);
                self.fail(cx, close::POLICY, "write buffer full");
            }
        }
    }
}

/// Drops what was held for a connection that is gone.
pub(super) fn drop_held<H: Handler>(cx: &mut Context<'_, WsProtocol<H>>) {
    if !cx.shared().held.is_empty() {
        let id = cx.id();
        cx.shared().held.remove(&id);
    }
}
