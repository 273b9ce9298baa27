//! The MQTT side of a worker: one rumqttc client (MQTT 3.1.1 or 5) with manual acknowledgements,
//! and the pump task that polls its event loop, (re)subscribes on every connection, reconnects
//! with backoff, and hands messages to the worker through a bounded channel.
//!
//! When the worker stops reading (its in-flight window is full), the channel fills, the pump
//! stops polling and TCP pushes back on the broker, which keeps the messages queued for the
//! session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::rustls;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::Secret;
use crate::connectors::mqtt_source::config::{
    BrokerAddress, MqttSourceSettings, MqttVersion, TlsFiles,
};
use crate::connectors::mqtt_source::error::MqttSourceError;
use crate::connectors::mqtt_source::stats::MqttSourceStats;
use crate::pem::{read_certificates, read_private_key, PemError};

/// A message as the pump hands it over.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub pkid: u16,
    pub user_properties: Vec<(String, String)>,
    /// The connection epoch it arrived in (see [`Session::epoch`]).
    pub epoch: u64,
}

/// What the pump tells the worker, in the order it happened.
#[derive(Debug)]
pub(crate) enum SessionEvent {
    /// A connection was established and the subscriptions requested.
    Connected { session_present: bool },
    /// A message.
    Message(Incoming),
    /// The broker refused the connection for a reason retrying cannot fix (credentials).
    Fatal(String),
}

/// How to acknowledge one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckToken {
    pub qos: u8,
    pub pkid: u16,
}

/// The client handle (cloneable) of either protocol version.
#[derive(Clone)]
pub(crate) enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

enum EventLoop {
    V4(Box<rumqttc::EventLoop>),
    V5(Box<rumqttc::v5::EventLoop>),
}

impl Client {
    /// Queues the acknowledgement (PUBACK, or PUBREC for QoS 2). Never blocks: the request
    /// channel is sized for every message that can be unacknowledged.
    pub fn ack(&self, token: AckToken) -> bool {
        match self {
            Client::V4(c) => {
                let mut p = rumqttc::Publish::new("", qos_v4(token.qos), Vec::new());
                p.pkid = token.pkid;
                c.try_ack(&p).is_ok()
            }
            Client::V5(c) => {
                let mut p = rumqttc::v5::mqttbytes::v5::Publish::new(
                    "",
                    qos_v5(token.qos),
                    Vec::new(),
                    None,
                );
                p.pkid = token.pkid;
                c.try_ack(&p).is_ok()
            }
        }
    }

    /// Queues a DISCONNECT (after every queued acknowledgement).
    pub fn disconnect(&self) {
        let _ = match self {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        };
    }

    fn subscribe(&self, filters: &[String], qos: u8) -> bool {
        match self {
            Client::V4(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos_v4(qos))),
                )
                .is_ok(),
            Client::V5(c) => c
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::v5::mqttbytes::v5::Filter::new(f.clone(), qos_v5(qos))),
                )
                .is_ok(),
        }
    }
}

