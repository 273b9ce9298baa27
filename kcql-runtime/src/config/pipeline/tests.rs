//! Tests of the pipeline file loader.
use super::*;

const SINK: &str = r#"
    [kafka]
    brokers = "k1:9092"

    [[sink.influx]]
    name = "s1"
    kcql = "INSERT INTO m SELECT * FROM t WITHTAG(id)"
    url = "http://127.0.0.1:8086"
    db = "iot"
    username = "u"
    group_id = "g1"
    linger_ms = 50
    [sink.influx.kafka]
    properties = { "fetch.min.bytes" = "1" }
"#;

#[test]
fn a_sink_table_becomes_validated_settings() {
    let p = Pipeline::from_toml_str(SINK, "p.toml").unwrap();
    assert_eq!(p.metrics_addr.as_deref(), Some(DEFAULT_METRICS_ADDR));
    assert_eq!(p.components.len(), 1);
    let c = &p.components[0];
    assert_eq!(c.name, "s1");
    assert_eq!(c.kafka.bootstrap_servers(), "k1:9092");
    assert_eq!(
        c.kafka.properties.get("group.id").map(String::as_str),
        Some("g1")
    );
    assert_eq!(
        c.kafka
            .properties
            .get("fetch.min.bytes")
            .map(String::as_str),
        Some("1")
    );
    let ComponentSettings::InfluxSink(s) = &c.settings else {
        panic!("expected an influx sink, got {}", c.settings.kind());
    };
    assert_eq!(s.linger, Some(std::time::Duration::from_millis(50)));
    assert_eq!(s.plan.routes.len(), 1);
}

#[test]
fn every_problem_is_reported_at_once_with_suggestions() {
    let text = r#"
        [runtime]
        metrix = "x"
        [[sink.influx]]
        kcql = "INSERT INTO m SELECT * FROM t PK id"
        ulr = "http://x"
        db = "d"
        username = "u"
        [[sink.influxx]]
    "#;
    let errors = Pipeline::from_toml_str(text, "p.toml").unwrap_err();
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let joined = all.join("\n");
    assert!(
        joined.contains("unknown key `metrix` (did you mean `metrics`?)"),
        "{joined}"
    );
    assert!(
        joined.contains("unknown key `ulr` (did you mean `url`?)"),
        "{joined}"
    );
    assert!(
        joined.contains("unknown key `influxx` (did you mean `influx`?)"),
        "{joined}"
    );
    assert!(joined.contains("connect.influx.url"), "{joined}"); // missing url
    assert!(joined.contains("WITHTAG"), "{joined}"); // PK → did you mean WITHTAG
    assert!(all.len() >= 5, "{joined}");
}

#[test]
fn duplicate_component_names_are_rejected() {
    let text = format!("{SINK}\n[[sink.influx]]\nname = \"s1\"\nkcql = \"INSERT INTO m SELECT * FROM t\"\nurl = \"http://x\"\ndb = \"d\"\nusername = \"u\"\n");
    let dir = std::env::temp_dir().join(format!("kcql-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.toml");
    std::fs::write(&path, text).unwrap();
    let errors = Pipeline::load(&[&path]).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, PipelineError::DuplicateName { name, .. } if name == "s1")),
        "{errors:?}"
    );
}

#[test]
fn properties_files_are_recognised_by_their_keys() {
    let text = "name=legacy\nconnect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\nconnect.influx.username=u\nconnect.influx.kcql=INSERT INTO m SELECT * FROM t\nkafka.bootstrap.servers=b:1\n";
    let c = Pipeline::component_from_properties(text, "s.properties").unwrap();
    assert_eq!(c.name, "legacy");
    assert_eq!(c.kafka.bootstrap_servers(), "b:1");
    let err = Pipeline::component_from_properties("a=b\n", "x.properties").unwrap_err();
    assert!(matches!(err[0], PipelineError::UnknownConnector { .. }));
}

