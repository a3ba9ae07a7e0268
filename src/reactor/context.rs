//! What a protocol callback can reach: its transport and the loop's services.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::{ConnId, Core, TimerId, TimerTarget};
use crate::protocol::Protocol;
use crate::transport::Transport;

/// The argument of every [`Protocol`] callback.
///
/// It is the connection's [`Ops`] (which dereferences to its [`Transport`],
/// so `cx.write(..)` works, and adds the loop's services: the connection's
/// id, the cached clock, timers, commands to other connections) plus the
/// loop-wide shared state.
pub struct Context<'a, P: Protocol> {
    pub(crate) shared: &'a mut P::Shared,
    pub(crate) ops: Ops<'a, P>,
}

impl<'a, P: Protocol> Context<'a, P> {
    pub(crate) fn new(
        id: ConnId,
        transport: &'a mut Transport,
        shared: &'a mut P::Shared,
        core: &'a mut Core<P>,
    ) -> Self {
        Context {
            shared,
            ops: Ops {
                id,
                transport,
                core,
            },
        }
    }

    /// The loop-wide state shared by all connections.
    pub fn shared(&mut self) -> &mut P::Shared {
        self.shared
    }

    /// Splits the context so the shared state and the rest can be used at
    /// the same time (for example a handler stored in the shared state that
    /// is handed this connection's transport).
    pub fn split(&mut self) -> (&mut P::Shared, Ops<'_, P>) {
        (self.shared, self.ops.reborrow())
    }
}

impl<'a, P: Protocol> Deref for Context<'a, P> {
    type Target = Ops<'a, P>;
    fn deref(&self) -> &Ops<'a, P> {
        &self.ops
    }
}

impl<'a, P: Protocol> DerefMut for Context<'a, P> {
    fn deref_mut(&mut self) -> &mut Ops<'a, P> {
        &mut self.ops
    }
}

/// One connection's transport together with the loop's services; the part
/// of a [`Context`] that is not the shared state (see [`Context::split`]).
pub struct Ops<'a, P: Protocol> {
    id: ConnId,
    transport: &'a mut Transport,
    core: &'a mut Core<P>,
}

impl<P: Protocol> Ops<'_, P> {
    /// A shorter-lived copy of these borrows.
    fn reborrow(&mut self) -> Ops<'_, P> {
        Ops {
            id: self.id,
            transport: self.transport,
            core: self.core,
        }
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// This connection's transport.
    pub fn transport(&mut self) -> &mut Transport {
        self.transport
    }

    /// The time at which the loop woke up for the current event.
    ///
    /// Cached per turn: cheaper than `Instant::now()` and the same for every
    /// callback of one turn.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// Arms a timer: [`Protocol::timer_fired`] gets `tag` after `delay`,
    /// unless the connection is gone by then or the timer is cancelled.
    pub fn set_timer(&mut self, delay: Duration, tag: u64) -> TimerId {
        let deadline = self.core.now + delay;
        self.core
            .timers
            .insert(deadline, TimerTarget::Conn(self.id, tag))
    }

    /// Cancels a timer. Cancelling one that already fired is harmless.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.core.timers.cancel(timer)
    }

    /// Delivers `command` to connection `to` once this callback returns.
    /// Dropped if `to` is closed by then.
    pub fn send_to(&mut self, to: ConnId, command: P::Command) {
        self.core.send_to(to, command)
    }

    /// Delivers `command` to every open connection (this one included)
    /// once this callback returns.
    pub fn broadcast(&mut self, command: P::Command) {
        self.core.broadcast(command)
    }

    /// Asks the loop to return from [`crate::EventLoop::run`] after this turn.
    pub fn stop_loop(&mut self) {
        self.core.stop = true;
    }

    /// Number of connections open in this loop, this one included.
    pub fn open_connections(&self) -> usize {
        self.core.stats.open as usize
    }
}

impl<P: Protocol> Deref for Ops<'_, P> {
    type Target = Transport;
    fn deref(&self) -> &Transport {
        self.transport
    }
}

impl<P: Protocol> DerefMut for Ops<'_, P> {
    fn deref_mut(&mut self) -> &mut Transport {
        self.transport
    }
}
