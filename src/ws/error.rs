//! The value that says "this connection must be failed, and here is why".
//!
//! RFC 6455 ties every way a peer can misbehave to a close status code
//! (1002 protocol error, 1007 invalid data, 1009 too big). Carrying the code
//! together with a human-readable reason lets every layer (frame parsing,
//! close payload parsing, the session) report errors the same way, and lets
//! the session turn any of them straight into the close frame it must send.

use std::fmt;

/// A protocol violation by the peer: the close code to send back and a
/// short, static explanation (also sent as the close reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// Close status code to fail the connection with (1002, 1007 or 1009).
    pub code: u16,
    /// One-line explanation, short enough to fit in a close frame.
    pub reason: &'static str,
}

impl ProtocolError {
    /// Builds an error from a close code and a reason.
    pub const fn new(code: u16, reason: &'static str) -> Self {
        ProtocolError { code, reason }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}
