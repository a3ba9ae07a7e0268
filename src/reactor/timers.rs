//! Deadlines, kept in a binary heap whose earliest entry bounds the poll timeout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

use super::ConnId;

/// Handle to an armed timer, for [`crate::Ops::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    deadline: Instant,
    id: u64,
}

/// What a timer wakes when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerTarget {
    /// `Protocol::timer_fired(tag)` on this connection, if it still exists.
    Conn(ConnId, u64),
    /// The loop's own bookkeeping for a connection (e.g. the close linger).
    Linger(ConnId),
    /// Retry accepting on listener `n` after the process ran out of descriptors.
    Listener(usize),
}

/// Bytes one armed timer takes: its heap entry, target included.
pub(crate) const ENTRY_SIZE: usize = std::mem::size_of::<Entry>();

/// One armed timer. Ordered by deadline, then by arming order.
struct Entry {
    deadline: Instant,
    id: u64,
    target: TimerTarget,
}

impl Entry {
    fn key(&self) -> (Instant, u64) {
        (self.deadline, self.id)
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
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    cancelled: HashSet<u64>,
    /// The key of the last entry popped, which was due. Deadlines are the
    /// loop's clock (which never goes back) plus a delay, and ids grow, so
    /// every entry armed later sorts after it: a timer at or before it has
    /// fired or been dropped already.
    surfaced: Option<(Instant, u64)>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, target: TimerTarget) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse(Entry {
            deadline,
            id,
            target,
        }));
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
        self.heap.peek().map(|Reverse(top)| top.deadline)
    }

    /// Removes and returns one timer due at `now`, earliest first, skipping
    /// cancelled ones.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerTarget> {
        while self.next_deadline()? <= now {
            let Reverse(entry) = self.heap.pop()?;
            self.surfaced = Some(entry.key());
            if !self.cancelled.remove(&entry.id) {
                return Some(entry.target);
            }
        }
        None
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() - self.cancelled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
