//! The talk's IoT pipeline, running: simulated devices → MQTT → Kafka → per-device
//! min/max/avg over 2-second windows → Kafka → InfluxDB, declared in KCQL
//! (`examples/iot_pipeline.toml`) and run by `kcql_runtime::run::run_pipeline`.
//!
//! ```sh
//! cargo run --release --example iot_pipeline                       # embedded services
//! cargo run --release --example iot_pipeline -- --devices 50 --rate 20 --duration 30s --seed 7
//! cargo run --release --example iot_pipeline -- --mqtt tcp://127.0.0.1:1883 \
//!     --brokers 127.0.0.1:9092 --influx-url http://127.0.0.1:8086  # real services
//! ```
//!
//! With no flags it needs nothing running: an in-process MQTT broker (rumqttd) and an
//! in-process Kafka cluster (librdkafka's mock cluster) on free loopback ports, and InfluxDB at
//! `http://127.0.0.1:8086` if one answers `/ping`, else a line-protocol file under
//! `target/iot_pipeline/` written through a small embedded `/write` endpoint.

#[path = "iot_pipeline/influx_endpoint.rs"]
mod influx_endpoint;
#[path = "iot_pipeline/progress.rs"]
mod progress;
#[path = "iot_pipeline/report.rs"]
mod report;
#[path = "iot_pipeline/simulator.rs"]
mod simulator;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use kcql_runtime::config::Pipeline;
use kcql_runtime::endpoint::ComponentState;
use kcql_runtime::run::{run_pipeline, Observability};
use kcql_runtime::shutdown::Shutdown;
use kcql_testkit::embedded;
use toml::{Table, Value};

use influx_endpoint::Backend;
use progress::{show, Components, Figures};
use report::WindowRow;
use simulator::{DeviceLog, DeviceSettings};

/// The pipeline file, compiled in (the example only replaces its addresses).
const PIPELINE_TOML: &str = include_str!("iot_pipeline.toml");
/// Where the file is (for messages).
const PIPELINE_PATH: &str = "examples/iot_pipeline.toml";
/// InfluxDB tried when `--influx-url` is not given.
const DEFAULT_INFLUX: &str = "http://127.0.0.1:8086";
/// Partitions of the two Kafka topics when the example creates them.
const PARTITIONS: i32 = 3;

/// Simulated devices → MQTT → Kafka → 2-second window per device → Kafka → InfluxDB.
#[derive(Debug, Parser)]
#[command(name = "iot_pipeline", about)]
struct Args {
    /// MQTT broker (tcp://host:port); default: an embedded broker.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// Kafka bootstrap servers (host:port,…); default: an embedded mock cluster.
    #[arg(long, value_name = "LIST")]
    brokers: Option<String>,
    /// InfluxDB 1.x URL; default: http://127.0.0.1:8086 if it answers, else a file.
    #[arg(long, value_name = "URL")]
    influx_url: Option<String>,
    /// Number of devices.
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Readings per device per second.
    #[arg(long, value_name = "MSG_PER_S", default_value_t = 10)]
    rate: u32,
    /// How long the devices publish (500ms, 20s, 2m …).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    duration: Duration,
    /// Seed of the simulated values (same seed, same readings).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    kcql::ast::Duration::parse(s)
        .map(|d| d.to_std())
        .ok_or_else(|| format!("`{s}` is not a duration like 500ms, 20s or 2m"))
}

/// What the example needs to know about the pipeline file.
struct PipelineFacts {
    components: Components,
    source_topic: String,
    output_topic: String,
    mqtt_prefix: String,
    window_ms: i64,
    db: String,
    measurement: String,
}

fn string_at<'t>(table: &'t Table, path: &[&str]) -> Option<&'t str> {
    let mut value: Option<&Value> = None;
    let mut current = table;
    for (i, key) in path.iter().enumerate() {
        let v = match key.parse::<usize>() {
            Ok(index) => value?.as_array()?.get(index)?,
            Err(_) => current.get(*key)?,
        };
        if i + 1 < path.len() {
            if let Some(t) = v.as_table() {
                current = t;
            }
        }
        value = Some(v);
    }
    value?.as_str()
}

