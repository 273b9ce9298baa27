//! Tests of the InfluxDB sink settings: defaults, every key, and the errors that name them.

use super::*;
use crate::config::properties::owned_pairs as props;
use crate::redact::{shown_every_way, SecretUrl};
use kcql::plan::TimestampPlan;

fn v1() -> Vec<(&'static str, &'static str)> {
    vec![
        (URL, "http://localhost:8086"),
        (DB, "mydb"),
        (USERNAME, "me"),
        (PASSWORD, "pw"),
        (KCQL, "INSERT INTO m SELECT * FROM t1 WITHTIMESTAMP ts"),
    ]
}

fn errors(pairs: &[(&str, &str)]) -> Vec<SettingsError> {
    InfluxSinkSettings::from_properties(&props(pairs)).expect_err("must fail")
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = v1();
    p.extend_from_slice(extra);
    p
}

fn format_of(extra: &[(&'static str, &'static str)]) -> RecordFormat {
    InfluxSinkSettings::from_properties(&props(&with(extra)))
        .unwrap_or_else(|e| panic!("{extra:?}: {e:?}"))
        .record_format
}

fn messages(extra: &[(&'static str, &'static str)]) -> Vec<String> {
    errors(&with(extra)).iter().map(|e| e.to_string()).collect()
}

const SCHEMA: &str = r#"{"type":"record","name":"r","fields":[{"name":"ts","type":"long"}]}"#;

#[test]
fn record_format_defaults_to_json_values_and_sniffed_keys() {
    assert_eq!(format_of(&[]), RecordFormat::default());
}

