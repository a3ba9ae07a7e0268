//! Connection identity that survives slot reuse.

use std::fmt;

/// Names one connection for its whole life, and never another one.
///
/// Connections live in a slab whose slots are reused, so a slot number alone
/// could reach the *next* tenant of a slot: a timer armed by a closed
/// connection, or a command posted to it, would land on a stranger. Each
/// connection therefore also gets a generation number, unique within its
/// loop, and anything carrying a `ConnId` is dropped when the slot's current
/// generation differs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// A `u32`: a loop holds far fewer connections than that (each one is
    /// a file descriptor), and timers pack it beside their tag.
    pub(crate) slot: u32,
    pub(crate) generation: u64,
}

impl ConnId {
    /// The slab slot (and `mio::Token`) the connection occupies.
    pub fn slot(&self) -> usize {
        self.slot as usize
    }

    /// The generation that tells this connection from earlier tenants of the slot.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.slot, self.generation)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
