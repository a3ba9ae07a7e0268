//! Loop-wide counters, readable from any thread.
//!
//! The loop keeps plain integers while it works and publishes them to
//! atomics once per turn, so the hot path never pays for atomic operations
//! and observers still see figures at most one turn old.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds, in seconds, of the buckets of [`LoopStats::turn_buckets`];
/// a last bucket past them holds the slower turns.
pub const TURN_BUCKETS: [f64; 12] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05,
    0.25,
];

/// A snapshot of one event loop's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Connections open now.
    pub open: u64,
    /// Connections ever opened (accepted or connected).
    pub total: u64,
    /// Connections accepted on a listener.
    pub accepted: u64,
    /// Messages received, as the protocol counts them ([`crate::Ops::count_received`]).
    pub messages_in: u64,
    /// Messages sent, as the protocol counts them ([`crate::Ops::count_sent`]).
    pub messages_out: u64,
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
    /// Read passes that stopped at their budget of reads with the socket
    /// maybe not drained, so that other connections could run first.
    pub read_yields: u64,
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
    /// How many turns took how long, from `poll` returning to the end of
    /// the turn's work: `turn_buckets[i]` counts the turns no longer than
    /// `TURN_BUCKETS[i]` and longer than the bucket before (not
    /// cumulative); the last one counts the rest.
    pub turn_buckets: [u64; TURN_BUCKETS.len() + 1],
    /// The time of all turns' work added up, in nanoseconds.
    pub turn_nanos: u64,
}

impl LoopStats {
    /// Records one turn's work time in the histogram.
    pub(crate) fn record_turn(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = TURN_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(TURN_BUCKETS.len());
        self.turn_buckets[bucket] += 1;
        self.turn_nanos += took.as_nanos() as u64;
    }
}

/// Reads one loop's counters as last published, from any thread: what a
/// metrics endpoint keeps per loop ([`crate::LoopHandle::stats_reader`]).
#[derive(Clone)]
pub struct StatsReader(pub(crate) Arc<SharedStats>);

impl StatsReader {
    /// The counters as of the loop's last turn.
    pub fn load(&self) -> LoopStats {
        self.0.load()
    }
}

#[derive(Default)]
pub(crate) struct SharedStats {
    open: AtomicU64,
    total: AtomicU64,
    accepted: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    pauses: AtomicU64,
    resumes: AtomicU64,
    read_pauses: AtomicU64,
    read_yields: AtomicU64,
    queued: AtomicU64,
    peak_queued: AtomicU64,
    accept_fd_errors: AtomicU64,
    turns: AtomicU64,
    timers: AtomicU64,
    turn_buckets: [AtomicU64; TURN_BUCKETS.len() + 1],
    turn_nanos: AtomicU64,
}

impl SharedStats {
    pub(crate) fn publish(&self, s: &LoopStats) {
        self.open.store(s.open, Relaxed);
        self.total.store(s.total, Relaxed);
        self.accepted.store(s.accepted, Relaxed);
        self.messages_in.store(s.messages_in, Relaxed);
        self.messages_out.store(s.messages_out, Relaxed);
        self.bytes_in.store(s.bytes_in, Relaxed);
        self.bytes_out.store(s.bytes_out, Relaxed);
        self.pauses.store(s.pauses, Relaxed);
        self.resumes.store(s.resumes, Relaxed);
        self.read_pauses.store(s.read_pauses, Relaxed);
        self.read_yields.store(s.read_yields, Relaxed);
        self.queued.store(s.queued, Relaxed);
        self.peak_queued.store(s.peak_queued, Relaxed);
        self.accept_fd_errors.store(s.accept_fd_errors, Relaxed);
        self.turns.store(s.turns, Relaxed);
        self.timers.store(s.timers, Relaxed);
        for (to, &from) in self.turn_buckets.iter().zip(&s.turn_buckets) {
            to.store(from, Relaxed);
        }
        self.turn_nanos.store(s.turn_nanos, Relaxed);
    }

    pub(crate) fn load(&self) -> LoopStats {
        LoopStats {
            open: self.open.load(Relaxed),
            total: self.total.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            pauses: self.pauses.load(Relaxed),
            resumes: self.resumes.load(Relaxed),
            read_pauses: self.read_pauses.load(Relaxed),
            read_yields: self.read_yields.load(Relaxed),
            queued: self.queued.load(Relaxed),
            peak_queued: self.peak_queued.load(Relaxed),
            accept_fd_errors: self.accept_fd_errors.load(Relaxed),
            turns: self.turns.load(Relaxed),
            timers: self.timers.load(Relaxed),
            turn_buckets: std::array::from_fn(|i| self.turn_buckets[i].load(Relaxed)),
            turn_nanos: self.turn_nanos.load(Relaxed),
        }
    }
}
