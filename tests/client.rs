//! Our client, blocking and event-loop driven, against an independent
//! server (tungstenite), against raw-byte servers that misbehave on
//! purpose, and against our own server.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::Echo;
use common::{pattern, DEADLINE};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use wsloop::client::{self, ClientError, ConnectOptions, Incoming, Received, WsUrl};
use wsloop::ws::Request;
use wsloop::{App, Config, EventLoop, Handler, Message, Opcode, Server, WebSocket, WsProtocol};

/// Accepts one connection on a fresh loopback port and hands it to `serve`
/// on a thread. The thread's result is checked by joining it.
fn one_shot_server(
    serve: impl FnOnce(TcpStream) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        serve(stream);
    });
    (addr, t)
}

/// A tungstenite server for one connection.
fn tungstenite_server(
    serve: impl FnOnce(&mut tungstenite::WebSocket<TcpStream>) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    one_shot_server(move |stream| {
        let mut ws = tungstenite::accept(stream).expect("tungstenite handshake");
        serve(&mut ws);
    })
}

/// Reads a request head and returns its `Sec-WebSocket-Key`.
fn read_request_key(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "request head cut short");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .expect("no Sec-WebSocket-Key")
}

/// A server that answers the upgrade with `answer(key)`, then waits for the
/// client to hang up.
fn answering_server(answer: impl FnOnce(&str) -> String + Send + 'static) -> SocketAddr {
    let (addr, _t) = one_shot_server(move |mut stream| {
        let key = read_request_key(&mut stream);
        stream.write_all(answer(&key).as_bytes()).unwrap();
        let _ = stream.read(&mut [0u8; 64]);
    });
    addr
}

