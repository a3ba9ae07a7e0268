//! `--trace`: one readable line per step of the loop, for every
//! connection or for one slot, so a reader can watch an event travel from
//! `epoll` to the protocol and back.
//!
//! Off, it costs one test of a `bool` per step: the line is only
//! formatted behind that test (see the `trace!` macro).

use std::fmt;
use std::io::Write;

/// Which connections `--trace` follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceFilter {
    /// No tracing (the default).
    #[default]
    Off,
    /// Every connection, and the loop's own steps.
    All,
    /// Only the connection in this slab slot (whatever its generation),
    /// and the loop's steps that concern it; with several workers, that
    /// slot in each of them.
    Slot(usize),
}

/// What the loop consults at every traced step.
#[derive(Clone, Copy, Default)]
pub(crate) struct Tracer {
    /// Tracing is on at all: the one test paid when it is off.
    pub(crate) on: bool,
    only: Option<usize>,
    /// The worker this loop is, when a server runs several.
    pub(crate) worker: Option<usize>,
}

impl Tracer {
    pub(crate) fn new(filter: TraceFilter) -> Self {
        match filter {
            TraceFilter::Off => Tracer::default(),
            TraceFilter::All => Tracer {
                on: true,
                only: None,
                worker: None,
            },
            TraceFilter::Slot(slot) => Tracer {
                on: true,
                only: Some(slot),
                worker: None,
            },
        }
    }

    /// Whether steps of the connection in `slot` are traced.
    #[inline]
    pub(crate) fn wants(&self, slot: usize) -> bool {
        self.on
            && match self.only {
                None => true,
                Some(only) => only == slot,
            }
    }

    /// Whether the loop's own steps (a poll, a timer of no connection) are.
    #[inline]
    pub(crate) fn wants_loop(&self) -> bool {
        self.on && self.only.is_none()
    }

    /// Writes one line to standard error, unbuffered by the logger so the
    /// lines keep the order of the steps.
    pub(crate) fn line(&self, args: fmt::Arguments<'_>) {
        let mut err = std::io::stderr().lock();
        let _ = match self.worker {
            None => writeln!(err, "trace: {args}"),
            Some(w) => writeln!(err, "trace w{w}: {args}"),
        };
    }
}

/// `trace!(tracer, slot, "format", args..)`: a line about one connection;
/// `trace!(tracer, "format", args..)`: a line about the loop.
macro_rules! trace {
    ($tracer:expr, slot = $slot:expr, $($arg:tt)+) => {
        if $tracer.on && $tracer.wants($slot) {
            $tracer.line(format_args!($($arg)+));
        }
    };
    ($tracer:expr, $($arg:tt)+) => {
        if $tracer.on && $tracer.wants_loop() {
            $tracer.line(format_args!($($arg)+));
        }
    };
}
pub(crate) use trace;
