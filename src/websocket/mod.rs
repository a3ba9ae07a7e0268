//! The WebSocket protocol adapter: layer 5, between the transport and the
//! application.
//!
//! [`WsProtocol`] implements [`Protocol`] for one connection by feeding the
//! transport's bytes to the sans-IO core (the handshake in
//! [`crate::ws::handshake`], then the [`Session`]) and turning what comes
//! out into [`Handler`] callbacks. It owns what needs a clock or a socket
//! and the core therefore leaves out. One concern per file:
//!
//! - `state.rs`: where a connection is in its life, and what the handler
//!   is still owed (`on_close` exactly once, or `on_connect_error`);
//! - `opening.rs`: driving the opening handshake, both roles, and the
//!   connection limit;
//! - `dispatch.rs`: session events to handler callbacks, and closing TCP
//!   once the closing handshake is done;
//! - `timers.rs`: the handshake, close, keepalive and idle timers;
//! - `command.rs`: work sent from elsewhere ([`WsCommand`]) and the
//!   overflow policy for it;
//! - `isolation.rs`: a panicking handler closes only its own connection;
//! - `outgoing.rs`: how frames enter the write queue;
//! - `socket.rs`: [`WebSocket`], the handle a callback acts through;
//! - `handler.rs`: the [`Handler`] trait itself.
//!
//! Backpressure: `pause_writing` pauses reading from that peer (we stop
//! taking work we would have to answer), `resume_writing` resumes it and
//! calls [`Handler::on_drain`]; a hard cap, [`Config::max_write_buffer`],
//! bounds what a handler can force into one queue.
//!
//! In client role ([`WsProtocol::client`]) the same adapter sends the
//! upgrade request, checks the answer, and after the closing handshake
//! waits for the server to close TCP first (RFC 6455 7.1.1), bounded by
//! the close timeout. A client connection that fails before it opens is
//! reported through [`Handler::on_connect_error`], not `on_close`: it never
//! had a WebSocket to close, and a separate callback lets a handler tell
//! "could not connect" (retry, report the reason) from "was connected and
//! dropped".

mod clock;
mod command;
mod config;
mod counters;
mod dispatch;
pub mod handler;
mod isolation;
mod opening;
mod outgoing;
mod socket;
mod state;
mod timers;

use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub use command::{DeflatedOnce, WsCommand};
pub use config::{Config, Overflow};
pub use counters::{WsCounters, CLOSE_CODES, REJECTION_STATUSES};
pub use handler::Handler;
pub use socket::WebSocket;

use crate::metrics::Registry;
use crate::protocol::Protocol;
use crate::reactor::{ConnId, Context};
use crate::ws::deflate::params::EXTENSION_NAME;
use crate::ws::deflate::PerMessageDeflate;
use crate::ws::{close, ClientRequest, Role, Session};
use clock::Stamp;
use command::BroadcastCompressor;
use state::State;

/// Loop-wide state of a WebSocket endpoint: the application's handler, the
/// settings, and counters. It is the loop's `Protocol::Shared` value, which
/// every connection's callbacks reach.
pub struct Endpoint<H> {
    /// The application.
    pub handler: H,
    /// Settings shared by every connection.
    pub config: Config,
    /// Counters, also readable from other threads.
    pub counters: Arc<WsCounters>,
    /// The loops `GET /metrics` reports on (see [`Config::metrics`]); the
    /// server adds its own loop, and every loop of one process may share it.
    pub metrics: Arc<Registry>,
    /// Compresses broadcasts once for every connection they fit.
    pub(crate) broadcast: BroadcastCompressor,
    /// Messages sent to connections from elsewhere while the connection
    /// was in the middle of sending a fragmented message, which no other
    /// data message may interrupt; they go out after its last fragment.
    /// Loop-wide, so that connections pay nothing for this rare case.
    pub(crate) held: HashMap<ConnId, Vec<WsCommand>>,
}

impl<H> Endpoint<H> {
    /// Wraps a handler with its settings. When [`Config::deflate`] is
    /// enabled, permessage-deflate joins the handshake's extensions
    /// (unless the list already has it).
    pub fn new(handler: H, mut config: Config) -> Self {
        let extensions = &mut config.handshake.extensions;
        if config.deflate.enabled && !extensions.iter().any(|e| e.name() == EXTENSION_NAME) {
            extensions.push(PerMessageDeflate::shared(config.deflate));
        }
        Endpoint {
            broadcast: BroadcastCompressor::new(&config.deflate),
            held: HashMap::new(),
            handler,
            config,
            counters: Arc::default(),
            metrics: Arc::default(),
        }
    }
}

/// The former name of [`Endpoint`].
pub type App<H> = Endpoint<H>;

/// Per-connection state of the WebSocket adapter. See the module docs.
pub struct WsProtocol<H> {
    state: State,
    /// What the application's [`WebSocket`] handle works on.
    conn: ConnState,
    /// When a frame last arrived, for keepalive.
    last_received: Stamp,
    /// A keepalive ping is out and no frame has come back since.
    ping_sent: Option<Stamp>,
    _handler: PhantomData<fn() -> H>,
}

