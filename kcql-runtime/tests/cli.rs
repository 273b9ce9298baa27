//! Runs the real `kcql` binary: exit codes, output and diagnostics.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kcql(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kcql"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcql");
    {
        let mut input = child.stdin.take().expect("stdin");
        // A usage error exits before reading standard input: a broken pipe is expected then.
        if let Err(e) = input.write_all(stdin.unwrap_or("").as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    child.wait_with_output().expect("wait for kcql")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn parse_json_prints_the_ast() {
    let out = kcql(
        &[
            "parse",
            "--json",
            "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP sys_time() WITHTAG(id, poweredBy=Lenses)",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ast: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(ast["source"], "sensor_avg");
    assert_eq!(ast["head"]["target"], "sensor");
    assert_eq!(ast["timestamp"]["kind"], "sys_time");
    assert_eq!(
        ast["tags"][1]["key"]["segments"],
        serde_json::json!(["poweredBy"])
    );
    assert_eq!(ast["tags"][1]["value"], "Lenses");
}

#[test]
fn parse_prints_canonical_kcql() {
    let out = kcql(
        &["parse", "insert into t select a as b from s withtag(x)"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "INSERT INTO t SELECT a AS b FROM s WITHTAG (x)\n"
    );
}

#[test]
fn check_rejects_a_near_miss_keyword_with_a_caret_and_suggestion() {
    let out = kcql(
        &["check", "-"],
        Some("INSERT INTO t SELECT * FROM s WITHTAGS(a)"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("found `WITHTAGS`"), "{err}");
    assert!(err.contains("did you mean `WITHTAG`?"), "{err}");
    assert!(err.contains(" --> 1:31"), "{err}");
    assert!(err.contains("^^^^^^^^"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn check_accepts_valid_files_and_counts_statements() {
    let dir = std::env::temp_dir().join(format!("kcql-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ok.kcql");
    std::fs::write(
        &file,
        "INSERT INTO a SELECT * FROM b;\nSELECT x FROM `c;d`;\n",
    )
    .unwrap();
    let out = kcql(&["check", file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 2 statements\n");
}

#[test]
fn fmt_prints_each_statement_canonically() {
    let out = kcql(
        &["fmt"],
        Some("upsert into t select * from s pk id batch=10; select a from b limit 5"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "UPSERT INTO t SELECT * FROM s PK id BATCH = 10;\nSELECT a FROM b LIMIT 5\n"
    );
}

#[test]
fn multi_statement_errors_name_the_statement() {
    let out = kcql(
        &["check"],
        Some("SELECT * FROM a;\nSELECT * FROM b LIMIT 0"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("statement 2"), "{err}");
    assert!(err.contains(" --> 2:23"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(kcql(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(kcql(&["parse", "--nope", "x"], None).status.code(), Some(2));
    assert_eq!(
        kcql(&["check", "/nonexistent/file.kcql"], None)
            .status
            .code(),
        Some(2)
    );
}

const PIPELINE_PROCESSOR: &str = "INSERT INTO sensor_avg SELECT id, MIN(temperature), MAX(temperature), AVG(temperature) FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)";

#[test]
fn explain_prints_all_four_formats() {
    let text = kcql(
        &["explain", "--connector", "processor"],
        Some(PIPELINE_PROCESSOR),
    );
    assert_eq!(
        text.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("route 1: kafka: sensor_data → kafka: sensor_avg"),
        "{t}"
    );
    assert!(
        t.contains("aggregates: #1 min(temperature), #2 max(temperature), #3 avg(temperature)"),
        "{t}"
    );

    let json = kcql(
        &["explain", "--connector", "processor", "--format", "json"],
        Some(PIPELINE_PROCESSOR),
    );
    assert_eq!(json.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON plan");
    assert_eq!(plan["connector"], "processor");
    assert_eq!(plan["routes"][0]["window"]["kind"]["size"]["millis"], 2000);
    assert_eq!(
        plan["routes"][0]["aggregates"].as_array().map(Vec::len),
        Some(3)
    );

    let dot = kcql(
        &["explain", "--connector", "processor", "--format", "dot"],
        Some(PIPELINE_PROCESSOR),
    );
    let d = String::from_utf8_lossy(&dot.stdout);
    assert!(d.starts_with("digraph kcql {"), "{d}");
    assert!(d.contains("n0 -> r0 -> n1;"), "{d}");

    let mermaid = kcql(
        &["explain", "--connector", "processor", "--format", "mermaid"],
        Some(PIPELINE_PROCESSOR),
    );
    let m = String::from_utf8_lossy(&mermaid.stdout);
    assert!(m.starts_with("flowchart LR"), "{m}");
    assert!(m.contains("n0 --> r0 --> n1"), "{m}");
    assert!(m.contains("n0[(\"kafka: sensor_data\")]"), "{m}");
}

#[test]
fn check_with_a_connector_rejects_what_it_cannot_honour() {
    let out = kcql(
        &["check", "--connector", "influx"],
        Some("INSERT INTO m SELECT * FROM t PK id"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("PK is not supported by the influx connector"),
        "{err}"
    );
    assert!(err.contains("did you mean WITHTAG?"), "{err}");
    assert!(err.contains("^^^^^"), "{err}");

    let ok = kcql(
        &["check", "--connector", "mqtt"],
        Some("INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)"),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), "ok: 1 statement for the mqtt connector\n");

    let agg = kcql(&["check", "--connector", "mqtt"], Some(PIPELINE_PROCESSOR));
    assert_eq!(agg.status.code(), Some(1));
    assert!(
        text(&agg.stderr).contains("window processor"),
        "{}",
        text(&agg.stderr)
    );
    assert_eq!(
        kcql(&["explain", "--connector", "nope"], Some("SELECT * FROM t"))
            .status
            .code(),
        Some(2)
    );
}

/// `kcql run --check` on files whose problems sit next to credentials: the errors give the
/// position and the problem, and neither standard output nor standard error shows a
/// credential (a TOML syntax error on a password's line, credentials in URLs).
#[test]
fn run_check_never_prints_a_credential() {
    let dir = std::env::temp_dir().join(format!("kcql-cli-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let syntax = dir.join("syntax.toml");
    std::fs::write(
        &syntax,
        "[[sink.influx]]\nname = \"s\"\npassword = \"hunter2\nurl = \"http://127.0.0.1:8086\"\n",
    )
    .unwrap();
    let urls = dir.join("urls.toml");
    std::fs::write(
        &urls,
        r#"
[kafka.properties]
"sasl.password" = "hunter2-kafka"

[[sink.influx]]
name = "s"
kcql = "INSERT INTO m SELECT * FROM t"
url = "http://admin:hunter2@127.0.0.1:8086"
db = "d"
username = "u"
password = "hunter2-influx"

[[source.mqtt]]
name = "m"
hosts = ["tcp://u:hunter2@127.0.0.1:1883"]
kcql = "INSERT INTO t SELECT * FROM /a"
password = 12345678

[[processor.window]]
name = "w"
kcql = "INSERT INTO o SELECT id, max(t) AS m FROM t GROUP BY id WINDOW TUMBLING(2s)"
value_format = "confluent_avro"
schema_registry_url = "ftp://u:hunter2@registry:8081"
"#,
    )
    .unwrap();
    let properties = dir.join("sink.properties");
    std::fs::write(
        &properties,
        "connect.influx.url=http://u:hunter2@127.0.0.1:99999\nconnect.influx.db=d\n\
         connect.influx.username=u\nconnect.influx.password=hunter2-p\n\
         connect.influx.kcql=INSERT INTO m SELECT * FROM t\nkafka.sasl.password=hunter2-k\n",
    )
    .unwrap();
    for (file, expected) in [
        (&syntax, "syntax.toml:3:20: not valid TOML"),
        (&urls, "http://***@127.0.0.1:8086"),
        (&properties, "http://***@127.0.0.1:99999"),
    ] {
        let out = kcql(&["run", "--check", file.to_str().unwrap()], None);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
        assert!(!all.contains("12345678"), "{all}");
        assert!(all.contains(expected), "{all}");
    }
    let all_urls = {
        let out = kcql(&["run", "--check", urls.to_str().unwrap()], None);
        text(&out.stderr)
    };
    assert!(all_urls.contains("tcp://***@127.0.0.1:1883"), "{all_urls}");
    assert!(all_urls.contains("ftp://***@registry:8081"), "{all_urls}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kcql run --check` names every missing or wrong Kafka security setting (by key, with the
/// accepted values) and prints no secret; a complete secured file passes.
#[test]
fn run_check_names_missing_and_wrong_kafka_security_settings() {
    let dir = std::env::temp_dir().join(format!("kcql-cli-security-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.properties");
    std::fs::write(
        &bad,
        "connect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\nconnect.influx.username=u\n\
         connect.influx.kcql=INSERT INTO m SELECT * FROM t\n\
         kafka.security.protocol=SASL_SSL\nkafka.sasl.password=hunter2\n\
         kafka.ssl.ca.location=/nonexistent/ca.pem\n\
         kafka.ssl.key.location=/nonexistent/client.key\n",
    )
    .unwrap();
    let unknown = dir.join("unknown.properties");
    std::fs::write(
        &unknown,
        "connect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\nconnect.mqtt.service.quality=1\n\
         producer.override.security.protocol=SASL_TLS\n",
    )
    .unwrap();
    let jks = dir.join("jks.properties");
    let store = dir.join("client.jks");
    std::fs::write(&store, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]).unwrap();
    std::fs::write(
        &jks,
        format!(
            "connect.mqtt.hosts=tcp://127.0.0.1:1883\nconnect.mqtt.kcql=INSERT INTO k SELECT * FROM /a\nconnect.mqtt.service.quality=1\n\
             kafka.security.protocol=SSL\nkafka.ssl.keystore.location={}\nkafka.ssl.keystore.password=hunter2\n",
            store.display()
        ),
    )
    .unwrap();
    for (file, expected) in [
        (
            &bad,
            &[
                "`sasl.mechanism`: security.protocol = SASL_SSL needs sasl.mechanism (one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)",
                "`ssl.ca.location`: names `/nonexistent/ca.pem`, which does not exist",
                "`ssl.certificate.location`: a client key is given",
                "`ssl.key.location`: names `/nonexistent/client.key`, which does not exist",
                "4 problems found",
            ][..],
        ),
        (
            &unknown,
            &["`security.protocol`: `SASL_TLS` is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"][..],
        ),
        (
            &jks,
            &["is a JKS key store", "keytool -importkeystore", "-deststoretype PKCS12"][..],
        ),
    ] {
        let out = kcql(&["run", "--check", file.to_str().unwrap()], None);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
        for e in expected {
            assert!(all.contains(e), "missing {e:?} in:\n{all}");
        }
    }
    let good = dir.join("good.properties");
    std::fs::write(
        &good,
        format!(
            "connect.influx.url=http://127.0.0.1:8086\nconnect.influx.db=d\nconnect.influx.username=u\n\
             connect.influx.kcql=INSERT INTO m SELECT * FROM t\n\
             consumer.override.security.protocol=SASL_SSL\nconsumer.override.sasl.mechanism=SCRAM-SHA-512\n\
             consumer.override.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter2\";\n\
             consumer.override.ssl.truststore.type=PEM\nconsumer.override.ssl.truststore.location={}\n",
            good_ca(&dir).display()
        ),
    )
    .unwrap();
    let out = kcql(&["run", "--check", good.to_str().unwrap()], None);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PEM file standing in for a CA certificate (`--check` reads only that it exists).
fn good_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let ca = dir.join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    ca
}
