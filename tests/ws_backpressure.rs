//! The backpressure contract end to end: a client that sends without
//! reading is slowed by TCP itself, and the server holds a bounded amount
//! for it, whatever it sends.

mod common;

use std::io::{BufReader, Write};
use std::thread;

use common::raw::{self, frame, read_frame};
use common::Echo;
use common::{pattern, wait_until};
use wsloop::{Config, Server, READ_CHUNK};

#[test]
fn a_client_that_does_not_read_is_held_to_a_bounded_queue() {
    const MESSAGE: usize = 64 * 1024;
    const COUNT: usize = 3200; // 200 MiB
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        Echo::strict,
    )
    .unwrap();
    let h = server.handle.clone();
    let stream = raw::connect(h.local_addr());
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        for i in 0..COUNT {
            writer
                .write_all(&frame(0x82, &pattern(i as u64 % 64, MESSAGE)))
                .unwrap();
        }
    });

    wait_until("server paused reading for the slow client", || {
        let s = h.loop_stats();
        s.pauses >= 1 && s.read_pauses >= 1
    });
    let stalled_at = h.loop_stats().bytes_in;
    assert!(
        stalled_at < (COUNT * MESSAGE) as u64 / 2,
        "the server kept reading: {stalled_at} bytes"
    );

    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let expected: Vec<Vec<u8>> = (0..64).map(|i| pattern(i, MESSAGE)).collect();
    for i in 0..COUNT {
        let echo = read_frame(&mut reader).unwrap().expect("echo");
        assert_eq!(echo.opcode, 2);
        assert!(
            echo.payload == expected[i % 64],
            "message {i} differs or is out of order"
        );
    }
    sender.join().unwrap();

    let s = h.loop_stats();
    // What the server may hold for one peer: the high watermark, plus the
    // echoes of one read's worth of messages, plus one message in assembly.
    let bound = (64 * 1024 + READ_CHUNK + MESSAGE + 1024) as u64;
    assert!(
        s.peak_queued <= bound,
        "peak queue {} over {bound}",
        s.peak_queued
    );
    assert!(s.resumes >= 1);
    wait_until("pauses and resumes balance", || {
        let s = h.loop_stats();
        s.pauses == s.resumes
    });
    drop(reader);
    server.stop().unwrap();
}
