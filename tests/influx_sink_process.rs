//! `kcql run` processes running the InfluxDB sink from a Stream Reactor `.properties` file:
//! SIGKILLed mid-stream and started again, nothing is lost; two processes in one consumer
//! group split the partitions and together write everything.
//!
//! The `kcql` binary comes from [`kcql_testkit::bin::kcql_binary`] (built when missing or
//! stale).

#[path = "influx_sink/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_testkit::influx::{influx_url, influxql, influxql_ok, quote, require_influx, select_all};
use kcql_testkit::influx::{unique_db, DropDatabase};
use kcql_testkit::kafka::{committed_offsets_at, create_topic_at, unique_group, unique_topic};
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;
use support::{
    count_of, end_offsets, now_ns, private_kafka, start_producer, wait_for, Produced, KCQL,
};

const WAIT: Duration = Duration::from_secs(90);

/// Writes a `.properties` connector file and returns its path. A 6 s session timeout lets the
/// group notice a SIGKILLed member quickly (librdkafka's default is 45 s).
fn properties_file(name: &str, db: &str, group: &str, topic: &str, brokers: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("kcql-sink-process"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.properties"));
    let kcql = KCQL.replace("{topic}", topic);
    std::fs::write(
        &file,
        format!(
            "name={name}\n\
             connector.class=com.datamountaineer.streamreactor.connect.influx.InfluxSinkConnector\n\
             tasks.max=1\n\
             topics={topic}\n\
             connect.influx.url={url}\n\
             connect.influx.db={db}\n\
             connect.influx.username=kcql\n\
             connect.influx.kcql={kcql}\n\
             connect.influx.linger.ms=100\n\
             kafka.bootstrap.servers={brokers}\n\
             kafka.group.id={group}\n\
             kafka.session.timeout.ms=6000\n\
             kafka.heartbeat.interval.ms=1000\n",
            url = influx_url(),
        ),
    )
    .unwrap();
    file
}

/// Starts `kcql run --metrics off FILE` and waits until it says it is running.
async fn kcql_run(file: &Path) -> ChildProcess {
    let mut child = ChildProcess::spawn(
        kcql_testkit::bin::kcql_binary(),
        ["run", "--metrics", "off", file.to_str().unwrap()],
        [("RUST_LOG", "info,rdkafka=warn")],
    )
    .expect("spawn kcql run");
    assert!(
        child
            .wait_for_output("kcql: running", Duration::from_secs(30))
            .await,
        "kcql run did not start:\n{}",
        child.log_tail(40)
    );
    child
}

/// The point times in `db`.`m` (shared InfluxDB).
async fn times(db: &str) -> BTreeSet<i64> {
    select_all(db, "m")
        .await
        .iter()
        .map(|r| r["time"].as_i64().unwrap())
        .collect()
}

/// Waits until every produced record is a point (and no other point exists).
async fn wait_all_written(db: &str, produced: &Produced, children: &mut [&mut ChildProcess]) {
    let want: BTreeSet<i64> = produced.lock().unwrap().values().copied().collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let got = times(db).await;
        if got == want {
            return;
        }
        for c in children.iter_mut() {
            assert!(c.is_running(), "kcql run exited:\n{}", c.log_tail(40));
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = children.iter().map(|c| c.log_tail(30)).collect();
            panic!(
                "{} points of {}, missing e.g. {:?}; logs:\n{}",
                got.len(),
                want.len(),
                want.difference(&got).take(5).collect::<Vec<_>>(),
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERMs `child` and checks it exits 0 after "stopped cleanly".
async fn stop_cleanly(child: &mut ChildProcess) {
    child.sigterm().unwrap();
    let status = child
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .expect("wait for kcql run")
        .expect("kcql run exits within 30 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", child.log_tail(40));
    assert!(child.output().contains("kcql: stopped cleanly"));
}

/// A `kcql run` process SIGKILLed mid-stream (no flush, no commit) and started again: what it
/// had committed was written, and after the restart every record is a point exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn kcql_run_sigkilled_mid_stream_and_restarted_loses_nothing() {
    require_influx().await;
    let (_tansu, brokers) = private_kafka().await;
    let db = unique_db("sink_kill");
    let _drop = DropDatabase::new(&db);
    influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;
    let topic = unique_topic("sink_kill");
    let group = unique_group("sink_kill");
    create_topic_at(&brokers, &topic, 3).await;
    let file = properties_file("sink-kill", &db, &group, &topic, &brokers);
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let base = now_ns() - 600_000_000_000;
    let (produced, producer) = start_producer(
        brokers.clone(),
        topic.clone(),
        base,
        3,
        30,
        Duration::from_millis(100),
        Arc::clone(&stop),
    );
    let mut first = kcql_run(&file).await;
    wait_for("300 points before the kill", WAIT, || async {
        let n = times(&db).await.len();
        if n >= 300 {
            Ok(())
        } else {
            Err(format!("{n} points"))
        }
    })
    .await;
    first.sigkill().expect("SIGKILL kcql run");
    eprintln!("kcql run SIGKILLed at {:?}", started.elapsed());
    // Whatever it committed is in InfluxDB.
    let committed = committed_offsets_at(&brokers, &group, &topic).await;
    let present = times(&db).await;
    for (&(p, o), t) in produced.lock().unwrap().iter() {
        if committed.get(&p).is_some_and(|&c| o < c) {
            assert!(
                present.contains(t),
                "[{p}]@{o} committed ({committed:?}) but not written"
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut second = kcql_run(&file).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    producer.await.expect("producer task");
    wait_all_written(&db, &produced, &mut [&mut second]).await;
    let n = produced.lock().unwrap().len() as u64;
    assert_eq!(
        count_of(&influxql(Some(&db), "SELECT count(v) FROM m").await),
        n,
        "one point per record"
    );
    stop_cleanly(&mut second).await;
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions)
    );
    eprintln!(
        "SIGKILL scenario: {n} records, committed at the kill {committed:?}, done in {:?}",
        started.elapsed()
    );
}

/// Two `kcql run` processes with one consumer group split a 4-partition topic (each is
/// assigned some, neither all) and together write every record.
#[tokio::test(flavor = "multi_thread")]
async fn two_kcql_run_processes_in_one_group_split_the_partitions() {
    require_influx().await;
    let (_tansu, brokers) = private_kafka().await;
    let db = unique_db("sink_procs");
    let _drop = DropDatabase::new(&db);
    influxql_ok(None, &format!("CREATE DATABASE {}", quote(&db))).await;
    let topic = unique_topic("sink_procs");
    let group = unique_group("sink_procs");
    create_topic_at(&brokers, &topic, 4).await;
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let base = now_ns() - 600_000_000_000;
    let (produced, producer) = start_producer(
        brokers.clone(),
        topic.clone(),
        base,
        4,
        40,
        Duration::from_millis(100),
        Arc::clone(&stop),
    );
    let mut a = kcql_run(&properties_file("sink-pa", &db, &group, &topic, &brokers)).await;
    let mut b = kcql_run(&properties_file("sink-pb", &db, &group, &topic, &brokers)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    producer.await.expect("producer task");
    wait_all_written(&db, &produced, &mut [&mut a, &mut b]).await;
    let n = produced.lock().unwrap().len() as u64;
    assert_eq!(
        count_of(&influxql(Some(&db), "SELECT count(v) FROM m").await),
        n
    );
    // Each process's latest assignment: some partitions, not all four.
    for (label, child) in [("a", &a), ("b", &b)] {
        let out = child.output();
        let last = out
            .lines()
            .rfind(|l| l.contains("partitions assigned"))
            .unwrap_or_else(|| panic!("{label}: no assignment logged:\n{out}"));
        let count = last.matches("partition:").count();
        assert!(
            (1..4).contains(&count),
            "{label} holds {count} partitions: {last}"
        );
    }
    stop_cleanly(&mut a).await;
    stop_cleanly(&mut b).await;
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions)
    );
    eprintln!(
        "two processes: {n} records, done in {:?}",
        started.elapsed()
    );
}