fn qos_v4(q: u8) -> rumqttc::QoS {
    match q {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos_v5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// Connection parameters of one worker.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub brokers: Vec<BrokerAddress>,
    pub client_id: String,
    pub protocol: MqttVersion,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub clean: bool,
    pub keep_alive: Duration,
    pub connect_timeout: Duration,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Subscriptions, as written.
    pub filters: Vec<String>,
    /// The QoS subscribed with.
    pub qos: u8,
    /// The bound on unacknowledged messages.
    pub max_inflight: usize,
}

impl SessionConfig {
    pub fn new(
        s: &MqttSourceSettings,
        client_id: String,
        filters: Vec<String>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> SessionConfig {
        SessionConfig {
            brokers: s.brokers.clone(),
            client_id,
            protocol: s.protocol,
            username: s.username.clone(),
            password: s.password.clone(),
            clean: s.clean,
            keep_alive: s.keep_alive,
            connect_timeout: s.connect_timeout,
            tls,
            filters,
            // QoS 2 is subscribed as QoS 1: rumqttc forgets QoS 2 handshakes on reconnect
            // and then rejects the broker's PUBREL, so a QoS 2 session could not resume. QoS 1
            // with acknowledgement after Kafka's confirmation gives the same at-least-once
            // guarantee end to end.
            qos: s.qos.min(1),
            max_inflight: s.max_inflight,
        }
    }
}

/// Reads the PEM files into a rustls client configuration (ring provider, TLS 1.2 and 1.3).
pub(crate) fn tls_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, MqttSourceError> {
    let tls_err = |path: &std::path::Path, reason: String| MqttSourceError::Tls {
        path: path.display().to_string(),
        reason,
    };
    let pem_err = |e: PemError| MqttSourceError::Tls {
        path: e.path().to_string(),
        reason: e.to_string(),
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certificates(&files.ca).map_err(pem_err)? {
        roots
            .add(ca)
            .map_err(|e| tls_err(&files.ca, e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&files.ca, e.to_string()))?
        .with_root_certificates(roots);
    let config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certificates(cert).map_err(pem_err)?;
            let key_der = read_private_key(key).map_err(pem_err)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_err(key, e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

fn keep_alive_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_millis().div_ceil(1000).max(1) as u64)
}

fn timeout_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// Every unacknowledged message can produce one queued ack; subscriptions and the disconnect
/// need a few more slots.
fn request_capacity(cfg: &SessionConfig) -> usize {
    cfg.max_inflight * 2 + 64
}

fn transport(cfg: &SessionConfig, broker: &BrokerAddress) -> rumqttc::Transport {
    match &cfg.tls {
        Some(c) if broker.tls => {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(c.clone()))
        }
        _ => rumqttc::Transport::tcp(),
    }
}

fn options_v4(cfg: &SessionConfig, broker: &BrokerAddress) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(&cfg.client_id, &broker.host, broker.port);
    o.set_clean_session(cfg.clean)
        .set_keep_alive(keep_alive_secs(cfg.keep_alive))
        .set_manual_acks(true)
        .set_max_packet_size(256 * 1024 * 1024, 256 * 1024 * 1024)
        .set_request_channel_capacity(request_capacity(cfg))
        .set_transport(transport(cfg, broker));
    if let Some(u) = &cfg.username {
        o.set_credentials(u.clone(), cfg.password.as_ref().map_or("", Secret::expose));
    }
    o
}

fn options_v5(cfg: &SessionConfig, broker: &BrokerAddress) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(&cfg.client_id, &broker.host, broker.port);
    o.set_clean_start(cfg.clean)
        .set_keep_alive(keep_alive_secs(cfg.keep_alive))
        .set_manual_acks(true)
        .set_max_packet_size(Some(256 * 1024 * 1024))
        .set_receive_maximum(Some(cfg.max_inflight.min(65_535) as u16))
        .set_request_channel_capacity(request_capacity(cfg))
        .set_connection_timeout(timeout_secs(cfg.connect_timeout))
        .set_transport(transport(cfg, broker));
    if !cfg.clean {
        o.set_session_expiry_interval(Some(u32::MAX));
    }
    if let Some(u) = &cfg.username {
        o.set_credentials(u.clone(), cfg.password.as_ref().map_or("", Secret::expose));
    }
    o
}

fn build(cfg: &SessionConfig, broker: &BrokerAddress) -> (Client, EventLoop) {
    let cap = request_capacity(cfg);
    match cfg.protocol {
        MqttVersion::V311 => {
            let (client, mut el) = rumqttc::AsyncClient::new(options_v4(cfg, broker), cap);
            el.network_options
                .set_connection_timeout(timeout_secs(cfg.connect_timeout));
            (Client::V4(client), EventLoop::V4(Box::new(el)))
        }
        MqttVersion::V5 => {
            let (client, el) = rumqttc::v5::AsyncClient::new(options_v5(cfg, broker), cap);
            (Client::V5(client), EventLoop::V5(Box::new(el)))
        }
    }
}

impl EventLoop {
    /// Points the next connection attempt at `broker` (same client, same session).
    fn retarget(&mut self, cfg: &SessionConfig, broker: &BrokerAddress) {
        match self {
            EventLoop::V4(el) => el.mqtt_options = options_v4(cfg, broker),
            EventLoop::V5(el) => el.options = options_v5(cfg, broker),
        }
    }
}

/// One poll's outcome, protocol-independent.
enum Polled {
    ConnAck {
        session_present: bool,
    },
    Publish(Incoming),
    /// The broker answered the subscription: how many filters it granted and refused.
    SubAck {
        granted: usize,
        refused: usize,
    },
    Disconnected,
    Other,
    Error {
        fatal: Option<String>,
        message: String,
    },
}

impl EventLoop {
    async fn poll(&mut self) -> Polled {
        match self {
            EventLoop::V4(el) => match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(c))) => Polled::ConnAck {
                    session_present: c.session_present,
                },
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    Polled::Publish(Incoming {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        qos: p.qos as u8,
                        retain: p.retain,
                        dup: p.dup,
                        pkid: p.pkid,
                        user_properties: Vec::new(),
                        epoch: 0,
                    })
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(a))) => {
                    let granted = a
                        .return_codes
                        .iter()
                        .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                        .count();
                    Polled::SubAck {
                        granted,
                        refused: a.return_codes.len() - granted,
                    }
                }
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Polled::Disconnected,
                Ok(_) => Polled::Other,
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    use rumqttc::ConnectReturnCode as C;
                    let fatal = matches!(
                        code,
                        C::BadUserNamePassword | C::NotAuthorized | C::BadClientId
                    );
                    refused(code, fatal)
                }
                Err(e) => Polled::Error {
                    fatal: None,
                    message: e.to_string(),
                },
            },
            EventLoop::V5(el) => {
                use rumqttc::v5::mqttbytes::v5::Packet;
                match el.poll().await {
                    Ok(rumqttc::v5::Event::Incoming(Packet::ConnAck(c))) => Polled::ConnAck {
                        session_present: c.session_present,
                    },
                    Ok(rumqttc::v5::Event::Incoming(Packet::Publish(p))) => {
                        Polled::Publish(Incoming {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload.to_vec(),
                            qos: p.qos as u8,
                            retain: p.retain,
                            dup: p.dup,
                            pkid: p.pkid,
                            user_properties: p
                                .properties
                                .map(|pr| pr.user_properties)
                                .unwrap_or_default(),
                            epoch: 0,
                        })
                    }
                    Ok(rumqttc::v5::Event::Incoming(Packet::SubAck(a))) => {
                        use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode as R;
                        let granted = a
                            .return_codes
                            .iter()
                            .filter(|c| matches!(c, R::Success(_)))
                            .count();
                        Polled::SubAck {
                            granted,
                            refused: a.return_codes.len() - granted,
                        }
                    }
                    Ok(rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                        Polled::Disconnected
                    }
                    Ok(_) => Polled::Other,
                    Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => {
                        use rumqttc::v5::mqttbytes::v5::ConnectReturnCode as C;
                        let fatal = matches!(
                            code,
                            C::BadUserNamePassword
                                | C::NotAuthorized
                                | C::Banned
                                | C::BadAuthenticationMethod
                                | C::ClientIdentifierNotValid
                        );
                        refused(code, fatal)
                    }
                    Err(e) => Polled::Error {
                        fatal: None,
                        message: e.to_string(),
                    },
                }
            }
        }
    }
}

