//! The WebSocket protocol adapter: layer 5, between the transport and the
//! application.
//!
//! [`WsProtocol`] implements [`Protocol`] for one connection by feeding the
//! transport's bytes to the sans-IO [`Session`] and turning its events into
//! [`Handler`] callbacks. It owns everything that needs a clock or a socket
//! and that the sans-IO core therefore leaves out: the HTTP exchange before
//! the upgrade, timeouts, keepalive pings, closing TCP once the closing
//! handshake is done, and the backpressure contract:
//!
//! - `pause_writing` pauses reading from that peer (we stop taking work we
//!   would have to answer), `resume_writing` resumes it and calls
//!   [`Handler::on_drain`];
//! - a hard cap, [`Config::max_write_buffer`], bounds what a handler can
//!   force into one queue.
//!
//! In client role ([`WsProtocol::client`]) the same adapter sends the
//! upgrade request, checks the answer (101, `Sec-WebSocket-Accept`, a
//! subprotocol we offered), and after the closing handshake waits for the
//! server to close TCP first (RFC 6455 7.1.1), bounded by the close timeout.
//! A client connection that fails before it opens is reported through
//! [`Handler::on_connect_error`], not `on_close`: it never had a WebSocket
//! to close, and a separate callback lets a handler tell "could not
//! connect" (retry, report the reason) from "was connected and dropped".

mod config;
mod counters;
mod handle;

use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

pub use config::{Config, Overflow};
pub use counters::WsCounters;
pub use handle::WebSocket;

use crate::handler::{Handler, Message};
use crate::protocol::Protocol;
use crate::reactor::Context;
use crate::ws::frame::FrameHeader;
use crate::ws::handshake::{self, HandshakeError};
use crate::ws::{close, Event, HttpRequest, HttpResponse, Opcode, Request, Role, Session};

/// Loop-wide state of a WebSocket endpoint: the application's handler, the
/// settings, and counters.
pub struct App<H> {
    /// The application.
    pub handler: H,
    /// Settings shared by every connection.
    pub config: Config,
    /// Counters, also readable from other threads.
    pub counters: Arc<WsCounters>,
}

impl<H> App<H> {
    /// Wraps a handler with its settings.
    pub fn new(handler: H, config: Config) -> Self {
        App {
            handler,
            config,
            counters: Arc::default(),
        }
    }
}

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
        let kind = if msg.is_text() {
            Opcode::Text
        } else {
            Opcode::Binary
        };
        WsCommand::Send {
            kind,
            payload: Bytes::copy_from_slice(msg.as_bytes()),
        }
    }
}

impl WsCommand {
    /// A command that sends `msg` as one frame encoded now, to be shared
    /// by every connection it is delivered to (see [`WsCommand::Frame`]).
    pub fn frame(msg: Message<'_>) -> Self {
        let kind = if msg.is_text() {
            Opcode::Text
        } else {
            Opcode::Binary
        };
        let header = FrameHeader {
            fin: true,
            opcode: kind,
            mask: None,
            payload_len: msg.len() as u64,
        };
        let (head, header_len) = header.encode();
        let mut frame = Vec::with_capacity(header_len + msg.len());
        frame.extend_from_slice(&head[..header_len]);
        frame.extend_from_slice(msg.as_bytes());
        WsCommand::Frame {
            kind,
            frame: frame.into(),
            header_len,
        }
    }
}

/// Timer tags used by the adapter.
mod tag {
    pub const HANDSHAKE: u64 = 1;
    pub const CLOSE: u64 = 2;
    pub const PING: u64 = 3;
    pub const PONG: u64 = 4;
    pub const IDLE: u64 = 5;
}

/// Where a connection is in its life.
enum Phase {
    /// Server: waiting for the HTTP upgrade request.
    AwaitingRequest,
    /// Client: our request is sent, waiting for the 101.
    AwaitingResponse { key: String },
    /// Frames flow.
    Open,
    /// No more WebSocket traffic: an HTTP error went out, or the closing
    /// handshake finished; TCP is closing.
    Done,
}

