//! TLS configuration: what a `wss://` server or client is set up with.
//!
//! The TLS session itself lives in the transport (`TlsAcceptor` and
//! `TlsConnector` hand one to every connection); this module builds the
//! rustls configurations from the things people have at hand: PEM files
//! on the server, a choice of trust on the client.
//!
//! ```no_run
//! use wsloop::tls;
//!
//! let acceptor = tls::acceptor_from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let config = wsloop::Config::default().with_tls(acceptor);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The crypto provider is rustls' `ring`: it builds with a C compiler
//! alone, where `aws-lc-rs` also needs cmake (and nasm on some targets).

mod client;
mod server;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use crate::transport::{TlsAcceptor, TlsConnector};
pub use client::{client_config, connector, Trust};
pub use server::{acceptor_from_pem, acceptor_from_pem_files};

/// The ALPN protocol both sides offer: WebSocket starts as HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: rustls::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
}
