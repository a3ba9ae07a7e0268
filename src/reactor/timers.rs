//! Deadlines, kept in a binary heap whose earliest entry bounds the poll timeout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::{Duration, Instant};

use super::ConnId;

/// Handle to an armed timer, for [`crate::Ops::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    deadline: u64,
    id: u64,
}

/// What a timer wakes when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerTarget {
    /// `Protocol::timer_fired(tag)` on this connection, if it still exists.
    Conn(ConnId, u32),
    /// The loop's own bookkeeping for a connection (e.g. the close linger).
    Linger(ConnId),
    /// Retry accepting on listener `n` after the process ran out of descriptors.
    Listener(usize),
}

/// Bytes one armed timer takes: its heap entry, target included.
pub(crate) const ENTRY_SIZE: usize = std::mem::size_of::<Entry>();

/// One armed timer, its target packed beside the deadline in 32 bytes: an
/// idle server holds about one per connection, so every byte here counts
/// as many times. Ordered by deadline, then by arming order.
struct Entry {
    /// Nanoseconds since the heap's epoch.
    deadline: u64,
    /// The arming order in the low bits, the target's kind in the top two
    /// (see [`KIND_SHIFT`]).
    id_and_kind: u64,
    /// The connection's generation (`Conn`, `Linger`).
    generation: u64,
    /// The connection's slot (`Conn`, `Linger`), or the listener index
    /// (`Listener`).
    slot: u32,
    /// The protocol's tag (`Conn`).
    tag: u32,
}

/// Where an entry's kind sits in `id_and_kind`: ids count armed timers, and
/// 2^62 of them would take a loop arming one per nanosecond 146 years.
const KIND_SHIFT: u32 = 62;
const ID_MASK: u64 = (1 << KIND_SHIFT) - 1;
const CONN: u64 = 0;
const LINGER: u64 = 1;
const LISTENER: u64 = 2;

impl Entry {
    fn new(deadline: u64, id: u64, target: TimerTarget) -> Self {
        let (kind, conn, tag) = match target {
            TimerTarget::Conn(conn, tag) => (CONN, conn, tag),
            TimerTarget::Linger(conn) => (LINGER, conn, 0),
            TimerTarget::Listener(index) => {
                let slot = u32::try_from(index).expect("listener index fits in 32 bits");
                let conn = ConnId {
                    slot,
                    generation: 0,
                };
                (LISTENER, conn, 0)
            }
        };
        Entry {
            deadline,
            id_and_kind: (id & ID_MASK) | (kind << KIND_SHIFT),
            generation: conn.generation,
            slot: conn.slot,
            tag,
        }
    }

    fn id(&self) -> u64 {
        self.id_and_kind & ID_MASK
    }

    fn target(&self) -> TimerTarget {
        let conn = ConnId {
            slot: self.slot,
            generation: self.generation,
        };
        match self.id_and_kind >> KIND_SHIFT {
            CONN => TimerTarget::Conn(conn, self.tag),
            LINGER => TimerTarget::Linger(conn),
            _ => TimerTarget::Listener(self.slot as usize),
        }
    }

    fn key(&self) -> (u64, u64) {
        (self.deadline, self.id())
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// A min-heap of deadlines with lazy cancellation.
///
/// The target travels in the heap entry itself, so an armed timer costs one
/// entry and nothing else. Cancelling does not search the heap: the id goes
/// into a set and the entry is dropped when it comes due. Protocols
/// that need a timer moved often (keepalive on every frame) should instead
/// record the last activity and re-arm when the timer fires, so the heap
/// holds about one entry per connection.
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    cancelled: HashSet<u64>,
    /// The key of the last entry popped, which was due. Deadlines are the
    /// loop's clock (which never goes back) plus a delay, and ids grow, so
    /// every entry armed later sorts after it: a timer at or before it has
    /// fired or been dropped already.
    surfaced: Option<(u64, u64)>,
    next_id: u64,
    /// Deadlines are kept as nanoseconds since this instant: 8 bytes
    /// instead of an `Instant`'s 16.
    epoch: Instant,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            cancelled: HashSet::new(),
            surfaced: None,
            next_id: 0,
            epoch: Instant::now(),
        }
    }
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, target: TimerTarget) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        let deadline = self.nanos(deadline);
        self.heap.push(Reverse(Entry::new(deadline, id, target)));
        TimerId { deadline, id }
    }

    pub(crate) fn cancel(&mut self, timer: TimerId) {
        let surfaced = self
            .surfaced
            .is_some_and(|last| (timer.deadline, timer.id) <= last);
        if !surfaced {
            self.cancelled.insert(timer.id);
        }
    }

    /// The earliest deadline. It may belong to a cancelled timer, which
    /// costs one early wake-up and saves searching the heap on cancel.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .peek()
            .map(|Reverse(top)| self.epoch + Duration::from_nanos(top.deadline))
    }

    /// Removes and returns one timer due at `now`, earliest first, skipping
    /// cancelled ones.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerTarget> {
        let now = self.nanos(now);
        while self.heap.peek()?.0.deadline <= now {
            let Reverse(entry) = self.heap.pop()?;
            self.surfaced = Some(entry.key());
            if !self.cancelled.remove(&entry.id()) {
                return Some(entry.target());
            }
        }
        None
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() - self.cancelled.len()
    }

    /// `time` as nanoseconds since the epoch (times before it count as
    /// the epoch; 2^64 ns is over 500 years).
    fn nanos(&self, time: Instant) -> u64 {
        time.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_skips_cancelled() {
        let mut t = Timers::default();
        let now = Instant::now();
        let c = ConnId {
            slot: 0,
            generation: 1,
        };
        let a = t.insert(now + Duration::from_millis(30), TimerTarget::Conn(c, 3));
        t.insert(now + Duration::from_millis(10), TimerTarget::Conn(c, 1));
        t.insert(now + Duration::from_millis(20), TimerTarget::Conn(c, 2));
        t.cancel(a);
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(t.pop_due(now), None);
        let later = now + Duration::from_secs(1);
        assert_eq!(t.pop_due(later), Some(TimerTarget::Conn(c, 1)));
        assert_eq!(t.pop_due(later), Some(TimerTarget::Conn(c, 2)));
        assert_eq!(t.pop_due(later), None);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
        // Cancelling a timer that already fired leaves nothing behind.
        let fired = t.insert(later, TimerTarget::Linger(c));
        assert_eq!(t.pop_due(later), Some(TimerTarget::Linger(c)));
        t.cancel(fired);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn every_kind_of_target_comes_back_from_a_32_byte_entry() {
        assert_eq!(ENTRY_SIZE, 32);
        let mut t = Timers::default();
        let now = Instant::now();
        let c = ConnId {
            slot: u32::MAX,
            generation: u64::MAX,
        };
        let targets = [
            TimerTarget::Conn(c, u32::MAX),
            TimerTarget::Linger(c),
            TimerTarget::Listener(7),
        ];
        for target in targets {
            t.insert(now, target);
        }
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_due(now)).collect();
        assert_eq!(fired, targets);
    }
}
