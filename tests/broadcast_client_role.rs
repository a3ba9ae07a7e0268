//! A shared pre-encoded frame delivered to client-role connections: each
//! must still mask it (a server fails unmasked frames with 1002), so our
//! server echoes it instead of closing.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;

use common::wait_until;
use common::Echo;
use wsloop::ws::Request;
use wsloop::{
    App, ClientRequest, Config, EventLoop, Handler, Message, Server, WebSocket, WsCommand,
    WsCounters, WsProtocol,
};

/// Client side: counts opens and echoes of `hi, shared`.
struct Counting {
    opened: Arc<AtomicU64>,
    echoed: Arc<AtomicU64>,
}

impl Handler for Counting {
    fn on_open(&mut self, _ws: &mut WebSocket<'_>, _request: &Request) {
        self.opened.fetch_add(1, SeqCst);
    }

    fn on_message(&mut self, _ws: &mut WebSocket<'_>, msg: Message<'_>) {
        assert_eq!(msg, Message::Text("hi, shared"));
        self.echoed.fetch_add(1, SeqCst);
    }
}

#[test]
fn client_connections_mask_a_shared_frame() {
    let server = Server::spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        Echo::tolerant,
    )
    .unwrap();
    let addr = server.handle.local_addr();
    let (opened, echoed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let handler = Counting {
        opened: opened.clone(),
        echoed: echoed.clone(),
    };
    let (tx, rx) = mpsc::channel();
    let client_loop = thread::spawn(move || {
        let mut lp = EventLoop::new(App::new(handler, Config::default())).unwrap();
        for _ in 0..3 {
            let request = ClientRequest {
                host: addr.to_string(),
                path: "/".into(),
                subprotocols: Vec::new(),
            };
            lp.connect(addr, WsProtocol::client(request)).unwrap();
        }
        tx.send(lp.handle()).unwrap();
        lp.run().unwrap();
    });
    let handle = rx.recv().unwrap();
    wait_until("3 client connections open", || opened.load(SeqCst) == 3);

    let frame = WsCommand::frame(Message::Text("hi, shared"));
    handle
        .run(move |lp| {
            for id in lp.connection_ids() {
                lp.send_to(id, frame.clone());
            }
        })
        .unwrap();
    wait_until("3 echoes", || echoed.load(SeqCst) == 3);
    let counters = server.handle.counters();
    assert_eq!(WsCounters::get(&counters.protocol_errors), 0);
    assert_eq!(WsCounters::get(&counters.opened), 3);

    handle.stop().unwrap();
    client_loop.join().unwrap();
    server.stop().unwrap();
}
