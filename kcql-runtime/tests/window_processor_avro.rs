//! The window processor reading and writing Avro against the real Apache Kafka, with the
//! in-test Confluent Schema Registry (`kcql_testkit::registry`: the documented REST subset,
//! since no real registry installs on this machine). The outputs are decoded by `apache-avro`
//! (not by our decoder) with the schema the processor registered.
//!
//! * Confluent Avro in and out, the registry requiring basic auth and **down when the
//!   processor starts** (it comes up 3 s later on the address configured): every window is
//!   emitted exactly once and complete, nothing is skipped; a record whose schema id the
//!   registry does not know is poison (NOOP: dead-lettered with its bytes, class
//!   `poison_record`) and counts in no window.
//! * Raw Avro out with `avro_schema_out`: the values decode with that schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value as Avro;
use kcql_runtime::config::Pipeline;
use kcql_runtime::run::{run_pipeline, Observability};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::names::unique;
use kcql_testkit::registry::{
    basic_auth_header, confluent_payload, free_addr, StubOptions, StubRegistry,
};

const READING: &str = r#"{"type":"record","name":"Reading","namespace":"iot","fields":[
    {"name":"id","type":"string"},
    {"name":"temperature","type":"double"},
    {"name":"ts","type":"long"}]}"#;
const BASE: i64 = 1_733_011_200_000;
const DEVICES: usize = 4;
const PER_DEVICE: usize = 40;

/// Device `d`'s `i`-th reading at BASE + 250·i ms.
fn readings() -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for i in 0..PER_DEVICE {
        for d in 0..DEVICES {
            let t = 10.0 + ((i * 5 + d * 11) % 23) as f64 * 0.5;
            out.push((format!("dev-{d}"), BASE + 250 * i as i64, t));
        }
    }
    out
}

/// (device, window start) → (min, max, sum, n) over 2-second tumbling windows.
fn expected() -> BTreeMap<(String, i64), (f64, f64, f64, i64)> {
    let mut m = BTreeMap::new();
    for (id, ts, t) in readings() {
        let start = ts - ts.rem_euclid(2000);
        let e = m
            .entry((id, start))
            .or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0, 0));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
        e.2 += t;
        e.3 += 1;
    }
    m
}

fn datum(id: &str, t: f64, ts: i64) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(READING).expect("schema");
    let record = Avro::Record(vec![
        ("id".into(), Avro::String(id.into())),
        ("temperature".into(), Avro::Double(t)),
        ("ts".into(), Avro::Long(ts)),
    ]);
    apache_avro::to_avro_datum(&schema, record).expect("datum")
}

/// An Avro datum as JSON, read by apache-avro with `schema` (unions become their value).
fn to_json(schema: &str, datum: &[u8]) -> serde_json::Value {
    let schema = apache_avro::Schema::parse_str(schema).expect("output schema parses");
    let v = apache_avro::from_avro_datum(&schema, &mut &datum[..], None).expect("decodes");
    serde_json::Value::try_from(v).expect("as JSON")
}

/// Checks one output against the reference; returns its (device, window start).
fn check(
    v: &serde_json::Value,
    expected: &BTreeMap<(String, i64), (f64, f64, f64, i64)>,
) -> (String, i64) {
    let id = v["id"].as_str().expect("id").to_string();
    let start = v["window_start"].as_i64().expect("window_start");
    assert_eq!(v["window_end"].as_i64(), Some(start + 2000), "{v}");
    let e = expected
        .get(&(id.clone(), start))
        .unwrap_or_else(|| panic!("unexpected window {v}"));
    assert_eq!(v["n"].as_i64(), Some(e.3), "partial window {v}");
    assert_eq!(v["min_temp"].as_f64(), Some(e.0), "{v}");
    assert_eq!(v["max_temp"].as_f64(), Some(e.1), "{v}");
    let avg = v["avg_temp"].as_f64().expect("avg");
    assert!((avg - e.2 / e.3 as f64).abs() < 1e-9, "{v}");
    (id, start)
}

fn pipeline(input: &str, output: &str, name: &str, settings: &str) -> Pipeline {
    let brokers = kafka::brokers();
    let text = format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[[processor.window]]
name = "{name}"
{settings}
kcql = "INSERT INTO {output} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {input} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
"#
    );
    Pipeline::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e:?}"))
}

