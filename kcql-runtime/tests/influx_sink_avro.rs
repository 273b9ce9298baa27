//! The Kafka → InfluxDB sink reading Avro values, against the real Apache Kafka and InfluxDB
//! started by `scripts/services.sh`: raw Avro datums written with a configured schema, and the
//! Confluent wire format resolved through a Schema Registry (a stand-in on loopback, see
//! `kcql_testkit::registry`). The datums are written by `apache-avro`, not by our decoder's
//! own code.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use apache_avro::types::Value as Avro;
use kcql_runtime::dead_letter::{HEADER_CLASS, HEADER_OFFSET};
use kcql_testkit::influx::{require_influx, select_all};
use kcql_testkit::kafka::{
    consume_all_at, create_topic_at, produce_at, unique_group, unique_topic, ProduceRecord,
};
use kcql_testkit::registry::{confluent_payload, StubRegistry};
use support::{end_offsets, now_ns, settings, shared_db, v1_props, wait_committed, RunningSink};

const SENSOR: &str = r#"{"type":"record","name":"Sensor","namespace":"iot","fields":[
    {"name":"id","type":"string"},
    {"name":"temperature","type":"double"},
    {"name":"humidity","type":["null","int"],"default":null},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

const KCQL: &str = "INSERT INTO sensor SELECT * FROM {topic} WITHTIMESTAMP ts WITHTAG(id)";

/// Reading `i`: device `d{i % 3}`, temperature `20 + i / 4`, humidity `i` except every fifth
/// (null), time `base + i` ms.
fn datum(i: i64, base: i64) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(SENSOR).expect("schema parses");
    let humidity = if i % 5 == 0 {
        Avro::Union(0, Box::new(Avro::Null))
    } else {
        Avro::Union(1, Box::new(Avro::Int(i as i32)))
    };
    let record = Avro::Record(vec![
        ("id".into(), Avro::String(format!("d{}", i % 3))),
        ("temperature".into(), Avro::Double(20.0 + i as f64 / 4.0)),
        ("humidity".into(), humidity),
        ("ts".into(), Avro::TimestampMillis(base + i)),
    ]);
    apache_avro::to_avro_datum(&schema, record).expect("datum encodes")
}

/// The rows the sink must have written for readings `ids`, as `time id temperature humidity`.
fn expected(ids: impl Iterator<Item = i64>, base: i64) -> BTreeSet<String> {
    ids.map(|i| {
        let humidity = if i % 5 == 0 {
            "-".to_string()
        } else {
            i.to_string()
        };
        let time_ns = (base + i) * 1_000_000;
        format!("{time_ns} d{} {} {humidity}", i % 3, 20.0 + i as f64 / 4.0)
    })
    .collect()
}

/// The rows of `db`.`sensor`, in the form of [`expected`].
async fn written(db: &str) -> BTreeSet<String> {
    select_all(db, "sensor")
        .await
        .iter()
        .map(|r| {
            let humidity = r["humidity"]
                .as_i64()
                .map_or("-".to_string(), |h| h.to_string());
            format!(
                "{} {} {} {humidity}",
                r["time"].as_i64().expect("time"),
                r["id"].as_str().expect("id tag"),
                r["temperature"].as_f64().expect("temperature"),
            )
        })
        .collect()
}

/// Raw Avro (`connect.influx.value.format = avro` with the writer schema in
/// `connect.influx.avro.schema`): every reading becomes exactly its point, nullable union
/// fields included (a null humidity is an absent field).
#[tokio::test(flavor = "multi_thread")]
async fn raw_avro_values_become_exact_points() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_avro");
    let group = unique_group("sink_avro");
    let db = shared_db("sink_avro").await;
    create_topic_at(&brokers, &topic, 2).await;

    let base = now_ns() / 1_000_000 - 60_000;
    let n = 200i64;
    let records = (0..n).map(|i| ProduceRecord::new(datum(i, base)).partition((i % 2) as i32));
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = KCQL.replace("{topic}", &topic);
    let url = kcql_testkit::influx::influx_url();
    let mut props = v1_props("sink-avro", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.value.format", "avro"));
    props.push(("connect.influx.avro.schema", SENSOR));
    let sink = RunningSink::start(settings(&props));
    wait_committed(&brokers, &group, &topic, &end_offsets(&produced)).await;
    let metrics = sink.registry.render();
    sink.stop().await.expect("sink stops cleanly");

    assert_eq!(written(&db).await, expected(0..n, base), "{metrics}");
}

