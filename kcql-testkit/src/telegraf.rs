//! Telegraf as a peer measured beside kcql in the same run (issue 16): the end-to-end benches
//! (`influx_sink_e2e`, `mqtt_source_e2e`) run it on the same records, services and settings
//! right after kcql's phases.
//!
//! The binary is a custom Telegraf build with only the plugins used, installed by
//! `scripts/peers.sh` into `<workspace>/target/peers/telegraf` (`$KCQL_PEERS_DIR` overrides
//! the directory). Without it, [`binary`] is `None` and a bench prints [`skipped_line`].
//!
//! # Configuration (why each setting)
//!
//! Telegraf's defaults target a 10 s collection cycle, which would make it look slow here, so
//! both configs set the agent for throughput ([`agent_section`]):
//!
//! * `metric_batch_size`: the same batch as kcql (5000 lines for the sink). Telegraf flushes
//!   an output as soon as a full batch is buffered, so it writes full batches without waiting.
//! * `flush_interval = "1s"`, `flush_jitter = "0s"`: only a partial last batch waits for the
//!   timer (the benches use N divisible by the batch, so no batch waits).
//! * `metric_buffer_limit = 100000`: never drops or blocks below the in-flight bound.
//! * `max_undelivered_messages` on the inputs: Telegraf acknowledges (Kafka commit, MQTT
//!   PUBACK) only after the output wrote a metric, and reads at most this many ahead. Two
//!   batches for Kafka → InfluxDB (a batch in the output while the next one is read), and
//!   10 000 for MQTT → Kafka, kcql's own in-flight bound (`DEFAULT_MAX_INFLIGHT`).
//! * `omit_hostname = true`: no `host` tag kcql would not write either.
//! * InfluxDB output `content_encoding = "identity"`: kcql's sink does not gzip by default
//!   (Telegraf's default is gzip, which costs it CPU).
//!
//! A run ([`run`]) starts the process, polls the caller's progress count every
//! [`POLL_INTERVAL`] until it reaches N, then reads the process's CPU time (utime + stime from
//! `/proc/<pid>/stat`) and peak RSS (`VmHWM` from `/proc/<pid>/status`) before killing it.

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::kafka::{client_config_at, TestContext};

/// The Telegraf version `scripts/peers.sh` builds.
pub const VERSION: &str = "1.37.2";

/// Overrides the directory the peers are installed in (default `<workspace>/target/peers`).
pub const PEERS_DIR_ENV: &str = "KCQL_PEERS_DIR";

/// The Kafka protocol version Telegraf's client (sarama) is told to speak. Sarama's default,
/// 2.1.0, gets its fetches closed (`EOF`) by the Kafka 4 broker; 3.9.0 works.
pub const KAFKA_VERSION: &str = "3.9.0";

/// How often [`run`] asks the caller for progress.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A run fails when the progress count does not move for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Linux `USER_HZ`: the unit of utime/stime in `/proc/<pid>/stat`.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// The directory `scripts/peers.sh` installs into: `$KCQL_PEERS_DIR`, else
/// `<workspace>/target/peers`.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os(PEERS_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let testkit = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            testkit
                .parent()
                .map_or(testkit.clone(), PathBuf::from)
                .join("target")
                .join("peers")
        }
    }
}

/// The installed Telegraf binary, if there is one.
pub fn binary() -> Option<PathBuf> {
    let path = peers_dir().join("telegraf");
    path.is_file().then_some(path)
}

/// The line a bench prints when Telegraf is not installed.
pub fn skipped_line() -> String {
    format!(
        "Telegraf phase skipped: {} not found; install it with `scripts/peers.sh telegraf` \
         (a custom Telegraf {VERSION} build from its Go module; needs Go)",
        peers_dir().join("telegraf").display()
    )
}

/// A TOML basic string holding `s` (JSON string escapes are valid TOML ones).
fn toml_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A TOML array of strings.
fn toml_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_str(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// The bootstrap list `a:1,b:2` as a TOML array.
fn broker_list(brokers: &str) -> String {
    let list: Vec<&str> = brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    toml_list(&list)
}

/// The `[agent]` section both configs share (see the module docs for each value).
pub fn agent_section(batch: usize) -> String {
    format!(
        "[agent]\n\
         \x20 omit_hostname = true\n\
         \x20 metric_batch_size = {batch}\n\
         \x20 metric_buffer_limit = 100000\n\
         \x20 flush_interval = \"1s\"\n\
         \x20 flush_jitter = \"0s\"\n\
         \x20 collection_jitter = \"0s\"\n\
         \x20 debug = false\n\
         \x20 quiet = false\n\n"
    )
}

/// Kafka → InfluxDB, the peer of the InfluxDB sink bench.
#[derive(Debug, Clone)]
pub struct KafkaToInflux<'a> {
    /// Bootstrap servers, comma separated.
    pub brokers: &'a str,
    /// The topic to read (from its oldest offset).
    pub topic: &'a str,
    /// A consumer group of Telegraf's own.
    pub group: &'a str,
    /// InfluxDB 1.x base URL.
    pub influx_url: &'a str,
    /// An existing, empty database.
    pub database: &'a str,
    /// The measurement name (`name_override`).
    pub measurement: &'a str,
    /// The JSON field that becomes the tag.
    pub tag: &'a str,
    /// The JSON field holding the time in Unix milliseconds.
    pub time_key: &'a str,
    /// Lines per InfluxDB write (`metric_batch_size`).
    pub batch: usize,
}

