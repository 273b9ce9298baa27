//! The router's output formats: keys and values written as configured
//! ([`OutputSettings`](crate::connectors::mqtt_source::config::OutputSettings)), and the
//! schema registration Confluent Avro needs before a message's records can be written.

use std::borrow::Cow;

use tokio::sync::watch;

use super::{is_legal_kafka_topic, PoisonError, Router};
use crate::connectors::mqtt_source::config::OutputSettings;
use crate::decode::{Format, RegistryError};
use crate::value::Value;

impl Router {
    /// This router writing keys and values as `output` says.
    pub fn with_output(mut self, output: OutputSettings) -> Router {
        self.output = output;
        self
    }

    /// The key text written in the key format (`string`/`bytes`: as it is).
    pub(super) fn encode_key(&self, topic: &str, key: Vec<u8>) -> Result<Vec<u8>, PoisonError> {
        if matches!(self.output.key.format(), Format::String | Format::Bytes) {
            return Ok(key);
        }
        let text = String::from_utf8_lossy(&key);
        let value = Value::Str(Cow::Borrowed(text.as_ref()));
        Ok(self.output.key.encode(topic, &value)?)
    }

    /// Registers the output schemas of every Kafka topic a message on `mqtt_topic` is routed
    /// to (Confluent Avro only; cached, so a no-op after the first message per topic),
    /// waiting out a registry that is down until `stop` turns true (`None`). A registry that
    /// refuses a schema is `Some(Err(…))`.
    pub async fn prepare(
        &self,
        mqtt_topic: &str,
        stop: &watch::Receiver<bool>,
        component: &str,
    ) -> Option<Result<(), RegistryError>> {
        if self.output.key.format() != Format::ConfluentAvro
            && self.output.value.format() != Format::ConfluentAvro
        {
            return Some(Ok(()));
        }
        for i in self.matching(mqtt_topic) {
            let topic = self.routes[i].route.target.topic_for(mqtt_topic);
            if !is_legal_kafka_topic(&topic) {
                continue; // a poison message: `apply` says so
            }
            for encoder in [&self.output.key, &self.output.value] {
                match encoder
                    .prepare_patiently(&topic, stop.clone(), component)
                    .await?
                {
                    Ok(()) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        Some(Ok(()))
    }
}