/// The Confluent wire format through Kafka Connect's own settings (`value.converter =
/// io.confluent.connect.avro.AvroConverter`, `value.converter.schema.registry.url`): the
/// registry is down for its first requests (the sink waits, losing nothing), each schema id is
/// fetched once, and a record whose id the registry does not know is skipped under NOOP,
/// counted as `schema_error` and dead-lettered with its original bytes.
#[tokio::test(flavor = "multi_thread")]
async fn confluent_avro_values_resolve_their_schema_through_the_registry() {
    require_influx().await;
    let registry = StubRegistry::start(&[(7, SENSOR)], 2).await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_confluent");
    let dlq = unique_topic("sink_confluent_dlq");
    let group = unique_group("sink_confluent");
    let db = shared_db("sink_confluent").await;
    create_topic_at(&brokers, &topic, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;

    let base = now_ns() / 1_000_000 - 60_000;
    let n = 100i64;
    let unknown = 37i64;
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|i| confluent_payload(if i == unknown { 99 } else { 7 }, &datum(i, base)))
        .collect();
    let records = payloads.iter().map(|p| ProduceRecord::new(p.clone()));
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = KCQL.replace("{topic}", &topic);
    let url = kcql_testkit::influx::influx_url();
    let mut props = v1_props("sink-confluent", &url, &db, &group, &kcql, &brokers);
    props.push(("value.converter", "io.confluent.connect.avro.AvroConverter"));
    props.push(("value.converter.schema.registry.url", registry.url()));
    props.push(("connect.influx.error.policy", "NOOP"));
    props.push(("connect.influx.dlq.topic", &dlq));
    let sink = RunningSink::start(settings(&props));
    wait_committed(&brokers, &group, &topic, &end_offsets(&produced)).await;
    let metrics = sink.registry.render();
    sink.stop().await.expect("sink stops cleanly");

    assert_eq!(
        written(&db).await,
        expected((0..n).filter(|&i| i != unknown), base),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "kcql_records_skipped_total{component=\"sink-confluent\",reason=\"schema_error\"} 1"
        ),
        "{metrics}"
    );
    // Two 503s, then id 7 once (cached after), then id 99 once (a 404 is not retried).
    assert_eq!(registry.requests(), 4, "registry requests");

    let letters = consume_all_at(&brokers, &dlq, 1, Duration::from_secs(60)).await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        letter.payload.as_deref(),
        Some(&payloads[unknown as usize][..])
    );
    assert_eq!(
        letter.header(HEADER_OFFSET),
        Some(unknown.to_string().as_bytes())
    );
    assert_eq!(letter.header(HEADER_CLASS), Some(&b"schema_error"[..]));
}

const SITE: &str = r#"{"type":"record","name":"Site","namespace":"iot","fields":[{"name":"site","type":"string"}]}"#;

