//! The protocol layer: asyncio's six `Protocol` callbacks, as a Rust trait.
//!
//! A protocol is the per-connection state machine that turns bytes into
//! meaning. The event loop owns one value of your protocol type per
//! connection and calls it when something happens on that connection's
//! transport. Every callback runs on the loop thread and receives a
//! [`Context`], through which the protocol writes, pauses, closes, arms
//! timers and reaches loop-wide state.
//!
//! The asyncio names and rules are kept on purpose, so that a reader who knows
//! `asyncio.Protocol` can map each piece one to one:
//!
//! | asyncio                   | wsloop                                   |
//! |---------------------------|------------------------------------------|
//! | `connection_made(t)`      | [`Protocol::connection_made`]            |
//! | `data_received(data)`     | [`Protocol::data_received`]              |
//! | `eof_received()`          | [`Protocol::eof_received`]               |
//! | `connection_lost(exc)`    | [`Protocol::connection_lost`]            |
//! | `pause_writing()`         | [`Protocol::pause_writing`]              |
//! | `resume_writing()`        | [`Protocol::resume_writing`]             |
//!
//! A protocol can also take asyncio's `BufferedProtocol` shape for some
//! reads: [`Protocol::get_buffer`] names where the next bytes go, and
//! [`Protocol::buffer_updated`] says how many arrived there.
//!
//! Two additions have no asyncio counterpart because asyncio gets them from
//! coroutines: [`Protocol::timer_fired`] (deadlines armed with
//! [`Ops::set_timer`](crate::Ops::set_timer)) and [`Protocol::command`] (messages posted to this
//! connection by other connections or other threads).

use std::io;

use super::Context;

/// Per-connection behaviour driven by the event loop.
///
/// # Example: a protocol that echoes bytes back
///
/// ```
/// use wsloop::{Context, Protocol};
///
/// struct Echo;
///
/// impl Protocol for Echo {
///     type Shared = ();
///     type Command = ();
///
///     fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
///         cx.transport().write(data);
///         data.len() // everything was consumed
///     }
/// }
/// ```
pub trait Protocol: Sized + 'static {
    /// State shared by every connection of one loop: the application.
    ///
    /// It lives in the event loop, not behind a lock, because only the loop
    /// thread touches it. Use `()` when connections share nothing.
    type Shared: 'static;

    /// A message that can be delivered to one connection from another
    /// connection ([`Ops::send_to`](crate::Ops::send_to), [`Ops::broadcast`](crate::Ops::broadcast)) or from
    /// another thread ([`crate::LoopHandle::send_to`]).
    type Command: Clone + 'static;

    /// Size of the loop's shared read buffer, the most one read takes
    /// (default [`READ_CHUNK`](crate::READ_CHUNK)). A stream of
    /// fixed-size records is cheapest when a read holds a whole record
    /// and the reads do not fall into step with record boundaries; a
    /// protocol that parses nothing (the TCP echo) does best with the
    /// kernel's 64 KiB segment size.
    const READ_BUFFER: usize = crate::transport::READ_CHUNK;

    /// The connection is established; the transport is ready for writes.
    fn connection_made(&mut self, cx: &mut Context<'_, Self>) {
        let _ = cx;
    }

    /// Bytes arrived.
    ///
    /// Return how many leading bytes of `data` were consumed. The rest is
    /// kept by the transport and handed back, followed by newer bytes, on the
    /// next call, so a parser can leave an incomplete header where it is.
    /// The slice is mutable so a protocol may transform bytes in place (the
    /// WebSocket layer unmasks payloads without copying them).
    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize;

    /// Where the next bytes read should go, when the protocol already
    /// knows (asyncio's `BufferedProtocol.get_buffer`): the loop reads into
    /// the returned slice instead of its shared read buffer, and then calls
    /// [`Protocol::buffer_updated`] with the count. Return `None` (the
    /// default) to have bytes delivered through `data_received`.
    ///
    /// Only asked while reading and when no bytes wait from before, so the
    /// order of the stream is kept. The WebSocket layer returns the rest of
    /// a large frame's payload: the kernel copies it into the message's own
    /// buffer, and no copy is made in user space.
    fn get_buffer(&mut self) -> Option<&mut [u8]> {
        None
    }

    /// `n` bytes (more than zero) were read into the slice the last
    /// [`Protocol::get_buffer`] returned (asyncio's
    /// `BufferedProtocol.buffer_updated`).
    fn buffer_updated(&mut self, cx: &mut Context<'_, Self>, n: usize) {
        let _ = (cx, n);
    }

    /// How many bytes the peer is bound to send before this protocol can
    /// act on any of them; 0 (the default) when it does not know.
    ///
    /// The loop then asks the kernel not to report the socket readable
    /// until that many bytes (at most [`AWAIT_MAX`](crate::reactor::AWAIT_MAX)) have arrived
    /// (`SO_RCVLOWAT`, plain TCP only), so they come in one wake-up and a
    /// few reads instead of one of each per burst the sender's kernel
    /// delivers. Only counts of at least [`AWAIT_MIN`](crate::reactor::AWAIT_MIN) are used.
    /// Timers still see the bytes that have come: before a timer of this
    /// connection fires, the loop reads what is there. The WebSocket layer
    /// returns the rest of a large frame's payload, which must arrive
    /// before anything else can.
    fn bytes_awaited(&self) -> usize {
        0
    }

    /// The peer shut down its write half.
    ///
    /// Return `true` to keep the half-open connection (we can still write),
    /// `false` to let the transport close itself once its queue is flushed.
    fn eof_received(&mut self, cx: &mut Context<'_, Self>) -> bool {
        let _ = cx;
        false
    }

    /// The connection is gone. `error` is `None` after an orderly close.
    ///
    /// Writes made from here on are discarded; loop-wide state and other
    /// connections (through [`Ops::send_to`](crate::Ops::send_to)) are still reachable.
    fn connection_lost(&mut self, cx: &mut Context<'_, Self>, error: Option<io::Error>) {
        let _ = (cx, error);
    }

    /// The write queue rose above the high watermark: stop producing.
    ///
    /// Called exactly once per crossing; always followed by
    /// [`Protocol::resume_writing`] before the next call.
    fn pause_writing(&mut self, cx: &mut Context<'_, Self>) {
        let _ = cx;
    }

    /// The write queue drained to the low watermark: production may resume.
    fn resume_writing(&mut self, cx: &mut Context<'_, Self>) {
        let _ = cx;
    }

    /// A timer armed with [`Ops::set_timer`](crate::Ops::set_timer) reached its deadline.
    fn timer_fired(&mut self, cx: &mut Context<'_, Self>, tag: u32) {
        let _ = (cx, tag);
    }

    /// A command posted to this connection arrived.
    fn command(&mut self, cx: &mut Context<'_, Self>, command: Self::Command) {
        let _ = (cx, command);
    }
}
