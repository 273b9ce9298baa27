//! The InfluxDB sink over HTTPS against real services: the second InfluxDB 1.6.7 that
//! `scripts/services.sh up` runs with `https-enabled` on 127.0.0.1:8087 (its certificate signed
//! by a private test CA made with openssl), Apache Kafka (127.0.0.1:9092), and, for the client
//! certificate, the plain InfluxDB (127.0.0.1:8086) behind a TLS-terminating proxy that
//! requires one (InfluxDB 1.x cannot require client certificates itself).
//!
//! * The CA file given: records become exact points in the HTTPS InfluxDB (its database
//!   made by `AUTOCREATE`, also over HTTPS).
//! * No CA file: the sink stops within seconds with the certificate error (no retrying).
//! * `insecure_skip_verify`: writes without the CA, and warns.
//! * Client certificate: exact points through the mTLS proxy; without one the sink stops with
//!   the certificate error and the proxy counts the refused handshake.
//! * `kcql run` with `SSL_CERT_FILE` naming the CA and no CA key: the system trust store
//!   (rustls-native-certs) is used; an `insecure_skip_verify` sink in the same process logs its
//!   warning exactly once.
//! * `kcql run --check`: the TLS keys' errors name the key; the warnings are printed.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kcql_runtime::connectors::influx_sink::influx::{
    Api, Batcher, EnsureError, InfluxConfig, InfluxWriter, WriteError,
};
use kcql_testkit::influx::{
    influx_tls_ca, influx_tls_url, influxql_tls, quote, require_influx, require_influx_tls, rows,
    select_all, unique_db,
};
use kcql_testkit::kafka::{create_topic_at, produce_at, unique_group, unique_topic, ProduceRecord};
use kcql_testkit::names;
use kcql_testkit::private::{private_root, ChildProcess};
use kcql_testkit::tls::{make_test_pki, MtlsProxy};
use serde_json::json;
use support::{now_ns, settings, shared_db, v1_props, wait_for, RunningSink};

const N: i64 = 25;

/// Drops a database of the HTTPS InfluxDB at the end of a test.
struct DropTlsDatabase(String);

impl Drop for DropTlsDatabase {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE {}", quote(&self.0));
        // Best effort, on a runtime of its own (the test's may be gone).
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(influxql_tls(None, &statement)))
        })
        .join();
    }
}

/// `N` records `{"id","v","ts"}` on a fresh one-partition topic; returns the topic and the
/// expected points as `time|id|v`.
async fn produce_records(label: &str) -> (String, BTreeSet<String>) {
    let brokers = kcql_testkit::kafka::brokers();
    let topic = unique_topic(label);
    create_topic_at(&brokers, &topic, 1).await;
    let base = now_ns() - 600_000_000_000;
    let mut want = BTreeSet::new();
    let records: Vec<ProduceRecord> = (0..N)
        .map(|i| {
            let (id, v, ts) = (
                format!("dev-{}", i % 3),
                10.25 + i as f64,
                base + i * 1_000_001,
            );
            want.insert(format!("{ts}|{id}|{v}"));
            ProduceRecord::new(
                serde_json::to_vec(&json!({"id": id, "v": v, "ts": ts})).expect("json"),
            )
        })
        .collect();
    produce_at(&brokers, &[], &topic, records).await;
    (topic, want)
}

fn kcql_for(topic: &str, autocreate: bool) -> String {
    format!(
        "INSERT INTO m SELECT v FROM {topic}{} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id)",
        if autocreate { " AUTOCREATE" } else { "" }
    )
}

fn as_points(rows: &[serde_json::Map<String, serde_json::Value>]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{}|{}|{}",
                r["time"],
                r["id"].as_str().unwrap_or("?"),
                r["v"]
            )
        })
        .collect()
}

/// Waits until the HTTPS InfluxDB holds `want` in `db`.`m`, failing early when the sink stops.
async fn wait_tls_points(db: &str, want: &BTreeSet<String>, sink: &RunningSink) {
    wait_for(
        "points in the HTTPS InfluxDB",
        Duration::from_secs(60),
        || async {
            if let Some(why) = sink.failure() {
                panic!("the sink stopped: {why}");
            }
            let answer = influxql_tls(Some(db), "SELECT * FROM m").await;
            let got = as_points(&rows(&answer));
            if &got == want {
                Ok(())
            } else {
                Err(format!("{} of {} points", got.len(), want.len()))
            }
        },
    )
    .await
}

