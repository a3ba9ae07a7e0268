//! # wsloop
//!
//! A WebSocket server and client built on a hand-written [`mio`] event loop,
//! in layers that can each be read on their own:
//!
//! 1. [`reactor`]: one `mio::Poll`, connections in a slab, timers, a waker
//!    for other threads ([`EventLoop`], [`LoopHandle`]).
//! 2. [`transport`]: asyncio's Transport: a socket, its write queue and the
//!    high/low watermarks ([`Transport`]).
//! 3. [`protocol`]: asyncio's Protocol: the six callbacks ([`Protocol`]).
//!
//! [`TcpEcho`] is the simplest protocol, and the baseline for benchmarks.
#![warn(missing_docs)]

pub mod chat;
pub mod client;
pub mod loadgen;
pub mod metrics;
pub mod protocol;
pub mod reactor;
pub mod server;
pub mod tcp_echo;
pub mod tls;
pub mod transport;
pub mod websocket;
pub mod ws;

pub use protocol::Protocol;
pub use reactor::{
    ConnId, Context, EventLoop, LoopGone, LoopHandle, LoopStats, Ops, StatsReader, TimerId,
    TraceFilter, TryPostError, MESSAGE_QUEUE_CAPACITY, READS_PER_PASS, READ_CHUNK,
};
pub use server::{AcceptMode, ConnectionInfo, RunningServer, Server, ServerHandle};
pub use tcp_echo::TcpEcho;
pub use transport::{LimitsError, Transport, WriteLimits};
// `handler` keeps the module's former top-level path, `wsloop::handler`.
pub use websocket::{
    handler, App, Config, Endpoint, Handler, Overflow, WebSocket, WsCommand, WsCounters, WsProtocol,
};
pub use ws::{ClientRequest, HttpRequest, HttpResponse, Message, MessagePart, Opcode, SendError};
