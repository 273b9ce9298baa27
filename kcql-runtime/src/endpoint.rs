//! The operations endpoint: `GET /metrics` (Prometheus text) and `GET /health` (JSON).
//!
//! `/health` answers `200` when every
//! registered component is `running` or `degraded` (working, but e.g. retrying a sink that is
//! down), `503` when one is `starting`, `failed` or `stopped`; the body lists each component's
//! state and reason. The HTTP server ([`Endpoint`]: axum on hyper, a connection limit,
//! graceful shutdown) is in `endpoint/server.rs`.

mod server;

pub use crate::component::{ComponentState, Health};
pub use server::{Endpoint, EndpointError};
