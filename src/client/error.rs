//! [`ClientError`]: everything that can go wrong for the blocking client.

use std::fmt;
use std::io;

use crate::ws::SendError;

/// Why a blocking-client operation failed.
#[derive(Debug)]
pub enum ClientError {
    /// The URL could not be parsed or resolved.
    InvalidUrl(String),
    /// The URL asks for something this client does not do (e.g. `wss://`).
    Unsupported(String),
    /// A socket error, including a read timeout (`WouldBlock`/`TimedOut`).
    Io(io::Error),
    /// The server did not accept the WebSocket upgrade (not 101, a wrong
    /// `Sec-WebSocket-Accept`, a subprotocol we did not offer, ...).
    Handshake(String),
    /// The server broke the protocol; we closed with `code`.
    Protocol {
        /// Close code we failed the connection with (1002, 1007, 1009).
        code: u16,
        /// What the server did wrong.
        reason: String,
    },
    /// The connection is closed: by the peer's close frame (its code and
    /// reason), or 1006 when TCP closed without one.
    Closed {
        /// The close code (1005 when the peer sent none, 1006 for no frame).
        code: u16,
        /// The close reason, possibly empty.
        reason: String,
    },
    /// The message could not be sent (too big, or the closing handshake began).
    Send(SendError),
}

impl ClientError {
    /// Whether this is a read timeout set with `Client::set_read_timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Io(e)
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidUrl(why) => write!(f, "invalid URL {why}"),
            ClientError::Unsupported(what) => write!(f, "unsupported: {what}"),
            ClientError::Io(e) if self.is_timeout() => write!(f, "timed out ({e})"),
            ClientError::Io(e) => write!(f, "I/O error: {e}"),
            ClientError::Handshake(why) => write!(f, "WebSocket handshake failed: {why}"),
            ClientError::Protocol { code, reason } => {
                write!(
                    f,
                    "server broke the protocol: {reason} (closed with {code})"
                )
            }
            ClientError::Closed { code, reason } if reason.is_empty() => {
                write!(f, "connection closed ({code})")
            }
            ClientError::Closed { code, reason } => {
                write!(f, "connection closed ({code}): {reason}")
            }
            ClientError::Send(e) => write!(f, "cannot send: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            ClientError::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<SendError> for ClientError {
    fn from(e: SendError) -> Self {
        ClientError::Send(e)
    }
}
