//! `Handler::on_request`: plain HTTP answered before the upgrade, a panic
//! there answered 500 for that request only, upgrades unaffected.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use wsloop::{Config, Handler, HttpRequest, HttpResponse, Message, Server, WebSocket, WsCounters};

struct Hooked;

impl Handler for Hooked {
    fn on_request(&mut self, request: &HttpRequest) -> Option<HttpResponse> {
        match request.path_only() {
            "/boom" => panic!("on_request failed"),
            "/hello" => Some(HttpResponse::text(200, "hello").with_header("X-Seen", &request.path)),
            _ => None,
        }
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let _ = ws.send(msg);
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn requests_are_answered_before_the_upgrade() {
    let server =
        Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), || Hooked).unwrap();
    let addr = server.handle.local_addr();
    let hello = get(addr, "/hello?x=1");
    assert!(hello.starts_with("HTTP/1.1 200 OK\r\n"), "{hello}");
    assert!(hello.contains("X-Seen: /hello?x=1\r\n"));
    assert!(hello.ends_with("\r\n\r\nhello\n"));
    assert!(get(addr, "/boom").starts_with("HTTP/1.1 500 "));
    // Not answered by the hook, and not an upgrade: the handshake's 400.
    assert!(get(addr, "/other").starts_with("HTTP/1.1 400 "));

    let stream = TcpStream::connect(addr).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws"), stream).unwrap();
    ws.send(tungstenite::Message::text("still fine")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("still fine"));
    let counters = server.handle.counters();
    assert_eq!(WsCounters::get(&counters.handler_panics), 1);
    assert_eq!(WsCounters::get(&counters.opened), 1);
    drop(ws);
    server.stop().unwrap();
}
