//! The health of a process's components: each reports its [`ComponentState`] into a shared
//! [`Health`], which `/health` renders.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::redact::redact_url;

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
    /// The same state with the userinfo of any URL in its reason stripped.
    fn redacted(self) -> ComponentState {
        let clean = |reason: String| match redact_url(&reason) {
            Cow::Borrowed(_) => reason,
            Cow::Owned(clean) => clean,
        };
        match self {
            ComponentState::Degraded(r) => ComponentState::Degraded(clean(r)),
            ComponentState::Failed(r) => ComponentState::Failed(clean(r)),
            other => other,
        }
    }

    /// True for the states `/health` counts as healthy (running or degraded).
    pub fn is_healthy(&self) -> bool {
        matches!(self, ComponentState::Running | ComponentState::Degraded(_))
    }
}

/// The health of every component of a process, shared by the components and the endpoint.
#[derive(Debug, Default, Clone)]
pub struct Health {
    states: Arc<Mutex<BTreeMap<String, ComponentState>>>,
}

impl Health {
    /// Records `state` for `component` (a reason quoting a URL is kept without the URL's
    /// credentials).
    pub fn set(&self, component: &str, state: ComponentState) {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(component.to_string(), state.redacted());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A component's reason often quotes an error, and errors may quote a configured URL:
    /// `/health` shows it without the URL's credentials.
    #[test]
    fn reasons_never_show_url_credentials() {
        let health = Health::default();
        health.set(
            "sink",
            ComponentState::Failed(
                "cannot reach http://user:hunter2@influx:8086/write: refused".into(),
            ),
        );
        health.set(
            "source",
            ComponentState::Degraded("tcp://u:hunter2@broker:1883 is down".into()),
        );
        let json = health.to_json();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains("http://***@influx:8086/write"), "{json}");
        assert_eq!(
            health.get("source"),
            Some(ComponentState::Degraded(
                "tcp://***@broker:1883 is down".into()
            ))
        );
    }
}
