//! Tests of the MQTT source settings: properties, TOML tables and their errors.

use super::*;
use crate::config::properties::owned_pairs as props;
use crate::decode::Format;
use crate::redact::shown_every_way;
use kcql::plan::Converter;

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        (HOSTS, "tcp://127.0.0.1:1883"),
        (QOS, "1"),
        (KCQL, "INSERT INTO k SELECT * FROM /sensors/+"),
    ]
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = base();
    p.extend_from_slice(extra);
    p
}

fn errors(pairs: &[(&str, &str)]) -> Vec<MqttSettingsError> {
    MqttSourceSettings::from_properties(&props(pairs)).expect_err("must fail")
}

#[test]
fn defaults() {
    let s = MqttSourceSettings::from_properties(&props(&base())).unwrap();
    assert_eq!(s.qos, 1);
    assert!(!s.clean, "persistent session by default");
    assert_eq!(s.keep_alive, Duration::from_secs(5));
    assert_eq!(s.connect_timeout, Duration::from_secs(3));
    assert_eq!(s.error_policy, ErrorPolicy::Throw);
    assert_eq!(s.protocol, MqttVersion::V311);
    assert_eq!(s.max_inflight, DEFAULT_MAX_INFLIGHT);
    assert_eq!(s.tasks, 1);
    assert_eq!(s.bootstrap_servers(), DEFAULT_BOOTSTRAP);
    assert_eq!(
        s.brokers,
        vec![BrokerAddress {
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false
        }]
    );
    assert!(!s.client_id_explicit);
    let again = MqttSourceSettings::from_properties(&props(&base())).unwrap();
    assert_eq!(s.client_id, again.client_id, "stable across starts");
    let other = MqttSourceSettings::from_properties(&props(&with(&[(
        KCQL,
        "INSERT INTO k2 SELECT * FROM /x",
    )])))
    .unwrap();
    assert_ne!(s.client_id, other.client_id);
    assert_eq!(s.plan.routes[0].converter, Converter::Bytes);
}

#[test]
fn everything_set() {
    let s = MqttSourceSettings::from_properties(&props(&with(&[
        (USERNAME, "u"),
        (PASSWORD, "pw"),
        (CLIENT_ID, "me"),
        (CLEAN, "TRUE"),
        (KEEP_ALIVE, "1500"),
        (TIMEOUT, "250"),
        (ERROR_POLICY, "retry"),
        (RETRY_INTERVAL, "10"),
        (MAX_RETRIES, "-1"),
        (PROTOCOL, "5"),
        (MAX_INFLIGHT, "7"),
        (DLQ_TOPIC, "dead"),
        (TASKS_MAX, "3"),
        (SHARE_REPLICATE, "true"),
        ("kafka.bootstrap.servers", "k:1"),
        ("kafka.linger.ms", "2"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "false"),
    ])))
    .unwrap();
    assert_eq!(s.username.as_deref(), Some("u"));
    assert_eq!(s.password.as_ref().map(Secret::expose), Some("pw"));
    assert!(!format!("{s:?}").contains("pw\""));
    assert_eq!(s.client_id, "me");
    assert!(s.clean);
    assert_eq!(s.keep_alive, Duration::from_millis(1500));
    assert_eq!(s.connect_timeout, Duration::from_millis(250));
    assert_eq!(s.error_policy, ErrorPolicy::Retry);
    assert_eq!(s.max_retries, None);
    assert_eq!(s.protocol, MqttVersion::V5);
    assert_eq!(s.max_inflight, 7);
    assert_eq!(s.dlq_topic.as_deref(), Some("dead"));
    assert_eq!(s.tasks, 3);
    assert!(s.share_replicate);
    assert_eq!(s.bootstrap_servers(), "k:1");
    assert_eq!(s.kafka.get("linger.ms").map(String::as_str), Some("2"));
}

#[test]
fn throw_on_error_maps_to_the_policy() {
    let p = |v| {
        MqttSourceSettings::from_properties(&props(&with(&[(THROW_ON_ERROR, v)])))
            .unwrap()
            .error_policy
    };
    assert_eq!(p("true"), ErrorPolicy::Throw);
    assert_eq!(p("false"), ErrorPolicy::Noop);
    let errs = errors(&with(&[(THROW_ON_ERROR, "true"), (ERROR_POLICY, "noop")]));
    assert_eq!(errs[0].key(), THROW_ON_ERROR);
}

