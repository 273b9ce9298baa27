//! Shared helpers of the InfluxDB sink integration tests: building settings through the real
//! properties loader, running a sink in-process, and reading InfluxDB and the metrics back.

#![allow(dead_code)] // each test binary uses a different subset

pub mod poison;
pub mod windows;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kcql_runtime::component::{host, Component, ComponentContext, ComponentState, Health};
use kcql_runtime::config::properties::owned_pairs;
use kcql_runtime::connectors::influx_sink::config::InfluxSinkSettings;
use kcql_runtime::connectors::influx_sink::{InfluxSink, SinkError};
use kcql_runtime::metrics::Registry;
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::influx::{create_db, unique_db, DropDatabase};
use kcql_testkit::kafka::{producer_config_at, TestContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// Settings through `InfluxSinkSettings::from_properties`: `base` plus `extra` (later wins).
pub fn settings(pairs: &[(&str, &str)]) -> InfluxSinkSettings {
    InfluxSinkSettings::from_properties(&owned_pairs(pairs))
        .unwrap_or_else(|errors| panic!("settings {pairs:?} rejected: {errors:?}"))
}

/// The properties every v1 test starts from: shared broker, `url`, `db`, a user, small linger.
pub fn v1_props<'a>(
    name: &'a str,
    url: &'a str,
    db: &'a str,
    group: &'a str,
    kcql: &'a str,
    brokers: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("connect.influx.url", url),
        ("connect.influx.db", db),
        ("connect.influx.username", "kcql"),
        ("connect.influx.kcql", kcql),
        ("connect.influx.linger.ms", "100"),
        ("kafka.bootstrap.servers", brokers),
        ("kafka.group.id", group),
    ]
}

/// A sink running in-process.
pub struct RunningSink {
    /// Triggers its shutdown.
    pub shutdown: Shutdown,
    /// Its metrics.
    pub registry: Arc<Registry>,
    /// Its health.
    pub health: Health,
    /// Its name (health key, metric label).
    pub name: String,
    /// The task running it.
    pub task: JoinHandle<Result<(), SinkError>>,
}

impl RunningSink {
    /// Starts `settings` on a fresh registry and health.
    pub fn start(settings: InfluxSinkSettings) -> RunningSink {
        let registry = Arc::new(Registry::default());
        let health = Health::default();
        let sink = InfluxSink::new(settings);
        let name = sink.name().to_string();
        let ctx = ComponentContext::new(&name, Arc::clone(&registry), health.clone());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(host(sink, ctx, shutdown.clone()));
        RunningSink {
            shutdown,
            registry,
            health,
            name,
            task,
        }
    }

    /// The connector's state in its health.
    pub fn state(&self) -> Option<ComponentState> {
        self.health.get(&self.name)
    }

    /// Why it failed, once it has.
    pub fn failure(&self) -> Option<String> {
        match self.state() {
            Some(ComponentState::Failed(why)) => Some(why),
            _ => None,
        }
    }

    /// The value of the metric series `name{component="<name>"…}` (summed over its other
    /// labels) in the rendered registry; 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.registry.render(), name)
    }

    /// Triggers shutdown and waits (≤ 60 s) for `run` to return.
    pub async fn stop(self) -> Result<(), SinkError> {
        self.shutdown.trigger();
        self.join().await
    }

    /// Waits (≤ 60 s) for `run` to return on its own.
    pub async fn join(self) -> Result<(), SinkError> {
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("sink did not stop within 60 s")
            .expect("sink task panicked")
    }
}

/// Waits (≤ 60 s) until `group` has committed `want` on `topic`.
pub async fn wait_committed(brokers: &str, group: &str, topic: &str, want: &BTreeMap<i32, i64>) {
    wait_committed_unless(brokers, group, topic, want, || None).await
}

/// [`wait_committed`], failing at once when `stopped` says why the consumer stopped (e.g.
/// [`RunningSink::failure`]).
pub async fn wait_committed_unless(
    brokers: &str,
    group: &str,
    topic: &str,
    want: &BTreeMap<i32, i64>,
    stopped: impl Fn() -> Option<String>,
) {
    let stopped = &stopped;
    wait_for(
        &format!("commits of {group}"),
        Duration::from_secs(60),
        || async move {
            let got = kcql_testkit::kafka::committed_offsets_at(brokers, group, topic).await;
            if &got == want {
                return Ok(());
            }
            if let Some(why) = stopped() {
                panic!("commits of {group}: {got:?}, want {want:?}, and it stopped: {why}");
            }
            Err(format!("{got:?}, want {want:?}"))
        },
    )
    .await
}

