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
//! A protocol's calls only change state here (the `Lifecycle` in
//! `lifecycle.rs`, the queue, the reading flag); the loop asks the transport
//! what follows (flush, shut the write half, call `pause_writing`, close the
//! socket) right after the callback returns. That keeps every callback free
//! of re-entrancy: a protocol is never called back from inside one of its
//! own calls into the transport.

mod lifecycle;
mod limits;
mod peer;
mod tls;
mod write_queue;

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};

use bytes::Bytes;
use mio::net::TcpStream;

pub(crate) use lifecycle::Input;
use lifecycle::{AfterDrain, Lifecycle};
use limits::StoredLimits;
pub use limits::{LimitsError, WriteLimits, DEFAULT_HIGH_WATER};
use peer::PeerAddr;
pub(crate) use tls::TlsLayer;
pub use tls::{TlsAcceptor, TlsConnector};
pub use write_queue::WriteQueue;

/// Size of one read from a socket: the event loop's shared read buffer,
/// unless the protocol asks for another ([`Protocol::READ_BUFFER`](crate::Protocol::READ_BUFFER)).
///
/// Every connection reads into this one buffer; a connection keeps bytes of
/// its own only when its protocol leaves some unconsumed. An idle connection
/// therefore costs no read buffer at all.
///
/// 64 KiB and a page: a 64 KiB message's frame is 14 bytes longer than
/// 64 KiB, and with a buffer of exactly 64 KiB a stream of them falls into
/// step with the reads, each read ending 14 bytes short of its frame, so
/// every frame was reassembled by copying. With the page of room a read
/// holds a whole frame and the start of the next, whose rest is then read
/// straight into its message. Larger buffers measured slower for small
/// pipelined messages.
pub const READ_CHUNK: usize = 68 * 1024;

/// [`Transport::write_through`] writes at once only behind a queue this small
/// (a frame header and the odd control frame); behind more, the socket is
/// likely full and the write would only fail.
const WRITE_THROUGH_MAX_QUEUED: usize = 512;

/// Which watermark callback the protocol is due (see [`Transport::flow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The queue rose above the high watermark: call `pause_writing`.
    Pause,
    /// The queue drained to the low watermark: call `resume_writing`.
    Resume,
}

/// One connection's socket, input remainder and write queue.
pub struct Transport {
    /// `None` once the connection is closed.
    socket: Option<TcpStream>,
    queue: WriteQueue,
    limits: StoredLimits,
    lifecycle: Lifecycle,
    /// The protocol has not paused reading.
    reading: bool,
    /// Reading was resumed: the loop must run a read pass, because with
    /// edge-triggered readiness no new event comes for bytes already waiting.
    read_pass_wanted: bool,
    /// `pause_writing` was delivered and `resume_writing` not yet.
    protocol_paused: bool,
    /// Bytes the protocol left unconsumed, handed back with the next read.
    /// Boxed, and `None` when empty (almost always): one pointer inline
    /// instead of a `Vec`'s three, for one more allocation only while a
    /// frame or request head is incomplete.
    #[allow(clippy::box_collection)]
    leftover: Option<Box<Vec<u8>>>,
    /// Bytes the kernel accepted (ciphertext over TLS) since the loop last
    /// took them ([`Transport::take_sent`]). The loop counts everything
    /// else itself, as it happens: a connection carries no totals.
    sent: u32,
    peer: PeerAddr,
    /// The TLS session, for `wss://` and TLS listeners. Boxed, so a plain
    /// TCP transport pays one pointer for it.
    tls: Option<Box<TlsLayer>>,
}

impl Transport {
    pub(crate) fn new(socket: TcpStream, peer: SocketAddr, limits: WriteLimits) -> Self {
        Transport {
            socket: Some(socket),
            queue: WriteQueue::default(),
            limits: StoredLimits::new(limits),
            lifecycle: Lifecycle::default(),
            reading: true,
            read_pass_wanted: false,
            protocol_paused: false,
            leftover: None,
            sent: 0,
            peer: PeerAddr::new(peer),
            tls: None,
        }
    }

