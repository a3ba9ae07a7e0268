//! Metrics in the Prometheus text format (version 0.0.4), read from the
//! counters the loops already keep.
//!
//! Nothing here runs on the hot path. Each loop counts in plain integers
//! and publishes them once per turn ([`crate::LoopStats`]); WebSocket events
//! that happen once per connection are relaxed atomics
//! ([`crate::WsCounters`]). A scrape loads those snapshots and
//! [`render`]s their sum, so a process with several loops reports one set
//! of figures. [`Registry`] is the list of loops a scrape reads.
//!
//! The text format is written here rather than through a metrics crate:
//! those keep live metric objects that the code updates (atomics on every
//! message), while ours are snapshots summed at scrape time.
//!
//! Served on the WebSocket port (`GET /metrics`, when
//! [`Config::metrics`](crate::Config::metrics) is on) or on a listener of
//! its own ([`serve`]).

mod listener;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

pub use listener::serve;

use crate::reactor::{LoopStats, StatsReader, TURN_BUCKETS};
use crate::websocket::WsCounters;
use crate::ws::HttpResponse;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The loops (and their endpoints' counters) one scrape reads.
#[derive(Default)]
pub struct Registry {
    sources: Mutex<Vec<(StatsReader, Arc<WsCounters>)>>,
}

impl Registry {
    /// Adds one loop, with the counters of the WebSocket endpoint on it.
    pub fn add(&self, stats: StatsReader, counters: Arc<WsCounters>) {
        self.lock().push((stats, counters));
    }

    /// The metrics of every loop added, summed, in the text format.
    pub fn render(&self) -> String {
        let sources = self.lock();
        let loops: Vec<LoopStats> = sources.iter().map(|(s, _)| s.load()).collect();
        let endpoints: Vec<&WsCounters> = sources.iter().map(|(_, c)| &**c).collect();
        render(&loops, &endpoints)
    }

    /// The HTTP answer to a scrape.
    pub fn response(&self) -> HttpResponse {
        HttpResponse::new(200, CONTENT_TYPE, self.render())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(StatsReader, Arc<WsCounters>)>> {
        // A panic while holding the lock cannot leave the list half-changed.
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One loop-wide figure: name, type, help, and where it comes from.
type Figure = (
    &'static str,
    &'static str,
    &'static str,
    fn(&LoopStats) -> u64,
);

/// The loop-wide figures.
const LOOP_FIGURES: [Figure; 10] = [
    (
        "wsloop_connections_open",
        "gauge",
        "Connections open now.",
        |s| s.open,
    ),
    (
        "wsloop_connections_accepted_total",
        "counter",
        "Connections accepted.",
        |s| s.accepted,
    ),
    (
        "wsloop_messages_received_total",
        "counter",
        "WebSocket messages received.",
        |s| s.messages_in,
    ),
    (
        "wsloop_messages_sent_total",
        "counter",
        "WebSocket messages queued for sending.",
        |s| s.messages_out,
    ),
    (
        "wsloop_bytes_received_total",
        "counter",
        "Bytes read from sockets.",
        |s| s.bytes_in,
    ),
    (
        "wsloop_bytes_sent_total",
        "counter",
        "Bytes written to sockets.",
        |s| s.bytes_out,
    ),
    (
        "wsloop_write_pauses_total",
        "counter",
        "Times a write queue rose above its high watermark (pause_writing).",
        |s| s.pauses,
    ),
    (
        "wsloop_read_yields_total",
        "counter",
        "Read passes that stopped at their budget of reads to let other connections run.",
        |s| s.read_yields,
    ),
    (
        "wsloop_write_queue_bytes",
        "gauge",
        "Bytes queued for writing, all connections.",
        |s| s.queued,
    ),
    ("wsloop_timers", "gauge", "Timers armed.", |s| s.timers),
];

/// Renders the sum of `loops` and of `endpoints` in the text format.
pub fn render(loops: &[LoopStats], endpoints: &[&WsCounters]) -> String {
    let mut out = String::new();
    for (name, kind, help, figure) in LOOP_FIGURES {
        family(&mut out, name, kind, help);
        let value: u64 = loops.iter().map(figure).sum();
        let _ = writeln!(out, "{name} {value}");
    }
    labelled(
        &mut out,
        "wsloop_handshake_rejections_total",
        "Opening handshakes answered with an HTTP error, by status.",
        "status",
        endpoints.iter().map(|c| c.rejections()),
    );
    labelled(
        &mut out,
        "wsloop_closes_total",
        "WebSocket connections closed, by the close code the handler was given.",
        "code",
        endpoints.iter().map(|c| c.closes()),
    );
    turn_histogram(&mut out, loops);
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One counter family with a label, summed over `sets`; labels never seen
/// are left out, except that an empty family still has its header.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    sets: impl Iterator<Item = Vec<(Option<u16>, u64)>>,
) {
    let mut totals: Vec<(Option<u16>, u64)> = Vec::new();
    for set in sets {
        for (key, count) in set {
            match totals.iter_mut().find(|(k, _)| *k == key) {
                Some((_, total)) => *total += count,
                None => totals.push((key, count)),
            }
        }
    }
    family(out, name, "counter", help);
    for (key, count) in totals.into_iter().filter(|&(_, c)| c > 0) {
        let value = key.map_or("other".to_string(), |k| k.to_string());
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

fn turn_histogram(out: &mut String, loops: &[LoopStats]) {
    let name = "wsloop_loop_iteration_seconds";
    family(
        out,
        name,
        "histogram",
        "Work time of one loop turn, from poll returning to the end of the turn.",
    );
    let mut cumulative = 0;
    for (i, bound) in TURN_BUCKETS.iter().map(Some).chain([None]).enumerate() {
        cumulative += loops.iter().map(|s| s.turn_buckets[i]).sum::<u64>();
        let le = bound.map_or("+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let nanos: u64 = loops.iter().map(|s| s.turn_nanos).sum();
    let _ = writeln!(out, "{name}_sum {}", nanos as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_loops_and_writes_cumulative_buckets() {
        let mut a = LoopStats {
            open: 2,
            bytes_in: 10,
            ..LoopStats::default()
        };
        a.turn_buckets[0] = 3;
        let mut b = LoopStats {
            open: 1,
            bytes_in: 5,
            ..LoopStats::default()
        };
        b.turn_buckets[TURN_BUCKETS.len()] = 1;
        b.turn_nanos = 2_000_000_000;
        let ws = WsCounters::default();
        ws.count_close(1000);
        ws.count_close(4000);
        ws.count_rejection(400);
        let text = render(&[a, b], &[&ws, &ws]);
        assert!(text.contains("\nwsloop_connections_open 3\n"));
        assert!(text.contains("\nwsloop_bytes_received_total 15\n"));
        assert!(text.contains("wsloop_closes_total{code=\"1000\"} 2\n"));
        assert!(text.contains("wsloop_closes_total{code=\"other\"} 2\n"));
        assert!(text.contains("wsloop_handshake_rejections_total{status=\"400\"} 2\n"));
        assert!(text.contains("wsloop_loop_iteration_seconds_bucket{le=\"0.00001\"} 3\n"));
        assert!(text.contains("wsloop_loop_iteration_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("wsloop_loop_iteration_seconds_sum 2\n"));
        assert!(text.contains("wsloop_loop_iteration_seconds_count 4\n"));
    }
}
