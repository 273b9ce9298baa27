//! `.properties` connector files (and the Kafka Connect worker file beside them).

use std::borrow::Cow;

use super::{influx_component, mqtt_checked, Component, Pipeline, PipelineError};
use crate::config::properties::{into_pairs, parse_properties};
use crate::config::providers::Providers;
use crate::config::worker::WorkerFile;
use crate::connectors::mqtt_source::config::MqttSourceSettings;

impl Pipeline {
    /// Reads one Stream Reactor connector `.properties` file.
    pub fn component_from_properties(
        text: &str,
        path: &str,
    ) -> Result<Component, Vec<PipelineError>> {
        Pipeline::component_from_pairs(properties_pairs(text, path)?, path, None)
    }

    /// One connector from its properties (references resolved), with what a worker file
    /// gives it (Kafka settings, default converters).
    pub(super) fn component_from_pairs(
        pairs: Vec<(String, String)>,
        path: &str,
        worker: Option<&WorkerFile>,
    ) -> Result<Component, Vec<PipelineError>> {
        let pairs = match worker {
            Some(w) => w.with_default_converters(&pairs),
            None => pairs,
        };
        let class = pairs
            .iter()
            .find(|(k, _)| k == "connector.class")
            .map(|(_, v)| v.clone());
        let is_mqtt = pairs.iter().any(|(k, _)| k.starts_with("connect.mqtt."))
            || class
                .as_deref()
                .is_some_and(|c| c.to_ascii_lowercase().contains("mqtt"));
        if is_mqtt {
            let kafka = worker.map(|w| w.producer.clone()).unwrap_or_default();
            let (settings, kafka) = MqttSourceSettings::from_properties(&pairs)
                .map(|mut s| {
                    // The worker's producer settings, under the connector's own `kafka.*`.
                    let own = std::mem::take(&mut s.kafka);
                    s.kafka = kafka.properties.clone();
                    if let Some(brokers) = &kafka.brokers {
                        s.kafka
                            .insert("bootstrap.servers".to_string(), brokers.clone());
                    }
                    s.kafka.extend(own);
                    (s, kafka)
                })
                .map_err(|errors| {
                    errors
                        .into_iter()
                        .map(|e| PipelineError::Invalid {
                            path: path.to_string(),
                            at: "connector".to_string(),
                            key: String::new(),
                            message: e.to_string(),
                        })
                        .collect::<Vec<_>>()
                })?;
            return mqtt_checked(settings, kafka, path, "connector");
        }
        let is_influx = pairs.iter().any(|(k, _)| k.starts_with("connect.influx."))
            || class
                .as_deref()
                .is_some_and(|c| c.to_ascii_lowercase().contains("influx"));
        if !is_influx {
            return Err(vec![PipelineError::UnknownConnector {
                path: path.to_string(),
                class,
            }]);
        }
        let at = "connector".to_string();
        let kafka = worker.map(|w| w.consumer.clone()).unwrap_or_default();
        influx_component(&pairs, kafka, path, &at)
    }
}

/// A `.properties` file's pairs, with every `${provider:…}` reference resolved.
pub(super) fn properties_pairs(
    text: &str,
    path: &str,
) -> Result<Vec<(String, String)>, Vec<PipelineError>> {
    let props = parse_properties(text).map_err(|error| {
        vec![PipelineError::Properties {
            path: path.to_string(),
            error,
        }]
    })?;
    let mut pairs = into_pairs(props);
    let mut providers = Providers::default();
    let mut unresolved = Vec::new();
    for (key, value) in &mut pairs {
        match providers.resolve(value) {
            Ok(Cow::Borrowed(_)) => {}
            Ok(Cow::Owned(resolved)) => *value = resolved,
            Err(e) => unresolved.push(PipelineError::Invalid {
                path: path.to_string(),
                at: "connector".to_string(),
                key: key.clone(),
                message: e.to_string(),
            }),
        }
    }
    if unresolved.is_empty() {
        Ok(pairs)
    } else {
        Err(unresolved)
    }
}