/// The client side's handshake parameters.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    /// Value of the `Host` header.
    pub host: String,
    /// Request target, e.g. `/chat?room=1`.
    pub path: String,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
}

/// Per-connection state of the WebSocket adapter. See the module docs.
pub struct WsProtocol<H> {
    phase: Phase,
    /// What the application's [`WebSocket`] handle works on.
    link: Link,
    client: Option<ClientRequest>,
    /// `on_open` has run: only then is `on_close` owed.
    opened: bool,
    /// `on_close` has run (it runs once).
    close_notified: bool,
    /// When a frame last arrived, for keepalive.
    last_received: Instant,
    /// A keepalive ping is out and no frame has come back since.
    ping_sent: Option<Instant>,
    _handler: PhantomData<fn() -> H>,
}

/// The part of a connection's state that handler callbacks reach through
/// [`WebSocket`].
pub(crate) struct Link {
    pub(crate) session: Session,
    pub(crate) path: String,
    /// Reading paused by the application (`WebSocket::pause`).
    pub(crate) user_paused: bool,
    /// Reading paused because our write queue is above the high watermark.
    pub(crate) write_paused: bool,
    /// When anything was last sent or received, for the idle timeout.
    pub(crate) last_activity: Instant,
}

impl<H: Handler> WsProtocol<H> {
    /// A server-side connection: expects an HTTP upgrade request first.
    pub fn server() -> Self {
        Self::with_phase(Phase::AwaitingRequest, Role::Server, None)
    }

    /// A client-side connection that will send `request` once connected.
    pub fn client(request: ClientRequest) -> Self {
        let key = handshake::generate_key();
        Self::with_phase(Phase::AwaitingResponse { key }, Role::Client, Some(request))
    }

    fn with_phase(phase: Phase, role: Role, client: Option<ClientRequest>) -> Self {
        let now = Instant::now();
        WsProtocol {
            phase,
            link: Link {
                // Limits are replaced from the config once the connection opens.
                session: Session::new(role, Default::default()),
                path: String::new(),
                user_paused: false,
                write_paused: false,
                last_activity: now,
            },
            client,
            opened: false,
            close_notified: false,
            last_received: now,
            ping_sent: None,
            _handler: PhantomData,
        }
    }

    /// Runs a handler callback, turning a panic into a 1011 close of this
    /// connection so the rest of the server is unaffected.
    fn call_handler(
        &mut self,
        cx: &mut Context<'_, Self>,
        f: impl FnOnce(&mut H, &mut WebSocket<'_>),
    ) {
        let (app, ops) = cx.split();
        let App {
            handler,
            config,
            counters,
        } = app;
        let mut ws = WebSocket {
            ops,
            link: &mut self.link,
            config,
            counters,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(handler, &mut ws)));
        if let Err(panic) = outcome {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            let peer = cx.peer_addr();
            log::error!("{peer}: handler panicked: {what}; closing with 1011");
            WsCounters::bump(&cx.shared().counters.handler_panics);
            self.fail(cx, close::INTERNAL, "internal error");
        }
    }

    /// Calls `on_close` once.
    fn notify_close(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &str) {
        // A connection refused, answered with plain HTTP or timed out
        // before the upgrade never reached the handler, so it is not told
        // of the end either.
        if self.close_notified || !self.opened {
            return;
        }
        self.close_notified = true;
        WsCounters::bump(&cx.shared().counters.closed);
        self.call_handler(cx, |h, ws| h.on_close(ws, code, reason));
    }

    /// Starts our closing handshake (if still possible) and arms the close timeout.
    fn start_close(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &str) {
        let session = &mut self.link.session;
        let _ = cx
            .transport()
            .write_with(|out| session.close(code, reason, out));
        if let Some(timeout) = cx.shared().config.close_timeout {
            cx.set_timer(timeout, tag::CLOSE);
        }
    }

    /// Fails the connection with `code` from our side.
    fn fail(&mut self, cx: &mut Context<'_, Self>, code: u16, reason: &'static str) {
        self.start_close(cx, code, reason);
        self.notify_close(cx, code, reason);
    }

