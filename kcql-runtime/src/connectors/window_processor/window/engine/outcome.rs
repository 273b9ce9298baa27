//! What the engine did with a record, per route and as a whole.

use smallvec::SmallVec;

use super::WindowError;

/// What one route did with a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteOutcome {
    /// Aggregated into `windows` windows (a hopping route may also skip closed ones).
    Aggregated {
        /// Route index.
        route: usize,
        /// How many windows took it.
        windows: usize,
    },
    /// `WHERE` was not true.
    Filtered {
        /// Route index.
        route: usize,
    },
    /// Every window it belongs to has closed: counted (`late`) and not aggregated. With
    /// [`LatePolicy::Topic`](super::super::LatePolicy::Topic) the caller copies the record there.
    Late {
        /// Route index.
        route: usize,
        /// Its event time.
        event_ms: i64,
    },
    /// Every window it belongs to was emitted before a restart ([`WindowEngine::resume_partition`](super::WindowEngine::resume_partition)):
    /// a replayed record, dropped silently (counted as `already_emitted`, not late).
    AlreadyEmitted {
        /// Route index.
        route: usize,
    },
    /// A poison record for this route; no aggregate was changed.
    Poison {
        /// Route index.
        route: usize,
        /// Why.
        error: WindowError,
    },
}

/// What happened to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// No route reads its topic (its offset still advances).
    Unrouted,
    /// Its key or value does not decode: poison for every route reading the topic.
    Poison(WindowError),
    /// One outcome per route reading the topic, in route order.
    Routed(SmallVec<[RouteOutcome; 2]>),
}

impl RecordOutcome {
    /// Windows the record was aggregated into, over all routes.
    pub fn windows(&self) -> usize {
        match self {
            RecordOutcome::Routed(r) => r
                .iter()
                .map(|o| match o {
                    RouteOutcome::Aggregated { windows, .. } => *windows,
                    _ => 0,
                })
                .sum(),
            _ => 0,
        }
    }

    /// True when some route found it late (the caller may dead-letter it to the late topic).
    pub fn is_late(&self) -> bool {
        matches!(self, RecordOutcome::Routed(r) if r.iter().any(|o| matches!(o, RouteOutcome::Late { .. })))
    }

    /// The first poison error (decode or per route), for the caller's error policy.
    pub fn poison(&self) -> Option<&WindowError> {
        match self {
            RecordOutcome::Poison(e) => Some(e),
            RecordOutcome::Routed(r) => r.iter().find_map(|o| match o {
                RouteOutcome::Poison { error, .. } => Some(error),
                _ => None,
            }),
            RecordOutcome::Unrouted => None,
        }
    }
}
