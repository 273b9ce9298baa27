//! `kcql run` processes running the InfluxDB sink from a Stream Reactor `.properties` file:
//! SIGKILLed mid-stream and started again, nothing is lost; two processes in one consumer
//! group split the partitions and together write everything; three processes in one group,
//! one SIGKILLed while records are in flight: Kafka's rebalance hands its partitions to the
//! others and every record is written (duplicates counted and bounded).
//!
//! The `kcql` binary is this package's own (`CARGO_BIN_EXE_kcql`, built by cargo for its
//! tests).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_testkit::influx::{influx_url, influxql, require_influx, select_all};
use kcql_testkit::kafka::{committed_offsets_at, create_topic_at, unique_group, unique_topic};
use kcql_testkit::names::unique;
use kcql_testkit::private::ChildProcess;
use support::{count_of, end_offsets, wait_for, Produced, Producing, KCQL};

const WAIT: Duration = Duration::from_secs(90);

/// Writes a `.properties` connector file and returns its path. A 6 s session timeout lets the
/// group notice a SIGKILLed member quickly (librdkafka's default is 45 s).
fn properties_file(name: &str, db: &str, group: &str, topic: &str, brokers: &str) -> PathBuf {
    properties_file_with(
        name,
        db,
        group,
        topic,
        brokers,
        &KCQL.replace("{topic}", topic),
    )
}