    fn on_handshake_request(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let config = &cx.shared().config.handshake;
        let parsed = handshake::parse_head(data, config);
        let (head, head_len) = match parsed {
            Ok(None) => return 0,
            Ok(Some(done)) => done,
            Err(e) => {
                self.reject(cx, &e);
                return data.len();
            }
        };
        if let Some(answer) = self.answer_http(cx, &head) {
            cx.write(&answer);
            self.phase = Phase::Done;
            cx.close();
            return data.len();
        }
        let request = match handshake::validate_upgrade(head, &cx.shared().config.handshake) {
            Ok(request) => request,
            Err(e) => {
                self.reject(cx, &e);
                return data.len();
            }
        };
        let response = handshake::response_101(&request, request.subprotocol.as_deref(), &[]);
        cx.write(&response);
        self.link.path = request.path.clone();
        self.open(cx, &request);
        head_len + self.on_frames(cx, &mut data[head_len..])
    }

    fn on_handshake_response(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let Phase::AwaitingResponse { key } = &self.phase else {
            return 0;
        };
        let (response, head_len) = match handshake::parse_response(data, key) {
            Ok(None) => return 0,
            Ok(Some(done)) => done,
            Err(e) => {
                WsCounters::bump(&cx.shared().counters.rejected);
                self.connect_failed(cx, &e.to_string());
                cx.abort();
                return data.len();
            }
        };
        let offered = self.client.as_ref().map(|c| &c.subprotocols[..]);
        let offered: Vec<&str> = offered
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .collect();
        if let Err(e) = handshake::verify_subprotocol(&response, &offered) {
            WsCounters::bump(&cx.shared().counters.rejected);
            self.connect_failed(cx, &e.to_string());
            cx.abort();
            return data.len();
        }
        let request = Request {
            method: "GET".into(),
            path: self.link.path.clone(),
            headers: response.headers.clone(),
            key: String::new(),
            accept: String::new(),
            subprotocol: response.subprotocol.clone(),
        };
        self.open(cx, &request);
        head_len + self.on_frames(cx, &mut data[head_len..])
    }

    /// Lets the application answer a plain HTTP request; a panic there
    /// becomes a 500 for this connection only.
    fn answer_http(&mut self, cx: &mut Context<'_, Self>, head: &HttpRequest) -> Option<Vec<u8>> {
        let handler = &mut cx.shared().handler;
        let response = match catch_unwind(AssertUnwindSafe(|| handler.on_request(head))) {
            Ok(response) => response?,
            Err(_) => {
                let peer = cx.peer_addr();
                log::error!("{peer}: on_request panicked; answering 500");
                WsCounters::bump(&cx.shared().counters.handler_panics);
                HttpResponse::text(500, "internal error")
            }
        };
        let peer = cx.peer_addr();
        log::debug!(
            "{peer}: {} {} -> {}",
            head.method,
            head.path,
            response.status
        );
        Some(response.to_bytes(head.method == "HEAD"))
    }

    /// A client connection ended before it opened: tell the handler, once.
    fn connect_failed(&mut self, cx: &mut Context<'_, Self>, reason: &str) {
        if !matches!(self.phase, Phase::AwaitingResponse { .. }) {
            return;
        }
        self.phase = Phase::Done;
        // It never opened, so it must never get `on_close` either.
        self.close_notified = true;
        let peer = cx.peer_addr();
        log::warn!("{peer}: WebSocket connection failed: {reason}");
        self.call_handler(cx, |h, ws| h.on_connect_error(ws, reason));
    }

    /// Answers a bad upgrade request with its HTTP error, then closes.
    fn reject(&mut self, cx: &mut Context<'_, Self>, error: &HandshakeError) {
        let peer = cx.peer_addr();
        log::info!(
            "{peer}: rejected handshake: {} {}",
            error.status,
            error.reason
        );
        WsCounters::bump(&cx.shared().counters.rejected);
        cx.write(&error.to_response());
        self.phase = Phase::Done;
        cx.close();
    }

