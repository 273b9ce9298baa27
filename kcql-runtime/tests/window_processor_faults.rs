//! The window processor's error paths against a real Apache Kafka broker: whatever stops it
//! (an undeliverable window, a poison record under `THROW`, a resume token it cannot use), it
//! commits nothing past what it delivered; and a far-future event time is poison instead of
//! closing every open window early.
//!
//! Each processor here stops by itself, in this process: its consumer is closed as it is on
//! any error (the revoke path), which is what these tests are about. Crashes (SIGKILL) are in
//! `fault_matrix.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use kcql_runtime::config::Pipeline;
use kcql_runtime::run::{run_pipeline, Observability, RunError};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::names::unique;

/// Event time of the first reading.
const BASE: i64 = 1_733_011_200_000;
/// Readings per device, 200 ms apart.
const PER_DEVICE: i64 = 30;
const DEVICES: usize = 3;

/// `(device, event time, temperature)` of every reading, in production order.
fn readings() -> Vec<(String, i64, f64)> {
    (0..PER_DEVICE)
        .flat_map(|i| {
            (0..DEVICES).map(move |d| {
                (
                    format!("dev-{d}"),
                    BASE + 200 * i,
                    10.0 + ((i as usize * 7 + d * 3) % 11) as f64,
                )
            })
        })
        .collect()
}

fn reading(id: &str, ts: i64, t: f64) -> ProduceRecord {
    ProduceRecord::new(serde_json::json!({"id": id, "temperature": t, "ts": ts}).to_string())
}

/// A record the `WHERE` filters out that moves time past every reading's window: every
/// window closes and none holds its offset.
fn closer() -> ProduceRecord {
    reading("closer", BASE + 60_000, -1000.0)
}

/// (device, window start) → count of readings, for 2-second windows.
fn expected_counts() -> BTreeMap<(String, i64), u64> {
    let mut m = BTreeMap::new();
    for (id, ts, _) in readings() {
        *m.entry((id, ts - ts.rem_euclid(2000))).or_insert(0) += 1;
    }
    m
}

fn pipeline(input: &str, output: &str, name: &str, settings: &str) -> Pipeline {
    let text = format!(
        r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
[[processor.window]]
name = "{name}"
{settings}
kcql = "INSERT INTO {output} SELECT id, COUNT(*) AS n, MAX(temperature) AS max_temp FROM {input} WHERE temperature > -100 GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
"#,
        brokers = kafka::brokers()
    );
    Pipeline::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e:?}"))
}

/// Runs `pipeline` until it stops by itself (at most 60 s) and returns how.
async fn run_until_it_stops(pipeline: Pipeline) -> Result<(), RunError> {
    let shutdown = Shutdown::new();
    let run = run_pipeline(pipeline, shutdown.clone(), Observability::default(), |_| {});
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(result) => result,
        Err(_) => panic!("the processor did not stop by itself within 60 s"),
    }
}

/// Runs `pipeline` until `output` holds `n` records, then stops it cleanly.
async fn run_until_output(pipeline: Pipeline, output: &str, n: usize) -> Vec<serde_json::Value> {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_pipeline(
        pipeline,
        shutdown.clone(),
        Observability::default(),
        |_| {},
    ));
    let got =
        kafka::consume_exactly(output, n, Duration::from_secs(60), Duration::from_secs(2)).await;
    shutdown.trigger();
    task.await
        .expect("processor task")
        .expect("processor stopped cleanly");
    got.iter().map(|r| r.payload_json()).collect()
}