/// Runs a sink that cannot reach its server over TLS and returns its error text, asserting it
/// stopped within 10 s (no retrying of a certificate failure).
async fn stops_with(props: &[(&str, &str)]) -> String {
    let started = Instant::now();
    let sink = RunningSink::start(settings(props));
    let result = tokio::time::timeout(Duration::from_secs(20), sink.task)
        .await
        .expect("the sink did not stop within 20 s")
        .expect("sink task panicked");
    let error = result
        .expect_err("the sink must stop with an error")
        .to_string();
    eprintln!("stopped after {:?}: {error}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped only after {:?}: {error}",
        started.elapsed()
    );
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_private_ca_the_sink_writes_exact_points_over_https() {
    require_influx_tls().await;
    let (topic, want) = produce_records("tls_ca").await;
    let db = unique_db("tls_ca");
    let _drop = DropTlsDatabase(db.clone());
    let url = influx_tls_url();
    assert!(url.starts_with("https://"), "{url}");
    let ca = influx_tls_ca().display().to_string();
    let (group, kcql, brokers) = (
        unique_group("tls_ca"),
        kcql_for(&topic, true),
        kcql_testkit::kafka::brokers(),
    );
    let mut props = v1_props("tls-ca", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.ssl.ca.cert", &ca));
    let s = settings(&props);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let sink = RunningSink::start(s);
    wait_tls_points(&db, &want, &sink).await;
    sink.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_private_ca_is_enough_with_the_system_roots_off() {
    require_influx_tls().await;
    let (topic, want) = produce_records("tls_only_ca").await;
    let db = unique_db("tls_only_ca");
    let _drop = DropTlsDatabase(db.clone());
    let (url, ca) = (influx_tls_url(), influx_tls_ca().display().to_string());
    let (group, kcql, brokers) = (
        unique_group("tls_only_ca"),
        kcql_for(&topic, true),
        kcql_testkit::kafka::brokers(),
    );
    let mut props = v1_props("tls-only-ca", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.ssl.ca.cert", &ca));
    props.push(("connect.influx.ssl.system.roots", "false"));
    let sink = RunningSink::start(settings(&props));
    wait_tls_points(&db, &want, &sink).await;
    sink.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_ca_the_sink_stops_at_once_with_the_certificate_error() {
    require_influx_tls().await;
    let (topic, _) = produce_records("tls_no_ca").await;
    let db = unique_db("tls_no_ca");
    let _drop = DropTlsDatabase(db.clone());
    let url = influx_tls_url();
    let (group, brokers) = (unique_group("tls_no_ca"), kcql_testkit::kafka::brokers());
    // Without AUTOCREATE: the first write meets the certificate.
    let kcql = kcql_for(&topic, false);
    let props = v1_props("tls-no-ca", &url, &db, &group, &kcql, &brokers);
    let error = stops_with(&props).await;
    assert!(error.contains("certificate"), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");
    // With AUTOCREATE: the CREATE DATABASE at start meets it.
    let kcql = kcql_for(&topic, true);
    let props = v1_props("tls-no-ca", &url, &db, &group, &kcql, &brokers);
    let error = stops_with(&props).await;
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_skip_verify_writes_without_the_ca_and_warns() {
    require_influx_tls().await;
    let (topic, want) = produce_records("tls_insecure").await;
    let db = unique_db("tls_insecure");
    let _drop = DropTlsDatabase(db.clone());
    let url = influx_tls_url();
    let (group, kcql, brokers) = (
        unique_group("tls_insecure"),
        kcql_for(&topic, true),
        kcql_testkit::kafka::brokers(),
    );
    let mut props = v1_props("tls-insecure", &url, &db, &group, &kcql, &brokers);
    props.push(("connect.influx.insecure.skip.verify", "true"));
    let s = settings(&props);
    let warnings = s.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "connect.influx.insecure.skip.verify = true: TLS certificate verification is OFF"
        ),
        "{warnings:?}"
    );
    let sink = RunningSink::start(s);
    wait_tls_points(&db, &want, &sink).await;
    sink.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_passes_a_proxy_that_requires_one() {
    require_influx().await;
    let pki = private_root().join(names::unique("influx_mtls"));
    make_test_pki(&pki);
    let proxy = MtlsProxy::start(&pki, "127.0.0.1:8086").await;
    let file = |name: &str| pki.join(name).display().to_string();
    let (ca, cert, key) = (file("ca.crt"), file("client.crt"), file("client.key"));

    let (topic, want) = produce_records("tls_client").await;
    let db = shared_db("tls_client").await;
    let url = proxy.url();
    let (group, kcql, brokers) = (
        unique_group("tls_client"),
        kcql_for(&topic, false),
        kcql_testkit::kafka::brokers(),
    );
    let base = v1_props("tls-client", &url, &db, &group, &kcql, &brokers);

    // No client certificate: the proxy refuses the handshake, the sink stops and says why.
    let mut props = base.clone();
    props.push(("connect.influx.ssl.ca.cert", &ca));
    let error = stops_with(&props).await;
    assert!(error.contains("certificate"), "{error}");
    assert!(proxy.refused() >= 1, "refused {}", proxy.refused());
    assert_eq!(proxy.accepted(), 0);

    // With it: exact points in the real InfluxDB behind the proxy.
    props.push(("connect.influx.ssl.cert", &cert));
    props.push(("connect.influx.ssl.key", &key));
    props.push(("connect.influx.ssl.system.roots", "false"));
    let sink = RunningSink::start(settings(&props));
    wait_for(
        "points behind the mTLS proxy",
        Duration::from_secs(60),
        || async {
            if let Some(why) = sink.failure() {
                panic!("the sink stopped: {why}");
            }
            let got = as_points(&select_all(&db, "m").await);
            if got == want {
                Ok(())
            } else {
                Err(format!("{} of {} points", got.len(), want.len()))
            }
        },
    )
    .await;
    sink.stop().await.expect("clean stop");
    assert!(proxy.accepted() >= 1);
    let _ = std::fs::remove_dir_all(&pki);
}

/// The writer on its own: a certificate failure is fatal (not transient) for writes and for
/// `CREATE DATABASE`; with the CA both work.
#[tokio::test(flavor = "multi_thread")]
async fn the_writer_calls_an_untrusted_certificate_fatal_and_writes_with_the_ca() {
    require_influx_tls().await;
    let db = unique_db("tls_writer");
    let _drop = DropTlsDatabase(db.clone());
    let api = Api::V1 {
        database: db.clone(),
        retention_policy: None,
        username: None,
        password: None,
        consistency: None,
    };
    let mut config = InfluxConfig::new(influx_tls_url(), api);
    let line: &[u8] = b"m,id=w v=1.5 1700000000000000000";
    let untrusted = InfluxWriter::new(&config).expect("writer");
    match untrusted.ensure_database(&db, None).await {
        Err(EnsureError::Fatal {
            status: None,
            message,
        }) => {
            assert!(
                message.starts_with(
                    "TLS certificate verification failed (invalid peer certificate: UnknownIssuer)"
                ),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut batcher = Batcher::new(config.batch);
    batcher.push_line(line, Instant::now());
    let (lines, _) = batcher.take();
    match untrusted.write(lines).await {
        Err(WriteError::Fatal {
            status: None,
            message,
        }) => {
            assert!(message.contains("UnknownIssuer"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    config.tls.ca_file = Some(influx_tls_ca());
    let trusted = InfluxWriter::new(&config).expect("writer");
    trusted
        .ensure_database(&db, None)
        .await
        .expect("CREATE DATABASE over HTTPS");
    let mut batcher = Batcher::new(config.batch);
    batcher.push_line(line, Instant::now());
    let (lines, _) = batcher.take();
    trusted.write(lines).await.expect("write over HTTPS");
    let answer = influxql_tls(Some(&db), "SELECT * FROM m").await;
    assert_eq!(
        as_points(&rows(&answer)),
        BTreeSet::from(["1700000000000000000|w|1.5".to_string()])
    );
}

fn kcql_check(file: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kcql"))
        .args(["run", "--check"])
        .arg(file)
        .output()
        .expect("run kcql");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn run_check_names_the_tls_key_of_each_problem_and_prints_the_warnings() {
    let dir = private_root().join(names::unique("influx_tls_check"));
    make_test_pki(&dir);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write");
    let d = dir.display();
    let sink = |extra: &str, url: &str| {
        format!(
            "[[sink.influx]]\nname = \"s\"\nkcql = \"INSERT INTO m SELECT * FROM t\"\n\
             url = \"{url}\"\ndb = \"d\"\nusername = \"u\"\n{extra}\n"
        )
    };
    let cases = [
        (
            sink(
                &format!("ssl_ca_cert = \"{d}/missing.pem\""),
                "https://influx:8086",
            ),
            "connect.influx.ssl.ca.cert: cannot read",
            "(`ssl_ca_cert` in the pipeline file)",
        ),
        (
            sink(
                &format!("ssl_ca_cert = \"{}\"", garbage.display()),
                "https://influx:8086",
            ),
            "connect.influx.ssl.ca.cert: `",
            "holds no PEM certificate",
        ),
        (
            sink(
                &format!("ssl_cert = \"{d}/client.crt\""),
                "https://influx:8086",
            ),
            "connect.influx.ssl.key",
            "needs its private key",
        ),
        (
            sink(
                &format!("ssl_cert = \"{d}/client.crt\"\nssl_key = \"{d}/server.key\""),
                "https://influx:8086",
            ),
            "connect.influx.ssl.key: the TLS settings cannot be used",
            "(`ssl_key` in the pipeline file)",
        ),
        (
            sink(
                &format!("ssl_ca_cert = \"{d}/ca.crt\""),
                "http://influx:8086",
            ),
            "connect.influx.ssl.ca.cert is set but connect.influx.url is http://",
            "(`ssl_ca_cert` in the pipeline file)",
        ),
    ];
    for (i, (toml, want, also)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.toml"));
        std::fs::write(&file, toml).expect("write");
        let (code, text) = kcql_check(&file);
        assert_eq!(code, Some(1), "case {i}: {text}");
        assert!(text.contains(want), "case {i}: want {want:?} in {text}");
        assert!(text.contains(also), "case {i}: want {also:?} in {text}");
    }

    let warned = dir.join("warned.toml");
    std::fs::write(
        &warned,
        sink(
            "password = \"hunter2\"\ninsecure_skip_verify = true",
            "https://influx.example.com:8086",
        ) + &sink("password = \"hunter2\"", "http://influx.example.com:8086")
            .replace("\"s\"", "\"t\""),
    )
    .expect("write");
    let (code, text) = kcql_check(&warned);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("warning: sink.influx `s`: connect.influx.insecure.skip.verify = true: TLS certificate verification is OFF"),
        "{text}"
    );
    assert!(
        text.contains("warning: sink.influx `t`: connect.influx.password is sent unencrypted: connect.influx.url is http:// to influx.example.com"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        !text.contains("warning: sink.influx `s`: connect.influx.password"),
        "{text}"
    );

    let loopback = dir.join("loopback.toml");
    std::fs::write(
        &loopback,
        sink("password = \"hunter2\"", "http://127.0.0.1:8086"),
    )
    .expect("write");
    let (code, text) = kcql_check(&loopback);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("warning"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two sinks in one `kcql run` process: one trusts the CA only through the system trust store
/// (`SSL_CERT_FILE`, read by rustls-native-certs), one skips verification; both write every
/// point, and the warning is logged once.
#[tokio::test(flavor = "multi_thread")]
async fn kcql_run_trusts_the_system_store_and_warns_once_about_insecure_skip_verify() {
    require_influx_tls().await;
    let (topic, want) = produce_records("tls_native").await;
    let (db_native, db_insecure) = (unique_db("tls_native"), unique_db("tls_insecure_run"));
    let _drop = (
        DropTlsDatabase(db_native.clone()),
        DropTlsDatabase(db_insecure.clone()),
    );
    let url = influx_tls_url();
    let sink = |name: &str, db: &str, extra: &str| {
        format!(
            "[[sink.influx]]\nname = \"{name}\"\nkcql = \"{kcql}\"\nurl = \"{url}\"\ndb = \"{db}\"\n\
             username = \"u\"\nlinger_ms = 100\ngroup_id = \"{group}\"\n{extra}\n",
            kcql = kcql_for(&topic, true),
            group = unique_group(name),
        )
    };
    let dir = private_root().join(names::unique("tls_native"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("pipeline.toml");
    std::fs::write(
        &file,
        format!(
            "[kafka]\nbrokers = \"{}\"\n\n",
            kcql_testkit::kafka::brokers()
        ) + &sink("native", &db_native, "")
            + &sink("insecure", &db_insecure, "insecure_skip_verify = true"),
    )
    .expect("write pipeline");
    let ca = influx_tls_ca();
    let mut child = ChildProcess::spawn(
        env!("CARGO_BIN_EXE_kcql"),
        [
            "run".as_ref(),
            "--metrics".as_ref(),
            "off".as_ref(),
            file.as_os_str(),
        ],
        [
            ("RUST_LOG", "info,rdkafka=warn".as_ref()),
            ("SSL_CERT_FILE", ca.as_os_str()),
        ],
    )
    .expect("spawn kcql run");
    for db in [&db_native, &db_insecure] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                child.is_running(),
                "kcql run exited:\n{}",
                child.log_tail(40)
            );
            let got = as_points(&rows(&influxql_tls(Some(db), "SELECT * FROM m").await));
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{db}: {} of {} points; log:\n{}",
                got.len(),
                want.len(),
                child.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    child.sigterm().expect("SIGTERM");
    child
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .expect("kcql run stops");
    let log = child.output();
    assert_eq!(
        log.matches("TLS certificate verification is OFF").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("connect.influx.insecure.skip.verify = true"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
