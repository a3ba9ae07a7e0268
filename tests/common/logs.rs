//! A log capture, so tests can assert what the server logged (filtering by
//! the peer address in each line).

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// A logger that keeps every record of the `wsloop` crate.
struct Capture {
    lines: Mutex<Vec<String>>,
    start: Instant,
}

impl log::Log for Capture {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        meta.target().starts_with("wsloop")
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let at = self.start.elapsed().as_millis();
            let line = format!("[{at} ms] {} {}", record.level(), record.args());
            self.lines.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let cap: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
            start: Instant::now(),
        }));
        log::set_logger(cap).expect("another logger is installed");
        log::set_max_level(log::LevelFilter::Debug);
        cap
    })
}

/// Starts capturing the crate's log records (idempotent).
pub fn capture_logs() {
    capture();
}

/// Captured log lines that contain every one of `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .cloned()
        .collect()
}
