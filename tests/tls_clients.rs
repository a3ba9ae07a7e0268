//! Our clients over TLS: the blocking client and the event-loop client
//! against python websockets' wss:// server (an independent peer), and the
//! `wsloop client` and `wsloop bench` commands against a TLS server.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::Process;
use common::tls::{python, TestPki};
use common::{pattern, DEADLINE};
use wsloop::client::{self, ConnectOptions, Received, WsUrl};
use wsloop::tls::{self, Trust};
use wsloop::ws::Request;
use wsloop::{App, Config, EventLoop, Handler, Message, WebSocket, WsProtocol};

const BIN: &str = env!("CARGO_BIN_EXE_wsloop");

/// python websockets serving wss:// with `pki`'s certificate.
fn python_server(pki: &TestPki) -> (Process, SocketAddr) {
    let cert = pki.cert_path().display().to_string();
    let key = pki.key_path().display().to_string();
    let mut server = python("wss_server.py", &[&cert, &key]);
    let addr = server.addr_after("listening on ");
    (server, addr)
}

#[test]
fn blocking_client_talks_to_python_over_tls() {
    let pki = TestPki::new();
    let (_server, addr) = python_server(&pki);
    let options = ConnectOptions {
        trust: Trust::CaFile(pki.ca_path()),
        ..ConnectOptions::default()
    };
    let mut ws = client::connect_with(&format!("wss://{addr}/"), &options).unwrap();
    ws.send_text("hello over tls").unwrap();
    assert_eq!(ws.recv().unwrap(), Received::Text("hello over tls".into()));
    let big = pattern(7, 3 << 20);
    ws.send_binary(&big).unwrap();
    assert!(ws.recv().unwrap().as_bytes() == big.as_slice());
    ws.close(1000, "done").unwrap();
    assert!(ws.is_closed());
}

#[test]
fn blocking_client_refuses_a_certificate_it_does_not_trust() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let (_server, addr) = python_server(&pki);
    let options = ConnectOptions {
        trust: other.trust(),
        ..ConnectOptions::default()
    };
    let e = client::connect_with(&format!("wss://{addr}/"), &options).unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // --insecure's trust accepts it.
    let options = ConnectOptions {
        trust: Trust::InsecureAnyCertificate,
        ..ConnectOptions::default()
    };
    let mut ws = client::connect_with(&format!("wss://{addr}/"), &options).unwrap();
    ws.send_text("anyway").unwrap();
    assert_eq!(ws.recv().unwrap(), Received::Text("anyway".into()));
}

/// Sends its messages on open, closes once all came back.
#[derive(Default)]
struct Roundtrip {
    to_send: Vec<Vec<u8>>,
    received: Vec<Vec<u8>>,
    closed: Option<u16>,
    connect_error: Option<String>,
}

impl Handler for Roundtrip {
    fn on_open(&mut self, ws: &mut WebSocket<'_>, _request: &Request) {
        for m in &self.to_send {
            ws.send_binary(m).unwrap();
        }
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.received.push(msg.as_bytes().to_vec());
        if self.received.len() == self.to_send.len() {
            ws.close(1000, "thanks").unwrap();
        }
    }

    fn on_close(&mut self, _ws: &mut WebSocket<'_>, code: u16, _reason: &str) {
        self.closed = Some(code);
    }

    fn on_connect_error(&mut self, _ws: &mut WebSocket<'_>, reason: &str) {
        self.connect_error = Some(reason.to_string());
    }
}

#[test]
fn loop_client_talks_to_python_over_tls() {
    let pki = TestPki::new();
    let (_server, addr) = python_server(&pki);
    let to_send: Vec<Vec<u8>> = [20, 16 << 10, 2 << 20]
        .iter()
        .map(|&n| pattern(n as u64, n))
        .collect();
    let handler = Roundtrip {
        to_send: to_send.clone(),
        ..Roundtrip::default()
    };
    let mut lp = EventLoop::new(App::new(handler, Config::default())).unwrap();
    let url = WsUrl::parse(&format!("wss://{addr}/")).unwrap();
    let connector = tls::connector(&pki.trust(), &url.host).unwrap();
    lp.connect_tls(
        addr,
        &connector,
        WsProtocol::client(url.client_request(&[])),
    )
    .unwrap();
    let start = Instant::now();
    while lp.open_connections() > 0 {
        assert!(start.elapsed() < DEADLINE, "the connection did not finish");
        lp.turn(Some(Duration::from_millis(20))).unwrap();
    }
    let done = &lp.shared().handler;
    assert_eq!(done.connect_error, None);
    assert_eq!(done.closed, Some(1000));
    assert!(done.received == to_send, "echoes differ");
}

#[test]
fn client_cli_over_tls_with_a_private_ca() {
    let pki = TestPki::new();
    let (_server, addr) = python_server(&pki);
    let url = format!("wss://{addr}/");
    let run = |extra: &[&str]| -> Output {
        let mut child = Command::new(BIN)
            .arg("client")
            .arg(&url)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"one\ntwo\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ca = pki.ca_path().display().to_string();
    let out = run(&["--ca", &ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    // Without the CA, the system's roots do not vouch for the test server.
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
}

fn bench(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .args(["--json", "-c", "4", "-n", "400"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_over_tls_against_the_echo_servers() {
    let pki = TestPki::new();
    let cert = pki.cert_path().display().to_string();
    let key = pki.key_path().display().to_string();
    let ca = pki.ca_path().display().to_string();
    let tls_args = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];

    let mut args = vec!["echo", "--addr", "127.0.0.1:0"];
    args.extend(tls_args);
    let (_ws, ws_addr) = Process::wsloop(&args);
    let json = bench(&[&format!("wss://{ws_addr}/"), "--ca", &ca, "-s", "2k"]);
    assert_eq!(json["errors"], 0, "{json}");
    assert_eq!(json["config"]["tls"], true);

    let mut args = vec!["tcp-echo", "--addr", "127.0.0.1:0"];
    args.extend(tls_args);
    let (_raw, raw_addr) = Process::wsloop(&args);
    let json = bench(&["--raw", &format!("wss://{raw_addr}/"), "--insecure"]);
    assert_eq!(json["errors"], 0, "{json}");
    assert_eq!(json["mode"], "raw TLS echo");
}
