//! Loop-wide counters, readable from any thread.
//!
//! The loop keeps plain integers while it works and publishes them to
//! atomics once per turn, so the hot path never pays for atomic operations
//! and observers still see figures at most one turn old.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::transport::{ConnStats, Transport};

/// A snapshot of one event loop's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Connections open now.
    pub open: u64,
    /// Connections ever opened (accepted or connected).
    pub total: u64,
    /// Bytes read from all sockets.
    pub bytes_in: u64,
    /// Bytes written to all sockets.
    pub bytes_out: u64,
    /// `pause_writing` calls on all connections.
    pub pauses: u64,
    /// `resume_writing` calls on all connections.
    pub resumes: u64,
    /// Times any connection's reading went from active to paused.
    pub read_pauses: u64,
    /// Bytes queued for writing, summed over open connections.
    pub queued: u64,
    /// The largest write queue any single connection ever had.
    pub peak_queued: u64,
    /// Accept calls that failed for lack of file descriptors.
    pub accept_fd_errors: u64,
    /// Loop turns (one `poll` each).
    pub turns: u64,
    /// Timers armed and not yet fired or cancelled.
    pub timers: u64,
}

#[derive(Default)]
pub(crate) struct SharedStats {
    open: AtomicU64,
    total: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    pauses: AtomicU64,
    resumes: AtomicU64,
    read_pauses: AtomicU64,
    queued: AtomicU64,
    peak_queued: AtomicU64,
    accept_fd_errors: AtomicU64,
    turns: AtomicU64,
    timers: AtomicU64,
}

impl SharedStats {
    pub(crate) fn publish(&self, s: &LoopStats) {
        self.open.store(s.open, Relaxed);
        self.total.store(s.total, Relaxed);
        self.bytes_in.store(s.bytes_in, Relaxed);
        self.bytes_out.store(s.bytes_out, Relaxed);
        self.pauses.store(s.pauses, Relaxed);
        self.resumes.store(s.resumes, Relaxed);
        self.read_pauses.store(s.read_pauses, Relaxed);
        self.queued.store(s.queued, Relaxed);
        self.peak_queued.store(s.peak_queued, Relaxed);
        self.accept_fd_errors.store(s.accept_fd_errors, Relaxed);
        self.turns.store(s.turns, Relaxed);
        self.timers.store(s.timers, Relaxed);
    }

    pub(crate) fn load(&self) -> LoopStats {
        LoopStats {
            open: self.open.load(Relaxed),
            total: self.total.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            pauses: self.pauses.load(Relaxed),
            resumes: self.resumes.load(Relaxed),
            read_pauses: self.read_pauses.load(Relaxed),
            queued: self.queued.load(Relaxed),
            peak_queued: self.peak_queued.load(Relaxed),
            accept_fd_errors: self.accept_fd_errors.load(Relaxed),
            turns: self.turns.load(Relaxed),
            timers: self.timers.load(Relaxed),
        }
    }
}

/// What one connection last added to the loop-wide counters, so each
/// report adds only what changed since. Kept by the loop, per slot.
#[derive(Default)]
pub(crate) struct Reported {
    stats: ConnStats,
    queued: usize,
}

impl Reported {
    /// Adds what changed on `t` since the last report to `totals`.
    pub(crate) fn report(&mut self, t: &Transport, totals: &mut LoopStats) {
        let now = *t.stats();
        let before = std::mem::replace(&mut self.stats, now);
        totals.bytes_in += now.bytes_in - before.bytes_in;
        totals.bytes_out += now.bytes_out - before.bytes_out;
        totals.pauses += now.pauses - before.pauses;
        totals.resumes += now.resumes - before.resumes;
        totals.read_pauses += now.read_pauses - before.read_pauses;
        totals.peak_queued = totals.peak_queued.max(now.peak_queued as u64);
        let queued = t.write_buffer_size();
        totals.queued = totals.queued + queued as u64 - self.queued as u64;
        self.queued = queued;
    }
}
