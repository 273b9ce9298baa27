//! Metrics in the Prometheus text exposition format.
//!
//! A [`Registry`] holds metric families (counter, gauge, histogram) by name; each family holds
//! one series per label set. Getting a series is a map lookup under a lock, so components
//! look their series up once and keep the returned `Arc` for the hot path, where an update is
//! one atomic operation. [`Registry::render`] writes the whole registry as Prometheus text
//! (served on `/metrics` by [`crate::endpoint`]).
//!
//! ```
//! use kcql_runtime::metrics::Registry;
//! let registry = Registry::default();
//! let written = registry.counter("kcql_records_total", "Records handled.", &[("outcome", "written")]);
//! written.add(3);
//! assert!(registry.render().contains("kcql_records_total{outcome=\"written\"} 3\n"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `d` (may be negative).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bucket upper bounds (seconds) used for latencies: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A distribution of observations in fixed buckets (cumulative on output).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound plus the `+Inf` bucket (not cumulative).
    counts: Vec<AtomicU64>,
    /// Sum of observations, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self
                .sum
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }

    /// How many observations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The sum of all observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

impl Series {
    fn type_name(&self) -> &'static str {
        match self {
            Series::Counter(_) => "counter",
            Series::Gauge(_) => "gauge",
            Series::Histogram(_) => "histogram",
        }
    }
}

#[derive(Debug)]
struct Family {
    help: String,
    /// Rendered label set (`a="x",b="y"`, possibly empty) → series.
    series: BTreeMap<String, Series>,
}

/// All metrics of one process, shared by its components.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Family>>,
}

impl Registry {
    /// The counter `name{labels}`, created on first use.
    ///
    /// A name registered before with another type gets a fresh series that is not rendered
    /// (a programming error, not worth a panic in a connector).
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Counter> {
        match self.series(name, help, labels, || {
            Series::Counter(Arc::new(Counter::default()))
        }) {
            Series::Counter(c) => c,
            _ => Arc::new(Counter::default()),
        }
    }

    /// The gauge `name{labels}`, created on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<Gauge> {
        match self.series(name, help, labels, || {
            Series::Gauge(Arc::new(Gauge::default()))
        }) {
            Series::Gauge(g) => g,
            _ => Arc::new(Gauge::default()),
        }
    }

    /// The histogram `name{labels}` with `bounds` (seconds for latencies, see
    /// [`LATENCY_BUCKETS`]), created on first use.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &'static [f64],
    ) -> Arc<Histogram> {
        match self.series(name, help, labels, || {
            Series::Histogram(Arc::new(Histogram::new(bounds)))
        }) {
            Series::Histogram(h) => h,
            _ => Arc::new(Histogram::new(bounds)),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Series,
    ) -> Series {
        let key = render_labels(labels);
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = families.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            series: BTreeMap::new(),
        });
        let fresh = make();
        if let Some(existing) = family.series.values().next() {
            if existing.type_name() != fresh.type_name() {
                return fresh;
            }
        }
        family.series.entry(key).or_insert(fresh).clone()
    }

    /// The whole registry in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, family) in families.iter() {
            let Some(first) = family.series.values().next() else {
                continue;
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} {}", first.type_name());
            for (labels, series) in &family.series {
                match series {
                    Series::Counter(c) => line(&mut out, name, labels, "", c.get() as f64),
                    Series::Gauge(g) => line(&mut out, name, labels, "", g.get() as f64),
                    Series::Histogram(h) => {
                        let mut cumulative = 0u64;
                        for (i, count) in h.counts.iter().enumerate() {
                            cumulative += count.load(Ordering::Relaxed);
                            let le = match h.bounds.get(i) {
                                Some(b) => format_float(*b),
                                None => "+Inf".to_string(),
                            };
                            let with_le = if labels.is_empty() {
                                format!("le=\"{le}\"")
                            } else {
                                format!("{labels},le=\"{le}\"")
                            };
                            line(&mut out, name, &with_le, "_bucket", cumulative as f64);
                        }
                        line(&mut out, name, labels, "_sum", h.sum());
                        line(&mut out, name, labels, "_count", cumulative as f64);
                    }
                }
            }
        }
        out
    }
}

fn line(out: &mut String, name: &str, labels: &str, suffix: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name}{suffix} {}", format_float(value));
    } else {
        let _ = writeln!(out, "{name}{suffix}{{{labels}}} {}", format_float(value));
    }
}

fn format_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_and_labels_share_one_series() {
        let r = Registry::default();
        r.counter("c_total", "h", &[("a", "1")]).add(2);
        r.counter("c_total", "h", &[("a", "1")]).add(3);
        r.counter("c_total", "h", &[("a", "2")]).inc();
        let text = r.render();
        assert!(text.contains("# TYPE c_total counter\n"), "{text}");
        assert!(text.contains("c_total{a=\"1\"} 5\n"), "{text}");
        assert!(text.contains("c_total{a=\"2\"} 1\n"), "{text}");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let r = Registry::default();
        let h = r.histogram("lat_seconds", "h", &[], &[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        let text = r.render();
        assert!(
            text.contains("lat_seconds_bucket{le=\"0.1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_bucket{le=\"1\"} 2\n"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_count 3\n"), "{text}");
        assert!(text.contains("lat_seconds_sum 5.55\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let r = Registry::default();
        r.gauge("g", "h", &[("m", "a\"b\\c\nd")]).set(-4);
        assert!(r.render().contains("g{m=\"a\\\"b\\\\c\\nd\"} -4\n"));
    }

    #[test]
    fn a_type_clash_does_not_corrupt_the_family() {
        let r = Registry::default();
        r.counter("x", "h", &[]).inc();
        r.gauge("x", "h", &[]).set(9);
        let text = r.render();
        assert!(text.contains("x 1\n") && !text.contains("x 9"), "{text}");
    }
}
