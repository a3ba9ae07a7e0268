//! TLS options shared by the subcommands: a certificate for servers, a
//! trust choice for clients.

use std::io;
use std::path::PathBuf;

use wsloop::tls::{self, TlsAcceptor, TlsConnector, Trust};

/// `--tls-cert` / `--tls-key`: serve over TLS.
#[derive(clap::Args)]
pub struct ServerTls {
    /// Serve TLS (wss:// / https://) with this PEM certificate chain, leaf first.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerTls {
    /// The acceptor, when both files are given.
    pub fn acceptor(&self) -> io::Result<Option<TlsAcceptor>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => tls::acceptor_from_pem_files(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// The URL scheme clients use: `secure` or `plain` by whether TLS is on.
    pub fn scheme(&self, secure: &'static str, plain: &'static str) -> &'static str {
        if self.tls_cert.is_some() {
            secure
        } else {
            plain
        }
    }
}

/// `--ca` / `--insecure`: whom a wss:// client trusts.
#[derive(clap::Args)]
pub struct ClientTls {
    /// For wss://: trust only the CA certificates in this PEM file instead of the system's roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// For wss://: DANGEROUS, accept ANY certificate for ANY name (local testing only).
    #[arg(long)]
    pub insecure: bool,
}

impl ClientTls {
    /// The trust these options choose.
    fn trust(&self) -> Trust {
        match (&self.ca, self.insecure) {
            (_, true) => Trust::InsecureAnyCertificate,
            (Some(path), false) => Trust::CaFile(path.clone()),
            (None, false) => Trust::Platform,
        }
    }

    /// A connector for `host`, warning once when verification is off.
    pub fn connector(&self, host: &str) -> io::Result<TlsConnector> {
        if self.insecure {
            log::warn!("--insecure: the server's certificate is NOT verified");
        }
        tls::connector(&self.trust(), host)
    }
}
