//! The output encoder against the in-test registry (`kcql_testkit::registry`).

use super::*;
use crate::decode::{decode_with, RegistryOptions};
use crate::redact::Secret;
use kcql_testkit::registry::{basic_auth_header, StubOptions, StubRegistry};

const READING: &str = r#"{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"t","type":"double"}]}"#;

fn reading() -> Value<'static> {
    Value::Object(vec![
        ("id".into(), Value::Str("d1".into())),
        ("t".into(), Value::Float(21.5)),
    ])
}

#[tokio::test]
async fn confluent_values_register_once_per_subject_and_decode_back() {
    let stub = StubRegistry::start(&[], 0).await;
    let registry = Arc::new(SchemaRegistry::new(stub.url()).expect("client"));
    let enc = OutputEncoder::new(
        Format::ConfluentAvro,
        false,
        Some(READING),
        Some(registry.clone()),
    )
    .expect("valid");
    assert_eq!(
        enc.encode("sensors", &reading()),
        Err(EncodeError::NotRegistered {
            subject: "sensors-value".into()
        })
    );
    enc.prepare("sensors").await.expect("registers");
    enc.prepare("sensors").await.expect("cached");
    let payload = enc.encode("sensors", &reading()).expect("fits");
    assert_eq!(stub.registered().len(), 1);
    assert_eq!(stub.registered()[0].0, "sensors-value");
    assert_eq!(stub.requests(), 1, "the id is cached per subject");
    let schema = registry.schema_for(&payload).await.expect("schema by id");
    let back = decode_with(Some(&payload), Format::ConfluentAvro, Some(&schema)).expect("decodes");
    assert_eq!(back, reading());

    let keys = OutputEncoder::new(
        Format::ConfluentAvro,
        true,
        Some(r#""string""#),
        Some(registry),
    )
    .expect("valid");
    keys.prepare("sensors").await.expect("registers");
    assert_eq!(stub.registered()[1].0, "sensors-key");
}

#[tokio::test]
async fn values_that_do_not_fit_are_errors_not_panics() {
    let enc = OutputEncoder::new(Format::Avro, false, Some(READING), None).expect("valid");
    let e = enc
        .encode("t", &Value::Object(vec![("id".into(), Value::Int(1))]))
        .expect_err("id is not a string");
    assert_eq!(
        e.to_string(),
        "the record value does not fit its Avro schema: value.id: a value of type integer does not fit the Avro type string"
    );
}

#[test]
fn formats_that_cannot_work_are_refused() {
    assert_eq!(
        OutputEncoder::new(Format::Avro, false, None, None).map(|_| ()),
        Err(OutputFormatError::MissingSchema {
            part: "value",
            format: "avro"
        })
    );
    assert_eq!(
        OutputEncoder::new(Format::ConfluentAvro, true, Some(READING), None).map(|_| ()),
        Err(OutputFormatError::MissingRegistry { part: "key" })
    );
    assert!(matches!(
        OutputEncoder::new(Format::Avro, false, Some("{"), None),
        Err(OutputFormatError::Schema { .. })
    ));
}

#[test]
fn text_formats_write_strings_as_they_are() {
    let s = OutputEncoder::new(Format::String, false, None, None).expect("valid");
    assert_eq!(
        s.encode("t", &Value::Str("a\"b".into())),
        Ok(b"a\"b".to_vec())
    );
    assert_eq!(s.encode("t", &Value::Int(3)), Ok(b"3".to_vec()));
    let j = OutputEncoder::json();
    assert_eq!(
        j.encode("t", &Value::Str("x".into())),
        Ok(b"\"x\"".to_vec())
    );
    let b = OutputEncoder::new(Format::Bytes, false, None, None).expect("valid");
    assert_eq!(
        b.encode("t", &Value::Bytes(vec![0xff].into())),
        Ok(vec![0xff])
    );
}

#[tokio::test]
async fn basic_auth_goes_with_every_request() {
    let stub = StubRegistry::start_with(StubOptions {
        basic_auth: Some(("reader".into(), "s3cret".into())),
        ..StubOptions::default()
    })
    .await;
    let options = RegistryOptions::from_basic_auth(
        Some("USER_INFO"),
        Some(Secret::new("reader:s3cret")),
        None,
    )
    .expect("valid");
    let registry = Arc::new(
        SchemaRegistry::with_options(stub.url(), &options, Duration::from_secs(5)).expect("client"),
    );
    let id = registry
        .register("t-value", READING)
        .await
        .expect("registers");
    registry.schema(id).await.expect("fetches");
    let expected = basic_auth_header("reader", "s3cret");
    assert_eq!(
        stub.authorizations(),
        vec![Some(expected.clone()), Some(expected)]
    );
    assert!(!format!("{registry:?}").contains("s3cret"), "{registry:?}");

    // Without credentials: 401 is not transient (bad credentials do not heal by waiting).
    let anonymous = SchemaRegistry::new(stub.url()).expect("client");
    let e = anonymous
        .register("t-value", READING)
        .await
        .expect_err("401");
    assert!(!e.is_transient(), "{e}");
    assert!(e.to_string().contains("HTTP 401"), "{e}");
}

#[test]
fn credential_sources_follow_kafka_connect() {
    let info = || Some(Secret::new("u:p"));
    assert_eq!(
        RegistryOptions::from_basic_auth(None, info(), None).map(|o| o.user_info),
        Ok(info())
    );
    assert_eq!(
        RegistryOptions::from_basic_auth(Some("url"), info(), None).map(|o| o.user_info),
        Ok(None)
    );
    assert_eq!(
        RegistryOptions::from_basic_auth(Some("USER_INFO"), None, None),
        Err(crate::decode::RegistryOptionsError::MissingUserInfo)
    );
    assert_eq!(
        RegistryOptions::from_basic_auth(Some("SASL_INHERIT"), info(), None),
        Err(crate::decode::RegistryOptionsError::UnknownSource(
            "SASL_INHERIT".into()
        ))
    );
    assert_eq!(
        RegistryOptions::from_basic_auth(None, Some(Secret::new("nocolon")), None),
        Err(crate::decode::RegistryOptionsError::BadUserInfo)
    );
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("kcql-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ca.pem");
    std::fs::write(&path, "not a certificate").expect("write");
    let options = RegistryOptions {
        ca_file: Some(path.clone()),
        ..RegistryOptions::default()
    };
    let e = SchemaRegistry::with_options("https://127.0.0.1:1", &options, Duration::from_secs(1))
        .expect_err("no certificate");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    let missing = RegistryOptions {
        ca_file: Some(dir.join("absent.pem")),
        ..RegistryOptions::default()
    };
    let e = SchemaRegistry::with_options("https://127.0.0.1:1", &missing, Duration::from_secs(1))
        .expect_err("no file");
    assert!(
        e.to_string().contains("CA file: cannot read `") && e.to_string().contains("absent.pem"),
        "{e}"
    );
}
