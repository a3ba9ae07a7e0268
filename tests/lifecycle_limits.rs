//! The connection limit and fault isolation, over real loopback sockets
//! with a raw-bytes peer.

mod common;

use common::logs::{capture_logs, log_lines};
use common::raw::{close_payload, Raw, BINARY, CLOSE, TEXT};
use common::wait_until;
use common::Echo;
use wsloop::{Config, Handler, Message, Server, WebSocket, WsCounters};

/// Sends `text` and expects it back byte for byte.
fn assert_echo(raw: &mut Raw, text: &str) {
    raw.send(TEXT, text.as_bytes()).unwrap();
    assert_eq!(raw.recv(), Some((TEXT, text.as_bytes().to_vec())));
}

/// Politely closes a raw connection and waits for the server's FIN.
fn close(mut raw: Raw) {
    raw.send(CLOSE, &close_payload(1000)).unwrap();
    assert_eq!(raw.recv_close().map(|(code, _)| code), Some(1000));
    raw.read_to_eof();
}

/// With `max_connections` = 2, a third connection gets `503` with a reason
/// in the body and `Retry-After`, then EOF, and is counted and logged; the
/// two open connections keep echoing meanwhile. Once one of them closes, a
/// new connection is admitted again.
#[test]
fn connections_past_the_limit_get_503_and_open_ones_keep_working() {
    capture_logs();
    let config = Config {
        max_connections: Some(2),
        ..Config::default()
    };
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::tolerant).unwrap();
    let addr = server.handle.local_addr();
    let mut a = Raw::open(addr);
    let mut b = Raw::open(addr);

    let mut refused = Raw::connect(addr);
    let refused_name = refused.local();
    std::io::Write::write_all(&mut refused.stream, &common::raw::request(addr)).unwrap();
    let head = refused.read_http_head().expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 503"), "{head:?}");
    assert!(head.contains("Retry-After: 1"), "{head:?}");
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut refused.stream, &mut body).expect("body, then EOF");
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("connection limit"), "body: {body:?}");

    assert_echo(&mut a, "a still served");
    assert_echo(&mut b, "b still served");
    assert_eq!(WsCounters::get(&server.handle.counters().refused_busy), 1);
    assert_eq!(
        log_lines(&[&refused_name, "connection limit reached"]).len(),
        1
    );

    close(a);
    wait_until("a slot free", || server.handle.loop_stats().open == 1);
    let mut c = Raw::open(addr);
    assert_echo(&mut c, "c admitted");
    assert_echo(&mut b, "b unaffected");
    assert_eq!(WsCounters::get(&server.handle.counters().opened), 3);
    assert_eq!(WsCounters::get(&server.handle.counters().refused_busy), 1);
    close(b);
    close(c);
    server.stop().unwrap();
}

/// Echoes, except that the text `boom` makes it panic.
struct Fragile;

impl Handler for Fragile {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        if msg.as_bytes() == b"boom" {
            panic!("fragile handler: boom from {}", ws.peer_addr());
        }
        let _ = ws.send(msg);
    }
}

/// A panic in the handler closes that one connection with 1011 and logs
/// the panic message; the other connections, including one mid-way
/// through its traffic, go on being served, and later connections too.
#[test]
fn a_panicking_handler_closes_only_its_connection() {
    capture_logs();
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || {
        Fragile
    })
    .unwrap();
    let addr = server.handle.local_addr();
    let mut victim = Raw::open(addr);
    let victim_name = victim.local();
    let mut bystander = Raw::open(addr);
    assert_echo(&mut bystander, "before");

    victim.send(TEXT, b"boom").unwrap();
    let (code, before) = victim.recv_close().expect("close frame");
    assert_eq!((code, before.len()), (1011, 0));
    victim.send(CLOSE, &close_payload(1011)).unwrap();
    victim.read_to_eof();

    let payload = common::pattern(7, 100_000);
    bystander.send(BINARY, &payload).unwrap();
    assert_eq!(bystander.recv(), Some((BINARY, payload)));
    let mut late = Raw::open(addr);
    assert_echo(&mut late, "after");

    assert_eq!(WsCounters::get(&server.handle.counters().handler_panics), 1);
    let lines = log_lines(&[&victim_name, "handler panicked", "fragile handler: boom"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    close(bystander);
    close(late);
    server.stop().unwrap();
}
