//! Session events to handler callbacks, and the end of the conversation:
//! starting and finishing the closing handshake, and closing TCP after it.

use super::clock::Stamp;
use super::state::State;
use super::{timers, Handler, WsCounters, WsProtocol};
use crate::reactor::Context;
use crate::ws::message_buf;
use crate::ws::reader::EventReader;
use crate::ws::{close, Event, Framed, Message, Payload, Role};

impl<H: Handler> WsProtocol<H> {
    /// Parses frames out of `data` and dispatches their events; returns the
    /// bytes consumed.
    pub(super) fn on_frames(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let now = self.heard_from_peer(cx);
        let mut reader = EventReader::new(data);
        // Stop early when the application paused reading: the rest stays
        // with the transport and comes back on resume.
        while !self.conn.user_paused && self.state.frames_flow() {
            // The common whole message comes as a plain `Message`, apart
            // from the general step's events: merged into one value, the
            // event was copied between stack slots and read back wider
            // than it was written, a stall (store-to-load forwarding
            // fails) per message.
            // A server also gets the echo of it framed in place, should the
            // handler send it back unchanged.
            if let Some((taken, framed)) = reader.next_framed(&mut self.conn.session) {
                self.conn.last_activity = now;
                match taken {
                    Ok(message) => {
                        if cx.tracing() {
                            let what = describe_data(message.is_text(), message.len());
                            cx.trace(format_args!("ws: decoded {what} -> handler"));
                        }
                        self.on_message(cx, message, framed);
                    }
                    Err(error) => self.dispatch(cx, error),
                }
                continue;
            }
            let Some((n, event)) = reader.next(&mut self.conn.session) else {
                break;
            };
            // Pings and pongs prove liveness but are not activity: were
            // they, keepalive would keep every idle connection open.
            if n > 0 && !matches!(event, Some(Event::Ping(_) | Event::Pong(_))) {
                self.conn.last_activity = now;
            }
            if let Some(event) = event {
                self.dispatch(cx, event);
            }
        }
        let consumed = reader.consumed();
        if cx.tracing() && !data.is_empty() {
            let left = data.len() - consumed;
            cx.trace(format_args!(
                "ws: frames consumed {consumed} of {} bytes, {left} kept",
                data.len()
            ));
        }
        self.after_session_step(cx);
        consumed
    }

    /// One decoded event to the handler, then its buffer to the spares.
    #[inline(always)]
    fn dispatch(&mut self, cx: &mut Context<'_, Self>, event: Event<'_>) {
        if cx.tracing() {
            cx.trace(format_args!("ws: decoded {} -> handler", describe(&event)));
        }
        // By reference, for the same reason as `on_frames` keeps its two
        // steps apart.
        self.on_event(cx, &event);
        recycle(event);
    }

    /// `n` bytes of a large frame's payload were read straight into its
    /// message buffer (`get_buffer`): the same as `on_frames` for them.
    pub(super) fn on_payload(&mut self, cx: &mut Context<'_, Self>, n: usize) {
        // Payload of a data frame: activity as well as liveness.
        self.conn.last_activity = self.heard_from_peer(cx);
        if cx.tracing() {
            cx.trace(format_args!(
                "ws: {n} payload bytes read into the message buffer"
            ));
        }
        if let Some(event) = self.conn.session.payload_received(n) {
            self.dispatch(cx, event);
        }
        self.after_session_step(cx);
    }

    /// Bytes arrived from the peer: it is alive, and an unanswered ping is
    /// answered by them as well as by a pong. Returns the time's stamp.
    fn heard_from_peer(&mut self, cx: &mut Context<'_, Self>) -> Stamp {
        let now = Stamp::at(cx.now());
        self.last_received = now;
        self.ping_sent = None;
        now
    }

    fn on_event(&mut self, cx: &mut Context<'_, Self>, event: &Event<'_>) {
        match event {
            Event::Text(payload) => {
                // The session validated the whole message as UTF-8 already.
                let text = std::str::from_utf8(payload).unwrap_or_default();
                self.on_message(cx, Message::Text(text), None);
            }
            Event::Binary(payload) => self.on_message(cx, Message::Binary(payload), None),
            Event::Ping(_) | Event::Pong(_) => {
                // Pongs to pings are queued by the session; any frame at
                // all proves the peer alive, so nothing else to do.
            }
            Event::Close { code, reason } => {
                self.notify_close(cx, *code, reason);
            }
            Event::Part(part) => {
                if part.is_last() {
                    cx.count_received(1);
                }
                let bytes = part.as_bytes();
                let at = (bytes.as_ptr() as usize, bytes.len());
                self.call_handler_part(cx, at, |h, ws| h.on_message_part(ws, part.reborrow()));
            }
            Event::Error { code, reason } => {
                let peer = cx.peer_addr();
                log::info!("{peer}: protocol error, closing with {code}: {reason}");
                WsCounters::bump(&cx.shared().counters.protocol_errors);
                timers::arm_close(cx);
                self.notify_close(cx, *code, reason);
            }
        }
    }

