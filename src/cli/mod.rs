//! Pieces shared by the subcommands: logging, value parsers, signals.

pub mod bench;
pub mod chat;
pub mod client;
pub mod deflate;
pub mod echo;
pub mod tcp_echo;

use std::time::Duration;

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
    }
}
