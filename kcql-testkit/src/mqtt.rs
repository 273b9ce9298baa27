//! MQTT helpers against the real Mosquitto 2 broker started by `scripts/services.sh up`
//! (`127.0.0.1:1883`, anonymous, `max_queued_messages 1000000`).
//!
//! * [`publish`] / [`publish_messages`] connect with a clean session. They return only after the
//!   broker has acknowledged every message: PUBACK for QoS 1, PUBCOMP for QoS 2, and for QoS 0
//!   every packet written and a clean DISCONNECT sent.
//! * [`Subscriber`] subscribes first and collects in a background task, so a test can subscribe,
//!   run the code under test, then wait for the messages. [`subscribe_collect`] is the
//!   one-shot form.
//! * Use unique topics per test (e.g. `format!("{}/sensor/1", crate::names::unique("t"))`).
//!   The broker is shared, and retained messages and persistent sessions outlive tests.
//!
//! Every helper panics with `MQTT broker at <host>:<port> is not reachable: run
//! scripts/services.sh up` when the broker does not answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS,
    SubscribeReasonCode,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Default host of the Mosquitto broker. Override with `KCQL_TEST_MQTT_HOST` (see [`host`]).
pub const HOST: &str = "127.0.0.1";

/// Default port of the Mosquitto broker. Override with `KCQL_TEST_MQTT_PORT` (see [`port`]).
pub const PORT: u16 = 1883;

/// Environment variable that overrides [`HOST`].
pub const HOST_ENV: &str = "KCQL_TEST_MQTT_HOST";

/// Environment variable that overrides [`PORT`].
pub const PORT_ENV: &str = "KCQL_TEST_MQTT_PORT";

/// Largest packet the helpers send or accept (10 MiB; rumqttc's default is 10 KiB).
pub const MAX_PACKET_SIZE: usize = 10 * 1024 * 1024;

/// How long connecting and subscribing may take before the helpers panic.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker host: `$KCQL_TEST_MQTT_HOST` if set and not empty, else [`HOST`].
pub fn host() -> String {
    match std::env::var(HOST_ENV) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => HOST.to_string(),
    }
}

/// The broker port: `$KCQL_TEST_MQTT_PORT` if set, else [`PORT`]. Panics if it is not a port
/// number.
pub fn port() -> u16 {
    match std::env::var(PORT_ENV) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{PORT_ENV}={v:?} is not a port number: {e}")),
        _ => PORT,
    }
}

fn unreachable_msg(detail: impl std::fmt::Display) -> String {
    format!(
        "MQTT broker at {}:{} is not reachable: run scripts/services.sh up ({detail})",
        host(),
        port()
    )
}

/// Panics unless a TCP connection to [`host()`]:[`port()`] succeeds within 5 s. The message
/// says to run `scripts/services.sh up`.
pub fn wait_reachable() {
    let (h, p) = (host(), port());
    if let Err(err) = crate::reach::wait_connectable((h.as_str(), p)) {
        panic!("{}", unreachable_msg(err));
    }
}

/// Client options for the test broker: the given client id, clean session, 30 s keep-alive,
/// [`MAX_PACKET_SIZE`] both ways, and up to 1000 QoS 1/2 messages in flight.
pub fn options(client_id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, host(), port());
    o.set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_inflight(1000);
    o
}

/// Maps an event-loop error to a panic message. Connection-level I/O errors say how to start
/// the broker.
fn connection_panic(what: &str, e: &ConnectionError) -> String {
    match e {
        ConnectionError::Io(_) | ConnectionError::NetworkTimeout => {
            format!("{what}: {}", unreachable_msg(e))
        }
        _ => format!(
            "{what}: MQTT connection to {}:{} failed: {e}",
            host(),
            port()
        ),
    }
}

/// Publishes every payload to `topic` with `qos` (not retained) on one clean-session
/// connection, in order, and waits until the broker has acknowledged all of them. Panics
/// after `max(30 s, 10 ms per message)` or on any connection error.
pub async fn publish<P: Into<Vec<u8>>>(
    topic: &str,
    payloads: impl IntoIterator<Item = P>,
    qos: QoS,
) {
    let messages: Vec<(String, Vec<u8>)> = payloads
        .into_iter()
        .map(|p| (topic.to_string(), p.into()))
        .collect();
    publish_messages(messages, qos).await
}

/// Publishes one retained message and waits for its acknowledgement. An empty payload clears
/// the retained message on `topic`.
pub async fn publish_retained(topic: &str, payload: impl Into<Vec<u8>>, qos: QoS) {
    publish_inner(vec![(topic.to_string(), payload.into())], qos, true).await
}

