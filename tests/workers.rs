//! `--workers N`: several event loops on one port. Connections spread over
//! the workers (each one's share is in its stats), a handle reaches every
//! connection on every worker, the connection limit is a total, and a
//! graceful shutdown closes every connection of every worker with 1001.
//! The peers are tungstenite clients and raw sockets.

mod chat_client;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use std::sync::Arc;

use chat_client::User;
use common::process::Process;
use common::raw::{self, close_payload, Raw, CLOSE, TEXT};
use common::{wait_until, DEADLINE};
use serde_json::json;
use tungstenite::protocol::frame::coding::CloseCode;
use wsloop::chat::{Chat, ServerCell, SharedRoom};
use wsloop::{Config, Message, RunningServer, Server};

use common::peer::{connect, read_text, Client, Quiet};

fn two_workers() -> RunningServer<Quiet> {
    Server::spawn_workers("127.0.0.1:0".parse().unwrap(), Config::default(), 2, |_| {
        Quiet
    })
    .unwrap()
}

/// 40 connections to a 2-worker server: the kernel's reuseport hash gives
/// each worker some (all on one worker has probability 2^-39), and the
/// stats, the connection list and the ids all agree on who serves whom.
#[test]
fn connections_spread_over_workers_and_ids_name_their_worker() {
    let server = two_workers();
    let handle = server.handle.clone();
    assert_eq!(handle.workers(), 2);
    let mut clients: Vec<Client> = (0..40).map(|_| connect(handle.local_addr())).collect();
    wait_until("40 connections in the stats", || {
        handle.loop_stats().open == 40
    });
    let per_worker: Vec<u64> = handle.worker_stats().iter().map(|s| s.open).collect();
    eprintln!("connections per worker: {per_worker:?}");
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");

    let list = handle.connections().unwrap();
    assert_eq!(list.len(), 40);
    for (worker, &open) in per_worker.iter().enumerate() {
        let listed = list.iter().filter(|c| c.worker == worker).count() as u64;
        assert_eq!(listed, open);
    }
    let mut ids: Vec<_> = list.iter().map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "ids are unique across workers");

    // A send by id reaches exactly that client, whichever worker it is on.
    for info in &list {
        assert_eq!(handle.worker_of(info.id), info.worker);
        handle
            .send(info.id, Message::Text(&format!("to {}", info.peer)))
            .unwrap();
    }
    for ws in &mut clients {
        let me = ws.get_ref().local_addr().unwrap();
        assert_eq!(read_text(ws), format!("to {me}"));
    }
    drop(clients);
    server.stop().unwrap();
}

/// One broadcast from another thread reaches every client of every
/// worker, and several broadcasts arrive in the order they were made.
#[test]
fn a_broadcast_reaches_connections_on_every_worker_in_order() {
    let server = two_workers();
    let handle = server.handle.clone();
    let mut clients: Vec<Client> = (0..20).map(|_| connect(handle.local_addr())).collect();
    wait_until("20 connections", || handle.loop_stats().open == 20);
    let per_worker: Vec<u64> = handle.worker_stats().iter().map(|s| s.open).collect();
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
    for i in 0..50 {
        handle
            .broadcast(Message::Text(&format!("news {i}")))
            .unwrap();
    }
    for ws in &mut clients {
        for i in 0..50 {
            assert_eq!(read_text(ws), format!("news {i}"));
        }
    }
    drop(clients);
    server.stop().unwrap();
}

/// Stopping a 2-worker server closes the connections of both workers with
/// 1001, and by the time any client has its close frame the port refuses
/// new connections.
#[test]
fn stop_closes_every_connection_of_every_worker_with_1001() {
    let server = two_workers();
    let handle = server.handle.clone();
    let addr = handle.local_addr();
    let mut clients: Vec<Client> = (0..20).map(|_| connect(addr)).collect();
    wait_until("20 connections", || handle.loop_stats().open == 20);
    assert!(handle.worker_stats().iter().all(|s| s.open > 0));
    let stopper = std::thread::spawn(move || server.stop());
    for ws in &mut clients {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Away)
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    let refused = TcpStream::connect(addr).expect_err("still accepting");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    for ws in &mut clients {
        // Answering the close lets the server finish the handshake.
        let _ = ws.flush();
        while ws.read().is_ok() {}
    }
    stopper.join().unwrap().unwrap();
}

/// The binary: `wsloop echo --workers 2` echoes on both workers, logs each
/// worker's share, and on SIGTERM closes everything with 1001 and exits 0.
#[test]
fn echo_binary_with_two_workers_shuts_down_gracefully() {
    let (mut server, addr) = Process::wsloop(&["echo", "--addr", "127.0.0.1:0", "--workers", "2"]);
    let mut raws: Vec<Raw> = (0..16).map(|_| Raw::open(addr)).collect();
    for (i, raw) in raws.iter_mut().enumerate() {
        let text = format!("hello {i}");
        raw.send(TEXT, text.as_bytes()).unwrap();
        assert_eq!(raw.recv(), Some((TEXT, text.into_bytes())));
    }
    server.signal(libc::SIGTERM);
    for raw in &mut raws {
        assert_eq!(raw.recv_close().map(|(code, _)| code), Some(1001));
        raw.send(CLOSE, &close_payload(1001)).unwrap();
        raw.read_to_eof();
    }
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(server.log_lines("2 workers").len(), 1);
    // The log is read on another thread: its last lines may lag the exit.
    wait_until("one line per worker", || {
        server.log_lines("connection(s) served").len() == 2
    });
    let shares: Vec<u64> = server
        .log_lines("connection(s) served")
        .iter()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "connection(s)").unwrap();
            words[at - 1].parse().unwrap()
        })
        .collect();
    assert_eq!(shares.iter().sum::<u64>(), 16);
}