#[test]
fn every_problem_at_once() {
    let errs = errors(&[
        (QOS, "3"),
        (KEEP_ALIVE, "soon"),
        (CLEAN, "yes"),
        (ERROR_POLICY, "ignore"),
        (MAX_INFLIGHT, "0"),
        (PROTOCOL, "4.5"),
        (SSL_CERT, "/nonexistent/cert.pem"),
        ("connect.mqtt.hots", "x"),
        ("connect.mqtt.zzzzzzzzzzz", "x"),
        ("kafka.", "x"),
    ]);
    let mut keys: Vec<&str> = errs.iter().map(MqttSettingsError::key).collect();
    keys.sort_unstable();
    let mut want = vec![
        HOSTS,
        KCQL,
        QOS,
        KEEP_ALIVE,
        CLEAN,
        ERROR_POLICY,
        MAX_INFLIGHT,
        PROTOCOL,
        SSL_CERT,
        SSL_KEY,
        "connect.mqtt.hots",
        "connect.mqtt.zzzzzzzzzzz",
        "kafka.",
    ];
    want.sort_unstable();
    assert_eq!(keys, want, "{errs:#?}");
    let hots = errs
        .iter()
        .find(|e| e.key() == "connect.mqtt.hots")
        .unwrap();
    assert_eq!(
        hots.to_string(),
        "unknown key `connect.mqtt.hots` (did you mean `connect.mqtt.hosts`?)"
    );
}

#[test]
fn broker_uris() {
    let b = |s| BrokerAddress::parse(s);
    assert_eq!(b("ssl://h").unwrap().port, 8883);
    assert!(b("ssl://h").unwrap().tls);
    assert_eq!(b("h:1").unwrap().port, 1);
    assert_eq!(
        b("mqtt://localhost:61612?wireFormat.maxFrameSize=100000").unwrap(),
        BrokerAddress {
            host: "localhost".into(),
            port: 61612,
            tls: false
        }
    );
    assert!(b("ws://h").is_err());
    assert!(b("tcp://h:x").is_err());
    assert!(b("tcp://").is_err());
}

#[test]
fn kcql_errors_name_the_key() {
    let errs = errors(&with(&[(KCQL, "INSERT INTO k SELECT * FROM a/#/b")]));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].key(), KCQL);
    assert!(errs[0]
        .to_string()
        .starts_with("connect.mqtt.kcql is invalid"));
}

#[test]
fn toml_table() {
    let t: MqttSourceToml = toml::from_str(
        r#"
        hosts = ["tcp://127.0.0.1:1883"]
        kcql = ["INSERT INTO a SELECT * FROM /x", "INSERT INTO b SELECT * FROM /y"]
        protocol_version = "5"
        keep_alive = 2000
        error_policy = "NOOP"
        [kafka]
        "bootstrap.servers" = "k:9"
        "#,
    )
    .unwrap();
    let s = t.into_settings().unwrap();
    assert_eq!(s.plan.routes.len(), 2);
    assert_eq!(s.qos, 1);
    assert_eq!(s.protocol, MqttVersion::V5);
    assert_eq!(s.keep_alive, Duration::from_secs(2));
    assert_eq!(s.error_policy, ErrorPolicy::Noop);
    assert_eq!(s.bootstrap_servers(), "k:9");
    let bad = toml::from_str::<MqttSourceToml>(
        "hosts = [\"h\"]\nkcql = \"INSERT INTO a SELECT * FROM b\"\nhost = 1\n",
    )
    .unwrap_err();
    assert!(bad.to_string().contains("unknown field `host`"), "{bad}");
}

