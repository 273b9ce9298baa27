//! The Kafka → InfluxDB sink under faults and rebalances: a private InfluxDB killed and
//! restarted mid-stream, a private Kafka broker killed and restarted mid-stream, and two
//! connectors sharing a consumer group, one stopping midway.
//! Faults only touch private instances (`PrivateInfluxd`, `PrivateKafka`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_runtime::endpoint::ComponentState;
use kcql_testkit::influx::{quote, rows, unique_db};
use kcql_testkit::kafka::{committed_offsets_at, create_topic_at, unique_group, unique_topic};
use kcql_testkit::private::{PrivateInfluxd, PrivateKafka};
use support::{end_offsets, settings, v1_props, wait_for, Producing, RunningSink};

const WAIT: Duration = Duration::from_secs(90);

use support::KCQL;

/// The point times in `db`.`m` of a private InfluxDB.
async fn times_in(influx: &PrivateInfluxd, db: &str) -> Result<BTreeSet<i64>, String> {
    let answer = influx
        .query(Some(db), "SELECT v FROM m")
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows(&answer)
        .iter()
        .map(|r| r["time"].as_i64().unwrap())
        .collect())
}

/// Scenario 2: InfluxDB is SIGKILLed mid-stream and restarted 10 s later while records keep
/// coming. Under THROW (the default) the sink retries, paused, reports Degraded then Running,
/// counts retries, never commits past an unwritten record, and in the end every record is a
/// point exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn influxdb_outage_of_ten_seconds_loses_nothing() {
    let brokers = kcql_testkit::kafka::brokers();
    let mut influx = PrivateInfluxd::start()
        .await
        .expect("private influxd starts");
    let url = influx.url();
    let db = unique_db("sink_outage");
    influx
        .query(None, &format!("CREATE DATABASE {}", quote(&db)))
        .await
        .expect("create database");
    let topic = unique_topic("sink_outage");
    let group = unique_group("sink_outage");
    create_topic_at(&brokers, &topic, 2).await;
    let started = Instant::now();

    let kcql = KCQL.replace("{topic}", &topic);
    let props = v1_props("sink-outage", &url, &db, &group, &kcql, &brokers);
    let sink = RunningSink::start(settings(&props));
    let producing = Producing::start(&brokers, &topic, 2, 20);
    let produced = Arc::clone(&producing.produced);

    // Some points are in before the outage.
    wait_for("100 points before the outage", WAIT, || async {
        let n = times_in(&influx, &db).await?.len();
        if n >= 100 {
            Ok(())
        } else {
            Err(format!("{n} points"))
        }
    })
    .await;
    influx.kill().await.expect("kill influxd");
    let killed = Instant::now();
    eprintln!("influxd killed at {:?}", started.elapsed());

    // While it is down: Degraded, and the committed offsets are sampled.
    let mut degraded = false;
    let mut committed = BTreeMap::new();
    while killed.elapsed() < Duration::from_secs(10) {
        if let Some(ComponentState::Degraded(_)) = sink.state() {
            degraded = true;
        }
        committed = committed_offsets_at(&brokers, &group, &topic).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        degraded,
        "never Degraded during the outage: {:?}",
        sink.state()
    );
    assert!(
        matches!(sink.state(), Some(ComponentState::Degraded(_))),
        "still Degraded at the end of the outage: {:?}",
        sink.state()
    );
    influx.restart().await.expect("restart influxd");
    // Right after the restart: every record below the offsets committed during the outage is
    // already a point (nothing was committed before InfluxDB accepted it).
    let present = times_in(&influx, &db).await.expect("query after restart");
    support::assert_committed_written(&produced, &committed, &present);
    eprintln!(
        "influxd back at {:?} with {} points; committed during the outage: {committed:?}",
        started.elapsed(),
        present.len()
    );

    // Keep producing a little after the restart, then stop and wait for everything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    producing.stop().await;
    let want: BTreeSet<i64> = produced.lock().unwrap().values().copied().collect();
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    wait_for("every record as a point", WAIT, || async {
        let got = times_in(&influx, &db).await?;
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "{} points of {}, missing e.g. {:?}",
                got.len(),
                want.len(),
                want.difference(&got).take(5).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    wait_for("Running after the outage", WAIT, || async {
        match sink.state() {
            Some(ComponentState::Running) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let retries = sink.metric("kcql_write_retries_total");
    assert!(
        retries > 0.0,
        "no retries counted: {}",
        sink.registry.render()
    );
    // Exactly once per (measurement, tags, time): as many points as records.
    let count = influx
        .query(Some(&db), "SELECT count(v) FROM m")
        .await
        .expect("count");
    assert_eq!(support::count_of(&count), want.len() as u64);
    sink.stop()
        .await
        .expect("sink stops cleanly after the outage");
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions)
    );
    eprintln!(
        "outage scenario: {} records, {retries} retries, done in {:?}",
        want.len(),
        started.elapsed()
    );
}

/// The Kafka broker itself is SIGKILLed mid-stream under the sink (records keep being produced
/// into the outage) and restarted 10 s later: the sink rides the outage out without stopping,
/// commits nothing it did not write, resumes from its committed offsets, and in the end every
/// record is exactly one point and the group's commit is the end of every partition.
#[tokio::test(flavor = "multi_thread")]
async fn kafka_broker_killed_and_restarted_mid_stream_loses_nothing() {
    kcql_testkit::influx::require_influx().await;
    let mut kafka = PrivateKafka::start().await.expect("private kafka starts");
    let brokers = kafka.brokers();
    let db = support::shared_db("sink_kafka_kill").await;
    let topic = unique_topic("sink_kafka_kill");
    let group = unique_group("sink_kafka_kill");
    create_topic_at(&brokers, &topic, 3).await;
    let url = kcql_testkit::influx::influx_url();
    let kcql = KCQL.replace("{topic}", &topic);
    let started = Instant::now();

    let producing = Producing::start(&brokers, &topic, 3, 30);
    let produced = Arc::clone(&producing.produced);
    let sink = RunningSink::start(settings(&v1_props(
        "sink-kafka-kill",
        &url,
        &db,
        &group,
        &kcql,
        &brokers,
    )));
    let points = || async {
        support::count_of(
            &kcql_testkit::influx::influxql(Some(&db), "SELECT count(v) FROM m").await,
        )
    };
    wait_for("300 points before the kill", WAIT, || async {
        match points().await {
            n if n >= 300 => Ok(()),
            n => Err(format!("{n} points")),
        }
    })
    .await;

    kafka.kill().await.expect("SIGKILL kafka");
    let at_kill = points().await;
    eprintln!(
        "kafka SIGKILLed at {:?} with {at_kill} points written",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        !sink.task.is_finished(),
        "the sink stopped during a Kafka outage: {:?}",
        sink.task
    );
    kafka.restart().await.expect("restart kafka");
    eprintln!("kafka back at {:?}", started.elapsed());
    // Everything the group committed (before the kill or since) is in InfluxDB.
    let committed = committed_offsets_at(&brokers, &group, &topic).await;
    let present: BTreeSet<i64> =
        rows(&kcql_testkit::influx::influxql(Some(&db), "SELECT v FROM m").await)
            .iter()
            .map(|r| r["time"].as_i64().unwrap())
            .collect();
    support::assert_committed_written(&produced, &committed, &present);

    // Records keep coming after the restart, then everything must arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    producing.stop().await;
    let n = produced.lock().unwrap().len() as u64;
    wait_for("every record as a point", WAIT, || async {
        match points().await {
            got if got == n => Ok(()),
            got => Err(format!("{got} points of {n}")),
        }
    })
    .await;
    sink.stop()
        .await
        .expect("the sink stops cleanly after the Kafka outage");
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    assert_eq!(
        committed_offsets_at(&brokers, &group, &topic).await,
        end_offsets(&positions),
        "the final commit is the end of every partition"
    );
    eprintln!(
        "kafka outage under the sink: {n} records, {at_kill} points at the kill, done in {:?}",
        started.elapsed()
    );
}

/// Scenario 5: two connectors in one consumer group split a 4-partition topic and together
/// write everything; when one stops midway the other takes over its partitions and still
/// everything is written.
#[tokio::test(flavor = "multi_thread")]
async fn two_sinks_in_one_group_share_partitions_and_take_over() {
    let brokers = kcql_testkit::kafka::brokers();
    kcql_testkit::influx::require_influx().await;
    let db = support::shared_db("sink_group").await;
    let topic = unique_topic("sink_group");
    let group = unique_group("sink_group");
    create_topic_at(&brokers, &topic, 4).await;
    let url = kcql_testkit::influx::influx_url();
    let kcql = KCQL.replace("{topic}", &topic);
    let started = Instant::now();

    let producing = Producing::start(&brokers, &topic, 4, 40);
    let produced = Arc::clone(&producing.produced);
    let a = RunningSink::start(settings(&v1_props(
        "sink-a", &url, &db, &group, &kcql, &brokers,
    )));
    let b = RunningSink::start(settings(&v1_props(
        "sink-b", &url, &db, &group, &kcql, &brokers,
    )));

    let count = || {
        let db = db.to_string();
        async move {
            let answer = kcql_testkit::influx::influxql(Some(&db), "SELECT count(v) FROM m").await;
            support::count_of(&answer)
        }
    };
    // Both get partitions and write.
    wait_for("both sinks write", WAIT, || async {
        let (wa, wb) = (
            a.metric("kcql_records_written_total"),
            b.metric("kcql_records_written_total"),
        );
        if wa > 0.0 && wb > 0.0 {
            Ok(())
        } else {
            Err(format!("a wrote {wa}, b wrote {wb}"))
        }
    })
    .await;
    eprintln!("both sinks writing at {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = count().await;
    a.stop().await.expect("sink a stops cleanly");
    eprintln!(
        "sink a stopped at {:?} ({before} points)",
        started.elapsed()
    );
    let b_written_at_stop = b.metric("kcql_records_written_total");
    tokio::time::sleep(Duration::from_secs(3)).await;
    producing.stop().await;

    let want: BTreeSet<i64> = produced.lock().unwrap().values().copied().collect();
    let positions: Vec<(i32, i64)> = produced.lock().unwrap().keys().copied().collect();
    let ends = end_offsets(&positions);
    wait_for("every record as a point", WAIT, || async {
        let got: BTreeSet<i64> = kcql_testkit::influx::select_all(&db, "m")
            .await
            .iter()
            .map(|r| r["time"].as_i64().unwrap())
            .collect();
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "{} points of {}, missing e.g. {:?}",
                got.len(),
                want.len(),
                want.difference(&got).take(5).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    let brokers_ref = &brokers;
    let (group_ref, topic_ref, ends_ref) = (&group, &topic, &ends);
    wait_for("b commits every partition's end", WAIT, || async move {
        let got = committed_offsets_at(brokers_ref, group_ref, topic_ref).await;
        if &got == ends_ref {
            Ok(())
        } else {
            Err(format!("{got:?}, want {ends_ref:?}"))
        }
    })
    .await;
    assert!(
        b.metric("kcql_records_written_total") > b_written_at_stop,
        "b wrote nothing after a left"
    );
    assert_eq!(count().await, want.len() as u64, "one point per record");
    b.stop().await.expect("sink b stops cleanly");
    eprintln!(
        "group scenario: {} records over 4 partitions, done in {:?}",
        want.len(),
        started.elapsed()
    );
}

/// A stop while `AUTOCREATE` waits for an unreachable InfluxDB ends the sink at once and
/// cleanly (it used to ignore the stop for up to a minute of retries).
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_while_autocreate_waits_for_influxdb_is_prompt() {
    let brokers = kcql_testkit::kafka::brokers();
    let topic = kcql_testkit::kafka::unique_topic("sink_autocreate_stop");
    let group = kcql_testkit::kafka::unique_group("sink_autocreate_stop");
    kcql_testkit::kafka::create_topic_at(&brokers, &topic, 1).await;
    // Nothing listens there: every CREATE DATABASE attempt is a transient failure.
    let dead = kcql_testkit::registry::free_addr();
    let url = format!("http://{dead}");
    let kcql = format!("INSERT INTO m SELECT * FROM {topic} AUTOCREATE");
    let props = support::v1_props("autocreate-stop", &url, "nowhere", &group, &kcql, &brokers);
    let sink = support::RunningSink::start(support::settings(&props));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let result = sink.stop().await;
    let took = started.elapsed();
    assert!(result.is_ok(), "a clean stop: {result:?}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
}
