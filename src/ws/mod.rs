pub mod error;
pub mod mask;
pub mod utf8;
pub mod close;
pub mod frame;
pub mod handshake;
