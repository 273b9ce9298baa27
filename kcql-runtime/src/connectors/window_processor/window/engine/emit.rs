//! Closing windows and taking their outputs, one record per closed window and group.

use crate::encode::json::write_json;
use crate::encode::EncodeError;
use crate::value::Value;

use super::super::aggregate::Accumulator;
use super::super::output::group_key_bytes;
use super::route::GroupState;
use super::WindowEngine;

/// One closed window's result for one group: a record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOutput {
    /// Route index.
    pub route: usize,
    /// Target topic (`INSERT INTO`).
    pub topic: String,
    /// Kafka key: the group key (see [`output`](super::super::output)); `None` without `GROUP BY`.
    pub key: Option<Vec<u8>>,
    /// The value in the processor's output format; the JSON text of the value when it
    /// cannot be written in that format (see `encode_error`).
    pub value: Vec<u8>,
    /// Why the value does not fit the output format (an Avro schema): a poison output for
    /// the processor's error policy.
    pub encode_error: Option<EncodeError>,
    /// Kafka timestamp: the window end (epoch ms).
    pub timestamp_ms: i64,
    /// Window start (epoch ms, inclusive).
    pub window_start: i64,
    /// Window end (epoch ms, exclusive).
    pub window_end: i64,
    /// Emission number: 0, 1, 2 … over the engine's life, in emission order.
    pub sequence: u64,
}

impl WindowEngine {
    /// End of input (shutdown with a final flush, tests): closes every held window, so the
    /// next [`take_closed`](Self::take_closed) emits them all. Later records for them are late.
    pub fn close_all(&mut self) {
        for r in &mut self.routes {
            if let Some((&start, _)) = r.windows.last_key_value() {
                let end = r.shape.end(start);
                r.close_through(end);
            }
        }
    }

    /// Takes the closed windows' outputs, ordered by route, window start, then group key.
    pub fn take_closed(&mut self) -> Vec<WindowOutput> {
        let mut out = Vec::new();
        let now_ms = self.now_ms.max(0);
        for (index, r) in self.routes.iter_mut().enumerate() {
            r.emitted_through = r.closed_through;
            let Some(closed) = r.closed_through else {
                continue;
            };
            // Windows with end <= closed, i.e. start <= closed - size, except those a
            // catching-up partition has not passed yet.
            let keep_from = closed.saturating_sub(r.shape.size_ms).saturating_add(1);
            let open = r.windows.split_off(&keep_from);
            let mut done = std::mem::replace(&mut r.windows, open);
            let waiting: Vec<i64> = done
                .iter()
                .filter(|(start, w)| r.waits_for_catch_up(w, r.shape.end(**start)))
                .map(|(start, _)| *start)
                .collect();
            for start in waiting {
                if let Some(w) = done.remove(&start) {
                    r.windows.insert(start, w);
                }
            }
            for (start, w) in done {
                let end = r.shape.end(start);
                self.open_windows -= 1;
                self.groups -= w.groups.len();
                self.metrics.windows_emitted += 1;
                let mut groups: Vec<(Vec<u8>, GroupState)> = w.groups.into_iter().collect();
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                for (_, g) in groups {
                    let mut parts = g.parts.into_iter();
                    let Some((_, mut accs)) = parts.next() else {
                        continue;
                    };
                    for (_, other) in parts {
                        for (a, b) in accs.iter_mut().zip(&other) {
                            a.merge(b);
                        }
                    }
                    let results: Vec<Value<'static>> =
                        accs.iter().map(Accumulator::result).collect();
                    let rendered = r.output.render(&g.values, &results, (start, end), now_ms);
                    let (value, encode_error) = match r.encoder.encode(&r.route.target, &rendered) {
                        Ok(value) => (value, None),
                        Err(e) => {
                            let mut json = Vec::with_capacity(128);
                            write_json(&rendered, &mut json);
                            (json, Some(e))
                        }
                    };
                    out.push(WindowOutput {
                        route: index,
                        topic: r.route.target.clone(),
                        key: group_key_bytes(&g.values),
                        value,
                        encode_error,
                        timestamp_ms: end,
                        window_start: start,
                        window_end: end,
                        sequence: self.next_sequence,
                    });
                    self.next_sequence += 1;
                    self.metrics.outputs_emitted += 1;
                }
            }
        }
        out
    }
}
