//! End-to-end benchmark of the Kafka → InfluxDB sink: Apache Kafka → `InfluxSink` → InfluxDB 1.x,
//! beside a floor measured in the same run (an rdkafka consumer POSTing pre-built line
//! protocol, no KCQL work). See BENCHMARKS.md, section "InfluxDB sink end to end".
//!
//! `cargo bench --bench influx_sink_e2e` (needs `scripts/services.sh up`). Environment:
//!
//! * `KCQL_BENCH_RECORDS` — records produced and read (default 1 000 000);
//! * `KCQL_BENCH_PARTITIONS` — partitions of a new topic (default 4);
//! * `KCQL_BENCH_ROUNDS` — sink + floor rounds on the same topic (default 2);
//! * `KCQL_TEST_BROKERS` — the Kafka to use (default the shared `127.0.0.1:9092`);
//! * `KCQL_BENCH_TOPIC` — reuse a topic filled by an earlier run (holding at least
//!   `KCQL_BENCH_RECORDS` records; the first ones are read) instead of producing a new one.
//!
//! The parent process fills the topic, then runs each measured phase in a child process of
//! this same executable (`--phase sink|floor`), so the CPU time a phase reports
//! (`/proc/self/stat` utime + stime, delta over the timed part) is that phase's alone. The
//! broker's and InfluxDB's CPU over each phase are read from their `/proc/<pid>/stat`. A topic
//! the run filled is deleted at the end; the InfluxDB databases are dropped after each phase.
//!
//! Then, when `scripts/peers.sh` has built it, Telegraf reads the same topic (its own consumer
//! group, from the oldest offset) into a fresh database with the same batch size, until that
//! database holds all N points; its row comes last (wall time from its start, its process's
//! CPU and peak RSS). Its configuration, and why each setting, is in `kcql_testkit::telegraf`.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_runtime::component::{host, ComponentContext, Health};
use kcql_runtime::connectors::influx_sink::config::InfluxSinkSettings;
use kcql_runtime::connectors::influx_sink::influx::InfluxWriter;
use kcql_runtime::connectors::influx_sink::point::write_route;
use kcql_runtime::connectors::influx_sink::InfluxSink;
use kcql_runtime::kafka::{consumer_config, KafkaSettings};
use kcql_runtime::metrics::Registry;
use kcql_runtime::record::RecordView;
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::influx::{create_db, influx_url, influxql_ok, rows, unique_db, DropDatabase};
use kcql_testkit::kafka::{
    brokers, committed_offsets, create_topic, delete_topic, producer_config, shared_broker_pid,
    unique_group, unique_topic, BROKERS_ENV,
};
use kcql_testkit::telegraf;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// Default partition count of a new topic.
const DEFAULT_PARTITIONS: usize = 4;
const DEVICES: usize = 100;
const BASE_TS_MS: i64 = 1_733_011_200_000;
const BATCH_LINES: usize = 5000;
const CONNECTOR: &str = "bench-sink";
const KCQL_TEMPLATE: &str = "INSERT INTO sensor SELECT * FROM {topic} WITHTIMESTAMP ts WITHTAG(id)";
/// Linux `USER_HZ`: the unit of utime/stime in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// The JSON payload of record `i`: device `i % 100`, readings varying with `i`, and a
/// timestamp unique per record (so no point overwrites another in InfluxDB).
fn payload(i: usize) -> String {
    format!(
        r#"{{"id":"dev-{}","temperature":{}.{},"humidity":{}.{},"ts":{}}}"#,
        i % DEVICES,
        15 + i % 20,
        i % 10,
        30 + i % 40,
        (i / 7) % 10,
        BASE_TS_MS + i as i64
    )
}

/// The topic's partition count (`KCQL_BENCH_PARTITIONS`, inherited by the phases).
fn partitions() -> usize {
    env_usize("KCQL_BENCH_PARTITIONS", DEFAULT_PARTITIONS)
}

/// Record `i` goes to partition `i % P` at offset `i / P` (fresh topic, one in-order
/// idempotent producer), so `(partition, offset)` gives back `i`.
fn index_of(partition: i32, offset: i64) -> usize {
    offset as usize * partitions() + partition as usize
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?}: {e}")),
        Err(_) => default,
    }
}

/// utime + stime of process `pid` (`"self"` for this one), in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    // Fields after the command (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    (utime + stime) / CLOCK_TICKS_PER_SEC
}

/// This process's peak resident set size (`VmHWM` in `/proc/self/status`), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb / 1024.0
}

