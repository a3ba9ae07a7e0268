//! High and low watermarks of a write queue, with asyncio's rules.

use std::fmt;

/// Default high watermark: 64 KiB, as in asyncio.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The two thresholds that decide `pause_writing` and `resume_writing`.
///
/// The queue is "full" when its size is **above** `high` and "drained" when
/// it is **at or below** `low`. Between the two nothing changes, which is
/// what keeps a producer from flapping on every byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLimits {
    /// Pause the producer when the queue grows above this many bytes.
    pub high: usize,
    /// Resume the producer when the queue shrinks to this many bytes or fewer.
    pub low: usize,
}

impl WriteLimits {
    /// Builds limits the way asyncio's `set_write_buffer_limits` does:
    /// `low` defaults to `high / 4`, and `low > high` is an error.
    pub fn new(high: usize, low: Option<usize>) -> Result<WriteLimits, LimitsError> {
        let low = low.unwrap_or(high / 4);
        if low > high {
            return Err(LimitsError { high, low });
        }
        Ok(WriteLimits { high, low })
    }
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits {
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
        }
    }
}

/// [`WriteLimits`] as a transport keeps them, in 32 bits each (every open
/// connection holds one): a watermark above 4 GiB - 1 acts as 4 GiB - 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredLimits {
    high: u32,
    low: u32,
}

impl StoredLimits {
    pub(crate) fn new(limits: WriteLimits) -> Self {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        StoredLimits {
            high: narrow(limits.high),
            low: narrow(limits.low),
        }
    }

    pub(crate) fn get(self) -> WriteLimits {
        WriteLimits {
            high: self.high as usize,
            low: self.low as usize,
        }
    }
}

/// `set_write_buffer_limits` was asked for a low watermark above the high one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsError {
    /// The high watermark asked for.
    pub high: usize,
    /// The low watermark asked for.
    pub low: usize,
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "low watermark {} is above high watermark {}",
            self.low, self.high
        )
    }
}

impl std::error::Error for LimitsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_asyncio() {
        let l = WriteLimits::default();
        assert_eq!((l.high, l.low), (65536, 16384));
        assert_eq!(WriteLimits::new(1000, None).unwrap().low, 250);
        assert_eq!(WriteLimits::new(1000, Some(1000)).unwrap().low, 1000);
        assert!(WriteLimits::new(1000, Some(1001)).is_err());
    }
}
