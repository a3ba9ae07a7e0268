//! Benchmark: the server's resident memory per idle connection.
//!
//! Starts the `wsloop` binary as a separate process (`wsloop echo`, or
//! `wsloop tcp-echo` for the raw TCP baseline), opens N idle connections to
//! it from several client processes (this same program, re-run as
//! workers, so no process needs more than a few thousand descriptors), and
//! reads the server's `VmRSS` from `/proc/PID/status` before and after:
//! the difference divided by N is the cost of one idle connection.
//!
//! ```text
//! cargo build --release && cargo run --release --example idle_memory -- ws 10000
//! cargo run --release --example idle_memory -- tcp 10000
//! ```
//!
//! Arguments: `ws|tcp`, the number of connections (default 10,000), and
//! optionally the path of the `wsloop` binary (default
//! `target/release/wsloop`). The run is bounded: workers exit by themselves
//! after two minutes, and the server is stopped with SIGTERM at the end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Connections per worker process.
const PER_WORKER: usize = 4000;
/// How long a worker holds its connections at most.
const WORKER_LIFETIME: Duration = Duration::from_secs(120);

/// A handler with no state of its own: every slot byte printed is the library's.
struct Idle;
impl wsloop::Handler for Idle {
    fn on_message(&mut self, _: &mut wsloop::WebSocket<'_>, _: wsloop::Message<'_>) {}
}

/// Prints what a connection's slot holds inline, part by part.
fn print_layout() {
    use std::mem::size_of;
    for (part, bytes) in wsloop::reactor::slot_layout::<wsloop::WsProtocol<Idle>>() {
        println!("layout: {part:<24} {bytes:>4} bytes");
    }
    let parts = [
        (
            "transport: write queue",
            size_of::<wsloop::transport::WriteQueue>(),
        ),
        ("protocol: session", size_of::<wsloop::ws::Session>()),
    ];
    for (part, bytes) in parts {
        println!("layout: {part:<24} {bytes:>4} bytes");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        worker(&args[2], &args[3], args[4].parse().expect("count"));
        return;
    }
    let mode = args.get(1).cloned().unwrap_or_else(|| "ws".into());
    let n: usize = args.get(2).map_or(10_000, |a| a.parse().expect("count"));
    let bin = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "target/release/wsloop".into());
    raise_descriptor_limit();
    print_layout();

    let sub = if mode == "tcp" { "tcp-echo" } else { "echo" };
    let mut server = Command::new(&bin)
        .args([sub, "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn,wsloop=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start wsloop (build it with `cargo build --release`)");
    let pid = server.id();
    let addr = listening_address(&mut server);
    // Let the server finish starting (its allocator settles) before the baseline.
    std::thread::sleep(Duration::from_millis(300));
    let base_rss = rss_kib(pid);
    let base_fds = open_fds(pid);

    let started = Instant::now();
    let mut workers: Vec<Child> = Vec::new();
    let mut left = n;
    while left > 0 {
        let count = left.min(PER_WORKER);
        left -= count;
        workers.push(
            Command::new(std::env::current_exe().unwrap())
                .args(["worker", &mode, &addr.to_string(), &count.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start worker"),
        );
    }
    for w in &mut workers {
        let mut line = String::new();
        BufReader::new(w.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "a worker failed");
    }
    // The server may still be accepting the last connections.
    while open_fds(pid) < base_fds + n {
        assert!(
            started.elapsed() < WORKER_LIFETIME,
            "server did not accept all"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(pid);
    let per_conn = (rss.saturating_sub(base_rss)) as f64 * 1024.0 / n as f64;
    println!(
        "{mode}: {n} idle connections: server RSS {base_rss} KiB -> {rss} KiB, \
         {per_conn:.0} bytes per connection (set up in {setup:.1?})"
    );

    for mut w in workers {
        drop(w.stdin.take());
        let _ = w.wait();
    }
    while open_fds(pid) > base_fds {
        assert!(
            started.elapsed() < 2 * WORKER_LIFETIME,
            "connections not released"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{mode}: after all closed: server RSS {} KiB", rss_kib(pid));
    // SAFETY: kill(2) on the PID of the child we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = server.wait();
}

/// Holds `count` idle connections (WebSocket ones after a handshake, for
/// `ws`) until stdin closes or [`WORKER_LIFETIME`] passes.
fn worker(mode: &str, addr: &str, count: usize) {
    let addr: SocketAddr = addr.parse().unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    raise_descriptor_limit();
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = TcpStream::connect(addr).expect("connect");
        if mode == "ws" {
            s.write_all(request.as_bytes()).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") {
                s.read_exact(&mut byte).expect("handshake response");
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"HTTP/1.1 101"));
        }
        conns.push(s);
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    // Returns when the parent closes our stdin (or dies); bounded anyway.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(WORKER_LIFETIME);
}

fn listening_address(server: &mut Child) -> SocketAddr {
    let stderr = server.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("wsloop exited").unwrap();
        if let Some(at) = line.find("listening on ") {
            let text = line[at + 13..].trim().trim_start_matches("ws://");
            break text.parse().expect("address");
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn raise_descriptor_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}
