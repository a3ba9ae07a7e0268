//! Every protocol violation fails the connection with its RFC 6455 close
//! code; checked with hand-made frames on raw sockets.

mod common;

use std::io::Write;

use common::raw::{self, frame, frame_with, read_close_code, read_frame};
use common::Echo;
use wsloop::{Config, RunningServer, Server, WsCounters};

fn start() -> RunningServer<Echo> {
    let config = Config::default().with_max_message_size(64 * 1024);
    Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::strict).unwrap()
}

/// Sends `bytes` after the handshake and returns the close code the server answers with.
fn close_code_for(server: &RunningServer<Echo>, bytes: &[u8]) -> Option<u16> {
    let mut stream = raw::connect(server.handle.local_addr());
    stream.write_all(bytes).unwrap();
    read_close_code(&mut stream)
}

#[test]
fn framing_violations_close_with_1002() {
    let server = start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked client frame", frame_with(0x81, false, b"hi")),
        ("RSV1 without extension", frame(0xC1, b"hi")),
        ("RSV2", frame(0xA1, b"hi")),
        ("reserved data opcode 3", frame(0x83, b"")),
        ("reserved control opcode 0xB", frame(0x8B, b"")),
        ("ping over 125 bytes", frame(0x89, &[0; 126])),
        ("fragmented ping", frame(0x09, b"x")),
        ("continuation with nothing to continue", frame(0x80, b"x")),
        (
            "new data frame inside a fragmented message",
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
        ),
        ("close with a 1-byte payload", frame(0x88, &[3])),
        (
            "close code 1005 on the wire",
            frame(0x88, &1005u16.to_be_bytes()),
        ),
        (
            "close code 1006 on the wire",
            frame(0x88, &1006u16.to_be_bytes()),
        ),
        ("close code 999", frame(0x88, &999u16.to_be_bytes())),
        ("close code 1004", frame(0x88, &1004u16.to_be_bytes())),
        ("close code 1015", frame(0x88, &1015u16.to_be_bytes())),
        ("close code 5000", frame(0x88, &5000u16.to_be_bytes())),
    ];
    for (what, bytes) in &cases {
        assert_eq!(close_code_for(&server, bytes), Some(1002), "{what}");
    }
    common::wait_until("errors counted", || {
        WsCounters::get(&server.handle.counters().protocol_errors) == cases.len() as u64
    });
    server.stop().unwrap();
}

#[test]
fn valid_close_codes_are_echoed() {
    let server = start();
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
    ] {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye 👋".as_bytes());
        assert_eq!(close_code_for(&server, &frame(0x88, &payload)), Some(code));
    }
    // An empty close is answered with an empty close.
    let mut stream = raw::connect(server.handle.local_addr());
    stream.write_all(&frame(0x88, b"")).unwrap();
    let reply = read_frame(&mut stream).unwrap().unwrap();
    assert_eq!((reply.opcode, reply.payload.len()), (8, 0));
    server.stop().unwrap();
}

#[test]
fn invalid_utf8_closes_with_1007() {
    let server = start();
    assert_eq!(
        close_code_for(&server, &frame(0x81, &[0xff])),
        Some(1007),
        "invalid byte"
    );
    assert_eq!(
        close_code_for(&server, &frame(0x81, &[0xed, 0xa0, 0x80])),
        Some(1007),
        "surrogate"
    );
    assert_eq!(
        close_code_for(&server, &frame(0x81, &[0xe2, 0x82])),
        Some(1007),
        "truncated at the end"
    );
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.push(0xc0);
    assert_eq!(
        close_code_for(&server, &frame(0x88, &reason)),
        Some(1007),
        "close reason"
    );
    server.stop().unwrap();
}

#[test]
fn invalid_utf8_fails_on_the_fragment_that_makes_it_invalid() {
    let server = start();
    let mut stream = raw::connect(server.handle.local_addr());
    // "κ" is CE BA. The first fragment ends inside a valid sequence, which
    // must not fail; the second starts with a byte that cannot continue it.
    stream.write_all(&frame(0x01, &[b'o', b'k', 0xce])).unwrap();
    stream.write_all(&frame(0x00, &[0x41, b'x'])).unwrap();
    // No final fragment is ever sent: the close must come anyway.
    assert_eq!(read_close_code(&mut stream), Some(1007));
    server.stop().unwrap();
}

#[test]
fn messages_over_the_limit_close_with_1009() {
    let server = start();
    assert_eq!(
        close_code_for(&server, &frame(0x82, &vec![0; 64 * 1024 + 1])),
        Some(1009),
        "one frame"
    );
    let fragments = [frame(0x02, &vec![0; 40_000]), frame(0x80, &vec![0; 40_000])].concat();
    assert_eq!(
        close_code_for(&server, &fragments),
        Some(1009),
        "fragments adding up"
    );
    // Exactly at the limit is fine.
    let mut stream = raw::connect(server.handle.local_addr());
    stream.write_all(&frame(0x82, &vec![5; 64 * 1024])).unwrap();
    let echo = read_frame(&mut stream).unwrap().unwrap();
    assert_eq!(echo.payload.len(), 64 * 1024);
    drop(stream);
    server.stop().unwrap();
}