/// Publishes `(topic, payload)` messages in order on one clean-session connection, not
/// retained, and waits until the broker has acknowledged all of them (see [`publish`]).
/// MQTT keeps the order per topic on one connection, so interleaved topics are fine.
pub async fn publish_messages<T: Into<String>, P: Into<Vec<u8>>>(
    messages: impl IntoIterator<Item = (T, P)>,
    qos: QoS,
) {
    publish_inner(owned(messages), qos, false).await
}

/// [`publish_messages`] through the broker at `options`' address (e.g. a
/// [`PrivateMosquitto`](crate::private::PrivateMosquitto)'s `mqtt_options`).
pub async fn publish_messages_with<T: Into<String>, P: Into<Vec<u8>>>(
    options: MqttOptions,
    messages: impl IntoIterator<Item = (T, P)>,
    qos: QoS,
) {
    publish_with(options, owned(messages), qos, false).await
}

/// `(topic, payload)` messages as owned strings and bytes.
fn owned<T: Into<String>, P: Into<Vec<u8>>>(
    messages: impl IntoIterator<Item = (T, P)>,
) -> Vec<(String, Vec<u8>)> {
    messages
        .into_iter()
        .map(|(t, p)| (t.into(), p.into()))
        .collect()
}

async fn publish_inner(messages: Vec<(String, Vec<u8>)>, qos: QoS, retain: bool) {
    wait_reachable();
    let client_id = crate::names::unique("kcql_testkit_pub");
    publish_with(options(&client_id), messages, qos, retain).await
}

async fn publish_with(
    options: MqttOptions,
    messages: Vec<(String, Vec<u8>)>,
    qos: QoS,
    retain: bool,
) {
    let total = messages.len();
    let timeout = Duration::from_secs(30).max(Duration::from_millis(10) * total as u32);
    let (broker_host, broker_port) = options.broker_address();
    let (client, mut eventloop) = AsyncClient::new(options, 1024);

    let sender = client.clone();
    let send_task: JoinHandle<Result<(), rumqttc::ClientError>> = tokio::spawn(async move {
        for (topic, payload) in messages {
            sender.publish(topic, qos, retain, payload).await?;
        }
        Ok(())
    });

    let run = async {
        let mut sent = 0usize;
        let mut acked = 0usize;
        let mut disconnecting = false;
        loop {
            let done = match qos {
                QoS::AtMostOnce => sent == total,
                QoS::AtLeastOnce | QoS::ExactlyOnce => acked == total,
            };
            if done && !disconnecting {
                disconnecting = true;
                client
                    .disconnect()
                    .await
                    .unwrap_or_else(|e| panic!("MQTT publish: disconnect request failed: {e}"));
            }
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(_))) => sent += 1,
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(Event::Incoming(Incoming::PubAck(_))) if qos == QoS::AtLeastOnce => acked += 1,
                Ok(Event::Incoming(Incoming::PubComp(_))) if qos == QoS::ExactlyOnce => acked += 1,
                Ok(_) => {}
                Err(e) => panic!(
                    "{} ({acked} of {total} acknowledged, {sent} sent)",
                    connection_panic("MQTT publish", &e)
                ),
            }
        }
    };
    if tokio::time::timeout(timeout, run).await.is_err() {
        send_task.abort();
        panic!(
            "MQTT publish of {total} messages (QoS {qos:?}) to {broker_host}:{broker_port} not \
             acknowledged within {timeout:?}"
        );
    }
    match send_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("MQTT publish: request failed: {e}"),
        Err(e) => panic!("MQTT publish: sender task failed: {e}"),
    }
}

/// A message received by a [`Subscriber`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The topic it was published to.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The QoS it was delivered with, which is the minimum of the publish and subscription QoS.
    pub qos: QoS,
    /// The retain flag. It is set only for retained messages sent because of a new
    /// subscription.
    pub retain: bool,
    /// The DUP flag (a redelivery).
    pub dup: bool,
}

impl ReceivedMessage {
    /// The payload as UTF-8. Panics if it isn't.
    pub fn payload_str(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("MQTT payload is not UTF-8")
    }
}

#[derive(Default)]
struct Shared {
    messages: Vec<ReceivedMessage>,
    error: Option<String>,
}

/// A subscription that collects messages in a background task. Create it (which waits for the
/// SUBACK) before publishing, then call [`Subscriber::collect`]. Dropping it stops the task.
/// The session is clean, so nothing persists on the broker.
pub struct Subscriber {
    client: AsyncClient,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    task: JoinHandle<()>,
    filters: Vec<String>,
}

