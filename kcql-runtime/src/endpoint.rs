//! The operations endpoint: `GET /metrics` (Prometheus text) and `GET /health` (JSON).
//!
//! `/health` answers `200` when every
//! registered component is `running` or `degraded` (working, but e.g. retrying a sink that is
//! down), `503` when one is `starting`, `failed` or `stopped`; the body lists each component's
//! state and reason. The HTTP server ([`Endpoint`]: axum on hyper, a connection limit,
//! graceful shutdown) is in `endpoint/server.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

mod server;

pub use server::{Endpoint, EndpointError};

/// The state of one component, as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum ComponentState {
    /// Connecting, not yet processing.
    Starting,
    /// Processing.
    Running,
    /// Processing, but something needs attention (e.g. retrying an unreachable sink).
    Degraded(String),
    /// Stopped by an error.
    Failed(String),
    /// Stopped on request.
    Stopped,
}

impl ComponentState {
    fn is_healthy(&self) -> bool {
        matches!(self, ComponentState::Running | ComponentState::Degraded(_))
    }
}

/// The health of every component of a process, shared by the components and the endpoint.
#[derive(Debug, Default, Clone)]
pub struct Health {
    states: Arc<Mutex<BTreeMap<String, ComponentState>>>,
}

impl Health {
    /// Records `state` for `component`.
    pub fn set(&self, component: &str, state: ComponentState) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component.to_string(), state);
    }

    /// The state of `component`, if it registered one.
    pub fn get(&self, component: &str) -> Option<ComponentState> {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(component)
            .cloned()
    }

    /// True when at least one component is registered and all are running or degraded.
    pub fn is_healthy(&self) -> bool {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        !states.is_empty() && states.values().all(ComponentState::is_healthy)
    }

    /// The `/health` body.
    pub fn to_json(&self) -> String {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let healthy = !states.is_empty() && states.values().all(ComponentState::is_healthy);
        serde_json::json!({
            "status": if healthy { "ok" } else { "unavailable" },
            "components": &*states,
        })
        .to_string()
    }
}