    /// Runs this connection over TLS: from now on the socket carries
    /// ciphertext and the protocol sees plaintext.
    pub(crate) fn start_tls(&mut self, session: Box<TlsLayer>) {
        self.tls = Some(session);
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Queues a copy of `data`. Discarded once the transport is closing.
    pub fn write(&mut self, data: &[u8]) {
        if self.lifecycle.accepts_writes() {
            self.queue.push_copy(data);
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
        if self.lifecycle.accepts_writes() {
            self.queue.push_shared(data);
        }
    }

    /// Lets `fill` append bytes straight to the write queue (for encoders
    /// that would otherwise build a temporary buffer). Returns `None`, and
    /// does not call `fill`, once the transport is closing.
    #[inline]
    pub fn write_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        if !self.lifecycle.accepts_writes() {
            return None;
        }
        let result = self.queue.append_with(fill);
        Some(result)
    }

    /// Queues `data` like [`Transport::write`], except that when at most a
    /// few bytes wait in the queue, the queue and `data` go to the socket at
    /// once in one `writev` and only what the kernel does not take is queued.
    /// For a large payload that saves copying it into the queue, which costs
    /// more than giving up corking for it. Only for connected sockets (after
    /// `connection_made`).
    pub(crate) fn write_through(&mut self, data: &[u8]) {
        if !self.lifecycle.accepts_writes() {
            return;
        }
        match self.socket.as_mut() {
            Some(socket) if self.tls.is_none() && self.queue.len() <= WRITE_THROUGH_MAX_QUEUED => {
                match self.queue.write_through(socket, data) {
                    // One write takes at most a socket buffer's worth, and
                    // the loop takes the count every turn: 32 bits suffice.
                    Ok(n) => self.sent = self.sent.saturating_add(n as u32),
                    Err(e) => self.fail(e),
                }
            }
            _ => self.queue.push_copy(data),
        }
    }

    /// Whether [`Transport::lend`] can take bytes: a plain TCP connection
    /// that still takes writes. Over TLS every byte is encrypted into the
    /// cipher queue anyway, so nothing is gained by lending.
    #[inline]
    pub(crate) fn can_lend(&self) -> bool {
        self.tls.is_none() && self.socket.is_some() && self.lifecycle.accepts_writes()
    }

    /// Queues the `len` bytes at address `at` without copying them. They
    /// must lie in the buffer being offered to `data_received` right now
    /// (the protocol framed a reply in place there); when that call
    /// returns, [`Transport::offer`] writes them at once and copies only
    /// what the kernel did not take. Only after [`Transport::can_lend`].
    #[inline]
    pub(crate) fn lend(&mut self, at: usize, len: usize) {
        self.queue.push_lent(at, len);
    }

    /// Flushes what is queued, then shuts down the write half. The peer reads
    /// EOF; reading goes on until the peer closes too.
    pub fn write_eof(&mut self) {
        self.lifecycle.write_eof();
    }

    /// Whether `write_eof` can be used (always, for TCP).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Stops reading, flushes everything queued, then closes.
    /// `connection_lost(None)` follows.
    pub fn close(&mut self) {
        self.lifecycle.close();
    }

    /// Like [`Transport::close`], but once the queue is sent the socket
    /// closes at once, without shutting its write half first and without
    /// waiting for the peer's FIN. Only for a protocol that knows the peer
    /// sends nothing more (anything it does send then draws a RST):
    /// a WebSocket server once both close frames are exchanged.
    /// `connection_lost(None)` follows.
    pub fn close_promptly(&mut self) {
        self.lifecycle.close_promptly();
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
        if self.lifecycle.fail(error) {
            self.queue.clear();
            self.leftover = None;
        }
    }

    /// Whether `close`, `abort` or an error has begun closing the transport.
    pub fn is_closing(&self) -> bool {
        self.lifecycle.is_closing()
    }

    /// Stops delivering `data_received` until [`Transport::resume_reading`].
    /// The kernel's receive buffer fills and TCP slows the peer down.
    pub fn pause_reading(&mut self) {
        self.reading = false;
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
    /// Watermarks are kept in 32 bits: above 4 GiB - 1 they act as 4 GiB - 1.
    /// If data is queued, `pause_writing` or `resume_writing` follows per the
    /// new limits as soon as the current callback returns.
    pub fn set_write_buffer_limits(
        &mut self,
        high: usize,
        low: Option<usize>,
    ) -> Result<(), LimitsError> {
        self.limits = StoredLimits::new(WriteLimits::new(high, low)?);
        Ok(())
    }

    /// The current watermarks.
    pub fn write_buffer_limits(&self) -> WriteLimits {
        self.limits.get()
    }

    /// Bytes queued and not yet taken by the kernel. Over TLS: plaintext
    /// waiting to be encrypted plus ciphertext waiting for the socket.
    pub fn write_buffer_size(&self) -> usize {
        self.queue.len() + self.tls.as_ref().map_or(0, |t| t.queued())
    }

    /// Address of the remote end.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer.get()
    }

    /// Address of our end, asked of the socket (it is rarely needed, so
    /// not kept); the unspecified address once the connection is closed.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Bytes the kernel accepted since the last call.
    pub(crate) fn take_sent(&mut self) -> u64 {
        u64::from(std::mem::take(&mut self.sent))
    }

    /// Whether the protocol wants input (no `pause_reading` in force),
    /// closing or not: the loop counts the times this turns false.
    pub(crate) fn reading_wanted(&self) -> bool {
        self.reading
    }

    // What follows is for the loop: it asks what is due and tells what
    // happened; the transport decides how its state changes.

    /// The socket, for registering interest; `None` once closed.
    pub(crate) fn source(&mut self) -> Option<&mut TcpStream> {
        self.socket.as_mut()
    }

    /// Checks a non-blocking connect: `Ok(true)` once connected (and our
    /// address is known), `Ok(false)` while in progress.
    pub(crate) fn connected(&mut self) -> io::Result<bool> {
        let Some(socket) = self.socket.as_ref() else {
            return Ok(false);
        };
        let outcome = match socket.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => socket.peer_addr().map(|_| ()),
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How a read pass treats incoming bytes now.
    pub(crate) fn input(&self) -> Input {
        match self.lifecycle.input() {
            Input::Deliver if !self.reading => Input::Stop,
            input => input,
        }
    }

    /// Reads from the socket into `buf`; `bytes_in` counts what came off
    /// the socket (ciphertext over TLS). A read of 0 is the peer's FIN, and
    /// moves the lifecycle on.
    pub(crate) fn read(&mut self, buf: &mut [u8], bytes_in: &mut u64) -> io::Result<usize> {
        let socket = self.socket.as_mut().ok_or(io::ErrorKind::NotConnected)?;
        let n = match self.tls.as_deref_mut() {
            None => {
                let n = socket.read(buf)?;
                *bytes_in += n as u64;
                n
            }
            Some(tls) => tls.read(socket, buf, bytes_in).inspect_err(|e| {
                if e.kind() == io::ErrorKind::InvalidData {
                    let stage = if tls.is_handshaking() {
                        "TLS handshake"
                    } else {
                        "TLS"
                    };
                    log::warn!("{}: {stage} failed, closing: {e}", self.peer.get());
                }
            })?,
        };
        if n == 0 {
            self.lifecycle.peer_eof();
        }
        Ok(n)
    }

    /// Asks the kernel to report the socket readable only once `bytes` wait
    /// in it (`SO_RCVLOWAT`; 1 is the default). Plain TCP only: over TLS
    /// the bytes on the socket are records, not the protocol's bytes, so
    /// nothing is set and the answer is `Ok(false)`, as it is once closed.
    /// The kernel wakes a reader early anyway when its receive window or
    /// memory runs short, so a mark above what fits cannot stall the
    /// connection.
    pub(crate) fn set_read_low_water(&self, bytes: usize) -> io::Result<bool> {
        match (&self.socket, &self.tls) {
            (Some(socket), None) => {
                set_rcvlowat(socket, bytes)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether bytes the protocol left unconsumed wait to be offered again.
    pub(crate) fn has_leftover(&self) -> bool {
        self.leftover.is_some()
    }

    /// Offers `data`, behind any bytes left from before, to `consume` (the
    /// protocol's `data_received`), and keeps what it does not consume,
    /// unless the transport is closing by then (nobody would read it).
    ///
    /// Returns what ending a loan wrote ([`Transport::lend`]): the bytes
    /// queued before the write and the bytes written; `None` when nothing
    /// was lent.
    pub(crate) fn offer(
        &mut self,
        data: &mut [u8],
        consume: impl FnOnce(&mut Transport, &mut [u8]) -> usize,
    ) -> Option<(usize, usize)> {
        if let Some(mut pending) = self.leftover.take() {
            pending.extend_from_slice(data);
            let used = consume(self, &mut pending).min(pending.len());
            let settled = self.settle_lent(&pending);
            pending.drain(..used);
            // Dropping an emptied buffer frees it: an idle connection keeps none.
            if !pending.is_empty() && !self.is_closing() {
                self.leftover = Some(pending);
            }
            settled
        } else {
            // Fast path: the protocol parses straight out of the loop's buffer.
            let used = consume(self, data).min(data.len());
            let settled = self.settle_lent(data);
            if used < data.len() && !self.is_closing() {
                self.leftover = Some(Box::new(data[used..].to_vec()));
            }
            settled
        }
    }

    /// Ends the loan of bytes in `base`, the buffer just offered: they go
    /// to the socket now, with what is queued before them, in one write,
    /// and only what the kernel does not take is copied into the queue.
    /// So an echo framed in place in the read buffer is never copied by
    /// us; the write it gets is the one the loop would have made at the
    /// end of the event anyway (a read pass reads again only after a full
    /// read, and a full read holds many messages).
    #[inline(always)]
    fn settle_lent(&mut self, base: &[u8]) -> Option<(usize, usize)> {
        if self.queue.has_lent() {
            self.write_lent(base)
        } else {
            None
        }
    }

    /// [`Transport::settle_lent`] when something was lent.
    #[inline(never)]
    fn write_lent(&mut self, base: &[u8]) -> Option<(usize, usize)> {
        let queued = self.queue.len();
        let sink = match self.socket.as_mut() {
            Some(socket) if self.lifecycle.can_send() => Some(socket),
            _ => None,
        };
        match self.queue.settle_lent(sink, base) {
            Ok(n) => {
                self.sent = self.sent.saturating_add(n.try_into().unwrap_or(u32::MAX));
                Some((queued, n))
            }
            Err(e) => {
                self.fail(e);
                Some((queued, 0))
            }
        }
    }

    /// Whether reading was resumed since the last call: the loop owes a read pass.
    pub(crate) fn take_read_pass_wanted(&mut self) -> bool {
        std::mem::take(&mut self.read_pass_wanted)
    }

    /// Writes queued bytes until the queue is empty or the kernel pushes back.
    pub(crate) fn flush(&mut self) {
        if !self.lifecycle.can_send() {
            return;
        }
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        let result = match self.tls.as_deref_mut() {
            None if self.queue.is_empty() => return,
            #[cfg(target_os = "linux")]
            None if self.lifecycle.is_draining() => self.queue.write_to(&mut HeldForFin(socket)),
            None => self.queue.write_to(socket),
            Some(tls) => tls.flush(&mut self.queue, socket),
        };
        match result {
            Ok(n) => self.sent = self.sent.saturating_add(n.try_into().unwrap_or(u32::MAX)),
            Err(e) => self.fail(e),
        }
    }

    /// asyncio's watermark rule, applied to the queue as it is now: pause
    /// once when it is above `high`, resume once when it is down to `low`.
    /// Returns the callback the protocol is due.
    pub(crate) fn flow(&mut self) -> Option<Flow> {
        if self.lifecycle.is_failed_or_closed() {
            return None;
        }
        let size = self.write_buffer_size();
        let limits = self.limits.get();
        if !self.protocol_paused && size > limits.high {
            self.protocol_paused = true;
            Some(Flow::Pause)
        } else if self.protocol_paused && size <= limits.low {
            self.protocol_paused = false;
            Some(Flow::Resume)
        } else {
            None
        }
    }

    /// After a flush: shuts the write half once `write_eof` or `close` has
    /// nothing left to send. Returns true when the connection is over and
    /// the loop should [`finish`](Transport::finish) it.
    pub(crate) fn advance(&mut self) -> bool {
        if self.write_buffer_size() == 0 && self.lifecycle.is_draining() {
            // Over TLS our output ends with close_notify, sent before the FIN.
            if let Some(tls) = self.tls.as_deref_mut() {
                if tls.queue_close_notify() {
                    self.flush();
                    if self.write_buffer_size() > 0 {
                        return self.lifecycle.is_ending();
                    }
                }
            }
        }
        if self.write_buffer_size() == 0 && self.lifecycle.drained() == AfterDrain::ShutdownWrite {
            if let Some(socket) = self.socket.as_ref() {
                // ENOTCONN here only means the peer is already gone; the
                // read side reports that, so it is not an error of its own.
                let _ = socket.shutdown(Shutdown::Write);
            }
        }
        self.lifecycle.is_ending()
    }

    /// Whether the transport is in the linger after `close` (the loop bounds
    /// it with a timer).
    pub(crate) fn is_lingering(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Lingering)
    }

    /// The peer's FIN did not come within the linger: give up waiting.
    pub(crate) fn linger_expired(&mut self) {
        self.lifecycle.linger_expired();
    }

    /// Whether the connection is closed for good.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Closed)
    }

    /// Whether Nagle's algorithm is off on the socket (`None` once closed).
    #[cfg(test)]
    pub(crate) fn nodelay(&self) -> Option<bool> {
        self.socket.as_ref().and_then(|s| s.nodelay().ok())
    }

    /// Closes for good: returns the socket (the loop deregisters it where
    /// closing does not) and the error that ended the connection, if any.
    pub(crate) fn finish(&mut self) -> (Option<TcpStream>, Option<io::Error>) {
        self.queue.clear();
        self.leftover = None;
        self.tls = None;
        (self.socket.take(), self.lifecycle.finish())
    }
}

/// The last bytes before our FIN (after `write_eof`, `close` or
/// `close_promptly`), written with `MSG_MORE`: the kernel holds back a
/// segment it could not fill until the `shutdown` or the close that
/// follows the drained queue in the same settle, and the FIN goes out in
/// it. The peer gets the bytes and the end of the stream in one packet
/// instead of two, and on loopback this side processes both ends of each
/// packet. (A send that fills the socket's buffer is pushed regardless, so
/// the flag never stalls a larger queue.)
#[cfg(target_os = "linux")]
struct HeldForFin<'a>(&'a TcpStream);

#[cfg(target_os = "linux")]
impl std::io::Write for HeldForFin<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self.0).send_with_flags(buf, libc::MSG_MORE | libc::MSG_NOSIGNAL)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        socket2::SockRef::from(self.0)
            .send_vectored_with_flags(bufs, libc::MSG_MORE | libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `setsockopt(SO_RCVLOWAT)`, which neither `mio` nor `socket2` offers.
fn set_rcvlowat(socket: &TcpStream, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the open socket `socket` borrows, and the
    // option value is a live `c_int` of the length given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    fn tcp_info(socket: &impl AsRawFd) -> libc::tcp_info {
        // SAFETY: `tcp_info` is plain integers, so all zeroes is a valid
        // value, and the kernel writes at most `len` bytes of it.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: the descriptor is the open socket `socket` borrows, and
        // `info` is a live value of the length passed.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
        info
    }

    /// Queues a few bytes, ends the output with `end`, flushes and
    /// settles as the loop does, and checks that the bytes waited in the
    /// kernel for the FIN and that the peer got both in one segment.
    /// Returns whether `advance` asked for the connection to be finished.
    fn last_bytes_go_with_the_fin(end: fn(&mut Transport)) -> bool {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, addr) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        ours.set_nodelay(true).unwrap();
        let mut transport = Transport::new(TcpStream::from_std(ours), addr, WriteLimits::default());
        let segments_before = tcp_info(&peer).tcpi_segs_in;

        let last = b"last words";
        transport.write(last);
        end(&mut transport);
        transport.flush();
        assert_eq!(transport.write_buffer_size(), 0);
        let socket = transport.socket.as_ref().unwrap();
        assert_eq!(
            tcp_info(socket).tcpi_notsent_bytes as usize,
            last.len(),
            "the bytes went out before the FIN"
        );
        let finished = transport.advance();
        if finished {
            let (socket, error) = transport.finish();
            assert!(error.is_none());
            drop(socket);
        }

        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut received = Vec::new();
        peer.read_to_end(&mut received).unwrap();
        assert_eq!(received, last);
        let segments = tcp_info(&peer).tcpi_segs_in - segments_before;
        assert_eq!(
            segments, 1,
            "the bytes and the FIN came in {segments} segments"
        );
        finished
    }

    /// After `close_promptly` the socket closes once the queue is sent,
    /// and its FIN goes with the last bytes.
    #[test]
    fn a_prompt_close_sends_its_last_bytes_with_the_fin() {
        assert!(
            last_bytes_go_with_the_fin(Transport::close_promptly),
            "a drained prompt close ends"
        );
    }

    /// After `close` the write half shuts once the queue is sent, and
    /// that FIN goes with the last bytes; the connection lingers for the
    /// peer's.
    #[test]
    fn a_close_sends_its_last_bytes_with_the_fin() {
        assert!(
            !last_bytes_go_with_the_fin(Transport::close),
            "a close waits for the peer's FIN"
        );
    }

    /// The same for `write_eof`, after which reading goes on.
    #[test]
    fn write_eof_sends_the_last_bytes_with_the_fin() {
        assert!(
            !last_bytes_go_with_the_fin(Transport::write_eof),
            "a half-closed connection stays open"
        );
    }
}
