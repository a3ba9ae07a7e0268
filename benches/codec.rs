//! Micro-benchmarks of the sans-IO core: frame headers, masking, UTF-8
//! validation and the opening handshake.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use wsloop::ws::frame::{decode_header, FrameHeader};
use wsloop::ws::handshake::{
    accept_key, parse_request, response_101, HandshakeConfig, HeadScan, ServerHandshake, ServerStep,
};
use wsloop::ws::mask::{apply_mask, apply_mask_bytewise, extend_masked};
use wsloop::ws::reader::EventReader;
use wsloop::ws::utf8::Utf8Validator;
use wsloop::ws::{Event, Limits, Opcode, Role, Session};

fn quick<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    g
}

fn frame_headers(c: &mut Criterion) {
    let mut g = quick(c, "frame_header");
    g.throughput(Throughput::Elements(1));
    for (name, len) in [("7bit", 20u64), ("16bit", 1024), ("64bit", 1 << 20)] {
        let header = FrameHeader {
            fin: true,
            opcode: Opcode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: len,
        };
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| black_box(black_box(&header).encode()))
        });
        let (bytes, n) = header.encode();
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| black_box(decode_header(black_box(&bytes[..n]), true, u64::MAX)))
        });
    }
    g.finish();
}

fn masking(c: &mut Criterion) {
    let mut g = quick(c, "mask");
    for size in [20usize, 1024, 64 << 10, 1 << 20] {
        let mut buf = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("word", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), [0x12, 0x34, 0x56, 0x78], 1))
        });
        g.bench_with_input(BenchmarkId::new("bytewise", size), &size, |b, _| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), [0x12, 0x34, 0x56, 0x78], 1))
        });
        // A client's frame body: the payload copied into the output and
        // masked there, against masked while it is copied.
        let mut out = Vec::with_capacity(size);
        g.bench_with_input(BenchmarkId::new("copy_then_mask", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                out.extend_from_slice(black_box(&buf));
                apply_mask(&mut out, [0x12, 0x34, 0x56, 0x78], 0);
                black_box(out.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("masked_copy", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                extend_masked(&mut out, black_box(&buf), [0x12, 0x34, 0x56, 0x78]);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = quick(c, "utf8");
    let ascii = "the quick brown fox jumps over the lazy dog ".repeat(1500);
    let mixed = "grüße, 世界, ρ€ 🦀 ascii too ".repeat(1500);
    for (name, text) in [("ascii", &ascii), ("mixed", &mixed)] {
        let bytes = text.as_bytes();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("validator", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(bytes)).unwrap();
                v.finish().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("std_from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(bytes)).unwrap().len())
        });
    }
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut g = quick(c, "handshake");
    let request = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\nUser-Agent: bench\r\n\r\n";
    let config = HandshakeConfig::default();
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_request_and_response_101", |b| {
        b.iter(|| {
            let (req, _) = parse_request(black_box(request), &config).unwrap().unwrap();
            black_box(response_101(&req, None, &[]))
        })
    });
    // What a browser sends: twice the lines, and what the server does with
    // them on every connection (the head scan, the parse, the 101).
    let browser = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nConnection: Upgrade\r\n\
Pragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) \
AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\n\
Origin: http://127.0.0.1:9001\r\nSec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    g.bench_function("server_receive_browser", |b| {
        b.iter(|| {
            let step = ServerHandshake::new(&config).receive_scanned(
                black_box(browser),
                &mut HeadScan::default(),
                |_| None,
            );
            assert!(matches!(step, ServerStep::Upgraded { .. }));
            black_box(step)
        })
    });
    g.bench_function("accept_key", |b| {
        b.iter(|| black_box(accept_key(black_box("dGhlIHNhbXBsZSBub25jZQ=="))))
    });
    g.finish();
}

/// A server session's whole per-message path without the socket: 16
/// masked binary frames of one read decoded, unmasked in place and each
/// answered with its echo frame in one output buffer, as `wsloop echo`
/// does for 1 KiB messages 16 in flight.
fn session_echo(c: &mut Criterion) {
    let mut g = quick(c, "session");
    let (count, size) = (16, 1024);
    g.throughput(Throughput::Elements(count as u64));
    let mut client = Session::new(Role::Client, Limits::default());
    let mut wire = Vec::new();
    for i in 0..count {
        let payload = vec![i as u8; size];
        client.send(Opcode::Binary, &payload, &mut wire).unwrap();
    }
    let mut server = Session::new(Role::Server, Limits::default());
    let mut out = Vec::with_capacity(count * (size + 4));
    // The input is restored before each pass (untimed): decoding unmasks it.
    let mut input = wire.clone();
    g.bench_function("echo_16x1KiB", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                input.copy_from_slice(&wire);
                out.clear();
                let start = Instant::now();
                let mut reader = EventReader::new(&mut input);
                while let Some((_, event)) = reader.next(&mut server) {
                    if let Some(Event::Binary(payload)) = event {
                        server.send(Opcode::Binary, &payload, &mut out).unwrap();
                    }
                }
                black_box(out.len());
                spent += start.elapsed();
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    frame_headers,
    masking,
    utf8,
    handshake,
    session_echo
);
criterion_main!(benches);
