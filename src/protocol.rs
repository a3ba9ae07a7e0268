//! The protocol layer: asyncio's six `Protocol` callbacks.
//!
//! The trait is defined beside the reactor that calls it
//! ([`crate::reactor::protocol`]), so the reactor imports nothing from the
//! layers above it; this module keeps the name `wsloop::protocol::Protocol`.

pub use crate::reactor::protocol::Protocol;
