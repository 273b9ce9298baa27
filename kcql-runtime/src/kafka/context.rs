//! A consumer context for at-least-once consumers.
//!
//! Before partitions are revoked (rebalance), it commits, synchronously, the offsets the
//! connector finished for them ([`OffsetTracker`]) and forgets them, so the next owner resumes
//! right after the last written record. Records of a revoked partition that were read but not
//! yet written are written by the next owner (and possibly once more by us: at-least-once).
//! It also publishes librdkafka's per-partition consumer lag as a gauge.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::fatal::{log_error, log_line, FatalErrors};
use super::offsets::{OffsetTracker, TopicPartition};
use crate::metrics::Registry;

/// The consumer type of our connectors.
pub type TrackedConsumer = StreamConsumer<TrackingContext>;

/// Shared between a connector worker and its consumer's callbacks.
#[derive(Debug)]
pub struct TrackingContext {
    /// The connector's offsets. Never held across an `.await`.
    pub tracker: Arc<Mutex<OffsetTracker>>,
    assigned: Mutex<BTreeSet<TopicPartition>>,
    registry: Arc<Registry>,
    component: String,
    /// Authentication and TLS failures of the consumer, for the connector to stop on.
    pub fatal: FatalErrors,
}

impl TrackingContext {
    /// A context for `component` (metric label) publishing into `registry`.
    pub fn new(component: &str, registry: Arc<Registry>) -> Self {
        TrackingContext {
            tracker: Arc::default(),
            assigned: Mutex::default(),
            registry,
            component: component.to_string(),
            fatal: FatalErrors::default(),
        }
    }

    /// The partitions currently assigned to this consumer.
    pub fn assigned(&self) -> BTreeSet<TopicPartition> {
        self.assigned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `tp` is currently assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.assigned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(tp)
    }
}

/// A commit request: each `(topic, partition, offset)` (the next offset to read), with
/// `metadata` attached to every entry when given (the window processor's resume token).
pub fn commit_list<'t>(
    offsets: impl IntoIterator<Item = (&'t str, i32, i64)>,
    metadata: Option<&str>,
) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        // Cannot fail for a non-negative offset.
        if tpl
            .add_partition_offset(topic, partition, Offset::Offset(offset))
            .is_ok()
        {
            if let (Some(metadata), Some(mut entry)) =
                (metadata, tpl.find_partition(topic, partition))
            {
                entry.set_metadata(metadata);
            }
        }
    }
    tpl
}

/// [`commit_list`] of tracked offsets, without metadata.
pub fn tracked_list(offsets: &[(TopicPartition, i64)]) -> TopicPartitionList {
    commit_list(
        offsets
            .iter()
            .map(|(tp, o)| (tp.topic.as_str(), tp.partition, *o)),
        None,
    )
}

impl ClientContext for TrackingContext {
    fn stats(&self, statistics: Statistics) {
        publish_lag(&self.registry, &self.component, &statistics);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        log_line(level, fac, msg);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        log_error(&self.fatal, &error, reason);
    }
}

/// Publishes librdkafka's per-partition consumer lag as `kcql_consumer_lag{component, topic,
/// partition}`.
pub fn publish_lag(registry: &Registry, component: &str, statistics: &Statistics) {
    for (topic, t) in &statistics.topics {
        for (partition, p) in &t.partitions {
            if *partition < 0 || p.consumer_lag < 0 {
                continue;
            }
            let part = partition.to_string();
            registry
                .gauge(
                    "kcql_consumer_lag",
                    "Records between the consumer's position and the partition's end.",
                    &[
                        ("component", component),
                        ("topic", topic),
                        ("partition", &part),
                    ],
                )
                .set(p.consumer_lag);
        }
    }
}

impl ConsumerContext for TrackingContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| TopicPartition::new(e.topic(), e.partition()))
            .collect();
        let finished: Vec<(TopicPartition, i64)> = {
            let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
            let out = revoked
                .iter()
                .filter_map(|tp| tracker.committable(tp).map(|o| (tp.clone(), o)))
                .collect();
            for tp in &revoked {
                tracker.forget(tp);
            }
            out
        };
        {
            let mut assigned = self.assigned.lock().unwrap_or_else(PoisonError::into_inner);
            for tp in &revoked {
                assigned.remove(tp);
            }
        }
        if !finished.is_empty() {
            match consumer.commit(&tracked_list(&finished), CommitMode::Sync) {
                Ok(()) => tracing::info!(
                    component = %self.component,
                    partitions = ?finished,
                    "committed finished offsets of revoked partitions"
                ),
                Err(e) => tracing::warn!(
                    component = %self.component, error = %e,
                    "could not commit offsets of revoked partitions (their records will be read again)"
                ),
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let mut assigned = self.assigned.lock().unwrap_or_else(PoisonError::into_inner);
                for e in tpl.elements() {
                    assigned.insert(TopicPartition::new(e.topic(), e.partition()));
                }
                tracing::info!(component = %self.component, partitions = ?assigned, "partitions assigned");
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                tracing::warn!(component = %self.component, error = %e, "rebalance error")
            }
        }
    }
}
