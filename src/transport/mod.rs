//! The transport layer: asyncio's `Transport`, one per connection.
//!
//! A transport owns a non-blocking socket, the bytes a protocol left
//! unconsumed, and the outgoing [`WriteQueue`] with its [`WriteLimits`].
//! Protocols call its methods from their callbacks; nothing here blocks or
//! performs I/O on the spot except where noted. Writes are *corked*: they
//! land in the queue, and the event loop flushes each touched connection
//! once when it has finished handling the current event, so ten messages
//! written in one callback cost one `writev`, not ten `write`s.
//!
//! State changes that need the loop (closing the socket, arming WRITABLE
//! interest, calling `pause_writing`) are recorded here as flags and carried
//! out by the loop right after the callback returns. That keeps every
//! callback free of re-entrancy: a protocol is never called back from inside
//! one of its own calls into the transport.

mod limits;
mod write_queue;

use std::io;
use std::net::{Shutdown, SocketAddr};

use bytes::Bytes;
use mio::net::TcpStream;

pub use limits::{LimitsError, WriteLimits, DEFAULT_HIGH_WATER};
pub use write_queue::WriteQueue;

/// [`Transport::write_through`] writes at once only behind a queue this small
/// (a frame header and the odd control frame); behind more, the socket is
/// likely full and the write would only fail.
const WRITE_THROUGH_MAX_QUEUED: usize = 512;

/// Byte and flow-control counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Bytes read from the socket.
    pub bytes_in: u64,
    /// Bytes the kernel accepted from the write queue.
    pub bytes_out: u64,
    /// Times `pause_writing` was called.
    pub pauses: u64,
    /// Times `resume_writing` was called.
    pub resumes: u64,
    /// Times reading went from active to paused.
    pub read_pauses: u64,
    /// Largest write-queue size seen.
    pub peak_queued: usize,
}

/// One connection's socket, input remainder and write queue.
pub struct Transport {
    pub(crate) socket: Option<TcpStream>,
    pub(crate) queue: WriteQueue,
    pub(crate) limits: WriteLimits,
    /// `pause_writing` was delivered and `resume_writing` not yet.
    pub(crate) protocol_paused: bool,
    reading: bool,
    /// Reading was resumed: the loop must run a read pass, because with
    /// edge-triggered readiness no new event comes for bytes already waiting.
    pub(crate) read_pass_wanted: bool,
    /// Bytes the protocol left unconsumed, handed back with the next read.
    pub(crate) leftover: Vec<u8>,
    pub(crate) closing: bool,
    pub(crate) eof_wanted: bool,
    pub(crate) write_shut: bool,
    pub(crate) eof_received: bool,
    /// The peer hung up or the socket errored: read until 0 or an error.
    pub(crate) peer_hup: bool,
    pub(crate) error: Option<io::Error>,
    pub(crate) finalized: bool,
    pub(crate) writable_registered: bool,
    pub(crate) stats: ConnStats,
    /// Queue size last added to the loop-wide total, to report deltas.
    pub(crate) reported_queued: usize,
    /// Counters as last added to the loop-wide totals.
    pub(crate) reported: ConnStats,
    /// The close linger timer is armed.
    pub(crate) lingering: bool,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Transport {
    pub(crate) fn new(
        socket: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        limits: WriteLimits,
    ) -> Self {
        Transport {
            socket: Some(socket),
            queue: WriteQueue::default(),
            limits,
            protocol_paused: false,
            reading: true,
            read_pass_wanted: false,
            leftover: Vec::new(),
            closing: false,
            eof_wanted: false,
            write_shut: false,
            eof_received: false,
            peer_hup: false,
            error: None,
            finalized: false,
            writable_registered: false,
            stats: ConnStats::default(),
            reported_queued: 0,
            reported: ConnStats::default(),
            lingering: false,
            peer,
            local,
        }
    }

    /// Whether writes are still accepted (no close, abort or `write_eof` yet).
    fn accepts_writes(&self) -> bool {
        !self.closing && !self.eof_wanted && !self.finalized
    }

    /// Queues a copy of `data`. Discarded once the transport is closing.
    pub fn write(&mut self, data: &[u8]) {
        if self.accepts_writes() {
            self.queue.push_copy(data);
            self.note_queued();
        }
    }

    /// Queues each slice in order (asyncio's `writelines`).
    pub fn writelines<'a>(&mut self, parts: impl IntoIterator<Item = &'a [u8]>) {
        for part in parts {
            self.write(part);
        }
    }

    /// Queues a shared chunk without copying it: a broadcast frame encoded
    /// once can sit in many queues at the cost of a reference count.
    pub fn write_shared(&mut self, data: Bytes) {
        if self.accepts_writes() {
            self.queue.push_shared(data);
            self.note_queued();
        }
    }