fn upgrade_with_accept(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

fn good_upgrade(key: &str) -> String {
    upgrade_with_accept(&tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/test")
}

// ---------------------------------------------------------------------------
// The blocking client
// ---------------------------------------------------------------------------

#[test]
fn blocking_client_echoes_with_tungstenite_server() {
    let (addr, server) = tungstenite_server(|ws| loop {
        match ws.read() {
            Ok(m) if m.is_text() || m.is_binary() => ws.send(m).unwrap(),
            Ok(_) => {}
            Err(_) => return,
        }
    });
    let mut c = client::connect(&url(addr)).unwrap();
    c.send_text("héllo").unwrap();
    assert_eq!(c.recv().unwrap(), Received::Text("héllo".into()));
    for len in [0, 125, 126, 65535, 65536, 1 << 20] {
        let data = pattern(len as u64, len);
        c.send_binary(&data).unwrap();
        assert_eq!(c.recv().unwrap().as_bytes(), &data[..], "length {len}");
    }
    c.close(1000, "done").unwrap();
    assert!(c.is_closed());
    assert!(matches!(
        c.send_text("late"),
        Err(ClientError::Closed { .. })
    ));
    server.join().unwrap();
}

#[test]
fn blocking_client_reassembles_fragments_and_answers_pings() {
    let (addr, server) = tungstenite_server(|ws| {
        let parts: [(&str, OpCode, bool); 3] = [
            ("frag", OpCode::Data(Data::Text), false),
            ("men", OpCode::Data(Data::Continue), false),
            ("ted", OpCode::Data(Data::Continue), true),
        ];
        for (i, (text, op, fin)) in parts.into_iter().enumerate() {
            ws.send(tungstenite::Message::Frame(Frame::message(
                text.as_bytes().to_vec(),
                op,
                fin,
            )))
            .unwrap();
            if i == 0 {
                // A ping between fragments is legal and must be answered.
                ws.send(tungstenite::Message::Ping(b"are you there".to_vec().into()))
                    .unwrap();
            }
        }
        // The client's pong, then its text back.
        let mut got_pong = false;
        loop {
            match ws.read().unwrap() {
                tungstenite::Message::Pong(p) => {
                    assert_eq!(&p[..], b"are you there");
                    got_pong = true;
                }
                tungstenite::Message::Text(t) => {
                    assert_eq!(t.as_str(), "fragmented");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(got_pong, "no pong before the echo");
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    let mut c = client::connect(&url(addr)).unwrap();
    let msg = c.recv().unwrap();
    assert_eq!(msg.as_text(), Some("fragmented"));
    c.send(msg.as_message()).unwrap();
    assert!(matches!(
        c.recv(),
        Err(ClientError::Closed { code: 1005, .. })
    ));
    server.join().unwrap();
}

#[test]
fn blocking_client_reports_server_initiated_close() {
    let (addr, server) = tungstenite_server(|ws| {
        ws.close(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "go away".into(),
        }))
        .unwrap();
        // Our close is answered; tungstenite then reports the end.
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return,
                Err(e) => panic!("client did not answer the close: {e}"),
            }
        }
    });
    let mut c = client::connect(&url(addr)).unwrap();
    match c.recv() {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!((code, reason.as_str()), (4000, "go away"));
        }
        other => panic!("expected a close, got {other:?}"),
    }
    // Every later call says the same.
    assert!(matches!(
        c.recv(),
        Err(ClientError::Closed { code: 4000, .. })
    ));
    c.close(1000, "").unwrap();
    server.join().unwrap();
}

#[test]
fn blocking_client_refuses_a_bad_accept_key() {
    let addr = answering_server(|_| upgrade_with_accept("dGhlIHNhbXBsZSBub25jZQ=="));
    let e = client::connect(&url(addr)).unwrap_err();
    assert!(matches!(e, ClientError::Handshake(_)), "{e:?}");
    assert!(e.to_string().contains("Sec-WebSocket-Accept"), "{e}");
}

#[test]
fn blocking_client_refuses_a_non_101_answer() {
    for (answer, status) in [(NOT_FOUND, "404"), ("HTTP/1.1 200 OK\r\n\r\n", "200")] {
        let addr = answering_server(move |_| answer.to_string());
        let e = client::connect(&url(addr)).unwrap_err();
        assert!(matches!(e, ClientError::Handshake(_)), "{e:?}");
        assert!(e.to_string().contains(status), "{e}");
    }
}

#[test]
fn blocking_client_times_out_reads_and_stays_usable() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        Echo::strict,
    )
    .unwrap();
    let mut c = client::connect(&url(server.handle.local_addr())).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let e = c.recv().unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    c.set_read_timeout(None).unwrap();
    c.send_text("still here").unwrap();
    assert_eq!(c.recv().unwrap().as_text(), Some("still here"));
    c.close(1000, "bye").unwrap();
    server.stop().unwrap();
}

/// Takes one message with `recv_part`, checking the parts' marks and that
/// none is larger than one read (so the client never held the message);
/// returns the joined bytes and how many parts there were.
fn recv_in_parts(c: &mut client::Client, text: bool) -> (Vec<u8>, usize) {
    let mut joined = Vec::new();
    let mut parts = 0;
    loop {
        let part = match c.recv_part().unwrap() {
            Incoming::Part(part) => part,
            Incoming::Message(m) => panic!("a whole message of {} bytes", m.as_bytes().len()),
        };
        assert_eq!(part.is_first(), parts == 0, "part {parts}: first mark");
        assert_eq!(part.is_text(), text);
        // One read of at most 64 KiB, behind at most a partial header.
        assert!(
            part.len() <= 64 * 1024 + 14,
            "a part of {} bytes",
            part.len()
        );
        joined.extend_from_slice(part.as_bytes());
        parts += 1;
        if part.is_last() {
            return (joined, parts);
        }
    }
}

