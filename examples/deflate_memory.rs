//! Benchmark: the server's resident memory per permessage-deflate
//! connection, idle (negotiated, nothing sent yet) and busy (after one
//! compressed message each way), against the same connections without
//! the extension.
//!
//! Starts `wsloop echo` as a separate process (keepalive every second, so
//! idle connections without context takeover release their compressors)
//! with any extra flags given, opens N connections from this process with
//! the blocking client (offering the defaults: context takeover both
//! ways), and reads the server's `VmRSS` from `/proc/PID/status` at each
//! step.
//!
//! ```text
//! cargo build --release && cargo run --release --example deflate_memory -- 500
//! cargo run --release --example deflate_memory -- 500 --deflate-no-context-takeover
//! ```
//!
//! Arguments: the number of connections (default 500), then flags passed
//! to `wsloop echo`. The run is bounded: every connection is closed at the
//! end and the server is stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use wsloop::client::{self, Client, ConnectOptions};
use wsloop::ws::deflate::DeflateConfig;
use wsloop::Message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(500, |a| a.parse().expect("count"));
    let extra = args.get(1..).unwrap_or_default();
    for offer in [false, true] {
        measure(n, offer, extra);
    }
}

fn measure(n: usize, offer: bool, extra: &[String]) {
    let mut server = Command::new("target/release/wsloop")
        .args(["echo", "--addr", "127.0.0.1:0", "--ping-interval", "1s"])
        .args(extra)
        .env("RUST_LOG", "warn,wsloop=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start wsloop (build it with `cargo build --release`)");
    let pid = server.id();
    let url = listening_url(&mut server);
    std::thread::sleep(Duration::from_millis(300));
    let base = rss_kib(pid);

    let options = ConnectOptions {
        deflate: DeflateConfig {
            enabled: offer,
            ..DeflateConfig::default()
        },
        ..ConnectOptions::default()
    };
    let mut clients: Vec<Client> = (0..n)
        .map(|_| client::connect_with(&url, &options).expect("connect"))
        .collect();
    let idle = settled_rss(pid);
    // Chat-like text, well above the compression threshold.
    let text = "{\"type\":\"message\",\"room\":\"general\",\"user\":\"alice\",\"text\":\"hi\"}\n"
        .repeat(16);
    for ws in &mut clients {
        ws.send(Message::Text(&text)).unwrap();
        assert_eq!(ws.recv().unwrap().as_text(), Some(text.as_str()));
    }
    let busy = settled_rss(pid);
    // Two keepalive intervals of quiet: compressors without context go.
    std::thread::sleep(Duration::from_millis(2500));
    let quiet = rss_kib(pid);
    let per = |rss: u64| rss.saturating_sub(base) as f64 / n as f64;
    let label = if offer { "deflate" } else { "plain  " };
    println!(
        "{label}: {n} connections, KiB each: idle {:.1}, after one {}-byte message each way \
         {:.1}, quiet 2.5 s later {:.1} (server RSS {base} -> {idle} -> {busy} -> {quiet} KiB)",
        per(idle),
        text.len(),
        per(busy),
        per(quiet),
    );
    for mut ws in clients {
        let _ = ws.close(1000, "");
    }
    // SAFETY: kill(2) on the PID of the child we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = server.wait();
}

/// The server's RSS once the last writes have been taken in.
fn settled_rss(pid: u32) -> u64 {
    std::thread::sleep(Duration::from_millis(300));
    rss_kib(pid)
}

fn listening_url(server: &mut std::process::Child) -> String {
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.expect("server log");
        if let Some(at) = line.find("ws://") {
            let url = line[at..].split_whitespace().next().unwrap().to_string();
            // Keep draining the log so the server never blocks on it.
            std::thread::spawn(move || lines.for_each(drop));
            return url;
        }
    }
    panic!("the server exited before listening");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}
