//! Runs each program in `examples/` as a process, on free loopback ports,
//! and checks what it prints and answers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Once;
use std::time::Instant;

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

/// A running example; killed when dropped. Its stdout arrives line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(name: &str, args: &[&str], stdin: Option<&str>) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; returns it.
    fn expect(&mut self, text: &str) -> String {
        self.expect_lines(text, 1).remove(0)
    }

    /// Waits until `count` lines contain `text`; returns them.
    fn expect_lines(&mut self, text: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found: Vec<String> = self
                .seen
                .iter()
                .filter(|l| l.contains(text))
                .cloned()
                .collect();
            if found.len() >= count {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("not {count} line(s) with {text:?}; got {:?}", self.seen)
            });
            self.seen.push(line);
        }
    }

    /// The address a server example printed after `prefix`.
    fn addr(&mut self, prefix: &str) -> SocketAddr {
        let line = self.expect(prefix);
        let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
        rest.trim_end_matches('/').parse().unwrap()
    }

    /// Waits for the process to exit by itself; returns whether it succeeded.
    fn finish(&mut self) -> bool {
        let mut status = None;
        wait_until("the example exits", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap().success()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(name: &str, prefix: &str) -> (Running, SocketAddr) {
    let mut server = Running::start(name, &["127.0.0.1:0"], None);
    let addr = server.addr(prefix);
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
    let mut client = Running::start("echo_client", &[&url], None);
    client.expect("Sent: Hello, server!");
    client.expect("Received: Echo: Hello, server!");
    assert!(client.finish());
    server.expect("Received message: Hello, server!");
}

#[test]
fn timestamp_server_and_many_connections() {
    let (mut server, addr) = server("timestamp_server", "listening on ws://");
    let url = format!("ws://{addr}");
    let mut client = Running::start("many_connections_client", &[&url, "3", "20"], None);
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
    let mut client = Running::start("app_handshake_client", &[&url], Some(input));
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
    let mut server = Running::start("chat_server", &["127.0.0.1:0", log_arg], None);
    let addr = server.addr("chat on http://");

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
