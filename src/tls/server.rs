//! The server's certificate chain and key, read from PEM.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use super::{provider, tls_error, TlsAcceptor, ALPN_HTTP11};

/// A TLS acceptor from PEM files: `cert` holds the certificate chain (leaf
/// first), `key` the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub fn acceptor_from_pem_files(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    };
    acceptor_from_pem(&read(cert)?, &read(key)?)
}

/// A TLS acceptor from PEM text already in memory (see
/// [`acceptor_from_pem_files`]). ALPN offers `http/1.1`.
pub fn acceptor_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
    let bad = |what: &str, e: rustls::pki_types::pem::Error| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate chain", e))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "certificate chain: no CERTIFICATE in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("private key", e))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(TlsAcceptor::new(Arc::new(config)))
}