/// `--max-connections` counts all workers together: with a limit of 4 and
/// 12 connections spread over two workers, exactly 4 are upgraded and the
/// others get 503 with Retry-After, whichever worker they landed on.
#[test]
fn max_connections_is_a_total_across_workers() {
    let (_server, addr) = Process::wsloop(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--max-connections",
        "4",
    ]);
    let mut streams: Vec<TcpStream> = (0..12)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            s
        })
        .collect();
    let mut upgraded = 0;
    let mut busy = 0;
    for s in &mut streams {
        // A refused connection may already be closing: its 503 is read anyway.
        let _ = s.write_all(&raw::request(addr));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        if head.starts_with("HTTP/1.1 101") {
            upgraded += 1;
        } else {
            assert!(head.starts_with("HTTP/1.1 503"), "{head}");
            assert!(head.contains("Retry-After: 1"), "{head}");
            busy += 1;
        }
    }
    assert_eq!((upgraded, busy), (4, 8));
}

/// `wsloop tcp-echo --workers 2` echoes on every connection and exits 0 on
/// SIGTERM.
#[test]
fn tcp_echo_binary_with_two_workers() {
    let (mut server, addr) =
        Process::wsloop(&["tcp-echo", "--addr", "127.0.0.1:0", "--workers", "2"]);
    for i in 0..8 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let text = format!("bytes {i}");
        s.write_all(text.as_bytes()).unwrap();
        let mut back = vec![0; text.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, text.as_bytes());
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().code(), Some(0));
    wait_until("one line per worker", || {
        server.log_lines("connection(s) served").len() == 2
    });
}

/// One chat room over two workers: users on both workers see each login
/// with the whole user list, every message, and each departure (explicit or
/// by disconnect); a name taken on one worker is refused on the other.
#[test]
fn the_chat_keeps_one_room_across_workers() {
    let cell = ServerCell::default();
    let room = Arc::new(SharedRoom::new(cell.clone()));
    let config = Config::default();
    let server = Server::spawn_workers("127.0.0.1:0".parse().unwrap(), config, 2, move |worker| {
        Chat::new().in_room(room.clone(), worker)
    })
    .unwrap();
    let handle = server.handle.clone();
    let _ = cell.set(handle.clone());
    let addr = handle.local_addr();

    // Users join one by one; each newcomer's login lists everyone so far,
    // and everyone already in hears it.
    let mut users: Vec<User> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for i in 0..12 {
        let name = format!("u{i:02}");
        let (user, login) = User::join(addr, &name);
        names.push(name);
        assert_eq!(login["user_list"], json!(names));
        for other in &mut users {
            assert_eq!(other.recv(), login);
        }
        users.push(user);
    }
    let per_worker: Vec<u64> = handle.worker_stats().iter().map(|s| s.open).collect();
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");

    // A taken name is refused whichever worker the newcomer lands on.
    for _ in 0..4 {
        let mut dup = User::connect(addr);
        dup.send(json!({"type": "register", "uuid": "u00", "content": "again"}));
        assert_eq!(dup.recv()["type"], "error");
    }

    // Each user says something; everyone hears all of it, each sender's
    // messages in the order sent.
    for (i, user) in users.iter_mut().enumerate() {
        user.say(&format!("first from {i}"));
        user.say(&format!("second from {i}"));
    }
    for user in &mut users {
        let mut next = [0; 12];
        for _ in 0..24 {
            let msg = user.recv();
            assert_eq!(msg["type"], "user");
            let from: usize = msg["from"].as_str().unwrap()[1..].parse().unwrap();
            let expected = ["first", "second"][next[from]];
            assert_eq!(msg["content"], format!("{expected} from {from}"));
            next[from] += 1;
        }
    }

    // One leaves explicitly, one just disconnects: the rest are told.
    users[0].send(json!({"type": "unregister", "content": "bye"}));
    assert_eq!(users[0].recv()["content"], "bye");
    let gone = users.remove(1);
    drop(gone);
    let remaining: Vec<&String> = names[2..].iter().collect();
    for user in users.iter_mut().skip(1) {
        assert_eq!(user.recv()["content"], "bye");
        let logout = user.recv();
        assert_eq!(logout["content"], "u01 left");
        assert_eq!(logout["user_list"], json!(remaining));
    }
    drop(users);
    server.stop().unwrap();
}

/// The binary: `wsloop chat --workers 2` serves one room as well.
#[test]
fn chat_binary_with_two_workers_shares_the_room() {
    let (mut server, addr) = Process::wsloop(&["chat", "--addr", "127.0.0.1:0", "--workers", "2"]);
    let (mut first, _) = User::join(addr, "first");
    let mut others: Vec<User> = (0..6)
        .map(|i| User::join(addr, &format!("other{i}")).0)
        .collect();
    for i in 0..6 {
        assert_eq!(first.recv()["content"], format!("other{i} joined"));
    }
    first.say("hello all");
    for (i, other) in others.iter_mut().enumerate() {
        for j in i + 1..6 {
            assert_eq!(other.recv()["content"], format!("other{j} joined"));
        }
        assert_eq!(other.recv()["content"], "hello all");
    }
    drop((first, others));
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().code(), Some(0));
    wait_until("one line per worker", || {
        server.log_lines("connection(s) served").len() == 2
    });
}
