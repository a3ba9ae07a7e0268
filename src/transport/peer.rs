//! The peer's address, kept in half the room of a `SocketAddr`.
//!
//! Every open connection keeps its peer's address (handlers and log lines
//! ask for it, and asking the socket would cost a syscall each time and
//! fail once it is closed). A `SocketAddr` takes 32 bytes because of the
//! IPv6 case; nearly all peers of a server are IPv4, so those are kept
//! inline in 16 and the rest behind a box.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A `SocketAddr` that keeps IPv4 inline and IPv6 boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerAddr {
    V4 { ip: [u8; 4], port: u16 },
    V6(Box<SocketAddrV6>),
}

impl PeerAddr {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(v4) => PeerAddr::V4 {
                ip: v4.ip().octets(),
                port: v4.port(),
            },
            SocketAddr::V6(v6) => PeerAddr::V6(Box::new(v6)),
        }
    }

    pub(crate) fn get(&self) -> SocketAddr {
        match self {
            PeerAddr::V4 { ip, port } => SocketAddrV4::new(Ipv4Addr::from(*ip), *port).into(),
            PeerAddr::V6(v6) => SocketAddr::V6(**v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_what_it_was_given_in_sixteen_bytes() {
        for text in ["127.0.0.1:9001", "[::1]:443", "[fe80::1%2]:80", "0.0.0.0:0"] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(PeerAddr::new(addr).get(), addr, "{text}");
        }
        assert_eq!(std::mem::size_of::<PeerAddr>(), 16);
    }
}
