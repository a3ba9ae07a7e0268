//! WebSocket-level counters, shared with other threads.
//!
//! Only events that happen at most once per connection are counted here
//! (each costs one relaxed atomic add); per-message and per-byte figures
//! are plain integers in the loop's `LoopStats` instead.

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
    /// `closed`, by the close code `on_close` received: see [`WsCounters::closes`].
    pub closes_by_code: [AtomicU64; CLOSE_CODES.len() + 1],
    /// Opening handshakes answered with an HTTP error, by status: see
    /// [`WsCounters::rejections`].
    pub rejections_by_status: [AtomicU64; REJECTION_STATUSES.len() + 1],
    /// Broadcast payloads compressed once by the loop's shared compressor
    /// (then sent to every connection without context takeover).
    pub broadcasts_compressed: AtomicU64,
}

/// The close codes counted one by one (RFC 6455 7.4.1 and the IANA
/// registry up to 1015); any other code is counted together as "other".
pub const CLOSE_CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
];

/// The HTTP statuses a handshake is refused with, counted one by one; any
/// other status is counted together as "other".
pub const REJECTION_STATUSES: [u16; 8] = [400, 403, 404, 405, 426, 431, 500, 503];

/// Index of `value` in `known`, or the "other" slot after them.
fn slot_of(known: &[u16], value: u16) -> usize {
    known
        .iter()
        .position(|&k| k == value)
        .unwrap_or(known.len())
}

/// Pairs each label (`None` for "other") with its count.
fn labelled(known: &[u16], counts: &[AtomicU64]) -> Vec<(Option<u16>, u64)> {
    let labels = known.iter().map(|&k| Some(k)).chain([None]);
    labels.zip(counts.iter().map(|c| c.load(Relaxed))).collect()
}

impl WsCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    pub(crate) fn count_close(&self, code: u16) {
        Self::bump(&self.closes_by_code[slot_of(&CLOSE_CODES, code)]);
    }

    pub(crate) fn count_rejection(&self, status: u16) {
        Self::bump(&self.rejections_by_status[slot_of(&REJECTION_STATUSES, status)]);
    }

    /// Closes by code (`None`: a code outside [`CLOSE_CODES`]).
    pub fn closes(&self) -> Vec<(Option<u16>, u64)> {
        labelled(&CLOSE_CODES, &self.closes_by_code)
    }

    /// Handshake rejections by HTTP status (`None`: a status outside
    /// [`REJECTION_STATUSES`]).
    pub fn rejections(&self) -> Vec<(Option<u16>, u64)> {
        labelled(&REJECTION_STATUSES, &self.rejections_by_status)
    }
}
