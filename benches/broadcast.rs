//! Broadcast cost: one message to many server connections, queued either
//! as one pre-encoded shared frame (`WsCommand::Frame`, what broadcasts
//! use) or encoded per connection (`WsCommand::Send`, the baseline). Each
//! iteration posts a burst of messages from another thread and waits
//! until every client has read all of their bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsloop::ws::Opcode;
use wsloop::{Config, Handler, LoopHandle, Message, Server, WebSocket, WsCommand, WsProtocol};

const CLIENTS: usize = 50;
const BURST: usize = 100;

struct Quiet;

impl Handler for Quiet {
    fn on_message(&mut self, _ws: &mut WebSocket<'_>, _msg: Message<'_>) {}
}

/// Opens a WebSocket by hand, so the client reads frames as raw bytes.
fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

fn bench(c: &mut Criterion) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let config = Config {
            ping_interval: None,
            ..Config::default()
        };
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), config, Quiet).unwrap();
        tx.send((server.local_addr(), server.event_loop().handle()))
            .unwrap();
        server.run().unwrap();
    });
    let (addr, handle): (SocketAddr, LoopHandle<WsProtocol<Quiet>>) = rx.recv().unwrap();
    let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| raw_client(addr)).collect();

    let mut group = c.benchmark_group("broadcast");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for size in [16usize, 128, 1024, 16 * 1024] {
        let payload = Bytes::from(vec![b'x'; size]);
        let frame = WsCommand::frame(Message::Binary(&payload));
        let WsCommand::Frame { frame: bytes, .. } = &frame else {
            unreachable!()
        };
        let per_client = bytes.len() * BURST;
        let mut buf = vec![0u8; per_client];
        group.throughput(Throughput::Bytes((per_client * CLIENTS) as u64));
        let variants = [
            ("shared_frame", frame.clone()),
            (
                "per_connection",
                WsCommand::Send {
                    kind: Opcode::Binary,
                    payload: payload.clone(),
                },
            ),
        ];
        for (name, command) in variants {
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| {
                    for _ in 0..BURST {
                        let command = command.clone();
                        handle
                            .run(move |lp| {
                                for id in lp.connection_ids() {
                                    lp.send_to(id, command.clone());
                                }
                            })
                            .unwrap();
                    }
                    for client in &mut clients {
                        client.read_exact(&mut buf).unwrap();
                    }
                })
            });
        }
    }
    group.finish();
    drop(clients);
    let _ = handle.stop();
}

criterion_group!(benches, bench);
criterion_main!(benches);