/// The sum of every sample of metric `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A fresh database on the shared InfluxDB, named after `label`, dropped when the returned
/// guard is dropped (it dereferences to the name).
pub async fn shared_db(label: &str) -> DropDatabase {
    let db = DropDatabase::new(unique_db(label));
    create_db(db.name()).await;
    db
}

/// Nanoseconds since the epoch now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_nanos() as i64
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics after `timeout` with the
/// last `describe`d state.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {timeout:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The end offset (one past the last record) per partition of what `produce` returned.
pub fn end_offsets(produced: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for &(p, o) in produced {
        let e = ends.entry(p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    ends
}

/// `SELECT count(field) FROM measurement` from an InfluxQL answer (0 when no series).
pub fn count_of(answer: &Value) -> u64 {
    answer
        .pointer("/results/0/series/0/values/0/1")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// The statement of the streaming tests: record `{"src","v","ts"}` → point `m,src=… v=… ts`.
pub const KCQL: &str =
    "INSERT INTO m SELECT v FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(src)";

/// Produced records: (partition, offset) → time of the point it should become.
pub type Produced = Arc<Mutex<BTreeMap<(i32, i64), i64>>>;

/// Panics unless every produced record below the `committed` offsets (partition → next
/// offset) has its point among `present` (point times): nothing was committed before
/// InfluxDB accepted it.
pub fn assert_committed_written(
    produced: &Produced,
    committed: &BTreeMap<i32, i64>,
    present: &std::collections::BTreeSet<i64>,
) {
    for (&(p, o), t) in produced.lock().unwrap().iter() {
        if committed.get(&p).is_some_and(|&c| o < c) {
            assert!(
                present.contains(t),
                "[{p}]@{o} committed ({committed:?}) but its point is not in InfluxDB"
            );
        }
    }
}

/// Records flowing into a topic from a background task until [`stop`](Producing::stop):
/// `per_batch` records every 100 ms, spread round-robin over `partitions` partitions. Record
/// `seq` is `{"src":"gen","v":seq/2,"ts":base+seq}` with `base` ten minutes ago (nanoseconds),
/// so each record has its own point time; [`produced`](Producing::produced) maps where each
/// went to that time.
///
/// One producer (acks=all, idempotent) sends every batch and waits for its delivery reports, so
/// it rides out a broker outage of up to two minutes: records wait in its queue and are
/// delivered, in order, once the broker is back (as an upstream producer's would).
pub struct Producing {
    /// (partition, offset) → time of the point each record should become.
    pub produced: Produced,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Producing {
    /// Starts producing into `topic` on `brokers`.
    pub fn start(brokers: &str, topic: &str, partitions: i32, per_batch: i64) -> Producing {
        let produced: Produced = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(produce_until(
            producer_config_at(
                brokers,
                &[
                    ("message.timeout.ms", "120000"),
                    ("enable.idempotence", "true"),
                ],
            )
            .create_with_context(TestContext)
            .expect("test producer"),
            topic.to_string(),
            partitions,
            per_batch,
            Arc::clone(&stop),
            Arc::clone(&produced),
        ));
        Producing {
            produced,
            stop,
            task,
        }
    }

    /// Stops after the current batch and waits until its records are delivered.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("producer task");
    }
}

async fn produce_until(
    producer: FutureProducer<TestContext>,
    topic: String,
    partitions: i32,
    per_batch: i64,
    stop: Arc<AtomicBool>,
    out: Produced,
) {
    let base = now_ns() - 600_000_000_000;
    let mut seq = 0i64;
    while !stop.load(Ordering::SeqCst) {
        let mut deliveries = Vec::with_capacity(per_batch as usize);
        for s in seq..seq + per_batch {
            let doc = json!({"src": "gen", "v": s as f64 * 0.5, "ts": base + s}).to_string();
            let mut record = FutureRecord::<(), _>::to(&topic)
                .payload(&doc)
                .partition((s % partitions as i64) as i32);
            let delivery = loop {
                match producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => panic!("produce to {topic}: {e}"),
                }
            };
            deliveries.push((base + s, delivery));
        }
        for (time, delivery) in deliveries {
            let delivered = delivery
                .await
                .expect("delivery report")
                .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
            out.lock()
                .unwrap()
                .insert((delivered.partition, delivered.offset), time);
        }
        seq += per_batch;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