/// The readings as `encode` makes them, then one far-ahead record per partition.
async fn produce(topic: &str, encode: impl Fn(&str, f64, i64) -> Vec<u8>) {
    let mut records: Vec<ProduceRecord> = readings()
        .into_iter()
        .map(|(id, ts, t)| ProduceRecord::new(encode(&id, t, ts)).key(id))
        .collect();
    for p in kafka::partitions_of(topic).await {
        records.push(ProduceRecord::new(encode("pusher", 0.0, BASE + 60_000)).partition(p));
    }
    kafka::produce(topic, records).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confluent_avro_in_and_out_with_a_registry_that_starts_late() {
    let input = kafka::unique_topic("wpa_in");
    let output = kafka::unique_topic("wpa_out");
    let dlq = kafka::unique_topic("wpa_dlq");
    kafka::create_topic(&input, 2).await;
    kafka::create_topic(&output, 1).await;
    kafka::create_topic(&dlq, 1).await;
    // One record with an unknown schema id first, on partition 0: poison.
    let unknown = confluent_payload(99, &datum("dev-0", 1000.0, BASE));
    kafka::produce(&input, [ProduceRecord::new(unknown.clone()).partition(0)]).await;
    produce(&input, |id, t, ts| confluent_payload(1, &datum(id, t, ts))).await;
    let expected = expected();

    let addr = free_addr();
    let name = unique("wpa");
    let settings = format!(
        r#"value_format = "confluent_avro"
value_format_out = "confluent_avro"
schema_registry_url = "http://{addr}"
basic_auth_credentials_source = "USER_INFO"
basic_auth_user_info = "kcql:registry-secret"
error_policy = "NOOP"
dlq_topic = "{dlq}""#
    );
    let observability = Observability::default();
    let metrics = Arc::clone(&observability.registry);
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &name, &settings),
        shutdown.clone(),
        observability,
        |_| {},
    ));
    // The registry is down: nothing may be emitted or committed meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early = kafka::end_offsets_at(&kafka::brokers(), &output).await;
    assert_eq!(
        early.values().sum::<i64>(),
        0,
        "output while the registry is down"
    );
    let committed = kafka::committed_offsets(&format!("kcql-{name}"), &input).await;
    assert_eq!(
        committed.values().sum::<i64>(),
        0,
        "committed while down: {committed:?}"
    );
    let registry = StubRegistry::start_with(StubOptions {
        schemas: vec![(1, READING.to_string())],
        basic_auth: Some(("kcql".into(), "registry-secret".into())),
        addr: Some(addr),
        ..StubOptions::default()
    })
    .await;

    let got = kafka::consume_exactly(
        &output,
        expected.len(),
        Duration::from_secs(90),
        Duration::from_secs(3),
    )
    .await;
    shutdown.trigger();
    task.await.expect("joins").expect("stops cleanly");

    let registered = registry.registered();
    assert_eq!(registered.len(), 1, "{registered:?}");
    let (subject, schema, id) = &registered[0];
    assert_eq!(subject, &format!("{output}-value"));
    let mut seen = BTreeSet::new();
    for r in &got {
        let payload = r.payload.as_deref().expect("value");
        assert_eq!(payload[0], 0, "magic byte");
        assert_eq!(&payload[1..5], &id.to_be_bytes(), "schema id");
        let v = to_json(schema, &payload[5..]);
        let (device, start) = check(&v, &expected);
        assert_eq!(r.key_str(), Some(device.as_str()));
        assert!(seen.insert((device, start)), "emitted twice: {v}");
    }
    assert_eq!(seen.len(), expected.len());
    let header = basic_auth_header("kcql", "registry-secret");
    assert!(
        registry
            .authorizations()
            .iter()
            .all(|a| a.as_deref() == Some(header.as_str())),
        "{:?}",
        registry.authorizations()
    );

    let letters = kafka::consume_all(&dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload.as_deref(), Some(&unknown[..]));
    let text = metrics.render();
    assert!(
        text.contains(&format!(
            "kcql_records_dead_lettered_total{{component=\"{name}\"}} 1"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_avro_out_with_a_given_schema() {
    const OUT: &str = r#"{"type":"record","name":"Avg","fields":[
        {"name":"id","type":"string"},
        {"name":"window_start","type":"long"},
        {"name":"window_end","type":"long"},
        {"name":"min_temp","type":"double"},
        {"name":"max_temp","type":"double"},
        {"name":"avg_temp","type":"double"},
        {"name":"n","type":"long"}]}"#;
    let input = kafka::unique_topic("wpa_raw_in");
    let output = kafka::unique_topic("wpa_raw_out");
    kafka::create_topic(&input, 2).await;
    kafka::create_topic(&output, 1).await;
    produce(&input, |id, t, ts| {
        serde_json::json!({"id": id, "temperature": t, "ts": ts})
            .to_string()
            .into_bytes()
    })
    .await;
    let expected = expected();
    let settings = format!("value_format_out = \"avro\"\navro_schema_out = '''{OUT}'''");
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &unique("wpa-raw"), &settings),
        shutdown.clone(),
        Observability::default(),
        |_| {},
    ));
    let got = kafka::consume_exactly(
        &output,
        expected.len(),
        Duration::from_secs(90),
        Duration::from_secs(3),
    )
    .await;
    shutdown.trigger();
    task.await.expect("joins").expect("stops cleanly");
    let mut seen = BTreeSet::new();
    for r in &got {
        let v = to_json(OUT, r.payload.as_deref().expect("value"));
        assert!(seen.insert(check(&v, &expected)), "emitted twice: {v}");
    }
    assert_eq!(seen.len(), expected.len());
}

