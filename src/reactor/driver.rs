//! Driving one connection: the read pass, the flush, the watermark
//! callbacks and the steps of closing.
//!
//! The loop calls [`Conn::read_pass`] when the socket is readable and
//! [`Conn::settle`] after anything may have changed the connection: a read
//! pass, a timer, a command. `settle` is where corked writes are flushed, where
//! `pause_writing`/`resume_writing` are decided, and where a closing
//! connection moves on to its next step.

use std::io::{self, Read};
use std::mem;

use mio::{Interest, Registry, Token};

use super::{ConnId, Context, Core, TimerTarget, CLOSE_LINGER};
use crate::protocol::Protocol;
use crate::transport::Transport;

/// How many flush / watermark-callback rounds one settle may run. A protocol
/// that writes from `resume_writing` can make several rounds useful; a bound
/// keeps one connection from holding the loop.
const MAX_FLOW_ROUNDS: usize = 16;

/// One slab entry: a transport and the protocol that drives it.
pub(crate) struct Conn<P: Protocol> {
    pub(crate) id: ConnId,
    pub(crate) transport: Transport,
    pub(crate) protocol: P,
    /// A non-blocking connect is still in progress.
    pub(crate) connecting: bool,
    /// Queued for one flush at the end of the turn.
    pub(crate) dirty: bool,
}

