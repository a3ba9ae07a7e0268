//! A tungstenite client, the independent peer of the handle and worker
//! tests, and a handler that leaves every reply to the server's handle.

use std::net::{SocketAddr, TcpStream};

use wsloop::{Handler, Message, WebSocket};

use super::DEADLINE;

/// A tungstenite client on a blocking socket.
pub type Client = tungstenite::WebSocket<TcpStream>;

/// Does nothing with messages: everything a client gets comes from the handle.
pub struct Quiet;

impl Handler for Quiet {
    fn on_message(&mut self, _ws: &mut WebSocket<'_>, _msg: Message<'_>) {}
}

/// Opens a WebSocket to `addr` with reads bounded by [`DEADLINE`].
pub fn connect(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    ws
}

/// Like [`connect`], with tungstenite's own limits raised to 64 MiB so
/// the largest test messages fit.
pub fn connect_big(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    tungstenite::client::client_with_config(format!("ws://{addr}/"), stream, Some(config))
        .expect("handshake")
        .0
}

/// The next data message as text; a close frame fails the test.
pub fn read_text(ws: &mut Client) -> String {
    loop {
        match ws.read().expect("read") {
            tungstenite::Message::Text(t) => return t.as_str().to_owned(),
            tungstenite::Message::Binary(b) => return String::from_utf8(b.to_vec()).unwrap(),
            tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Sends `data` as one binary message in fragments of `piece` bytes, with
/// a ping after each fragment but the last (3 bytes, each the fragment's
/// index), so the pongs tell where the pings went.
pub fn send_fragmented_with_pings(ws: &mut Client, data: &[u8], piece: usize) {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let count = data.len().div_ceil(piece);
    for (i, chunk) in data.chunks(piece).enumerate() {
        let opcode = if i == 0 { Data::Binary } else { Data::Continue };
        let fin = i + 1 == count;
        let frame = Frame::message(chunk.to_vec(), OpCode::Data(opcode), fin);
        ws.send(tungstenite::Message::Frame(frame)).unwrap();
        if !fin {
            let ping = tungstenite::Bytes::from(vec![i as u8; 3]);
            ws.send(tungstenite::Message::Ping(ping)).unwrap();
        }
    }
}
