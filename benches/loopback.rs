//! End-to-end round trips over loopback in one process: a server loop on
//! a thread, and a client connection driven by a second loop on the bench
//! thread. Each iteration is one message there and back. The raw TCP echo
//! is the baseline the WebSocket figures are read against.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsloop::client::WsUrl;
use wsloop::ws::Opcode;
use wsloop::{
    App, Config, ConnId, Context, EventLoop, Handler, Message, Protocol, Server, TcpEcho,
    WebSocket, WsCommand, WsProtocol,
};

struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let _ = ws.send(msg);
    }
}

/// Client side: sends each echo straight back until `remaining` runs out.
struct PingPong {
    expected: Bytes,
    remaining: u64,
    open: bool,
}

impl Handler for PingPong {
    fn on_open(&mut self, _ws: &mut WebSocket<'_>, _r: &wsloop::ws::Request) {
        self.open = true;
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        assert_eq!(msg.as_bytes(), &self.expected[..], "bad echo");
        self.remaining -= 1;
        if self.remaining > 0 {
            ws.send(msg).unwrap();
        }
    }
}

fn websocket_echo(c: &mut Criterion) {
    let config = Config::default().with_max_message_size(4 << 20);
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config.clone(), || Echo).unwrap();
    let addr = server.handle.local_addr();
    let url = WsUrl::parse(&format!("ws://{addr}/")).unwrap();
    let handler = PingPong {
        expected: Bytes::new(),
        remaining: 0,
        open: false,
    };
    let mut lp = EventLoop::new(App::new(handler, config)).unwrap();
    let id = lp
        .connect(addr, WsProtocol::client(url.client_request(&[])))
        .unwrap();
    while !lp.shared().handler.open {
        lp.turn(Some(Duration::from_millis(10))).unwrap();
    }

    let mut g = c.benchmark_group("ws_echo_loopback");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for size in [20usize, 1024, 16 << 10, 1 << 20] {
        let payload = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_custom(|iters| {
                lp.shared().handler.expected = payload.clone();
                lp.shared().handler.remaining = iters;
                let start = Instant::now();
                let send = WsCommand::Send {
                    kind: Opcode::Binary,
                    payload: payload.clone(),
                };
                lp.handle().send_to(id, send).unwrap();
                while lp.shared().handler.remaining > 0 {
                    lp.turn(None).unwrap();
                }
                start.elapsed()
            })
        });
    }
    g.finish();
    drop(lp);
    server.stop().unwrap();
}

/// Raw client: writes a chunk, waits for all of it to come back, repeats.
struct RawPingPong;

struct RawState {
    chunk: Vec<u8>,
    received: usize,
    remaining: u64,
}

impl Protocol for RawPingPong {
    type Shared = RawState;
    type Command = ();

    fn data_received(&mut self, cx: &mut Context<'_, Self>, data: &mut [u8]) -> usize {
        let (state, mut ops) = cx.split();
        state.received += data.len();
        if state.received >= state.chunk.len() {
            assert_eq!(state.received, state.chunk.len(), "raw echo overran");
            state.received = 0;
            state.remaining -= 1;
            if state.remaining > 0 {
                ops.transport().write(&state.chunk);
            }
        }
        data.len()
    }
}

fn raw_echo_server() -> (
    SocketAddr,
    wsloop::LoopHandle<TcpEcho>,
    thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let mut lp = EventLoop::<TcpEcho>::new(()).unwrap();
        let addr = lp
            .listen("127.0.0.1:0".parse().unwrap(), || TcpEcho)
            .unwrap();
        tx.send((addr, lp.handle())).unwrap();
        lp.run().unwrap();
    });
    let (addr, handle) = rx.recv().unwrap();
    (addr, handle, t)
}

fn tcp_echo(c: &mut Criterion) {
    let (addr, handle, server) = raw_echo_server();
    let state = RawState {
        chunk: Vec::new(),
        received: 0,
        remaining: 0,
    };
    let mut lp = EventLoop::<RawPingPong>::new(state).unwrap();
    let id: ConnId = lp.connect(addr, RawPingPong).unwrap();

    let mut g = c.benchmark_group("tcp_echo_loopback");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for size in [64usize, 64 << 10] {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_custom(|iters| {
                let state = lp.shared();
                state.chunk = vec![7; size];
                state.remaining = iters;
                let start = Instant::now();
                lp.with_conn(id, |_, cx| {
                    let (state, mut ops) = cx.split();
                    ops.transport().write(&state.chunk);
                })
                .expect("connection alive");
                while lp.shared().remaining > 0 {
                    lp.turn(None).unwrap();
                }
                start.elapsed()
            })
        });
    }
    g.finish();
    drop(lp);
    handle.stop().unwrap();
    server.join().unwrap();
}

criterion_group!(benches, tcp_echo, websocket_echo);
criterion_main!(benches);