/// The part of a connection's state that handler callbacks reach through
/// [`WebSocket`].
pub(crate) struct ConnState {
    pub(crate) session: Session,
    /// The request path, `None` for `/` (by far the most common one, and
    /// then it costs no allocation). A thin box: one pointer inline, not
    /// the two of a `Box<str>`.
    #[allow(clippy::box_collection)]
    pub(crate) path: Option<Box<String>>,
    /// Reading paused by the application (`WebSocket::pause`).
    pub(crate) user_paused: bool,
    /// Reading paused because our write queue is above the high watermark.
    pub(crate) write_paused: bool,
    /// When anything was last sent or received, for the idle timeout.
    pub(crate) last_activity: Stamp,
}

impl<H: Handler> WsProtocol<H> {
    /// A server-side connection: expects an HTTP upgrade request first.
    pub fn server() -> Self {
        Self::with_state(State::AwaitingRequest(Box::default()), Role::Server)
    }

    /// A client-side connection that will send `request` once connected.
    pub fn client(request: ClientRequest) -> Self {
        Self::with_state(State::Connecting(Box::new(request)), Role::Client)
    }

    fn with_state(state: State, role: Role) -> Self {
        let now = Stamp::at(Instant::now());
        WsProtocol {
            state,
            conn: ConnState {
                // Limits are replaced from the config once the connection opens.
                session: Session::new(role, Default::default()),
                path: None,
                user_paused: false,
                write_paused: false,
                last_activity: now,
            },
            last_received: now,
            ping_sent: None,
            _handler: PhantomData,
        }
    }
}

impl<H: Handler> Protocol for WsProtocol<H> {
    type Shared = Endpoint<H>;
    type Command = WsCommand;

    fn connection_made(&mut self, cx: &mut Context<'_, Self>) {
        let limits = cx.shared().config.write_limits;
        let _ = cx.set_write_buffer_limits(limits.high, Some(limits.low));
        if self.start_handshake(cx) {
            timers::arm_handshake(cx);
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        match self.state {
            State::Open | State::Closing => self.on_frames(cx, data),
            State::AwaitingRequest(_) => self.on_request(cx, data),
            State::AwaitingResponse(_) => self.on_response(cx, data),
            State::Connecting(_) | State::Done => data.len(),
        }
    }

    fn get_buffer(&mut self) -> Option<&mut [u8]> {
        // Only where `on_frames` would go on reading frames too.
        if self.conn.user_paused || !self.state.frames_flow() {
            return None;
        }
        self.conn.session.payload_target()
    }

    fn buffer_updated(&mut self, cx: &mut Context<'_, Self>, n: usize) {
        self.on_payload(cx, n);
    }

    fn bytes_awaited(&self) -> usize {
        // Where `get_buffer` would read into the message, and only there.
        if self.conn.user_paused || !self.state.frames_flow() {
            return 0;
        }
        self.conn.session.payload_awaited()
    }

    fn eof_received(&mut self, cx: &mut Context<'_, Self>) -> bool {
        self.connect_failed(cx, "the server closed the connection without answering");
        if self.state.frames_flow() {
            let peer = cx.peer_addr();
            log::debug!("{peer}: TCP closed without a close frame");
        }
        self.notify_close(
            cx,
            close::ABNORMAL,
            "connection closed without a close frame",
        );
        self.state = State::Done;
        false
    }

    fn connection_lost(&mut self, cx: &mut Context<'_, Self>, error: Option<io::Error>) {
        // The count of a connection limit shared by several workers
        // (incremented in `start_handshake`).
        if self.conn.session.role() == Role::Server {
            if let Some(count) = &cx.shared().config.shared_connection_count {
                count.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let reason = match &error {
            Some(e) => format!("connection lost: {e}"),
            None => "connection closed".to_string(),
        };
        self.connect_failed(cx, &reason);
        self.notify_close(cx, close::ABNORMAL, &reason);
        self.state = State::Done;
        command::drop_held(cx);
    }

    fn pause_writing(&mut self, cx: &mut Context<'_, Self>) {
        self.conn.write_paused = true;
        cx.pause_reading();
    }

    fn resume_writing(&mut self, cx: &mut Context<'_, Self>) {
        self.conn.write_paused = false;
        if !self.conn.user_paused {
            cx.resume_reading();
        }
        if self.state.frames_flow() {
            self.call_handler(cx, |h, ws| h.on_drain(ws));
            self.after_session_step(cx);
        }
    }

    fn timer_fired(&mut self, cx: &mut Context<'_, Self>, which: u32) {
        self.on_timer(cx, which);
        self.after_session_step(cx);
    }

    fn command(&mut self, cx: &mut Context<'_, Self>, command: WsCommand) {
        self.on_command(cx, command);
        self.after_session_step(cx);
    }
}