    /// The handshake is done: frames may flow.
    fn open(&mut self, cx: &mut Context<'_, Self>, request: &Request) {
        self.phase = Phase::Open;
        self.opened = true;
        let config = &cx.shared().config;
        self.link.session = Session::new(self.link.session.role(), config.limits);
        let (ping, idle) = (config.ping_interval, config.idle_timeout);
        let now = cx.now();
        self.last_received = now;
        self.link.last_activity = now;
        if let Some(interval) = ping {
            cx.set_timer(interval, tag::PING);
        }
        if let Some(idle) = idle {
            cx.set_timer(idle, tag::IDLE);
        }
        WsCounters::bump(&cx.shared().counters.opened);
        self.call_handler(cx, |h, ws| h.on_open(ws, request));
    }

    /// Parses frames out of `data` and dispatches their events; returns the
    /// bytes consumed.
    fn on_frames(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let now = cx.now();
        self.last_received = now;
        self.ping_sent = None;
        let mut pos = 0;
        // Stop early when the application paused reading: the rest stays
        // with the transport and comes back on resume.
        while pos < data.len() && !self.link.user_paused && matches!(self.phase, Phase::Open) {
            let (n, event) = self.link.session.read(&mut data[pos..]);
            pos += n;
            // Pings and pongs prove liveness but are not activity: were
            // they, keepalive would keep every idle connection open.
            if n > 0 && !matches!(event, Some(Event::Ping(_) | Event::Pong(_))) {
                self.link.last_activity = now;
            }
            match event {
                None if n == 0 => break,
                None => {}
                Some(event) => self.on_event(cx, event),
            }
        }
        self.after_session_step(cx);
        pos
    }

    fn on_event(&mut self, cx: &mut Context<'_, Self>, event: Event<'_>) {
        match event {
            Event::Text(payload) => {
                // The session validated the whole message as UTF-8 already.
                let text = std::str::from_utf8(&payload).unwrap_or_default();
                self.call_handler(cx, |h, ws| h.on_message(ws, Message::Text(text)));
            }
            Event::Binary(payload) => {
                self.call_handler(cx, |h, ws| h.on_message(ws, Message::Binary(&payload)));
            }
            Event::Ping(_) | Event::Pong(_) => {
                // Pongs to pings are queued by the session; any frame at
                // all proves the peer alive, so nothing else to do.
            }
            Event::Close { code, reason } => {
                self.notify_close(cx, code, &reason);
            }
            Event::Error { code, reason } => {
                let peer = cx.peer_addr();
                log::info!("{peer}: protocol error, closing with {code}: {reason}");
                WsCounters::bump(&cx.shared().counters.protocol_errors);
                if let Some(timeout) = cx.shared().config.close_timeout {
                    cx.set_timer(timeout, tag::CLOSE);
                }
                self.notify_close(cx, code, reason);
            }
        }
    }

    /// Moves frames the session owes the peer into the transport, and
    /// closes TCP when the WebSocket conversation is over.
    fn after_session_step(&mut self, cx: &mut Context<'_, Self>) {
        if self.link.session.has_pending() {
            let session = &mut self.link.session;
            cx.write_with(|out| session.take_pending(out));
        }
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        let finished = self.link.session.is_failed() || self.link.session.is_closed();
        if finished {
            self.phase = Phase::Done;
            // RFC 6455 7.1.1: the server closes TCP first; a client waits
            // for the server's FIN (see `eof_received`), bounded by the
            // close timeout.
            if self.link.session.role() == Role::Server || self.link.session.is_failed() {
                cx.close();
            } else if let Some(timeout) = cx.shared().config.close_timeout {
                cx.set_timer(timeout, tag::CLOSE);
            }
        }
    }

