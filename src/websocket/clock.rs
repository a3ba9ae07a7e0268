//! The adapter's timestamps, kept small: a connection remembers when it
//! last heard from the peer, when anything last passed either way, and
//! when its unanswered ping went out. As `Instant`s those take 16 bytes
//! each; as milliseconds in 32 bits they take 4, which matters when most
//! of a server's memory is idle connections.
//!
//! 32 bits of milliseconds wrap every 49.7 days, so a stamp is read
//! relative to a later time with wrapping arithmetic: any span up to
//! 24.8 days is measured to the millisecond, whatever the process's
//! uptime. The adapter's spans (keepalive, pong, idle) are seconds to hours.

use std::cell::Cell;
use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point in time, in milliseconds since this process first asked,
/// modulo 2^32. Never 0, so that `Option<Stamp>` is no larger than a
/// `Stamp`: the one millisecond in 2^32 that would be 0 reads 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(NonZeroU32);

/// A stamp this far or farther "after" a time is taken as not before it:
/// spans are measured modulo 2^32 ms.
const HALF_RANGE: u32 = 1 << 31;

impl Stamp {
    /// The stamp of `time` (times before the epoch count as the epoch).
    pub(crate) fn at(time: Instant) -> Stamp {
        // One loop turn stamps many sends and reads with the same time
        // (the loop's clock is read once per turn), and the conversion
        // (a checked subtraction and 128-bit milliseconds) costs more than
        // the rest of a small message's bookkeeping; the last one is kept.
        LAST.with(|last| match last.get() {
            Some((at, stamp)) if at == time => stamp,
            _ => {
                let stamp = Stamp::convert(time);
                last.set(Some((time, stamp)));
                stamp
            }
        })
    }

    fn convert(time: Instant) -> Stamp {
        let millis = time.saturating_duration_since(epoch()).as_millis() as u32;
        Stamp(NonZeroU32::new(millis).unwrap_or(NonZeroU32::MIN))
    }

    /// How long before `later` this was (zero if it was not before).
    pub(crate) fn until(self, later: Instant) -> Duration {
        self.span_to(Stamp::at(later))
    }

    fn span_to(self, later: Stamp) -> Duration {
        let span = later.0.get().wrapping_sub(self.0.get());
        if span >= HALF_RANGE {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::from(span))
    }
}

thread_local! {
    /// The last time converted on this thread, and its stamp.
    static LAST: Cell<Option<(Instant, Stamp)>> = const { Cell::new(None) };
}

/// How far a duration between two stamps may fall short of the true one:
/// both ends are cut to whole milliseconds, and a stamp that would be 0
/// reads 1.
pub(crate) const STAMP_ROUNDING: Duration = Duration::from_millis(2);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_in_milliseconds_and_is_small() {
        epoch();
        let start = Instant::now();
        let stamp = Stamp::at(start);
        let later = start + Duration::from_millis(1500);
        let span = stamp.until(later);
        assert!(span <= Duration::from_millis(1500), "{span:?}");
        assert!(
            span + STAMP_ROUNDING >= Duration::from_millis(1500),
            "{span:?}"
        );
        assert_eq!(Stamp::at(later).until(start), Duration::ZERO);
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 4);
    }

    #[test]
    fn spans_are_right_across_the_wrap() {
        let stamp = |ms: u32| Stamp(NonZeroU32::new(ms).unwrap());
        let before = stamp(u32::MAX - 499);
        assert_eq!(before.span_to(stamp(500)), Duration::from_millis(1000));
        assert_eq!(stamp(500).span_to(before), Duration::ZERO);
        assert_eq!(stamp(7).span_to(stamp(7)), Duration::ZERO);
    }
}
