//! The adapter's timestamps, kept small: a connection remembers when it
//! last heard from the peer, when anything last passed either way, and
//! when its unanswered ping went out. As `Instant`s those take 16 bytes
//! each; as milliseconds they take 8, which matters when most of a
//! server's memory is idle connections.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point in time, in milliseconds since this process first asked
/// (plus one, so that `Option<Stamp>` is no larger than a `Stamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(NonZeroU64);

impl Stamp {
    /// The stamp of `time` (times before the epoch count as the epoch).
    pub(crate) fn at(time: Instant) -> Stamp {
        let millis = time.saturating_duration_since(epoch()).as_millis() as u64;
        Stamp(NonZeroU64::MIN.saturating_add(millis))
    }

    /// How long before `later` this was (zero if it was not before).
    pub(crate) fn until(self, later: Instant) -> Duration {
        let later = Stamp::at(later);
        Duration::from_millis(later.0.get().saturating_sub(self.0.get()))
    }
}

/// How far a duration between two stamps may fall short of the true one.
pub(crate) const STAMP_ROUNDING: Duration = Duration::from_millis(1);

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
        assert_eq!(stamp.until(later), Duration::from_millis(1500));
        assert_eq!(Stamp::at(later).until(start), Duration::ZERO);
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
    }
}