fn facts(table: &Table) -> Result<PipelineFacts, String> {
    let get = |path: &[&str]| {
        string_at(table, path)
            .map(str::to_string)
            .ok_or_else(|| format!("{PIPELINE_PATH}: `{}` missing", path.join(".")))
    };
    let processor_kcql = get(&["processor", "window", "0", "kcql"])?;
    let processor = kcql::compile_processor(&processor_kcql)
        .map_err(|_| format!("{PIPELINE_PATH}: the processor's KCQL does not compile"))?;
    let route = processor
        .routes
        .first()
        .ok_or_else(|| "the processor has no route".to_string())?;
    let window_ms = match route.window.kind {
        kcql::ast::WindowKind::Tumbling { size } => size.millis as i64,
        kcql::ast::WindowKind::Hopping { .. } => {
            return Err("the example reports tumbling windows only".into())
        }
    };
    let source_kcql = get(&["source", "mqtt", "0", "kcql"])?;
    let mqtt = kcql::compile_mqtt(&source_kcql)
        .map_err(|_| format!("{PIPELINE_PATH}: the source's KCQL does not compile"))?;
    let filter = mqtt
        .routes
        .first()
        .map(|r| r.filter.subscription.clone())
        .ok_or_else(|| "the source has no route".to_string())?;
    let sink_kcql = get(&["sink", "influx", "0", "kcql"])?;
    let influx = kcql::compile_influx(&sink_kcql)
        .map_err(|_| format!("{PIPELINE_PATH}: the sink's KCQL does not compile"))?;
    let measurement = influx
        .routes
        .first()
        .and_then(|r| match &r.measurement {
            kcql::plan::Measurement::Static { name } => Some(name.clone()),
            _ => None,
        })
        .ok_or_else(|| "the sink has no fixed measurement".to_string())?;
    Ok(PipelineFacts {
        components: Components {
            source: get(&["source", "mqtt", "0", "name"])?,
            processor: get(&["processor", "window", "0", "name"])?,
            sink: get(&["sink", "influx", "0", "name"])?,
        },
        source_topic: route.source.clone(),
        output_topic: route.target.clone(),
        mqtt_prefix: filter.trim_end_matches("/+").to_string(),
        window_ms,
        db: get(&["sink", "influx", "0", "db"])?,
        measurement,
    })
}

/// Sets `table[path] = value`, creating tables on the way (array indices must exist).
fn set_at(table: &mut Table, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let next = match key.parse::<usize>() {
            Ok(_) => continue,
            Err(_) => current
                .entry(key.to_string())
                .or_insert_with(|| Value::Table(Table::new())),
        };
        current = match next {
            Value::Table(t) => t,
            Value::Array(items) => match items.first_mut() {
                Some(Value::Table(t)) => t,
                _ => return,
            },
            _ => return,
        };
    }
    current.insert(last.to_string(), value);
}

/// `tcp://host:port`, `mqtt://host:port` or `host:port` → (host, port).
fn mqtt_address(url: &str) -> Result<(String, u16), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("--mqtt {url}: expected tcp://host:port"))?;
    let port = port
        .trim_end_matches('/')
        .parse()
        .map_err(|_| format!("--mqtt {url}: bad port"))?;
    Ok((host.to_string(), port))
}

async fn influx_answers(url: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    let Ok(client) = client else { return false };
    matches!(
        client.get(format!("{}/ping", url.trim_end_matches('/'))).send().await,
        Ok(r) if r.status().as_u16() == 204
    )
}

async fn influx_query(url: &str, db: Option<&str>, q: &str) -> Result<serde_json::Value, String> {
    let mut form = vec![("q", q), ("epoch", "ms")];
    if let Some(db) = db {
        form.push(("db", db));
    }
    let r = reqwest::Client::new()
        .post(format!("{}/query", url.trim_end_matches('/')))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("InfluxDB {url}: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("InfluxDB {url}: {q:?} answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("InfluxDB {url}: {e}"))
}

