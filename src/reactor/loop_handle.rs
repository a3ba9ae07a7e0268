//! Reaching the loop from other threads: a channel plus a `mio::Waker`.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use mio::Waker;

use super::stats::SharedStats;
use super::{ConnId, EventLoop, LoopStats, Protocol};

/// A closure run on the loop thread with the whole loop at hand.
pub type LoopTask<P> = Box<dyn FnOnce(&mut EventLoop<P>) + Send>;

pub(crate) enum Message<P: Protocol> {
    ToConn(ConnId, P::Command),
    Run(LoopTask<P>),
    Stop,
}

/// A `Send + Clone` handle to an event loop running on another thread.
///
/// Every method queues a message on a channel and then wakes the loop
/// through its `mio::Waker`, so the message is handled within one turn even
/// when the loop sleeps in `poll` with no timer armed. Nothing of a
/// connection's state is shared across threads: work is carried to the loop
/// thread and done there.
///
/// The channel holds at most [`MESSAGE_QUEUE_CAPACITY`](super::MESSAGE_QUEUE_CAPACITY)
/// messages; a thread that gets that far ahead of the loop blocks in the
/// call until the loop catches up, so memory stays bounded. Callbacks on the
/// loop thread itself must use their [`Context`](crate::Context) or
/// `WebSocket` instead, which never block.
pub struct LoopHandle<P: Protocol> {
    pub(crate) tx: SyncSender<Message<P>>,
    pub(crate) waker: Arc<Waker>,
    pub(crate) stats: Arc<SharedStats>,
}

impl<P: Protocol> Clone for LoopHandle<P> {
    fn clone(&self) -> Self {
        LoopHandle {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The loop this handle points to has stopped; the message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopGone;

impl std::fmt::Display for LoopGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the event loop has stopped")
    }
}

impl std::error::Error for LoopGone {}

impl<P: Protocol> LoopHandle<P> {
    fn post(&self, message: Message<P>) -> Result<(), LoopGone> {
        self.tx.send(message).map_err(|_| LoopGone)?;
        self.waker.wake().map_err(|_| LoopGone)
    }

    /// Delivers `command` to one connection's [`Protocol::command`].
    /// Silently dropped if that connection has closed.
    pub fn send_to(&self, to: ConnId, command: P::Command) -> Result<(), LoopGone> {
        self.post(Message::ToConn(to, command))
    }

    /// Runs `task` on the loop thread.
    pub fn run(
        &self,
        task: impl FnOnce(&mut EventLoop<P>) + Send + 'static,
    ) -> Result<(), LoopGone> {
        self.post(Message::Run(Box::new(task)))
    }

    /// Makes [`EventLoop::run`] return after the current turn.
    pub fn stop(&self) -> Result<(), LoopGone> {
        self.post(Message::Stop)
    }

    /// The loop's counters as of its last turn.
    pub fn stats(&self) -> LoopStats {
        self.stats.load()
    }
}
