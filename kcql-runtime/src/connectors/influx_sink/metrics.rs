//! The sink's metrics (`component` label = connector name).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::metrics::{Counter, Histogram, Registry, LATENCY_BUCKETS};

/// Counters and histograms of one sink connector, shared by its workers.
#[derive(Debug)]
pub struct SinkMetrics {
    registry: Arc<Registry>,
    name: String,
    /// Records read from Kafka.
    pub consumed: Arc<Counter>,
    /// Records whose points were all accepted by InfluxDB.
    pub written: Arc<Counter>,
    /// Records no route wrote (every `WHERE` false).
    pub filtered: Arc<Counter>,
    /// Write attempts that failed transiently and were retried.
    pub retries: Arc<Counter>,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: Arc<Counter>,
    /// Duration of successful writes (seconds).
    pub write_latency: Arc<Histogram>,
    skipped: Mutex<HashMap<&'static str, Arc<Counter>>>,
    points: Mutex<HashMap<String, Arc<Counter>>>,
    overwritten: Mutex<HashMap<String, Arc<Counter>>>,
}

impl SinkMetrics {
    /// Registers the sink `name`'s metrics.
    pub fn new(registry: &Arc<Registry>, name: &str) -> Self {
        let l = [("component", name)];
        SinkMetrics {
            registry: Arc::clone(registry),
            name: name.to_string(),
            consumed: registry.counter(
                "kcql_records_consumed_total",
                "Records read from Kafka.",
                &l,
            ),
            written: registry.counter(
                "kcql_records_written_total",
                "Records whose output was accepted by the target.",
                &l,
            ),
            filtered: registry.counter(
                "kcql_records_filtered_total",
                "Records dropped by WHERE on every route.",
                &l,
            ),
            retries: registry.counter(
                "kcql_write_retries_total",
                "Writes retried after a transient failure.",
                &l,
            ),
            dead_lettered: registry.counter(
                "kcql_records_dead_lettered_total",
                "Records sent to the dead-letter topic.",
                &l,
            ),
            write_latency: registry.histogram(
                "kcql_write_duration_seconds",
                "Duration of successful writes to the target.",
                &l,
                LATENCY_BUCKETS,
            ),
            skipped: Mutex::default(),
            points: Mutex::default(),
            overwritten: Mutex::default(),
        }
    }

    /// The skipped-records counter for `reason`.
    pub fn skipped(&self, reason: &'static str) -> Arc<Counter> {
        let mut map = self.skipped.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(reason).or_insert_with(|| {
            self.registry.counter(
                "kcql_records_skipped_total",
                "Poison records skipped by the NOOP error policy.",
                &[("component", &self.name), ("reason", reason)],
            )
        }))
    }

    /// Adds `n` points written to `measurement`.
    pub fn points(&self, measurement: &str, n: u64) {
        self.per_measurement(
            &self.points,
            "kcql_points_written_total",
            "Points accepted by InfluxDB, per measurement.",
            measurement,
            n,
        );
    }

    /// Adds `n` points of `measurement` that replaced field values of another point of the
    /// same series and time in the same write (InfluxDB kept one of them).
    pub fn overwritten(&self, measurement: &str, n: u64) {
        self.per_measurement(
            &self.overwritten,
            "kcql_points_overwritten_total",
            "Points that replaced field values of a point of the same series and time in the same write, per measurement.",
            measurement,
            n,
        );
    }

    /// Adds `n` to the counter `metric` of `measurement` in `map`, registering it when new.
    fn per_measurement(
        &self,
        map: &Mutex<HashMap<String, Arc<Counter>>>,
        metric: &'static str,
        help: &'static str,
        measurement: &str,
        n: u64,
    ) {
        let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(measurement) {
            c.add(n);
            return;
        }
        let c = self.registry.counter(
            metric,
            help,
            &[("component", &self.name), ("measurement", measurement)],
        );
        c.add(n);
        map.insert(measurement.to_string(), c);
    }
}
