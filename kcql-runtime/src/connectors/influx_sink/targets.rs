//! Where a sink's points go: one InfluxDB write target (database + retention policy, or
//! bucket) per distinct `WITHRETENTION` among the routes, each with its own writer.

use std::time::Duration;

use crate::connectors::influx_sink::config::InfluxSinkSettings;
use crate::connectors::influx_sink::influx::{
    Api, BatchLimits, EnsureError, InfluxWriter, Precision,
};

use super::SinkError;
use crate::shutdown::Shutdown;

/// One write target.
#[derive(Debug)]
pub struct Target {
    /// Its writer (it sends every request once: the worker retries transient failures,
    /// paused).
    pub writer: InfluxWriter,
    /// The database (v1) or bucket (v2).
    pub database: String,
    /// The retention policy written to (v1), when one is named.
    pub policy: Option<String>,
    /// Create the database (and policy, when it has a duration) at start.
    pub autocreate: bool,
    /// The duration of the policy to create.
    pub create_duration: Option<Duration>,
    /// True on the 2.x API.
    pub v2: bool,
}

/// Every target of a sink, and which route writes where.
#[derive(Debug)]
pub struct Targets {
    /// The targets.
    pub targets: Vec<Target>,
    /// `route_target[i]`: the target of route `i` of the plan.
    pub route_target: Vec<usize>,
    /// The precision of the line protocol written.
    pub precision: Precision,
    /// When a batch is sent.
    pub batch: BatchLimits,
    /// Backoff bounds for retried writes.
    pub backoff: (Duration, Duration),
}

impl Targets {
    /// The targets of `settings`' plan.
    pub fn new(settings: &InfluxSinkSettings) -> Result<Self, SinkError> {
        let base = settings.influx_config();
        let mut targets: Vec<Target> = Vec::new();
        let mut keys: Vec<Option<String>> = Vec::new();
        let mut route_target = Vec::with_capacity(settings.plan.routes.len());
        for route in &settings.plan.routes {
            let key = route.retention.as_ref().map(|r| r.policy.clone());
            let idx = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    let mut config = base.clone();
                    let (database, policy, v2) = match &mut config.api {
                        Api::V1 {
                            database,
                            retention_policy,
                            ..
                        } => {
                            if let Some(p) = &key {
                                *retention_policy = Some(p.clone());
                            }
                            (database.clone(), retention_policy.clone(), false)
                        }
                        Api::V2 { bucket, .. } => {
                            if let Some(p) = &key {
                                *bucket = p.clone();
                            }
                            (bucket.clone(), None, true)
                        }
                    };
                    targets.push(Target {
                        writer: InfluxWriter::new(&config)?,
                        database,
                        policy,
                        autocreate: false,
                        create_duration: None,
                        v2,
                    });
                    keys.push(key);
                    targets.len() - 1
                }
            };
            let t = &mut targets[idx];
            if route.autocreate {
                t.autocreate = true;
                if let Some(d) = route
                    .retention
                    .as_ref()
                    .and_then(|r| r.create_with_duration.as_ref())
                {
                    t.create_duration = Some(Duration::from_millis(d.millis));
                }
            }
            route_target.push(idx);
        }
        Ok(Targets {
            targets,
            route_target,
            precision: base.precision,
            batch: base.batch,
            backoff: (base.backoff_base, base.max_backoff),
        })
    }

    /// Creates the databases and policies of `AUTOCREATE` targets (1.x), retrying transient
    /// failures for up to a minute or until `stop` fires (then `Ok`: nothing was read yet).
    pub async fn prepare(&self, stop: &Shutdown) -> Result<(), SinkError> {
        let mut stop = stop.clone();
        for t in self.targets.iter().filter(|t| t.autocreate && !t.v2) {
            let retention = match (&t.policy, t.create_duration) {
                (Some(p), Some(d)) => Some((p.as_str(), Some(d))),
                _ => None,
            };
            let mut backoff = t.writer.backoff();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                match t.writer.ensure_database(&t.database, retention).await {
                    Ok(()) => break,
                    Err(EnsureError::Transient { message, .. })
                        if tokio::time::Instant::now() < deadline =>
                    {
                        let delay = backoff.next_delay();
                        tracing::warn!(database = %t.database, %message, delay_ms = delay.as_millis() as u64,
                            "InfluxDB not reachable for AUTOCREATE, retrying");
                        tokio::select! {
                            // Stopped while waiting: nothing was read yet, nothing to do.
                            _ = stop.wait() => return Ok(()),
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                    Err(e) => return Err(SinkError::Prepare(e)),
                }
            }
        }
        Ok(())
    }
}
