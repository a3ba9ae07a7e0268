//! Deadlines, kept in a binary heap whose earliest entry bounds the poll timeout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

use super::ConnId;

/// Handle to an armed timer, for [`crate::Ops::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

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

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    id: u64,
}

/// A min-heap of deadlines with lazy cancellation.
///
/// Cancelling does not search the heap: the id goes into a set and the entry
/// is skipped when it reaches the top. Protocols that need a timer moved
/// often (keepalive on every frame) should instead record the last activity
/// and re-arm when the timer fires, so the heap stays small.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    targets: std::collections::HashMap<u64, TimerTarget>,
    cancelled: HashSet<u64>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, target: TimerTarget) -> TimerId {
        self.next_id += 1;
        let id = self.next_id;
        self.heap.push(Reverse(Entry { deadline, id }));
        self.targets.insert(id, target);
        TimerId(id)
    }

    pub(crate) fn cancel(&mut self, timer: TimerId) {
        if self.targets.remove(&timer.0).is_some() {
            self.cancelled.insert(timer.0);
        }
    }

    /// The earliest live deadline, if any.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.cancelled.remove(&top.id) {
                self.heap.pop();
                continue;
            }
            return Some(top.deadline);
        }
        None
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerTarget> {
        while self.next_deadline()? <= now {
            let Reverse(entry) = self.heap.pop()?;
            if let Some(target) = self.targets.remove(&entry.id) {
                return Some(target);
            }
        }
        None
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.targets.len()
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
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(t.pop_due(now), None);
        let later = now + Duration::from_secs(1);
        assert_eq!(t.pop_due(later), Some(TimerTarget::Conn(c, 1)));
        assert_eq!(t.pop_due(later), Some(TimerTarget::Conn(c, 2)));
        assert_eq!(t.pop_due(later), None);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }
}