/// Confluent Avro keys and values with Kafka Connect's registry settings
/// (`schema.registry.url`, `basic.auth.credentials.source = USER_INFO`,
/// `basic.auth.user.info`), the registry requiring basic auth and **not running when the sink
/// starts** (it comes up 3 s later on the configured address): nothing is written or
/// committed meanwhile, then every record becomes exactly its point, the key's field
/// included.
#[tokio::test(flavor = "multi_thread")]
async fn confluent_avro_keys_and_values_wait_for_a_registry_that_starts_late() {
    require_influx().await;
    let addr = kcql_testkit::registry::free_addr();
    let registry_url = format!("http://{addr}");
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_confluent_key");
    let group = unique_group("sink_confluent_key");
    let db = shared_db("sink_confluent_key").await;
    create_topic_at(&brokers, &topic, 2).await;

    let base = now_ns() / 1_000_000 - 60_000;
    let n = 60i64;
    let site_schema = apache_avro::Schema::parse_str(SITE).expect("key schema");
    let key = |i: i64| {
        let record = Avro::Record(vec![("site".into(), Avro::String(format!("s{}", i % 2)))]);
        confluent_payload(
            8,
            &apache_avro::to_avro_datum(&site_schema, record).expect("key"),
        )
    };
    let records = (0..n).map(|i| {
        ProduceRecord::new(confluent_payload(7, &datum(i, base)))
            .key(key(i))
            .partition((i % 2) as i32)
    });
    let produced = produce_at(&brokers, &[], &topic, records).await;

    let kcql = format!(
        "INSERT INTO sensor SELECT *, _key.site AS site FROM {topic} WITHTIMESTAMP ts WITHTAG(id)"
    );
    let url = kcql_testkit::influx::influx_url();
    let mut props = v1_props("sink-confluent-key", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.key.format", "confluent_avro"));
    props.push(("connect.influx.value.format", "confluent_avro"));
    props.push(("schema.registry.url", &registry_url));
    props.push(("basic.auth.credentials.source", "USER_INFO"));
    props.push(("basic.auth.user.info", "sink:registry-pw"));
    let sink = RunningSink::start(settings(&props));

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        written(&db).await.is_empty(),
        "points while the registry is down"
    );
    let committed = kcql_testkit::kafka::committed_offsets_at(&brokers, &group, &topic).await;
    assert_eq!(committed.values().sum::<i64>(), 0, "{committed:?}");
    let registry =
        kcql_testkit::registry::StubRegistry::start_with(kcql_testkit::registry::StubOptions {
            schemas: vec![(7, SENSOR.to_string()), (8, SITE.to_string())],
            basic_auth: Some(("sink".into(), "registry-pw".into())),
            addr: Some(addr),
            ..Default::default()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.failure(), None, "the sink failed");
    wait_committed(&brokers, &group, &topic, &end_offsets(&produced)).await;
    let metrics = sink.registry.render();
    sink.stop().await.expect("sink stops cleanly");

    assert_eq!(written(&db).await, expected(0..n, base), "{metrics}");
    let sites: BTreeSet<(String, String)> = select_all(&db, "sensor")
        .await
        .iter()
        .map(|r| {
            (
                r["temperature"].as_f64().expect("temperature").to_string(),
                r["site"].as_str().expect("site from the key").to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = (0..n)
        .map(|i| ((20.0 + i as f64 / 4.0).to_string(), format!("s{}", i % 2)))
        .collect();
    assert_eq!(sites, want);
    let header = kcql_testkit::registry::basic_auth_header("sink", "registry-pw");
    assert!(registry
        .authorizations()
        .iter()
        .all(|a| a.as_deref() == Some(header.as_str())));
}

/// Wrong registry credentials are not a property of the records: under NOOP the sink must not
/// skip and dead-letter every record, it stops with the registry's answer (HTTP 401), having
/// committed nothing and dead-lettered nothing.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_registry_credentials_stop_the_sink_instead_of_poisoning_records() {
    require_influx().await;
    let registry =
        kcql_testkit::registry::StubRegistry::start_with(kcql_testkit::registry::StubOptions {
            schemas: vec![(7, SENSOR.to_string())],
            basic_auth: Some(("sink".into(), "right".into())),
            ..Default::default()
        })
        .await;
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic("sink_registry_401");
    let dlq = unique_topic("sink_registry_401_dlq");
    let group = unique_group("sink_registry_401");
    let db = shared_db("sink_registry_401").await;
    create_topic_at(&brokers, &topic, 1).await;
    create_topic_at(&brokers, &dlq, 1).await;
    let base = now_ns() / 1_000_000 - 60_000;
    let records = (0..10).map(|i| ProduceRecord::new(confluent_payload(7, &datum(i, base))));
    produce_at(&brokers, &[], &topic, records).await;

    let kcql = KCQL.replace("{topic}", &topic);
    let url = kcql_testkit::influx::influx_url();
    let mut props = v1_props("sink-registry-401", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.value.format", "confluent_avro"));
    props.push(("schema.registry.url", registry.url()));
    props.push(("basic.auth.user.info", "sink:wrong"));
    props.push(("connect.influx.error.policy", "NOOP"));
    props.push(("connect.influx.dlq.topic", &dlq));
    let sink = RunningSink::start(settings(&props));
    let error = sink.join().await.expect_err("the sink stops");
    let text = error.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(!text.contains("wrong"), "the password is not shown: {text}");
    let committed = kcql_testkit::kafka::committed_offsets_at(&brokers, &group, &topic).await;
    assert_eq!(committed.values().sum::<i64>(), 0, "{committed:?}");
    let letters = kcql_testkit::kafka::end_offsets_at(&brokers, &dlq).await;
    assert_eq!(
        letters.values().sum::<i64>(),
        0,
        "dead-lettered: {letters:?}"
    );
    assert!(written(&db).await.is_empty());
}
