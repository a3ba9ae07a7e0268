//! Opening-handshake answers, checked byte by byte on raw sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::raw::{self, frame, read_frame, read_head};
use common::Echo;
use wsloop::{Config, RunningServer, Server};

fn start(config: Config) -> RunningServer<Echo> {
    Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::strict).unwrap()
}

/// Sends `request` and returns the whole answer up to the server's close.
fn exchange(server: &RunningServer<Echo>, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.handle.local_addr()).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    // The server closes after an error answer; EOF ends the read.
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn request_with(replace: &str, with: &str) -> String {
    let good = raw::upgrade_request("/");
    assert!(
        good.contains(replace),
        "test bug: {replace:?} not in request"
    );
    good.replace(replace, with)
}

/// Status code, headers (lowercased names) and body of an HTTP answer.
fn parse(answer: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn assert_rejected(server: &RunningServer<Echo>, request: &str, status: u16, reason_part: &str) {
    let answer = exchange(server, request.as_bytes());
    let (got, headers, body) = parse(&answer);
    assert_eq!(got, status, "request:\n{request}\nanswer:\n{answer}");
    assert!(
        body.contains(reason_part),
        "reason {body:?} should mention {reason_part:?}"
    );
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(
        length,
        body.len(),
        "Content-Length must match the one-line reason"
    );
}

#[test]
fn rejects_bad_upgrade_requests_with_precise_statuses() {
    let server = start(Config::default());
    assert_rejected(&server, &request_with("GET", "POST"), 405, "GET");
    assert_rejected(
        &server,
        &request_with("HTTP/1.1", "HTTP/1.0"),
        400,
        "HTTP/1.1",
    );
    assert_rejected(
        &server,
        &request_with("Upgrade: websocket\r\n", ""),
        400,
        "Upgrade",
    );
    assert_rejected(
        &server,
        &request_with("Upgrade: websocket", "Upgrade: h2c"),
        400,
        "Upgrade",
    );
    assert_rejected(
        &server,
        &request_with("Connection: Upgrade", "Connection: keep-alive"),
        400,
        "Connection",
    );
    assert_rejected(
        &server,
        &request_with("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
        400,
        "Sec-WebSocket-Key",
    );
    assert_rejected(
        &server,
        &request_with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        400,
        "Sec-WebSocket-Key",
    );
    assert_rejected(
        &server,
        &request_with(
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Key: !!!notbase64!!!!!!!!!!!",
        ),
        400,
        "Sec-WebSocket-Key",
    );

    let answer = exchange(
        &server,
        request_with("Version: 13", "Version: 8").as_bytes(),
    );
    let (status, headers, _) = parse(&answer);
    assert_eq!(status, 426);
    assert!(
        headers.contains(&("sec-websocket-version".into(), "13".into())),
        "{answer}"
    );

    let huge = request_with(
        "Host: localhost",
        &format!("Host: localhost\r\nX-Padding: {}", "a".repeat(9000)),
    );
    assert_rejected(&server, &huge, 431, "");
    let counted = wsloop::WsCounters::get(&server.handle.counters().rejected);
    assert_eq!(counted, 10);
    server.stop().unwrap();
}

#[test]
fn token_lists_and_case_are_accepted() {
    let server = start(Config::default());
    let request = request_with("Connection: Upgrade", "Connection: keep-alive, UPGRADE")
        .replace("Upgrade: websocket", "upgrade: WebSocket");
    let answer = exchange_head(&server, &request);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert!(
        answer.contains(&format!("Sec-WebSocket-Accept: {}", raw::FIXED_ACCEPT)),
        "{answer}"
    );
    server.stop().unwrap();
}

fn exchange_head(server: &RunningServer<Echo>, request: &str) -> String {
    let mut stream = TcpStream::connect(server.handle.local_addr()).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    read_head(&mut stream).unwrap()
}

#[test]
fn origin_outside_the_allow_list_gets_403() {
    let mut config = Config::default();
    config.handshake.allowed_origins = Some(vec!["https://good.example".into()]);
    let server = start(config);
    let bad = request_with(
        "Host: localhost",
        "Host: localhost\r\nOrigin: https://evil.example",
    );
    assert_rejected(&server, &bad, 403, "origin");
    let missing = raw::upgrade_request("/");
    assert_rejected(&server, &missing, 403, "origin");
    let good = request_with(
        "Host: localhost",
        "Host: localhost\r\nOrigin: https://good.example",
    );
    assert!(exchange_head(&server, &good).starts_with("HTTP/1.1 101"));
    server.stop().unwrap();
}

#[test]
fn subprotocol_is_chosen_by_server_preference() {
    let mut config = Config::default();
    config.handshake.subprotocols = vec!["chat.v2".into(), "chat.v1".into()];
    let server = start(config);
    let offer = request_with(
        "Host: localhost",
        "Host: localhost\r\nSec-WebSocket-Protocol: chat.v1, chat.v2",
    );
    let head = exchange_head(&server, &offer);
    assert!(
        head.contains("Sec-WebSocket-Protocol: chat.v2\r\n"),
        "{head}"
    );
    let none = request_with(
        "Host: localhost",
        "Host: localhost\r\nSec-WebSocket-Protocol: other",
    );
    let head = exchange_head(&server, &none);
    assert!(
        head.starts_with("HTTP/1.1 101") && !head.contains("Sec-WebSocket-Protocol"),
        "{head}"
    );
    server.stop().unwrap();
}

#[test]
fn frames_sent_with_the_request_are_not_lost() {
    let server = start(Config::default());
    let mut stream = TcpStream::connect(server.handle.local_addr()).unwrap();
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    // Request and two frames in one write: they arrive in one read.
    let mut bytes = raw::upgrade_request("/").into_bytes();
    bytes.extend(frame(0x81, b"first"));
    bytes.extend(frame(0x82, &[1, 2, 3]));
    stream.write_all(&bytes).unwrap();
    assert!(read_head(&mut stream).unwrap().starts_with("HTTP/1.1 101"));
    let one = read_frame(&mut stream).unwrap().unwrap();
    assert_eq!((one.opcode, one.payload.as_slice()), (1, &b"first"[..]));
    let two = read_frame(&mut stream).unwrap().unwrap();
    assert_eq!((two.opcode, two.payload.as_slice()), (2, &[1u8, 2, 3][..]));
    drop(stream);
    server.stop().unwrap();
}

#[test]
fn extension_offers_are_declined_and_frames_stay_plain() {
    let server = start(Config::default());
    for offer in [
        "permessage-deflate; client_max_window_bits",
        "x-unknown, permessage-deflate; server_no_context_takeover",
        // Malformed: with no extension configured it is declined, not refused.
        ";;=",
    ] {
        let request = request_with(
            "Host: localhost",
            &format!("Host: localhost\r\nSec-WebSocket-Extensions: {offer}"),
        );
        let mut stream = TcpStream::connect(server.handle.local_addr()).unwrap();
        stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let head = read_head(&mut stream).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{offer}: {head}");
        assert!(
            !head.contains("Sec-WebSocket-Extensions"),
            "{offer}: {head}"
        );
        stream.write_all(&frame(0x81, b"plain")).unwrap();
        // FIN, RSV bits clear (not compressed), text; unmasked, 5 bytes.
        let mut echo = [0u8; 7];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"\x81\x05plain", "{offer}");
    }
    server.stop().unwrap();
}
