//! WebSocket-level counters, shared with other threads.
//!
//! Only events that are rare on a healthy server are counted here (each
//! costs one relaxed atomic add); per-message figures come from the loop's
//! byte counters instead.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts of the notable things that happened to WebSocket connections.
#[derive(Debug, Default)]
pub struct WsCounters {
    /// Opening handshakes completed.
    pub opened: AtomicU64,
    /// Opening handshakes answered with an HTTP error.
    pub rejected: AtomicU64,
    /// Connections refused with 503 because of `max_connections`.
    pub refused_busy: AtomicU64,
    /// Connections failed for a protocol violation (1002, 1007, 1009).
    pub protocol_errors: AtomicU64,
    /// Connections closed by a handshake, close, keepalive or idle timeout.
    pub timeouts: AtomicU64,
    /// Messages not queued because a write queue was at its hard cap.
    pub overflow_drops: AtomicU64,
    /// Connections closed with 1008 because their write queue was full.
    pub overflow_closes: AtomicU64,
    /// Handler callbacks that panicked (each closed its connection with 1011).
    pub handler_panics: AtomicU64,
    /// Connections whose `on_close` has run.
    pub closed: AtomicU64,
    /// Broadcast payloads compressed once by the loop's shared compressor
    /// (then sent to every connection without context takeover).
    pub broadcasts_compressed: AtomicU64,
}

impl WsCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
