//! The InfluxDB writer against the real services of `scripts/services.sh up`: InfluxDB 1.6.7
//! (v1 API) at 127.0.0.1:8086 and VictoriaMetrics (v2 write API) at 127.0.0.1:8428. A service
//! that does not answer fails the test with "run scripts/services.sh up"; nothing is skipped.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kcql_runtime::config::Secret;
use kcql_runtime::connectors::influx_sink::influx::{
    Api, BatchLimits, Batcher, EnsureError, InfluxConfig, InfluxWriter, Precision, WriteError,
};
use kcql_testkit::influx::{
    self as tk, influx_url, influxql_ok, require_influx, require_vm, rows, select_all, vm_url,
    DropDatabase,
};
use serde_json::{json, Value};

fn v1(db: &str) -> InfluxConfig {
    let mut c = InfluxConfig::new(
        influx_url(),
        Api::V1 {
            database: db.to_string(),
            retention_policy: None,
            username: None,
            password: None,
            consistency: None,
        },
    );
    c.timeout = Duration::from_secs(10);
    c
}

fn writer(config: &InfluxConfig) -> InfluxWriter {
    InfluxWriter::new(config).expect("writer config")
}

fn now_ns() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

/// `text`'s lines (one per `\n`) as a batch: `batch(text).take().0` is what a writer writes.
fn batch(text: impl AsRef<[u8]>) -> Batcher {
    let mut b = Batcher::new(BatchLimits::default());
    for line in text
        .as_ref()
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
    {
        b.push_line(line, Instant::now());
    }
    b
}

/// A fresh database created through `ensure_database`, dropped when the guard goes.
async fn fresh_db(prefix: &str) -> (DropDatabase, InfluxWriter) {
    require_influx().await;
    let db = tk::unique_db(prefix);
    let guard = DropDatabase::new(&db);
    let w = writer(&v1(&db));
    w.ensure_database(&db, None).await.expect("CREATE DATABASE");
    assert!(tk::db_exists(&db).await, "{db} not created");
    (guard, w)
}

/// Every field type, escaped names, explicit ns timestamps: read back exactly.
const EVERY_TYPE: &str = concat!(
    r#"wea\ ther\,x,lo\=c\ tag=a\,b\ c\=d,zone=z1 "#,
    r#"int=-42i,big=9007199254740993i,float=3.5,neg=-0.25,b_true=true,b_false=F,"#,
    r#"str="he said \"hi\" \\ back, and = too",empty="" 1700000000123456789"#,
    "\n",
    r#"wea\ ther\,x,lo\=c\ tag=second,zone=z1 int=7i,float=1e-7 1700000000123456790"#,
    "\n",
);