impl KafkaToInflux<'_> {
    /// The Telegraf configuration file.
    pub fn config(&self) -> String {
        let mut c = agent_section(self.batch);
        let _ = write!(
            c,
            "[[inputs.kafka_consumer]]\n\
             \x20 brokers = {brokers}\n\
             \x20 version = {version}\n\
             \x20 topics = {topics}\n\
             \x20 consumer_group = {group}\n\
             \x20 offset = \"oldest\"\n\
             \x20 max_undelivered_messages = {undelivered}\n\
             \x20 data_format = \"json\"\n\
             \x20 name_override = {measurement}\n\
             \x20 tag_keys = {tags}\n\
             \x20 json_time_key = {time_key}\n\
             \x20 json_time_format = \"unix_ms\"\n\n\
             [[outputs.influxdb]]\n\
             \x20 urls = {urls}\n\
             \x20 database = {database}\n\
             \x20 skip_database_creation = true\n\
             \x20 content_encoding = \"identity\"\n",
            brokers = broker_list(self.brokers),
            version = toml_str(KAFKA_VERSION),
            topics = toml_list(&[self.topic]),
            group = toml_str(self.group),
            undelivered = 2 * self.batch,
            measurement = toml_str(self.measurement),
            tags = toml_list(&[self.tag]),
            time_key = toml_str(self.time_key),
            urls = toml_list(&[self.influx_url]),
            database = toml_str(self.database),
        );
        c
    }
}

/// MQTT → Kafka, the peer of the MQTT source bench.
#[derive(Debug, Clone)]
pub struct MqttToKafka<'a> {
    /// Broker URL, `tcp://host:port`.
    pub mqtt_url: &'a str,
    /// Topic filters to subscribe to.
    pub filters: &'a [String],
    /// QoS of the subscription.
    pub qos: u8,
    /// The MQTT client id; with `persistent_session = true` it resumes the broker's session.
    pub client_id: &'a str,
    /// JSON string fields to keep (the JSON parser drops string fields it is not told about).
    pub string_fields: &'a [&'a str],
    /// Bootstrap servers, comma separated.
    pub brokers: &'a str,
    /// The Kafka topic to write.
    pub topic: &'a str,
    /// Metrics per Kafka write (`metric_batch_size`).
    pub batch: usize,
    /// Messages read but not yet written (`max_undelivered_messages`).
    pub max_undelivered: usize,
}

impl MqttToKafka<'_> {
    /// The Telegraf configuration file.
    pub fn config(&self) -> String {
        let mut c = agent_section(self.batch);
        let _ = write!(
            c,
            "[[inputs.mqtt_consumer]]\n\
             \x20 servers = {servers}\n\
             \x20 topics = {filters}\n\
             \x20 qos = {qos}\n\
             \x20 persistent_session = true\n\
             \x20 client_id = {client_id}\n\
             \x20 max_undelivered_messages = {undelivered}\n\
             \x20 data_format = \"json\"\n\
             \x20 json_string_fields = {strings}\n\n\
             [[outputs.kafka]]\n\
             \x20 brokers = {brokers}\n\
             \x20 version = {version}\n\
             \x20 topic = {topic}\n\
             \x20 required_acks = -1\n\
             \x20 data_format = \"json\"\n",
            servers = toml_list(&[self.mqtt_url]),
            filters = toml_list(self.filters),
            qos = self.qos,
            client_id = toml_str(self.client_id),
            undelivered = self.max_undelivered,
            strings = toml_list(self.string_fields),
            brokers = broker_list(self.brokers),
            version = toml_str(KAFKA_VERSION),
            topic = toml_str(self.topic),
        );
        c
    }
}

/// What one Telegraf run measured.
#[derive(Debug, Clone, Copy)]
pub struct PeerRun {
    /// Records processed (the N the run waited for).
    pub records: u64,
    /// From spawning the process to the poll that saw N.
    pub wall_s: f64,
    /// The process's user + system CPU seconds at that poll.
    pub cpu_s: f64,
    /// The process's peak resident set (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
}

impl PeerRun {
    /// Records per second of wall time.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.wall_s
    }

    /// CPU seconds per million records.
    pub fn cpu_s_per_million(&self) -> f64 {
        self.cpu_s * 1e6 / self.records as f64
    }

    /// Peak RSS in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

