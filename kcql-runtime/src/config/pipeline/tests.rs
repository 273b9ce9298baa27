//! Tests of the pipeline file loader.
use super::*;
use std::time::Duration;

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
    "security.protocol" = "SASL_SSL"
    "sasl.mechanism" = "SCRAM-SHA-256"
    "sasl.jaas.config" = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="hunter2-jaas";'

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
    properties = { "ssl.key.password" = "hunter2-processor-key" }
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
                kafka.security.protocol=SASL_SSL\nkafka.sasl.mechanism=PLAIN\nkafka.sasl.username=u\n\
                kafka.sasl.password=hunter2-b\nkafka.ssl.key.password=hunter2-c\n";
    let c = Pipeline::component_from_properties(text, "s.properties").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let mqtt = "connect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\nconnect.mqtt.service.quality=1\n\
                connect.mqtt.password=hunter2-d\nkafka.security.protocol=SASL_SSL\nkafka.sasl.mechanism=PLAIN\n\
                kafka.sasl.username=u\nkafka.sasl.password=hunter2-e\n";
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

/// Each test names its own variables: tests run in parallel in one process.
fn set_env(name: &str, value: &str) {
    // SAFETY-free in edition 2021; the names are unique to one test.
    std::env::set_var(name, value);
}

#[test]
fn references_resolve_in_every_table_of_a_pipeline_file() {
    set_env("KCQL_T1_INFLUX_PASSWORD", "hunter2-env");
    set_env("KCQL_T1_BROKERS", "k9:9093");
    let dir = std::env::temp_dir().join(format!("kcql-pipeline-refs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.properties");
    std::fs::write(&secrets, "sasl.password=hunter2-file\nmqtt=hunter2-mqtt\n").unwrap();
    let text = format!(
        r#"
        [kafka]
        brokers = "${{env:KCQL_T1_BROKERS}}"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        "sasl.mechanism" = "PLAIN"
        "sasl.username" = "u"
        "sasl.password" = "${{file:{f}:sasl.password}}"
        [[source.mqtt]]
        name = "m"
        kcql = "INSERT INTO k SELECT * FROM /a"
        hosts = ["tcp://127.0.0.1:1883"]
        username = "u"
        password = "${{file:{f}:mqtt}}"
        [[sink.influx]]
        name = "s"
        kcql = "INSERT INTO m SELECT * FROM t"
        url = "http://127.0.0.1:8086"
        db = "iot"
        username = "u"
        password = "${{env:KCQL_T1_INFLUX_PASSWORD}}"
        "#,
        f = secrets.display()
    );
    let p = Pipeline::from_toml_str(&text, "p.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let sink = p.components.iter().find(|c| c.name == "s").unwrap();
    assert_eq!(sink.kafka.bootstrap_servers(), "k9:9093");
    assert_eq!(
        sink.kafka
            .properties
            .get("sasl.password")
            .map(String::as_str),
        Some("hunter2-file")
    );
    let ComponentSettings::InfluxSink(s) = &sink.settings else {
        panic!("expected the sink");
    };
    let crate::config::InfluxTarget::V1 { password, .. } = &s.target else {
        panic!("expected a 1.x target");
    };
    assert_eq!(password.as_ref().map(|p| p.expose()), Some("hunter2-env"));
    let source = p.components.iter().find(|c| c.name == "m").unwrap();
    let ComponentSettings::MqttSource(m) = &source.settings else {
        panic!("expected the source");
    };
    assert_eq!(
        m.password.as_ref().map(|p| p.expose()),
        Some("hunter2-mqtt")
    );
    let shown = format!("{p:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unresolvable_reference_is_an_error_naming_the_key_never_an_empty_value() {
    let text = r#"
        [kafka.properties]
        "sasl.password" = "${env:KCQL_T2_SURELY_UNSET}"
        [[sink.influx]]
        kcql = "INSERT INTO m SELECT * FROM t"
        url = "http://127.0.0.1:8086"
        db = "iot"
        username = "u"
        password = "${file:/nonexistent/kcql/secrets.properties:influx}"
    "#;
    let errors = Pipeline::from_toml_str(text, "p.toml").unwrap_err();
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(
        all[0],
        "p.toml: kafka.properties: `sasl.password`: ${env:KCQL_T2_SURELY_UNSET}: the environment variable KCQL_T2_SURELY_UNSET is not set"
    );
    assert!(
        all[1].starts_with("p.toml: sink.influx[0]: `password`: ${file:/nonexistent/kcql/secrets.properties:…}: cannot read /nonexistent/kcql/secrets.properties: "),
        "{}",
        all[1]
    );
}

#[test]
fn references_resolve_in_properties_files() {
    set_env("KCQL_T3_PASSWORD", "hunter2-props");
    let text = "name=legacy\nconnect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\n\
                connect.influx.username=u\nconnect.influx.password=${env:KCQL_T3_PASSWORD}\n\
                connect.influx.kcql=INSERT INTO m SELECT * FROM t\n";
    let c = Pipeline::component_from_properties(text, "s.properties").unwrap();
    let ComponentSettings::InfluxSink(s) = &c.settings else {
        panic!("expected the sink");
    };
    let crate::config::InfluxTarget::V1 { password, .. } = &s.target else {
        panic!("expected a 1.x target");
    };
    assert_eq!(password.as_ref().map(|p| p.expose()), Some("hunter2-props"));
    let missing = text.replace("KCQL_T3_PASSWORD", "KCQL_T3_UNSET");
    let errors = Pipeline::component_from_properties(&missing, "s.properties").unwrap_err();
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        all,
        ["s.properties: connector: `connect.influx.password`: ${env:KCQL_T3_UNSET}: the environment variable KCQL_T3_UNSET is not set"]
    );
}

#[test]
fn durations_accept_milliseconds_or_a_unit_in_every_component() {
    let text = r#"
        [[source.mqtt]]
        name = "m"
        kcql = "INSERT INTO k SELECT * FROM /a"
        hosts = ["tcp://127.0.0.1:1883"]
        keep_alive = "10s"
        timeout = 1500
        retry_interval = "1m30s"
        [[processor.window]]
        name = "w"
        kcql = "INSERT INTO o SELECT id, max(t) AS m FROM t GROUP BY id WINDOW TUMBLING(2s)"
        max_future_ms = "2h"
        [[sink.influx]]
        name = "s"
        kcql = "INSERT INTO m SELECT * FROM t"
        url = "http://127.0.0.1:8086"
        db = "iot"
        username = "u"
        linger_ms = "250ms"
        retry_interval = "5s"
    "#;
    let p = Pipeline::from_toml_str(text, "p.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let by_name = |n: &str| &p.components.iter().find(|c| c.name == n).unwrap().settings;
    let ComponentSettings::MqttSource(m) = by_name("m") else {
        panic!("expected the source");
    };
    assert_eq!(m.keep_alive, Duration::from_secs(10));
    assert_eq!(m.connect_timeout, Duration::from_millis(1500));
    assert_eq!(m.retry_interval, Duration::from_secs(90));
    let ComponentSettings::WindowProcessor(w) = by_name("w") else {
        panic!("expected the processor");
    };
    assert_eq!(w.window.max_future_ms, 7_200_000);
    let ComponentSettings::InfluxSink(s) = by_name("s") else {
        panic!("expected the sink");
    };
    assert_eq!(s.linger, Some(Duration::from_millis(250)));
    assert_eq!(s.retry_interval, Duration::from_secs(5));

    let bad = text.replace("\"250ms\"", "\"250 parsecs\"");
    let errors = Pipeline::from_toml_str(&bad, "p.toml").unwrap_err();
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        all,
        ["p.toml: sink.influx[0] \"s\": connect.influx.linger.ms: `250 parsecs` is not a duration: write milliseconds (`1500`) or a number with a unit (`500ms`, `5s`, `1m30s`, `2h`; units ns, us, ms, s, m, h) (`linger_ms` in the pipeline file)"]
    );
}

#[test]
fn a_worker_file_gives_its_connectors_kafka_settings_and_default_converters() {
    let dir = std::env::temp_dir().join(format!("kcql-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let worker = write(
        "connect-standalone.properties",
        "bootstrap.servers=k1:9094\nplugin.path=/opt/connectors\noffset.storage.file.filename=/tmp/offsets\n\
         security.protocol=SASL_SSL\nconsumer.security.protocol=SASL_SSL\nconsumer.sasl.mechanism=SCRAM-SHA-512\n\
         consumer.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"p\";\n\
         producer.security.protocol=SASL_SSL\nproducer.compression.type=zstd\nproducer.sasl.mechanism=PLAIN\n\
         producer.sasl.username=u\nproducer.sasl.password=p\n\
         key.converter=org.apache.kafka.connect.storage.StringConverter\n\
         value.converter=io.confluent.connect.avro.AvroConverter\nvalue.converter.schema.registry.url=http://sr:8081\n",
    );
    let sink = write(
        "sink.properties",
        "name=influx\nconnector.class=com.datamountaineer.streamreactor.connect.influx.InfluxSinkConnector\n\
         topics=t\nconnect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\nconnect.influx.username=u\n\
         connect.influx.kcql=INSERT INTO m SELECT * FROM t\n",
    );
    let source = write(
        "source.properties",
        "name=mqtt\nconnect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\n\
         connect.mqtt.service.quality=1\nkafka.compression.type=lz4\n\
         connect.mqtt.avro.schema.out={\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"t\",\"type\":\"double\"}]}\n",
    );
    // The worker file may come anywhere; connect-standalone takes it first.
    let p = Pipeline::load(&[&sink, &worker, &source]).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(p.components.len(), 2);
    let influx = p.components.iter().find(|c| c.name == "influx").unwrap();
    assert_eq!(influx.kafka.bootstrap_servers(), "k1:9094");
    assert_eq!(
        influx
            .kafka
            .properties
            .get("sasl.mechanism")
            .map(String::as_str),
        Some("SCRAM-SHA-512")
    );
    assert_eq!(influx.kafka.properties.get("compression.type"), None);
    let ComponentSettings::InfluxSink(s) = &influx.settings else {
        panic!("expected the sink");
    };
    assert_eq!(s.record_format.value, crate::decode::Format::ConfluentAvro);
    assert_eq!(s.record_format.key, Some(crate::decode::Format::String));
    let mqtt = p.components.iter().find(|c| c.name == "mqtt").unwrap();
    let ComponentSettings::MqttSource(m) = &mqtt.settings else {
        panic!("expected the source");
    };
    assert_eq!(m.bootstrap_servers(), "k1:9094");
    assert_eq!(
        m.kafka.get("security.protocol").map(String::as_str),
        Some("SASL_SSL")
    );
    // The worker's converters are the source's output formats too.
    assert_eq!(
        m.output.value.format(),
        crate::decode::Format::ConfluentAvro
    );
    assert_eq!(m.output.key.format(), crate::decode::Format::String);
    // The connector's own `kafka.*` wins over the worker's producer settings.
    assert_eq!(
        m.kafka.get("compression.type").map(String::as_str),
        Some("lz4")
    );

    let alone = Pipeline::load(&[&worker]).unwrap_err();
    assert!(
        alone[0]
            .to_string()
            .contains("a Kafka Connect worker file runs nothing by itself"),
        "{alone:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Kafka Connect's `consumer.override.*` / `producer.override.*` keys and Java client names
/// reach the components' clients as librdkafka settings.
#[test]
fn connect_overrides_and_java_names_become_librdkafka_settings() {
    let sink = "name=s\nconnect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\nconnect.influx.username=u\n\
                connect.influx.kcql=INSERT INTO m SELECT * FROM t\n\
                consumer.override.bootstrap.servers=k:9094\n\
                consumer.override.security.protocol=SASL_SSL\n\
                consumer.override.sasl.mechanism=SCRAM-SHA-512\n\
                consumer.override.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"kcql\" password=\"hunter2\";\n";
    let c = Pipeline::component_from_properties(sink, "s.properties")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let get = |k: &str| c.kafka.properties.get(k).map(String::as_str);
    assert_eq!(c.kafka.bootstrap_servers(), "k:9094");
    assert_eq!(get("sasl.username"), Some("kcql"));
    assert_eq!(get("sasl.password"), Some("hunter2"));
    assert_eq!(get("sasl.jaas.config"), None);
    assert!(!format!("{c:?}").contains("hunter2"));
    let source = "connect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\nconnect.mqtt.service.quality=1\n\
                  producer.override.security.protocol=SASL_SSL\n\
                  producer.override.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\n";
    let c = Pipeline::component_from_properties(source, "m.properties")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let ComponentSettings::MqttSource(s) = &c.settings else {
        panic!("not a source: {c:?}");
    };
    assert_eq!(
        s.kafka.get("sasl.mechanism").map(String::as_str),
        Some("PLAIN")
    );
    assert_eq!(s.kafka.get("sasl.username").map(String::as_str), Some("u"));
}

/// Security problems of every component kind name the key, and never the secret.
#[test]
fn security_problems_name_the_key_in_every_component() {
    let text = r#"
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        "sasl.mechanism" = "SCRAM-SHA-512"
        "sasl.password" = "hunter2"

        [[sink.influx]]
        name = "s"
        kcql = "INSERT INTO m SELECT * FROM t"
        url = "http://127.0.0.1:8086"
        db = "d"
        username = "u"

        [[source.mqtt]]
        name = "m"
        hosts = ["tcp://127.0.0.1:1883"]
        kcql = "INSERT INTO t SELECT * FROM /a"

        [[processor.window]]
        name = "w"
        kcql = "INSERT INTO o SELECT id, max(t) AS m FROM t GROUP BY id WINDOW TUMBLING(2s)"
        [processor.window.kafka.properties]
        "ssl.ca.location" = "/nonexistent/ca.pem"
    "#;
    let errors = Pipeline::from_toml_str(text, "p.toml").unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = shown.join("\n");
    assert!(
        !crate::redact::shown_every_way(&errors).contains("hunter2"),
        "{all}"
    );
    for (at, key) in [
        ("sink.influx[0].kafka", "`sasl.username`"),
        ("source.mqtt[0]", "`sasl.username`"),
        ("processor.window[0].kafka", "`sasl.username`"),
        (
            "processor.window[0].kafka",
            "`ssl.ca.location`: names `/nonexistent/ca.pem`, which does not exist",
        ),
    ] {
        assert!(
            shown.iter().any(|e| e.contains(at) && e.contains(key)),
            "no {at} … {key} in:\n{all}"
        );
    }
}
