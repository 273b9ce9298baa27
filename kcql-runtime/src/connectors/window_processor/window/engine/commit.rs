//! The at-least-once protocol: what may be committed, and resuming after a restart without
//! re-emitting windows already emitted.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

use super::WindowEngine;

/// What may be committed, and when (see the module documentation's protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPoint {
    /// Per `(topic, partition)`: the next offset to read that is safe to commit.
    pub offsets: BTreeMap<(String, i32), i64>,
    /// Commit only after every output with `sequence <= after_sequence` was delivered
    /// (`None`: nothing was emitted yet).
    pub after_sequence: Option<u64>,
    /// Store with the commit (e.g. as the offset's metadata) and hand back to
    /// [`WindowEngine::resume_partition`] after a restart.
    pub resume: ResumeToken,
    /// The partitions whose token is not `resume`: a partition catching up still holds
    /// windows the route closed, so its token stops before the first of them.
    pub partition_resume: BTreeMap<(String, i32), ResumeToken>,
}

/// Which windows had been emitted when a commit point was taken: per route (by index and
/// target), every window ending at or before the time had been emitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResumeToken {
    /// Per route: its target topic and the end time through which all its windows were emitted.
    pub routes: Vec<(String, Option<i64>)>,
}

impl ResumeToken {
    /// Compact JSON text (fits Kafka's offset-commit metadata).
    pub fn to_metadata(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`to_metadata`](Self::to_metadata) text; `None` when it is not a token.
    pub fn from_metadata(text: &str) -> Option<ResumeToken> {
        serde_json::from_str(text).ok()
    }
}

/// A resume token that does not fit the engine's plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the resume token was written for other routes ({found:?}); expected targets {expected:?}")]
pub struct ResumeError {
    /// The token's targets.
    pub found: Vec<String>,
    /// The plan's targets.
    pub expected: Vec<String>,
}

impl WindowEngine {
    /// Per `(topic, partition)` seen since assignment: the smallest offset still held by a
    /// window not yet taken, else the last offset seen + 1. Safe to commit once every output
    /// taken so far was delivered.
    pub fn committable_offsets(&self) -> BTreeMap<(String, i32), i64> {
        let mut low: Vec<Option<i64>> = self.partitions.iter().map(|p| p.next_offset).collect();
        for r in &self.routes {
            for w in r.windows.values() {
                for (pid, off) in &w.held {
                    if let Some(slot) = low.get_mut(*pid) {
                        *slot = Some(slot.map_or(*off, |l| l.min(*off)));
                    }
                }
            }
        }
        self.partitions
            .iter()
            .zip(low)
            .filter(|(p, _)| p.next_offset.is_some())
            .filter_map(|(p, l)| Some(((p.topic.clone(), p.partition), l?)))
            .collect()
    }

    /// The commit point now: [`committable_offsets`](Self::committable_offsets), the last
    /// emission sequence that must be delivered first, and the resume token to store with it.
    pub fn commit_point(&self) -> CommitPoint {
        let resume = ResumeToken {
            routes: self
                .routes
                .iter()
                .map(|r| (r.route.target.clone(), r.emitted_through))
                .collect(),
        };
        let mut partition_resume = BTreeMap::new();
        for (pid, p) in self.partitions.iter().enumerate() {
            if p.next_offset.is_none() {
                continue;
            }
            // Windows this partition still holds that the route had closed when they were last
            // taken (waiting for it to catch up) were not emitted: its token stops before them.
            let caps: Vec<Option<i64>> = self
                .routes
                .iter()
                .zip(&resume.routes)
                .map(|(r, (_, through))| {
                    let t = (*through)?;
                    r.windows
                        .iter()
                        .map(|(start, w)| (r.shape.end(*start), w))
                        .filter(|(end, w)| *end <= t && w.held.iter().any(|(h, _)| *h == pid))
                        .map(|(end, _)| end - 1)
                        .min()
                })
                .collect();
            if caps.iter().any(Option::is_some) {
                let mut own = resume.clone();
                for ((_, through), cap) in own.routes.iter_mut().zip(caps) {
                    if cap.is_some() {
                        *through = cap;
                    }
                }
                partition_resume.insert((p.topic.clone(), p.partition), own);
            }
        }
        CommitPoint {
            offsets: self.committable_offsets(),
            after_sequence: self.next_sequence.checked_sub(1),
            resume,
            partition_resume,
        }
    }

    /// After a restart, before consuming `topic`/`partition` from its committed offset: the
    /// token committed with that offset tells which windows were already emitted; this
    /// partition's records for them are dropped as [`RouteOutcome::AlreadyEmitted`](super::RouteOutcome::AlreadyEmitted) instead
    /// of re-opening those windows with only part of their records.
    pub fn resume_partition(
        &mut self,
        topic: &str,
        partition: i32,
        token: &ResumeToken,
    ) -> Result<(), ResumeError> {
        let found: Vec<String> = token.routes.iter().map(|(t, _)| t.clone()).collect();
        let expected: Vec<String> = self.routes.iter().map(|r| r.route.target.clone()).collect();
        if found != expected {
            return Err(ResumeError { found, expected });
        }
        let pid = self.pid(topic, partition);
        self.partitions[pid].resume = Some(token.routes.iter().map(|(_, t)| *t).collect());
        Ok(())
    }
}
