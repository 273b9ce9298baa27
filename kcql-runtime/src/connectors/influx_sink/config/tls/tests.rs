//! The sink's TLS keys and warnings, through the real properties reader.

use kcql_testkit::names;
use kcql_testkit::private::private_root;
use kcql_testkit::tls::make_test_pki;

use super::super::{InfluxSinkSettings, SettingsError};
use super::*;
use crate::config::properties::owned_pairs;

fn base(url: &str) -> Vec<(String, String)> {
    owned_pairs(&[
        ("connect.influx.url", url),
        ("connect.influx.db", "d"),
        ("connect.influx.username", "u"),
        ("connect.influx.kcql", "INSERT INTO m SELECT * FROM t"),
    ])
}

fn load(url: &str, extra: &[(&str, &str)]) -> Result<InfluxSinkSettings, Vec<SettingsError>> {
    let mut p = base(url);
    p.extend(owned_pairs(extra));
    InfluxSinkSettings::from_properties(&p)
}

fn messages(url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    load(url, extra)
        .expect_err("must be refused")
        .iter()
        .map(|e| (e.key().to_string(), e.to_string()))
        .collect()
}

#[test]
fn the_keys_reach_the_writer_config() {
    let dir = private_root().join(names::unique("sink_tls_keys"));
    make_test_pki(&dir);
    let f = |n: &str| dir.join(n).display().to_string();
    let (ca, cert, key) = (f("ca.crt"), f("client.crt"), f("client.key"));
    let s = load(
        "https://influx:8086",
        &[
            (SSL_CA, &ca),
            (SSL_CERT, &cert),
            (SSL_KEY, &key),
            (SSL_SYSTEM_ROOTS, "false"),
        ],
    )
    .unwrap();
    let want = HttpTls {
        ca_file: Some(ca.into()),
        client_cert_file: Some(cert.into()),
        client_key_file: Some(key.into()),
        system_roots: false,
        insecure_skip_verify: false,
    };
    assert_eq!(s.tls, want);
    assert_eq!(s.influx_config().tls, want);
    assert!(s.warnings().is_empty());
    // No key: the defaults.
    assert_eq!(
        load("https://influx:8086", &[]).unwrap().tls,
        HttpTls::default()
    );
}

#[test]
fn tls_keys_with_an_http_url_are_errors_naming_each_key() {
    let got = messages(
        "http://influx:8086",
        &[(SSL_CA, "/x.pem"), (INSECURE_SKIP_VERIFY, "true")],
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, SSL_CA);
    assert!(
        got[0]
            .1
            .starts_with("connect.influx.ssl.ca.cert is set but connect.influx.url is http://"),
        "{got:?}"
    );
    assert_eq!(got[1].0, INSECURE_SKIP_VERIFY);
}

#[test]
fn bad_values_and_files_name_their_key() {
    let got = messages("https://influx:8086", &[(SSL_SYSTEM_ROOTS, "maybe")]);
    assert_eq!(got[0].0, SSL_SYSTEM_ROOTS, "{got:?}");
    let got = messages("https://influx:8086", &[(SSL_CA, "/nonexistent/ca.pem")]);
    assert_eq!(got[0].0, SSL_CA);
    assert!(
        got[0]
            .1
            .starts_with("connect.influx.ssl.ca.cert: cannot read `/nonexistent/ca.pem`"),
        "{got:?}"
    );
    let got = messages("https://influx:8086", &[(SSL_KEY, "/nonexistent/k.pem")]);
    assert_eq!(got[0].0, SSL_CERT, "{got:?}");
    assert!(got[0].1.contains("needs its certificate"), "{got:?}");
    let got = messages("https://influx:8086", &[(SSL_SYSTEM_ROOTS, "false")]);
    assert_eq!(got[0].0, SSL_CA, "{got:?}");
    assert!(got[0].1.contains("nothing would be trusted"), "{got:?}");
}

#[test]
fn credentials_over_plain_http_to_another_host_are_warned_about() {
    let with_password = |url: &str| {
        load(url, &[("connect.influx.password", "hunter2")])
            .unwrap()
            .warnings()
    };
    let w = with_password("http://influx.example.com:8086");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("connect.influx.password is sent unencrypted: connect.influx.url is http:// to influx.example.com"),
        "{w:?}"
    );
    assert!(!w[0].contains("hunter2"));
    assert!(with_password("https://influx.example.com:8086").is_empty());
    assert!(with_password("http://127.0.0.1:8086").is_empty());
    assert!(with_password("http://localhost:8086").is_empty());
    // A user without a password sends no secret.
    assert!(load("http://10.1.2.3:8086", &[])
        .unwrap()
        .warnings()
        .is_empty());
    // The 2.x token too.
    let v2 = InfluxSinkSettings::from_properties(&owned_pairs(&[
        ("connect.influx.url", "http://10.1.2.3:8086"),
        ("connect.influx.org", "o"),
        ("connect.influx.bucket", "b"),
        ("connect.influx.token", "t0ken"),
        ("connect.influx.kcql", "INSERT INTO m SELECT * FROM t"),
    ]))
    .unwrap();
    let w = v2.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("connect.influx.token is sent unencrypted"),
        "{w:?}"
    );
}