#[test]
fn record_format_from_our_keys_or_connect_converters() {
    let raw = format_of(&[(VALUE_FORMAT, "AVRO"), (AVRO_SCHEMA, SCHEMA)]);
    assert_eq!(raw.value, Format::Avro);
    assert_eq!(raw.avro_schema.as_deref(), Some(SCHEMA));
    let confluent = format_of(&[
        (VALUE_CONVERTER, "io.confluent.connect.avro.AvroConverter"),
        (VALUE_CONVERTER_REGISTRY, "http://127.0.0.1:8081"),
        (
            KEY_CONVERTER,
            "org.apache.kafka.connect.storage.StringConverter",
        ),
    ]);
    assert_eq!(confluent.value, Format::ConfluentAvro);
    assert_eq!(confluent.key, Some(Format::String));
    assert_eq!(
        confluent
            .schema_registry_url
            .as_ref()
            .map(SecretUrl::expose),
        Some("http://127.0.0.1:8081")
    );
    // Agreeing spellings of one setting are fine.
    let both = format_of(&[
        (VALUE_FORMAT, "json"),
        (
            VALUE_CONVERTER,
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        (VALUE_CONVERTER_SCHEMAS, "false"),
    ]);
    assert_eq!(both.value, Format::Json);
    assert_eq!(both.json_envelope, JsonEnvelope::default());
}

#[test]
fn json_converter_reads_the_schema_envelope_as_kafka_connect_does() {
    const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
    // JsonConverter's schemas.enable defaults to true.
    let default = format_of(&[(VALUE_CONVERTER, JSON), (KEY_CONVERTER, JSON)]);
    assert_eq!(
        default.json_envelope,
        JsonEnvelope {
            key: true,
            value: true
        }
    );
    let off = format_of(&[(VALUE_CONVERTER, JSON), (VALUE_CONVERTER_SCHEMAS, "false")]);
    assert!(!off.json_envelope.value);
    // Our own format key reads plain JSON unless asked.
    assert!(!format_of(&[(VALUE_FORMAT, "json")]).json_envelope.value);
    assert!(
        format_of(&[(VALUE_FORMAT, "json"), (VALUE_CONVERTER_SCHEMAS, "true")])
            .json_envelope
            .value
    );
    // Not JSON: no envelope.
    let avro = format_of(&[
        (VALUE_FORMAT, "confluent_avro"),
        (SCHEMA_REGISTRY_URL, "http://127.0.0.1:8081"),
        (VALUE_CONVERTER_SCHEMAS, "true"),
    ]);
    assert!(!avro.json_envelope.value);
}

#[test]
fn record_formats_that_cannot_work_name_their_key() {
    assert_eq!(
        messages(&[(VALUE_FORMAT, "protobuf")]),
        ["connect.influx.value.format must be one of json, string, bytes, avro, confluent_avro, got `protobuf`"]
    );
    assert_eq!(
        messages(&[(VALUE_FORMAT, "avro")]),
        ["connect.influx.value.format = avro needs connect.influx.avro.schema (the writer schema as JSON text)"]
    );
    assert_eq!(
        messages(&[(VALUE_FORMAT, "confluent_avro")]),
        ["connect.influx.value.format = confluent_avro needs connect.influx.schema.registry.url (or value.converter.schema.registry.url)"]
    );
    assert!(
        messages(&[(VALUE_FORMAT, "avro"), (AVRO_SCHEMA, "{nope")])[0]
            .starts_with("connect.influx.avro.schema: ")
    );
    let disagree = messages(&[
        (VALUE_FORMAT, "string"),
        (
            VALUE_CONVERTER,
            "org.apache.kafka.connect.json.JsonConverter",
        ),
    ]);
    assert_eq!(
        disagree,
        ["value.converter reads Json but connect.influx.value.format says String: give one of them"]
    );
    let unknown = messages(&[(VALUE_CONVERTER, "com.example.MyConverter")]);
    assert!(
        unknown[0].starts_with(
            "value.converter must be one of org.apache.kafka.connect.json.JsonConverter, "
        ) && unknown[0].ends_with(", got `com.example.MyConverter`"),
        "{unknown:?}"
    );
    let two_registries = messages(&[
        (VALUE_FORMAT, "confluent_avro"),
        (SCHEMA_REGISTRY_URL, "http://a:8081"),
        (VALUE_CONVERTER_REGISTRY, "http://b:8081"),
    ]);
    assert_eq!(
        two_registries,
        ["value.converter.schema.registry.url = `http://b:8081` disagrees with connect.influx.schema.registry.url = `http://a:8081`"]
    );
}

#[test]
fn v1_defaults() {
    let s = InfluxSinkSettings::from_properties(&props(&v1())).unwrap();
    assert_eq!(s.url, "http://localhost:8086");
    assert_eq!(s.error_policy, ErrorPolicy::Throw);
    assert_eq!(s.retry_interval, Duration::from_secs(60));
    assert_eq!(s.max_retries, Some(20));
    assert!(!s.progress_enabled && !s.gzip);
    assert_eq!(s.statement_count, 1);
    assert!(matches!(
        s.plan.routes[0].timestamp,
        TimestampPlan::Field { .. }
    ));
    assert_eq!(
        s.target,
        InfluxTarget::V1 {
            database: "mydb".into(),
            username: "me".into(),
            password: Some(Secret::new("pw")),
            retention_policy: "autogen".into(),
            consistency: Consistency::All,
        }
    );
    let c = s.influx_config();
    assert_eq!(c.url, "http://localhost:8086");
    assert!(matches!(
        c.api,
        Api::V1 {
            consistency: Some(Consistency::All),
            ..
        }
    ));
}

#[test]
fn v1_everything_set() {
    let s = InfluxSinkSettings::from_properties(&props(&with(&[
        (ERROR_POLICY, "retry"),
        (RETRY_INTERVAL, "500"),
        (MAX_RETRIES, "-1"),
        (RETENTION_POLICY, "week"),
        (CONSISTENCY, "quorum"),
        (PROGRESS, "TRUE"),
        (TOPICS, "t1"),
        (NAME, "influx"),
        (TASKS_MAX, "2"),
        (CONNECTOR_CLASS, "x.InfluxSinkConnector"),
        (BATCH_SIZE, "100"),
        (LINGER_MS, "250"),
        (GZIP, "true"),
        (DLQ_TOPIC, "dlq"),
        ("kafka.bootstrap.servers", "k:9092"),
        (PASSWORD, ""),
    ])))
    .unwrap();
    assert_eq!(s.error_policy, ErrorPolicy::Retry);
    assert_eq!(s.retry_interval, Duration::from_millis(500));
    assert_eq!(s.max_retries, None);
    assert!(s.progress_enabled && s.gzip);
    assert_eq!(s.topics, Some(vec!["t1".to_string()]));
    assert_eq!(s.name.as_deref(), Some("influx"));
    assert_eq!(s.tasks_max, Some(2));
    assert_eq!(s.dlq_topic.as_deref(), Some("dlq"));
    assert_eq!(
        s.kafka.get("bootstrap.servers").map(String::as_str),
        Some("k:9092")
    );
    let InfluxTarget::V1 {
        password,
        retention_policy,
        consistency,
        ..
    } = &s.target
    else {
        panic!("{:?}", s.target)
    };
    assert!(
        password.is_none(),
        "the last (empty) password wins and means none"
    );
    assert_eq!(retention_policy, "week");
    assert_eq!(*consistency, Consistency::Quorum);
    let c = s.influx_config();
    assert!(c.gzip);
    assert_eq!(c.batch.max_lines, 100);
    assert_eq!(c.batch.linger, Duration::from_millis(250));
}

#[test]
fn v2_form() {
    let s = InfluxSinkSettings::from_properties(&props(&[
        (URL, "http://h:8086"),
        (ORG, "acme"),
        (BUCKET, "b"),
        (TOKEN, "s3cret"),
        (KCQL, "INSERT INTO m SELECT * FROM t"),
    ]))
    .unwrap();
    assert!(
        matches!(&s.target, InfluxTarget::V2 { org, bucket, .. } if org == "acme" && bucket == "b")
    );
    assert!(!format!("{s:?}").contains("s3cret"));
    assert!(matches!(s.influx_config().api, Api::V2 { .. }));
}

#[test]
fn v2_incomplete_or_mixed() {
    let errs = errors(&[
        (URL, "http://h:8086"),
        (ORG, "acme"),
        (DB, "d"),
        (KCQL, "INSERT INTO m SELECT * FROM t"),
    ]);
    let keys: Vec<&str> = errs.iter().map(SettingsError::key).collect();
    assert_eq!(keys, vec![DB, BUCKET, TOKEN], "{errs:?}");
    assert!(errs[0].to_string().contains("cannot be combined"));
}

#[test]
fn blank_url_and_username_messages() {
    let errs = errors(&with(&[(URL, " "), (USERNAME, "")]));
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        vec![
            "connect.influx.url is not set correctly",
            "connect.influx.username is empty"
        ]
    );
}

