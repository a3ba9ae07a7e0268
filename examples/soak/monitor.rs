//! Watching the server process from outside: resident memory from
//! `/proc/PID/status` and open descriptors from `/proc/PID/fd`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the sampler looks.
const PERIOD: Duration = Duration::from_millis(100);

/// The server's `VmRSS` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server gone");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// How many descriptors the server has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("server gone")
        .count()
}

/// Peaks seen by the sampler thread.
#[derive(Default)]
pub struct Peaks {
    /// Highest `VmRSS`, KiB.
    pub rss_kib: AtomicU64,
    /// Most descriptors open at once.
    pub fds: AtomicU64,
}

/// Samples the server until `stop` is set, recording the peaks.
pub fn sample(pid: u32, stop: Arc<AtomicBool>, peaks: Arc<Peaks>) -> JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peaks.rss_kib.fetch_max(rss_kib(pid), Ordering::Relaxed);
            peaks.fds.fetch_max(open_fds(pid) as u64, Ordering::Relaxed);
            thread::sleep(PERIOD);
        }
    })
}
