use std::path::{Path, PathBuf};

use kcql_testkit::names;
use kcql_testkit::private::private_root;
use kcql_testkit::tls::make_test_pki;

use super::*;

/// A fresh test PKI (`ca.crt`, `server.*`, `client.*`) plus `garbage.pem`.
fn pki() -> PathBuf {
    let dir = private_root().join(names::unique("http_tls_unit"));
    make_test_pki(&dir);
    std::fs::write(dir.join("garbage.pem"), "no PEM here\n").unwrap();
    std::fs::write(
        dir.join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    dir
}

fn with(dir: &Path, ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> HttpTls {
    HttpTls {
        ca_file: ca.map(|f| dir.join(f)),
        client_cert_file: cert.map(|f| dir.join(f)),
        client_key_file: key.map(|f| dir.join(f)),
        ..HttpTls::default()
    }
}

#[test]
fn credentials_are_in_clear_only_over_http_to_another_machine() {
    let clear = |u: &str| sends_in_clear(&Url::parse(u).unwrap());
    for u in [
        "http://10.0.0.5:8086",
        "http://influx.example.com:8086/x",
        "http://192.168.1.2",
        "http://[2001:db8::1]:8086",
        "http://localhost.example.com",
    ] {
        assert!(clear(u), "{u}");
    }
    for u in [
        "https://influx.example.com",
        "http://127.0.0.1:8086",
        "http://127.9.9.9:8086",
        "http://localhost:8086",
        "http://LOCALHOST.:8086",
        "http://influx.localhost",
        "http://[::1]:8086",
    ] {
        assert!(!clear(u), "{u}");
    }
}

#[test]
fn the_default_trusts_the_built_in_roots_and_is_not_set() {
    let tls = HttpTls::default();
    assert!(tls.system_roots && !tls.insecure_skip_verify);
    assert!(!tls.is_set());
    assert_eq!(tls.warning(), None);
    tls.validate().expect("default TLS settings");
    let insecure = HttpTls {
        insecure_skip_verify: true,
        ..HttpTls::default()
    };
    assert!(insecure.is_set());
    assert!(insecure.warning().unwrap().contains("verification is OFF"));
}

#[test]
fn good_files_validate() {
    let dir = pki();
    with(&dir, Some("ca.crt"), None, None).validate().unwrap();
    with(&dir, Some("ca.crt"), Some("client.crt"), Some("client.key"))
        .validate()
        .unwrap();
    // A CA file may hold several certificates.
    let bundle = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
        std::fs::read_to_string(dir.join("ca.crt")).unwrap()
    );
    std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
    with(&dir, Some("bundle.pem"), None, None)
        .validate()
        .unwrap();
}

#[test]
fn each_bad_file_is_named_with_its_setting() {
    let dir = pki();
    let err = |tls: HttpTls| tls.validate().expect_err("must be refused");

    let e = err(with(&dir, Some("missing.pem"), None, None));
    assert_eq!(e.setting(), TlsSetting::CaFile);
    assert!(
        matches!(
            &e,
            HttpTlsError::File {
                source: PemError::Read { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("CA file: cannot read `"), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    let e = err(with(&dir, Some("garbage.pem"), None, None));
    assert!(e.detail().ends_with("garbage.pem` holds no PEM certificate (expected a `-----BEGIN CERTIFICATE-----` section)"), "{e}");

    // A key given as the CA: PEM, but no certificate in it.
    let e = err(with(&dir, Some("ca.key"), None, None));
    assert!(
        matches!(
            &e,
            HttpTlsError::File {
                source: PemError::Missing { .. },
                ..
            }
        ),
        "{e:?}"
    );

    let e = err(with(&dir, Some("broken.pem"), None, None));
    assert!(
        matches!(
            &e,
            HttpTlsError::File {
                source: PemError::Invalid { .. },
                ..
            }
        ),
        "{e:?}"
    );

    let e = err(with(&dir, None, Some("client.crt"), None));
    assert_eq!(e, HttpTlsError::CertWithoutKey);
    assert_eq!(e.setting(), TlsSetting::ClientKey);
    let e = err(with(&dir, None, None, Some("client.key")));
    assert_eq!(e, HttpTlsError::KeyWithoutCert);
    assert_eq!(e.setting(), TlsSetting::ClientCert);

    // The certificate given as the key, and the key given as the certificate.
    let e = err(with(&dir, None, Some("client.crt"), Some("client.crt")));
    assert_eq!(e.setting(), TlsSetting::ClientKey);
    assert!(e.to_string().contains("holds no PEM private key"), "{e}");
    let e = err(with(&dir, None, Some("client.key"), Some("client.key")));
    assert_eq!(e.setting(), TlsSetting::ClientCert);

    // A key of another certificate.
    let e = err(with(&dir, None, Some("client.crt"), Some("server.key")));
    assert_eq!(e.setting(), TlsSetting::ClientKey);
    assert!(matches!(e, HttpTlsError::Client { .. }), "{e:?}");

    let e = err(HttpTls {
        system_roots: false,
        ..HttpTls::default()
    });
    assert_eq!(e, HttpTlsError::NothingTrusted);
}

#[test]
fn only_certificate_and_key_sections_reach_the_identity() {
    let text =
        "junk\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
                -----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert_eq!(
        pem_sections(text, &["PRIVATE KEY", "EC PRIVATE KEY"]),
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
    );
}
