//! `wsloop bench` and `wsloop client` as users run them: the binaries are
//! spawned against `wsloop echo` / `wsloop tcp-echo` processes, and against
//! servers that corrupt echoes on purpose.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use common::process::Process;
use serde_json::Value;
use wsloop::{Config, Handler, Message, Server, WebSocket};

const BIN: &str = env!("CARGO_BIN_EXE_wsloop");

/// A server process, killed (by its own PID) when dropped.
struct ServerProcess {
    _process: Process,
    addr: SocketAddr,
}

/// Starts `wsloop <args> --addr 127.0.0.1:0` and learns its port from the
/// log line that announces it.
fn start_server(args: &[&str], announces: &'static str) -> ServerProcess {
    let args = [args, &["--addr", "127.0.0.1:0"]].concat();
    let (mut process, addr) = Process::wsloop(&args);
    assert_eq!(
        process.addr_after(announces),
        addr,
        "announced as {announces:?}"
    );
    ServerProcess {
        _process: process,
        addr,
    }
}

fn ws_echo() -> ServerProcess {
    start_server(&["echo"], "listening on ")
}

fn bench(args: &[&str]) -> (Output, Value) {
    let output = Command::new(BIN)
        .arg("bench")
        .args(args)
        .args(["--json", "--grace", "20s"])
        .stdin(Stdio::null())
        .output()
        .expect("run wsloop bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "bench printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, json)
}

fn assert_clean(output: &Output, json: &Value) {
    assert!(
        output.status.success(),
        "bench failed: {}\n{json}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["messages"].as_u64().unwrap() > 0, "{json}");
    assert!(json["messages_per_sec"].as_f64().unwrap() > 0.0, "{json}");
    assert!(json["latency_us"]["p50"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn bench_against_wsloop_echo_has_no_errors() {
    let server = ws_echo();
    let url = format!("ws://{}/", server.addr);
    let (out, json) = bench(&[&url, "-c", "20", "-s", "1k", "-d", "2s", "-t", "2"]);
    assert_clean(&out, &json);
    assert_eq!(json["connections"], 20, "{json}");
    assert_eq!(json["handshakes"], 20, "{json}");

    // Text, pipelined, and an exact message count.
    let (out, json) = bench(&[
        &url, "-c", "4", "-s", "100", "-p", "8", "-n", "20000", "--text",
    ]);
    assert_clean(&out, &json);
    assert_eq!(json["messages"], 20000, "{json}");
    assert_eq!(json["bytes"], 20000 * 100, "{json}");
}

#[test]
fn bench_connect_rate_counts_handshakes() {
    let server = ws_echo();
    let url = format!("ws://{}/", server.addr);
    let (out, json) = bench(&[&url, "--connect-rate", "-c", "10", "-n", "300"]);
    assert_clean(&out, &json);
    assert_eq!(json["handshakes"], 300, "{json}");
    assert_eq!(json["messages"], 300, "{json}");
    assert!(json["handshakes_per_sec"].as_f64().unwrap() > 0.0, "{json}");
}

#[test]
fn bench_raw_against_wsloop_tcp_echo() {
    let server = start_server(&["tcp-echo"], "tcp-echo listening on ");
    let addr = server.addr.to_string();
    let (out, json) = bench(&[&addr, "--raw", "-c", "10", "-s", "64k", "-d", "1s"]);
    assert_clean(&out, &json);
    let (out, json) = bench(&[&addr, "--raw", "-c", "5", "-p", "3", "-n", "3000"]);
    assert_clean(&out, &json);
    assert_eq!(json["messages"], 3000, "{json}");
}

/// Echoes, but changes one byte of every 50th message.
struct Corrupt(u64);

impl Handler for Corrupt {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.0 += 1;
        let mut data = msg.as_bytes().to_vec();
        if self.0.is_multiple_of(50) {
            let mid = data.len() / 2;
            data[mid] ^= 0x01;
        }
        let _ = ws.send_binary(&data);
    }
}

#[test]
fn bench_reports_a_corrupted_websocket_echo() {
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || {
        Corrupt(0)
    })
    .unwrap();
    let url = format!("ws://{}/", server.handle.local_addr());
    let (out, json) = bench(&[&url, "-c", "2", "-s", "64", "-n", "1000"]);
    assert!(
        !out.status.success(),
        "bench must fail on a bad echo: {json}"
    );
    assert!(json["errors"].as_u64().unwrap() >= 1, "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("differs"), "{stderr}");
    server.stop().unwrap();
}

/// Answers every message after the first with the message before it:
/// each echo is whole and well formed, only one message late.
#[derive(Default)]
struct OneBehind(Option<Vec<u8>>);

impl Handler for OneBehind {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let current = msg.as_bytes().to_vec();
        let reply = self.0.replace(current.clone()).unwrap_or(current);
        let _ = ws.send_binary(&reply);
    }
}

#[test]
fn bench_reports_an_echo_of_the_wrong_message() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        OneBehind::default,
    )
    .unwrap();
    let url = format!("ws://{}/", server.handle.local_addr());
    let (out, json) = bench(&[&url, "-c", "1", "-s", "64", "-n", "100"]);
    assert!(
        !out.status.success(),
        "bench must fail on a late echo: {json}"
    );
    // The first echo is right; the second is the first message again.
    assert_eq!(json["messages"], 1, "{json}");
    assert!(json["errors"].as_u64().unwrap() >= 1, "{json}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("differs"), "{stderr}");
    server.stop().unwrap();
}

#[test]
fn bench_reports_a_corrupted_raw_echo() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echoed = std::sync::Arc::new(AtomicU64::new(0));
    let count = echoed.clone();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Flip one bit once some traffic went through unharmed.
            if count.fetch_add(n as u64, Ordering::Relaxed) > 5000 {
                buf[0] ^= 0x80;
            }
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    let (out, json) = bench(&[
        &addr.to_string(),
        "--raw",
        "-c",
        "1",
        "-s",
        "100",
        "-n",
        "1000",
    ]);
    assert!(
        !out.status.success(),
        "bench must fail on a bad echo: {json}"
    );
    assert!(json["errors"].as_u64().unwrap() >= 1, "{json}");
    assert!(echoed.load(Ordering::Relaxed) > 5000);
}

#[test]
fn bench_fails_cleanly_when_nobody_listens() {
    let (_bound, addr) = common::refusing_addr();
    let url = format!("ws://{addr}/");
    let (out, json) = bench(&[&url, "-c", "3", "-n", "10"]);
    assert!(!out.status.success());
    assert_eq!(json["errors"], 3, "{json}");
}

fn run_client(url: &str, input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["client", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsloop client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    // Dropping stdin above is the end of input the client waits for.
    child.wait_with_output().unwrap()
}

#[test]
fn client_cli_works_in_a_pipe() {
    let server = ws_echo();
    let url = format!("ws://{}/", server.addr);
    let out = run_client(&url, "hi\nthere\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nthere\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("closed (1000)"));

    // `exit` closes at once: nothing after it is sent.
    let out = run_client(&url, "one\nexit\nnever\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n");
}

#[test]
fn client_cli_reports_a_refused_connection() {
    let (_bound, addr) = common::refusing_addr();
    let out = run_client(&format!("ws://{addr}/"), "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}
