//! Live progress from the pipeline's shared metrics registry (the same numbers `/metrics`
//! serves): read the Prometheus text once per second and sum the series of each component.

use std::collections::BTreeMap;

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_bucket`/`_sum`/`_count` for histograms).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Parses the Prometheus text exposition format (comments skipped, escapes in label values
/// undone).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        None => (head.to_string(), BTreeMap::new()),
        Some((name, rest)) => (name.to_string(), parse_labels(rest.strip_suffix('}')?)),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

fn parse_labels(mut rest: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = &after[end..];
    }
    labels
}

/// The sum of `name` over the series of `component`.
pub fn sum(samples: &[Sample], name: &str, component: &str) -> Option<f64> {
    let mut found = None;
    for s in samples {
        if s.name == name && s.labels.get("component").map(String::as_str) == Some(component) {
            *found.get_or_insert(0.0) += s.value;
        }
    }
    found
}

/// The first of `names` that `component` has, summed over its series.
pub fn first_of(samples: &[Sample], names: &[&str], component: &str) -> Option<f64> {
    names.iter().find_map(|n| sum(samples, n, component))
}

/// The pipeline's component names (from the pipeline file).
#[derive(Debug, Clone)]
pub struct Components {
    /// The MQTT source.
    pub source: String,
    /// The window processor.
    pub processor: String,
    /// The InfluxDB sink.
    pub sink: String,
}

/// The figures shown once per second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Records the MQTT source wrote to Kafka.
    pub messages_in: Option<f64>,
    /// Window results the processor emitted.
    pub windows: Option<f64>,
    /// Points InfluxDB accepted.
    pub points: Option<f64>,
    /// Consumer lag of the processor (records).
    pub processor_lag: Option<f64>,
    /// Consumer lag of the sink (records).
    pub sink_lag: Option<f64>,
}

/// Metric names a component's figure may be exposed under, most specific first.
const SOURCE_OUT: &[&str] = &[
    "kcql_mqtt_messages_written_total",
    "kcql_records_written_total",
    "kcql_records_produced_total",
];
const WINDOWS_OUT: &[&str] = &[
    "kcql_window_outputs_total",
    "kcql_records_produced_total",
    "kcql_records_written_total",
];
const POINTS: &[&str] = &["kcql_points_written_total"];
const LAG: &[&str] = &["kcql_consumer_lag"];

impl Figures {
    /// Reads the figures from the registry's Prometheus text.
    pub fn read(text: &str, components: &Components) -> Figures {
        let samples = parse(text);
        Figures {
            messages_in: first_of(&samples, SOURCE_OUT, &components.source),
            windows: first_of(&samples, WINDOWS_OUT, &components.processor),
            points: first_of(&samples, POINTS, &components.sink),
            processor_lag: first_of(&samples, LAG, &components.processor),
            sink_lag: first_of(&samples, LAG, &components.sink),
        }
    }
}

/// `-` for a figure not (yet) exposed, else the integer.
pub fn show(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_component_sums() {
        let text = "# HELP x h\n# TYPE x counter\nkcql_points_written_total{component=\"influx\",measurement=\"sensor\"} 12\nkcql_consumer_lag{component=\"influx\",topic=\"a\",partition=\"0\"} 3\nkcql_consumer_lag{component=\"influx\",topic=\"a\",partition=\"1\"} 4\nup 1\n";
        let c = Components {
            source: "devices".into(),
            processor: "averages".into(),
            sink: "influx".into(),
        };
        let f = Figures::read(text, &c);
        assert_eq!(f.points, Some(12.0));
        assert_eq!(f.sink_lag, Some(7.0));
        assert_eq!(f.windows, None);
        let s = parse("m{a=\"x\\\"y\",b=\"z\"} 1.5\n");
        assert_eq!(s[0].labels["a"], "x\"y");
        assert_eq!(s[0].labels["b"], "z");
        assert_eq!(s[0].value, 1.5);
    }
}
