//! The registry client over HTTPS with a private CA (`schema.registry.ssl.truststore.location`
//! / `schema_registry_ca_file`): the in-test registry behind a TLS front whose certificate an
//! openssl-made CA signed. With the CA file the client registers and fetches schemas; without
//! it the certificate is refused with [`RegistryError::Tls`], which is fatal (not waited on).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kcql_runtime::decode::{RegistryError, RegistryOptions, SchemaRegistry};
use kcql_testkit::registry::StubRegistry;
use tokio::net::{TcpListener, TcpStream};

const SCHEMA: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;

/// A test CA (`ca.crt`) and a server certificate for 127.0.0.1 it signed (`server.crt`,
/// `server.key`), made by the testkit.
fn make_certificates() -> PathBuf {
    let dir = std::env::temp_dir().join(kcql_testkit::names::unique("kcql_registry_tls"));
    kcql_testkit::tls::make_test_pki(&dir);
    dir
}

/// Serves TLS on 127.0.0.1 with `dir`'s server certificate, passing each connection to
/// `backend` (plain HTTP). Returns the HTTPS base URL.
async fn tls_front(dir: &Path, backend: String) -> String {
    let certs =
        rustls_pemfile::certs(&mut &std::fs::read(dir.join("server.crt")).expect("cert")[..])
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificate");
    let key =
        rustls_pemfile::private_key(&mut &std::fs::read(dir.join("server.key")).expect("key")[..])
            .expect("PEM key")
            .expect("a key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // a client that refused our certificate
                };
                if let Ok(mut plain) = TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_file_makes_an_https_registry_usable() {
    let dir = make_certificates();
    let registry = StubRegistry::start(&[], 0).await;
    let backend = registry.url().trim_start_matches("http://").to_string();
    let url = tls_front(&dir, backend).await;

    let trusted = SchemaRegistry::with_options(
        &url,
        &RegistryOptions {
            ca_file: Some(dir.join("ca.crt")),
            ..RegistryOptions::default()
        },
        Duration::from_secs(5),
    )
    .expect("client");
    let id = trusted
        .register("t-value", SCHEMA)
        .await
        .expect("registers over TLS");
    trusted.schema(id).await.expect("fetches over TLS");
    assert_eq!(registry.registered().len(), 1);

    let untrusted = SchemaRegistry::new(&url).expect("client");
    let e = untrusted
        .register("t-value", SCHEMA)
        .await
        .expect_err("an unknown CA");
    assert!(matches!(e, RegistryError::Tls { .. }), "{e:?}");
    assert!(e.is_fatal() && !e.is_transient(), "{e}");
    assert!(
        e.to_string()
            .contains("schema.registry.ssl.truststore.location"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