    /// A whole text or binary message to the handler, with its echo
    /// framed in place when the session built one.
    #[inline(always)]
    fn on_message(
        &mut self,
        cx: &mut Context<'_, Self>,
        message: Message<'_>,
        framed: Option<Framed>,
    ) {
        cx.count_received(1);
        self.call_handler_framed(cx, framed, |h, ws| h.on_message(ws, message));
    }

    /// Calls `on_close` if it is owed (the connection is `Open`): a
    /// connection refused, answered with plain HTTP or timed out before
    /// the upgrade never reached the handler, so it is not told of the end
    /// either, and one already told is not told twice.
    pub(super) fn notify_close(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &str) {
        if !matches!(self.state, State::Open) {
            return;
        }
        self.state = State::Closing;
        WsCounters::bump(&cx.shared().counters.closed);
        cx.shared().counters.count_close(code);
        self.call_handler(cx, |h, ws| h.on_close(ws, code, reason));
    }

    /// Starts our closing handshake (if still possible) and arms the close timeout.
    pub(super) fn start_close(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &str) {
        let session = &mut self.conn.session;
        let _ = cx
            .transport()
            .write_with(|out| session.close(code, reason, out));
        timers::arm_close(cx);
    }

    /// Fails the connection with `code` from our side.
    pub(super) fn fail(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &'static str) {
        self.start_close(cx, code, reason);
        self.notify_close(cx, code, reason);
    }

    /// Moves frames the session owes the peer into the transport, and
    /// closes TCP when the WebSocket conversation is over.
    pub(super) fn after_session_step(&mut self, cx: &mut Context<'_, Self>) {
        self.release_held(cx);
        if self.conn.session.has_pending() {
            let session = &mut self.conn.session;
            cx.write_with(|out| session.take_pending(out));
        }
        if !self.state.frames_flow() {
            return;
        }
        let session = &self.conn.session;
        if !session.is_failed() && !session.is_closed() {
            return;
        }
        // Both ways of ending pass through an event that ran `on_close`;
        // should one ever not, the handler is still told, once.
        self.notify_close(cx, close::ABNORMAL, "connection closed");
        self.state = State::Done;
        // RFC 6455 7.1.1: the server closes TCP first; a client waits for
        // the server's FIN (see `eof_received`), bounded by the close timeout.
        // After a clean closing handshake the client sends nothing more
        // (RFC 6455 5.5.1), so the server closes the socket as soon as its
        // close frame is out, without waiting for the client's FIN. A
        // failed connection lingers instead: its peer may still be
        // sending, and closing on unread bytes would send a RST that could
        // destroy our close frame before the peer reads it.
        let session = &self.conn.session;
        if session.is_failed() {
            cx.close();
        } else if session.role() == Role::Server {
            cx.close_promptly();
        } else {
            timers::arm_close(cx);
        }
    }
}

/// A reassembled message's buffer goes back to the thread's spares once
/// the handler is done with it; borrowed payloads were never the
/// session's to give.
fn recycle(event: Event<'_>) {
    if let Event::Text(Payload::Owned(buf)) | Event::Binary(Payload::Owned(buf)) = event {
        message_buf::recycle(buf);
    }
}

/// A text or binary message of `len` bytes, for `--trace`.
fn describe_data(text: bool, len: usize) -> String {
    let kind = if text { "text" } else { "binary" };
    format!("a {kind} message of {len} bytes")
}

/// One session event, for `--trace`.
fn describe(event: &Event<'_>) -> String {
    match event {
        Event::Text(p) => describe_data(true, p.len()),
        Event::Binary(p) => describe_data(false, p.len()),
        Event::Ping(p) => format!("a ping of {} bytes (pong queued)", p.len()),
        Event::Pong(p) => format!("a pong of {} bytes", p.len()),
        Event::Close { code, .. } => format!("a close frame, code {code}"),
        Event::Error { code, reason } => format!("a protocol error ({code}: {reason})"),
        Event::Part(part) => format!(
            "{} part of a {} message, {} bytes",
            match (part.is_first(), part.is_last()) {
                (true, true) => "the only",
                (true, false) => "the first",
                (false, true) => "the last",
                (false, false) => "a",
            },
            if part.is_text() { "text" } else { "binary" },
            part.len()
        ),
    }
}