#[test]
fn missing_required_keys_all_at_once() {
    let errs = errors(&[]);
    let keys: Vec<&str> = errs.iter().map(SettingsError::key).collect();
    assert_eq!(keys, vec![URL, DB, USERNAME, KCQL]);
    assert!(errs
        .iter()
        .all(|e| matches!(e, SettingsError::Key(KeyError::Missing { .. }))));
    assert_eq!(
        errs[0].to_string(),
        "missing required key `connect.influx.url`"
    );
}

#[test]
fn every_bad_value_is_reported_together() {
    let errs = errors(&with(&[
        (ERROR_POLICY, "ignore"),
        (RETRY_INTERVAL, "soon"),
        (MAX_RETRIES, "-2"),
        (CONSISTENCY, "most"),
        (PROGRESS, "yes"),
        (TASKS_MAX, "0"),
        (BATCH_SIZE, "0"),
        (LINGER_MS, "-5"),
        (GZIP, "1"),
        (TOPICS, "t1,t2"),
        ("connect.influx.ur", "x"),
        ("totally.different", "x"),
        ("kafka.", "x"),
    ]));
    let mut keys: Vec<&str> = errs.iter().map(SettingsError::key).collect();
    keys.sort_unstable();
    let mut want = vec![
        ERROR_POLICY,
        RETRY_INTERVAL,
        MAX_RETRIES,
        CONSISTENCY,
        PROGRESS,
        TASKS_MAX,
        BATCH_SIZE,
        LINGER_MS,
        GZIP,
        TOPICS,
        "connect.influx.ur",
        "totally.different",
        "kafka.",
    ];
    want.sort_unstable();
    assert_eq!(keys, want, "{errs:#?}");
}

