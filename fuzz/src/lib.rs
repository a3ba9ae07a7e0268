//! Invariant checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each target is a thin `fuzz_target!` that hands its input to one of the
//! `check` functions here. Keeping the logic in a library lets several
//! targets share it (the server and client sessions differ only in their
//! role) and keeps each target file a one-screen read.

pub mod chunks;
pub mod http;
pub mod session;
pub mod wire;