/// The pid of the shared service whose command line contains all of `needles`.
fn service_pid(needles: &[&str]) -> Option<String> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if needles.iter().all(|n| cmdline.contains(n)) {
            found = Some(name);
        }
    }
    found
}

/// What one measured phase reports (one line `RESULT <fields>` on stdout).
#[derive(Debug, Clone, Default)]
struct PhaseResult {
    records: usize,
    /// From the start of the phase (consumer creation, group join included) to the last
    /// record written.
    wall_s: f64,
    /// From the first record received to the last record written.
    steady_s: f64,
    cpu_s: f64,
    points_in_db: u64,
    committed: i64,
    /// The phase process's peak resident set (`VmHWM`), in MB.
    peak_rss_mb: f64,
}

impl PhaseResult {
    fn to_line(&self) -> String {
        format!(
            "RESULT records={} wall_s={:.4} steady_s={:.4} cpu_s={:.3} points_in_db={} committed={} peak_rss_mb={:.1}",
            self.records,
            self.wall_s,
            self.steady_s,
            self.cpu_s,
            self.points_in_db,
            self.committed,
            self.peak_rss_mb
        )
    }

    fn parse(stdout: &str) -> Option<Self> {
        let line = stdout.lines().find(|l| l.starts_with("RESULT "))?;
        let mut r = PhaseResult::default();
        for kv in line["RESULT ".len()..].split(' ') {
            let (k, v) = kv.split_once('=')?;
            match k {
                "records" => r.records = v.parse().ok()?,
                "wall_s" => r.wall_s = v.parse().ok()?,
                "steady_s" => r.steady_s = v.parse().ok()?,
                "cpu_s" => r.cpu_s = v.parse().ok()?,
                "points_in_db" => r.points_in_db = v.parse().ok()?,
                "committed" => r.committed = v.parse().ok()?,
                "peak_rss_mb" => r.peak_rss_mb = v.parse().ok()?,
                _ => {}
            }
        }
        Some(r)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let phase = args.get(i + 1).expect("--phase sink|floor").clone();
        let topic = args.get(i + 2).expect("topic").clone();
        let n: usize = args.get(i + 3).expect("records").parse().expect("records");
        let result = match phase.as_str() {
            "sink" => runtime().block_on(sink_phase(&topic, n)),
            "floor" => floor_phase(&topic, n),
            other => panic!("unknown phase {other}"),
        };
        println!("{}", result.to_line());
        return;
    }
    parent();
}

