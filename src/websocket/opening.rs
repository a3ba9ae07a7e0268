//! Driving the opening handshake from the transport's bytes. The decisions
//! (what is a valid upgrade, what to answer, what was agreed) are the
//! sans-IO handshake's, in `ws/handshake/`; this file carries them out:
//! writes, closes, counters, logs and the handler's first callback.

use std::sync::atomic::Ordering;

use super::clock::Stamp;
use super::isolation::answer_http;
use super::state::State;
use super::{timers, Endpoint, Handler, WsCounters, WsProtocol};
use crate::reactor::Context;
use crate::ws::extension::configure_session;
use crate::ws::handshake::{ClientStep, ServerStep};
use crate::ws::{
    ClientHandshake, HandshakeError, HttpRequest, ServerHandshake, Session, UpgradeRequest,
};

impl<H: Handler> WsProtocol<H> {
    /// At connect: a client sends its request; a server over its
    /// connection limit is refused with 503. Returns whether the
    /// handshake goes on (and needs its timeout).
    pub(super) fn start_handshake(&mut self, cx: &mut Context<'_, Self>) -> bool {
        if let State::Connecting(target) = &self.state {
            let handshake = ClientHandshake::new(target, &cx.shared().config.handshake.extensions);
            cx.write(&handshake.request_bytes());
            self.conn.path = stored_path(&target.path);
            self.state = State::AwaitingResponse(Box::new(handshake));
            return true;
        }
        // Workers share one count so the limit is a total; alone, the
        // loop's own count is exact.
        let open = match &cx.shared().config.shared_connection_count {
            Some(count) => count.fetch_add(1, Ordering::Relaxed) + 1,
            None => cx.open_connections(),
        };
        let max_conns = cx.shared().config.max_connections;
        if max_conns.is_some_and(|max| open > max) {
            let peer = cx.peer_addr();
            log::warn!("{peer}: refused: connection limit reached");
            WsCounters::bump(&cx.shared().counters.refused_busy);
            cx.shared().counters.count_rejection(503);
            let busy = HandshakeError::new(503, "server busy: connection limit reached")
                .with_header("Retry-After", "1");
            self.end_http(cx, &busy.to_response());
            return false;
        }
        true
    }

    /// Server: the request head, so far.
    pub(super) fn on_request(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let peer = cx.peer_addr();
        let Endpoint {
            handler,
            config,
            counters,
            metrics,
            ..
        } = cx.shared();
        let State::AwaitingRequest(scan) = &mut self.state else {
            return 0;
        };
        let step = ServerHandshake::new(&config.handshake).receive_scanned(data, scan, |head| {
            if config.metrics && is_scrape(head) {
                return Some(metrics.response());
            }
            answer_http(handler, counters, peer, head)
        });
        match step {
            ServerStep::NeedMore => 0,
            ServerStep::Answered { response, .. } => {
                self.end_http(cx, &response);
                data.len()
            }
            ServerStep::Rejected { error, response } => {
                let peer = cx.peer_addr();
                log::info!(
                    "{peer}: rejected handshake: {} {}",
                    error.status,
                    error.reason
                );
                WsCounters::bump(&cx.shared().counters.rejected);
                cx.shared().counters.count_rejection(error.status);
                self.end_http(cx, &response);
                data.len()
            }
            ServerStep::Upgraded {
                response,
                head_len,
                request,
            } => {
                cx.write(&response);
                self.conn.path = stored_path(&request.path);
                self.open(cx, &request);
                head_len + self.on_frames(cx, &mut data[head_len..])
            }
        }
    }

    /// Client: the server's answer, so far.
    pub(super) fn on_response(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let State::AwaitingResponse(handshake) = &self.state else {
            return 0;
        };
        match handshake.receive(data) {
            ClientStep::NeedMore => 0,
            ClientStep::Failed(e) => {
                WsCounters::bump(&cx.shared().counters.rejected);
                self.connect_failed(cx, &e.to_string());
                cx.abort();
                data.len()
            }
            ClientStep::Upgraded {
                head_len, request, ..
            } => {
                self.open(cx, &request);
                head_len + self.on_frames(cx, &mut data[head_len..])
            }
        }
    }

    /// Sends a plain HTTP answer (a page, an error) and closes: the
    /// connection never becomes a WebSocket.
    fn end_http(&mut self, cx: &mut Context<'_, Self>, response: &[u8]) {
        cx.write(response);
        self.state = State::Done;
        cx.close();
    }

    /// The handshake is done: frames may flow.
    fn open(&mut self, cx: &mut Context<'_, Self>, request: &UpgradeRequest) {
        self.state = State::Open;
        let config = &cx.shared().config;
        self.conn.session = Session::new(self.conn.session.role(), config.limits);
        let extensions = &config.handshake.extensions;
        configure_session(extensions, &request.extensions, &mut self.conn.session);
        let parts_from = cx.shared().handler.parts_from();
        self.conn.session.set_parts_from(parts_from);
        let now = Stamp::at(cx.now());
        self.last_received = now;
        self.conn.last_activity = now;
        timers::arm_open(cx);
        WsCounters::bump(&cx.shared().counters.opened);
        if cx.tracing() {
            cx.trace(format_args!(
                "ws: handshake done ({}) -> on_open",
                request.path
            ));
        }
        self.call_handler(cx, |h, ws| h.on_open(ws, request));
    }

    /// A client connection ended before it opened: tell the handler, once.
    pub(super) fn connect_failed(&mut self, cx: &mut Context<'_, Self>, reason: &str) {
        if !self.state.is_connecting() {
            return;
        }
        // It never opened, so it is owed nothing after this.
        self.state = State::Done;
        let peer = cx.peer_addr();
        log::warn!("{peer}: WebSocket connection failed: {reason}");
        self.call_handler(cx, |h, ws| h.on_connect_error(ws, reason));
    }
}

/// Whether `head` asks for the metrics (`GET /metrics`, or `HEAD`).
fn is_scrape(head: &HttpRequest) -> bool {
    matches!(head.method.as_str(), "GET" | "HEAD") && head.path_only() == "/metrics"
}

/// How a request path is kept per connection: `/` as nothing.
#[allow(clippy::box_collection)]
fn stored_path(path: &str) -> Option<Box<String>> {
    (path != "/").then(|| Box::new(path.to_string()))
}
