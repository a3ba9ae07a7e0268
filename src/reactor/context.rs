//! What a protocol callback can reach: its transport and the loop's services.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::{ConnId, Protocol, Services, TimerId, TimerTarget};
use crate::transport::Transport;

/// The argument of every [`Protocol`] callback.
///
/// It is the connection's [`Ops`] (which dereferences to its [`Transport`],
/// so `cx.write(..)` works, and adds the loop's services: the connection's
/// id, the cached clock, timers, commands to other connections) plus the
/// loop-wide shared state.
pub struct Context<'a, P: Protocol> {
    pub(crate) shared: &'a mut P::Shared,
    pub(crate) ops: Ops<'a, P::Command>,
}

impl<'a, P: Protocol> Context<'a, P> {
    pub(crate) fn new(
        id: ConnId,
        transport: &'a mut Transport,
        shared: &'a mut P::Shared,
        services: &'a mut Services<P::Command>,
    ) -> Self {
        Context {
            shared,
            ops: Ops {
                id,
                transport,
                services,
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
    pub fn split(&mut self) -> (&mut P::Shared, Ops<'_, P::Command>) {
        (self.shared, self.ops.reborrow())
    }
}

impl<'a, P: Protocol> Deref for Context<'a, P> {
    type Target = Ops<'a, P::Command>;
    fn deref(&self) -> &Ops<'a, P::Command> {
        &self.ops
    }
}

impl<'a, P: Protocol> DerefMut for Context<'a, P> {
    fn deref_mut(&mut self) -> &mut Ops<'a, P::Command> {
        &mut self.ops
    }
}

/// One connection's transport together with the loop's services; the part
/// of a [`Context`] that is not the shared state (see [`Context::split`]).
///
/// `C` is the loop's command type ([`Protocol::Command`]). It is the only
/// thing `Ops` needs to know of the protocol, which lets layers above hand
/// it out without naming their own type parameters.
pub struct Ops<'a, C> {
    id: ConnId,
    transport: &'a mut Transport,
    services: &'a mut Services<C>,
}

impl<C> Ops<'_, C> {
    /// A shorter-lived copy of these borrows.
    fn reborrow(&mut self) -> Ops<'_, C> {
        Ops {
            id: self.id,
            transport: self.transport,
            services: self.services,
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
        self.services.now
    }

    /// Arms a timer: [`Protocol::timer_fired`] gets `tag` after `delay`,
    /// unless the connection is gone by then or the timer is cancelled.
    pub fn set_timer(&mut self, delay: Duration, tag: u32) -> TimerId {
        let deadline = self.services.now + delay;
        self.services
            .timers
            .insert(deadline, TimerTarget::Conn(self.id, tag))
    }

    /// Cancels a timer. Cancelling one that already fired is harmless.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.services.timers.cancel(timer)
    }

    /// Delivers `command` to connection `to` once this callback returns.
    /// Dropped if `to` is closed by then.
    pub fn send_to(&mut self, to: ConnId, command: C) {
        self.services.send_to(to, command)
    }

    /// Delivers `command` to every open connection (this one included)
    /// once this callback returns.
    pub fn broadcast(&mut self, command: C) {
        self.services.broadcast(command)
    }

    /// Asks the loop to return from [`crate::EventLoop::run`] after this turn.
    pub fn stop_loop(&mut self) {
        self.services.stop = true;
    }

    /// Counts `n` messages received, for [`crate::LoopStats::messages_in`]:
    /// a plain add to the loop's counters, published once per turn.
    pub fn count_received(&mut self, n: u64) {
        self.services.stats.messages_in += n;
    }

    /// Counts `n` messages sent, for [`crate::LoopStats::messages_out`].
    pub fn count_sent(&mut self, n: u64) {
        self.services.stats.messages_out += n;
    }

    /// Whether `--trace` follows this connection; check it before
    /// building a line for [`Ops::trace`], so tracing costs nothing when off.
    pub fn tracing(&self) -> bool {
        self.services.trace.wants(self.id.slot())
    }

    /// Prints one trace line about this connection (see [`Ops::tracing`]).
    pub fn trace(&self, args: std::fmt::Arguments<'_>) {
        if self.tracing() {
            let id = self.id;
            self.services.trace.line(format_args!("{id} {args}"));
        }
    }

    /// The loop's counters, exact as of now.
    pub fn loop_stats(&self) -> crate::LoopStats {
        self.services.stats
    }

    /// Number of connections open in this loop, this one included.
    pub fn open_connections(&self) -> usize {
        self.services.stats.open as usize
    }
}

impl<C> Deref for Ops<'_, C> {
    type Target = Transport;
    fn deref(&self) -> &Transport {
        self.transport
    }
}

impl<C> DerefMut for Ops<'_, C> {
    fn deref_mut(&mut self) -> &mut Transport {
        self.transport
    }
}