fn parent() {
    let n = env_usize("KCQL_BENCH_RECORDS", 1_000_000);
    let rounds = env_usize("KCQL_BENCH_ROUNDS", 2);
    let rt = runtime();
    let brokers = brokers();
    println!("broker: {brokers}");
    let (topic, filled_here) = match std::env::var("KCQL_BENCH_TOPIC") {
        Ok(t) if !t.is_empty() => {
            println!("reusing topic {t} ({n} records expected)");
            (t, false)
        }
        _ => {
            let topic = unique_topic("bench_sink_e2e");
            rt.block_on(create_topic(&topic, partitions() as i32));
            let (secs, cpu) = rt.block_on(fill(&brokers, &topic, n));
            println!(
                "produced {n} records into {topic} ({} partitions) in {secs:.1} s = \
                 {:.0} records/s (producer CPU {cpu:.1} s)",
                partitions(),
                n as f64 / secs
            );
            (topic, true)
        }
    };
    let influxd = service_pid(&["influxd", "services/influxdb/influxdb.conf"]);
    let kafka = shared_broker_pid().map(|pid| pid.to_string());
    let exe = std::env::current_exe().expect("current exe");
    let mut table = Vec::new();
    for round in 1..=rounds {
        for phase in ["sink", "floor"] {
            let influx_before = influxd.as_deref().map(cpu_seconds);
            let kafka_before = kafka.as_deref().map(cpu_seconds);
            let output = Command::new(&exe)
                .args(["--phase", phase, &topic, &n.to_string()])
                .env(BROKERS_ENV, &brokers)
                .output()
                .expect("run phase");
            let influx_cpu = influxd
                .as_deref()
                .map(cpu_seconds)
                .zip(influx_before)
                .map(|(a, b)| a - b);
            let kafka_cpu = kafka
                .as_deref()
                .map(cpu_seconds)
                .zip(kafka_before)
                .map(|(a, b)| a - b);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let Some(r) = PhaseResult::parse(&stdout).filter(|_| output.status.success()) else {
                panic!(
                    "phase {phase} failed ({}):\n{stdout}\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            };
            // The sink stops once `n` records are written; what it read meanwhile is
            // flushed at shutdown, so a topic holding more than `n` records gives a bit more.
            assert!(
                r.points_in_db >= n as u64 && r.committed >= n as i64,
                "{phase}: {} points in InfluxDB, {} offsets committed, expected at least {n}",
                r.points_in_db,
                r.committed
            );
            println!(
                "round {round} {phase:5}: {:>9.0} rec/s (steady {:>9.0} rec/s), CPU {:.2} s = \
                 {:.2} CPU-s/M records, peak RSS {:.0} MB; influxd CPU {}, Kafka CPU {}",
                n as f64 / r.wall_s,
                n as f64 / r.steady_s,
                r.cpu_s,
                r.cpu_s * 1e6 / n as f64,
                r.peak_rss_mb,
                influx_cpu.map_or("?".into(), |c| format!("{c:.1} s")),
                kafka_cpu.map_or("?".into(), |c| format!("{c:.1} s")),
            );
            table.push((round, phase, r, influx_cpu, kafka_cpu));
        }
    }
    let telegraf = telegraf_phase(&rt, &topic, n, influxd.as_deref(), kafka.as_deref());
    println!();
    println!("N = {n}, topic {topic}");
    println!("| round | phase | records/s (wall) | records/s (first record → last write) | CPU s | CPU-s per M records | peak RSS MB | influxd CPU s | Kafka CPU s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (round, phase, r, i, t) in &table {
        println!(
            "| {round} | {phase} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {} | {} |",
            n as f64 / r.wall_s,
            n as f64 / r.steady_s,
            r.cpu_s,
            r.cpu_s * 1e6 / n as f64,
            r.peak_rss_mb,
            i.map_or("?".into(), |c| format!("{c:.1}")),
            t.map_or("?".into(), |c| format!("{c:.1}")),
        );
    }
    if let Some((r, i, t)) = &telegraf {
        println!(
            "| – | telegraf {} | {:.0} | – | {:.2} | {:.2} | {:.0} | {} | {} |",
            telegraf::VERSION,
            r.records_per_s(),
            r.cpu_s,
            r.cpu_s_per_million(),
            r.peak_rss_mib(),
            i.map_or("?".into(), |c| format!("{c:.1}")),
            t.map_or("?".into(), |c| format!("{c:.1}")),
        );
    }
    println!();
    for pair in table.chunks(2) {
        if let [(round, _, sink, ..), (_, _, floor, ..)] = pair {
            println!(
                "round {round}: sink/floor CPU {:.2}× (target ≤ 1.5×), throughput {:.2}× (steady {:.2}×)",
                sink.cpu_s / floor.cpu_s,
                floor.wall_s / sink.wall_s,
                floor.steady_s / sink.steady_s,
            );
        }
    }
    if filled_here {
        rt.block_on(delete_topic(&topic));
    }
}

/// Produces `n` records (record `i` to partition `i % 4`) with an idempotent, batching
/// producer and checks every offset. Returns (seconds, producer CPU seconds).
async fn fill(brokers: &str, topic: &str, n: usize) -> (f64, f64) {
    let producer: FutureProducer = producer_config(&[
        ("bootstrap.servers", brokers),
        ("enable.idempotence", "true"),
        ("linger.ms", "20"),
        ("batch.num.messages", "10000"),
        ("batch.size", "1000000"),
        ("queue.buffering.max.messages", "500000"),
        ("message.timeout.ms", "300000"),
    ])
    .create()
    .expect("producer");
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::with_capacity(200_000);
    let parts = partitions();
    let check = |i: usize, d: Result<OwnedDeliveryResult, _>| match d {
        Ok(Ok(delivery)) => {
            assert_eq!(
                index_of(delivery.partition, delivery.offset),
                i,
                "record {i} landed at {}:{} (topic not fresh or reordered)",
                delivery.partition,
                delivery.offset
            );
        }
        Ok(Err((e, _))) => panic!("record {i} not delivered: {e}"),
        Err(_) => panic!("record {i}: delivery report lost"),
    };
    for i in 0..n {
        let body = payload(i);
        let key = format!("dev-{}", i % DEVICES);
        let mut record = FutureRecord::to(topic)
            .payload(body.as_bytes())
            .key(key.as_bytes())
            .partition((i % parts) as i32);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push_back((i, delivery));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // Drain some delivery reports to make room.
                    for _ in 0..10_000 {
                        match pending.pop_front() {
                            Some((j, d)) => check(j, d.await),
                            None => break,
                        }
                    }
                }
                Err((e, _)) => panic!("record {i} not enqueued: {e}"),
            }
        }
        if i > 0 && i % 200_000 == 0 {
            eprintln!("  enqueued {i} records ({:.0?})", started.elapsed());
        }
    }
    while let Some((j, d)) = pending.pop_front() {
        check(j, d.await);
    }
    (
        started.elapsed().as_secs_f64(),
        cpu_seconds("self") - cpu_before,
    )
}

