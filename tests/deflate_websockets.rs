//! permessage-deflate against python `websockets` (pinned in
//! scripts/test.sh), which negotiates it by default: its client against our
//! server and its server against our blocking client, with context
//! takeover on and off, messages of several sizes both ways, fragmented
//! ones included. Skipped, saying so, when python3 is not installed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use wsloop::client::{self, ConnectOptions};
use wsloop::ws::deflate::DeflateConfig;
use wsloop::ws::Limits;
use wsloop::{Config, Message, Server};

/// The sizes every test sends, each way: empty, below the compression
/// threshold, around the write-through threshold, and large.
const SIZES: [usize; 6] = [0, 10, 1000, 9000, 70_000, 1 << 20];

const CLIENT: &str = r#"
import json, os, sys
from websockets.sync.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

url, sizes = sys.argv[1], json.loads(sys.argv[2])
line = '{"type":"message","room":"general","user":"alice","text":"hello"}\n'
offers = {
    "default": dict(),
    "no-takeover": dict(extensions=[ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True,
        server_max_window_bits=10, client_max_window_bits=10)], compression=None),
}
for name, options in offers.items():
    with connect(url, max_size=None, **options) as ws:
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert agreed.startswith("permessage-deflate"), agreed
        for n in sizes:
            text = (line * (n // len(line) + 1))[:n]
            ws.send(text)
            assert ws.recv() == text, ("text", n)
            data = os.urandom(n)
            ws.send(data)
            assert ws.recv() == data, ("binary", n)
        parts = [line * 50, line * 3, "", line * 400]
        ws.send(parts)
        assert ws.recv() == "".join(parts), "fragmented"
    print(name, agreed, flush=True)
"#;

const SERVER: &str = r#"
import sys
from websockets.sync.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

takeover = sys.argv[1] == "takeover"
factory = ServerPerMessageDeflateFactory(
    server_no_context_takeover=not takeover, client_no_context_takeover=not takeover)

def echo(ws):
    ws.send("agreed: " + ws.response.headers.get("Sec-WebSocket-Extensions", ""))
    for msg in ws:
        ws.send(msg)

with serve(echo, "127.0.0.1", 0, max_size=None, extensions=[factory], compression=None) as server:
    print(server.socket.getsockname()[1], flush=True)
    server.serve_forever()
"#;

/// Starts `python3 -c script args`; `None` (and a note) without python3.
fn python(script: &str, args: &[&str]) -> Option<Child> {
    let child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    match child {
        Ok(child) => Some(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: python3 not found, no check against python websockets");
            None
        }
        Err(e) => panic!("cannot run python3: {e}"),
    }
}

fn chatty(len: usize) -> String {
    let line = "{\"type\":\"message\",\"room\":\"dev\",\"user\":\"bob\",\"text\":\"hi\"}\n";
    line.repeat(len / line.len() + 1)[..len].to_string()
}

#[test]
fn python_websockets_client_against_our_server() {
    for no_takeover in [false, true] {
        let config = Config::default()
            .with_max_message_size(8 << 20)
            .with_deflate(DeflateConfig {
                server_no_context_takeover: no_takeover,
                ..DeflateConfig::default()
            });
        let server =
            Server::spawn("127.0.0.1:0".parse().unwrap(), config, common::Echo::strict).unwrap();
        let url = format!("ws://{}/", server.handle.local_addr());
        let sizes = serde_json::to_string(&SIZES).unwrap();
        let Some(child) = python(CLIENT, &[&url, &sizes]) else {
            return;
        };
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "python client failed: {stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines[1].contains("server_no_context_takeover"), "{stdout}");
        assert!(lines[1].contains("client_max_window_bits=10"), "{stdout}");
        assert_eq!(
            lines[0].contains("server_no_context_takeover"),
            no_takeover,
            "{stdout}"
        );
        server.stop().unwrap();
    }
}

/// Kills the python server when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn our_blocking_client_against_python_websockets_server() {
    for mode in ["takeover", "no-takeover"] {
        let Some(mut child) = python(SERVER, &[mode]) else {
            return;
        };
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let _server = Killed(child);
        let url = format!("ws://127.0.0.1:{}/", port.trim());
        for client_no_context_takeover in [false, true] {
            let options = ConnectOptions {
                deflate: DeflateConfig {
                    client_no_context_takeover,
                    ..DeflateConfig::default()
                },
                limits: Limits::new(8 << 20),
                ..ConnectOptions::default()
            };
            let mut ws = client::connect_with(&url, &options).unwrap();
            let agreed = ws.recv().unwrap().as_text().unwrap_or_default().to_owned();
            assert!(agreed.starts_with("agreed: permessage-deflate"), "{agreed}");
            assert_eq!(
                agreed.contains("server_no_context_takeover"),
                mode == "no-takeover",
                "{agreed}"
            );
            if mode == "no-takeover" {
                assert!(agreed.contains("client_no_context_takeover"), "{agreed}");
            }
            for len in SIZES {
                let text = chatty(len);
                ws.send(Message::Text(&text)).unwrap();
                assert_eq!(ws.recv().unwrap().as_text(), Some(text.as_str()), "{len}");
                let bytes = common::pattern(len as u64, len);
                ws.send(Message::Binary(&bytes)).unwrap();
                assert_eq!(ws.recv().unwrap().as_bytes(), &bytes[..], "{len}");
            }
            ws.close(1000, "").unwrap();
        }
    }
}
