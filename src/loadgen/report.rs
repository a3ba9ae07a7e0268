//! What a load run reports: running totals and the final summary.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Running totals, handed to the progress callback about once a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Echoes received and verified.
    pub messages: u64,
    /// Payload bytes of those echoes.
    pub bytes: u64,
    /// Errors so far.
    pub errors: u64,
    /// WebSocket handshakes completed.
    pub handshakes: u64,
    /// Connections open now.
    pub open: u64,
}

/// The outcome of a load run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Echoes received and verified byte for byte.
    pub messages: u64,
    /// Payload bytes of those echoes (one direction).
    pub bytes: u64,
    /// Mismatched echoes, failed or refused connections, early closes,
    /// echoes still missing at the end.
    pub errors: u64,
    /// WebSocket handshakes completed.
    pub handshakes: u64,
    /// TCP connections established.
    pub connections: u64,
    /// Bytes received on WebSocket connections, frame headers included:
    /// against `bytes`, what compression saved.
    pub wire_bytes: u64,
    /// Round-trip times in nanoseconds (connect-rate mode: from connect to
    /// the echo of the one message).
    pub histogram: Histogram<u64>,
}

impl Report {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Verified echoes per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.per_sec(self.messages)
    }

    /// Echoed payload in MB (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.per_sec(self.bytes) / 1e6
    }

    /// Completed handshakes per second.
    pub fn handshakes_per_sec(&self) -> f64 {
        self.per_sec(self.handshakes)
    }

    /// Wire bytes received per payload byte echoed: about 1 without
    /// compression, below 1 with permessage-deflate on compressible data.
    pub fn wire_ratio(&self) -> f64 {
        self.wire_bytes as f64 / (self.bytes as f64).max(1.0)
    }

    /// The latency at quantile `q` (0.5 for the median).
    pub fn latency(&self, q: f64) -> Duration {
        Duration::from_nanos(self.histogram.value_at_quantile(q))
    }

    /// The report as JSON (latencies in microseconds).
    pub fn to_json(&self) -> Value {
        let us = |q: f64| self.latency(q).as_secs_f64() * 1e6;
        json!({
            "elapsed_s": self.elapsed.as_secs_f64(),
            "messages": self.messages,
            "bytes": self.bytes,
            "errors": self.errors,
            "handshakes": self.handshakes,
            "connections": self.connections,
            "messages_per_sec": self.messages_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "handshakes_per_sec": self.handshakes_per_sec(),
            "wire_bytes": self.wire_bytes,
            "wire_ratio": self.wire_ratio(),
            "latency_us": {
                "p50": us(0.5),
                "p90": us(0.9),
                "p99": us(0.99),
                "p999": us(0.999),
                "max": self.histogram.max() as f64 / 1e3,
            },
        })
    }
}