    /// Lets `fill` append bytes straight to the write queue (for encoders
    /// that would otherwise build a temporary buffer). Returns `None`, and
    /// does not call `fill`, once the transport is closing.
    pub fn write_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        if !self.accepts_writes() {
            return None;
        }
        let result = self.queue.append_with(fill);
        self.note_queued();
        Some(result)
    }

    /// Queues `data` like [`Transport::write`], except that when at most a
    /// few bytes wait in the queue, the queue and `data` go to the socket at
    /// once in one `writev` and only what the kernel does not take is queued.
    /// For a large payload that saves copying it into the queue, which costs
    /// more than giving up corking for it. Only for connected sockets (after
    /// `connection_made`).
    pub(crate) fn write_through(&mut self, data: &[u8]) {
        if !self.accepts_writes() {
            return;
        }
        match self.socket.as_mut() {
            Some(socket) if !self.write_shut && self.queue.len() <= WRITE_THROUGH_MAX_QUEUED => {
                match self.queue.write_through(socket, data) {
                    Ok(n) => self.stats.bytes_out += n as u64,
                    Err(e) => self.fail(e),
                }
            }
            _ => self.queue.push_copy(data),
        }
        self.note_queued();
    }

    fn note_queued(&mut self) {
        let size = self.queue.len();
        if size > self.stats.peak_queued {
            self.stats.peak_queued = size;
        }
    }

    /// Flushes what is queued, then shuts down the write half. The peer reads
    /// EOF; reading goes on until the peer closes too.
    pub fn write_eof(&mut self) {
        if !self.finalized {
            self.eof_wanted = true;
        }
    }

    /// Whether `write_eof` can be used (always, for TCP).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Stops reading, flushes everything queued, then closes.
    /// `connection_lost(None)` follows.
    pub fn close(&mut self) {
        if !self.finalized {
            self.closing = true;
        }
    }

    /// Closes at once: queued bytes are dropped and `connection_lost` gets an
    /// error of kind `ConnectionAborted`.
    pub fn abort(&mut self) {
        self.fail(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "transport aborted",
        ));
    }

    /// Closes at once because of `error`, which `connection_lost` receives.
    pub(crate) fn fail(&mut self, error: io::Error) {
        if self.finalized || self.error.is_some() {
            return;
        }
        self.queue.clear();
        self.leftover = Vec::new();
        self.error = Some(error);
        self.closing = true;
    }

    /// Whether `close`, `abort` or an error has begun closing the transport.
    pub fn is_closing(&self) -> bool {
        self.closing || self.finalized
    }

    /// Stops delivering `data_received` until [`Transport::resume_reading`].
    /// The kernel's receive buffer fills and TCP slows the peer down.
    pub fn pause_reading(&mut self) {
        if self.reading {
            self.reading = false;
            self.stats.read_pauses += 1;
        }
    }

    /// Resumes delivering `data_received`, starting with anything the kernel
    /// buffered meanwhile.
    pub fn resume_reading(&mut self) {
        if !self.reading {
            self.reading = true;
            self.read_pass_wanted = true;
        }
    }

    /// Whether the transport is delivering incoming data.
    pub fn is_reading(&self) -> bool {
        self.reading && !self.is_closing()
    }

    /// Sets the watermarks (asyncio's `set_write_buffer_limits`): `low`
    /// defaults to `high / 4`; `low > high` is an error and changes nothing.
    /// If data is queued, `pause_writing` or `resume_writing` follows per the
    /// new limits as soon as the current callback returns.
    pub fn set_write_buffer_limits(
        &mut self,
        high: usize,
        low: Option<usize>,
    ) -> Result<(), LimitsError> {
        self.limits = WriteLimits::new(high, low)?;
        Ok(())
    }

    /// The current watermarks.
    pub fn write_buffer_limits(&self) -> WriteLimits {
        self.limits
    }

    /// Bytes queued and not yet taken by the kernel.
    pub fn write_buffer_size(&self) -> usize {
        self.queue.len()
    }

    /// Address of the remote end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Address of our end.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn set_local_addr(&mut self, addr: SocketAddr) {
        self.local = addr;
    }

    /// This connection's counters.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// Writes queued bytes until the queue is empty or the kernel pushes back.
    pub(crate) fn flush(&mut self) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        if self.queue.is_empty() || self.write_shut {
            return;
        }
        match self.queue.write_to(socket) {
            Ok(n) => self.stats.bytes_out += n as u64,
            Err(e) => self.fail(e),
        }
    }

    /// After a flush: shut the write half once `write_eof` or `close` has
    /// nothing left to send.
    pub(crate) fn shutdown_write_if_drained(&mut self) {
        if self.write_shut || !self.queue.is_empty() || self.error.is_some() {
            return;
        }
        if self.eof_wanted || self.closing {
            if let Some(socket) = self.socket.as_ref() {
                // ENOTCONN here only means the peer is already gone; the
                // read side reports that, so it is not an error of its own.
                let _ = socket.shutdown(Shutdown::Write);
            }
            self.write_shut = true;
        }
    }
}
