//! A consumer error waiting cannot fix stops the InfluxDB sink and the window processor with
//! that error, against a real Apache Kafka broker, instead of being logged and retried forever
//! while the partition is not read (or, for errors after which librdkafka moves on, skipped).
//!
//! The error here: the group's committed offset is past the partition's end (the records were
//! deleted, or the topic was recreated) and `auto.offset.reset = error`, so librdkafka reports
//! `AutoOffsetReset` instead of silently jumping to the earliest or latest record.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kcql_runtime::config::Pipeline;
use kcql_runtime::connectors::influx_sink::SinkError;
use kcql_runtime::run::{run_pipeline, Observability};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::influx::{influx_url, require_influx, unique_db, DropDatabase};
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::names::unique;
use support::{settings, v1_props, RunningSink};

/// A topic with 5 records, and `group`'s committed offset at 1000 on it.
async fn topic_with_a_commit_past_its_end(prefix: &str, group: &str) -> String {
    let topic = kafka::unique_topic(prefix);
    kafka::create_topic(&topic, 1).await;
    kafka::produce(
        &topic,
        (0..5).map(|i| ProduceRecord::new(format!(r#"{{"id":"d","v":{i},"ts":{i}}}"#))),
    )
    .await;
    kafka::commit_offsets(group, &topic, &BTreeMap::from([(0, 1000)])).await;
    topic
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sink_stops_on_a_fatal_consumer_error() {
    require_influx().await;
    let group = kafka::unique_group("ce_sink");
    let topic = topic_with_a_commit_past_its_end("ce_sink", &group).await;
    let db = DropDatabase::new(unique_db("ce_sink"));
    let name = unique("ce-sink");
    let url = influx_url();
    let brokers = kafka::brokers();
    let kcql = format!("INSERT INTO m SELECT v FROM {topic} WITHTAG(id) AUTOCREATE");
    let mut props = v1_props(&name, &url, db.name(), &group, &kcql, &brokers);
    props.push(("kafka.auto.offset.reset", "error"));
    let sink = RunningSink::start(settings(&props));
    match sink.join().await {
        Err(SinkError::Consume { group: g, source }) => {
            assert_eq!(g, group);
            assert!(source.to_string().contains("AutoOffsetReset"), "{source}");
        }
        other => panic!("expected the consumer error, got {other:?}"),
    }
    assert_eq!(
        kafka::committed_offsets(&group, &topic).await.get(&0),
        Some(&1000),
        "nothing committed on the way out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_processor_stops_on_a_fatal_consumer_error() {
    let name = unique("ce-wp");
    let group = format!("kcql-{name}");
    let input = topic_with_a_commit_past_its_end("ce_wp_in", &group).await;
    let output = kafka::unique_topic("ce_wp_out");
    kafka::create_topic(&output, 1).await;
    let text = format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[kafka.properties]
"auto.offset.reset" = "error"
[[processor.window]]
name = "{name}"
kcql = "INSERT INTO {output} SELECT id, COUNT(*) AS n FROM {input} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
"#,
        brokers = kafka::brokers()
    );
    let pipeline = Pipeline::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e:?}"));
    let run = run_pipeline(pipeline, Shutdown::new(), Observability::default(), |_| {});
    let error = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the processor did not stop within 60 s")
        .expect_err("a fatal consumer error stops the processor");
    let text = error.to_string();
    assert!(
        text.contains("Kafka consumer of window processor") && text.contains("AutoOffsetReset"),
        "{text}"
    );
    assert_eq!(
        kafka::committed_offsets(&group, &input).await.get(&0),
        Some(&1000)
    );
}
