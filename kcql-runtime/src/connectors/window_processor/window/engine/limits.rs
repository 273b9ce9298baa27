//! The memory bound: closing the oldest open windows early when a limit is exceeded.

use super::WindowEngine;

impl WindowEngine {
    /// Closes the oldest open windows while a memory limit is exceeded (counting the windows
    /// not yet closed; closed ones are freed by `take_closed`).
    pub(super) fn enforce_limits(&mut self) {
        if self.open_windows <= self.settings.max_open_windows
            && self.groups <= self.settings.max_groups
        {
            return;
        }
        while self.over_limit_counting_open_only() {
            let oldest = self
                .routes
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.oldest_open().map(|(end, _)| (end, i)))
                .min();
            let Some((end, route)) = oldest else {
                break;
            };
            self.routes[route].close_through(end);
            self.metrics.forced_closes += 1;
        }
    }

    /// Whether the windows still open (not closed) exceed the limits.
    fn over_limit_counting_open_only(&self) -> bool {
        let (mut windows, mut groups) = (0, 0);
        for r in &self.routes {
            for (s, w) in &r.windows {
                if !r.is_closed(r.shape.end(*s)) {
                    windows += 1;
                    groups += w.groups.len();
                }
            }
        }
        windows > self.settings.max_open_windows || groups > self.settings.max_groups
    }
}
