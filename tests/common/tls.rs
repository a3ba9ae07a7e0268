//! Throwaway certificates for the TLS tests: a CA and a leaf for
//! `localhost` and `127.0.0.1` signed by it, made with rcgen at test time
//! and written to a temporary directory as PEM files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use wsloop::tls::{self, TlsAcceptor, Trust};

/// A CA, a server certificate it signed, and their PEM files.
pub struct TestPki {
    pub dir: PathBuf,
    pub ca_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    /// Generates a fresh CA and server certificate.
    pub fn new() -> TestPki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wsloop test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();

        let dir = std::env::temp_dir().join(format!(
            "wsloop-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = TestPki {
            dir,
            ca_der: ca.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(pki.cert_path(), &pki.cert_pem).unwrap();
        std::fs::write(pki.key_path(), &pki.key_pem).unwrap();
        std::fs::write(pki.ca_path(), ca.pem()).unwrap();
        pki
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// `wsloop COMMAND --addr 127.0.0.1:0` serving TLS with this PKI's
    /// certificate, with `extra` options after; the process and its address.
    pub fn wsloop(
        &self,
        command: &str,
        extra: &[&str],
    ) -> (super::process::Process, std::net::SocketAddr) {
        let cert = self.cert_path().display().to_string();
        let key = self.key_path().display().to_string();
        let mut args = vec![
            command,
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ];
        args.extend_from_slice(extra);
        super::process::Process::wsloop(&args)
    }

    /// The server side, from the PEM files.
    pub fn acceptor(&self) -> TlsAcceptor {
        tls::acceptor_from_pem_files(&self.cert_path(), &self.key_path()).unwrap()
    }

    /// Trust in this CA only.
    pub fn trust(&self) -> Trust {
        Trust::Roots(vec![self.ca_der.clone()])
    }

    /// A rustls client configuration trusting this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        tls::client_config(&self.trust()).unwrap()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking TLS stream to `addr` as `localhost`, trusting `pki`'s CA.
pub fn tls_connect(
    pki: &TestPki,
    addr: std::net::SocketAddr,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(pki.client_config(), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Runs `tests/python/NAME` with `args`, reading its stdout by line.
/// It needs python's `websockets` (scripts/test.sh installs the pinned version).
pub fn python(name: &str, args: &[&str]) -> super::process::Process {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name);
    let mut command = std::process::Command::new("python3");
    command.arg(script).args(args);
    super::process::Process::start(command, super::process::Watch::Stdout, None)
}
