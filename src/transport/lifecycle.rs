//! Where a connection is between `connection_made` and `connection_lost`.
//!
//! The whole lifecycle is one value, so a reader can see every state and
//! every way between them in one place:
//!
//! ```text
//!            write_eof                 queue drained: shutdown(Write)
//!   Open ──────────────▶ Draining ─────────────────────────▶ WriteShut
//!    │                      │ close                              │ close
//!    │ close                ▼                                    ▼
//!    └─────────────────▶ Closing ──────────────────────────▶ Lingering
//!                                   queue drained: shutdown(Write)   │
//!                                                                    │ peer's FIN,
//!   any state but Closed ── error / abort ──▶ Ending ◀───────────────┘ or CLOSE_LINGER
//!                                             ▲ │
//!   Open, Draining ── close_promptly ──▶ Finishing ── queue drained
//!                                               │
//!                                               ▼ socket closed, connection_lost
//!                                             Closed
//! ```
//!
//! The peer's FIN is the one event that belongs to the read half. While our
//! write half is still open (`Open`, `Draining`, `Closing`) it is remembered
//! in the state (`peer_eof`), so that shutting our write half then ends the
//! connection at once instead of waiting for a FIN that already came. Once
//! our write half is shut, the peer's FIN ends the connection (`Ending`).
//!
//! `Finishing` is for a protocol that knows the peer will send nothing
//! more (a WebSocket server once both close frames are exchanged): the
//! socket closes as soon as the queue is sent, with no `shutdown` and no
//! linger, which saves a system call, a read and a wake-up per connection.
//!
//! In every draining state (`Draining`, `Closing`, `Finishing`) the queue
//! is the last output before our FIN. On Linux the transport writes it
//! with `MSG_MORE`, so the FIN, sent by the `shutdown` or the close that
//! follows the drain, goes out in the same segment as the last bytes.
//!
//! Only pure transitions live here; the transport performs the system calls
//! that go with them (`shutdown`, closing the socket).

use std::io;

/// One connection's lifecycle.
#[derive(Debug)]
pub(crate) enum Lifecycle {
    /// Reading and writing. `peer_eof`: the peer shut its write half and the
    /// protocol chose to keep the connection half-open.
    Open { peer_eof: bool },
    /// `write_eof` was asked: the queue drains, then our write half shuts.
    /// Input is still delivered.
    Draining { peer_eof: bool },
    /// `close` was asked: the queue drains, then our write half shuts.
    /// Input is read and discarded, so no unread byte provokes a RST.
    Closing { peer_eof: bool },
    /// `close_promptly` was asked: the queue drains, then the socket closes
    /// at once (its FIN follows the queued bytes). Input is discarded.
    Finishing,
    /// `write_eof` is done: our write half is shut, input is still delivered.
    WriteShut,
    /// `close` is done: our write half is shut and input is discarded until
    /// the peer's FIN, for at most `CLOSE_LINGER`.
    Lingering,
    /// Nothing is left to do but close the socket; `connection_lost` gets
    /// the error, if one ended the connection.
    Ending(Option<io::Error>),
    /// The socket is closed and `connection_lost` was delivered.
    Closed,
}

/// What the transport must do after [`Lifecycle::drained`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterDrain {
    /// Nothing yet.
    Wait,
    /// Shut down the socket's write half.
    ShutdownWrite,
}

/// How a read pass treats incoming bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// Hand them to the protocol (if it is reading).
    Deliver,
    /// Read and drop them: we closed and wait for the peer's FIN.
    Discard,
    /// Do not read: input is over, or the connection is ending.
    Stop,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::Open { peer_eof: false }
    }
}

impl Lifecycle {
    /// Whether `write` and friends still queue bytes.
    pub(crate) fn accepts_writes(&self) -> bool {
        matches!(self, Lifecycle::Open { .. })
    }

    /// Whether our write half is still open, so queued bytes can be sent.
    pub(crate) fn can_send(&self) -> bool {
        matches!(
            self,
            Lifecycle::Open { .. }
                | Lifecycle::Draining { .. }
                | Lifecycle::Closing { .. }
                | Lifecycle::Finishing
        )
    }