/// Window results that do not fit `avro_schema_out` (here `min_temp` is declared `long`, and
/// the minima have fractions) are poison outputs: under NOOP none is written, each is counted
/// and dead-lettered as its JSON text with class `schema_error`, and the input is still
/// committed (the processor goes on).
#[tokio::test(flavor = "multi_thread")]
async fn results_that_do_not_fit_the_schema_are_dead_lettered() {
    const OUT: &str = r#"{"type":"record","name":"Avg","fields":[
        {"name":"id","type":"string"},
        {"name":"window_start","type":"long"},
        {"name":"window_end","type":"long"},
        {"name":"min_temp","type":"long"},
        {"name":"max_temp","type":"double"},
        {"name":"avg_temp","type":"double"},
        {"name":"n","type":"long"}]}"#;
    let input = kafka::unique_topic("wpa_misfit_in");
    let output = kafka::unique_topic("wpa_misfit_out");
    let dlq = kafka::unique_topic("wpa_misfit_dlq");
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    kafka::create_topic(&dlq, 1).await;
    // Every reading has a fraction: no window's minimum is a whole number.
    produce(&input, |id, t, ts| {
        serde_json::json!({"id": id, "temperature": t + 0.125, "ts": ts})
            .to_string()
            .into_bytes()
    })
    .await;
    let windows = expected().len();
    let name = unique("wpa-misfit");
    let settings = format!(
        "value_format_out = \"avro\"\navro_schema_out = '''{OUT}'''\nerror_policy = \"NOOP\"\ndlq_topic = \"{dlq}\""
    );
    let observability = Observability::default();
    let metrics = Arc::clone(&observability.registry);
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline(&input, &output, &name, &settings),
        shutdown.clone(),
        observability,
        |_| {},
    ));
    let letters = kafka::consume_exactly(
        &dlq,
        windows,
        Duration::from_secs(90),
        Duration::from_secs(3),
    )
    .await;
    // Everything before the pusher is committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while kafka::committed_offsets(&format!("kcql-{name}"), &input)
        .await
        .values()
        .sum::<i64>()
        < (DEVICES * PER_DEVICE) as i64
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "input not committed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.trigger();
    task.await.expect("joins").expect("stops cleanly");

    let written = kafka::end_offsets_at(&kafka::brokers(), &output).await;
    assert_eq!(written.values().sum::<i64>(), 0, "misfits written");
    for letter in &letters {
        assert_eq!(
            letter.header(kcql_runtime::dead_letter::HEADER_CLASS),
            Some(&b"schema_error"[..])
        );
        let v = letter.payload_json();
        assert!(
            v["min_temp"].as_f64().is_some_and(|m| m.fract() != 0.0),
            "{v}"
        );
    }
    let text = metrics.render();
    assert!(
        text.contains(&format!(
            "kcql_window_outputs_skipped_total{{component=\"{name}\",reason=\"schema_error\"}} {windows}"
        )),
        "{text}"
    );
}
