//! The Kafka → InfluxDB sink connector.
//!
//! `tasks` workers ([`worker`]), each an rdkafka consumer in the connector's consumer group
//! (Kafka spreads the partitions over them and over other processes in the same group), read
//! records, run every route of the [`InfluxPlan`](kcql::plan::InfluxPlan) on each (one record
//! may feed several measurements), batch the points per write target ([`targets`]), and
//! write them. Delivery is at-least-once:
//!
//! * a partition's offset is committed after the write, and only up to the first record not
//!   yet written or deliberately skipped ([`OffsetTracker`](crate::kafka::OffsetTracker));
//! * while InfluxDB is unreachable the worker pauses its partitions, keeps its group
//!   membership, and retries with backoff; nothing is read meanwhile, so memory stays bounded;
//! * poison records (undecodable payload, missing field, type conflict reported by InfluxDB,
//!   NaN, …) go through the error policy one by one, never taking their batch-mates down:
//!   `NOOP` skips (and dead-letters) them, `THROW`/`RETRY` stop the connector with the
//!   record's coordinates, committing only what precedes it, so a restart resumes at it;
//! * transient failures go through the policy per batch: `NOOP` retries forever, `THROW`
//!   retries with exponential backoff for [`THROW_TRANSIENT_ATTEMPTS`] attempts then stops
//!   (each delay is at least half its ceiling, so with the default 100 ms base the attempts
//!   span at least 25 s of outage),
//!   `RETRY` retries every `connect.influx.retry.interval` up to `connect.influx.max.retries`;
//! * fatal errors (authentication, missing database without `AUTOCREATE`) stop at once with
//!   the reason;
//! * shutdown stops reading, flushes, commits and returns `Ok`.
//!
//! Points of one series with the same time are one point in InfluxDB (the later one's field
//! values win). Within a write the sink finds those that replaced values (module `overwrites`),
//! counts them in `kcql_points_overwritten_total` and warns once per series; see the README
//! ("Point time and overwrites") for the time choices that avoid them.

pub mod config;
mod error;
pub mod influx;
pub mod line_protocol;
mod metrics;
mod overwrites;
pub mod point;
mod targets;
mod worker;

use crate::record::RecordDecoder;
pub use error::SinkError;
pub use metrics::SinkMetrics;

use std::sync::Arc;

use crate::component::{Component, ComponentContext};
use crate::connectors::influx_sink::config::InfluxSinkSettings;
use crate::dead_letter::DeadLetter;
use crate::kafka::KafkaSettings;
use crate::shutdown::Shutdown;

/// Attempts of a transiently failing write under `THROW` before the connector stops.
pub const THROW_TRANSIENT_ATTEMPTS: u32 = 10;

/// One InfluxDB sink connector, ready to run.
#[derive(Debug)]
pub struct InfluxSink {
    name: String,
    settings: Arc<InfluxSinkSettings>,
    kafka: KafkaSettings,
    group_id: String,
}

impl InfluxSink {
    /// A sink for `settings`. The consumer group is `kafka.group.id` when set, else `connect-<name>` (Kafka Connect's
    /// naming), else `connect-kcql-influx-sink`.
    pub fn new(settings: InfluxSinkSettings) -> Self {
        let name = settings
            .name
            .clone()
            .unwrap_or_else(|| "kcql-influx-sink".to_string());
        let mut kafka = KafkaSettings::from_properties(settings.kafka.clone());
        let group_id = kafka
            .properties
            .remove("group.id")
            .unwrap_or_else(|| format!("connect-{name}"));
        InfluxSink {
            name,
            settings: Arc::new(settings),
            kafka,
            group_id,
        }
    }

    /// Overrides the Kafka client settings (brokers from a pipeline file).
    pub fn with_kafka(mut self, kafka: KafkaSettings) -> Self {
        let mut kafka = kafka;
        if let Some(g) = kafka.properties.remove("group.id") {
            self.group_id = g;
        }
        self.kafka = kafka;
        self
    }

    /// The consumer group.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    async fn run_workers(
        &self,
        component: ComponentContext,
        shutdown: Shutdown,
    ) -> Result<(), SinkError> {
        for warning in self.settings.warnings() {
            tracing::warn!(connector = %self.name, "{warning}");
        }
        let targets = Arc::new(targets::Targets::new(&self.settings)?);
        targets.prepare(&shutdown).await?;
        if shutdown.is_triggered() {
            return Ok(());
        }
        let dead_letter = match &self.settings.dlq_topic {
            Some(topic) => Some(Arc::new(
                DeadLetter::new(&self.kafka, topic, &self.name)
                    .map_err(SinkError::DeadLetter)?
                    .with_context_headers(self.settings.dlq_context_headers),
            )),
            None => None,
        };
        let metrics = Arc::new(SinkMetrics::new(component.registry(), &self.name));
        let warned = Arc::new(overwrites::WarnOnce::new(overwrites::WARNED_SERIES_LIMIT));
        // One decoder for all workers: they share the Schema Registry cache.
        let decoder = RecordDecoder::new(&self.settings.record_format)?;
        let tasks = self.settings.tasks_max.unwrap_or(1).max(1) as usize;
        // Workers stop together: on shutdown, or when one of them fails.
        let stop = shutdown.linked();
        let mut handles = Vec::with_capacity(tasks);
        for id in 0..tasks {
            let ctx = worker::WorkerContext {
                id,
                name: self.name.clone(),
                group_id: self.group_id.clone(),
                settings: Arc::clone(&self.settings),
                kafka: self.kafka.clone(),
                targets: Arc::clone(&targets),
                dead_letter: dead_letter.clone(),
                decoder: decoder.clone(),
                metrics: Arc::clone(&metrics),
                warned: Arc::clone(&warned),
                component: component.clone(),
            };
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let result = worker::run(ctx, stop.clone()).await;
                if result.is_err() {
                    stop.trigger();
                }
                result
            }));
        }
        let mut first_error = None;
        for handle in handles {
            let joined = handle.await;
            let result = joined.unwrap_or_else(|e| Err(SinkError::WorkerPanicked(e.to_string())));
            if let Err(e) = result {
                tracing::error!(connector = %self.name, error = %e, "sink worker stopped");
                first_error.get_or_insert(e);
            }
        }
        if let Some(dl) = &dead_letter {
            dl.flush(std::time::Duration::from_secs(10));
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Component for InfluxSink {
    type Error = SinkError;

    fn name(&self) -> &str {
        &self.name
    }

    /// Runs until `shutdown` fires (returns `Ok` after flushing and committing) or an error
    /// stops it (the other workers then flush, commit and stop too).
    async fn run(self, ctx: ComponentContext, shutdown: Shutdown) -> Result<(), SinkError> {
        self.run_workers(ctx, shutdown).await
    }
}
