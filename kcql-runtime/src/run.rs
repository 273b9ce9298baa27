//! Running a pipeline: every component of a [`Pipeline`] in one process, sharing one metrics
//! registry, one `/metrics` + `/health` endpoint and one shutdown signal.
//!
//! When a component stops with an error, the others are asked to stop too (flushing and
//! committing what they hold), and [`run_pipeline`] returns every error.

use std::sync::Arc;

use thiserror::Error;

use crate::config::{ComponentSettings, Pipeline};
use crate::connectors::influx_sink::{InfluxSink, SinkError};
use crate::endpoint::{Endpoint, EndpointError, Health};
use crate::metrics::Registry;
use crate::shutdown::Shutdown;

/// Why a pipeline run failed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The operations endpoint could not start.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Components stopped with errors.
    #[error("{}", .0.iter().map(|(name, e)| format!("component `{name}` failed: {e}")).collect::<Vec<_>>().join("\n"))]
    Components(Vec<(String, ComponentError)>),
}

/// Why one component stopped.
#[derive(Debug, Error)]
pub enum ComponentError {
    /// The InfluxDB sink's error.
    #[error(transparent)]
    InfluxSink(#[from] SinkError),
    /// The window processor's error.
    #[error(transparent)]
    WindowProcessor(#[from] crate::connectors::window_processor::ProcessorError),
    /// The MQTT source's error.
    #[error(transparent)]
    MqttSource(#[from] crate::connectors::mqtt_source::MqttSourceError),
    /// The component's task panicked.
    #[error("panicked: {0}")]
    Panicked(String),
}

/// The registry and health shared by a pipeline's components (exposed for embedding and
/// tests).
#[derive(Debug, Clone, Default)]
pub struct Observability {
    /// Metrics of every component.
    pub registry: Arc<Registry>,
    /// Health of every component.
    pub health: Health,
}

/// Runs `pipeline` until `shutdown` fires (then `Ok` once every component flushed and
/// committed) or a component fails. `on_ready` is called with the endpoint's bound address
/// (when one is served) before the components start.
pub async fn run_pipeline(
    pipeline: Pipeline,
    shutdown: Shutdown,
    observability: Observability,
    on_ready: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<(), RunError> {
    let Observability { registry, health } = observability;
    let endpoint = match &pipeline.metrics_addr {
        Some(addr) => Some(Endpoint::bind(addr, Arc::clone(&registry), health.clone()).await?),
        None => None,
    };
    on_ready(endpoint.as_ref().and_then(Endpoint::local_addr));
    let server = endpoint.map(|e| tokio::spawn(e.serve(shutdown.clone())));

    // Components stop together: on shutdown or when one fails.
    let stop = shutdown.linked();
    let mut handles = Vec::new();
    for component in pipeline.components {
        let name = component.name.clone();
        let name_of_task = component.name.clone();
        let stop = stop.clone();
        let registry = Arc::clone(&registry);
        let health = health.clone();
        let handle = tokio::spawn(async move {
            let result: Result<(), ComponentError> = match component.settings {
                ComponentSettings::InfluxSink(settings) => {
                    InfluxSink::new(*settings, registry, health)
                        .with_kafka(component.kafka)
                        .run(stop.clone())
                        .await
                        .map_err(ComponentError::from)
                }
                ComponentSettings::MqttSource(settings) => {
                    run_mqtt_source(&name_of_task, *settings, registry, health, stop.clone()).await
                }
                ComponentSettings::WindowProcessor(settings) => {
                    crate::connectors::window_processor::WindowProcessor::new(
                        *settings,
                        component.kafka,
                        registry,
                        health,
                    )
                    .run(stop.clone())
                    .await
                    .map_err(ComponentError::from)
                }
            };
            if result.is_err() {
                stop.trigger();
            }
            result
        });
        handles.push((name, handle));
    }
    let mut errors = Vec::new();
    for (name, handle) in handles {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push((name, e)),
            Err(e) => errors.push((name, ComponentError::Panicked(e.to_string()))),
        }
    }
    shutdown.trigger();
    if let Some(server) = server {
        let _ = server.await;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RunError::Components(errors))
    }
}

/// Runs an MQTT source, publishing its counters into `registry` every second and its state
/// into `health`.
async fn run_mqtt_source(
    name: &str,
    settings: crate::connectors::mqtt_source::config::MqttSourceSettings,
    registry: Arc<Registry>,
    health: Health,
    stop: Shutdown,
) -> Result<(), ComponentError> {
    use crate::endpoint::ComponentState;
    health.set(name, ComponentState::Starting);
    let source = crate::connectors::mqtt_source::MqttSource::new(settings)?;
    let stats = source.stats();
    let l = [("component", name)];
    let counters = [
        (
            registry.counter(
                "kcql_records_consumed_total",
                "Records (messages) read.",
                &l,
            ),
            0usize,
        ),
        (
            registry.counter(
                "kcql_records_written_total",
                "Records whose output was accepted by the target.",
                &l,
            ),
            1,
        ),
        (
            registry.counter(
                "kcql_mqtt_acked_total",
                "MQTT messages acknowledged after Kafka confirmed them.",
                &l,
            ),
            2,
        ),
        (
            registry.counter(
                "kcql_records_filtered_total",
                "Records dropped by WHERE on every route.",
                &l,
            ),
            3,
        ),
        (
            registry.counter(
                "kcql_records_skipped_total",
                "Poison records skipped by the NOOP error policy.",
                &l,
            ),
            4,
        ),
        (
            registry.counter(
                "kcql_write_retries_total",
                "Writes retried after a transient failure.",
                &l,
            ),
            5,
        ),
        (
            registry.counter("kcql_mqtt_connects_total", "MQTT (re)connections.", &l),
            6,
        ),
    ];
    let in_flight = registry.gauge(
        "kcql_mqtt_in_flight",
        "MQTT messages read and not yet confirmed by Kafka.",
        &l,
    );
    let publisher = {
        let stats = Arc::clone(&stats);
        let health = health.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let mut last = [0u64; 7];
            loop {
                let s = stats.snapshot();
                let now = [
                    s.received, s.produced, s.acked, s.filtered, s.skipped, s.retries, s.connects,
                ];
                for (counter, i) in &counters {
                    counter.add(now[*i].saturating_sub(last[*i]));
                }
                in_flight.set(s.in_flight);
                if s.connects > 0 && health.get(&name) == Some(ComponentState::Starting) {
                    health.set(&name, ComponentState::Running);
                }
                last = now;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        })
    };
    let result = source.run(stop.receiver()).await;
    publisher.abort();
    match &result {
        Ok(()) => health.set(name, ComponentState::Stopped),
        Err(e) => health.set(name, ComponentState::Failed(e.to_string())),
    }
    result.map_err(ComponentError::from)
}
