//! Throughput of the MQTT source, Mosquitto → Apache Kafka, 100-byte payloads, next to a floor
//! measured in the same run: a bare rumqttc subscriber that only acknowledges, and one that
//! produces each message with a bare rdkafka producer and acknowledges it once Kafka
//! confirmed it (the connector's job without KCQL, routing or bookkeeping).
//!
//! Run: `cargo bench --bench mqtt_source_e2e` (needs `scripts/services.sh up`). Kafka is the
//! shared broker (`KCQL_TEST_BROKERS` points it at another); its CPU over each connector phase
//! is reported when it is the one `scripts/services.sh` started. The benchmark's topics are
//! deleted at the end. `KCQL_BENCH_MESSAGES` sets N (default 100 000);
//! `KCQL_BENCH_KAFKA="k=v,…"` adds producer settings (`kafka.<k>` connector properties).
//!
//! * QoS 1: N messages are queued by the broker for both persistent sessions first, then each
//!   consumer drains its backlog; the clock runs from start to the N-th acknowledgement (for
//!   the connector: acknowledged after Kafka confirmed the record).
//! * QoS 1, Telegraf (when `scripts/peers.sh` has built it): `mqtt_consumer` (QoS 1, persistent
//!   session, JSON) → `kafka` output (`required_acks = -1`) into a fresh topic, draining the
//!   same backlog queued for its session; done when the topic's end offsets sum to N. Its
//!   configuration, and why each setting, is in `kcql_testkit::telegraf`;
//!   `KCQL_BENCH_TELEGRAF_BATCH` sets its `metric_batch_size` (default [`TELEGRAF_BATCH`]).
//! * QoS 0: published live from a dedicated publisher thread while the consumer runs; the
//!   publisher thread's CPU is subtracted.
//!
//! CPU seconds are the process's user + system time (`/proc/self/stat`, the same counters
//! `getrusage` reports) over the measured interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcql_runtime::config::MqttSourceSettings;
use kcql_runtime::connectors::mqtt_source::MqttSource;
use kcql_testkit::{kafka, mqtt, names, telegraf};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS};
use tokio::sync::watch;

const DEVICES: usize = 16;
/// Telegraf's `metric_batch_size` for MQTT → Kafka (`KCQL_BENCH_TELEGRAF_BATCH` overrides):
/// its Kafka output sends each batch synchronously, so this bounds its pipelining.
const TELEGRAF_BATCH: usize = 5000;

fn clock_ticks_to_secs(t: u64) -> f64 {
    t as f64 / 100.0
}

/// utime + stime of `/proc/<path>/stat`, in seconds.
fn cpu_of(path: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{path}/stat")).expect("procfs");
    let after = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ut: u64 = f[11].parse().unwrap();
    let st: u64 = f[12].parse().unwrap();
    clock_ticks_to_secs(ut + st)
}

fn process_cpu() -> f64 {
    cpu_of("self")
}

fn payload(i: usize) -> Vec<u8> {
    let mut p = format!("{{\"device\":{},\"seq\":{i},\"pad\":\"", i % DEVICES).into_bytes();
    while p.len() < 98 {
        p.push(b'x');
    }
    p.extend_from_slice(b"\"}");
    p
}

fn messages(prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("{prefix}/dev/{}", i % DEVICES), payload(i)))
        .collect()
}

/// What a floor does with each message besides acknowledging it.
enum FloorWork {
    /// Acknowledge at once (QoS 1) or drop (QoS 0): the MQTT client alone.
    AckOnly,
    /// Produce it to Kafka with a bare rdkafka producer (the connector's producer settings:
    /// idempotent, so acks=all, `linger.ms=5`) and acknowledge it once Kafka confirmed it.
    Produce { brokers: String, topic: String },
}

/// The bare producer's delivery callback hands each confirmed message back for its PUBACK.
struct AckOnDelivery(tokio::sync::mpsc::UnboundedSender<Publish>);