/// The TOML table and the session parameters made from the settings hold the password; their
/// `Debug` output does not show it (nor the Kafka credentials).
#[test]
fn debug_output_shows_no_credential() {
    let table: toml::Table = r#"
        hosts = ["tcp://127.0.0.1:1883"]
        kcql = "INSERT INTO k SELECT * FROM /a"
        username = "u"
        password = "hunter2-mqtt"
        [kafka]
        "security.protocol" = "SASL_SSL"
        "sasl.mechanism" = "PLAIN"
        "sasl.username" = "u"
        "sasl.password" = "hunter2-kafka"
    "#
    .parse()
    .unwrap();
    let t: MqttSourceToml = toml::Value::Table(table).try_into().unwrap();
    let shown = format!("{t:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let s = t.into_settings().unwrap();
    let session = crate::connectors::mqtt_source::session::SessionConfig::new(
        &s,
        "c".into(),
        vec!["/a".into()],
        None,
    );
    let shown = format!("{s:?} {session:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// A password written as a TOML number is a password, and a password of another type is
/// refused without quoting it.
#[test]
fn toml_passwords_may_be_numbers_and_type_errors_do_not_quote_them() {
    let read = |password: &str| {
        let table: toml::Table = format!(
            "hosts = [\"tcp://h:1883\"]\nkcql = \"INSERT INTO k SELECT * FROM /a\"\npassword = {password}\n"
        )
        .parse()
        .unwrap();
        toml::Value::Table(table).try_into::<MqttSourceToml>()
    };
    let t = read("12345678").unwrap();
    assert_eq!(t.password.as_ref().map(Secret::expose), Some("12345678"));
    let e = read("[\"hunter2\"]").unwrap_err().to_string();
    assert!(!e.contains("hunter2"), "{e}");
}

/// Credentials in a broker URI are refused (`connect.mqtt.username`/`password` carry them),
/// and no error about a URI shows them.
#[test]
fn broker_uri_credentials_are_refused_and_never_shown() {
    for hosts in [
        "tcp://user:hunter2@127.0.0.1:1883",
        "tcp://127.0.0.1:1883,ssl://user:hunter2@b:8883",
        "tcp://user:hunter2@h:notaport",
        "ws://user:hunter2@h:80",
    ] {
        let errs = errors(&with(&[(HOSTS, hosts)]));
        let shown = shown_every_way(&errs);
        assert!(!shown.contains("hunter2"), "{hosts}: {shown}");
        assert!(shown.contains("***@"), "{hosts}: {shown}");
    }
}

#[test]
fn bare_broker_addresses_with_credentials_are_refused_without_showing_them() {
    let e = BrokerAddress::parse("user:hunter2@h:1883").unwrap_err();
    assert!(!e.contains("hunter2") && e.contains("***@h:1883"), "{e}");
}

#[test]
fn max_message_bytes_defaults_to_the_producers_limit_and_may_not_exceed_it() {
    let limit = |extra: &[(&'static str, &'static str)]| {
        MqttSourceSettings::from_properties(&props(&with(extra))).map(|s| s.max_message_bytes)
    };
    assert_eq!(limit(&[]), Ok(DEFAULT_MESSAGE_MAX_BYTES));
    assert_eq!(
        limit(&[("kafka.message.max.bytes", "2000000")]),
        Ok(2_000_000)
    );
    assert_eq!(limit(&[(MAX_MESSAGE_BYTES, "5000")]), Ok(5_000));
    assert_eq!(
        limit(&[
            (MAX_MESSAGE_BYTES, "1500000"),
            ("kafka.message.max.bytes", "2000000")
        ]),
        Ok(1_500_000)
    );
    for (bad, key) in [
        (&[(MAX_MESSAGE_BYTES, "0")][..], MAX_MESSAGE_BYTES),
        (&[(MAX_MESSAGE_BYTES, "big")], MAX_MESSAGE_BYTES),
        (&[(MAX_MESSAGE_BYTES, "1000001")], MAX_MESSAGE_BYTES),
        (&[("kafka.message.max.bytes", "1MB")], PRODUCER_MAX_BYTES),
    ] {
        let errs = errors(&with(bad));
        assert_eq!(
            errs.iter().map(MqttSettingsError::key).collect::<Vec<_>>(),
            [key],
            "{bad:?}: {errs:?}"
        );
    }
    let above = errors(&with(&[(MAX_MESSAGE_BYTES, "1000001")]));
    assert!(
        above[0].to_string().contains("kafka.message.max.bytes"),
        "{}",
        above[0]
    );
    let t: MqttSourceToml = toml::from_str(
        r#"
        hosts = ["tcp://127.0.0.1:1883"]
        kcql = "INSERT INTO a SELECT * FROM /x"
        max_message_bytes = 4096
        "#,
    )
    .unwrap();
    assert_eq!(t.into_settings().unwrap().max_message_bytes, 4096);
}

#[test]
fn output_formats_and_their_errors() {
    use crate::decode::Format;
    let s = MqttSourceSettings::from_properties(&props(&base())).unwrap();
    assert_eq!(s.output.value.format(), Format::Json);
    assert_eq!(s.output.key.format(), Format::String);
    let s = MqttSourceSettings::from_properties(&props(&with(&[
        (output::VALUE_FORMAT_OUT, "confluent_avro"),
        (output::KEY_FORMAT_OUT, "confluent_avro"),
        (
            output::AVRO_SCHEMA_OUT,
            r#"{"type":"map","values":"double"}"#,
        ),
        (registry::SCHEMA_REGISTRY_URL, "http://127.0.0.1:8081"),
        (registry::BASIC_AUTH_USER_INFO, "u:hunter2"),
    ])))
    .unwrap();
    assert_eq!(s.output.value.format(), Format::ConfluentAvro);
    assert_eq!(s.output.key.format(), Format::ConfluentAvro);
    assert!(!format!("{s:?}").contains("hunter2"));

    let text = |e: Vec<MqttSettingsError>| e.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    let e = text(errors(&with(&[(output::VALUE_FORMAT_OUT, "avro")])));
    assert!(
        e.iter().any(|m| m
            .contains("connect.mqtt.value.format.out = avro needs connect.mqtt.avro.schema.out")),
        "{e:?}"
    );
    let e = text(errors(&with(&[
        (output::VALUE_FORMAT_OUT, "confluent_avro"),
        (output::AVRO_SCHEMA_OUT, r#""string""#),
    ])));
    assert!(
        e.iter()
            .any(|m| m.contains("confluent_avro needs connect.mqtt.schema.registry.url")),
        "{e:?}"
    );
    let e = text(errors(&with(&[(output::VALUE_FORMAT_OUT, "protobuf")])));
    assert!(
        e.iter()
            .any(|m| m.contains("connect.mqtt.value.format.out must be one of")),
        "{e:?}"
    );
    let e = text(errors(&with(&[
        (output::VALUE_FORMAT_OUT, "avro"),
        (output::AVRO_SCHEMA_OUT, "/nonexistent/schema.avsc"),
    ])));
    assert!(
        e.iter()
            .any(|m| m.contains("neither a JSON schema nor a readable file")),
        "{e:?}"
    );
}

#[test]
fn converters_choose_the_output_formats_when_no_format_key_is_given() {
    let schema = r#"{"type":"record","name":"r","fields":[{"name":"t","type":"double"}]}"#;
    let read = |extra: &[(&str, &str)]| {
        let mut pairs = vec![
            (HOSTS, "tcp://h:1883"),
            (KCQL, "INSERT INTO k SELECT * FROM /a"),
            ("connect.mqtt.avro.schema.out", schema),
            ("connect.mqtt.service.quality", "1"),
        ];
        pairs.extend_from_slice(extra);
        MqttSourceSettings::from_properties(&props(&pairs))
    };
    let avro = read(&[
        ("value.converter", "io.confluent.connect.avro.AvroConverter"),
        ("value.converter.schema.registry.url", "http://sr:8081"),
        ("value.converter.basic.auth.user.info", "u:hunter2"),
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        ),
    ])
    .unwrap();
    assert_eq!(avro.output.value.format(), Format::ConfluentAvro);
    assert_eq!(avro.output.key.format(), Format::String);
    assert!(!format!("{avro:?}").contains("hunter2"));
    let bytes = read(&[(
        "value.converter",
        "org.apache.kafka.connect.converters.ByteArrayConverter",
    )])
    .unwrap();
    assert_eq!(bytes.output.value.format(), Format::Bytes);
    let errors: Vec<String> = read(&[
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "true"),
        ("connect.mqtt.value.format.out", "string"),
    ])
    .unwrap_err()
    .iter()
    .map(|e| e.to_string())
    .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("not Kafka Connect's schema envelope"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "value.converter writes Json but connect.mqtt.value.format.out says String: give one of them"
    );
}
