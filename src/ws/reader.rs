//! [`EventReader`]: the one loop that turns a buffer of received bytes
//! into session events, shared by the event-loop adapter, the blocking
//! client and the load generator.
//!
//! [`Session::read`] takes one step: it consumes some bytes and may yield
//! one event. Every caller needs the same loop around it (advance through
//! the buffer, stop when the session cannot progress, report how much was
//! consumed so the rest is kept for later); this type is that loop, with
//! the caller's reaction to each event written in the loop body:
//!
//! ```
//! use wsloop::ws::{reader::EventReader, Event, Limits, Role, Session};
//!
//! let mut session = Session::new(Role::Client, Limits::default());
//! let mut input = vec![0x81, 0x02, b'h', b'i', 0x81]; // a message, then part of one
//! let mut reader = EventReader::new(&mut input);
//! while let Some((_, event)) = reader.next(&mut session) {
//!     if let Some(Event::Text(text)) = event {
//!         assert_eq!(&text[..], b"hi");
//!     }
//! }
//! assert_eq!(reader.consumed(), 4); // the partial header stays with the caller
//! ```

use super::message::Message;
use super::session::{Event, Framed, Session};

/// Walks a buffer of received bytes through a [`Session`], one step at a
/// time. Payloads are unmasked in place, so events borrow the buffer.
pub struct EventReader<'d> {
    data: &'d mut [u8],
    pos: usize,
    /// Where the last reply frame [`EventReader::next_framed`] built ends,
    /// while the steps since have all built one: the next is built there.
    run_end: Option<usize>,
}

impl<'d> EventReader<'d> {
    /// A reader over `data`, the bytes received and not yet consumed.
    pub fn new(data: &'d mut [u8]) -> Self {
        EventReader {
            data,
            pos: 0,
            run_end: None,
        }
    }

    /// Takes the next step: the bytes it consumed (more than zero, unless
    /// it yields an event) and the event it completed, if any. `None` once
    /// the buffer is used up or the session needs more bytes to progress.
    // Inlined, as `Session::read` is into it: an event handed back through
    // memory is copied out wider than it was written, and that store
    // cannot be forwarded to the load, a stall on every message.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)] // a lending iterator: events borrow the reader
    pub fn next(&mut self, session: &mut Session) -> Option<(usize, Option<Event<'_>>)> {
        if self.pos >= self.data.len() {
            return None;
        }
        self.run_end = None;
        let (n, event) = session.read(&mut self.data[self.pos..]);
        self.pos += n;
        match event {
            None if n == 0 => None,
            event => Some((n, event)),
        }
    }

    /// Takes the next step if it is a whole unfragmented message
    /// ([`Session::read_whole`]): the bytes consumed and the message, or
    /// the error event of a text message that is not UTF-8. `None`, with
    /// nothing consumed, when [`EventReader::next`] must take the step.
    #[inline(always)]
    #[allow(clippy::type_complexity)] // the session's pair, passed on
    pub fn next_whole(
        &mut self,
        session: &mut Session,
    ) -> Option<(usize, Result<Message<'_>, Event<'static>>)> {
        self.run_end = None;
        let (n, taken) = session.read_whole(&mut self.data[self.pos..])?;
        self.pos += n;
        Some((n, taken))
    }

    /// [`EventReader::next_whole`] for a server that may echo: the message
    /// also comes with the reply frame built in place
    /// ([`Session::read_whole_framed`]) where the session could build one.
    /// The replies of consecutive steps are built back to back, so a run
    /// of echoes is one stretch of the buffer, written with one write.
    #[inline(always)]
    #[allow(clippy::type_complexity)] // the session's triple, passed on
    pub fn next_framed(
        &mut self,
        session: &mut Session,
    ) -> Option<(Result<Message<'_>, Event<'static>>, Option<Framed>)> {
        let start = self.run_end.unwrap_or(self.pos);
        let at = self.pos - start;
        let (end, taken, framed) = session.read_whole_framed(&mut self.data[start..], at)?;
        self.pos = start + end;
        self.run_end = framed.map(|f| start + f.frame_len());
        Some((taken, framed))
    }

    /// Bytes consumed so far; the caller keeps the rest for the next read.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}