/// Every window in `got` is complete and every expected window is there.
fn assert_exact(got: &[serde_json::Value]) {
    let expected = expected_counts();
    let mut seen = BTreeMap::new();
    for v in got {
        let id = v["id"].as_str().expect("id").to_string();
        let start = v["window_start"].as_i64().expect("window_start");
        let n = v["n"].as_u64().expect("n");
        assert_eq!(
            expected.get(&(id.clone(), start)),
            Some(&n),
            "partial or unexpected window {v}"
        );
        seen.insert((id, start), n);
    }
    assert_eq!(seen, expected, "every window, complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeliverable_window_commits_nothing_past_it() {
    let input = kafka::unique_topic("wpf_undeliverable_in");
    let output = kafka::unique_topic("wpf_undeliverable_out");
    kafka::create_topic(&input, 1).await;
    // The broker refuses every window result: they are larger than 10 bytes.
    kafka::create_topic_with_config(&output, 1, &[("max.message.bytes", "10")]).await;
    let mut records: Vec<ProduceRecord> = readings()
        .into_iter()
        .map(|(id, ts, t)| reading(&id, ts, t))
        .collect();
    records.push(closer());
    kafka::produce(&input, records).await;
    let name = unique("wpf-undeliverable");

    let stopped = run_until_it_stops(pipeline(&input, &output, &name, "")).await;
    let error = stopped.expect_err("an undeliverable window stops the processor");
    assert!(error.to_string().contains("not delivered"), "{error}");
    let committed = kafka::committed_offsets(&format!("kcql-{name}"), &input).await;
    assert!(
        committed.values().all(|&offset| offset == 0),
        "the windows were not delivered, yet their records were committed: {committed:?}"
    );

    // Once the topic takes them, a restart delivers every window, complete.
    kafka::alter_topic_config(&output, &[("max.message.bytes", "1048588")]).await;
    let got = run_until_output(
        pipeline(&input, &output, &name, ""),
        &output,
        expected_counts().len(),
    )
    .await;
    assert_exact(&got);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_record_under_throw_is_never_committed_past() {
    let input = kafka::unique_topic("wpf_throw_in");
    let output = kafka::unique_topic("wpf_throw_out");
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    let mut records: Vec<ProduceRecord> = readings()
        .into_iter()
        .map(|(id, ts, t)| reading(&id, ts, t))
        .collect();
    records.push(closer());
    let poison_offset = records.len() as i64;
    kafka::produce(&input, records).await;
    let name = unique("wpf-throw");

    // Every window is delivered and committed before the poison record arrives.
    let first = tokio::spawn(run_until_it_stops(pipeline(&input, &output, &name, "")));
    let got: Vec<serde_json::Value> =
        kafka::consume_all(&output, expected_counts().len(), Duration::from_secs(60))
            .await
            .iter()
            .map(|r| r.payload_json())
            .collect();
    assert_exact(&got);
    kafka::produce(
        &input,
        [
            ProduceRecord::new("{not json"),
            reading("dev-0", BASE + 61_000, 1.0),
        ],
    )
    .await;
    let mut stopped = first.await.expect("first run");
    for run in ["first", "restart"] {
        let error = stopped.expect_err("THROW stops on the poison record");
        let text = error.to_string();
        assert!(
            text.contains(&format!("{input}[0]@{poison_offset}")),
            "{run}: the error names the record: {text}"
        );
        let committed = kafka::committed_offsets(&format!("kcql-{name}"), &input).await;
        assert!(
            committed.get(&0).is_some_and(|&o| o <= poison_offset),
            "{run}: committed past the poison record at {poison_offset}: {committed:?}"
        );
        stopped = run_until_it_stops(pipeline(&input, &output, &name, "")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_token_for_other_targets_stops_the_processor() {
    let input = kafka::unique_topic("wpf_token_in");
    let output = kafka::unique_topic("wpf_token_out");
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    let records: Vec<ProduceRecord> = readings()
        .into_iter()
        .map(|(id, ts, t)| reading(&id, ts, t))
        .chain([closer()])
        .collect();
    kafka::produce(&input, records).await;
    let name = unique("wpf-token");
    // The group's offsets were committed by a processor writing elsewhere (the KCQL changed).
    let foreign = r#"{"routes":[["somewhere_else",1733011210000]]}"#;
    kafka::commit_offsets_with_metadata_at(
        &kafka::brokers(),
        &format!("kcql-{name}"),
        &input,
        &BTreeMap::from([(0, 30)]),
        foreign,
    )
    .await;

    let error = run_until_it_stops(pipeline(&input, &output, &name, ""))
        .await
        .expect_err("a token for other targets stops the processor");
    let text = error.to_string();
    assert!(
        text.contains(&format!("cannot resume {input}[0]")) && text.contains("somewhere_else"),
        "{text}"
    );
    assert!(text.contains("group_id"), "says what to do: {text}");
    let produced: i64 = kafka::end_offsets_at(&kafka::brokers(), &output)
        .await
        .values()
        .sum();
    assert_eq!(produced, 0, "no window emitted with part of its records");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_far_future_event_time_is_poison_and_closes_no_window() {
    let input = kafka::unique_topic("wpf_future_in");
    let output = kafka::unique_topic("wpf_future_out");
    let dlq = kafka::unique_topic("wpf_future_dlq");
    kafka::create_topic(&input, 1).await;
    kafka::create_topic(&output, 1).await;
    kafka::create_topic(&dlq, 1).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let year = 365 * 24 * 3_600_000;
    let mut records: Vec<ProduceRecord> = Vec::new();
    for (i, (id, ts, t)) in readings().into_iter().enumerate() {
        records.push(reading(&id, ts, t));
        if i == 10 {
            // A device with its clock a year ahead, once kept by WHERE and once not.
            records.push(reading("dev-0", now + year, 20.0));
            records.push(reading("dev-0", now + year, -1000.0));
        }
    }
    records.push(closer());
    kafka::produce(&input, records).await;
    let name = unique("wpf-future");
    let settings = format!("error_policy = \"NOOP\"\ndlq_topic = \"{dlq}\"");

    let got = run_until_output(
        pipeline(&input, &output, &name, &settings),
        &output,
        expected_counts().len(),
    )
    .await;
    assert_exact(&got);
    let dead = kafka::consume_all(&dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "the kept far-future record is dead-lettered");
    assert_eq!(
        dead[0].payload_json()["ts"].as_i64(),
        Some(now + year),
        "{:?}",
        dead[0]
    );
}
