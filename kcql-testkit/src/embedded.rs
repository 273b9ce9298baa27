//! Embedded services, in this process: an MQTT broker (rumqttd) and a Kafka cluster
//! (librdkafka's mock cluster), both on free loopback ports, plus topic creation on a real
//! Kafka cluster. The `iot_pipeline` example runs on them by default; the MQTT source's
//! rumqttd test uses the broker.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use thiserror::Error;

/// Why an embedded service could not be had.
#[derive(Debug, Error)]
pub enum EmbeddedError {
    /// No free port, or the broker did not start listening.
    #[error("embedded MQTT broker: {0}")]
    Mqtt(String),
    /// The mock cluster or a topic could not be created.
    #[error("Kafka: {0}")]
    Kafka(String),
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> Result<u16, std::io::Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts rumqttd (MQTT 3.1.1) on a free loopback port in its own threads and waits until it
/// accepts connections. It runs until the process exits.
pub fn start_mqtt_broker() -> Result<SocketAddr, EmbeddedError> {
    let port = free_port().map_err(|e| EmbeddedError::Mqtt(format!("no free port: {e}")))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = format!(
        r#"
        id = 0
        [router]
        id = 0
        max_connections = 1000
        max_outgoing_packet_count = 1000
        max_segment_size = 104857600
        max_segment_count = 10
        [v4.1]
        name = "v4-1"
        listen = "{addr}"
        next_connection_delay_ms = 0
        [v4.1.connections]
        connection_timeout_ms = 60000
        max_payload_size = 1048576
        max_inflight_count = 1000
        dynamic_filters = true
        "#
    );
    let config: rumqttd::Config =
        toml::from_str(&config).map_err(|e| EmbeddedError::Mqtt(format!("config: {e}")))?;
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("embedded MQTT broker stopped: {e}");
            }
        })
        .map_err(|e| EmbeddedError::Mqtt(format!("cannot start its thread: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(EmbeddedError::Mqtt(format!(
                "not listening on {addr} after 10 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(addr)
}

/// An in-process Kafka cluster (librdkafka's mock cluster: the real protocol, in memory).
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Starts a one-broker mock cluster and creates `topics` (name, partitions) on it.
    pub fn start(topics: &[(&str, i32)]) -> Result<EmbeddedKafka, EmbeddedError> {
        let cluster =
            MockCluster::new(1).map_err(|e| EmbeddedError::Kafka(format!("mock cluster: {e}")))?;
        for (name, partitions) in topics {
            cluster
                .create_topic(name, *partitions, 1)
                .map_err(|e| EmbeddedError::Kafka(format!("create topic {name}: {e}")))?;
        }
        Ok(EmbeddedKafka { cluster })
    }

    /// Its bootstrap servers.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}

/// Creates `topics` on a real cluster (brokers do not always auto-create them); a topic that
/// exists already is fine.
pub async fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), EmbeddedError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| EmbeddedError::Kafka(format!("admin client: {e}")))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(new.iter(), &options)
        .await
        .map_err(|e| EmbeddedError::Kafka(format!("create topics at {brokers}: {e}")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(EmbeddedError::Kafka(format!(
                    "create topic {topic} at {brokers}: {code}"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

    #[tokio::test(flavor = "multi_thread")]
    async fn the_embedded_broker_acknowledges_qos1_and_delivers() {
        let addr = start_mqtt_broker().unwrap();
        let mut o = MqttOptions::new("t-sub", addr.ip().to_string(), addr.port());
        o.set_clean_session(true);
        let (client, mut events) = AsyncClient::new(o, 10);
        client
            .subscribe("/sensors/+", QoS::AtLeastOnce)
            .await
            .unwrap();
        client
            .publish("/sensors/dev-1", QoS::AtLeastOnce, false, "{}")
            .await
            .unwrap();
        let (mut acked, mut received) = (false, false);
        let run = async {
            while !(acked && received) {
                match events.poll().await.unwrap() {
                    Event::Incoming(Incoming::PubAck(_)) => acked = true,
                    Event::Incoming(Incoming::Publish(p)) => {
                        assert_eq!(p.topic, "/sensors/dev-1");
                        received = true;
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("PUBACK and delivery within 10 s");
    }

    #[test]
    fn the_mock_cluster_has_the_topics() {
        let kafka = EmbeddedKafka::start(&[("a", 3), ("b", 1)]).unwrap();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .create()
            .unwrap();
        let md = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        let mut topics: Vec<(String, usize)> = md
            .topics()
            .iter()
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect();
        topics.sort();
        assert_eq!(topics, vec![("a".into(), 3), ("b".into(), 1)]);
    }
}
