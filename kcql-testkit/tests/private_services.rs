//! Private service instances against the REAL binaries (influxd, Apache Kafka, mosquitto,
//! victoria-metrics): each starts on its own port, answers, is killed (and then no longer
//! answers), restarts on the same port, and still has its data. A missing binary fails the
//! test. Also the `ChildProcess` helper.

use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use kcql_testkit::private::{
    ChildProcess, PrivateInfluxd, PrivateKafka, PrivateMosquitto, PrivateService,
    PrivateVictoriaMetrics,
};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, QoS};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Kills the service and checks that it is gone and no longer answers.
async fn kill_and_check_gone(service: &mut PrivateService) {
    let pid = service.pid().expect("running before kill");
    service.kill().await.expect("kill");
    assert!(!service.is_running());
    assert_eq!(service.pid(), None);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists after kill"
    );
    assert!(
        !service.answers().await,
        "{:?} still answers on port {} after kill",
        service.kind(),
        service.port()
    );
}

async fn restart_and_check_same_port(service: &mut PrivateService) {
    let port = service.port();
    let t0 = Instant::now();
    service.restart().await.expect("restart");
    eprintln!("{:?} restarted in {:?}", service.kind(), t0.elapsed());
    assert_eq!(service.port(), port, "restart moved the port");
    assert!(service.is_running());
    assert!(service.answers().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxd_data_survives_kill_and_restart_on_the_same_port() {
    let t0 = Instant::now();
    let mut influx = PrivateInfluxd::start()
        .await
        .expect("start private influxd");
    eprintln!("influxd up in {:?} at {}", t0.elapsed(), influx.url());
    assert_ne!(influx.port(), 8086, "must not use the shared port");
    assert_eq!(influx.url(), format!("http://127.0.0.1:{}", influx.port()));
    assert!(influx.answers().await);

    influx.query(None, "CREATE DATABASE fault").await.unwrap();
    influx
        .write(
            "fault",
            "m,host=a v=42 1700000000000000000\nm,host=b v=7 1700000000000000001",
        )
        .await
        .unwrap();

    kill_and_check_gone(&mut influx).await;
    restart_and_check_same_port(&mut influx).await;

    let answer = influx
        .query(Some("fault"), "SELECT host, v FROM m")
        .await
        .unwrap();
    assert_eq!(
        answer["results"][0]["series"][0]["values"],
        json!([
            [1700000000000000000i64, "a", 42],
            [1700000000000000001i64, "b", 7]
        ]),
        "points written before the kill: {answer}"
    );

    // A clean stop + restart keeps the data too.
    influx.stop().await.expect("stop");
    assert!(!influx.answers().await);
    restart_and_check_same_port(&mut influx).await;
    let answer = influx.query(None, "SHOW DATABASES").await.unwrap();
    assert!(answer.to_string().contains("\"fault\""), "{answer}");
    assert!(
        influx.log_tail(200).contains("Listening on HTTP"),
        "log: {}",
        influx.log_tail(20)
    );
}

async fn produce(kafka: &PrivateKafka, topic: &str, payloads: &[String]) {
    let producer: FutureProducer = kafka
        .client_config()
        .set("acks", "all")
        .create()
        .expect("producer");
    for p in payloads {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).payload(p.as_bytes()),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {p}: {e}"));
    }
}

fn consume_from_start(kafka: &PrivateKafka, topic: &str, n: usize) -> Vec<String> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", kcql_testkit::names::unique("private_consume"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records after {TIMEOUT:?}: {out:?}",
            out.len()
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_topic_records_and_offsets_survive_kill_and_restart() {
    let t0 = Instant::now();
    let mut kafka = PrivateKafka::start().await.expect("start private kafka");
    eprintln!("kafka up in {:?} at {}", t0.elapsed(), kafka.brokers());
    assert_ne!(kafka.port(), 9092, "must not use the shared port");
    kafka.create_topic("fault_topic", 1).await;
    let payloads: Vec<String> = (0..20).map(|i| format!("record-{i}")).collect();
    produce(&kafka, "fault_topic", &payloads).await;
    let group = kcql_testkit::kafka::unique_group("private_fault");
    let committed = std::collections::BTreeMap::from([(0, 7)]);
    kcql_testkit::kafka::commit_offsets_at(&kafka.brokers(), &group, "fault_topic", &committed)
        .await;

    kill_and_check_gone(&mut kafka).await;
    let t1 = Instant::now();
    restart_and_check_same_port(&mut kafka).await;
    eprintln!("kafka recovered after SIGKILL in {:?}", t1.elapsed());

    let got = tokio::task::block_in_place(|| consume_from_start(&kafka, "fault_topic", 20));
    assert_eq!(got, payloads);
    assert_eq!(
        kcql_testkit::kafka::committed_offsets_at(&kafka.brokers(), &group, "fault_topic").await,
        committed,
        "a committed offset survives the crash"
    );
    // The restarted broker takes new records after the old ones.
    produce(&kafka, "fault_topic", &["after-restart".to_string()]).await;
    let got = tokio::task::block_in_place(|| consume_from_start(&kafka, "fault_topic", 21));
    assert_eq!(got[20], "after-restart");
}

/// Connects `client_id` with a persistent session; returns the client, its event loop and
/// whether the broker had a session for it.
async fn connect_persistent(
    broker: &PrivateMosquitto,
    client_id: &str,
) -> (AsyncClient, EventLoop, bool) {
    let mut options = broker.mqtt_options(client_id);
    options.set_clean_session(false);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let present = tokio::time::timeout(TIMEOUT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => return ack.session_present,
                Ok(_) => {}
                Err(e) => panic!("connect {client_id}: {e}"),
            }
        }
    })
    .await
    .expect("CONNACK");
    (client, eventloop, present)
}