/// A pipeline with a credential in every place one can be written.
const SECRETS: &str = r#"
    [kafka]
    brokers = "k1:9092"
    [kafka.properties]
    "sasl.password" = "hunter2-kafka-shared"
    "sasl.jaas.config" = "hunter2-jaas"

    [[sink.influx]]
    name = "v1"
    kcql = "INSERT INTO m SELECT * FROM t"
    url = "http://127.0.0.1:8086"
    db = "iot"
    username = "u"
    password = "hunter2-influx-password"
    [sink.influx.kafka]
    properties = { "ssl.key.password" = "hunter2-ssl-key" }

    [[sink.influx]]
    name = "v2"
    kcql = "INSERT INTO m SELECT * FROM t2"
    url = "http://127.0.0.1:8086"
    org = "o"
    bucket = "b"
    token = "hunter2-influx-token"
    value_format = "confluent_avro"
    schema_registry_url = "https://u:hunter2-registry@127.0.0.1:8081"
    basic_auth_user_info = "u:hunter2-user-info"

    [[source.mqtt]]
    name = "mq"
    hosts = ["tcp://127.0.0.1:1883"]
    kcql = "INSERT INTO t SELECT * FROM /a"
    username = "u"
    password = "hunter2-mqtt"
    value_format_out = "confluent_avro"
    avro_schema_out = '{"type":"map","values":"string"}'
    schema_registry_url = "http://127.0.0.1:8081"
    basic_auth_user_info = "u:hunter2-mqtt-registry"
    [source.mqtt.kafka]
    "ssl.keystore.password" = "hunter2-keystore"

    [[processor.window]]
    name = "w"
    kcql = "INSERT INTO o SELECT id, max(t) AS m FROM t GROUP BY id WINDOW TUMBLING(2s)"
    value_format = "confluent_avro"
    schema_registry_url = "http://u:hunter2-registry@127.0.0.1:8081"
    basic_auth_credentials_source = "USER_INFO"
    basic_auth_user_info = "u:hunter2-processor-registry"
    value_format_out = "confluent_avro"
    [processor.window.kafka]
    properties = { "sasl.oauthbearer.client.secret" = "hunter2-oauth" }
"#;

#[test]
fn debug_output_of_a_pipeline_shows_no_credential() {
    let p = Pipeline::from_toml_str(SECRETS, "p.toml").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(p.components.len(), 4);
    let shown = format!("{p:?}\n{p:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    // The credentials are still there for the clients.
    let v1 = &p.components.iter().find(|c| c.name == "v1").unwrap().kafka;
    assert_eq!(
        v1.properties.get("ssl.key.password").map(String::as_str),
        Some("hunter2-ssl-key")
    );
}

#[test]
fn debug_output_of_a_properties_component_shows_no_credential() {
    let text = "name=legacy\nconnect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\n\
                connect.influx.username=u\nconnect.influx.password=hunter2-a\n\
                connect.influx.kcql=INSERT INTO m SELECT * FROM t\n\
                kafka.sasl.password=hunter2-b\nkafka.sasl.jaas.config=hunter2-c\n";
    let c = Pipeline::component_from_properties(text, "s.properties").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let mqtt = "connect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\nconnect.mqtt.service.quality=1\n\
                connect.mqtt.password=hunter2-d\nkafka.sasl.password=hunter2-e\n";
    let c = Pipeline::component_from_properties(mqtt, "m.properties").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// The `toml` crate's messages quote the offending source line; a line holding a
/// credential must not reach the terminal or a log. The position and the message do.
#[test]
fn toml_syntax_errors_do_not_echo_the_source_line() {
    for (text, line, column) in [
        (
            "[[sink.influx]]\nname = \"s\"\npassword = \"hunter2\n",
            3,
            20,
        ),
        ("[[sink.influx]]\npassword = hunter2\n", 2, 12),
        (
            "[kafka.properties]\n\"sasl.password\" = 'hunter2' 'x'\n",
            2,
            29,
        ),
    ] {
        let errors = Pipeline::from_toml_str(text, "p.toml").unwrap_err();
        let shown = crate::redact::shown_every_way(&errors);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            matches!(&errors[..], [PipelineError::Toml { line: l, column: c, .. }] if (*l, *c) == (line, column)),
            "{shown}"
        );
        assert!(
            errors[0]
                .to_string()
                .starts_with(&format!("p.toml:{line}:{column}: not valid TOML: ")),
            "{shown}"
        );
    }
}

#[test]
fn metrics_can_be_switched_off_or_moved() {
    let off = format!("[runtime]\nmetrics = \"off\"\n{SINK}");
    assert_eq!(
        Pipeline::from_toml_str(&off, "p").unwrap().metrics_addr,
        None
    );
    let bad = format!("[runtime]\nmetrics = \"nope\"\n{SINK}");
    assert!(Pipeline::from_toml_str(&bad, "p").is_err());
}
