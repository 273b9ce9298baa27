//! The engine's counters.

/// Counters for the metrics endpoint. Route outcomes are counted per route and record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowMetrics {
    /// Records given to [`WindowEngine::on_record`](super::WindowEngine::on_record).
    pub records_in: u64,
    /// Route outcomes: aggregated into at least one window.
    pub aggregated: u64,
    /// Route outcomes: `WHERE` not true.
    pub filtered: u64,
    /// Route outcomes: late.
    pub late: u64,
    /// Route outcomes: replayed into windows already emitted before a restart.
    pub already_emitted: u64,
    /// Poison records (a decode failure counts once, a route's failure once per route).
    pub poison: u64,
    /// Windows emitted (one per route and window, whatever its group count).
    pub windows_emitted: u64,
    /// Output records emitted (one per group of an emitted window).
    pub outputs_emitted: u64,
    /// Windows closed before the watermark passed them, to respect the memory limits.
    pub forced_closes: u64,
}
