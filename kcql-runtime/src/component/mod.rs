//! What every connector is to its host: a [`Component`] that runs with a [`ComponentContext`]
//! (its name, the process's metrics [`Registry`] and [`Health`]) until a [`Shutdown`] fires.
//!
//! The host ([`host`], used by [`crate::run`] and by embedders and tests) reports the
//! lifecycle states: `starting` before the component runs, `stopped` or `failed` after. The
//! component reports what only it knows (`running`, `degraded` while it retries) through
//! [`ComponentContext::set_state`]. No connector imports the host or another connector.

mod health;

pub use health::{ComponentState, Health};

use std::future::Future;
use std::sync::Arc;

use crate::metrics::Registry;
use crate::shutdown::Shutdown;

/// What a component is given to run: its name and where its metrics and health go.
#[derive(Debug, Clone)]
pub struct ComponentContext {
    name: String,
    registry: Arc<Registry>,
    health: Health,
}

impl ComponentContext {
    /// A context for the component `name` (its metric label and health key).
    pub fn new(name: impl Into<String>, registry: Arc<Registry>, health: Health) -> Self {
        ComponentContext {
            name: name.into(),
            registry,
            health,
        }
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process's metrics registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Reports the component's state.
    pub fn set_state(&self, state: ComponentState) {
        self.health.set(&self.name, state);
    }

    /// The component's last reported state.
    pub fn state(&self) -> Option<ComponentState> {
        self.health.get(&self.name)
    }
}

/// A connector as its host runs it.
pub trait Component: Send + 'static {
    /// Why it stopped, when it failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Its name (metric label, health key, log field, dead-letter header).
    fn name(&self) -> &str;

    /// Runs until `shutdown` fires (then flushes and commits what it holds and returns `Ok`)
    /// or a failure stops it. Reports `running`/`degraded` through `ctx`.
    fn run(
        self,
        ctx: ComponentContext,
        shutdown: Shutdown,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Runs `component` with `ctx`, reporting `starting` before and `stopped` or `failed` (with
/// the error) after.
pub async fn host<C: Component>(
    component: C,
    ctx: ComponentContext,
    shutdown: Shutdown,
) -> Result<(), C::Error> {
    ctx.set_state(ComponentState::Starting);
    let result = component.run(ctx.clone(), shutdown).await;
    match &result {
        Ok(()) => ctx.set_state(ComponentState::Stopped),
        Err(e) => ctx.set_state(ComponentState::Failed(e.to_string())),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports `running`, then waits for shutdown or fails, as told.
    struct Probe {
        fail: bool,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("probe failed")]
    struct ProbeError;

    impl Component for Probe {
        type Error = ProbeError;

        fn name(&self) -> &str {
            "probe"
        }

        async fn run(
            self,
            ctx: ComponentContext,
            mut shutdown: Shutdown,
        ) -> Result<(), ProbeError> {
            assert_eq!(ctx.state(), Some(ComponentState::Starting));
            ctx.set_state(ComponentState::Running);
            if self.fail {
                return Err(ProbeError);
            }
            shutdown.wait().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_host_reports_starting_then_stopped_or_failed() {
        let health = Health::default();
        let ctx = ComponentContext::new("probe", Arc::default(), health.clone());
        let shutdown = Shutdown::new();
        let task = tokio::spawn(host(Probe { fail: false }, ctx.clone(), shutdown.clone()));
        while health.get("probe") != Some(ComponentState::Running) {
            tokio::task::yield_now().await;
        }
        assert!(health.is_healthy());
        shutdown.trigger();
        task.await.expect("no panic").expect("stops cleanly");
        assert_eq!(health.get("probe"), Some(ComponentState::Stopped));

        let failed = host(Probe { fail: true }, ctx, Shutdown::new()).await;
        assert!(failed.is_err());
        assert_eq!(
            health.get("probe"),
            Some(ComponentState::Failed("probe failed".to_string()))
        );
        assert!(!health.is_healthy());
    }
}
