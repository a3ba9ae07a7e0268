//! Pieces shared by the subcommands: logging, value parsers, signals.

pub mod bench;
pub mod chat;
pub mod client;
pub mod deflate;
pub mod echo;
pub mod tcp_echo;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

/// `--trace`: every server command takes it.
#[derive(clap::Args)]
pub struct TraceArgs {
    /// Print one line per step of the event loop to stderr: for every
    /// connection (`--trace`) or for one slab slot (`--trace 3`). With
    /// several workers every worker traces (that slot in each), and each
    /// line starts with its worker (`trace w1:`).
    #[arg(long, value_name = "SLOT", num_args = 0..=1, default_missing_value = "all", value_parser = parse_trace)]
    pub trace: Option<wsloop::TraceFilter>,
}

impl TraceArgs {
    /// What the loop should trace.
    pub fn filter(&self) -> wsloop::TraceFilter {
        self.trace.unwrap_or_default()
    }
}

/// Parses `--trace`'s value: `all` or a slot number.
pub fn parse_trace(text: &str) -> Result<wsloop::TraceFilter, String> {
    match text {
        "all" => Ok(wsloop::TraceFilter::All),
        slot => slot
            .parse()
            .map(wsloop::TraceFilter::Slot)
            .map_err(|_| format!("not a slot number: {slot:?} (or leave it out for all)")),
    }
}

/// The metrics options every server command takes.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Do not answer GET /metrics (Prometheus text format).
    #[arg(long)]
    pub no_metrics: bool,
    /// Serve GET /metrics on this address instead of the server's own port.
    #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
    pub metrics_addr: Option<SocketAddr>,
}

impl MetricsArgs {
    /// Whether the server's own port answers GET /metrics.
    pub fn on_server_port(&self) -> bool {
        !self.no_metrics && self.metrics_addr.is_none()
    }

    /// Starts the separate metrics listener, if one was asked for.
    pub fn serve_apart(
        &self,
        registry: std::sync::Arc<wsloop::metrics::Registry>,
    ) -> std::io::Result<()> {
        if let Some(addr) = self.metrics_addr {
            let bound = wsloop::metrics::serve(addr, registry)?;
            log::info!("metrics served at http://{bound}/");
        }
        Ok(())
    }
}

/// Sets up `env_logger`: `RUST_LOG` wins; otherwise `default` raised by `-v`s.
pub fn init_logging(verbose: u8, default: &str) {
    let level = match verbose {
        0 => default,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
}

/// How many event loops (threads) serve one port, and how they share it.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct WorkerArgs {
    /// Event loops (threads) accepting on the port: a number, or 0 / auto for one per core.
    #[arg(long, default_value = "1", value_parser = parse_workers)]
    pub workers: usize,
    /// How workers share the port: reuseport (a socket each, the kernel
    /// hashes connections over them) or shared (one socket, every worker
    /// woken, the first to accept wins).
    #[arg(long, default_value = "reuseport")]
    pub accept: wsloop::AcceptMode,
}

impl WorkerArgs {
    /// Says how the port is served, when more than one loop serves it.
    pub fn log(&self, workers: usize) {
        if workers > 1 {
            let mode = match self.accept {
                wsloop::AcceptMode::ReusePort => "one SO_REUSEPORT socket each",
                wsloop::AcceptMode::Shared => "one shared socket",
            };
            log::info!("{workers} workers, {mode}");
        }
    }
}

/// Parses `--workers`: a count, with `0` or `auto` meaning one per core.
pub fn parse_workers(text: &str) -> Result<usize, String> {
    let n = match text.trim() {
        "auto" => 0,
        t => t
            .parse()
            .map_err(|_| format!("not a worker count: {text:?} (a number, or auto)"))?,
    };
    Ok(wsloop::server::worker_count(n))
}

/// A timeout option: a duration, or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(pub Option<Duration>);

/// Parses a duration such as `10s`, `500ms` or `2m`; `0` means "off".
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    if text.trim() == "0" {
        return Ok(Timeout(None));
    }
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (use e.g. 10s, 500ms, or 0 for off)"))?;
    Ok(Timeout(if d.is_zero() { None } else { Some(d) }))
}

/// Parses a run length as load generators take it: a bare number is
/// seconds (`-d 5`, as in wrk and tcpkali); otherwise like [`parse_timeout`].
pub fn parse_run_length(text: &str) -> Result<Timeout, String> {
    match text.trim().parse::<u64>() {
        Ok(secs) => Ok(Timeout((secs > 0).then(|| Duration::from_secs(secs)))),
        Err(_) => parse_timeout(text),
    }
}

/// Parses a byte size: a number with an optional `k`, `m` or `g` suffix
/// (binary multiples, case-insensitive, optional trailing `b` / `ib`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {text:?} (e.g. 512, 64k, 16m)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size too large: {text}"))
}

/// Calls `stop` on the first SIGINT or SIGTERM, and exits the process at
/// once on the second.
pub fn on_shutdown_signal(stop: impl Fn() + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen == 1 {
                    log::info!("signal {signal}: shutting down gracefully (again to exit at once)");
                    stop();
                } else {
                    log::warn!("second signal: exiting now");
                    std::process::exit(130);
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_timeouts_parse() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_timeout("0").unwrap(), Timeout(None));
        assert_eq!(
            parse_timeout("500ms").unwrap(),
            Timeout(Some(Duration::from_millis(500)))
        );
        assert_eq!(
            parse_timeout("10s").unwrap(),
            Timeout(Some(Duration::from_secs(10)))
        );
        assert!(parse_timeout("soon").is_err());
        assert_eq!(
            parse_run_length("5").unwrap(),
            Timeout(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_run_length("250ms").unwrap(),
            Timeout(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_run_length("0").unwrap(), Timeout(None));
    }
}
