//! The chat server (`wsloop::chat`) against tungstenite clients and raw
//! HTTP: the article's protocol, without the article's flaws.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::process::Process;
use common::{wait_until, DEADLINE};
use serde_json::{json, Value};
use wsloop::chat::Chat;
use wsloop::{Config, RunningServer, Server};

type Client = tungstenite::WebSocket<TcpStream>;

fn start() -> RunningServer<Chat> {
    Server::spawn("127.0.0.1:0".parse().unwrap(), Config::default(), Chat::new).unwrap()
}

/// Connects and checks the greeting.
fn connect(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    assert_eq!(recv(&mut ws), json!({"type": "handshake"}));
    ws
}

fn send(ws: &mut Client, value: Value) {
    send_raw(ws, &value.to_string());
}

fn send_raw(ws: &mut Client, text: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
}

fn recv(ws: &mut Client) -> Value {
    loop {
        match ws.read().expect("read") {
            tungstenite::Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

fn join(addr: SocketAddr, uuid: &str) -> Client {
    let mut ws = connect(addr);
    send(
        &mut ws,
        json!({"type": "register", "uuid": uuid, "content": format!("{uuid} joined")}),
    );
    let login = recv(&mut ws);
    assert_eq!(login["type"], "login");
    assert_eq!(login["content"], format!("{uuid} joined"));
    ws
}

#[test]
fn register_send_unregister_as_in_the_article() {
    let server = start();
    let addr = server.handle.local_addr();
    let mut alice = join(addr, "alice");
    let mut bob = join(addr, "bob");
    let login = json!({"type": "login", "content": "bob joined", "user_list": ["alice", "bob"]});
    assert_eq!(recv(&mut alice), login);

    send(&mut alice, json!({"type": "send", "content": "hi bob"}));
    let said = json!({"type": "user", "content": "hi bob", "from": "alice"});
    assert_eq!(recv(&mut alice), said);
    assert_eq!(recv(&mut bob), said);

    send(
        &mut bob,
        json!({"type": "unregister", "uuid": "bob", "content": "bye"}),
    );
    let logout = json!({"type": "logout", "content": "bye", "user_list": ["alice"]});
    assert_eq!(recv(&mut bob), logout);
    assert_eq!(recv(&mut alice), logout);

    // Bob is still connected but no longer registered.
    send(&mut bob, json!({"type": "send", "content": "ghost"}));
    assert_eq!(recv(&mut bob)["type"], "error");
    send(&mut alice, json!({"type": "send", "content": "alone"}));
    assert_eq!(recv(&mut alice)["content"], "alone");
    // Bob may register again, under the same name.
    send(
        &mut bob,
        json!({"type": "register", "uuid": "bob", "content": "back"}),
    );
    assert_eq!(recv(&mut bob)["user_list"], json!(["alice", "bob"]));
    assert_eq!(recv(&mut alice)["content"], "back");
    drop((alice, bob));
    server.stop().unwrap();
}

#[test]
fn a_disconnect_unregisters_and_the_others_are_told() {
    let server = start();
    let addr = server.handle.local_addr();
    let mut alice = join(addr, "alice");
    let bob = join(addr, "bob");
    let mut carol = join(addr, "carol");
    assert_eq!(recv(&mut alice)["content"], "bob joined");
    assert_eq!(recv(&mut alice)["content"], "carol joined");

    // Bob's TCP connection just ends, without a close frame.
    drop(bob);
    let logout = json!({"type": "logout", "content": "bob left", "user_list": ["alice", "carol"]});
    assert_eq!(recv(&mut alice), logout);
    assert_eq!(recv(&mut carol), logout);

    // Carol closes properly.
    carol.close(None).unwrap();
    let logout = recv(&mut alice);
    assert_eq!(logout["user_list"], json!(["alice"]));
    // The name is free again.
    let carol_again = join(addr, "carol");
    assert_eq!(recv(&mut alice)["user_list"], json!(["alice", "carol"]));
    drop((alice, carol, carol_again));
    server.stop().unwrap();
}

#[test]
fn bad_messages_get_an_error_for_their_sender_only() {
    let server = start();
    let addr = server.handle.local_addr();
    let mut alice = join(addr, "alice");
    let mut bob = join(addr, "bob");
    assert_eq!(recv(&mut alice)["content"], "bob joined");

    let cases: [(&str, &str); 7] = [
        ("{not json", "bad message"),
        (r#"{"type":"dance"}"#, "unknown variant"),
        (r#"{"content":"no type"}"#, "missing field `type`"),
        (r#"{"type":"send"}"#, "missing field `content`"),
        (
            r#"{"type":"register","content":"x"}"#,
            "missing field `uuid`",
        ),
        (
            r#"{"type":"register","uuid":"alice","content":"x"}"#,
            "already registered",
        ),
        (
            r#"{"type":"unregister","uuid":"alice"}"#,
            "only unregister yourself",
        ),
    ];
    for (text, reason) in cases {
        send_raw(&mut bob, text);
        let answer = recv(&mut bob);
        assert_eq!(answer["type"], "error", "{text}");
        let got = answer["reason"].as_str().unwrap();
        assert!(got.contains(reason), "{text}: {got}");
    }
    // A name someone else holds.
    let mut eve = connect(addr);
    send(
        &mut eve,
        json!({"type": "register", "uuid": "alice", "content": "x"}),
    );
    assert_eq!(
        recv(&mut eve),
        json!({"type": "error", "reason": "uuid already taken"})
    );
    bob.send(tungstenite::Message::binary(vec![1, 2, 3]))
        .unwrap();
    assert_eq!(recv(&mut bob)["type"], "error");

    // Nothing of that reached alice, and the room still works.
    send(&mut bob, json!({"type": "send", "content": "still here"}));
    let said = json!({"type": "user", "content": "still here", "from": "bob"});
    assert_eq!(recv(&mut alice), said);
    assert_eq!(recv(&mut bob), said);
    drop((alice, bob, eve));
    server.stop().unwrap();
}

#[test]
fn every_client_sees_every_message_in_one_order() {
    const USERS: usize = 4;
    const EACH: usize = 200;
    let server = start();
    let addr = server.handle.local_addr();
    let mut clients: Vec<Client> = Vec::new();
    for u in 0..USERS {
        let ws = join(addr, &format!("u{u}"));
        for (v, earlier) in clients.iter_mut().enumerate() {
            assert_eq!(recv(earlier)["content"], format!("u{u} joined"), "u{v}");
        }
        clients.push(ws);
    }
    // Everyone writes from its own thread at once.
    let writers: Vec<_> = clients
        .iter()
        .map(|ws| {
            let stream = ws.get_ref().try_clone().unwrap();
            std::thread::spawn(move || {
                let mut out = tungstenite::WebSocket::from_raw_socket(
                    stream,
                    tungstenite::protocol::Role::Client,
                    None,
                );
                for i in 0..EACH {
                    let msg = json!({"type": "send", "content": i.to_string()});
                    out.send(tungstenite::Message::text(msg.to_string()))
                        .unwrap();
                }
            })
        })
        .collect();
    let mut orders = Vec::new();
    for ws in clients.iter_mut() {
        let mut order = Vec::new();
        let mut next = [0usize; USERS];
        for _ in 0..USERS * EACH {
            let m = recv(ws);
            let from: usize = m["from"].as_str().unwrap()[1..].parse().unwrap();
            let n: usize = m["content"].as_str().unwrap().parse().unwrap();
            assert_eq!(n, next[from], "from u{from}");
            next[from] += 1;
            order.push((from, n));
        }
        orders.push(order);
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(orders.iter().all(|o| *o == orders[0]));
    drop(clients);
    server.stop().unwrap();
}

/// Sends a raw HTTP request; returns the status and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[test]
fn plain_http_on_the_same_port() {
    let server = start();
    let addr = server.handle.local_addr();
    let (status, body) = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(body.contains("<title>wsloop chat</title>"));
    assert!(body.contains("new WebSocket("));
    assert_eq!(
        http(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
        (200, "ok\n".into())
    );
    assert_eq!(
        http(addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (200, "".into())
    );
    assert_eq!(http(addr, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").0, 404);
    assert_eq!(http(addr, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").0, 405);
    // Upgrade requests still get the handshake's own answers.
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    assert_eq!(
        http(addr, &format!("GET / HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n")).0,
        400
    );
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    assert_eq!(
        http(addr, &format!("GET / HTTP/1.1\r\n{upgrade}{key}\r\n")).0,
        426
    );
    assert_eq!(
        http(addr, &format!("POST / HTTP/1.1\r\n{upgrade}{key}\r\n")).0,
        405
    );
    // None of these opened (or closed) a WebSocket connection.
    let counters = server.handle.counters();
    assert_eq!(wsloop::WsCounters::get(&counters.opened), 0);
    assert_eq!(wsloop::WsCounters::get(&counters.closed), 0);
    server.stop().unwrap();
}

#[test]
fn the_cli_logs_one_json_line_per_event() {
    let dir = std::env::temp_dir().join(format!("wsloop-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("chat.log");
    let _ = std::fs::remove_file(&log);
    let (server, addr) = Process::wsloop(&[
        "chat",
        "--addr",
        "127.0.0.1:0",
        "--log-file",
        log.to_str().unwrap(),
    ]);
    let mut alice = join(addr, "alice");
    send(&mut alice, json!({"type": "send", "content": "hello"}));
    assert_eq!(recv(&mut alice)["content"], "hello");
    send_raw(&mut alice, "nonsense");
    assert_eq!(recv(&mut alice)["type"], "error");
    let peer = alice.get_ref().local_addr().unwrap().to_string();
    drop(alice);

    let read_events = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_until("the disconnect is logged", || read_events().len() == 5);
    let events = read_events();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["connect", "register", "send", "error", "disconnect"]
    );
    for e in &events {
        assert_eq!(e["peer"], peer);
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(events[0]["uuid"], Value::Null);
    assert!(events[1..].iter().all(|e| e["uuid"] == "alice"));

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