/// The points in `db`'s `sensor` measurement.
async fn count_points(db: &str) -> u64 {
    let answer = influxql_ok(Some(db), "SELECT count(temperature) FROM sensor").await;
    rows(&answer)
        .first()
        .and_then(|r| r.get("count"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

fn kafka_properties(group: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("bootstrap.servers".to_string(), brokers()),
        ("group.id".to_string(), group.to_string()),
    ])
}

async fn total_committed(group: &str, topic: &str) -> i64 {
    committed_offsets(group, topic).await.values().sum()
}

/// The sink, alone in this process: runs until all `n` records are written, then stops it.
async fn sink_phase(topic: &str, n: usize) -> PhaseResult {
    let db = unique_db("bench_sink");
    let _drop = DropDatabase::new(&db);
    create_db(&db).await;
    let group = unique_group("bench_sink");
    let mut props = vec![
        ("name".to_string(), CONNECTOR.to_string()),
        ("connect.influx.url".to_string(), influx_url()),
        ("connect.influx.db".to_string(), db.clone()),
        ("connect.influx.username".to_string(), "bench".to_string()),
        (
            "connect.influx.kcql".to_string(),
            KCQL_TEMPLATE.replace("{topic}", topic),
        ),
        (
            "connect.influx.batch.size".to_string(),
            BATCH_LINES.to_string(),
        ),
    ];
    for (k, v) in kafka_properties(&group) {
        props.push((format!("kafka.{k}"), v));
    }
    let settings = InfluxSinkSettings::from_properties(&props)
        .unwrap_or_else(|e| panic!("sink settings: {e:?}"));
    let registry = Arc::new(Registry::default());
    let consumed = registry.counter(
        "kcql_records_consumed_total",
        "Records read from Kafka.",
        &[("component", CONNECTOR)],
    );
    let written = registry.counter(
        "kcql_records_written_total",
        "Records whose output was accepted by the target.",
        &[("component", CONNECTOR)],
    );
    let shutdown = Shutdown::new();
    let sink = InfluxSink::new(settings);
    let ctx = ComponentContext::new(CONNECTOR, Arc::clone(&registry), Health::default());

    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let run = tokio::spawn(host(sink, ctx, shutdown.clone()));
    let mut first = None;
    loop {
        if first.is_none() && consumed.get() > 0 {
            first = Some(Instant::now());
        }
        if written.get() >= n as u64 {
            break;
        }
        if run.is_finished() {
            panic!("sink stopped early: {:?}", run.await);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let end = Instant::now();
    let cpu_s = cpu_seconds("self") - cpu_before;
    shutdown.trigger();
    run.await
        .expect("sink task")
        .unwrap_or_else(|e| panic!("sink failed: {e}"));
    PhaseResult {
        records: n,
        wall_s: (end - started).as_secs_f64(),
        steady_s: (end - first.unwrap_or(started)).as_secs_f64(),
        cpu_s,
        points_in_db: count_points(&db).await,
        committed: total_committed(&group, topic).await,
        peak_rss_mb: peak_rss_mb(),
    }
}

/// The floor, alone in this process: the same consumer settings and batch size, but each
/// record's line is looked up pre-built (no decoding, no KCQL), and the batch POSTed as is.
fn floor_phase(topic: &str, n: usize) -> PhaseResult {
    let rt = runtime();
    let db = unique_db("bench_floor");
    let _drop = DropDatabase::new(&db);
    rt.block_on(create_db(&db));
    let group = unique_group("bench_floor");

    // Pre-built before timing: the exact lines the sink writes (same route, same precision).
    let plan = kcql::compile_influx(&KCQL_TEMPLATE.replace("{topic}", topic))
        .unwrap_or_else(|d| panic!("{d}"));
    let settings = InfluxSinkSettings::from_properties(&[
        ("connect.influx.url".to_string(), influx_url()),
        ("connect.influx.db".to_string(), db.clone()),
        ("connect.influx.username".to_string(), "bench".to_string()),
        (
            "connect.influx.kcql".to_string(),
            KCQL_TEMPLATE.replace("{topic}", topic),
        ),
    ])
    .unwrap_or_else(|e| panic!("settings: {e:?}"));
    let config = settings.influx_config();
    let write_url = InfluxWriter::new(&config)
        .expect("writer")
        .write_url()
        .clone();
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(n);
    for i in 0..n {
        let body = payload(i);
        let value = kcql_runtime::decode::json::parse(body.as_bytes()).expect("JSON");
        let rec = RecordView::of_value(value);
        let mut line = Vec::with_capacity(96);
        write_route(&plan.routes[0], &rec, 0, config.precision, &mut line).expect("point");
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        lines.push(line);
    }
    let client = reqwest::Client::new();
    let kafka = KafkaSettings::from_properties(kafka_properties(&group));

    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let (first, end, cpu_s) = rt.block_on(async {
        let consumer: StreamConsumer = consumer_config(&kafka, &group).create().expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut body: Vec<u8> = Vec::with_capacity(BATCH_LINES * 100);
        let mut in_batch = 0usize;
        let mut done = 0usize;
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        let mut first = None;
        while done < n {
            let msg = consumer.recv().await.expect("consume");
            first.get_or_insert_with(Instant::now);
            let i = index_of(msg.partition(), msg.offset());
            body.extend_from_slice(&lines[i]);
            next.insert(msg.partition(), msg.offset() + 1);
            in_batch += 1;
            done += 1;
            if in_batch == BATCH_LINES || done == n {
                let response = client
                    .post(write_url.clone())
                    .body(std::mem::replace(
                        &mut body,
                        Vec::with_capacity(BATCH_LINES * 100),
                    ))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(
                    response.status().as_u16(),
                    204,
                    "write answered {response:?}"
                );
                in_batch = 0;
                let mut tpl = TopicPartitionList::new();
                for (p, o) in &next {
                    tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                        .expect("offset");
                }
                consumer.commit(&tpl, CommitMode::Async).expect("commit");
            }
        }
        let end = Instant::now();
        let cpu_s = cpu_seconds("self") - cpu_before;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &next {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                .expect("offset");
        }
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
        (first, end, cpu_s)
    });
    PhaseResult {
        records: n,
        wall_s: (end - started).as_secs_f64(),
        steady_s: (end - first.unwrap_or(started)).as_secs_f64(),
        cpu_s,
        points_in_db: rt.block_on(count_points(&db)),
        committed: rt.block_on(total_committed(&group, topic)),
        peak_rss_mb: peak_rss_mb(),
    }
}

/// Telegraf (`kafka_consumer` → `influxdb`, config in `kcql_testkit::telegraf`) on the same
/// topic with its own consumer group, into a fresh database, until it holds all `n` points;
/// prints its line and returns it with influxd's and Kafka's CPU over the run. `None` (with a
/// line saying how to install it) when `scripts/peers.sh` has not built Telegraf.
fn telegraf_phase(
    rt: &tokio::runtime::Runtime,
    topic: &str,
    n: usize,
    influxd: Option<&str>,
    kafka: Option<&str>,
) -> Option<(telegraf::PeerRun, Option<f64>, Option<f64>)> {
    if telegraf::binary().is_none() {
        println!("{}", telegraf::skipped_line());
        return None;
    }
    let db = unique_db("bench_telegraf");
    let _drop = DropDatabase::new(&db);
    rt.block_on(create_db(&db));
    let (group, brokers, url) = (unique_group("bench_telegraf"), brokers(), influx_url());
    let config = telegraf::KafkaToInflux {
        brokers: &brokers,
        topic,
        group: &group,
        influx_url: &url,
        database: &db,
        measurement: "sensor",
        tag: "id",
        time_key: "ts",
        batch: BATCH_LINES,
    }
    .config();
    let (influx_before, kafka_before) = (influxd.map(cpu_seconds), kafka.map(cpu_seconds));
    let r = rt.block_on(telegraf::run("bench_sink", &config, n as u64, || {
        count_points(&db)
    }));
    let influx_cpu = influxd
        .map(cpu_seconds)
        .zip(influx_before)
        .map(|(a, b)| a - b);
    let kafka_cpu = kafka.map(cpu_seconds).zip(kafka_before).map(|(a, b)| a - b);
    println!(
        "telegraf      : {:>9.0} rec/s, CPU {:.2} s = {:.2} CPU-s/M records, peak RSS {:.1} MiB; \
         influxd CPU {}, Kafka CPU {}",
        r.records_per_s(),
        r.cpu_s,
        r.cpu_s_per_million(),
        r.peak_rss_mib(),
        influx_cpu.map_or("?".into(), |c| format!("{c:.1} s")),
        kafka_cpu.map_or("?".into(), |c| format!("{c:.1} s")),
    );
    Some((r, influx_cpu, kafka_cpu))
}
