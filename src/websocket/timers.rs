//! The adapter's clocks: the opening handshake timeout, the closing
//! handshake timeout, keepalive pings (and the pong deadline), and the idle
//! timeout. This file is the one home of keepalive.
//!
//! Keepalive does not move its timer on every frame: it records when it
//! last heard from the peer, and when the timer fires early it re-arms for
//! the remaining time. The handshake timer hands over to keepalive when it
//! fires, so an open, idle connection holds one timer, not one per frame
//! or per concern.

use super::clock::{Stamp, STAMP_ROUNDING};
use super::state::State;
use super::{Handler, WsCounters, WsProtocol};
use crate::reactor::Context;
use crate::ws::close;

/// Timer tag: the opening handshake must finish by now.
pub(super) const HANDSHAKE: u32 = 1;
/// Timer tag: the closing handshake (or the server's FIN) must come by now.
pub(super) const CLOSE: u32 = 2;
/// Timer tag: time to check whether a keepalive ping is due.
pub(super) const PING: u32 = 3;
/// Timer tag: the pong to our first unanswered ping must have come by now.
pub(super) const PONG: u32 = 4;
/// Timer tag: time to check whether the connection has been idle too long.
pub(super) const IDLE: u32 = 5;

/// Arms the opening handshake timeout, if configured.
pub(super) fn arm_handshake<H: Handler>(cx: &mut Context<'_, WsProtocol<H>>) {
    if let Some(timeout) = cx.shared().config.handshake_timeout {
        cx.set_timer(timeout, HANDSHAKE);
    }
}

/// Arms the closing handshake timeout, if configured.
pub(super) fn arm_close<H: Handler>(cx: &mut Context<'_, WsProtocol<H>>) {
    if let Some(timeout) = cx.shared().config.close_timeout {
        cx.set_timer(timeout, CLOSE);
    }
}

/// Arms keepalive and the idle timeout for a connection that just opened.
///
/// The opening handshake's timer is still armed then, and with the
/// defaults it comes due before the first ping would: keepalive is then
/// armed when it fires (see `on_timer`), so an idle connection holds one
/// timer at a time instead of two.
pub(super) fn arm_open<H: Handler>(cx: &mut Context<'_, WsProtocol<H>>) {
    let config = &cx.shared().config;
    let (ping, idle) = (config.ping_interval, config.idle_timeout);
    let chained = |interval| config.handshake_timeout.is_some_and(|h| h <= interval);
    if let Some(interval) = ping.filter(|&i| !chained(i)) {
        cx.set_timer(interval, PING);
    }
    if let Some(idle) = idle {
        cx.set_timer(idle, IDLE);
    }
}

impl<H: Handler> WsProtocol<H> {
    /// One of this connection's timers fired.
    pub(super) fn on_timer(&mut self, cx: &mut Context<'_, Self>, which: u32) {
        match which {
            // Open by now: keepalive was left to this timer (`arm_open`),
            // and re-arms itself for the rest of its interval.
            HANDSHAKE if self.state.frames_flow() => self.keepalive_ping(cx),
            HANDSHAKE => self.handshake_timed_out(cx),
            CLOSE => {
                if !cx.is_closing() || self.state.frames_flow() {
                    let peer = cx.peer_addr();
                    log::info!("{peer}: closing handshake timed out");
                    WsCounters::bump(&cx.shared().counters.timeouts);
                }
                cx.abort();
            }
            PING if self.state.frames_flow() => self.keepalive_ping(cx),
            PONG if self.state.frames_flow() => self.check_pong(cx),
            IDLE if self.state.frames_flow() => self.check_idle(cx),
            _ => {}
        }
    }

    fn handshake_timed_out(&mut self, cx: &mut Context<'_, Self>) {
        let counters = cx.shared().counters.clone();
        if self.state.is_connecting() {
            WsCounters::bump(&counters.timeouts);
            self.connect_failed(cx, "no answer to the opening handshake in time");
            cx.abort();
        } else if matches!(self.state, State::AwaitingRequest(_)) {
            let peer = cx.peer_addr();
            log::info!("{peer}: opening handshake timed out");
            WsCounters::bump(&counters.timeouts);
            self.state = State::Done;
            cx.abort();
        }
    }

    /// Sends a ping if the peer has been quiet for a whole interval.
    fn keepalive_ping(&mut self, cx: &mut Context<'_, Self>) {
        let config = &cx.shared().config;
        let (Some(interval), ping_timeout) = (config.ping_interval, config.ping_timeout) else {
            return;
        };
        let now = cx.now();
        let quiet = self.last_received.until(now);
        if quiet < interval {
            // Heard from the peer meanwhile: check again later.
            cx.set_timer(interval - quiet, PING);
            return;
        }
        let release_idle = cx.shared().config.deflate.release_idle;
        let session = &mut self.conn.session;
        if release_idle {
            // Quiet for a whole interval: zlib's buffers can go until the
            // next compressed message (only where no context is kept).
            session.release_idle_deflate();
        }
        if cx
            .write_with(|out| session.ping(b"wsloop", out))
            .is_some_and(|r| r.is_ok())
            && self.ping_sent.is_none()
        {
            // The pong deadline runs from the first unanswered ping: later
            // pings to a silent peer must not extend it.
            self.ping_sent = Some(Stamp::at(now));
            if let Some(timeout) = ping_timeout {
                cx.set_timer(timeout, PONG);
            }
        }
        cx.set_timer(interval, PING);
    }

    /// Closes with 1011 if our first unanswered ping is past its deadline.
    fn check_pong(&mut self, cx: &mut Context<'_, Self>) {
        let ping_timeout = cx.shared().config.ping_timeout;
        let now = cx.now();
        // A PONG timer armed for a ping that was answered may fire after a
        // later ping went out; only the later ping's own timer (deadline
        // reached) may close.
        // Stamps are whole milliseconds: allow for the rounding, or a
        // deadline with a fraction of a millisecond would never be reached.
        let overdue = self.ping_sent.is_some_and(|sent| {
            ping_timeout.is_some_and(|t| sent.until(now) + STAMP_ROUNDING >= t)
        });
        if overdue {
            let peer = cx.peer_addr();
            log::info!("{peer}: no pong within the keepalive timeout; closing with 1011");
            WsCounters::bump(&cx.shared().counters.timeouts);
            self.fail(cx, close::INTERNAL, "keepalive ping timeout");
        }
    }

    /// Closes with 1001 once nothing but pings has passed for the idle timeout.
    fn check_idle(&mut self, cx: &mut Context<'_, Self>) {
        let Some(idle) = cx.shared().config.idle_timeout else {
            return;
        };
        let quiet = self.conn.last_activity.until(cx.now());
        if quiet < idle {
            cx.set_timer(idle - quiet, IDLE);
            return;
        }
        let peer = cx.peer_addr();
        log::info!("{peer}: idle for {idle:?}; closing with 1001");
        WsCounters::bump(&cx.shared().counters.timeouts);
        self.fail(cx, close::GOING_AWAY, "idle timeout");
    }
}
