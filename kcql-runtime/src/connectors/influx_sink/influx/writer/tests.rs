//! Tests of building a writer: URLs, endpoints and credentials.

use super::endpoint::{endpoint, parse_base};
use super::test_server::{v1_config, v2_config};
use crate::connectors::influx_sink::influx::{ConfigError, InfluxWriter};

#[test]
fn bad_urls_and_credentials_are_config_errors() {
    for url in [
        "",
        "127.0.0.1:8086",
        "ftp://h/",
        "http://h/?db=x",
        "http://",
    ] {
        assert!(
            matches!(
                InfluxWriter::new(&v1_config(url)),
                Err(ConfigError::Url { .. })
            ),
            "{url:?} accepted"
        );
    }
    let c = v2_config("http://h:8086", "o", "b", "bad\ntoken");
    assert!(matches!(
        InfluxWriter::new(&c),
        Err(ConfigError::Credential { what: "token", .. })
    ));
}

#[test]
fn endpoints_keep_path_prefixes() {
    let base = parse_base("http://h:1/a/b/").unwrap();
    assert_eq!(endpoint(&base, "write").as_str(), "http://h:1/a/b/write");
    let base = parse_base("http://h:1").unwrap();
    assert_eq!(
        endpoint(&base, "api/v2/write").as_str(),
        "http://h:1/api/v2/write"
    );
}

/// Credentials in the URL are refused (the API's username/password or token carry them), and
/// the error shows the URL without them; so does the error for any other bad URL.
#[test]
fn url_credentials_are_refused_and_never_shown() {
    for url in [
        "http://user:hunter2@h:8086",
        "https://hunter2@h:8086/prefix",
        "http://user:hunter2@h:99999",
        "ftp://user:hunter2@h/",
    ] {
        let e = InfluxWriter::new(&v1_config(url)).err();
        let shown = format!(
            "{e:?} {}",
            e.as_ref().map(ToString::to_string).unwrap_or_default()
        );
        assert!(matches!(e, Some(ConfigError::Url { .. })), "{url}: {shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("://***@h"), "{shown}");
    }
}
