//! `GET /metrics` of `wsloop echo`, read by an independent parser of the
//! Prometheus text format (the `prometheus_client` Python package, run on
//! tests/prometheus_parse.py) while clients echo messages, and again once
//! they are gone, when every counter must be exact.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::process::Process;
use common::{raw, wait_until};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message as TMessage;

const CLIENTS: usize = 4;
const MESSAGES: usize = 300;
const SIZE: usize = 100;

/// One parsed scrape: family types, and samples by `name{label="v",..}`.
struct Scrape {
    types: HashMap<String, String>,
    samples: HashMap<String, f64>,
}

impl Scrape {
    fn get(&self, key: &str) -> f64 {
        *self
            .samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key}; have {:?}", self.samples.keys()))
    }
}

/// Fetches `/metrics` over plain HTTP and parses the body with prometheus_client.
fn scrape(addr: SocketAddr) -> Scrape {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("text/plain; version=0.0.4"),
        "content type: {head}"
    );
    parse(body)
}

fn parse(text: &str) -> Scrape {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/prometheus_parse.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the text (pip install prometheus-client): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = parsed["types"].as_object().unwrap();
    let types = types
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let mut samples = HashMap::new();
    for s in parsed["samples"].as_array().unwrap() {
        let labels = s[1].as_object().unwrap();
        let mut labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
            .collect();
        labels.sort();
        let name = s[0].as_str().unwrap();
        let key = match labels.is_empty() {
            true => name.to_string(),
            false => format!("{name}{{{}}}", labels.join(",")),
        };
        samples.insert(key, s[2].as_f64().unwrap());
    }
    Scrape { types, samples }
}

/// Echoes `MESSAGES` binary messages one at a time, then closes with 1000.
fn client(addr: SocketAddr, running: Arc<AtomicBool>) {
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
    let payload = common::pattern(7, SIZE);
    running.store(true, Ordering::Relaxed);
    for _ in 0..MESSAGES {
        ws.send(TMessage::binary(payload.clone())).unwrap();
        match ws.read().unwrap() {
            TMessage::Binary(b) => assert_eq!(&b[..], &payload[..]),
            other => panic!("unexpected {other:?}"),
        }
    }
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    ws.close(Some(normal)).unwrap();
    while ws.read().is_ok() {}
}

fn assert_counters_do_not_go_back(before: &Scrape, after: &Scrape) {
    for (key, &value) in &before.samples {
        let name = key.split('{').next().unwrap();
        if name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count") {
            let later = after.samples.get(key).copied().unwrap_or(0.0);
            assert!(later >= value, "{key} went from {value} to {later}");
        }
    }
}

#[test]
fn metrics_parse_while_traffic_runs_and_add_up_after() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0"]);
    let running = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let running = running.clone();
            thread::spawn(move || client(addr, running))
        })
        .collect();
    wait_until("traffic started", || running.load(Ordering::Relaxed));

    // While the clients echo: every scrape parses, and no counter goes back.
    let mut scrapes = 0;
    let mut last = scrape(addr);
    scrapes += 1;
    let expect_types = [
        ("wsloop_connections_open", "gauge"),
        ("wsloop_connections_accepted", "counter"),
        ("wsloop_handshake_rejections", "counter"),
        ("wsloop_messages_received", "counter"),
        ("wsloop_messages_sent", "counter"),
        ("wsloop_bytes_received", "counter"),
        ("wsloop_bytes_sent", "counter"),
        ("wsloop_write_pauses", "counter"),
        ("wsloop_read_yields", "counter"),
        ("wsloop_write_queue_bytes", "gauge"),
        ("wsloop_closes", "counter"),
        ("wsloop_loop_iteration_seconds", "histogram"),
    ];
    for (family, kind) in expect_types {
        assert_eq!(
            last.types.get(family).map(String::as_str),
            Some(kind),
            "family {family}"
        );
    }
    while !clients.iter().all(|c| c.is_finished()) {
        let next = scrape(addr);
        scrapes += 1;
        assert_counters_do_not_go_back(&last, &next);
        last = next;
    }
    for c in clients {
        c.join().unwrap();
    }

    // One refused handshake: an upgrade without its key is a 400.
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(
        raw::upgrade_request("/")
            .replace("Sec-WebSocket-Key", "X-Key")
            .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    bad.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // Once only the scrape itself is open, every figure is exact.
    let mut done = scrape(addr);
    scrapes += 1;
    wait_until("clients gone", || {
        done = scrape(addr);
        scrapes += 1;
        done.get("wsloop_connections_open") == 1.0
    });
    assert_counters_do_not_go_back(&last, &done);
    let total = (CLIENTS * MESSAGES) as f64;
    assert_eq!(done.get("wsloop_messages_received_total"), total);
    assert_eq!(done.get("wsloop_messages_sent_total"), total);
    assert!(done.get("wsloop_bytes_received_total") > total * SIZE as f64);
    assert!(done.get("wsloop_bytes_sent_total") > total * SIZE as f64);
    assert_eq!(
        done.get("wsloop_closes_total{code=\"1000\"}"),
        CLIENTS as f64
    );
    assert_eq!(
        done.get("wsloop_handshake_rejections_total{status=\"400\"}"),
        1.0
    );
    // Clients, the refused one and every scrape so far, this one included.
    assert_eq!(
        done.get("wsloop_connections_accepted_total"),
        (CLIENTS + 1 + scrapes) as f64
    );
    assert_eq!(done.get("wsloop_write_queue_bytes"), 0.0);
    assert_eq!(done.get("wsloop_write_pauses_total"), 0.0);
    let count = done.get("wsloop_loop_iteration_seconds_count");
    assert!(count > 0.0);
    assert_eq!(
        done.get("wsloop_loop_iteration_seconds_bucket{le=\"+Inf\"}"),
        count
    );
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

#[test]
fn metrics_addr_serves_apart_and_no_metrics_turns_them_off() {
    let (mut server, addr) = Process::wsloop(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let metrics_addr = server.addr_after("metrics served at ");
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
    ws.send(TMessage::text("hello")).unwrap();
    ws.read().unwrap();
    wait_until("counted", || {
        scrape(metrics_addr).get("wsloop_messages_received_total") == 1.0
    });
    assert_eq!(scrape(metrics_addr).get("wsloop_connections_open"), 1.0);
    // The WebSocket port no longer answers it: the echo server has no page.
    assert!(!plain_get(addr).starts_with("HTTP/1.1 200"));
    drop(ws);
    server.signal(libc::SIGTERM);
    assert!(server.finish());

    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--no-metrics"]);
    assert!(!plain_get(addr).starts_with("HTTP/1.1 200"));
    server.signal(libc::SIGTERM);
    assert!(server.finish());
}

fn plain_get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
}
