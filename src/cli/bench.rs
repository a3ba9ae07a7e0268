//! `wsloop bench URL`: the load generator (see `wsloop::loadgen`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use wsloop::client::WsUrl;
use wsloop::loadgen::{self, LoadConfig, Progress, Report};
use wsloop::ws::deflate::DeflateConfig;

use super::{parse_size, parse_timeout, Timeout};

/// Options of `wsloop bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Server: ws://HOST:PORT/PATH or wss://.. (with --raw also HOST:PORT; --raw wss://.. is raw bytes over TLS).
    pub url: String,
    /// Concurrent connections.
    #[arg(short, long, default_value_t = 100)]
    pub connections: usize,
    /// Message size in bytes (k/m suffixes).
    #[arg(short, long, default_value = "20", value_parser = parse_size)]
    pub size: usize,
    /// Messages in flight per connection.
    #[arg(short, long, default_value_t = 1)]
    pub pipeline: usize,
    /// Stop sending after this long: seconds, or e.g. 500ms, 2m [default: 10s unless -n is given].
    #[arg(short, long, value_parser = super::parse_run_length)]
    pub duration: Option<Timeout>,
    /// Stop after this many messages in total (connections with --connect-rate).
    #[arg(short = 'n', long)]
    pub messages: Option<u64>,
    /// Send text messages.
    #[arg(long, conflicts_with = "binary")]
    pub text: bool,
    /// Send binary messages (the default).
    #[arg(long)]
    pub binary: bool,
    /// Event loops (threads) to spread the connections over.
    #[arg(short, long, default_value_t = 1)]
    pub threads: usize,
    /// Open, send one message, close, repeat; reports handshakes per second.
    #[arg(long)]
    pub connect_rate: bool,
    /// The same workload without WebSocket framing, against `wsloop tcp-echo`.
    #[arg(long)]
    pub raw: bool,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for outstanding echoes once sending stops.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub grace: Timeout,
    #[command(flatten)]
    pub tls: super::tls::ClientTls,
    /// Offer permessage-deflate (default settings); the report shows the
    /// wire bytes per payload byte.
    #[arg(long, conflicts_with = "raw")]
    pub deflate: bool,
    /// Send chat-like JSON text (which compresses as chat traffic does)
    /// instead of random bytes or letters.
    #[arg(long, conflicts_with = "binary")]
    pub chat_payload: bool,
}

/// Runs the benchmark; fails (non-zero exit) if any error occurred.
pub fn run(args: Args) -> io::Result<()> {
    let config = load_config(&args)?;
    let mode = match (args.raw, args.connect_rate, config.tls.is_some()) {
        (true, true, false) => "raw TCP connect-rate",
        (true, true, true) => "raw TLS connect-rate",
        (false, true, _) => "WebSocket connect-rate",
        (true, false, false) => "raw TCP echo",
        (true, false, true) => "raw TLS echo",
        (false, false, _) => "WebSocket echo",
    };
    eprintln!(
        "{mode} against {}: {} connection(s) on {} thread(s), {} B {}, pipeline {}",
        args.url,
        config.connections,
        config.threads,
        config.size,
        if config.text { "text" } else { "binary" },
        config.pipeline
    );
    let mut last = Progress::default();
    let report = loadgen::run(&config, |p| {
        let secs = (p.elapsed - last.elapsed).as_secs_f64().max(1e-9);
        let rate = |now: u64, before: u64| (now - before) as f64 / secs;
        if config.connect_rate {
            eprintln!(
                "[{:>4.0}s] {:>9.0} handshakes/s  open {:>6}  errors {}",
                p.elapsed.as_secs_f64(),
                rate(p.handshakes, last.handshakes).max(rate(p.messages, last.messages)),
                p.open,
                p.errors
            );
        } else {
            eprintln!(
                "[{:>4.0}s] {:>10.0} msg/s  {:>9.2} MB/s  open {:>6}  errors {}",
                p.elapsed.as_secs_f64(),
                rate(p.messages, last.messages),
                rate(p.bytes, last.bytes) / 1e6,
                p.open,
                p.errors
            );
        }
        last = *p;
    })?;
    if args.json {
        let mut json = report.to_json();
        json["mode"] = mode.into();
        json["config"] = serde_json::json!({
            "connections": config.connections,
            "size": config.size,
            "pipeline": config.pipeline,
            "threads": config.threads,
            "text": config.text,
            "raw": config.raw,
            "connect_rate": config.connect_rate,
            "tls": config.tls.is_some(),
            "deflate": config.deflate.is_some(),
            "chat_payload": config.chat_payload,
        });
        println!("{json}");
    } else {
        print_report(&report, config.connect_rate);
    }
    if report.errors > 0 {
        return Err(io::Error::other(format!(
            "{} error(s) during the run",
            report.errors
        )));
    }
    Ok(())
}

fn load_config(args: &Args) -> io::Result<LoadConfig> {
    let mut tls = None;
    let (addr, host, path) = if args.url.contains("://") {
        let url = WsUrl::parse(&args.url).map_err(io::Error::other)?;
        let addr = url.socket_addrs().map_err(io::Error::other)?[0];
        if url.secure {
            tls = Some(args.tls.connector(&url.host)?);
        }
        (addr, url.authority, url.path)
    } else if args.raw {
        let addr: SocketAddr = args
            .url
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other("address resolves to nothing"))?;
        (addr, args.url.clone(), "/".into())
    } else {
        return Err(io::Error::other("expected ws://HOST:PORT/PATH"));
    };
    let duration = match (args.duration, args.messages) {
        (Some(Timeout(d)), _) => d,
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    Ok(LoadConfig {
        addr,
        host,
        path,
        raw: args.raw,
        text: args.text,
        size: args.size,
        pipeline: args.pipeline,
        connections: args.connections,
        threads: args.threads,
        duration,
        messages: args.messages,
        connect_rate: args.connect_rate,
        grace: args.grace.0.unwrap_or(Duration::ZERO),
        tls,
        deflate: args.deflate.then(DeflateConfig::default),
        chat_payload: args.chat_payload,
    })
}

fn print_report(r: &Report, connect_rate: bool) {
    let ms = |q: f64| r.latency(q).as_secs_f64() * 1e3;
    println!("duration     {:.2} s", r.elapsed.as_secs_f64());
    println!("connections  {}", r.connections);
    println!("messages     {} ({} bytes)", r.messages, r.bytes);
    if connect_rate {
        println!(
            "handshakes   {} ({:.0}/s)",
            r.handshakes,
            r.handshakes_per_sec()
        );
    }
    println!(
        "throughput   {:.0} msg/s, {:.2} MB/s",
        r.messages_per_sec(),
        r.mb_per_sec()
    );
    println!(
        "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        r.histogram.max() as f64 / 1e6
    );
    if r.wire_bytes > 0 {
        println!(
            "wire         {} bytes received ({:.3} per payload byte)",
            r.wire_bytes,
            r.wire_ratio()
        );
    }
    println!("errors       {}", r.errors);
}