fn assert_every_type_rows(rows: &[serde_json::Map<String, Value>]) {
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["time"], json!(1_700_000_000_123_456_789_i64));
    assert_eq!(r["lo=c tag"], json!("a,b c=d"));
    assert_eq!(r["zone"], json!("z1"));
    assert_eq!(r["int"], json!(-42));
    assert_eq!(
        r["big"],
        json!(9_007_199_254_740_993_i64),
        "int64 kept exactly"
    );
    assert_eq!(r["float"], json!(3.5));
    assert_eq!(r["neg"], json!(-0.25));
    assert_eq!(r["b_true"], json!(true));
    assert_eq!(r["b_false"], json!(false));
    assert_eq!(r["str"], json!(r#"he said "hi" \ back, and = too"#));
    assert_eq!(r["empty"], json!(""));
    let r = &rows[1];
    assert_eq!(r["time"], json!(1_700_000_000_123_456_790_i64));
    assert_eq!(r["lo=c tag"], json!("second"));
    assert_eq!(r["int"], json!(7));
    assert_eq!(r["float"], json!(1e-7));
    assert_eq!(r["str"], Value::Null);
}

#[tokio::test]
async fn v1_writes_every_type_exactly_plain_and_gzip() {
    let (guard, w) = fresh_db("t_influx_types").await;
    let db = guard.name().to_string();
    w.write(batch(EVERY_TYPE.as_bytes()).take().0)
        .await
        .expect("plain write");
    assert_every_type_rows(&select_all(&db, "wea ther,x").await);

    // Same points through gzip into another measurement.
    let mut gz = v1(&db);
    gz.gzip = true;
    let body = EVERY_TYPE.replace(r"wea\ ther\,x", "gz");
    writer(&gz)
        .write(batch(body.as_bytes()).take().0)
        .await
        .expect("gzip write");
    assert_every_type_rows(&select_all(&db, "gz").await);

    // Writing the same points again overwrites them (at-least-once replays are harmless).
    w.write(batch(EVERY_TYPE.as_bytes()).take().0)
        .await
        .unwrap();
    assert_eq!(select_all(&db, "wea ther,x").await.len(), 2);

    tk::drop_db(&db).await;
    assert!(!tk::db_exists(&db).await);
}

#[tokio::test]
async fn v1_precisions_map_to_influx_1x_names() {
    let (guard, _) = fresh_db("t_influx_prec").await;
    let db = guard.name().to_string();
    for (precision, ts) in [
        (Precision::Ns, "1700000000123456789"),
        (Precision::Us, "1700000000123456"),
        (Precision::Ms, "1700000000123"),
        (Precision::S, "1700000000"),
    ] {
        let mut c = v1(&db);
        c.precision = precision;
        let body = format!("prec,p={} v=1i {ts}\n", precision.as_str());
        writer(&c)
            .write(batch(body.as_bytes()).take().0)
            .await
            .unwrap();
    }
    let got: Vec<(String, i64)> = select_all(&db, "prec")
        .await
        .iter()
        .map(|r| {
            (
                r["p"].as_str().unwrap().to_string(),
                r["time"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("s".to_string(), 1_700_000_000_000_000_000),
            ("ms".to_string(), 1_700_000_000_123_000_000),
            ("us".to_string(), 1_700_000_000_123_456_000),
            ("ns".to_string(), 1_700_000_000_123_456_789),
        ]
    );
}

#[tokio::test]
async fn v1_partial_write_names_the_conflicting_line_and_keeps_the_rest() {
    let (guard, w) = fresh_db("t_influx_partial").await;
    let db = guard.name().to_string();
    w.write(batch(b"conf,t=seed v=1i 1000\n").take().0)
        .await
        .unwrap();

    let body = "conf,t=a v=2i 2000\nconf,t=bad v=2.5 3000\nconf,t=c v=4i 4000\n";
    let err = w.write(batch(body.as_bytes()).take().0).await.unwrap_err();
    match &err {
        WriteError::Rejected {
            message,
            dropped,
            lines,
        } => {
            assert_eq!(
                message,
                "partial write: field type conflict: input field \"v\" on measurement \"conf\" \
                 is type float, already exists as type integer dropped=1"
            );
            assert_eq!(*dropped, Some(1));
            assert_eq!(lines, &[1]);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let tags: Vec<Value> = select_all(&db, "conf")
        .await
        .iter()
        .map(|r| r["t"].clone())
        .collect();
    assert_eq!(tags, [json!("seed"), json!("a"), json!("c")]);

    // An unparseable line among good ones: quoted by InfluxDB, mapped back to its number.
    let body = "conf,t=d v=5i 5000\nconf,t=e v= 6000\nconf,t=f v=7i 7000\n";
    match w.write(batch(body.as_bytes()).take().0).await.unwrap_err() {
        WriteError::Rejected {
            message,
            dropped,
            lines,
        } => {
            assert_eq!(
                message,
                "partial write: unable to parse 'conf,t=e v= 6000': missing field value dropped=0"
            );
            assert_eq!(dropped, Some(0));
            assert_eq!(lines, [1]);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(select_all(&db, "conf").await.len(), 5);
}

#[tokio::test]
async fn v1_isolating_finds_every_refused_line() {
    let (guard, w) = fresh_db("t_influx_isolate").await;
    let db = guard.name().to_string();
    w.write(batch(b"iso,t=seed a=1i,b=true 1000\n").take().0)
        .await
        .unwrap();
    // Two different conflicts and one unparseable line: InfluxDB 1.6.7 reports only the first
    // conflict (and hides the parse error behind it).
    let body = concat!(
        "iso,t=0 a=1i 2000\n",
        "iso,t=1 a=1.5 3000\n", // conflict on a
        "iso,t=2 b=1i 4000\n",  // conflict on b
        "not valid\n",          // unparseable
        "iso,t=4 a=5i,b=false 5000\n",
        "iso,t=5 a=2.5 6000\n", // conflict on a
    );
    let first = w.write(batch(body.as_bytes()).take().0).await.unwrap_err();
    assert_eq!(first.bad_lines(), &[1, 5], "{first:?}");

    let report = w
        .write_isolating(batch(body.as_bytes()).take().0)
        .await
        .unwrap();
    let bad: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(bad, [1, 2, 3, 5], "{report:?}");
    assert!(report.rejected[1].message.contains("input field \"b\""));
    assert!(report.rejected[2]
        .message
        .contains("unable to parse 'not valid'"));
    let tags: Vec<Value> = select_all(&db, "iso")
        .await
        .iter()
        .map(|r| r["t"].clone())
        .collect();
    assert_eq!(tags, [json!("seed"), json!("0"), json!("4")]);
}

#[tokio::test]
async fn v1_isolating_handles_per_shard_field_types() {
    // InfluxDB 1.x keeps field types per shard (7-day shard groups here): `v` is an integer in
    // the 1970 shard and a float in today's. Each shard refuses a different line, and the
    // answer reports only one shard's error.
    let (guard, w) = fresh_db("t_influx_shards").await;
    let db = guard.name().to_string();
    let now = now_ns();
    w.write(
        batch(format!("xs,t=seed v=1i 1\nxs,t=seed v=1.5 {now}\n").as_bytes())
            .take()
            .0,
    )
    .await
    .unwrap();
    let body = format!(
        "xs,t=0 v=2.5 2\nxs,t=1 v=3i {}\nxs,t=2 v=4i 3\nxs,t=3 v=2.5 {}\n",
        now + 1,
        now + 2
    );
    let raw = w.write(batch(body.as_bytes()).take().0).await.unwrap_err();
    assert!(
        matches!(
            raw,
            WriteError::Rejected {
                dropped: Some(1),
                ..
            }
        ),
        "{raw:?}"
    );
    let report = w
        .write_isolating(batch(body.as_bytes()).take().0)
        .await
        .unwrap();
    let bad: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(bad, [0, 1], "{report:?}");
    let stored: Vec<(Value, Value)> = select_all(&db, "xs")
        .await
        .iter()
        .map(|r| (r["t"].clone(), r["v"].clone()))
        .collect();
    assert_eq!(
        stored,
        [
            (json!("seed"), json!(1)),
            (json!("2"), json!(4)),
            (json!("seed"), json!(1.5)),
            (json!("3"), json!(2.5)),
        ]
    );
}

#[tokio::test]
async fn v1_missing_database_and_retention_policy() {
    require_influx().await;
    let db = tk::unique_db("t_influx_missing");
    let _guard = DropDatabase::new(&db);
    let w = writer(&v1(&db));
    match w.write(batch(b"m v=1i 1\n").take().0).await.unwrap_err() {
        WriteError::DatabaseNotFound { database, message } => {
            assert_eq!(database, db);
            assert_eq!(message, format!("database not found: \"{db}\""));
        }
        other => panic!("expected DatabaseNotFound, got {other:?}"),
    }
    // AUTOCREATE flow: create, then the same write succeeds.
    w.ensure_database(&db, None).await.unwrap();
    w.write(batch(b"m v=1i 1\n").take().0).await.unwrap();

    let mut c = v1(&db);
    c.api = Api::V1 {
        database: db.clone(),
        retention_policy: Some("nope".into()),
        username: None,
        password: None,
        consistency: None,
    };
    match writer(&c)
        .write(batch(b"m v=1i 1\n").take().0)
        .await
        .unwrap_err()
    {
        WriteError::RetentionPolicyNotFound { policy, message } => {
            assert_eq!(policy, "nope");
            assert_eq!(message, "retention policy not found: nope");
        }
        other => panic!("expected RetentionPolicyNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn v1_retention_policy_is_created_idempotently_with_quoted_names() {
    require_influx().await;
    // Quotes and spaces in both names exercise identifier quoting end to end.
    let db = format!("{} \"q\"", tk::unique_db("t_influx_rp"));
    let guard = DropDatabase::new(&db);
    let w = writer(&v1(&db));
    let thirty_days = Duration::from_secs(30 * 86_400);
    w.ensure_database(&db, Some(("short \"rp\"", Some(thirty_days))))
        .await
        .unwrap();
    // Idempotent: same again, and a different duration leaves the existing policy alone.
    w.ensure_database(&db, Some(("short \"rp\"", Some(thirty_days))))
        .await
        .unwrap();
    w.ensure_database(
        &db,
        Some(("short \"rp\"", Some(Duration::from_secs(7 * 86_400)))),
    )
    .await
    .unwrap();
    let answer = influxql_ok(
        None,
        &format!("SHOW RETENTION POLICIES ON {}", tk::quote(guard.name())),
    )
    .await;
    let policies: Vec<(String, String)> = rows(&answer)
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["duration"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        policies,
        [
            ("autogen".to_string(), "0s".to_string()),
            ("short \"rp\"".to_string(), "720h0m0s".to_string()),
        ]
    );

    // Writing into the policy works.
    let mut c = v1(&db);
    c.api = Api::V1 {
        database: db.clone(),
        retention_policy: Some("short \"rp\"".into()),
        username: None,
        password: None,
        consistency: None,
    };
    let ts = now_ns();
    writer(&c)
        .write(batch(format!("in_rp v=1i {ts}\n").as_bytes()).take().0)
        .await
        .unwrap();
    let answer = influxql_ok(
        Some(&db),
        &format!("SELECT * FROM {}.\"in_rp\"", tk::quote("short \"rp\"")),
    )
    .await;
    assert_eq!(rows(&answer)[0]["time"], json!(ts));

    // InfluxDB's own refusals come back as statement errors.
    match w
        .ensure_database(&db, Some(("tiny", Some(Duration::from_secs(60)))))
        .await
    {
        Err(EnsureError::Statement { statement, message }) => {
            assert!(statement.contains("DURATION 1m"), "{statement}");
            assert_eq!(message, "retention policy duration must be at least 1h0m0s");
        }
        other => panic!("expected a statement error, got {other:?}"),
    }
    match w.ensure_database("bad\\name", None).await {
        Err(EnsureError::Statement { message, .. }) => assert_eq!(message, "invalid name"),
        other => panic!("expected a statement error, got {other:?}"),
    }

    tk::drop_db(&db).await;
    assert!(!tk::db_exists(&db).await);
}

fn vm_config(gzip: bool) -> InfluxConfig {
    let mut c = InfluxConfig::new(
        vm_url(),
        Api::V2 {
            org: "kcql org".into(),
            bucket: "kcql/bucket".into(),
            token: Secret::new("ignored-by-vm"),
        },
    );
    c.gzip = gzip;
    c
}

#[tokio::test]
async fn v2_writes_to_victoria_metrics() {
    require_vm().await;
    let m = tk::unique_db("kcql_vm");
    let ts = now_ns();
    let body = format!(
        "{m},host=a,id=1 v=42i,f=1.5,b=true {ts}\n{m},host=b v=-7i {}\n",
        ts + 1_000_000
    );
    let w = writer(&vm_config(false));
    w.write(batch(body.as_bytes()).take().0)
        .await
        .expect("v2 write");
    // gzip, and a line VictoriaMetrics cannot parse: it answers 204 and skips the line.
    let body = format!("{m},host=c v=3.25 {ts}\nnot valid\n");
    writer(&vm_config(true))
        .write(batch(body.as_bytes()).take().0)
        .await
        .expect("v2 gzip write");

    let series = tk::vm_wait_series(
        &format!("{{__name__=~\"{m}_.*\"}}"),
        5,
        5,
        Duration::from_secs(10),
    )
    .await;
    let got: Vec<(Value, Vec<Value>, Vec<Value>)> = series
        .iter()
        .map(|s| {
            (
                s["metric"].clone(),
                s["values"].as_array().unwrap().clone(),
                s["timestamps"].as_array().unwrap().clone(),
            )
        })
        .collect();
    let ms = ts / 1_000_000;
    assert_eq!(
        got,
        [
            (
                json!({"__name__": format!("{m}_b"), "host": "a", "id": "1"}),
                vec![json!(1)],
                vec![json!(ms)]
            ),
            (
                json!({"__name__": format!("{m}_f"), "host": "a", "id": "1"}),
                vec![json!(1.5)],
                vec![json!(ms)]
            ),
            (
                json!({"__name__": format!("{m}_v"), "host": "a", "id": "1"}),
                vec![json!(42)],
                vec![json!(ms)]
            ),
            (
                json!({"__name__": format!("{m}_v"), "host": "b"}),
                vec![json!(-7)],
                vec![json!(ms + 1)]
            ),
            (
                json!({"__name__": format!("{m}_v"), "host": "c"}),
                vec![json!(3.25)],
                vec![json!(ms)]
            ),
        ]
    );
}

#[tokio::test]
async fn v2_against_influx_1_6_is_a_fatal_404() {
    require_influx().await;
    let mut c = vm_config(false);
    c.url = influx_url();
    match writer(&c)
        .write(batch(b"m v=1 1\n").take().0)
        .await
        .unwrap_err()
    {
        WriteError::Fatal { status, message } => {
            assert_eq!(status, Some(404));
            assert_eq!(message, "404 page not found");
        }
        other => panic!("expected Fatal, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_port_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = v1("nowhere");
    c.url = format!("http://127.0.0.1:{port}");
    let w = writer(&c);
    match w.write(batch(b"m v=1i 1\n").take().0).await.unwrap_err() {
        WriteError::Transient {
            retry_after,
            status,
            message,
        } => {
            assert_eq!((retry_after, status), (None, None));
            assert!(message.contains("cannot connect"), "{message}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    match w.ensure_database("x", None).await {
        Err(EnsureError::Transient { status: None, .. }) => {}
        other => panic!("expected Transient, got {other:?}"),
    }
}