/// [`properties_file`] with another statement.
fn properties_file_with(
    name: &str,
    db: &str,
    group: &str,
    topic: &str,
    brokers: &str,
    kcql: &str,
) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("kcql-sink-process"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.properties"));
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
    let args = ["--metrics".as_ref(), "off".as_ref(), file.as_os_str()];
    kcql_testkit::bin::kcql_run(env!("CARGO_BIN_EXE_kcql"), args).await
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
    let brokers = kcql_testkit::kafka::brokers();
    let db = support::shared_db("sink_kill").await;
    let topic = unique_topic("sink_kill");
    let group = unique_group("sink_kill");
    create_topic_at(&brokers, &topic, 3).await;
    let file = properties_file("sink-kill", &db, &group, &topic, &brokers);
    let started = Instant::now();

    let producing = Producing::start(&brokers, &topic, 3, 30);
    let produced = Arc::clone(&producing.produced);
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
    support::assert_committed_written(&produced, &committed, &present);

    // Started again at once, as a supervisor would: the new member joins while the dead one
    // still holds its session, and Kafka's rebalance hands it the partitions.
    let mut second = kcql_run(&file).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    producing.stop().await;
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
    let brokers = kcql_testkit::kafka::brokers();
    let db = support::shared_db("sink_procs").await;
    let topic = unique_topic("sink_procs");
    let group = unique_group("sink_procs");
    create_topic_at(&brokers, &topic, 4).await;
    let started = Instant::now();

    let producing = Producing::start(&brokers, &topic, 4, 40);
    let produced = Arc::clone(&producing.produced);
    let mut a = kcql_run(&properties_file("sink-pa", &db, &group, &topic, &brokers)).await;
    let mut b = kcql_run(&properties_file("sink-pb", &db, &group, &topic, &brokers)).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    producing.stop().await;
    wait_all_written(&db, &produced, &mut [&mut a, &mut b]).await;
    let n = produced.lock().unwrap().len() as u64;
    assert_eq!(
        count_of(&influxql(Some(&db), "SELECT count(v) FROM m").await),
        n
    );
    // Each process's latest assignment: some partitions, not all four.
    for (label, child) in [("a", &a), ("b", &b)] {
        let count = last_assignment(label, child);
        assert!((1..4).contains(&count), "{label} holds {count} partitions");
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

/// The partitions named in the last "partitions assigned" line of `child`'s log.
fn last_assignment(label: &str, child: &ChildProcess) -> usize {
    let out = child.output();
    let last = out
        .lines()
        .rfind(|l| l.contains("partitions assigned"))
        .unwrap_or_else(|| panic!("{label}: no assignment logged:\n{out}"));
    last.matches("partition:").count()
}

/// Three `kcql run` processes in one consumer group on a 6-partition topic, records flowing;
/// one is SIGKILLed mid-stream. At the session timeout Kafka rebalances its partitions onto the
/// two survivors, and every record's point is in InfluxDB. Each process tags its points with
/// its own name, so a record written twice (by the killed process and again by its successor)
/// is two points: the duplicates are counted exactly, and they are bounded by what the killed
/// process had read past its last commit.
#[tokio::test(flavor = "multi_thread")]
async fn three_processes_one_sigkilled_mid_stream_every_record_written() {
    require_influx().await;
    let brokers = kcql_testkit::kafka::brokers();
    let db = support::shared_db("sink_rebalance").await;
    let topic = unique_topic("sink_rebalance");
    let group = unique_group("sink_rebalance");
    create_topic_at(&brokers, &topic, 6).await;
    let started = Instant::now();

    let producing = Producing::start(&brokers, &topic, 6, 60);
    let produced = Arc::clone(&producing.produced);
    let file = |name: &str| {
        let kcql = format!(
            "INSERT INTO m SELECT v FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS \
             WITHTAG(src, writer={name})"
        );
        properties_file_with(name, &db, &group, &topic, &brokers, &kcql)
    };
    let mut a = kcql_run(&file("a")).await;
    let mut b = kcql_run(&file("b")).await;
    let mut c = kcql_run(&file("c")).await;
    // Wait until the group has settled on three members and b writes.
    wait_for("three members, each with partitions", WAIT, || async {
        let counts: Vec<usize> = [("a", &a), ("b", &b), ("c", &c)]
            .iter()
            .map(|(label, child)| {
                if child.output().contains("partitions assigned") {
                    last_assignment(label, child)
                } else {
                    0
                }
            })
            .collect();
        let b_points = select_all(&db, "m")
            .await
            .iter()
            .filter(|r| r["writer"] == "b")
            .count();
        if counts.iter().all(|&n| n > 0) && counts.iter().sum::<usize>() == 6 && b_points > 100 {
            Ok(())
        } else {
            Err(format!("assignments {counts:?}, {b_points} points by b"))
        }
    })
    .await;

    b.sigkill().expect("SIGKILL b");
    let committed_at_kill = committed_offsets_at(&brokers, &group, &topic).await;
    eprintln!(
        "b SIGKILLed at {:?}; committed {committed_at_kill:?}",
        started.elapsed()
    );
    // At the session timeout (6 s) Kafka hands b's partitions to a and c, records still flowing.
    wait_for("a and c hold every partition", WAIT, || async {
        match last_assignment("a", &a) + last_assignment("c", &c) {
            6 => Ok(()),
            n => Err(format!("{n} of 6 partitions")),
        }
    })
    .await;
    // The records that can be written twice: those nobody had committed when b died (b may
    // have written them; its successor reads them again) and those that came until the group
    // settled (a member may write what it read before a revocation; the next owner reads
    // them again). Everything committed before the kill, or produced after the takeover, is
    // written once.
    let at_takeover = kcql_testkit::kafka::end_offsets_at(&brokers, &topic).await;
    let duplicate_bound: i64 = at_takeover
        .iter()
        .map(|(p, end)| end - committed_at_kill.get(p).copied().unwrap_or(0))
        .sum();
    eprintln!(
        "takeover done at {:?}; at most {duplicate_bound} records can be written twice",
        started.elapsed()
    );

    // Keep producing after the takeover, then everything must arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    producing.stop().await;
    wait_all_written(&db, &produced, &mut [&mut a, &mut c]).await;
    let n = produced.lock().unwrap().len() as i64;
    let points = count_of(&influxql(Some(&db), "SELECT count(v) FROM m").await) as i64;
    let duplicates = points - n;
    assert!(
        (0..=duplicate_bound).contains(&duplicates),
        "{duplicates} duplicate points, bound {duplicate_bound}"
    );
    stop_cleanly(&mut a).await;
    stop_cleanly(&mut c).await;
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions)
    );
    eprintln!(
        "rebalance scenario: {n} records, {duplicates} duplicates (bound {duplicate_bound}), done in {:?}",
        started.elapsed()
    );
}