    /// Delivers a message forced onto this connection, within the hard cap.
    fn deliver(&mut self, cx: &mut Context<'_, Self>, command: WsCommand) {
        let (kind, len) = match &command {
            WsCommand::Send { kind, payload } => (*kind, payload.len()),
            WsCommand::Frame { kind, frame, .. } => (*kind, frame.len()),
            WsCommand::Close { .. } => return,
        };
        if !matches!(self.phase, Phase::Open)
            || self.link.session.close_sent()
            || self.link.session.close_received()
        {
            return;
        }
        let cap = cx.shared().config.max_write_buffer;
        if cx.write_buffer_size() + len + 14 > cap {
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
            return;
        }
        let session = &mut self.link.session;
        match command {
            WsCommand::Frame {
                frame, header_len, ..
            } => {
                if session.frame_header(kind, frame.len() - header_len).is_ok() {
                    if frame.len() < handle::SHARE_THRESHOLD {
                        // Small: copying the encoded bytes into the queue's
                        // tail beats a chunk of its own (measured in
                        // benches/broadcast.rs).
                        cx.write_with(|out| {
                            session.take_pending(out);
                            out.extend_from_slice(&frame);
                        });
                    } else {
                        if session.has_pending() {
                            cx.write_with(|out| session.take_pending(out));
                        }
                        cx.write_shared(frame);
                    }
                } else {
                    let payload = frame.slice(header_len..);
                    let _ = handle::send_shared(session, cx.transport(), kind, payload);
                }
            }
            WsCommand::Send { payload, .. } => {
                let _ = handle::send_shared(session, cx.transport(), kind, payload);
            }
            WsCommand::Close { .. } => {}
        }
        self.link.last_activity = cx.now();
    }
}

impl<H: Handler> Protocol for WsProtocol<H> {
    type Shared = App<H>;
    type Command = WsCommand;

