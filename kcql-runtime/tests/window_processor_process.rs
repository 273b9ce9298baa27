//! Scale-out under faults: two `kcql run` processes run the window processor in one consumer
//! group against a real Apache Kafka broker. Kafka's group protocol splits the input
//! partitions between them; one is SIGKILLed while records stream in, and at the session
//! timeout the other takes its partitions over from their committed offsets. Every window is
//! emitted complete and correct; a window emitted twice (by the dead process, then again by
//! its heir from the committed offsets) must be the same complete window.
//!
//! The `kcql` binary is this package's own (`CARGO_BIN_EXE_kcql`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kcql_testkit::devices::{tumbling_windows, Fleet, Reading, WindowStats};
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;

const KCQL: &str = env!("CARGO_BIN_EXE_kcql");
const DEVICES: usize = 12;
const PARTITIONS: i32 = 4;
const WINDOW_MS: i64 = 2_000;
/// 2024-12-01T00:00:00Z.
const BASE_MS: i64 = 1_733_011_200_000;
/// Event time covered by the readings, and readings per device per second of it.
const SECONDS: i64 = 40;
const RATE: u32 = 5;
/// Real time between two ticks (one reading of every device) as they are produced.
const TICK_EVERY: Duration = Duration::from_millis(40);

fn pipeline_file(dir: &Path, input: &str, output: &str, group: &str) -> PathBuf {
    let file = dir.join("processor.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[runtime]
metrics = "off"
[kafka]
brokers = "{brokers}"
# A SIGKILLed member keeps its partitions until its session times out (librdkafka: 45 s).
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
"fetch.wait.max.ms" = "50"
[[processor.window]]
name = "averages"
kcql = "INSERT INTO {output} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {input} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
group_id = "{group}"
"#,
            brokers = kafka::brokers()
        ),
    )
    .expect("write processor.toml");
    file
}

fn spawn(file: &Path) -> ChildProcess {
    ChildProcess::spawn(
        KCQL,
        ["run".as_ref(), file.as_os_str()],
        [("RUST_LOG", "info,rdkafka=warn")],
    )
    .expect("spawn kcql run")
}

/// Produces the readings tick by tick (keyed by device), paced by [`TICK_EVERY`].
async fn produce_paced(topic: String, readings: Vec<Reading>) {
    for tick in readings.chunks(DEVICES) {
        let records: Vec<ProduceRecord> = tick
            .iter()
            .map(|r| ProduceRecord::new(r.to_json()).key(r.id.clone()))
            .collect();
        kafka::produce(&topic, records).await;
        tokio::time::sleep(TICK_EVERY).await;
    }
}

/// What is wrong with an output record, if anything; its (device, window start) otherwise.
fn check(
    v: &serde_json::Value,
    expected: &BTreeMap<(String, i64), WindowStats>,
) -> Result<(String, i64), String> {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let start = v["window_start"].as_i64().unwrap_or_default();
    let Some(want) = expected.get(&(id.clone(), start)) else {
        return Err(format!("unexpected window {v}"));
    };
    let exact = v["n"].as_u64() == Some(want.count)
        && v["min_temp"].as_f64() == Some(want.min)
        && v["max_temp"].as_f64() == Some(want.max)
        && v["avg_temp"]
            .as_f64()
            .is_some_and(|a| (a - want.avg()).abs() < 1e-9)
        && v["window_end"].as_i64() == Some(want.window_end);
    if exact {
        Ok((id, start))
    } else {
        Err(format!("partial or wrong window {v}, expected {want:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processors_split_the_partitions_and_one_takes_over_when_the_other_is_sigkilled() {
    let input = kafka::unique_topic("wpp_in");
    let output = kafka::unique_topic("wpp_out");
    kafka::create_topic(&input, PARTITIONS).await;
    kafka::create_topic(&output, 1).await;
    let dir = std::env::temp_dir().join(unique("kcql-wpp"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = pipeline_file(&dir, &input, &output, &unique("wpp-group"));
    let readings = Fleet::new(DEVICES, 11).schedule(BASE_MS, SECONDS * 1000, RATE);
    let expected = tumbling_windows(&readings, WINDOW_MS);

    let mut survivor = spawn(&file);
    let mut victim = spawn(&file);
    for (name, child) in [("first", &mut survivor), ("second", &mut victim)] {
        assert!(
            child
                .wait_for_output("partitions assigned", Duration::from_secs(60))
                .await,
            "{name} processor got no partitions:\n{}",
            child.log_tail(40)
        );
    }
    // The group has settled when both hold partitions (the first held all four, gave half up).
    let producer = tokio::spawn(produce_paced(input.clone(), readings.clone()));
    // Both emit: the first windows of every device arrive.
    kafka::consume_all(&output, DEVICES * 3, Duration::from_secs(60)).await;
    assert!(
        victim.is_running() && survivor.is_running(),
        "a processor stopped:\n{}\n{}",
        victim.log_tail(20),
        survivor.log_tail(20)
    );
    victim.sigkill().expect("SIGKILL");
    assert!(
        !producer.is_finished(),
        "the kill must come while records stream in"
    );
    producer.await.expect("producer");
    // One record per partition beyond the data closes its last windows.
    let pusher = serde_json::json!({"id": "zz-watermark", "temperature": 0.0, "humidity": 0.0,
        "ts": BASE_MS + SECONDS * 1000 + 10_000})
    .to_string();
    kafka::produce(
        &input,
        (0..PARTITIONS).map(|p| ProduceRecord::new(pusher.clone()).partition(p)),
    )
    .await;

    // Every window arrives; each output is complete; duplicates only of complete windows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (seen, outputs) = loop {
        let total: i64 = kafka::end_offsets_at(&kafka::brokers(), &output)
            .await
            .values()
            .sum();
        let got = kafka::consume_all(&output, total as usize, Duration::from_secs(30)).await;
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        let mut windows = 0;
        for r in &got {
            let v = r.payload_json();
            if v["id"] == "zz-watermark" {
                continue;
            }
            windows += 1;
            match check(&v, &expected) {
                Ok(key) => {
                    seen.insert(key);
                }
                Err(p) => problems.push(p),
            }
        }
        assert!(
            problems.is_empty(),
            "{} bad outputs:\n{}",
            problems.len(),
            problems[..problems.len().min(10)].join("\n")
        );
        if seen.len() == expected.len() {
            break (seen, windows);
        }
        assert!(
            survivor.is_running(),
            "the survivor stopped:\n{}",
            survivor.log_tail(40)
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} windows after 120 s; survivor log:\n{}",
            seen.len(),
            expected.len(),
            survivor.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let repeated = outputs - seen.len();
    assert!(
        repeated <= expected.len(),
        "{repeated} repeated windows for {} windows",
        expected.len()
    );
    eprintln!(
        "scale-out: {} windows exact, {repeated} emitted twice after the takeover",
        expected.len()
    );
    survivor.sigterm().expect("SIGTERM");
    let _ = survivor.wait_with_timeout(Duration::from_secs(20)).await;
}