#[test]
fn blocking_client_takes_and_sends_large_messages_in_parts_with_tungstenite() {
    let big = pattern(31, 3 << 20);
    let fragmented = pattern(32, 1 << 20);
    let text = common::mixed_text(2 << 20);
    let upload = pattern(33, 5 << 20);
    let (expected_upload, sent) = (
        upload.clone(),
        (big.clone(), fragmented.clone(), text.clone()),
    );
    let (addr, server) = tungstenite_server(move |ws| {
        let (big, fragmented, text) = sent;
        ws.send(tungstenite::Message::Binary(big.into())).unwrap();
        common::peer::send_fragmented_with_pings(ws, &fragmented, 300 * 1024);
        ws.send(tungstenite::Message::Text("small".into())).unwrap();
        ws.send(tungstenite::Message::Text(text.into())).unwrap();
        // The client's upload, sent fragment by fragment, arrives as one
        // message; its pongs come first.
        loop {
            match ws.read().unwrap() {
                tungstenite::Message::Pong(_) => {}
                tungstenite::Message::Binary(b) => {
                    assert!(b[..] == expected_upload[..], "upload differs");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    let options = ConnectOptions {
        parts_from: 64 * 1024,
        ..ConnectOptions::default()
    };
    let mut c = client::connect_with(&url(addr), &options).unwrap();

    let (got, parts) = recv_in_parts(&mut c, false);
    assert!(got == big, "the 3 MiB message differs");
    assert!(parts >= 48, "3 MiB in {parts} parts");
    // Fragments with pings between them: the pings are answered on the way.
    let (got, _) = recv_in_parts(&mut c, false);
    assert!(got == fragmented, "the fragmented message differs");
    // Below `parts_from`: whole.
    assert_eq!(
        c.recv_part().unwrap(),
        Incoming::Message(Received::Text("small".into()))
    );
    // Text parts may end inside a character; together they are the text.
    let (got, _) = recv_in_parts(&mut c, true);
    assert!(got == text.as_bytes(), "the text differs");

    for (i, chunk) in upload.chunks(1 << 20).enumerate() {
        let fin = (i + 1) << 20 >= upload.len();
        if i > 0 {
            // Another kind in the middle of a message is refused, and
            // nothing is sent for it.
            assert!(c.send_fragment(Opcode::Text, chunk, fin).is_err());
            // While a message is under way, no other message can go out.
            assert!(c.send_text("between").is_err());
        }
        c.send_fragment(Opcode::Binary, chunk, fin).unwrap();
    }
    assert!(matches!(
        c.recv(),
        Err(ClientError::Closed { code: 1005, .. })
    ));
    server.join().unwrap();
}

#[test]
fn blocking_client_recv_joins_parts_and_keeps_them_across_a_read_timeout() {
    let message = pattern(34, 400 * 1024);
    let frame = common::raw::frame_with(0x82, false, &message);
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let (addr, server) = tungstenite_server(move |ws| {
        // Half the frame, then the rest only when the test says so.
        let stream = ws.get_mut();
        let half = frame.len() / 2;
        stream.write_all(&frame[..half]).unwrap();
        wait.recv().unwrap();
        stream.write_all(&frame[half..]).unwrap();
        while ws.read().is_ok() {}
    });
    let options = ConnectOptions {
        parts_from: 64 * 1024,
        ..ConnectOptions::default()
    };
    let mut c = client::connect_with(&url(addr), &options).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The first half comes in parts that `recv` joins, then the read times
    // out: the parts so far stay with the client.
    let e = c.recv().unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    go_on.send(()).unwrap();
    c.set_read_timeout(None).unwrap();
    let got = c.recv().unwrap();
    assert!(
        got == Received::Binary(message),
        "the joined message differs"
    );
    c.close(1000, "bye").unwrap();
    server.join().unwrap();
}

#[test]
fn blocking_client_negotiates_a_subprotocol_with_our_server() {
    let mut config = Config::default();
    config.handshake.subprotocols = vec!["chat".into()];
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::strict).unwrap();
    let options = ConnectOptions {
        subprotocols: vec!["superchat".into(), "chat".into()],
        ..ConnectOptions::default()
    };
    let mut c = client::connect_with(&url(server.handle.local_addr()), &options).unwrap();
    assert_eq!(c.subprotocol(), Some("chat"));
    c.send_binary(b"\x00\xff").unwrap();
    assert_eq!(c.recv().unwrap(), Received::Binary(vec![0, 255]));
    c.close(1000, "").unwrap();
    server.stop().unwrap();
}

#[test]
fn blocking_client_refuses_an_unoffered_subprotocol() {
    let addr = answering_server(|key| {
        good_upgrade(key).replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: evil\r\n\r\n")
    });
    let e = client::connect(&url(addr)).unwrap_err();
    assert!(e.to_string().contains("evil"), "{e}");
}

#[test]
fn blocking_client_refuses_bad_urls() {
    // wss:// is a URL like any other: here nobody listens.
    let e = client::connect("wss://127.0.0.1:1/").unwrap_err();
    assert!(matches!(e, ClientError::Io(_)), "{e:?}");
    let e = client::connect("http://127.0.0.1:1/").unwrap_err();
    assert!(matches!(e, ClientError::InvalidUrl(_)), "{e:?}");
}

// ---------------------------------------------------------------------------
// The client role on the event loop
// ---------------------------------------------------------------------------

/// Records what happens to client connections; sends `to_send` on open and
/// closes once every reply is in.
#[derive(Default)]
struct Recorder {
    to_send: Vec<Vec<u8>>,
    opened: Option<Request>,
    received: Vec<Vec<u8>>,
    closed: Option<(u16, String)>,
    connect_error: Option<String>,
    close_when_done: bool,
}

impl Handler for Recorder {
    fn on_open(&mut self, ws: &mut WebSocket<'_>, request: &Request) {
        self.opened = Some(request.clone());
        for m in &self.to_send {
            ws.send_binary(m).unwrap();
        }
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.received.push(msg.as_bytes().to_vec());
        if self.close_when_done && self.received.len() == self.to_send.len() {
            ws.close(1000, "thanks").unwrap();
        }
    }

    fn on_close(&mut self, _ws: &mut WebSocket<'_>, code: u16, reason: &str) {
        assert!(self.closed.is_none(), "on_close twice");
        self.closed = Some((code, reason.to_string()));
    }

    fn on_connect_error(&mut self, _ws: &mut WebSocket<'_>, reason: &str) {
        assert!(self.connect_error.is_none(), "on_connect_error twice");
        self.connect_error = Some(reason.to_string());
    }
}

type ClientLoop = EventLoop<WsProtocol<Recorder>>;

fn client_loop(recorder: Recorder, config: Config) -> ClientLoop {
    EventLoop::new(App::new(recorder, config)).unwrap()
}

fn connect(lp: &mut ClientLoop, addr: SocketAddr, subprotocols: &[&str]) {
    let url = WsUrl::parse(&url(addr)).unwrap();
    lp.connect(addr, WsProtocol::client(url.client_request(subprotocols)))
        .unwrap();
}

/// Turns the loop until `cond` holds for the recorder.
fn run_until(lp: &mut ClientLoop, what: &str, mut cond: impl FnMut(&Recorder, usize) -> bool) {
    let start = Instant::now();
    loop {
        let open = lp.open_connections();
        if cond(&lp.shared().handler, open) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        lp.turn(Some(Duration::from_millis(20))).unwrap();
    }
}

#[test]
fn loop_client_echoes_and_closes_cleanly_with_our_server() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        Echo::strict,
    )
    .unwrap();
    let to_send: Vec<Vec<u8>> = [20, 1024, 16 << 10, 1 << 20]
        .iter()
        .map(|&n| pattern(n as u64, n))
        .collect();
    let recorder = Recorder {
        to_send: to_send.clone(),
        close_when_done: true,
        ..Recorder::default()
    };
    let mut lp = client_loop(recorder, Config::default());
    connect(&mut lp, server.handle.local_addr(), &[]);
    // The server echoes our close code; the server then closes TCP, and
    // only then does our side let go of the connection.
    run_until(&mut lp, "close and disconnect", |r, open| {
        r.closed.is_some() && open == 0
    });
    let r = &lp.shared().handler;
    assert_eq!(r.received, to_send);
    assert_eq!(r.closed.as_ref().unwrap().0, 1000);
    assert_eq!(r.opened.as_ref().unwrap().path, "/test");
    assert!(r.connect_error.is_none());
    server.stop().unwrap();
}

#[test]
fn loop_client_handles_fragments_pings_and_server_close_from_tungstenite() {
    let (addr, server) = tungstenite_server(|ws| {
        // Wait for the client's hello so the test knows on_open ran.
        assert_eq!(ws.read().unwrap().into_data().as_ref(), b"hello");
        ws.send(tungstenite::Message::Frame(Frame::message(
            b"ab".to_vec(),
            OpCode::Data(Data::Binary),
            false,
        )))
        .unwrap();
        ws.send(tungstenite::Message::Ping(b"p".to_vec().into()))
            .unwrap();
        ws.send(tungstenite::Message::Frame(Frame::message(
            b"cd".to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .unwrap();
        match ws.read().unwrap() {
            tungstenite::Message::Pong(p) => assert_eq!(&p[..], b"p"),
            other => panic!("expected a pong, got {other:?}"),
        }
        ws.close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "server says bye".into(),
        }))
        .unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return,
                Err(e) => panic!("client did not answer the close: {e}"),
            }
        }
    });
    let recorder = Recorder {
        to_send: vec![b"hello".to_vec()],
        ..Recorder::default()
    };
    let mut lp = client_loop(recorder, Config::default());
    connect(&mut lp, addr, &[]);
    run_until(&mut lp, "server close and disconnect", |r, open| {
        r.closed.is_some() && open == 0
    });
    server.join().unwrap();
    let r = &lp.shared().handler;
    assert_eq!(r.received, vec![b"abcd".to_vec()]);
    assert_eq!(r.closed, Some((4001, "server says bye".to_string())));
}

