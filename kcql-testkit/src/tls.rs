//! TLS for tests: a throwaway PKI made with the `openssl` command line, and a TLS-terminating
//! proxy that **requires a client certificate** in front of a real plain-TCP service.
//!
//! * [`make_test_pki`] writes `ca.crt`/`ca.key` (a test CA), `server.crt`/`server.key` (for
//!   `127.0.0.1` and `localhost`) and `client.crt`/`client.key` (client authentication), all
//!   P-256, PEM, valid for two days.
//! * [`MtlsProxy`] accepts TLS on a free loopback port with `server.crt`, refuses any client
//!   without a certificate signed by the CA, and relays the decrypted bytes to the upstream
//!   (e.g. the real InfluxDB at `127.0.0.1:8086`, which cannot require client certificates
//!   itself). It counts completed and refused handshakes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl not runnable (apt-get install openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a test CA, a server certificate for `127.0.0.1`/`localhost` and a client
/// certificate into `dir` (created if needed): `ca.crt`, `ca.key`, `server.crt`,
/// `server.key`, `client.crt`, `client.key`. Panics when `openssl` fails.
pub fn make_test_pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kcql test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, usage, san) in [
        (
            "server",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        ),
        ("client", "clientAuth", ""),
    ] {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        let subject = format!("/CN=kcql test {name}");
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        openssl(dir, &req);
        std::fs::write(
            dir.join(&ext),
            format!(
                "{san}basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
            ),
        )
        .expect("write extensions");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// Handshake counts of an [`MtlsProxy`].
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicUsize,
    refused: AtomicUsize,
}

/// A TLS-terminating proxy on `127.0.0.1:<port>` that requires a client certificate signed by
/// the test CA; dropping it closes the listener.
#[derive(Debug)]
pub struct MtlsProxy {
    addr: SocketAddr,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl MtlsProxy {
    /// Serves TLS with `<pki>/server.crt` + `server.key`, trusts client certificates signed by
    /// `<pki>/ca.crt` (and requires one), and relays each connection to `upstream`
    /// (`host:port`). Panics when the files or the listener are not usable.
    pub async fn start(pki: &Path, upstream: &str) -> MtlsProxy {
        let config = Arc::new(server_config(pki));
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("mTLS proxy: cannot listen: {e}"));
        let addr = listener.local_addr().expect("local address");
        let counts = Arc::new(Counts::default());
        let upstream = upstream.to_string();
        let shared = Arc::clone(&counts);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counts = Arc::clone(&shared);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            counts.refused.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    counts.accepted.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut up) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        MtlsProxy { addr, counts, task }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// TLS handshakes completed (with a valid client certificate).
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::Relaxed)
    }

    /// TLS handshakes refused (no or an untrusted client certificate, or a client that did
    /// not trust the server).
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::Relaxed)
    }
}

impl Drop for MtlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config(pki: &Path) -> rustls::ServerConfig {
    let file = |name: &str| -> PathBuf { pki.join(name) };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file("server.crt"))
        .and_then(|i| i.collect::<Result<_, _>>())
        .unwrap_or_else(|e| panic!("mTLS proxy: server.crt in {}: {e}", pki.display()));
    let key = PrivateKeyDer::from_pem_file(file("server.key"))
        .unwrap_or_else(|e| panic!("mTLS proxy: server.key in {}: {e}", pki.display()));
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(file("ca.crt"))
        .unwrap_or_else(|e| panic!("mTLS proxy: ca.crt in {}: {e}", pki.display()))
    {
        roots
            .add(ca.unwrap_or_else(|e| panic!("mTLS proxy: ca.crt: {e}")))
            .unwrap_or_else(|e| panic!("mTLS proxy: ca.crt: {e}"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap_or_else(|e| panic!("mTLS proxy: client verifier: {e}"));
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("mTLS proxy: protocol versions: {e}"))
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| panic!("mTLS proxy: server certificate: {e}"))
}
