//! Where a connection is in its life. One value answers both questions the
//! adapter keeps asking: may frames flow, and what is the handler still owed?

use crate::ws::handshake::HeadScan;
use crate::ws::{ClientHandshake, ClientRequest};

/// A connection's stage. Only `Open` owes the handler `on_close`; only
/// `Connecting` and `AwaitingResponse` owe it `on_connect_error` should
/// they fail. Every other callback's due is implied the same way, so no
/// flag elsewhere repeats it.
pub(super) enum State {
    /// Server: waiting for the HTTP upgrade request; the scan remembers
    /// how far the head was searched for its end.
    AwaitingRequest(Box<HeadScan>),
    /// Client: TCP is connecting; the request goes out once it is up.
    Connecting(Box<ClientRequest>),
    /// Client: our request is sent, waiting for the 101.
    AwaitingResponse(Box<ClientHandshake>),
    /// Frames flow, and `on_close` is owed.
    Open,
    /// `on_close` has run; frames still flow until the closing handshake
    /// (or its timeout) ends it.
    Closing,
    /// No more WebSocket traffic and nothing owed: an HTTP answer went
    /// out, the handshake failed, or the conversation is over and TCP is
    /// closing.
    Done,
}

impl State {
    /// Whether the opening handshake is done and the connection not yet over.
    pub(super) fn frames_flow(&self) -> bool {
        matches!(self, State::Open | State::Closing)
    }

    /// Whether this is a client connection that has not opened yet.
    pub(super) fn is_connecting(&self) -> bool {
        matches!(self, State::Connecting(_) | State::AwaitingResponse(_))
    }
}