/// The handle of a running pump.
pub(crate) struct Session {
    pub client: Client,
    pub events: mpsc::Receiver<SessionEvent>,
    /// Incremented on every lost connection: acknowledgements of messages received before
    /// it must not be sent on a later connection (the broker redelivers them, and may reuse
    /// their packet ids).
    pub epoch: Arc<AtomicU64>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the pump for `cfg`.
pub(crate) fn start(cfg: SessionConfig, stats: Arc<MqttSourceStats>) -> Session {
    let (tx, rx) = mpsc::channel(cfg.max_inflight.clamp(16, 4096));
    let epoch = Arc::new(AtomicU64::new(0));
    let (client, el) = build(&cfg, &cfg.brokers[0]);
    let task = tokio::spawn(pump(cfg, client.clone(), el, tx, epoch.clone(), stats));
    Session {
        client,
        events: rx,
        epoch,
        task,
    }
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

async fn pump(
    cfg: SessionConfig,
    client: Client,
    mut el: EventLoop,
    tx: mpsc::Sender<SessionEvent>,
    epoch: Arc<AtomicU64>,
    stats: Arc<MqttSourceStats>,
) {
    let mut broker = 0usize;
    let mut backoff = Backoff::new(BACKOFF_START, BACKOFF_MAX);
    let mut connected = false;
    loop {
        match el.poll().await {
            Polled::ConnAck { session_present } => {
                connected = true;
                backoff.reset();
                stats.connected();
                info!(
                    client_id = %cfg.client_id,
                    broker = %cfg.brokers[broker],
                    session_present,
                    "MQTT connected; subscribing to {:?} at QoS {}",
                    cfg.filters,
                    cfg.qos
                );
                if !client.subscribe(&cfg.filters, cfg.qos) {
                    warn!("could not queue the MQTT subscription request");
                }
                // The worker may have stopped reading (shutdown); keep polling regardless.
                let _ = tx.send(SessionEvent::Connected { session_present }).await;
            }
            Polled::Publish(mut m) => {
                m.epoch = epoch.load(Ordering::SeqCst);
                let _ = tx.send(SessionEvent::Message(m)).await;
            }
            Polled::Disconnected => {
                debug!(client_id = %cfg.client_id, "MQTT disconnected");
                return;
            }
            Polled::SubAck { granted, refused } => {
                if refused == 0 {
                    info!(client_id = %cfg.client_id, filters = ?cfg.filters, "MQTT subscribed");
                } else {
                    // Messages on a refused filter never arrive: say so loudly.
                    error!(client_id = %cfg.client_id, filters = ?cfg.filters, granted, refused,
                        "the MQTT broker refused {refused} of the subscriptions (not authorized, or an invalid filter): their messages will not arrive");
                }
            }
            Polled::Other => {}
            Polled::Error { fatal, message } => {
                epoch.fetch_add(1, Ordering::SeqCst);
                if tx.is_closed() {
                    // Shutting down: the worker no longer waits for anything.
                    return;
                }
                if let Some(f) = fatal {
                    let _ = tx.send(SessionEvent::Fatal(f)).await;
                    return;
                }
                let delay = backoff.next_delay();
                if connected {
                    warn!(client_id = %cfg.client_id, broker = %cfg.brokers[broker], "MQTT connection lost: {message}; reconnecting");
                } else {
                    warn!(client_id = %cfg.client_id, broker = %cfg.brokers[broker], "MQTT connect failed: {message}; retrying in {delay:?}");
                }
                connected = false;
                tokio::time::sleep(delay).await;
                if cfg.brokers.len() > 1 {
                    broker = (broker + 1) % cfg.brokers.len();
                    el.retarget(&cfg, &cfg.brokers[broker]);
                }
            }
        }
    }
}

/// A connection the broker refused with `code`; `fatal` when retrying cannot help (bad
/// credentials, not authorized, a refused client id).
fn refused(code: impl std::fmt::Debug, fatal: bool) -> Polled {
    let message = format!("connection refused: {code:?}");
    Polled::Error {
        fatal: fatal.then(|| message.clone()),
        message,
    }
}
