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
