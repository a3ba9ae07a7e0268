//! permessage-deflate through real connections: the adapter's send fast
//! paths compress, a broadcast is compressed once for every connection
//! without context takeover, a decompression bomb is closed with 1009, and
//! the blocking client round-trips compressed messages.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use wsloop::client::{self, ClientError, ConnectOptions};
use wsloop::ws::deflate::{Compressor, CompressorSettings, Decompressor, DeflateConfig};
use wsloop::ws::Limits;
use wsloop::{Config, Handler, Message, RunningServer, Server, WebSocket, WsCounters};

use common::raw::{self, read_head, BINARY, CLOSE, TEXT};
use common::{wait_until, DEADLINE};

/// Chat-like text: compresses well, as real traffic does.
fn chatty(len: usize) -> String {
    let line =
        "{\"type\":\"message\",\"room\":\"general\",\"user\":\"alice\",\"text\":\"hello\"}\n";
    line.repeat(len / line.len() + 1)[..len].to_string()
}

/// Inflates one RFC 7692 message payload.
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut d = Decompressor::new(15, true);
    let mut out = Vec::new();
    d.inflate(payload, &mut out, 1 << 30)
        .expect("valid deflate data");
    d.finish_message(&mut out, 1 << 30).unwrap();
    out
}

/// Compresses `input` as one RFC 7692 message payload (tail cut off).
fn deflate(input: &[u8]) -> Vec<u8> {
    let mut c = Compressor::new(CompressorSettings {
        level: 9,
        mem_level: 9,
        window_bits: 15,
        no_context_takeover: true,
    });
    let mut out = Vec::new();
    c.compress_message(input, &mut out);
    out
}

/// A frame as it came off the wire: the first header byte and the payload.
struct WireFrame {
    first: u8,
    payload: Vec<u8>,
}

impl WireFrame {
    fn rsv1(&self) -> bool {
        self.first & 0x40 != 0
    }
    fn opcode(&self) -> u8 {
        self.first & 0x0f
    }
}

fn read_wire_frame(stream: &mut TcpStream) -> WireFrame {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("frame header");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload).unwrap();
    WireFrame {
        first: head[0],
        payload,
    }
}

/// Opens a raw connection offering `offer` (none for `None`); returns the
/// socket and the server's response head.
fn open_raw(addr: SocketAddr, offer: Option<&str>) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut request = raw::upgrade_request("/");
    if let Some(offer) = offer {
        let at = request.len() - 2;
        request.insert_str(at, &format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut stream).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (stream, head)
}

/// Sends every message to every connection, as one shared frame.
struct Relay;

impl Handler for Relay {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        ws.broadcast(msg);
    }
}

fn serve<H: wsloop::Handler + Send + 'static>(
    config: Config,
    handler: impl FnOnce() -> H + Send + 'static,
) -> RunningServer<H> {
    Server::spawn("127.0.0.1:0".parse().unwrap(), config, handler).unwrap()
}

fn deflating(deflate: DeflateConfig) -> Config {
    Config::default().with_deflate(deflate)
}

#[test]
fn large_echoes_take_the_compressing_path() {
    let server = serve(deflating(DeflateConfig::default()), common::Echo::strict);
    let (mut stream, head) = open_raw(server.handle.local_addr(), Some("permessage-deflate"));
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate"),
        "{head}"
    );
    // Past the write-through threshold, and a small one below the
    // compression threshold.
    for len in [100_000, 20] {
        let text = chatty(len);
        stream
            .write_all(&raw::masked_frame(TEXT, text.as_bytes()))
            .unwrap();
        let frame = read_wire_frame(&mut stream);
        assert_eq!(frame.opcode(), TEXT);
        if len >= 64 {
            assert!(frame.rsv1(), "a {len}-byte echo goes out compressed");
            assert!(frame.payload.len() < len / 10, "{}", frame.payload.len());
            assert_eq!(inflate(&frame.payload), text.as_bytes());
        } else {
            assert!(!frame.rsv1(), "below the threshold, sent plain");
            assert_eq!(frame.payload, text.as_bytes());
        }
    }
    server.stop().unwrap();
}