/// Kills the process when dropped (a failed run leaves nothing behind).
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of process `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SEC)
}

/// `VmHWM` of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs Telegraf with `config` until `progress()` reports at least `n`, and measures it. The
/// config and Telegraf's log go to `<peers dir>/run/<name>.conf|.log`. Panics (with the log's
/// tail) if Telegraf is not installed, exits, or makes no progress for 60 s.
pub async fn run<F, Fut>(name: &str, config: &str, n: u64, mut progress: F) -> PeerRun
where
    F: FnMut() -> Fut,
    Fut: Future<Output = u64>,
{
    let bin = binary().unwrap_or_else(|| panic!("{}", skipped_line()));
    let dir = peers_dir().join("run");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let conf = dir.join(format!("{name}.conf"));
    let log = dir.join(format!("{name}.log"));
    std::fs::write(&conf, config).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
    let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let stderr = log_file
        .try_clone()
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()));

    let started = Instant::now();
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut running = Running { child, log };
    let pid = running.child.id();
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        let done = progress().await;
        if done >= n {
            break;
        }
        if done != last {
            last = done;
            last_change = Instant::now();
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!(
                "telegraf {name} exited ({status}) at {done} of {n}:\n{}",
                running.log_tail()
            );
        }
        if last_change.elapsed() > STALL_TIMEOUT {
            panic!(
                "telegraf {name} stuck at {done} of {n} for {STALL_TIMEOUT:?}:\n{}",
                running.log_tail()
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds(pid).unwrap_or_else(|| panic!("/proc/{pid}/stat unreadable"));
    let peak = peak_rss_kib(pid).unwrap_or_else(|| panic!("/proc/{pid}/status unreadable"));
    drop(running);
    PeerRun {
        records: n,
        wall_s,
        cpu_s,
        peak_rss_kib: peak,
    }
}

/// The sum of a topic's end offsets (records written to it), read with one client kept open
/// so that polling costs one request per partition.
pub struct EndOffsets {
    consumer: Arc<BaseConsumer<TestContext>>,
    topic: String,
    partitions: Vec<i32>,
}

impl EndOffsets {
    /// A client for `topic` (whose partitions are `partitions`) on `brokers`.
    pub fn new(brokers: &str, topic: &str, partitions: Vec<i32>) -> EndOffsets {
        let consumer = client_config_at(brokers)
            .create_with_context(TestContext)
            .unwrap_or_else(|e| panic!("cannot create watermark client: {e}"));
        EndOffsets {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
            partitions,
        }
    }

    /// The sum of the end offsets now (0 for a partition that does not answer).
    pub async fn total(&self) -> u64 {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.clone();
        let partitions = self.partitions.clone();
        tokio::task::spawn_blocking(move || {
            partitions
                .iter()
                .filter_map(|&p| {
                    consumer
                        .fetch_watermarks(&topic, p, Duration::from_secs(10))
                        .ok()
                })
                .map(|(_, high)| high.max(0) as u64)
                .sum()
        })
        .await
        .expect("watermark task panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(config: &str) -> toml::Table {
        config.parse().unwrap_or_else(|e| panic!("{e}\n{config}"))
    }

    #[test]
    fn sink_config_is_toml_with_the_bench_settings() {
        let c = parse(
            &KafkaToInflux {
                brokers: "127.0.0.1:9092, 127.0.0.1:9093",
                topic: "t\"1",
                group: "g",
                influx_url: "http://127.0.0.1:8086",
                database: "db",
                measurement: "sensor",
                tag: "id",
                time_key: "ts",
                batch: 5000,
            }
            .config(),
        );
        assert_eq!(c["agent"]["metric_batch_size"].as_integer(), Some(5000));
        let input = &c["inputs"]["kafka_consumer"][0];
        assert_eq!(input["topics"][0].as_str(), Some("t\"1"));
        assert_eq!(input["brokers"].as_array().map(Vec::len), Some(2));
        assert_eq!(input["max_undelivered_messages"].as_integer(), Some(10_000));
        let output = &c["outputs"]["influxdb"][0];
        assert_eq!(output["content_encoding"].as_str(), Some("identity"));
    }

    #[test]
    fn source_config_is_toml_with_the_bench_settings() {
        let filters = ["p/dev/+".to_string()];
        let c = parse(
            &MqttToKafka {
                mqtt_url: "tcp://127.0.0.1:1883",
                filters: &filters,
                qos: 1,
                client_id: "c",
                string_fields: &["pad"],
                brokers: "127.0.0.1:9092",
                topic: "out",
                batch: 5000,
                max_undelivered: 10_000,
            }
            .config(),
        );
        let input = &c["inputs"]["mqtt_consumer"][0];
        assert_eq!(input["persistent_session"].as_bool(), Some(true));
        assert_eq!(input["qos"].as_integer(), Some(1));
        assert_eq!(
            c["outputs"]["kafka"][0]["required_acks"].as_integer(),
            Some(-1)
        );
    }
}