#[test]
fn unknown_keys_get_suggestions() {
    let errs = errors(&with(&[
        ("connect.influx.passwrd", "x"),
        ("Connect.Influx.DB", "x"),
        ("connect.influx.zzzzzz", "x"),
    ]));
    assert_eq!(
        errs[0].to_string(),
        "unknown key `connect.influx.passwrd` (did you mean `connect.influx.password`?)"
    );
    assert_eq!(
        errs[1],
        SettingsError::Key(KeyError::UnknownKey {
            key: "Connect.Influx.DB".into(),
            suggestion: Some(DB)
        })
    );
    assert_eq!(errs[2].to_string(), "unknown key `connect.influx.zzzzzz`");
}

#[test]
fn kcql_errors_name_the_key() {
    let errs = errors(&with(&[(KCQL, "INSERT INTO m SELEC * FROM t")]));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].key(), KCQL);
    assert!(errs[0]
        .to_string()
        .starts_with("connect.influx.kcql is invalid:\n"));
    let errs = errors(&with(&[(KCQL, "")]));
    assert_eq!(errs[0].to_string(), "Missing [connect.influx.kcql]");
}

#[test]
fn topics_mismatch_names_the_difference() {
    let errs = errors(&with(&[
        (
            KCQL,
            "INSERT INTO m SELECT * FROM a; INSERT INTO n SELECT * FROM b",
        ),
        (TOPICS, "a, c"),
    ]));
    assert_eq!(
        errs,
        vec![SettingsError::TopicsMismatch {
            not_in_topics: vec!["b".into()],
            not_in_kcql: vec!["c".into()],
        }]
    );
    let msg = errs[0].to_string();
    assert!(msg.contains("not in topics: b") && msg.contains("read by no KCQL statement: c"));
}

#[test]
fn from_a_properties_file() {
    let text = "connect.influx.url=http://h:8086\nconnect.influx.db = d\n\
                connect.influx.username: u\nconnect.influx.kcql=INSERT INTO m \\\n  SELECT * FROM t\n";
    let pairs =
        crate::config::properties::into_pairs(crate::config::parse_properties(text).unwrap());
    let s = InfluxSinkSettings::from_properties(&pairs).unwrap();
    assert_eq!(s.kcql, "INSERT INTO m SELECT * FROM t");
}