impl ClientContext for AckOnDelivery {}

impl ProducerContext for AckOnDelivery {
    type DeliveryOpaque = Box<Publish>;
    fn delivery(&self, result: &DeliveryResult<'_>, publish: Box<Publish>) {
        if let Err((e, _)) = result {
            panic!("floor producer: delivery failed: {e}");
        }
        let _ = self.0.send(*publish);
    }
}

/// The floor: connect with `client_id`, subscribe, do `work` with every message, until `n`.
/// Returns (seconds, cpu seconds) from connect to the n-th message (acknowledged or delivered).
async fn floor(
    client_id: &str,
    filter: &str,
    qos: QoS,
    n: usize,
    clean: bool,
    work: &FloorWork,
) -> (f64, f64) {
    let mut o = mqtt::options(client_id);
    o.set_clean_session(clean).set_manual_acks(true);
    // Room for every ack: `try_ack` must never find the request queue full (it did on a loaded
    // machine, where the event loop drains it more slowly than messages arrive).
    let (client, mut el) = AsyncClient::new(o, n.max(20_000) + 1_000);
    let (delivered_tx, mut delivered) = tokio::sync::mpsc::unbounded_channel::<Publish>();
    let producer: Option<(ThreadedProducer<AckOnDelivery>, &str)> = match work {
        FloorWork::AckOnly => None,
        FloorWork::Produce { brokers, topic } => Some((
            kafka::client_config_at(brokers)
                .set("enable.idempotence", "true")
                .set("linger.ms", "5")
                .create_with_context(AckOnDelivery(delivered_tx))
                .expect("floor producer"),
            topic.as_str(),
        )),
    };
    let mut cpu0 = process_cpu();
    let mut t0 = Instant::now();
    let mut got = 0usize;
    let mut done = 0usize;
    let mut subscribed = false;
    let mut last = Instant::now();
    while done < n {
        let event = tokio::select! {
            event = tokio::time::timeout(Duration::from_secs(10), el.poll()) => event,
            Some(p) = delivered.recv() => {
                if p.qos != QoS::AtMostOnce {
                    client.try_ack(&p).unwrap();
                }
                done += 1;
                last = Instant::now();
                continue;
            }
        };
        match event {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !subscribed => {
                client.subscribe(filter, qos).await.unwrap();
                subscribed = true;
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                if got == 0 && clean {
                    // Live publishing: the clock starts with the first message.
                    t0 = Instant::now();
                    cpu0 = process_cpu();
                }
                got += 1;
                match &producer {
                    None => {
                        client.try_ack(&p).unwrap();
                        done += 1;
                        last = Instant::now();
                    }
                    Some((producer, topic)) => {
                        let key = p.topic.clone();
                        let payload = p.payload.clone();
                        let mut publish = Box::new(p);
                        loop {
                            let record = BaseRecord::with_opaque_to(topic, publish)
                                .key(key.as_bytes())
                                .payload(&payload[..]);
                            match producer.send(record) {
                                Ok(()) => break,
                                Err((_, record)) => {
                                    // Queue full: wait for deliveries.
                                    publish = record.delivery_opaque;
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                            }
                        }
                    }
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("floor subscriber: {e}"),
            Err(_) => break,
        }
    }
    let elapsed = last.duration_since(t0).as_secs_f64();
    let cpu = process_cpu() - cpu0;
    client.disconnect().await.ok();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while el.poll().await.is_ok() {}
    })
    .await;
    assert_eq!(done, n, "floor handled {done} of {n} ({got} received)");
    (elapsed, cpu)
}

fn settings(brokers: &str, kcql: &str, client_id: &str, qos: u8) -> MqttSourceSettings {
    let p: Vec<(String, String)> = vec![
        (
            "connect.mqtt.hosts".into(),
            format!("tcp://{}:{}", mqtt::host(), mqtt::port()),
        ),
        ("connect.mqtt.kcql".into(), kcql.into()),
        ("connect.mqtt.service.quality".into(), qos.to_string()),
        ("connect.mqtt.client.id".into(), client_id.into()),
        // QoS 1 drains a backlog the broker kept for this session while it was offline.
        ("connect.mqtt.clean".into(), (qos == 0).to_string()),
        ("kafka.bootstrap.servers".into(), brokers.into()),
    ];
    let mut p = p;
    // `KCQL_BENCH_KAFKA="linger.ms=50,batch.size=1000000"`: producer settings to try.
    for kv in std::env::var("KCQL_BENCH_KAFKA")
        .unwrap_or_default()
        .split(',')
    {
        if let Some((k, v)) = kv.split_once('=') {
            p.push((format!("kafka.{}", k.trim()), v.trim().to_string()));
        }
    }
    MqttSourceSettings::from_properties(&p).unwrap()
}

/// Runs the connector until `done(stats)`; returns (seconds, cpu seconds) from start.
async fn connector(
    s: MqttSourceSettings,
    target: u64,
    qos1: bool,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) -> (f64, f64) {
    let source = MqttSource::new(s).unwrap();
    let stats = source.stats();
    let (stop, rx) = watch::channel(false);
    let mut cpu0 = process_cpu();
    let mut t0 = Instant::now();
    let handle = tokio::spawn(source.run(rx));
    if target == 0 {
        // Only creating the persistent session: wait for the subscription to be in place.
        while stats.connects.get() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    if let Some(ready) = ready {
        while stats.connects.get() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = ready.send(());
        // Live publishing: the clock starts when the publisher does.
        cpu0 = process_cpu();
        t0 = Instant::now();
    }
    let mut last_value = 0;
    let mut last_change = Instant::now();
    let mut done_at = Instant::now();
    loop {
        let v = if qos1 {
            stats.acked.get()
        } else {
            stats.produced.get()
        };
        if v != last_value {
            last_value = v;
            last_change = Instant::now();
            done_at = last_change;
        }
        if v >= target || last_change.elapsed() > Duration::from_secs(15) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = done_at.duration_since(t0).as_secs_f64();
    let cpu = process_cpu() - cpu0;
    let _ = stop.send(true);
    handle.await.unwrap().unwrap();
    assert_eq!(last_value, target, "connector: {:?}", stats.snapshot());
    (elapsed, cpu)
}

fn report_broker(before: Option<f64>, after: Option<f64>) {
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "BENCH mqtt_source   Kafka broker CPU over that phase: {:.2} s",
            a - b
        );
    }
}

fn report(label: &str, n: usize, (secs, cpu): (f64, f64)) {
    println!(
        "BENCH mqtt_source {label}: {n} msgs in {secs:.2} s = {:.0} msg/s, CPU {cpu:.2} s ({:.1} µs/msg)",
        n as f64 / secs,
        cpu * 1e6 / n as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument naming another benchmark skips this.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"mqtt_source_e2e".contains(a.as_str()))
    {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(mqtt_source_throughput());
}

async fn mqtt_source_throughput() {
    let n: usize = std::env::var("KCQL_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    mqtt::wait_reachable();
    let brokers = kafka::brokers();
    // The broker's CPU over each connector phase, when it is the one services.sh started.
    let broker_pid = kafka::shared_broker_pid();
    let broker_cpu = || broker_pid.map(|pid| cpu_of(&pid.to_string()));

    // ---- QoS 1: drain a backlog queued for the persistent sessions.
    let prefix = names::unique("mqbench1");
    let topic = kafka::unique_topic("mqtt_bench_q1");
    kafka::create_topic_at(&brokers, &topic, 4).await;
    let filter = format!("{prefix}/dev/+");
    let kcql = format!("INSERT INTO {topic} SELECT * FROM {filter}");
    let floor_id = names::unique("floor1");
    let floor_produce_id = names::unique("floorp1");
    let conn_id = names::unique("conn1");
    let floor_topic = kafka::unique_topic("mqtt_bench_floor");
    kafka::create_topic_at(&brokers, &floor_topic, 4).await;
    let produce = FloorWork::Produce {
        brokers: brokers.clone(),
        topic: floor_topic.clone(),
    };
    // Create the sessions (subscriptions), then go offline.
    for id in [&floor_id, &floor_produce_id] {
        offline_session(id, &filter).await;
    }
    connector(settings(&brokers, &kcql, &conn_id, 1), 0, true, None).await;
    // Telegraf's session gets the same backlog (created by its client id and filter: the
    // broker's session is the same whichever client made it).
    let telegraf_id = names::unique("telegraf1");
    if telegraf::binary().is_some() {
        offline_session(&telegraf_id, &filter).await;
    }
    let t = Instant::now();
    mqtt::publish_messages(messages(&prefix, n), QoS::AtLeastOnce).await;
    println!(
        "queued {n} QoS 1 messages in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let f1 = floor(
        &floor_id,
        &filter,
        QoS::AtLeastOnce,
        n,
        false,
        &FloorWork::AckOnly,
    )
    .await;
    report("QoS 1 floor (bare rumqttc, ack only)", n, f1);
    let fp1 = floor(
        &floor_produce_id,
        &filter,
        QoS::AtLeastOnce,
        n,
        false,
        &produce,
    )
    .await;
    report(
        "QoS 1 floor (bare rumqttc + rdkafka, ack after Kafka)",
        n,
        fp1,
    );
    let b0 = broker_cpu();
    let c1 = connector(settings(&brokers, &kcql, &conn_id, 1), n as u64, true, None).await;
    report("QoS 1 connector (ack after Kafka)", n, c1);
    report_broker(b0, broker_cpu());
    println!(
        "BENCH mqtt_source QoS 1: connector {:.0} msg/s vs floor {:.0} msg/s; CPU {:.2}× the produce floor ({:.2}× the ack-only floor)",
        n as f64 / c1.0,
        n as f64 / fp1.0,
        c1.1 / fp1.1.max(0.01),
        c1.1 / f1.1.max(0.01)
    );
    telegraf_qos1(&brokers, &filter, &telegraf_id, n).await;

    // ---- QoS 0: live, publisher on its own thread (its CPU subtracted).
    kafka::delete_topic_at(&brokers, &topic).await;
    let topic = kafka::unique_topic("mqtt_bench_q0");
    kafka::create_topic_at(&brokers, &topic, 4).await;
    let live = |prefix: String, start: tokio::sync::oneshot::Receiver<()>| {
        let publisher_cpu = Arc::new(AtomicU64::new(0));
        let out = publisher_cpu.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = start.await;
                let me = "thread-self";
                let c0 = cpu_of(me);
                mqtt::publish_messages(messages(&prefix, n), QoS::AtMostOnce).await;
                out.store(((cpu_of(me) - c0) * 1000.0) as u64, Ordering::Relaxed);
            });
        });
        (handle, publisher_cpu)
    };
    // Floors: ack only, then with a bare producer (a fresh prefix each: live messages).
    let mut f0 = (0.0, 0.0);
    let mut fp0 = (0.0, 0.0);
    for (work, out) in [(FloorWork::AckOnly, &mut f0), (produce, &mut fp0)] {
        let prefix = names::unique("mqbench0f");
        let filter = format!("{prefix}/dev/+");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (pub_thread, pub_cpu) = live(prefix, rx);
        let floor_id = names::unique("floor0");
        let floor_task = tokio::spawn(async move {
            floor(&floor_id, &filter, QoS::AtMostOnce, n, true, &work).await
        });
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = tx.send(());
        let (secs, cpu) = floor_task.await.unwrap();
        pub_thread.join().unwrap();
        *out = (secs, cpu - pub_cpu.load(Ordering::Relaxed) as f64 / 1000.0);
    }
    report("QoS 0 floor (bare rumqttc)", n, f0);
    report("QoS 0 floor (bare rumqttc + rdkafka)", n, fp0);
    // Connector.
    let prefix2 = names::unique("mqbench0c");
    let kcql2 = format!("INSERT INTO {topic} SELECT * FROM {prefix2}/dev/+");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (pub_thread, pub_cpu) = live(prefix2, rx);
    let b0 = broker_cpu();
    let c0 = connector(
        settings(&brokers, &kcql2, &names::unique("conn0"), 0),
        n as u64,
        false,
        Some(tx),
    )
    .await;
    pub_thread.join().unwrap();
    let c0 = (c0.0, c0.1 - pub_cpu.load(Ordering::Relaxed) as f64 / 1000.0);
    report("QoS 0 connector", n, c0);
    report_broker(b0, broker_cpu());
    println!(
        "BENCH mqtt_source QoS 0: connector {:.0} msg/s vs floor {:.0} msg/s; CPU {:.2}× the produce floor ({:.2}× the ack-only floor)",
        n as f64 / c0.0,
        n as f64 / fp0.0,
        c0.1 / fp0.1.max(0.01),
        c0.1 / f0.1.max(0.01)
    );
    kafka::delete_topic_at(&brokers, &topic).await;
    kafka::delete_topic_at(&brokers, &floor_topic).await;
}