impl<P: Protocol> Conn<P> {
    /// Calls into the protocol with a context built from the parts.
    pub(crate) fn call<R>(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
        f: impl FnOnce(&mut P, &mut Context<'_, P>) -> R,
    ) -> R {
        let mut cx = Context::new(self.id, &mut self.transport, shared, core);
        f(&mut self.protocol, &mut cx)
    }

    /// Checks a pending connect. Returns true once connected (after
    /// `connection_made`); false while pending or failed (the error is set).
    pub(crate) fn finish_connect(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
    ) -> bool {
        let Some(socket) = self.transport.socket.as_ref() else {
            return false;
        };
        let outcome = match socket.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => socket.peer_addr().map(|_| ()),
        };
        match outcome {
            Ok(()) => {
                self.connecting = false;
                self.transport.refresh_local_addr();
                self.call(shared, core, |p, cx| p.connection_made(cx));
                true
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => false,
            Err(e) => {
                self.transport.fail(e);
                false
            }
        }
    }

    /// Reads until the socket is drained, reading is paused, or the
    /// connection is closing.
    pub(crate) fn read_pass(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
        buf: &mut [u8],
    ) {
        loop {
            let t = &mut self.transport;
            if t.finalized || t.error.is_some() || t.eof_received {
                return;
            }
            // A closing transport still reads, and discards, until the peer's
            // FIN: closing a socket with unread bytes would send an RST.
            let discard = t.closing;
            if !discard && !t.is_reading() {
                return;
            }
            let Some(socket) = t.socket.as_mut() else {
                return;
            };
            match socket.read(buf) {
                Ok(0) => {
                    t.eof_received = true;
                    if !discard && !self.call(shared, core, |p, cx| p.eof_received(cx)) {
                        self.transport.close();
                    }
                    return;
                }
                Ok(n) => {
                    t.stats.bytes_in += n as u64;
                    if !discard {
                        self.deliver(shared, core, &mut buf[..n]);
                        // Bound the queue between reads: without this, a
                        // burst of input echoed back would pile up in the
                        // queue until the socket runs dry.
                        if self.transport.queue.len() > self.transport.limits.high {
                            self.flush_and_flow(shared, core);
                        }
                    }
                    // On Linux a short read means the receive queue was
                    // emptied, and new bytes will raise a new edge; skipping
                    // the read that would only say WouldBlock saves a
                    // syscall per event. After a hang-up there is no further
                    // edge, so then read on until the 0 that reports EOF.
                    if n < buf.len() && !self.transport.peer_hup {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    t.fail(e);
                    return;
                }
            }
        }
    }

    /// After `resume_reading`: offer the kept bytes again (the protocol may
    /// have stopped mid-buffer when it paused), then read what the kernel
    /// buffered meanwhile.
    pub(crate) fn redeliver_and_read(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
        buf: &mut [u8],
    ) {
        if !self.transport.leftover.is_empty() && self.transport.is_reading() {
            self.deliver(shared, core, &mut []);
        }
        self.read_pass(shared, core, buf);
    }

    /// Hands bytes to `data_received`, keeping what it leaves unconsumed.
    fn deliver(&mut self, shared: &mut P::Shared, core: &mut Core<P::Command>, data: &mut [u8]) {
        if self.transport.leftover.is_empty() {
            // Fast path: the protocol parses straight out of the loop's buffer.
            let used = self
                .call(shared, core, |p, cx| p.data_received(cx, data))
                .min(data.len());
            if used < data.len() && !self.transport.is_closing() {
                self.transport.leftover.extend_from_slice(&data[used..]);
            }
        } else {
            let mut pending = mem::take(&mut self.transport.leftover);
            pending.extend_from_slice(data);
            let used = self
                .call(shared, core, |p, cx| p.data_received(cx, &mut pending))
                .min(pending.len());
            pending.drain(..used);
            // Dropping an emptied buffer frees it: an idle connection keeps none.
            if !pending.is_empty() && !self.transport.is_closing() {
                self.transport.leftover = pending;
            }
        }
    }

    /// Flushes, then calls `pause_writing` / `resume_writing` as the queue
    /// size demands, until nothing changes.
    fn flush_and_flow(&mut self, shared: &mut P::Shared, core: &mut Core<P::Command>) {
        for _ in 0..MAX_FLOW_ROUNDS {
            self.transport.flush();
            if !self.flow_step(shared, core) {
                return;
            }
        }
    }

    /// asyncio's rule: pause once when the size goes above `high`, resume
    /// once when it comes down to `low` or below. Returns whether a callback ran.
    fn flow_step(&mut self, shared: &mut P::Shared, core: &mut Core<P::Command>) -> bool {
        let t = &mut self.transport;
        if t.finalized || t.error.is_some() {
            return false;
        }
        let size = t.queue.len();
        if !t.protocol_paused && size > t.limits.high {
            t.protocol_paused = true;
            t.stats.pauses += 1;
            self.call(shared, core, |p, cx| p.pause_writing(cx));
            true
        } else if t.protocol_paused && size <= t.limits.low {
            t.protocol_paused = false;
            t.stats.resumes += 1;
            self.call(shared, core, |p, cx| p.resume_writing(cx));
            true
        } else {
            false
        }
    }

    /// Carries out what the last callbacks asked for. Returns true when the
    /// connection finished, so its slot must be freed.
    pub(crate) fn settle(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
        registry: &Registry,
    ) -> bool {
        if self.transport.finalized {
            return false;
        }
        if !self.connecting {
            self.flush_and_flow(shared, core);
            self.transport.shutdown_write_if_drained();
        }
        let t = &mut self.transport;
        let both_shut = t.write_shut && t.eof_received;
        if t.error.is_some() || both_shut {
            self.finalize(shared, core, registry);
            return true;
        }
        if t.closing && t.write_shut && !t.lingering {
            t.lingering = true;
            core.timers
                .insert(core.now + CLOSE_LINGER, TimerTarget::Linger(self.id));
        }
        let want_writable = self.connecting || !t.queue.is_empty();
        if want_writable != t.writable_registered {
            let interest = if want_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Some(socket) = t.socket.as_mut() {
                if let Err(e) = registry.reregister(socket, Token(self.id.slot), interest) {
                    t.fail(e);
                    self.finalize(shared, core, registry);
                    return true;
                }
            }
            t.writable_registered = want_writable;
        }
        if mem::take(&mut t.read_pass_wanted) {
            core.read_passes.push(self.id);
        }
        account(t, &mut core.stats);
        false
    }

    /// The peer did not close within [`CLOSE_LINGER`] after we did.
    pub(crate) fn linger_expired(&mut self) {
        // Both halves count as shut now; `settle` finalizes.
        self.transport.eof_received = true;
        self.transport.write_shut = true;
    }

    /// Closes the socket for good and tells the protocol.
    fn finalize(
        &mut self,
        shared: &mut P::Shared,
        core: &mut Core<P::Command>,
        registry: &Registry,
    ) {
        let t = &mut self.transport;
        t.finalized = true;
        if let Some(mut socket) = t.socket.take() {
            let _ = registry.deregister(&mut socket);
        }
        t.queue.clear();
        t.leftover = Vec::new();
        account(t, &mut core.stats);
        core.stats.open -= 1;
        let error = t.error.take();
        self.call(shared, core, |p, cx| p.connection_lost(cx, error));
    }
}

/// Adds what changed on one transport since its last report to the loop's counters.
fn account(t: &mut Transport, s: &mut super::LoopStats) {
    let now = t.stats;
    let before = mem::replace(&mut t.reported, now);
    s.bytes_in += now.bytes_in - before.bytes_in;
    s.bytes_out += now.bytes_out - before.bytes_out;
    s.pauses += now.pauses - before.pauses;
    s.resumes += now.resumes - before.resumes;
    s.read_pauses += now.read_pauses - before.read_pauses;
    s.peak_queued = s.peak_queued.max(now.peak_queued as u64);
    let queued = t.queue.len();
    s.queued = s.queued + queued as u64 - t.reported_queued as u64;
    t.reported_queued = queued;
}

impl Transport {
    pub(crate) fn refresh_local_addr(&mut self) {
        if let Some(addr) = self.socket.as_ref().and_then(|s| s.local_addr().ok()) {
            self.set_local_addr(addr);
        }
    }
}
