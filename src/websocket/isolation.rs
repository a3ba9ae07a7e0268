//! Fault isolation: a handler callback that panics fails its own
//! connection (1011, or a 500 before the upgrade) and nothing else.

use std::any::Any;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Endpoint, Handler, WebSocket, WsCounters, WsProtocol};
use crate::reactor::Context;
use crate::ws::{close, Framed, HttpRequest, HttpResponse};

impl<H: Handler> WsProtocol<H> {
    /// Runs a handler callback, turning a panic into a 1011 close of this
    /// connection so the rest of the server is unaffected.
    pub(super) fn call_handler(
        &mut self,
        cx: &mut Context<'_, Self>,
        f: impl FnOnce(&mut H, &mut WebSocket<'_>),
    ) {
        self.call_handler_framed(cx, None, f);
    }

    /// [`WsProtocol::call_handler`] for a message whose reply frame the
    /// session built in place: sending it back unchanged costs no copy.
    #[inline(always)]
    pub(super) fn call_handler_framed(
        &mut self,
        cx: &mut Context<'_, Self>,
        framed: Option<Framed>,
        f: impl FnOnce(&mut H, &mut WebSocket<'_>),
    ) {
        self.call_handler_lending(cx, framed, None, f);
    }

    /// [`WsProtocol::call_handler`] for a message part whose bytes lie at
    /// `part` (address, length) in the buffer being read: sending them on
    /// as a fragment lends them instead of copying them.
    pub(super) fn call_handler_part(
        &mut self,
        cx: &mut Context<'_, Self>,
        part: (usize, usize),
        f: impl FnOnce(&mut H, &mut WebSocket<'_>),
    ) {
        self.call_handler_lending(cx, None, Some(part), f);
    }

    #[inline(always)]
    fn call_handler_lending(
        &mut self,
        cx: &mut Context<'_, Self>,
        framed: Option<Framed>,
        part: Option<(usize, usize)>,
        f: impl FnOnce(&mut H, &mut WebSocket<'_>),
    ) {
        let (endpoint, ops) = cx.split();
        let Endpoint {
            handler,
            config,
            counters,
            ..
        } = endpoint;
        let mut ws = WebSocket {
            ops,
            conn: &mut self.conn,
            config,
            counters,
            framed,
            part,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(handler, &mut ws)));
        if let Err(panic) = outcome {
            let peer = cx.peer_addr();
            log::error!(
                "{peer}: handler panicked: {}; closing with 1011",
                describe(&*panic)
            );
            WsCounters::bump(&cx.shared().counters.handler_panics);
            self.fail(cx, close::INTERNAL, "internal error");
        }
    }
}

/// Lets the application answer a plain HTTP request; a panic there
/// becomes a 500 for this connection only.
pub(super) fn answer_http<H: Handler>(
    handler: &mut H,
    counters: &WsCounters,
    peer: SocketAddr,
    head: &HttpRequest,
) -> Option<HttpResponse> {
    let response = match catch_unwind(AssertUnwindSafe(|| handler.on_request(head))) {
        Ok(response) => response?,
        Err(_) => {
            log::error!("{peer}: on_request panicked; answering 500");
            WsCounters::bump(&counters.handler_panics);
            HttpResponse::text(500, "internal error")
        }
    };
    log::debug!(
        "{peer}: {} {} -> {}",
        head.method,
        head.path,
        response.status
    );
    Some(response)
}

/// The panic's message, when it has one.
fn describe(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
