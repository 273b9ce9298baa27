//! Running a pipeline: every component of a [`Pipeline`] in one process, sharing one metrics
//! registry, one `/metrics` + `/health` endpoint and one shutdown signal.
//!
//! When a component stops with an error, the others are asked to stop too (flushing and
//! committing what they hold), and [`run_pipeline`] returns every error.

use std::sync::Arc;

use thiserror::Error;

use crate::component::{host, ComponentContext, ComponentState, Health};
use crate::config::{ComponentSettings, Pipeline};
use crate::connectors::influx_sink::{InfluxSink, SinkError};
use crate::connectors::mqtt_source::{MqttSource, MqttSourceError};
use crate::connectors::window_processor::{ProcessorError, WindowProcessor};
use crate::endpoint::{Endpoint, EndpointError};
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
    WindowProcessor(#[from] ProcessorError),
    /// The MQTT source's error.
    #[error(transparent)]
    MqttSource(#[from] MqttSourceError),
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
        let stop = stop.clone();
        let ctx = ComponentContext::new(&component.name, Arc::clone(&registry), health.clone());
        let handle = tokio::spawn(async move {
            let result: Result<(), ComponentError> = match component.settings {
                ComponentSettings::InfluxSink(settings) => {
                    let sink = InfluxSink::new(*settings).with_kafka(component.kafka);
                    host(sink, ctx, stop.clone())
                        .await
                        .map_err(ComponentError::from)
                }
                ComponentSettings::MqttSource(settings) => match MqttSource::new(*settings) {
                    Ok(source) => host(source, ctx, stop.clone()).await,
                    Err(e) => {
                        ctx.set_state(ComponentState::Failed(e.to_string()));
                        Err(e)
                    }
                }
                .map_err(ComponentError::from),
                ComponentSettings::WindowProcessor(settings) => {
                    let processor = WindowProcessor::new(*settings, component.kafka);
                    host(processor, ctx, stop.clone())
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
