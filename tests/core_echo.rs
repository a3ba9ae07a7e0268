//! The TCP echo over real loopback sockets: byte-exactness under concurrency,
//! and the watermark contract with a reader that stops reading.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

use common::{pattern, spawn_server, wait_until};
use wsloop::{TcpEcho, READ_CHUNK};

/// Sends `data` on one thread while reading the echo on this one, so
/// neither side waits for the other; returns what came back before EOF.
fn echo_roundtrip(addr: std::net::SocketAddr, data: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
        data
    });
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    (sender.join().unwrap(), back)
}

#[test]
fn echoes_random_data_byte_exact_over_many_connections() {
    let server = spawn_server(|| ((), || TcpEcho));
    // 120 connections at once, sizes spread from 1 byte to 8 MiB.
    let sizes: Vec<usize> = (0..120)
        .map(|i| match i {
            0 => 1,
            1 => 8 << 20,
            2 => READ_CHUNK,
            3 => READ_CHUNK + 1,
            _ => {
                1 + (pattern(i as u64, 4)
                    .iter()
                    .map(|&b| b as usize)
                    .sum::<usize>()
                    * 997
                    * i)
                    % (1 << 20)
            }
        })
        .collect();
    let addr = server.addr;
    let clients: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| thread::spawn(move || echo_roundtrip(addr, pattern(i as u64 + 1, len))))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (sent, back) = client.join().unwrap();
        assert_eq!(back.len(), sent.len(), "connection {i}: length");
        assert!(back == sent, "connection {i}: bytes differ");
    }
    let stats = server.handle.stats();
    assert_eq!(stats.total, 120);
    wait_until("all connections closed", || server.handle.stats().open == 0);
    let total: u64 = sizes.iter().map(|&s| s as u64).sum();
    let stats = server.handle.stats();
    assert_eq!(stats.bytes_in, total);
    assert_eq!(stats.bytes_out, total);
}

#[test]
fn slow_reader_pauses_the_echo_and_memory_stays_bounded() {
    const TOTAL: usize = 64 << 20;
    let server = spawn_server(|| ((), || TcpEcho));
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        // Written in pieces so the expected data never has to exist whole.
        for i in 0..(TOTAL / (1 << 20)) {
            writer.write_all(&pattern(i as u64, 1 << 20)).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });

    // Nobody reads: the server's queue must cross the high watermark, the
    // echo must pause reading, and everything must then stall.
    let h = &server.handle;
    wait_until("pause_writing and pause_reading", || {
        let s = h.stats();
        s.pauses >= 1 && s.read_pauses >= 1
    });
    let stalled = h.stats();
    assert!(
        stalled.bytes_in < TOTAL as u64,
        "the server read everything without anyone reading"
    );

    // Now read it all back and compare piece by piece.
    let mut piece = vec![0u8; 1 << 20];
    for i in 0..(TOTAL / (1 << 20)) {
        stream.read_exact(&mut piece).unwrap();
        assert!(piece == pattern(i as u64, 1 << 20), "MiB {i} differs");
    }
    assert_eq!(
        stream.read(&mut piece).unwrap(),
        0,
        "expected EOF after the echo"
    );
    sender.join().unwrap();

    wait_until("connection closed", || h.stats().open == 0);
    let s = h.stats();
    assert!(s.resumes >= 1, "resume_writing never fired: {s:?}");
    assert_eq!(
        s.pauses, s.resumes,
        "every pause must be matched by one resume: {s:?}"
    );
    let bound = (64 * 1024 + READ_CHUNK) as u64;
    assert!(
        s.peak_queued <= bound,
        "peak queue {} above high watermark + one read ({bound})",
        s.peak_queued
    );
    assert_eq!(s.bytes_out, TOTAL as u64);
}
