//! Driving one connection: the read pass, the flush, the watermark
//! callbacks and the steps of closing.
//!
//! The loop calls [`Conn::read_pass`] when the socket is readable and
//! [`Conn::settle`] after anything may have changed the connection: a read
//! pass, a timer, a command. `settle` is where corked writes are flushed, where
//! `pause_writing`/`resume_writing` are called, and where a closing
//! connection moves on to its next step.
//!
//! The transport decides its own state; this file only asks it what is due
//! (a watermark callback, a read, the end) and calls the protocol or the
//! registry accordingly. What belongs to the loop stays here: the interest
//! registered with `mio`, the linger timer, the counters last reported.

use std::io;

use mio::{Interest, Registry, Token};

use super::stats::LoopStats;
use super::trace::trace;
use super::{ConnId, Context, Protocol, Services, TimerTarget, AWAIT_MAX, AWAIT_MIN, CLOSE_LINGER};
use crate::transport::{Flow, Input, Transport};

/// How many flush / watermark-callback rounds one settle may run. A protocol
/// that writes from `resume_writing` can make several rounds useful; a bound
/// keeps one connection from holding the loop.
const MAX_FLOW_ROUNDS: usize = 16;

/// How many reads one read pass may make before it yields to the other
/// connections. A peer that refills its socket as fast as the loop empties
/// it (an echo client with messages in flight does) would otherwise never
/// let the pass see a short read, and every other connection would wait
/// for it. The budget also bounds a turn: 4 reads of the 68 KiB chunk
/// (272 KiB) per ready connection keep the others' wait short. A yield
/// costs one `poll` that returns at once; against budgets of 2, 8 and 16,
/// 4 gave the shortest tail for the same CPU (docs/PERFORMANCE.md).
pub const READS_PER_PASS: usize = 4;

/// Where a non-blocking connect stands after a readiness event.
pub(crate) enum Connect {
    /// Established; `connection_made` ran.
    Done,
    /// Still in progress.
    Pending,
    /// Failed; the transport holds the error for `connection_lost`.
    Failed,
}

/// One slab entry: a transport, the protocol that drives it, and the loop's
/// bookkeeping for it.
///
/// Every byte here is paid once per open connection, so the loop's own part
/// is kept to 24: the id's two halves apart (together a `ConnId` would take
/// 16 with padding), the figures last reported in 32 bits, and flags.
pub(crate) struct Conn<P: Protocol> {
    generation: u64,
    slot: u32,
    /// The write-queue size this connection last added to the loop-wide
    /// gauge, so each report adds only the change (32 bits: a queue over
    /// 4 GiB counts as 4 GiB there).
    reported_queued: u32,
    pub(crate) transport: Transport,
    pub(crate) protocol: P,
    /// A non-blocking connect is still in progress.
    pub(crate) connecting: bool,
    /// Queued for one flush at the end of the turn.
    pub(crate) dirty: bool,
    /// The peer hung up or the socket errored: read until 0 or an error,
    /// because no further readiness edge will come.
    pub(crate) hung_up: bool,
    /// WRITABLE interest is registered (only while bytes are queued).
    writable_registered: bool,
    /// The close linger timer is armed.
    linger_armed: bool,
    /// Reading was wanted at the last report: a report that finds it
    /// paused since counts one read pause.
    reported_reading: bool,
    /// The socket's low-water mark is raised: the kernel reports it
    /// readable only once the bytes the protocol awaits have come.
    awaiting: bool,
    /// The last read pass stopped at [`READS_PER_PASS`] with bytes maybe
    /// left, and the connection waits in the loop's `read_again` list for
    /// its next pass: no new edge will come for those bytes.
    pub(crate) read_queued: bool,
}

impl<P: Protocol> Conn<P> {
    /// A connection just registered with `mio` (for WRITABLE too while
    /// `connecting`).
    pub(crate) fn new(id: ConnId, transport: Transport, protocol: P, connecting: bool) -> Self {
        Conn {
            generation: id.generation,
            slot: id.slot,
            reported_queued: 0,
            transport,
            protocol,
            connecting,
            dirty: false,
            hung_up: false,
            writable_registered: connecting,
            linger_armed: false,
            reported_reading: true,
            awaiting: false,
            read_queued: false,
        }
    }

