//! Chaos: the talk's pipeline as three `kcql run` processes (MQTT source, window processor,
//! InfluxDB sink) on the real services, while a driver SIGKILLs a random one every few seconds
//! and restarts it. At the end nothing acknowledged is lost and every closed window in
//! InfluxDB is exact.
//!
//! * A deterministic fleet (`kcql_testkit::devices`, seed [`SEED`]) publishes one reading per
//!   device every [`TICK_MS`] of event time over MQTT with QoS 1, paced in real time, for
//!   `KCQL_CHAOS_SECONDS` seconds (default 40; `scripts/chaos.sh` runs it longer).
//! * The killer, seeded too (`KCQL_CHAOS_SEED`), waits 2–5 s, SIGKILLs one component, waits
//!   0.2–1.5 s and starts it again with the same files. The source keeps a persistent MQTT
//!   session (messages published while it is down wait in Mosquitto); the processor and the
//!   sink use static group membership (`group.instance.id`), so a restarted process takes its
//!   partitions back at once instead of after the dead member's session timeout.
//! * Then every component runs again, the data topic gets a record past the last window (the
//!   "watermark pusher"), and the test waits for every window in InfluxDB.
//!
//! What must hold:
//! * **MQTT → Kafka, at least once:** every published reading (each acknowledged by Mosquitto)
//!   is in the data topic. A SIGKILLed source may have produced records whose MQTT
//!   acknowledgement it never sent: Mosquitto redelivers them and they are in Kafka twice. These
//!   duplicates are counted and must stay below a bound per source kill.
//! * **Kafka → windows → InfluxDB, exact:** every window holds exactly the readings of its
//!   device and time span. The one allowed difference is a duplicated reading from the source
//!   (a second copy of a record in Kafka is a second record to the processor): a window may
//!   count some of its readings' Kafka duplicates, and then its count, sum and average must be
//!   those of the readings plus exactly such duplicates; min and max are unaffected. Restarts
//!   of the processor and the sink must add nothing: a window re-emitted after a restart is
//!   the same complete window, and InfluxDB keeps one point per (device, window end).
//!
//! The data topic has four partitions (devices keyed by id): a restarted processor reads them
//! from their committed offsets one partition at a time, behind windows it may already have
//! closed for others, and takes over partitions a killed member held.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kcql_testkit::devices::{tumbling_windows, Fleet, Reading, SplitMix64, WindowStats};
use kcql_testkit::influx::{self, DropDatabase};
use kcql_testkit::kafka::{self, ProduceRecord};
use kcql_testkit::mqtt;
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;
use kcql_testkit::window_points::{wait_for_every_window, StoredPoint};
use rumqttc::QoS;

const DEVICES: usize = 8;
const SEED: u64 = 77;
/// Event time between two readings of a device; readings are published at this pace too.
const TICK_MS: i64 = 250;
const WINDOW_MS: i64 = 2_000;
/// 2024-12-01T00:00:00Z.
const BASE_MS: i64 = 1_733_011_200_000;
const MEASUREMENT: &str = "sensor";
const PUSHER_ID: &str = "zz-watermark";
/// Most duplicates one source kill may cause: Mosquitto's in-flight window for the session
/// (`max_inflight_messages`, 20) plus what the source had produced and not yet acknowledged.
const DUPLICATES_PER_SOURCE_KILL: usize = 200;

/// The three components, as `kcql run` processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Part {
    Source,
    Processor,
    Sink,
}

const PARTS: [Part; 3] = [Part::Source, Part::Processor, Part::Sink];