    fn connection_made(&mut self, cx: &mut Context<'_, Self>) {
        let config = &cx.shared().config;
        let limits = config.write_limits;
        let (max_conns, timeout) = (config.max_connections, config.handshake_timeout);
        let open = match (&self.client, &config.shared_connection_count) {
            (None, Some(count)) => count.fetch_add(1, Ordering::Relaxed) + 1,
            _ => cx.open_connections(),
        };
        let _ = cx.set_write_buffer_limits(limits.high, Some(limits.low));
        if let Some(request) = &self.client {
            let key = match &self.phase {
                Phase::AwaitingResponse { key } => key.clone(),
                _ => String::new(),
            };
            let protocols: Vec<&str> = request.subprotocols.iter().map(String::as_str).collect();
            let bytes =
                handshake::client_request(&request.host, &request.path, &key, &protocols, &[]);
            self.link.path = request.path.clone();
            cx.write(&bytes);
        } else if max_conns.is_some_and(|max| open > max) {
            let peer = cx.peer_addr();
            log::warn!("{peer}: refused: connection limit reached");
            WsCounters::bump(&cx.shared().counters.refused_busy);
            let busy = HandshakeError {
                status: 503,
                reason: "server busy: connection limit reached".into(),
                headers: vec![("Retry-After".into(), "1".into())],
            };
            cx.write(&busy.to_response());
            self.phase = Phase::Done;
            cx.close();
            return;
        }
        if let Some(timeout) = timeout {
            cx.set_timer(timeout, tag::HANDSHAKE);
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        match self.phase {
            Phase::Open => self.on_frames(cx, data),
            Phase::AwaitingRequest => self.on_handshake_request(cx, data),
            Phase::AwaitingResponse { .. } => self.on_handshake_response(cx, data),
            Phase::Done => data.len(),
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_, Self>) -> bool {
        self.connect_failed(cx, "the server closed the connection without answering");
        if matches!(self.phase, Phase::Open) {
            let peer = cx.peer_addr();
            log::debug!("{peer}: TCP closed without a close frame");
        }
        self.notify_close(
            cx,
            close::ABNORMAL,
            "connection closed without a close frame",
        );
        self.phase = Phase::Done;
        false
    }

    fn connection_lost(&mut self, cx: &mut Context<'_, Self>, error: Option<io::Error>) {
        if let (None, Some(count)) = (&self.client, &cx.shared().config.shared_connection_count) {
            count.fetch_sub(1, Ordering::Relaxed);
        }
        let reason = match &error {
            Some(e) => format!("connection lost: {e}"),
            None => "connection closed".to_string(),
        };
        self.connect_failed(cx, &reason);
        self.notify_close(cx, close::ABNORMAL, &reason);
        self.phase = Phase::Done;
    }

    fn pause_writing(&mut self, cx: &mut Context<'_, Self>) {
        self.link.write_paused = true;
        cx.pause_reading();
    }

    fn resume_writing(&mut self, cx: &mut Context<'_, Self>) {
        self.link.write_paused = false;
        if !self.link.user_paused {
            cx.resume_reading();
        }
        if matches!(self.phase, Phase::Open) {
            self.call_handler(cx, |h, ws| h.on_drain(ws));
            self.after_session_step(cx);
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_, Self>, which: u64) {
        let now = cx.now();
        let peer = cx.peer_addr();
        let config = &cx.shared().config;
        let (ping_interval, ping_timeout, idle) = (
            config.ping_interval,
            config.ping_timeout,
            config.idle_timeout,
        );
        let counters = cx.shared().counters.clone();
        match which {
            tag::HANDSHAKE => {
                if matches!(self.phase, Phase::AwaitingResponse { .. }) {
                    WsCounters::bump(&counters.timeouts);
                    self.connect_failed(cx, "no answer to the opening handshake in time");
                    cx.abort();
                } else if matches!(self.phase, Phase::AwaitingRequest) {
                    log::info!("{peer}: opening handshake timed out");
                    WsCounters::bump(&counters.timeouts);
                    self.phase = Phase::Done;
                    cx.abort();
                }
            }
            tag::CLOSE => {
                if !cx.is_closing() || matches!(self.phase, Phase::Open) {
                    log::info!("{peer}: closing handshake timed out");
                    WsCounters::bump(&counters.timeouts);
                }
                cx.abort();
            }
            tag::PING if matches!(self.phase, Phase::Open) => {
                let Some(interval) = ping_interval else {
                    return;
                };
                let quiet = now.saturating_duration_since(self.last_received);
                if quiet < interval {
                    // Heard from the peer meanwhile: check again later.
                    cx.set_timer(interval - quiet, tag::PING);
                    return;
                }
                let session = &mut self.link.session;
                if cx
                    .write_with(|out| session.ping(b"wsloop", out))
                    .is_some_and(|r| r.is_ok())
                    && self.ping_sent.is_none()
                {
                    // The pong deadline runs from the first unanswered
                    // ping: later pings to a silent peer must not extend it.
                    self.ping_sent = Some(now);
                    if let Some(timeout) = ping_timeout {
                        cx.set_timer(timeout, tag::PONG);
                    }
                }
                cx.set_timer(interval, tag::PING);
            }
            // A PONG timer armed for a ping that was answered may fire
            // after a later ping went out; only the later ping's own timer
            // (deadline reached) may close.
            tag::PONG
                if matches!(self.phase, Phase::Open)
                    && self.ping_sent.is_some_and(|sent| {
                        ping_timeout.is_some_and(|t| now.saturating_duration_since(sent) >= t)
                    }) =>
            {
                log::info!("{peer}: no pong within the keepalive timeout; closing with 1011");
                WsCounters::bump(&counters.timeouts);
                self.fail(cx, close::INTERNAL, "keepalive ping timeout");
            }
            tag::IDLE if matches!(self.phase, Phase::Open) => {
                let Some(idle) = idle else { return };
                let quiet = now.saturating_duration_since(self.link.last_activity);
                if quiet < idle {
                    cx.set_timer(idle - quiet, tag::IDLE);
                    return;
                }
                log::info!("{peer}: idle for {idle:?}; closing with 1001");
                WsCounters::bump(&counters.timeouts);
                self.fail(cx, close::GOING_AWAY, "idle timeout");
            }
            _ => {}
        }
        self.after_session_step(cx);
    }

    fn command(&mut self, cx: &mut Context<'_, Self>, command: WsCommand) {
        match command {
            WsCommand::Send { .. } | WsCommand::Frame { .. } => self.deliver(cx, command),
            WsCommand::Close { code, reason } => {
                if matches!(self.phase, Phase::Open) {
                    self.start_close(cx, code, &reason);
                } else if !cx.is_closing() {
                    // Not upgraded yet (or done): nothing to negotiate.
                    self.phase = Phase::Done;
                    cx.close();
                }
            }
        }
        self.after_session_step(cx);
    }
}
