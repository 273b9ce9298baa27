//! Cooperative shutdown: one [`Shutdown`] handle per process, cloned into every component.
//!
//! [`Shutdown::trigger`] (or SIGINT/SIGTERM via [`Shutdown::on_signals`]) flips it once; every
//! clone's [`Shutdown::wait`] then returns, and [`Shutdown::is_triggered`] is true. Components
//! stop fetching, flush, commit/ack what they hold, and return.

use tokio::sync::watch;

/// A shutdown signal shared by the components of one process.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once the signal fired.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Returns when the signal has fired (immediately if it already has).
    pub async fn wait(&mut self) {
        // The sender lives in `self`, so `wait_for` cannot fail with a closed channel.
        let _ = self.rx.wait_for(|fired| *fired).await;
    }

    /// A new signal that fires when this one does, and can also be fired on its own (a group
    /// of tasks that stop together on shutdown or when one of them fails).
    pub fn linked(&self) -> Shutdown {
        let child = Shutdown::new();
        let mut outer = self.clone();
        let fire = child.clone();
        tokio::spawn(async move {
            outer.wait().await;
            fire.trigger();
        });
        child
    }

    /// A receiver that turns `true` when the signal fires (for components that take a
    /// `watch::Receiver<bool>`).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Spawns a task that fires the signal on SIGINT or SIGTERM (Ctrl-C only, off Unix).
    pub fn on_signals(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: stopping intake, flushing and committing");
            me.trigger();
        });
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let s = Shutdown::new();
        let mut a = s.clone();
        let waiter = tokio::spawn(async move {
            a.wait().await;
            a.is_triggered()
        });
        assert!(!s.is_triggered());
        s.trigger();
        assert!(waiter.await.unwrap());
        let mut late = s.clone();
        late.wait().await; // already fired: returns at once
    }
}
