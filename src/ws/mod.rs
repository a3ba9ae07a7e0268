//! A sans-IO WebSocket (RFC 6455) protocol engine.
//!
//! "Sans-IO" means nothing in this module touches a socket, a timer or a
//! thread. Every type here is a pure state machine: the caller hands in the
//! bytes it read from the network and gets back *events* (a message arrived,
//! the peer wants to close, the peer broke the protocol) plus *bytes to
//! write*. Deciding when to read, when to flush and when to close the TCP
//! stream is left to the event loop that owns the socket.
//!
//! Keeping IO out buys three things: the protocol can be tested exhaustively
//! with plain byte slices (split at every position, fed in random chunks),
//! the same code serves a blocking client and a non-blocking server, and
//! the hot path can be reasoned about without any syscalls in the way.
//!
//! The files, from the bottom up, each hold one idea:
//!
//! - [`mask`]: XOR (un)masking of payloads, a machine word at a time.
//! - [`utf8`]: UTF-8 validation that can be fed a message in pieces.
//! - [`error`]: the "fail the connection with this close code" value.
//! - [`frame`]: opcodes and frame headers, encoded and decoded.
//! - [`close`]: close status codes and close frame payloads.
//! - [`message`]: a message as the application sees it, whole or in parts.
//! - [`headers`]: header lookup and rendering, for plain HTTP and the upgrade.
//! - [`http`]: plain HTTP answers before (instead of) an upgrade.
//! - [`extension`]: negotiating extensions during the upgrade.
//! - [`handshake`]: the opening handshake, as sans-IO steps for both roles.
//! - [`session`]: the per-connection state machine that ties it together.
//! - [`reader`]: the loop that feeds received bytes through a session.

pub mod close;
pub mod deflate;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod headers;
pub mod http;
pub mod mask;
pub mod message;
pub mod message_buf;
pub mod reader;
pub mod session;
pub mod utf8;

pub use error::ProtocolError;
pub use extension::{Extension, ExtensionParams};
pub use frame::Opcode;
pub use handshake::{ClientHandshake, ClientRequest, ServerHandshake};
pub use handshake::{HandshakeConfig, HandshakeError, Request, Response, UpgradeRequest};
pub use http::{HttpRequest, HttpResponse};
pub use message::{Message, MessagePart};
pub use session::{Event, Framed, Limits, Payload, Role, SendError, Session, State};
