//! Runs each program in `examples/` as a process, on free loopback ports,
//! and checks what it prints and answers.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

use common::process::{Process, Watch};
use common::{wait_until, DEADLINE};

/// The path of a built example, building the examples first (a filtered
/// `cargo test --test examples` does not build them by itself).
fn example(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or("cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--examples", "--quiet"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo");
        assert!(status.success(), "building the examples failed");
    });
    profile_dir.join("examples").join(name)
}

/// Starts example `name`, reading its stdout line by line; killed when dropped.
fn run(name: &str, args: &[&str], stdin: Option<&str>) -> Process {
    let mut command = Command::new(example(name));
    command.args(args);
    Process::start(command, Watch::Stdout, stdin)
}

fn server(name: &str, prefix: &str) -> (Process, SocketAddr) {
    let mut server = run(name, &["127.0.0.1:0"], None);
    let addr = server.addr_after(prefix);
    (server, addr)
}

fn tungstenite_client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    tungstenite::client(format!("ws://{addr}/"), stream)
        .unwrap()
        .0
}

fn read_text(ws: &mut tungstenite::WebSocket<TcpStream>) -> String {
    loop {
        if let tungstenite::Message::Text(t) = ws.read().unwrap() {
            return t.as_str().to_owned();
        }
    }
}

#[test]
fn echo_server_and_client() {
    let (mut server, addr) = server("echo_server", "listening on ws://");
    let url = format!("ws://{addr}");
    let mut client = run("echo_client", &[&url], None);
    client.expect("Sent: Hello, server!");
    client.expect("Received: Echo: Hello, server!");
    assert!(client.finish());
    server.expect("Received message: Hello, server!");
}

#[test]
fn timestamp_server_and_many_connections() {
    let (mut server, addr) = server("timestamp_server", "listening on ws://");
    let url = format!("ws://{addr}");
    let mut client = run("many_connections_client", &[&url, "3", "20"], None);
    for i in 1..=3 {
        let line = client.expect(&format!("{i}: "));
        assert!(
            line.starts_with(&format!(
                "{i}: Data received as \"Hello, I am PyPy.\". time: 20"
            )),
            "{line}"
        );
    }
    assert!(client.finish());
    server.expect_lines("Data received as \"Hello, I am PyPy.\"", 3);
}

#[test]
fn application_level_handshake() {
    let (mut server, addr) = server("app_handshake_server", "listening on ws://");
    // A raw client first: anything before `Hi` fails.
    let mut ws = tungstenite_client(addr);
    ws.send(tungstenite::Message::text("hello?")).unwrap();
    assert_eq!(read_text(&mut ws), "connected fail");
    drop(ws);

    let url = format!("ws://{addr}/");
    let input = "first line\nexit\n";
    let mut client = run("app_handshake_client", &[&url], Some(input));
    assert!(client.finish());
    assert_eq!(client.expect("success"), "success");
    client.expect("success,get mess: first line");
    server.expect("new connection, path /");
    server.expect("connection closed: 1000 exit");
}

#[test]
fn chat_server_with_page_and_log() {
    let dir = std::env::temp_dir().join(format!("wsloop-example-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("chat.log");
    let log_arg = log.to_str().unwrap();
    let mut server = run("chat_server", &["127.0.0.1:0", log_arg], None);
    let addr = server.addr_after("chat on http://");

    let mut http = TcpStream::connect(addr).unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"));

    let mut ws = tungstenite_client(addr);
    assert_eq!(read_text(&mut ws), r#"{"type":"handshake"}"#);
    let register = r#"{"type":"register","uuid":"ann","content":"hi"}"#;
    ws.send(tungstenite::Message::text(register)).unwrap();
    assert_eq!(
        read_text(&mut ws),
        r#"{"type":"login","content":"hi","user_list":["ann"]}"#
    );
    wait_until("the registration is logged", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains(r#""type":"register","uuid":"ann""#))
    });
    drop(ws);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn background_thread_server_pushes_from_main_thread() {
    let (mut server, addr) = server("background_thread_server", "listening on ws://");
    let mut ws = tungstenite_client(addr);
    let greeting: serde_json::Value = serde_json::from_str(&read_text(&mut ws)).unwrap();
    assert_eq!(greeting["type"], "handshake");
    ws.send(tungstenite::Message::text("hello")).unwrap();
    let register = r#"{"type":"register","uuid":"ada","content":"hi all"}"#;
    ws.send(tungstenite::Message::text(register)).unwrap();
    let (mut acked, mut registered, mut logged_in, mut ticks) = (false, false, false, 0);
    while !(acked && registered && logged_in && ticks >= 2) {
        let text = read_text(&mut ws);
        if text == "Get message: hello" {
            acked = true;
        } else if text == format!("Get message: {register}") {
            registered = true;
        } else if text.starts_with("tick ") {
            ticks += 1;
        } else {
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(event["type"], "login", "{text}");
            assert_eq!(event["user_list"], serde_json::json!(["ada"]));
            logged_in = true;
        }
    }
    server.expect("pushed to 1 client(s)");
}
