//! The devices: a [`Fleet`] publishing one reading per device per tick over MQTT (QoS 1) for a
//! given duration, in real time. Every reading's event time `ts` is its tick's time (epoch ms,
//! ticks on a grid of `1000 / rate` ms), and the wall-clock time of its publish call is kept for
//! the latency figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kcql_testkit::devices::{Fleet, Reading};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use super::influx_endpoint::now_ms;

/// A reading and when it was handed to the MQTT client.
#[derive(Debug, Clone)]
pub struct Published {
    /// The reading.
    pub reading: Reading,
    /// Wall-clock time of the publish call, epoch ms.
    pub published_ms: f64,
}

/// What the devices did, readable while they run.
#[derive(Debug, Default)]
pub struct DeviceLog {
    /// Messages published.
    pub published: AtomicU64,
    /// PUBACKs received.
    pub acknowledged: AtomicU64,
    readings: Mutex<Vec<Published>>,
}

impl DeviceLog {
    /// Every reading published so far.
    pub fn readings(&self) -> Vec<Published> {
        self.readings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The devices' settings.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// MQTT broker host and port.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Number of devices.
    pub devices: usize,
    /// Readings per device per second.
    pub rate: u32,
    /// How long they publish.
    pub duration: Duration,
    /// Seed of the values.
    pub seed: u64,
    /// Topic prefix (`/sensors`).
    pub prefix: String,
}

/// Publishes until `duration` has passed, then waits (up to 10 s) for the outstanding PUBACKs.
/// Returns an error text when the broker connection fails.
pub async fn run(settings: DeviceSettings, log: Arc<DeviceLog>) -> Result<(), String> {
    let mut options = MqttOptions::new(
        format!("kcql-iot-devices-{}", std::process::id()),
        settings.host.clone(),
        settings.port,
    );
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let acks = Arc::clone(&log);
    let (failed_tx, mut failed_rx) = tokio::sync::watch::channel(None::<String>);
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::PubAck(_))) => {
                    acks.acknowledged.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    let _ = failed_tx.send(Some(e.to_string()));
                    return;
                }
            }
        }
    });

    let mut fleet = Fleet::new(settings.devices, settings.seed);
    let step_ms = (1000 / i64::from(settings.rate.max(1))).max(1);
    // The first tick on the grid, at least 100 ms from now.
    let now = now_ms() as i64 + 100;
    let first = now + step_ms - now.rem_euclid(step_ms);
    let end = first + settings.duration.as_millis() as i64;
    let mut tick = first;
    while tick < end {
        let wait = tick as f64 - now_ms();
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait / 1000.0)).await;
        }
        if let Some(e) = failed_rx.borrow_and_update().clone() {
            return Err(format!("MQTT connection failed: {e}"));
        }
        for reading in fleet.tick(tick) {
            let published_ms = now_ms();
            let topic = reading.topic(&settings.prefix);
            client
                .publish(topic, QoS::AtLeastOnce, false, reading.to_json())
                .await
                .map_err(|e| format!("MQTT publish failed: {e}"))?;
            log.published.fetch_add(1, Ordering::Relaxed);
            log.readings
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Published {
                    reading,
                    published_ms,
                });
        }
        tick += step_ms;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while log.acknowledged.load(Ordering::Relaxed) < log.published.load(Ordering::Relaxed)
        && tokio::time::Instant::now() < deadline
    {
        if let Some(e) = failed_rx.borrow_and_update().clone() {
            return Err(format!("MQTT connection failed: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
    Ok(())
}
