//! Whom a client trusts: the platform's roots, a private CA, or (for local
//! testing only) anyone.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{provider, tls_error, TlsConnector, ALPN_HTTP11};

/// How a client checks the server's certificate.
#[derive(Clone, Debug, Default)]
pub enum Trust {
    /// The platform's root certificates (read with rustls-native-certs, so
    /// a CA the administrator added to the system store is trusted too).
    #[default]
    Platform,
    /// Only the CA certificates in this PEM file (a private CA).
    CaFile(PathBuf),
    /// Only these CA certificates (DER).
    Roots(Vec<CertificateDer<'static>>),
    /// No verification at all: any certificate, any name. Local testing only.
    InsecureAnyCertificate,
}

/// A rustls client configuration for `trust`, offering ALPN `http/1.1`.
pub fn client_config(trust: &Trust) -> io::Result<Arc<ClientConfig>> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let mut config = match trust {
        Trust::InsecureAnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        _ => builder
            .with_root_certificates(roots(trust)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// A connector for `host` with [`client_config`]`(trust)`.
pub fn connector(trust: &Trust, host: &str) -> io::Result<TlsConnector> {
    TlsConnector::new(client_config(trust)?, host)
}

fn roots(trust: &Trust) -> io::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    let certs = match trust {
        Trust::Platform => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(io::Error::other(format!(
                    "no root certificates found on this system {why}; use --ca FILE"
                )));
            }
            found.certs
        }
        Trust::CaFile(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: {e}", path.display()),
                )
            })?,
        Trust::Roots(certs) => certs.clone(),
        Trust::InsecureAnyCertificate => Vec::new(),
    };
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no usable CA certificate",
        ));
    }
    Ok(store)
}

/// Accepts every certificate, but still checks the handshake signatures
/// (so the session is encrypted to whoever holds the key it presented).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
