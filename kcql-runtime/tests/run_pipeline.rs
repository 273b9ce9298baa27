//! `kcql run` as a process against the real services (Apache Kafka + InfluxDB 1.x): it writes the
//! points, serves /metrics and /health, and on SIGTERM flushes, commits and exits 0.

use std::time::{Duration, Instant};

use kcql_testkit::influx::{self, DropDatabase};
use kcql_testkit::kafka;
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;

const RECORDS: usize = 300;

fn kcql_run(args: &[&str]) -> ChildProcess {
    ChildProcess::spawn(
        env!("CARGO_BIN_EXE_kcql"),
        args,
        [("RUST_LOG", "info,rdkafka=warn")],
    )
    .expect("spawn kcql run")
}

/// The metrics address printed by `kcql run` ("metrics: http://ADDR/metrics …").
async fn metrics_addr(child: &mut ChildProcess) -> String {
    assert!(
        child
            .wait_for_output("kcql: running", Duration::from_secs(30))
            .await,
        "kcql run did not start:\n{}",
        child.log_tail(40)
    );
    let out = child.output();
    let start = out
        .find("metrics: http://")
        .expect("metrics address printed")
        + 16;
    let rest = &out[start..];
    rest[..rest.find("/metrics").expect("address end")].to_string()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn count_points(db: &str, measurement: &str) -> usize {
    let answer = influx::influxql(
        Some(db),
        &format!("SELECT count(temperature) FROM {measurement}"),
    )
    .await;
    influx::rows(&answer)
        .first()
        .and_then(|r| r.get("count"))
        .and_then(|c| c.as_u64())
        .unwrap_or(0) as usize
}

#[tokio::test(flavor = "multi_thread")]
async fn run_writes_serves_metrics_and_stops_cleanly_on_sigterm() {
    influx::require_influx().await;
    let topic = kafka::unique_topic("run_cli");
    kafka::create_topic(&topic, 3).await;
    let db = DropDatabase::new(influx::unique_db("run_cli"));
    let name = unique("run-cli-sink");
    let base_ts = 1_733_011_200_000i64;
    let records: Vec<serde_json::Value> = (0..RECORDS)
        .map(|i| {
            serde_json::json!({
                "id": format!("dev-{}", i % 7),
                "temperature": 20.0 + i as f64 / 8.0,
                "ts": base_ts + i as i64,
            })
        })
        .collect();
    kafka::produce_json(&topic, records.clone()).await;

    let dir = std::env::temp_dir().join(unique("kcql-run-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pipeline.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[kafka]
brokers = "{brokers}"

[[sink.influx]]
name = "{name}"
kcql = "INSERT INTO readings SELECT * FROM {topic} WITHTIMESTAMP ts WITHTAG(id) AUTOCREATE"
url = "{url}"
db = "{db}"
username = "kcql"
linger_ms = 100
"#,
            brokers = kafka::brokers(),
            url = influx::influx_url(),
            db = db.name(),
        ),
    )
    .unwrap();

    let mut child = kcql_run(&["run", "--metrics", "127.0.0.1:0", file.to_str().unwrap()]);
    let addr = metrics_addr(&mut child).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    while count_points(db.name(), "readings").await < RECORDS {
        assert!(
            Instant::now() < deadline,
            "only {} of {RECORDS} points after 60 s:\n{}",
            count_points(db.name(), "readings").await,
            child.log_tail(40)
        );
        assert!(
            child.is_running(),
            "kcql run exited:\n{}",
            child.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exact values and timestamps.
    let rows = influx::select_all(db.name(), "readings").await;
    assert_eq!(rows.len(), RECORDS);
    for (row, rec) in rows.iter().zip(&records) {
        // InfluxDB answers in time order, and the records' times ascend.
        assert_eq!(row["temperature"].as_f64(), rec["temperature"].as_f64());
        assert_eq!(row["id"], rec["id"]);
    }

    let (status, health) = get(&format!("http://{addr}/health")).await;
    assert_eq!(status, 200, "{health}");
    assert!(health.contains(&name), "{health}");
    let (status, metrics) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    let written = format!("kcql_records_written_total{{component=\"{name}\"}} {RECORDS}\n");
    assert!(metrics.contains(&written), "{metrics}");
    let points = format!(
        "kcql_points_written_total{{component=\"{name}\",measurement=\"readings\"}} {RECORDS}\n"
    );
    assert!(metrics.contains(&points), "{metrics}");
    assert!(
        metrics.contains("kcql_write_duration_seconds_bucket"),
        "{metrics}"
    );

    child.sigterm().unwrap();
    let status = child
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .expect("wait for kcql run")
        .expect("kcql run exits within 30 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", child.log_tail(40));
    assert!(child.output().contains("kcql: stopped cleanly"));

    // Everything written is committed: a fresh topic starts at offset 0 in each partition.
    let committed = kafka::committed_offsets(&format!("connect-{name}"), &topic).await;
    assert_eq!(
        committed.values().sum::<i64>(),
        RECORDS as i64,
        "committed {committed:?}"
    );
}

#[tokio::test]
async fn run_check_lists_every_problem_and_exits_1() {
    let dir = std::env::temp_dir().join(unique("kcql-run-check"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "[[sink.influx]]\nkcql = \"INSERT INTO m SELECT * FROM t PK x\"\nulr = \"http://x\"\n",
    )
    .unwrap();
    let mut child = kcql_run(&["run", "--check", file.to_str().unwrap()]);
    let status = child
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .expect("wait")
        .expect("exits within 30 s");
    assert_eq!(status.code(), Some(1));
    let out = child.output();
    for needle in [
        "unknown key `ulr` (did you mean `url`?)",
        "(`db` in the pipeline file)",
        "did you mean WITHTAG?",
        "problems found",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}