async fn poll_until<T>(
    eventloop: &mut EventLoop,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match eventloop.poll().await {
                Ok(event) => {
                    if let Some(t) = pick(&event) {
                        return t;
                    }
                }
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: timed out"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_queued_qos1_message_survives_a_restart() {
    let t0 = Instant::now();
    let mut broker = PrivateMosquitto::start()
        .await
        .expect("start private mosquitto");
    eprintln!(
        "mosquitto up in {:?} on port {}",
        t0.elapsed(),
        broker.port()
    );
    assert_ne!(broker.port(), 1883, "must not use the shared port");

    // A persistent session subscribes, then goes offline.
    let (sub, mut sub_loop, _) = connect_persistent(&broker, "kept_session").await;
    sub.subscribe("fault/queue", QoS::AtLeastOnce)
        .await
        .unwrap();
    poll_until(&mut sub_loop, "suback", |e| {
        matches!(e, Event::Incoming(Incoming::SubAck(_))).then_some(())
    })
    .await;
    sub.disconnect().await.unwrap();
    poll_until(&mut sub_loop, "disconnect", |e| {
        matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect)).then_some(())
    })
    .await;

    // A QoS 1 message is queued for it.
    let (publisher, mut pub_loop, _) = connect_persistent(&broker, "publisher").await;
    publisher
        .publish(
            "fault/queue",
            QoS::AtLeastOnce,
            false,
            "queued while offline",
        )
        .await
        .unwrap();
    poll_until(&mut pub_loop, "puback", |e| {
        matches!(e, Event::Incoming(Incoming::PubAck(_))).then_some(())
    })
    .await;
    drop(pub_loop);

    // Clean restart (SIGTERM saves the persistence file).
    broker.stop().await.expect("stop");
    assert!(!broker.is_running());
    assert!(!broker.answers().await);
    restart_and_check_same_port(&mut broker).await;

    let (_sub, mut sub_loop, present) = connect_persistent(&broker, "kept_session").await;
    assert!(
        present,
        "the persistent session did not survive the restart"
    );
    let payload = poll_until(&mut sub_loop, "queued message", |e| match e {
        Event::Incoming(Incoming::Publish(p)) => Some(p.payload.to_vec()),
        _ => None,
    })
    .await;
    assert_eq!(payload, b"queued while offline");

    kill_and_check_gone(&mut broker).await;
    restart_and_check_same_port(&mut broker).await;
}