/// The killer's choices, replayable from a seed.
struct Dice(SplitMix64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn between(&mut self, low_ms: u64, high_ms: u64) -> Duration {
        Duration::from_millis(low_ms + self.next() % (high_ms - low_ms + 1))
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The names and files of one chaos run.
struct Run {
    dir: PathBuf,
    prefix: String,
    data_topic: String,
    avg_topic: String,
    db: DropDatabase,
}

impl Run {
    async fn new() -> Run {
        let id = unique("chaos");
        let run = Run {
            dir: std::env::temp_dir().join(&id),
            prefix: format!("/{id}/sensors"),
            data_topic: kafka::unique_topic("chaos_sensor_data"),
            avg_topic: kafka::unique_topic("chaos_sensor_avg"),
            db: DropDatabase::new(influx::unique_db("chaos")),
        };
        std::fs::create_dir_all(&run.dir).expect("temp dir");
        kafka::create_topic(&run.data_topic, 4).await;
        kafka::create_topic(&run.avg_topic, 2).await;
        influx::create_db(run.db.name()).await;
        let common = format!(
            "[runtime]\nmetrics = \"off\"\n[kafka]\nbrokers = \"{}\"\n",
            kafka::brokers()
        );
        // Static membership: a restarted process takes its partitions back at once.
        let member = |part: &str| {
            format!(
                "[kafka.properties]\n\"fetch.wait.max.ms\" = \"50\"\n\"group.instance.id\" = \"{id}-{part}\"\n\"session.timeout.ms\" = \"10000\"\n"
            )
        };
        let files = [
            (
                Part::Source,
                format!(
                    r#"{common}
[[source.mqtt]]
name = "devices"
hosts = ["tcp://{host}:{port}"]
kcql = "INSERT INTO {data} SELECT * FROM {prefix}/+ WITHKEY(id)"
service_quality = 1
client_id = "{id}-source"
clean = false
"#,
                    host = mqtt::host(),
                    port = mqtt::port(),
                    data = run.data_topic,
                    prefix = run.prefix,
                ),
            ),
            (
                Part::Processor,
                format!(
                    r#"{common}{member}
[[processor.window]]
name = "averages"
kcql = "INSERT INTO {avg} SELECT id, MIN(temperature) AS min_temp, MAX(temperature) AS max_temp, AVG(temperature) AS avg_temp, COUNT(*) AS n FROM {data} GROUP BY id WINDOW TUMBLING(2s) WITHTIMESTAMP ts"
group_id = "{id}-averages"
error_policy = "NOOP"
"#,
                    member = member("averages"),
                    avg = run.avg_topic,
                    data = run.data_topic,
                ),
            ),
            (
                Part::Sink,
                format!(
                    r#"{common}{member}
[[sink.influx]]
name = "influx"
kcql = "INSERT INTO {MEASUREMENT} SELECT * FROM {avg} WITHTIMESTAMP window_end WITHTAG(id, poweredBy=kcql)"
url = "{url}"
db = "{db}"
username = "kcql"
group_id = "{id}-influx"
error_policy = "RETRY"
max_retries = 50
retry_interval = 500
linger_ms = 20
"#,
                    member = member("influx"),
                    avg = run.avg_topic,
                    url = influx::influx_url(),
                    db = run.db.name(),
                ),
            ),
        ];
        for (part, text) in files {
            std::fs::write(run.file(part), text).expect("write pipeline file");
        }
        run
    }

    fn file(&self, part: Part) -> PathBuf {
        self.dir.join(format!("{part:?}.toml").to_lowercase())
    }
}

/// Starts `part` and waits until it says it runs.
async fn start(bin: &Path, run: &Run, part: Part) -> ChildProcess {
    let file = run.file(part);
    let mut child = ChildProcess::spawn(
        bin,
        ["run".as_ref(), file.as_os_str()],
        [("RUST_LOG", "info,rdkafka=warn")],
    )
    .unwrap_or_else(|e| panic!("spawn kcql run ({part:?}): {e}"));
    assert!(
        child
            .wait_for_output("kcql: running", Duration::from_secs(60))
            .await,
        "kcql run ({part:?}) did not start:\n{}",
        child.log_tail(40)
    );
    child
}

/// Publishes the readings in real time, one tick (every device) per [`TICK_MS`].
async fn publish_paced(prefix: String, readings: Vec<Reading>) {
    let start = tokio::time::Instant::now();
    for (tick, chunk) in readings.chunks(DEVICES).enumerate() {
        tokio::time::sleep_until(start + Duration::from_millis(tick as u64 * TICK_MS as u64)).await;
        mqtt::publish_messages(
            chunk.iter().map(|r| (r.topic(&prefix), r.to_json())),
            QoS::AtLeastOnce,
        )
        .await;
    }
}

/// Every `(device, event time)` in the data topic, with how often it is there.
async fn data_in_kafka(topic: &str) -> BTreeMap<(String, i64), usize> {
    let total: i64 = kafka::end_offsets_at(&kafka::brokers(), topic)
        .await
        .values()
        .sum();
    let records = kafka::consume_all(topic, total as usize, Duration::from_secs(60)).await;
    let mut out = BTreeMap::new();
    for r in records {
        let v = r.payload_json();
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let ts = v["ts"].as_i64().unwrap_or_default();
        *out.entry((id, ts)).or_insert(0) += 1;
    }
    out
}

/// Whether some `extra` of `duplicates` (temperatures) add up to `sum` (within rounding).
fn some_add_up_to(duplicates: &[f64], extra: usize, sum: f64) -> bool {
    let n = duplicates.len();
    if extra > n || n > 20 {
        return false;
    }
    (0u32..1 << n)
        .filter(|mask| mask.count_ones() as usize == extra)
        .any(|mask| {
            let s: f64 = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| duplicates[i])
                .sum();
            (s - sum).abs() < 1e-6
        })
}

/// What is wrong with `got` for window `want`, given the temperatures of the window's readings
/// that Kafka holds more than once (`duplicates`, one entry per extra copy).
fn window_problem(got: &[StoredPoint], want: &WindowStats, duplicates: &[f64]) -> Option<String> {
    let [got] = got else {
        return Some(format!("{} points: {got:?}", got.len()));
    };
    let n = got.n.unwrap_or(0);
    let extra = n.checked_sub(want.count).map(|e| e as usize);
    let sum = got.avg.unwrap_or(f64::NAN) * n as f64;
    let exact_or_duplicates = match extra {
        Some(0) => (sum - want.sum).abs() < 1e-6,
        Some(extra) => some_add_up_to(duplicates, extra, sum - want.sum),
        None => false,
    };
    let ok = exact_or_duplicates
        && got.time_ms == want.window_end
        && got.window_start == Some(want.window_start)
        && got.min == Some(want.min)
        && got.max == Some(want.max)
        && got.powered_by.as_deref() == Some("kcql");
    (!ok).then(|| {
        format!(
            "stored {got:?}; expected min {} max {} n {} sum {} (Kafka duplicates of its readings: {duplicates:?})",
            want.min, want.max, want.count, want.sum
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_sigkills_of_every_component_lose_nothing_and_windows_stay_exact() {
    mqtt::wait_reachable();
    influx::require_influx().await;
    let bin = kcql_testkit::bin::kcql_binary();
    let seconds = env_u64("KCQL_CHAOS_SECONDS", 40) as i64;
    let mut dice = Dice(SplitMix64(env_u64("KCQL_CHAOS_SEED", 7)));
    let run = Run::new().await;

    let readings =
        Fleet::new(DEVICES, SEED).schedule(BASE_MS, seconds * 1000, (1000 / TICK_MS) as u32);
    let expected = tumbling_windows(&readings, WINDOW_MS);

    let mut children: HashMap<Part, ChildProcess> = HashMap::new();
    for part in PARTS {
        children.insert(part, start(&bin, &run, part).await);
    }
    // `running` means connected; give the source's SUBSCRIBE its round trip.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let publisher = tokio::spawn(publish_paced(run.prefix.clone(), readings.clone()));
    let mut kills: BTreeMap<Part, usize> = BTreeMap::new();
    while !publisher.is_finished() {
        tokio::time::sleep(dice.between(2_000, 5_000)).await;
        let part = PARTS[(dice.next() % 3) as usize];
        let mut child = children.remove(&part).expect("child");
        assert!(
            child.is_running(),
            "{part:?} died by itself:\n{}",
            child.log_tail(40)
        );
        child.sigkill().expect("SIGKILL");
        *kills.entry(part).or_default() += 1;
        eprintln!("chaos: SIGKILLed {part:?}");
        tokio::time::sleep(dice.between(200, 1_500)).await;
        children.insert(part, start(&bin, &run, part).await);
    }
    publisher.await.expect("publisher");
    eprintln!(
        "chaos: published {} readings; kills {kills:?}",
        readings.len()
    );

    // Everything published reaches Kafka, then the pusher closes the last windows.
    let deadline = Instant::now() + Duration::from_secs(120);
    let in_kafka = loop {
        let in_kafka = data_in_kafka(&run.data_topic).await;
        if readings
            .iter()
            .all(|r| in_kafka.contains_key(&(r.id.clone(), r.ts)))
        {
            break in_kafka;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} readings in Kafka after 120 s; source log:\n{}",
            in_kafka.len(),
            readings.len(),
            children[&Part::Source].log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let duplicates: usize = in_kafka.values().map(|n| n - 1).sum();
    let source_kills = kills.get(&Part::Source).copied().unwrap_or(0);
    assert!(
        duplicates <= source_kills * DUPLICATES_PER_SOURCE_KILL,
        "{duplicates} duplicates in Kafka after {source_kills} source kills"
    );
    let pusher = serde_json::json!({"id": PUSHER_ID, "temperature": 0.0, "humidity": 0.0,
        "ts": BASE_MS + seconds * 1000 + 10_000})
    .to_string();
    kafka::produce(&run.data_topic, [ProduceRecord::new(pusher).key(PUSHER_ID)]).await;

    // Every window in InfluxDB.
    let processor_log = children[&Part::Processor].log_path().to_path_buf();
    let stored = wait_for_every_window(
        run.db.name(),
        MEASUREMENT,
        WINDOW_MS,
        &expected,
        Duration::from_secs(120),
        || {
            for (part, child) in children.iter_mut() {
                assert!(
                    child.is_running(),
                    "{part:?} exited:\n{}",
                    child.log_tail(40)
                );
            }
        },
        || std::fs::read_to_string(&processor_log).unwrap_or_default(),
    )
    .await;

    let mut problems = Vec::new();
    let mut with_duplicates = 0;
    for (key, want) in &expected {
        let dups: Vec<f64> = readings
            .iter()
            .filter(|r| r.id == key.0 && r.ts - r.ts.rem_euclid(WINDOW_MS) == key.1)
            .flat_map(|r| {
                let extra = in_kafka.get(&(r.id.clone(), r.ts)).map_or(0, |n| n - 1);
                std::iter::repeat_n(r.temperature, extra)
            })
            .collect();
        let got = stored.get(key).map(Vec::as_slice).unwrap_or_default();
        if got.first().and_then(|p| p.n) > Some(want.count) {
            with_duplicates += 1;
        }
        if let Some(p) = window_problem(got, want, &dups) {
            problems.push(format!("{key:?}: {p}"));
        }
    }
    for key in stored.keys() {
        if key.0 != PUSHER_ID && !expected.contains_key(key) {
            problems.push(format!("unexpected point {key:?}: {:?}", stored[key]));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} windows wrong:\n{}",
        problems.len(),
        expected.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "chaos: {} windows exact over {} readings; kills {kills:?}; {duplicates} duplicate \
         records in Kafka, counted in {with_duplicates} windows",
        expected.len(),
        readings.len()
    );
    for (_, mut child) in children {
        child.sigterm().expect("SIGTERM");
        let _ = child.wait_with_timeout(Duration::from_secs(20)).await;
    }
}

#[test]
fn duplicates_must_add_up_exactly() {
    assert!(some_add_up_to(&[1.5, 2.25, 3.0], 2, 4.5));
    assert!(!some_add_up_to(&[1.5, 2.25, 3.0], 2, 4.0));
    assert!(!some_add_up_to(&[1.5], 2, 3.0));
}
