//! WebSocket echo server on tokio-tungstenite: every text or binary message
//! goes back with its opcode; pings and closes are answered by tungstenite.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use wsloop_peers::Args;

async fn serve(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(msg) = ws.next().await {
        // Pings and closes need nothing here: reading queued the pong or close
        // reply, which tungstenite sends on the next read or write.
        if let msg @ (Message::Text(_) | Message::Binary(_)) = msg? {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    args.runtime().block_on(async {
        let listener = TcpListener::bind(args.addr).await.expect("bind");
        eprintln!(
            "tokio-tungstenite echo on ws://{}",
            listener.local_addr().unwrap()
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // Same socket option as wsloop: no Nagle delay on small echoes.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = serve(stream).await;
            });
        }
    });
}