    /// asyncio's `is_closing`: `close`, `abort` or an error has begun to end
    /// the connection (or it ended).
    pub(crate) fn is_closing(&self) -> bool {
        matches!(
            self,
            Lifecycle::Closing { .. }
                | Lifecycle::Finishing
                | Lifecycle::Lingering
                | Lifecycle::Ending(_)
                | Lifecycle::Closed
        )
    }

    /// Whether an error ended the connection, or it is closed: no callback
    /// but `connection_lost` is due any more.
    pub(crate) fn is_failed_or_closed(&self) -> bool {
        matches!(self, Lifecycle::Ending(Some(_)) | Lifecycle::Closed)
    }

    /// How incoming bytes are treated now.
    pub(crate) fn input(&self) -> Input {
        match self {
            Lifecycle::Open { peer_eof: false }
            | Lifecycle::Draining { peer_eof: false }
            | Lifecycle::WriteShut => Input::Deliver,
            Lifecycle::Closing { peer_eof: false }
            | Lifecycle::Finishing
            | Lifecycle::Lingering => Input::Discard,
            _ => Input::Stop,
        }
    }

    /// `write_eof`: drain, then shut the write half.
    pub(crate) fn write_eof(&mut self) {
        if let Lifecycle::Open { peer_eof } = *self {
            *self = Lifecycle::Draining { peer_eof };
        }
    }

    /// `close`: stop delivering input, drain, shut the write half, linger.
    pub(crate) fn close(&mut self) {
        match *self {
            Lifecycle::Open { peer_eof } | Lifecycle::Draining { peer_eof } => {
                *self = Lifecycle::Closing { peer_eof }
            }
            Lifecycle::WriteShut => *self = Lifecycle::Lingering,
            _ => {}
        }
    }

    /// `close_promptly`: stop delivering input, drain, then close the
    /// socket without shutting the write half first or lingering. A
    /// `close` already under way keeps its course.
    pub(crate) fn close_promptly(&mut self) {
        if let Lifecycle::Open { .. } | Lifecycle::Draining { .. } = self {
            *self = Lifecycle::Finishing;
        }
    }

    /// An error (or `abort`) ends the connection at once. Returns false,
    /// changing nothing, if an error already ended it or it is closed: the
    /// first error is the one reported.
    pub(crate) fn fail(&mut self, error: io::Error) -> bool {
        if self.is_failed_or_closed() {
            return false;
        }
        *self = Lifecycle::Ending(Some(error));
        true
    }

    /// The peer's FIN was read.
    pub(crate) fn peer_eof(&mut self) {
        match self {
            Lifecycle::Open { peer_eof }
            | Lifecycle::Draining { peer_eof }
            | Lifecycle::Closing { peer_eof } => *peer_eof = true,
            Lifecycle::WriteShut | Lifecycle::Lingering => *self = Lifecycle::Ending(None),
            Lifecycle::Finishing | Lifecycle::Ending(_) | Lifecycle::Closed => {}
        }
    }

    /// The write queue is empty: a pending `write_eof` or `close` may now
    /// shut the write half.
    pub(crate) fn drained(&mut self) -> AfterDrain {
        let (peer_eof, next) = match *self {
            Lifecycle::Draining { peer_eof } => (peer_eof, Lifecycle::WriteShut),
            Lifecycle::Closing { peer_eof } => (peer_eof, Lifecycle::Lingering),
            // Closing the socket sends the FIN: no shutdown first.
            Lifecycle::Finishing => {
                *self = Lifecycle::Ending(None);
                return AfterDrain::Wait;
            }
            _ => return AfterDrain::Wait,
        };
        *self = if peer_eof {
            Lifecycle::Ending(None)
        } else {
            next
        };
        AfterDrain::ShutdownWrite
    }

