//! Soak test: a `wsloop echo` server (its own process) under hostile load
//! for a fixed time, with legitimate echo clients measuring latency.
//!
//! ```text
//! target/release/examples/soak --addr 127.0.0.1:9001 --server-pid PID \
//!     --duration 60s --max-message 1m --high-water 64k
//! ```
//!
//! `scripts/soak.sh DURATION` starts the server with matching limits and
//! runs this. While the attackers in `attacks.rs` run, a sampler reads the
//! server's resident memory and descriptor count from `/proc`. At the end
//! the program fails (exit status 1) unless:
//!
//! - every echo client got every echo back intact, with no error at all;
//! - the server's peak RSS stayed under the bound [`memory_bound_kib`]
//!   computes from the connections held and the limits in force;
//! - once every client is gone, the server's descriptor count returns to
//!   what it was before the first connection;
//! - every attack actually ran.
//!
//! The limits must be the ones the server was started with (`--max-message`
//! and `--high-water` mirror `wsloop echo`'s options), or the bound means
//! nothing.

mod attacks;
mod echo;
mod monitor;
mod raw;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

use attacks::{Tally, Target};

/// How long the server may take to close every connection once its
/// clients are gone (it lingers up to 2 s on each close).
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Resident memory allowed per connection for its bookkeeping alone (slab
/// entry, session, timers): about 1 KiB measured (docs/PERFORMANCE.md),
/// taken four times over.
const PER_CONNECTION: u64 = 4 * 1024;

/// Fixed allowance on top: the loop's 64 KiB read buffer, the slab's
/// spare capacity, logging, and the allocator's slack.
const CONSTANT: u64 = 32 << 20;

/// The largest request head the server buffers (its default).
const MAX_HEAD: u64 = 8 * 1024;

#[derive(Parser)]
struct Args {
    /// The server to attack.
    #[arg(long)]
    addr: SocketAddr,
    /// The server's process id, to read its memory and descriptors.
    #[arg(long)]
    server_pid: u32,
    /// How long the load runs.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The server's `--max-message-size` (bytes).
    #[arg(long, default_value_t = 1 << 20)]
    max_message: usize,
    /// The server's `--high-water` (bytes).
    #[arg(long, default_value_t = 64 * 1024)]
    high_water: usize,
    /// Legitimate echo clients.
    #[arg(long, default_value_t = 4)]
    echo_clients: usize,
    /// Largest message an echo client sends.
    #[arg(long, default_value_t = 64 * 1024)]
    echo_max: usize,
    /// Idle connections held open for the whole run.
    #[arg(long, default_value_t = 4000)]
    idle: usize,
    /// Connections that send without ever reading (half of them pings).
    #[arg(long, default_value_t = 8)]
    never_readers: usize,
    /// Slowloris sockets of each kind (before and after the upgrade).
    #[arg(long, default_value_t = 100)]
    slowloris: usize,
    /// Threads flooding the server with handshakes.
    #[arg(long, default_value_t = 2)]
    flooders: usize,
}

/// How many connections of each kind can be open at once.
struct Population {
    idle: usize,
    echo: usize,
    never_readers: usize,
    slowloris: usize,
    /// One connection at a time per thread: garbage, resets, oversized
    /// and the handshake flooders.
    serial: usize,
}

impl Population {
    fn total(&self) -> usize {
        self.idle + self.echo + self.never_readers + 2 * self.slowloris + self.serial
    }
}

/// The RSS the server may reach, in KiB, above its baseline: bookkeeping
/// for every connection, plus what each kind can make the server buffer:
///
/// - an echo client or a never-reader: its write queue up to the high
///   watermark, the message that crossed it, and one message being
///   reassembled while reading is paused;
/// - a slowloris before the upgrade: at most one request head; after it,
///   the 1 KiB frame it trickles;
/// - a serial attacker: at most one message (the oversized attack
///   buffers just under the limit before its last fragment is refused).
fn memory_bound_kib(args: &Args, pop: &Population) -> u64 {
    let high = args.high_water as u64;
    let max = args.max_message as u64;
    let echo_max = args.echo_max as u64;
    let bytes = pop.total() as u64 * PER_CONNECTION
        + pop.echo as u64 * (high + 2 * echo_max)
        + pop.never_readers as u64 * (high + 2 * max)
        + pop.slowloris as u64 * (MAX_HEAD + 1024)
        + pop.serial as u64 * max
        + CONSTANT;
    bytes / 1024
}

fn main() {
    let args = Args::parse();
    raise_descriptor_limit();
    let pid = args.server_pid;
    let base_rss = monitor::rss_kib(pid);
    let base_fds = monitor::open_fds(pid);
    let target = Target {
        addr: args.addr,
        max_message: args.max_message,
    };
    let pop = Population {
        idle: args.idle,
        echo: args.echo_clients,
        never_readers: args.never_readers,
        slowloris: args.slowloris,
        serial: 3 + args.flooders,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let peaks = Arc::new(monitor::Peaks::default());
    let sampler = monitor::sample(pid, stop.clone(), peaks.clone());
    let started = Instant::now();

    let mut attackers: Vec<(String, thread::JoinHandle<Tally>)> = Vec::new();
    let mut spawn = |name: &str, f: Box<dyn FnOnce(&AtomicBool) -> Tally + Send>| {
        let stop = stop.clone();
        attackers.push((name.to_string(), thread::spawn(move || f(&stop))));
    };
    let (idle, slow) = (args.idle, args.slowloris);
    spawn("idle", Box::new(move |s| attacks::idle(target, idle, s)));
    spawn(
        "slowloris head",
        Box::new(move |s| attacks::slowloris_head(target, slow, s)),
    );
    spawn(
        "slowloris frame",
        Box::new(move |s| attacks::slowloris_frame(target, slow, s)),
    );
    spawn("garbage", Box::new(move |s| attacks::garbage(target, s)));
    spawn("resets", Box::new(move |s| attacks::resets(target, s)));
    spawn(
        "oversized",
        Box::new(move |s| attacks::oversized(target, s)),
    );
    for i in 0..args.never_readers {
        let pings = i % 2 == 1;
        spawn(
            "never reads",
            Box::new(move |s| attacks::never_read(target, pings, s)),
        );
    }
    for _ in 0..args.flooders {
        spawn(
            "handshake flood",
            Box::new(move |s| attacks::handshake_flood(target, s)),
        );
    }
    let echoes: Vec<_> = (0..args.echo_clients)
        .map(|_| {
            let (stop, max) = (stop.clone(), args.echo_max);
            thread::spawn(move || echo::run(args.addr, max, &stop))
        })
        .collect();

    thread::sleep(args.duration);
    stop.store(true, Ordering::Relaxed);
    let echo_reports: Vec<_> = echoes.into_iter().map(|h| h.join().unwrap()).collect();
    let mut tallies: Vec<(String, Tally)> = Vec::new();
    for (name, handle) in attackers {
        let tally = handle.join().unwrap();
        match tallies.iter_mut().find(|(n, _)| *n == name) {
            Some((_, sum)) => {
                for (k, v) in tally.outcomes {
                    *sum.outcomes.entry(k).or_default() += v;
                }
            }
            None => tallies.push((name, tally)),
        }
    }
    let ran_for = started.elapsed();
    let drained = wait_for_fds(pid, base_fds);
    sampler.join().unwrap();

    let mut failures = Vec::new();
    println!("soak: {:.0?} of load against {}", ran_for, args.addr);
    println!("attacks (outcome: count):");
    for (name, tally) in &tallies {
        println!("  {name}: {} attempts", tally.attempts());
        for (outcome, n) in &tally.outcomes {
            println!("    {outcome}: {n}");
        }
        if tally.attempts() == 0 {
            failures.push(format!("attack {name:?} never ran"));
        }
    }

    let (mut messages, mut errors) = (0, 0);
    let mut latency = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for r in &echo_reports {
        messages += r.messages;
        errors += r.errors;
        latency.add(&r.latency_us).unwrap();
        if let Some(e) = &r.first_error {
            failures.push(format!("echo client error: {e}"));
        }
    }
    println!(
        "echo clients: {} messages echoed intact, {errors} errors; round trip p50 {} us, p99 {} us, max {} us",
        messages,
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    if messages == 0 {
        failures.push("no echo completed".into());
    }

    let peak_rss = peaks.rss_kib.load(Ordering::Relaxed);
    let bound = base_rss + memory_bound_kib(&args, &pop);
    println!(
        "server RSS: baseline {base_rss} KiB, peak {peak_rss} KiB, bound {bound} KiB \
         ({} connections at most: {} idle, {} slowloris, {} never-readers, {} echo, {} serial)",
        pop.total(),
        pop.idle,
        2 * pop.slowloris,
        pop.never_readers,
        pop.echo,
        pop.serial
    );
    if peak_rss > bound {
        failures.push(format!(
            "peak RSS {peak_rss} KiB over the bound {bound} KiB"
        ));
    }
    let peak_fds = peaks.fds.load(Ordering::Relaxed);
    println!(
        "server descriptors: baseline {base_fds}, peak {peak_fds}, after the run {}",
        drained.map_or_else(|n| format!("{n} (did not drain)"), |n| n.to_string())
    );
    if let Err(n) = drained {
        failures.push(format!(
            "descriptors did not return to {base_fds}: {n} open"
        ));
    }

    if failures.is_empty() {
        println!("soak: PASS");
    } else {
        for f in &failures {
            println!("soak: FAIL: {f}");
        }
        std::process::exit(1);
    }
}

/// Waits (at most [`DRAIN_DEADLINE`]) for the server's descriptor count to
/// come back to `base`; returns the count it ended at.
fn wait_for_fds(pid: u32, base: usize) -> Result<usize, usize> {
    let deadline = Instant::now() + DRAIN_DEADLINE;
    loop {
        let n = monitor::open_fds(pid);
        if n <= base {
            return Ok(n);
        }
        if Instant::now() > deadline {
            return Err(n);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Thousands of idle connections need more descriptors than the usual
/// soft limit of 1024; the hard limit is raised only by root, so take it.
fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