/// Creates a persistent session subscribed to `filter` at QoS 1, then goes offline: the broker
/// queues what is published to it until `client_id` connects again.
async fn offline_session(client_id: &str, filter: &str) {
    let mut o = mqtt::options(client_id);
    o.set_clean_session(false);
    let (c, mut el) = AsyncClient::new(o, 10);
    c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = el.poll().await {
            break;
        }
    }
    c.disconnect().await.unwrap();
    while el.poll().await.is_ok() {}
}

/// Telegraf draining the QoS 1 backlog of session `client_id` into a fresh topic, printed like
/// the connector's line; a line saying how to install it when it is not built.
async fn telegraf_qos1(brokers: &str, filter: &str, client_id: &str, n: usize) {
    if telegraf::binary().is_none() {
        println!("{}", telegraf::skipped_line());
        return;
    }
    let topic = kafka::unique_topic("mqtt_bench_telegraf");
    kafka::create_topic_at(brokers, &topic, 4).await;
    let offsets = telegraf::EndOffsets::new(
        brokers,
        &topic,
        kafka::partitions_of_at(brokers, &topic).await,
    );
    let mqtt_url = format!("tcp://{}:{}", mqtt::host(), mqtt::port());
    let filters = [filter.to_string()];
    let config = telegraf::MqttToKafka {
        mqtt_url: &mqtt_url,
        filters: &filters,
        qos: 1,
        client_id,
        string_fields: &["pad"],
        brokers,
        topic: &topic,
        batch: std::env::var("KCQL_BENCH_TELEGRAF_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(TELEGRAF_BATCH),
        max_undelivered: 10_000,
    }
    .config();
    let broker_cpu = || kafka::shared_broker_pid().map(|pid| cpu_of(&pid.to_string()));
    let b0 = broker_cpu();
    let r = telegraf::run("mqtt_source_q1", &config, n as u64, || offsets.total()).await;
    report(
        &format!(
            "QoS 1 telegraf {} (mqtt_consumer → kafka, acks=all)",
            telegraf::VERSION
        ),
        n,
        (r.wall_s, r.cpu_s),
    );
    println!(
        "BENCH mqtt_source   telegraf peak RSS {:.1} MiB",
        r.peak_rss_mib()
    );
    report_broker(b0, broker_cpu());
    kafka::delete_topic_at(brokers, &topic).await;
}