impl Subscriber {
    /// Connects with a unique client id, subscribes to `filter` at `qos`, and waits for the
    /// SUBACK. Panics if the broker is unreachable or refuses the subscription.
    pub async fn new(filter: &str, qos: QoS) -> Subscriber {
        Subscriber::new_many(&[(filter, qos)]).await
    }

    /// Like [`Subscriber::new`] with several filters in one SUBSCRIBE.
    pub async fn new_many(filters: &[(&str, QoS)]) -> Subscriber {
        assert!(!filters.is_empty(), "Subscriber needs at least one filter");
        wait_reachable();
        let client_id = crate::names::unique("kcql_testkit_sub");
        let (client, mut eventloop) = AsyncClient::new(options(&client_id), 1024);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let notify = Arc::new(Notify::new());
        let what = format!("MQTT subscribe to {filters:?}");
        client
            .subscribe_many(
                filters
                    .iter()
                    .map(|(f, q)| rumqttc::SubscribeFilter::new(f.to_string(), *q)),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));

        let wait_suback = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                        if ack
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, SubscribeReasonCode::Failure))
                        {
                            panic!("{what}: refused by broker: {:?}", ack.return_codes);
                        }
                        return;
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        shared.lock().unwrap().messages.push(received(p));
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{}", connection_panic(&what, &e)),
                }
            }
        };
        if tokio::time::timeout(CONNECT_TIMEOUT, wait_suback)
            .await
            .is_err()
        {
            panic!("{what}: no SUBACK within {CONNECT_TIMEOUT:?}");
        }

        let task = tokio::spawn(drive(eventloop, shared.clone(), notify.clone()));
        Subscriber {
            client,
            shared,
            notify,
            task,
            filters: filters.iter().map(|(f, _)| f.to_string()).collect(),
        }
    }

    /// Waits until at least `expected` messages have arrived and returns all messages received
    /// so far, in arrival order. Panics on timeout, with the count, or if the connection
    /// failed.
    pub async fn collect(&self, expected: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            {
                let shared = self.shared.lock().unwrap();
                if let Some(e) = &shared.error {
                    panic!(
                        "subscriber on {:?}: connection failed after {} messages: {e}",
                        self.filters,
                        shared.messages.len()
                    );
                }
                if shared.messages.len() >= expected {
                    return shared.messages.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let n = self.shared.lock().unwrap().messages.len();
                panic!(
                    "subscriber on {:?}: only {n} of {expected} messages arrived within \
                     {timeout:?}",
                    self.filters
                );
            }
        }
    }

    /// Waits for `expected` messages like [`Subscriber::collect`], then keeps listening for
    /// `settle` and panics if more arrived. Use it to prove there are no duplicates.
    pub async fn collect_exactly(
        &self,
        expected: usize,
        timeout: Duration,
        settle: Duration,
    ) -> Vec<ReceivedMessage> {
        self.collect(expected, timeout).await;
        tokio::time::sleep(settle).await;
        let all = self.received();
        assert_eq!(
            all.len(),
            expected,
            "subscriber on {:?}: expected exactly {expected} messages, got {} (extra: {:?})",
            self.filters,
            all.len(),
            all.get(expected..)
        );
        all
    }

    /// A snapshot of everything received so far.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        self.shared.lock().unwrap().messages.clone()
    }

    /// Removes and returns everything received so far.
    pub fn take(&self) -> Vec<ReceivedMessage> {
        std::mem::take(&mut self.shared.lock().unwrap().messages)
    }

    /// Disconnects cleanly and stops the background task.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while !self.task.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.task.abort();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn received(p: rumqttc::Publish) -> ReceivedMessage {
    ReceivedMessage {
        topic: p.topic,
        payload: p.payload.to_vec(),
        qos: p.qos,
        retain: p.retain,
        dup: p.dup,
    }
}

async fn drive(mut eventloop: EventLoop, shared: Arc<Mutex<Shared>>, notify: Arc<Notify>) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                shared.lock().unwrap().messages.push(received(p));
                notify.notify_waiters();
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                shared.lock().unwrap().error = Some(connection_panic("subscriber", &e));
                notify.notify_waiters();
                return;
            }
        }
    }
}

/// Subscribes to `filter` at `qos`, waits for `expected` messages, and returns them. Panics
/// after `timeout`. The subscription starts when this is called, so only messages published
/// after that, plus retained ones, arrive. To subscribe before starting a publisher, use
/// [`Subscriber`].
pub async fn subscribe_collect(
    filter: &str,
    qos: QoS,
    expected: usize,
    timeout: Duration,
) -> Vec<ReceivedMessage> {
    let sub = Subscriber::new(filter, qos).await;
    let out = sub.collect(expected, timeout).await;
    sub.close().await;
    out
}
