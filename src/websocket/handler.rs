//! What an application implements: the callbacks of a WebSocket endpoint.
//!
//! The trait sits beside the adapter that calls it (`WsProtocol`), and
//! [`Message`] in the sans-IO core, so neither depends on the other's module.

use super::WebSocket;
use crate::ws::{HttpRequest, HttpResponse, Message, MessagePart, UpgradeRequest};

/// An application on top of WebSocket connections.
///
/// One handler value serves every connection of a server (or of a client
/// loop): it is the place for application state such as a chat room's list
/// of users, and it needs no lock because every callback runs on the loop
/// thread. Each callback gets a [`WebSocket`] for the connection concerned;
/// `ws.id()` tells connections apart. Callbacks must not block: the whole
/// loop waits while one runs.
///
/// # Example: echo
///
/// ```
/// use wsloop::{Handler, Message, WebSocket};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
///         let _ = ws.send(msg);
///     }
/// }
/// ```
pub trait Handler: Sized + 'static {
    /// A server connection's HTTP request head arrived, before it is checked
    /// as a WebSocket upgrade. Returning a response sends it and closes the
    /// connection (a page, a health check, a 404, an auth refusal);
    /// `None`, the default, goes on with the upgrade. Upgrade requests can
    /// be told apart with [`HttpRequest::is_upgrade`].
    fn on_request(&mut self, request: &HttpRequest) -> Option<HttpResponse> {
        let _ = request;
        None
    }

    /// The opening handshake succeeded. `request` is the upgrade request
    /// that opened the connection (for a client connection, the one it
    /// sent), with the subprotocol and extensions agreed on.
    fn on_open(&mut self, ws: &mut WebSocket<'_>, request: &UpgradeRequest) {
        let _ = (ws, request);
    }

    /// A complete message arrived.
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>);

    /// Messages whose first frame carries at least this many payload bytes
    /// come through [`Handler::on_message_part`], a piece at a time as they
    /// arrive, instead of whole through [`Handler::on_message`]. Asked once
    /// per connection, when it opens. The default, `usize::MAX`, hands
    /// every message over whole.
    ///
    /// A handler that can act on a message before all of it is there (send
    /// it on, write it out, hash it) takes large ones in parts: the
    /// connection then holds one read buffer's worth of such a message
    /// rather than all of it, and its bytes are used while they are still
    /// in the CPU's cache. Compressed messages always come whole.
    ///
    /// ```
    /// use wsloop::{Handler, Message, MessagePart, WebSocket};
    ///
    /// /// Echoes messages of 64 KiB or more piece by piece as they arrive.
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
    ///         let _ = ws.send(msg);
    ///     }
    ///
    ///     fn parts_from(&self) -> usize {
    ///         64 * 1024
    ///     }
    ///
    ///     fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: MessagePart<'_>) {
    ///         let _ = ws.send_fragment(part.opcode(), part.as_bytes(), part.is_last());
    ///     }
    /// }
    /// ```
    fn parts_from(&self) -> usize {
        usize::MAX
    }

    /// A piece of a message at least [`Handler::parts_from`] long arrived
    /// (see [`MessagePart`] for what a part holds). The parts of one
    /// message come in order, from one marked first to one marked last,
    /// with no other message between them. A connection that fails or
    /// closes in the middle of a message gets [`Handler::on_close`] without
    /// that message's last part. Only called for a handler that overrides
    /// `parts_from`.
    fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: MessagePart<'_>) {
        let _ = (ws, part);
    }

    /// The connection is closing or closed. `code` is the peer's close code
    /// (1005 when it sent none), the code we failed the connection with
    /// (1002, 1007, 1009, 1011), or 1006 when TCP closed without a close
    /// frame. Called exactly once for every connection that was opened.
    fn on_close(&mut self, ws: &mut WebSocket<'_>, code: u16, reason: &str) {
        let _ = (ws, code, reason);
    }

    /// A client connection failed before it opened: the TCP connect failed,
    /// the server answered the upgrade wrongly (not 101, a bad
    /// `Sec-WebSocket-Accept`, a subprotocol we did not offer), or it did
    /// not answer within the handshake timeout. `reason` says which. Such a
    /// connection never gets `on_open` or `on_close`: this is its one and
    /// only callback. Server connections never get it.
    fn on_connect_error(&mut self, ws: &mut WebSocket<'_>, reason: &str) {
        let _ = (ws, reason);
    }

    /// The write queue drained to the low watermark after having risen above
    /// the high one: a producer that was holding back may send again.
    fn on_drain(&mut self, ws: &mut WebSocket<'_>) {
        let _ = ws;
    }
}