/// A URL is checked when the settings are read (`kcql run --check` reports it), credentials
/// in it are refused, and no message shows them.
#[test]
fn url_problems_are_reported_without_the_credentials_in_them() {
    for url in ["http://user:hunter2@h:8086", "http://user:hunter2@h:99999"] {
        let errs = errors(&with(&[(URL, url)]));
        let shown = shown_every_way(&errs);
        assert!(errs.iter().any(|e| e.key() == URL), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
    let errs = errors(&with(&[
        (SCHEMA_REGISTRY_URL, "http://u:hunter2@r1:8081"),
        (VALUE_CONVERTER_REGISTRY, "http://u:hunter2@r2:8081"),
    ]));
    let shown = shown_every_way(&errs);
    assert!(shown.contains("disagrees"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn kafka_connect_error_keys_set_the_poison_policy_and_the_dead_letter_topic() {
    let read = |extra: &[(&'static str, &'static str)]| {
        InfluxSinkSettings::from_properties(&props(&with(extra)))
            .unwrap_or_else(|e| panic!("{extra:?}: {e:?}"))
    };
    let s = read(&[
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "dlq"),
    ]);
    assert_eq!(
        (s.error_policy, s.poison_policy),
        (ErrorPolicy::Throw, ErrorPolicy::Noop)
    );
    assert_eq!(s.dlq_topic.as_deref(), Some("dlq"));
    assert!(!s.dlq_context_headers, "Kafka Connect's default is false");
    let ours = read(&[(DLQ_TOPIC, "dlq")]);
    assert!(ours.dlq_context_headers);
    assert_eq!(ours.poison_policy, ErrorPolicy::Throw);
    let both = read(&[
        (DLQ_TOPIC, "dlq"),
        ("errors.deadletterqueue.topic.name", "dlq"),
        ("errors.deadletterqueue.context.headers.enable", "false"),
    ]);
    assert!(!both.dlq_context_headers);
    assert_eq!(
        messages(&[
            (DLQ_TOPIC, "a"),
            ("errors.deadletterqueue.topic.name", "b")
        ]),
        ["errors.deadletterqueue.topic.name = `b` disagrees with connect.influx.dlq.topic = `a`: give one of them"]
    );
}

#[test]
fn registry_settings_use_kafka_connect_names() {
    let f = format_of(&[
        (VALUE_FORMAT, "confluent_avro"),
        (registry::SCHEMA_REGISTRY_URL, "http://127.0.0.1:8081"),
        (registry::BASIC_AUTH_SOURCE, "USER_INFO"),
        (registry::BASIC_AUTH_USER_INFO, "reader:hunter2"),
    ]);
    assert_eq!(
        f.schema_registry_url.as_ref().map(SecretUrl::expose),
        Some("http://127.0.0.1:8081")
    );
    assert_eq!(
        f.registry_options.user_info.as_ref().map(|s| s.expose()),
        Some("reader:hunter2")
    );
    assert!(!format!("{f:?}").contains("hunter2"));
    let bad = messages(&[
        (VALUE_FORMAT, "confluent_avro"),
        (registry::SCHEMA_REGISTRY_URL, "http://127.0.0.1:8081"),
        (registry::BASIC_AUTH_SOURCE, "SASL_INHERIT"),
        (registry::REGISTRY_CA, "/nonexistent/ca.pem"),
    ]);
    assert!(
        bad.iter()
            .any(|m| m
                == "basic.auth.credentials.source must be USER_INFO or URL, got `SASL_INHERIT`"),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|m| m.starts_with(
            "schema.registry.ssl.truststore.location: cannot read `/nonexistent/ca.pem`"
        )),
        "{bad:?}"
    );
    let missing = messages(&[(registry::BASIC_AUTH_SOURCE, "USER_INFO")]);
    assert!(
        missing
            .iter()
            .any(|m| m.contains("USER_INFO needs basic.auth.user.info")),
        "{missing:?}"
    );
}

#[test]
fn avro_converter_settings_work_under_their_converter_prefix() {
    let f = format_of(&[
        (VALUE_CONVERTER, "io.confluent.connect.avro.AvroConverter"),
        (VALUE_CONVERTER_REGISTRY, "https://sr:8081"),
        ("value.converter.basic.auth.credentials.source", "USER_INFO"),
        ("value.converter.basic.auth.user.info", "reader:hunter2"),
    ]);
    assert_eq!(f.value, Format::ConfluentAvro);
    assert_eq!(
        f.registry_options.user_info.as_ref().map(|s| s.expose()),
        Some("reader:hunter2")
    );
    let disagree = messages(&[
        (VALUE_CONVERTER, "io.confluent.connect.avro.AvroConverter"),
        (VALUE_CONVERTER_REGISTRY, "https://sr:8081"),
        ("basic.auth.user.info", "a:hunter2"),
        ("value.converter.basic.auth.user.info", "b:hunter3"),
    ]);
    assert_eq!(
        disagree,
        ["value.converter.basic.auth.user.info disagrees with basic.auth.user.info: give one of them"]
    );
}