    /// The connection's id.
    pub(crate) fn id(&self) -> ConnId {
        ConnId {
            slot: self.slot,
            generation: self.generation,
        }
    }

    /// Adds what happened on the transport since the last report to the
    /// loop-wide figures: bytes sent, a read pause, the queue gauge.
    fn report(&mut self, totals: &mut LoopStats) {
        let t = &mut self.transport;
        totals.bytes_out += t.take_sent();
        let reading = t.reading_wanted();
        if self.reported_reading && !reading {
            totals.read_pauses += 1;
        }
        self.reported_reading = reading;
        let queued = u32::try_from(t.write_buffer_size()).unwrap_or(u32::MAX);
        totals.queued = totals.queued + u64::from(queued) - u64::from(self.reported_queued);
        self.reported_queued = queued;
    }

    /// Calls into the protocol with a context built from the parts.
    pub(crate) fn call<R>(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        f: impl FnOnce(&mut P, &mut Context<'_, P>) -> R,
    ) -> R {
        let mut cx = Context::new(self.id(), &mut self.transport, shared, services);
        f(&mut self.protocol, &mut cx)
    }

    /// Checks a pending connect; once it is established, calls
    /// `connection_made`. A failure is recorded on the transport.
    pub(crate) fn finish_connect(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
    ) -> Connect {
        match self.transport.connected() {
            Ok(true) => {
                self.connecting = false;
                self.call(shared, services, |p, cx| p.connection_made(cx));
                Connect::Done
            }
            Ok(false) => Connect::Pending,
            Err(e) => {
                self.transport.fail(e);
                Connect::Failed
            }
        }
    }

    /// Reads until the socket is drained, reading is paused, or the
    /// connection is closing; then sets what the next readiness waits for.
    pub(crate) fn read_pass(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        buf: &mut [u8],
    ) {
        self.read_until_drained(shared, services, buf);
        self.await_input(services, true);
    }

    /// The socket's low-water mark is raised (see [`Conn::await_input`]).
    pub(crate) fn awaiting(&self) -> bool {
        self.awaiting
    }

    /// Raises the socket's low-water mark to the bytes the protocol awaits
    /// ([`Protocol::bytes_awaited`]), or lowers it back to one byte when it
    /// awaits none. Only reads change the count awaited, so without them
    /// (`after_reads` false) a raised mark is only ever lowered: the
    /// connection began closing, or reading was paused.
    fn await_input(&mut self, services: &mut Services<P::Command>, after_reads: bool) {
        let awaited = if self.hung_up
            || self.transport.has_leftover()
            || !matches!(self.transport.input(), Input::Deliver)
        {
            0
        } else {
            self.protocol.bytes_awaited()
        };
        let mark = if awaited >= AWAIT_MIN {
            awaited.min(AWAIT_MAX)
        } else {
            1
        };
        if (mark == 1 && !self.awaiting) || (mark > 1 && !after_reads) {
            return;
        }
        self.awaiting = match self.transport.set_read_low_water(mark) {
            Ok(set) => set && mark > 1,
            Err(e) => {
                log::debug!(
                    "{}: cannot set SO_RCVLOWAT: {e}",
                    self.transport.peer_addr()
                );
                false
            }
        };
        trace!(
            services.trace,
            slot = self.slot as usize,
            "{} low-water mark: {}",
            self.id(),
            if self.awaiting {
                format!("{mark} bytes")
            } else {
                "1 byte".to_string()
            }
        );
    }

    fn read_until_drained(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        buf: &mut [u8],
    ) {
        for _ in 0..READS_PER_PASS {
            // A closing transport still reads, and discards, until the peer's
            // FIN: closing a socket with unread bytes would send an RST.
            let discard = match self.transport.input() {
                Input::Deliver => false,
                Input::Discard => true,
                Input::Stop => return,
            };
            // A protocol that knows where the next bytes belong (the rest
            // of a large frame) gets them there; bytes kept from an earlier
            // read come first, so then it waits.
            let direct = if discard || self.transport.has_leftover() {
                None
            } else {
                self.protocol.get_buffer()
            };
            let (result, wanted) = match direct {
                Some(target) => {
                    let wanted = target.len();
                    (
                        self.transport.read(target, &mut services.stats.bytes_in),
                        Some(wanted),
                    )
                }
                None => (self.transport.read(buf, &mut services.stats.bytes_in), None),
            };
            trace!(
                services.trace,
                slot = self.slot as usize,
                "{} read: {}{}",
                self.id(),
                match &result {
                    Ok(0) => "0 bytes (the peer's FIN)".to_string(),
                    Ok(n) if wanted.is_some() => format!("{n} bytes, into the protocol's buffer"),
                    Ok(n) => format!("{n} bytes"),
                    Err(e) => e.to_string(),
                },
                if discard { ", discarded (closing)" } else { "" }
            );
            match result {
                Ok(0) => {
                    if !discard && !self.call(shared, services, |p, cx| p.eof_received(cx)) {
                        self.transport.close();
                    }
                    return;
                }
                Ok(n) => {
                    if !discard {
                        // (A direct read is never a discarding one.)
                        if wanted.is_some() {
                            self.call(shared, services, |p, cx| p.buffer_updated(cx, n));
                        } else {
                            self.deliver(shared, services, &mut buf[..n]);
                        }
                        // Bound the queue between reads: without this, a
                        // burst of input echoed back would pile up in the
                        // queue until the socket runs dry.
                        let t = &self.transport;
                        if t.write_buffer_size() > t.write_buffer_limits().high {
                            self.flush_and_flow(shared, services);
                        }
                    }
                    // On Linux a short read means the receive queue was
                    // emptied, and new bytes will raise a new edge; skipping
                    // the read that would only say WouldBlock saves a
                    // syscall per event. After a hang-up there is no further
                    // edge, so then read on until the 0 that reports EOF.
                    if n < wanted.unwrap_or(buf.len()) && !self.hung_up {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.transport.fail(e);
                    return;
                }
            }
        }
        self.yield_reads(services);
    }

    /// Puts the connection on the loop's list for a read pass in the next
    /// turn, after the other connections ready now had theirs.
    fn yield_reads(&mut self, services: &mut Services<P::Command>) {
        if self.read_queued {
            return;
        }
        self.read_queued = true;
        services.read_again.push(self.id());
        services.stats.read_yields += 1;
        trace!(
            services.trace,
            slot = self.slot as usize,
            "{} read pass yields after {READS_PER_PASS} reads: reading again next turn",
            self.id()
        );
    }

    /// After `resume_reading`: offer the kept bytes again (the protocol may
    /// have stopped mid-buffer when it paused), then read what the kernel
    /// buffered meanwhile.
    pub(crate) fn redeliver_and_read(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        buf: &mut [u8],
    ) {
        if self.transport.has_leftover() && self.transport.is_reading() {
            self.deliver(shared, services, &mut []);
        }
        self.read_pass(shared, services, buf);
    }

    /// Hands bytes to `data_received`; the transport keeps what it leaves
    /// unconsumed.
    fn deliver(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        data: &mut [u8],
    ) {
        let (id, protocol) = (self.id(), &mut self.protocol);
        let lent = self.transport.offer(data, |transport, bytes| {
            let mut cx = Context::new(id, transport, shared, services);
            protocol.data_received(&mut cx, bytes)
        });
        // Bytes lent from `data` were written (or copied) before it returned.
        if let Some((queued, flushed)) = lent {
            let stats = &mut services.stats;
            stats.peak_queued = stats.peak_queued.max(queued as u64);
            trace!(
                services.trace,
                slot = self.slot as usize,
                "{id} flush: {queued} bytes queued, {flushed} flushed, {} left (lent from the read)",
                queued - flushed
            );
        }
    }

    /// Flushes, then calls `pause_writing` / `resume_writing` as the queue
    /// size demands, until nothing changes.
    fn flush_and_flow(&mut self, shared: &mut P::Shared, services: &mut Services<P::Command>) {
        for _ in 0..MAX_FLOW_ROUNDS {
            let queued = self.transport.write_buffer_size();
            // Writes only add to the queue between flushes, so its size is
            // at its peak right before one.
            let stats = &mut services.stats;
            stats.peak_queued = stats.peak_queued.max(queued as u64);
            self.transport.flush();
            services.stats.bytes_out += self.transport.take_sent();
            let left = self.transport.write_buffer_size();
            if queued > 0 {
                trace!(
                    services.trace,
                    slot = self.slot as usize,
                    "{} flush: {queued} bytes queued, {} flushed, {left} left",
                    self.id(),
                    queued - left
                );
            }
            let flow = self.transport.flow();
            if let Some(flow) = flow {
                let limits = self.transport.write_buffer_limits();
                trace!(
                    services.trace,
                    slot = self.slot as usize,
                    "{} {} (queue {left}, high {}, low {})",
                    self.id(),
                    match flow {
                        Flow::Pause => "pause_writing",
                        Flow::Resume => "resume_writing",
                    },
                    limits.high,
                    limits.low
                );
            }
            match flow {
                Some(Flow::Pause) => {
                    services.stats.pauses += 1;
                    self.call(shared, services, |p, cx| p.pause_writing(cx))
                }
                Some(Flow::Resume) => {
                    services.stats.resumes += 1;
                    self.call(shared, services, |p, cx| p.resume_writing(cx))
                }
                None => return,
            }
        }
    }

    /// Carries out what the last callbacks asked for. Returns true when the
    /// connection finished, so its slot must be freed.
    pub(crate) fn settle(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        registry: &Registry,
    ) -> bool {
        if self.transport.is_closed() {
            return false;
        }
        if !self.connecting {
            self.flush_and_flow(shared, services);
        }
        if self.transport.advance() {
            self.finalize(shared, services, registry);
            return true;
        }
        if self.transport.is_lingering() && !self.linger_armed {
            self.linger_armed = true;
            services
                .timers
                .insert(services.now + CLOSE_LINGER, TimerTarget::Linger(self.id()));
        }
        if let Err(e) = self.update_interest(registry, services) {
            self.transport.fail(e);
            self.finalize(shared, services, registry);
            return true;
        }
        if self.awaiting {
            self.await_input(services, false);
        }
        if self.transport.take_read_pass_wanted() {
            services.read_passes.push(self.id());
        }
        self.report(&mut services.stats);
        false
    }

    /// Registers WRITABLE interest exactly while something waits to be sent
    /// (or a connect is pending).
    fn update_interest<C>(
        &mut self,
        registry: &Registry,
        services: &Services<C>,
    ) -> io::Result<()> {
        let want_writable = self.connecting || self.transport.write_buffer_size() > 0;
        if want_writable == self.writable_registered {
            return Ok(());
        }
        let interest = if want_writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Some(socket) = self.transport.source() {
            registry.reregister(socket, Token(self.slot as usize), interest)?;
        }
        self.writable_registered = want_writable;
        trace!(
            services.trace,
            slot = self.slot as usize,
            "{} WRITABLE interest {}",
            self.id(),
            if want_writable {
                "on: bytes wait"
            } else {
                "off: queue empty"
            }
        );
        Ok(())
    }

    /// The peer did not close within [`CLOSE_LINGER`] after we did.
    pub(crate) fn linger_expired(&mut self) {
        // The transport gives up waiting; `settle` finalizes.
        self.transport.linger_expired();
    }

    /// Closes the socket for good and tells the protocol.
    fn finalize(
        &mut self,
        shared: &mut P::Shared,
        services: &mut Services<P::Command>,
        registry: &Registry,
    ) {
        let (socket, error) = self.transport.finish();
        // Closing a descriptor removes it from the epoll set when no other
        // descriptor shares its file, and a connection's socket is never
        // duplicated: on Linux the `epoll_ctl` a deregistration makes
        // would be one syscall per connection for nothing.
        if let Some(mut socket) = socket {
            if !cfg!(target_os = "linux") {
                let _ = registry.deregister(&mut socket);
            }
        }
        self.report(&mut services.stats);
        services.stats.open -= 1;
        trace!(
            services.trace,
            slot = self.slot as usize,
            "{} socket closed; connection_lost({})",
            self.id(),
            error.as_ref().map_or("None".to_string(), |e| e.to_string())
        );
        self.call(shared, services, |p, cx| p.connection_lost(cx, error));
    }
}