#[test]
fn loop_client_reports_bad_handshakes_through_on_connect_error() {
    let cases: Vec<(SocketAddr, &str)> = vec![
        (
            answering_server(|_| upgrade_with_accept("dGhlIHNhbXBsZSBub25jZQ==")),
            "Sec-WebSocket-Accept",
        ),
        (answering_server(|_| NOT_FOUND.to_string()), "404"),
        (
            answering_server(|_| "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string()),
            "200",
        ),
        (
            answering_server(|key| {
                good_upgrade(key).replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: evil\r\n\r\n")
            }),
            "evil",
        ),
    ];
    for (addr, expected) in cases {
        let mut lp = client_loop(Recorder::default(), Config::default());
        connect(&mut lp, addr, &["chat"]);
        run_until(&mut lp, "connect error", |r, open| {
            r.connect_error.is_some() && open == 0
        });
        let r = &lp.shared().handler;
        let reason = r.connect_error.as_deref().unwrap();
        assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
        assert!(r.opened.is_none() && r.closed.is_none());
    }
}

#[test]
fn loop_client_reports_refused_and_silent_servers() {
    let (_bound, refused) = common::refusing_addr();
    let mut lp = client_loop(Recorder::default(), Config::default());
    connect(&mut lp, refused, &[]);
    run_until(&mut lp, "refused", |r, _| r.connect_error.is_some());

    // A server that accepts but never answers: the handshake timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Config {
        handshake_timeout: Some(Duration::from_millis(100)),
        ..Config::default()
    };
    let mut lp = client_loop(Recorder::default(), config);
    connect(&mut lp, silent.local_addr().unwrap(), &[]);
    run_until(&mut lp, "handshake timeout", |r, open| {
        r.connect_error.is_some() && open == 0
    });
    let reason = lp.shared().handler.connect_error.clone().unwrap();
    assert!(reason.contains("in time"), "{reason}");
    drop(silent);
}

#[test]
fn loop_client_negotiates_a_subprotocol() {
    let mut config = Config::default();
    config.handshake.subprotocols = vec!["chat".into()];
    let server = Server::spawn("127.0.0.1:0".parse().unwrap(), config, Echo::strict).unwrap();
    let mut lp = client_loop(Recorder::default(), Config::default());
    connect(&mut lp, server.handle.local_addr(), &["superchat", "chat"]);
    run_until(&mut lp, "open", |r, _| r.opened.is_some());
    let opened = lp.shared().handler.opened.clone().unwrap();
    assert_eq!(opened.subprotocol.as_deref(), Some("chat"));
    // Hang up first, so the server's graceful stop has nobody to wait for.
    drop(lp);
    server.stop().unwrap();
}