/// The last window per device as InfluxDB holds it (points of this run only).
async fn query_last_windows(
    url: &str,
    facts: &PipelineFacts,
    since_ms: i64,
) -> Result<Vec<WindowRow>, String> {
    let q = format!(
        "SELECT * FROM \"{}\" WHERE time >= {}ms GROUP BY \"id\" ORDER BY time DESC LIMIT 1",
        facts.measurement, since_ms
    );
    let answer = influx_query(url, Some(&facts.db), &q).await?;
    let mut rows = Vec::new();
    let series = answer
        .pointer("/results/0/series")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    for s in series {
        let id = s
            .pointer("/tags/id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let columns: Vec<String> = s["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        for values in s["values"].as_array().into_iter().flatten() {
            let col = |name: &str| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .and_then(|i| values.get(i))
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN)
            };
            rows.push(WindowRow {
                id: id.clone(),
                window_start: col("window_start") as i64,
                window_end: col("time") as i64,
                min: col("min_temp"),
                max: col("max_temp"),
                avg: col("avg_temp"),
                n: col("n"),
            });
        }
    }
    Ok(rows)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| "warn,rumqttd=off,rdkafka::client=off".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("iot_pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the whole demo; `Ok(false)` when the written windows do not match the readings.
async fn run(args: Args) -> Result<bool, String> {
    let mut table: Table = PIPELINE_TOML
        .parse()
        .map_err(|e| format!("{PIPELINE_PATH}: {e}"))?;
    let facts = facts(&table)?;
    println!("kcql iot_pipeline: the talk's pipeline, declared in {PIPELINE_PATH}");
    println!(
        "  {} devices × {} readings/s for {:?}, seed {}\n",
        args.devices, args.rate, args.duration, args.seed
    );

    // MQTT.
    let (mqtt_host, mqtt_port) = match &args.mqtt {
        Some(url) => {
            let (h, p) = mqtt_address(url)?;
            println!("MQTT:     {url} (--mqtt)");
            (h, p)
        }
        None => {
            let addr = embedded::start_mqtt_broker().map_err(|e| e.to_string())?;
            println!("MQTT:     embedded broker (rumqttd) on tcp://{addr}");
            (addr.ip().to_string(), addr.port())
        }
    };
    // Kafka.
    let topics = [
        (facts.source_topic.as_str(), PARTITIONS),
        (facts.output_topic.as_str(), PARTITIONS),
    ];
    let _embedded_kafka;
    let brokers = match &args.brokers {
        Some(list) => {
            embedded::create_topics(list, &topics)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Kafka:    {list} (--brokers; topics {} and {} created if missing)",
                topics[0].0, topics[1].0
            );
            list.clone()
        }
        None => {
            let kafka = embedded::EmbeddedKafka::start(&topics).map_err(|e| e.to_string())?;
            let servers = kafka.bootstrap_servers();
            println!(
                "Kafka:    embedded mock cluster (librdkafka) at {servers}, topics {} and {} ({PARTITIONS} partitions)",
                topics[0].0, topics[1].0
            );
            _embedded_kafka = kafka;
            servers
        }
    };
    // InfluxDB or the file.
    let influx_url = args
        .influx_url
        .clone()
        .unwrap_or_else(|| DEFAULT_INFLUX.to_string());
    let influx_up = influx_answers(&influx_url).await;
    if args.influx_url.is_some() && !influx_up {
        return Err(format!("--influx-url {influx_url}: no answer to /ping"));
    }
    let (backend, real_influx) = if influx_up {
        influx_query(
            &influx_url,
            None,
            &format!("CREATE DATABASE \"{}\"", facts.db),
        )
        .await?;
        println!(
            "InfluxDB: {influx_url}, database `{}`, measurement `{}` (it answered /ping)",
            facts.db, facts.measurement
        );
        (Backend::Proxy(influx_url.clone()), true)
    } else {
        let file = PathBuf::from("target/iot_pipeline")
            .join(format!("{}.{}.lp", facts.db, facts.measurement));
        println!(
            "InfluxDB: none answers at {influx_url}: writing line protocol to {} (embedded /write endpoint)",
            file.display()
        );
        (Backend::File(file), false)
    };
    let (endpoint_url, write_log) = influx_endpoint::start(backend)
        .await
        .map_err(|e| e.to_string())?;

    // The pipeline file with this run's addresses.
    set_at(&mut table, &["kafka", "brokers"], Value::String(brokers));
    set_at(
        &mut table,
        &["source", "mqtt", "0", "hosts"],
        Value::Array(vec![Value::String(format!(
            "tcp://{mqtt_host}:{mqtt_port}"
        ))]),
    );
    // The file's persistent session keeps what devices send while a long-running source is
    // down. This run's devices only publish while it runs, and a backlog an earlier, aborted
    // run left in a real broker under the same client id would be mixed into this run's
    // windows: start clean.
    set_at(
        &mut table,
        &["source", "mqtt", "0", "clean"],
        Value::Boolean(true),
    );
    set_at(
        &mut table,
        &["sink", "influx", "0", "url"],
        Value::String(endpoint_url),
    );
    set_at(
        &mut table,
        &["runtime", "metrics"],
        Value::String("127.0.0.1:0".into()),
    );
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    let pipeline = Pipeline::from_toml_str(&text, PIPELINE_PATH).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;

    let observability = Observability::default();
    let registry = Arc::clone(&observability.registry);
    let health = observability.health.clone();
    let shutdown = Shutdown::new();
    let started_ms = influx_endpoint::now_ms() as i64;
    let pipeline_task = tokio::spawn(run_pipeline(
        pipeline,
        shutdown.clone(),
        observability,
        |addr| {
            if let Some(addr) = addr {
                println!("Metrics:  http://{addr}/metrics and /health");
            }
        },
    ));

    // The source must be subscribed before the devices publish.
    let ready_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states: Vec<Option<ComponentState>> = [
            &facts.components.source,
            &facts.components.processor,
            &facts.components.sink,
        ]
        .iter()
        .map(|c| health.get(c))
        .collect();
        if states
            .iter()
            .all(|s| matches!(s, Some(ComponentState::Running)))
        {
            break;
        }
        if pipeline_task.is_finished() || Instant::now() > ready_deadline {
            println!("(components not all running after 30 s: {states:?})");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if pipeline_task.is_finished() {
        return match pipeline_task.await {
            Ok(Err(e)) => Err(format!("the pipeline stopped: {e}")),
            Ok(Ok(())) => Err("the pipeline stopped".into()),
            Err(e) => Err(format!("the pipeline panicked: {e}")),
        };
    }
    println!();

    // The devices.
    let device_log = Arc::new(DeviceLog::default());
    let devices = tokio::spawn(simulator::run(
        DeviceSettings {
            host: mqtt_host,
            port: mqtt_port,
            devices: args.devices,
            rate: args.rate,
            duration: args.duration,
            seed: args.seed,
            prefix: facts.mqtt_prefix.clone(),
        },
        Arc::clone(&device_log),
    ));

    // Progress once per second while devices publish, then until the windows that can close
    // have been written (or 15 s).
    let started = Instant::now();
    let mut last_published = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut drain_deadline: Option<Instant> = None;
    let mut device_error = None;
    loop {
        ticker.tick().await;
        let published = device_log.acknowledged.load(Ordering::Relaxed);
        let figures = Figures::read(&registry.render(), &facts.components);
        println!(
            "[{:>3}s] devices {:>7} published ({:>5}/s) │ to Kafka {:>7} │ windows {:>6} │ points {:>6} │ lag processor {:>4} sink {:>4}",
            started.elapsed().as_secs(),
            published,
            published - last_published,
            show(figures.messages_in),
            show(figures.windows),
            show(figures.points),
            show(figures.processor_lag),
            show(figures.sink_lag),
        );
        last_published = published;
        if pipeline_task.is_finished() {
            break;
        }
        if drain_deadline.is_none() && devices.is_finished() {
            drain_deadline = Some(Instant::now() + Duration::from_secs(15));
        }
        if let Some(deadline) = drain_deadline {
            let closable = closable_windows(&device_log, facts.window_ms);
            let written = written_windows(&write_log);
            if written >= closable || Instant::now() > deadline {
                break;
            }
        }
    }
    if devices.is_finished() {
        if let Ok(Err(e)) = devices.await {
            device_error = Some(e);
        }
    }
    shutdown.trigger();
    let stopped = tokio::time::timeout(Duration::from_secs(30), pipeline_task).await;
    match stopped {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => println!("the pipeline stopped with errors:\n{e}"),
        Ok(Err(e)) => println!("the pipeline panicked: {e}"),
        Err(_) => println!("the pipeline did not stop within 30 s"),
    }
    if let Some(e) = device_error {
        println!("devices: {e}");
    }

    Ok(final_report(
        &facts,
        &device_log,
        &write_log,
        real_influx,
        &influx_url,
        started_ms,
    )
    .await)
}

/// Windows whose end is at or before the last event time published: they close once every
/// partition has seen that time.
fn closable_windows(log: &DeviceLog, window_ms: i64) -> usize {
    let readings = log.readings();
    let Some(last) = readings.iter().map(|p| p.reading.ts).max() else {
        return 0;
    };
    let mut keys = std::collections::BTreeSet::new();
    for p in &readings {
        let start = kcql_testkit::devices::window_start(p.reading.ts, window_ms);
        if start + window_ms <= last {
            keys.insert((p.reading.id.clone(), start));
        }
    }
    keys.len()
}

fn written_windows(log: &influx_endpoint::WriteLog) -> usize {
    let mut keys = std::collections::BTreeSet::new();
    for p in log.points() {
        keys.insert((p.tags.get("id").cloned(), p.time_ms));
    }
    keys.len()
}

async fn final_report(
    facts: &PipelineFacts,
    device_log: &DeviceLog,
    write_log: &influx_endpoint::WriteLog,
    real_influx: bool,
    influx_url: &str,
    started_ms: i64,
) -> bool {
    let points = write_log.points();
    let rows: Vec<WindowRow> = points
        .iter()
        .filter(|p| p.measurement == facts.measurement)
        .filter_map(WindowRow::from_point)
        .collect();
    let published = device_log.readings();
    let written_last = report::last_per_device(&rows);
    println!("\nLast complete window per device");
    if real_influx {
        match query_last_windows(influx_url, facts, started_ms).await {
            Ok(queried) => {
                let queried = report::last_per_device(&queried);
                println!(
                    "(queried from InfluxDB: SELECT * FROM {} WHERE time >= <start of this run> GROUP BY id ORDER BY time DESC LIMIT 1)",
                    facts.measurement
                );
                print!("{}", report::table(&queried));
                if queried == written_last {
                    println!("  = exactly what the sink wrote (as seen by the write proxy)");
                } else {
                    println!("  ≠ what the sink wrote (as seen by the write proxy):");
                    print!("{}", report::table(&written_last));
                }
            }
            Err(e) => {
                println!("(InfluxDB query failed: {e}; as written:)");
                print!("{}", report::table(&written_last));
            }
        }
    } else {
        println!("(as written to the line-protocol file)");
        print!("{}", report::table(&written_last));
    }

    let check = report::check(&rows, &published, facts.window_ms);
    println!(
        "\nCheck against the readings published: {} windows written, {} match exactly, {} differ; {} windows still open at the end (not written)",
        rows.len(),
        check.matching,
        check.differing.len(),
        check.not_written
    );
    for d in check.differing.iter().take(10) {
        println!("  {d}");
    }

    let mut lat = report::latencies(&published, &points, facts.window_ms);
    println!("\nEnd-to-end latency (ms)          p50      p90      p99   samples");
    let line = |name: &str, values: &mut Vec<f64>| match report::percentiles(
        values,
        &[50.0, 90.0, 99.0],
    ) {
        Some(p) => println!(
            "  {name:<28} {:>8.1} {:>8.1} {:>8.1} {:>9}",
            p[0],
            p[1],
            p[2],
            values.len()
        ),
        None => println!("  {name:<28} (no samples)"),
    };
    line("publish → point written", &mut lat.reading_to_point);
    line("window end → point written", &mut lat.window_end_to_point);
    if lat.readings_without_point > 0 {
        println!(
            "  ({} readings were in windows still open at the end and have no latency)",
            lat.readings_without_point
        );
    }
    println!("\n{}", report::LATENCY_DEFINITION);
    check.differing.is_empty() && !rows.is_empty()
}