    /// Whether `write_eof`, `close` or `close_promptly` waits for the
    /// queue to drain: what is queued is the last output before our FIN.
    pub(crate) fn is_draining(&self) -> bool {
        matches!(
            self,
            Lifecycle::Draining { .. } | Lifecycle::Closing { .. } | Lifecycle::Finishing
        )
    }

    /// The peer did not send its FIN within `CLOSE_LINGER`.
    pub(crate) fn linger_expired(&mut self) {
        if let Lifecycle::Lingering = self {
            *self = Lifecycle::Ending(None);
        }
    }

    /// Whether the socket should be closed now.
    pub(crate) fn is_ending(&self) -> bool {
        matches!(self, Lifecycle::Ending(_))
    }

    /// Closes for good; returns the error that ended the connection, if any.
    pub(crate) fn finish(&mut self) -> Option<io::Error> {
        match std::mem::replace(self, Lifecycle::Closed) {
            Lifecycle::Ending(error) => error,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err() -> io::Error {
        io::Error::other("boom")
    }

    #[test]
    fn close_drains_then_lingers_until_the_peers_fin() {
        let mut s = Lifecycle::default();
        s.close();
        assert!(s.is_closing() && !s.accepts_writes() && s.can_send());
        assert_eq!(s.input(), Input::Discard);
        assert_eq!(s.drained(), AfterDrain::ShutdownWrite);
        assert!(matches!(s, Lifecycle::Lingering));
        assert!(!s.can_send());
        s.peer_eof();
        assert!(s.is_ending());
        assert!(s.finish().is_none());
        assert!(matches!(s, Lifecycle::Closed));
    }

    #[test]
    fn close_promptly_drains_then_ends_without_shutdown_or_linger() {
        let mut s = Lifecycle::default();
        s.close_promptly();
        assert!(s.is_closing() && !s.accepts_writes() && s.can_send());
        assert_eq!(s.input(), Input::Discard);
        assert!(!s.is_ending(), "the queue is sent first");
        assert_eq!(s.drained(), AfterDrain::Wait);
        assert!(s.is_ending());
        // After a plain close, close_promptly changes nothing.
        let mut s = Lifecycle::default();
        s.close();
        s.close_promptly();
        assert!(matches!(s, Lifecycle::Closing { .. }));
    }

    #[test]
    fn a_fin_before_the_drain_skips_the_linger() {
        let mut s = Lifecycle::default();
        s.peer_eof();
        assert_eq!(s.input(), Input::Stop);
        s.close();
        assert_eq!(s.drained(), AfterDrain::ShutdownWrite);
        assert!(s.is_ending());
    }

    #[test]
    fn write_eof_keeps_delivering_input() {
        let mut s = Lifecycle::default();
        s.write_eof();
        assert!(!s.accepts_writes() && !s.is_closing());
        assert_eq!(s.input(), Input::Deliver);
        assert_eq!(s.drained(), AfterDrain::ShutdownWrite);
        assert!(matches!(s, Lifecycle::WriteShut));
        assert_eq!(s.input(), Input::Deliver);
        assert_eq!(s.drained(), AfterDrain::Wait);
        s.close();
        assert!(matches!(s, Lifecycle::Lingering));
        s.linger_expired();
        assert!(s.is_ending());
    }

    #[test]
    fn the_first_error_wins_and_nothing_follows_closed() {
        let mut s = Lifecycle::default();
        assert!(s.fail(err()));
        assert!(!s.fail(io::Error::other("second")));
        assert!(s.is_failed_or_closed());
        assert_eq!(s.finish().unwrap().to_string(), "boom");
        assert!(!s.fail(err()));
        s.close();
        s.write_eof();
        s.peer_eof();
        assert!(matches!(s, Lifecycle::Closed));
    }

    #[test]
    fn open_accepts_writes_and_drains_to_nothing() {
        let mut s = Lifecycle::default();
        assert!(s.accepts_writes() && !s.is_closing());
        assert_eq!(s.drained(), AfterDrain::Wait);
        assert!(matches!(s, Lifecycle::Open { peer_eof: false }));
    }
}