#[test]
fn a_broadcast_is_compressed_once_for_every_connection_that_fits() {
    let config = deflating(DeflateConfig {
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    let server = serve(config, || Relay);
    let addr = server.handle.local_addr();
    let mut compressed: Vec<TcpStream> = (0..3)
        .map(|_| {
            let (stream, head) = open_raw(addr, Some("permessage-deflate"));
            assert!(head.contains("server_no_context_takeover"), "{head}");
            stream
        })
        .collect();
    let (mut plain, head) = open_raw(addr, None);
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    let counters = server.handle.counters();
    wait_until("four connections open", || {
        WsCounters::get(&counters.opened) == 4
    });

    let text = chatty(10_000);
    compressed[0]
        .write_all(&raw::masked_frame(TEXT, text.as_bytes()))
        .unwrap();
    let frames: Vec<WireFrame> = compressed.iter_mut().map(read_wire_frame).collect();
    for frame in &frames {
        assert!(frame.rsv1());
        assert_eq!(frame.payload, frames[0].payload, "the same shared bytes");
    }
    assert_eq!(inflate(&frames[0].payload), text.as_bytes());
    let frame = read_wire_frame(&mut plain);
    assert!(!frame.rsv1());
    assert_eq!(frame.payload, text.as_bytes());
    assert_eq!(WsCounters::get(&counters.broadcasts_compressed), 1);

    // Random bytes do not shrink: tried once, then sent plain to all.
    let noise = common::pattern(7, 10_000);
    compressed[1]
        .write_all(&raw::masked_frame(BINARY, &noise))
        .unwrap();
    for stream in compressed.iter_mut().chain([&mut plain]) {
        let frame = read_wire_frame(stream);
        assert!(!frame.rsv1());
        assert_eq!(frame.payload, noise);
    }
    assert_eq!(WsCounters::get(&counters.broadcasts_compressed), 2);
    server.stop().unwrap();
}

#[test]
fn a_decompression_bomb_is_closed_with_1009() {
    let config = deflating(DeflateConfig::default()).with_max_message_size(64 * 1024);
    let server = serve(config, common::Echo::tolerant);
    let (mut stream, _) = open_raw(server.handle.local_addr(), Some("permessage-deflate"));
    // 16 MiB of zeros in about 16 KiB: far past the limit once inflated.
    let bomb = deflate(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
    stream
        .write_all(&raw::masked_frame(0x40 | BINARY, &bomb))
        .unwrap();
    let frame = read_wire_frame(&mut stream);
    assert_eq!(frame.opcode(), CLOSE);
    assert_eq!(
        u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
        1009
    );
    server.stop().unwrap();
}

#[test]
fn the_blocking_client_round_trips_compressed_messages() {
    let server = serve(deflating(DeflateConfig::default()), common::Echo::strict);
    let url = format!("ws://{}/", server.handle.local_addr());
    let options = ConnectOptions {
        deflate: DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        },
        limits: Limits::new(8 << 20),
        ..ConnectOptions::default()
    };
    let mut ws = client::connect_with(&url, &options).unwrap();
    for len in [0, 10, 100, 10_000, 1 << 20] {
        let text = chatty(len);
        ws.send(Message::Text(&text)).unwrap();
        assert_eq!(ws.recv().unwrap().as_text(), Some(text.as_str()));
        let bytes = common::pattern(len as u64, len);
        ws.send(Message::Binary(&bytes)).unwrap();
        assert_eq!(ws.recv().unwrap().as_message().as_bytes(), &bytes[..]);
    }
    ws.close(1000, "").unwrap();
    assert!(matches!(ws.recv(), Err(ClientError::Closed { .. })));
    server.stop().unwrap();
}

/// Echoes large messages part by part, as `wsloop echo` does.
struct PartsEcho;

impl Handler for PartsEcho {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        ws.send(msg).expect("echo");
    }

    fn parts_from(&self) -> usize {
        64 * 1024
    }

    fn on_message_part(&mut self, ws: &mut WebSocket<'_>, part: wsloop::MessagePart<'_>) {
        ws.send_fragment(part.opcode(), part.as_bytes(), part.is_last())
            .expect("echo of a part");
    }
}

#[test]
fn an_uncompressed_message_in_parts_is_echoed_as_one_compressed_message() {
    // The peer negotiated deflate but sends a large message plain (RFC 7692
    // lets it): it comes in parts, and each part goes out through the
    // session's compressor as a fragment of one compressed message.
    let server = serve(deflating(DeflateConfig::default()), || PartsEcho);
    let (mut stream, head) = open_raw(server.handle.local_addr(), Some("permessage-deflate"));
    assert!(head.contains("permessage-deflate"), "{head}");
    let text = chatty(300_000);
    stream
        .write_all(&raw::masked_frame(TEXT, text.as_bytes()))
        .unwrap();
    let mut compressed = Vec::new();
    let mut frames = 0;
    loop {
        let frame = read_wire_frame(&mut stream);
        frames += 1;
        if frames == 1 {
            assert_eq!(frame.opcode(), TEXT);
            assert!(frame.rsv1(), "the first fragment carries RSV1");
        } else {
            assert_eq!(frame.opcode(), 0, "a continuation");
            assert!(!frame.rsv1(), "RSV1 only on the first fragment");
        }
        compressed.extend_from_slice(&frame.payload);
        if frame.first & 0x80 != 0 {
            break;
        }
    }
    assert!(frames > 1, "the echo was not sent in parts");
    assert!(compressed.len() < text.len() / 10, "{}", compressed.len());
    assert!(inflate(&compressed) == text.as_bytes());
    server.stop().unwrap();
}