/// Polls the export (after a force flush) until the point `fault_v = 5` is there.
async fn vm_wait_point(vm: &PrivateVictoriaMetrics) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        http.get(format!("{}/internal/force_flush", vm.url()))
            .send()
            .await
            .unwrap();
        let export = http
            .post(format!("{}/api/v1/export", vm.url()))
            .form(&[("match[]", "fault_v")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if export.contains("\"values\":[5]") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "export after {TIMEOUT:?}: {export:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_point_survives_stop_and_kill() {
    let mut vm = PrivateVictoriaMetrics::start()
        .await
        .expect("start private victoria-metrics");
    assert_ne!(vm.port(), 8428, "must not use the shared port");
    let http = reqwest::Client::new();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let r = http
        .post(format!("{}/api/v2/write", vm.url()))
        .body(format!("fault,host=a v=5 {now_ns}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    vm_wait_point(&vm).await; // ingested before the stop
    vm.stop().await.expect("stop"); // a clean stop flushes to disk
    restart_and_check_same_port(&mut vm).await;
    vm_wait_point(&vm).await;
    kill_and_check_gone(&mut vm).await;
    restart_and_check_same_port(&mut vm).await;
    vm_wait_point(&vm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_each_kind_run_side_by_side() {
    let (a, b) = tokio::join!(PrivateInfluxd::start(), PrivateInfluxd::start());
    let (mut a, b) = (a.expect("influxd a"), b.expect("influxd b"));
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    a.query(None, "CREATE DATABASE only_in_a").await.unwrap();
    let in_b = b.query(None, "SHOW DATABASES").await.unwrap();
    assert!(!in_b.to_string().contains("only_in_a"), "{in_b}");
    a.kill().await.unwrap();
    assert!(
        b.answers().await,
        "killing one instance took down the other"
    );

    let (k1, k2) = tokio::join!(PrivateKafka::start(), PrivateKafka::start());
    let (mut k1, k2) = (k1.expect("kafka 1"), k2.expect("kafka 2"));
    assert_ne!(k1.port(), k2.port());
    assert!(k1.answers().await && k2.answers().await);
    k1.kill().await.unwrap();
    assert!(k2.answers().await, "killing one broker took down the other");

    let (m1, m2) = tokio::join!(PrivateMosquitto::start(), PrivateMosquitto::start());
    let (mut m1, m2) = (m1.expect("mosquitto 1"), m2.expect("mosquitto 2"));
    assert_ne!(m1.port(), m2.port());
    m1.kill().await.unwrap();
    assert!(m2.answers().await);

    let mut ports = [a.ports(), b.ports()].concat();
    ports.extend([k1.ports(), k2.ports()].concat());
    ports.extend([m1.port(), m2.port()]);
    let n = ports.len();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), n, "ports handed out twice: {ports:?}");
}

#[tokio::test]
async fn dropping_a_service_kills_it_and_removes_its_data() {
    let mut broker = PrivateMosquitto::start()
        .await
        .expect("start private mosquitto");
    let pid = broker.pid().expect("pid");
    let dir = broker.dir().to_path_buf();
    assert!(dir.join("data").is_dir());
    drop(broker);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    if std::env::var("KCQL_KEEP_PRIVATE").as_deref() != Ok("1") {
        assert!(!dir.join("data").exists(), "data dir kept: {dir:?}");
    }
    assert!(dir.join("mosquitto.log").is_file(), "log removed: {dir:?}");
}

#[tokio::test]
async fn child_process_captures_output_and_obeys_sigterm() {
    let mut child = ChildProcess::spawn(
        "sh",
        [
            "-c",
            "echo out-$GREETING; echo err-line >&2; \
             trap 'echo got-term; exit 3' TERM; while true; do sleep 0.05; done",
        ],
        [("GREETING", "hello")],
    )
    .expect("spawn sh");
    assert!(
        child.wait_for_output("err-line", TIMEOUT).await,
        "{:?} {}",
        child.try_status(),
        child.output()
    );
    assert!(child.output().contains("out-hello"), "{}", child.output());
    assert!(child.is_running());
    assert_eq!(
        child
            .wait_with_timeout(Duration::from_millis(100))
            .await
            .unwrap(),
        None
    );
    child.sigterm().unwrap();
    let status = child
        .wait_with_timeout(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("exited after SIGTERM");
    assert_eq!(status.code(), Some(3), "{}", child.output());
    assert!(child.log_tail(1).contains("got-term"), "{}", child.output());
    assert!(!child.is_running());
}

#[tokio::test]
async fn child_process_sigkill_and_drop() {
    let mut child = ChildProcess::spawn("sleep", ["60"], std::iter::empty::<(&str, &str)>())
        .expect("spawn sleep");
    let status = child.sigkill().unwrap();
    assert_eq!(status.signal(), Some(9));
    assert_eq!(
        child.wait_with_timeout(Duration::ZERO).await.unwrap(),
        Some(status)
    );

    let dropped = ChildProcess::spawn("sleep", ["60"], std::iter::empty::<(&str, &str)>())
        .expect("spawn sleep");
    let pid = dropped.pid();
    drop(dropped);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());

    let missing = ChildProcess::spawn(
        "/nonexistent/kcql",
        std::iter::empty::<&str>(),
        std::iter::empty::<(&str, &str)>(),
    );
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("/nonexistent/kcql"));
}
