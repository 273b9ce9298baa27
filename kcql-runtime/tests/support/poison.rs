//! Poison records for the InfluxDB sink: the kinds a sink must skip or stop on, and the records
//! of a poison test (statement [`POISON_KCQL`]: record `{"id","v","ts"}` → point `m,id=… v=…`).

use kcql_testkit::kafka::ProduceRecord;
use serde_json::json;

/// What a test record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A record that becomes a point.
    Good,
    /// Not JSON at all (decode-level poison).
    BadJson,
    /// No `ts` (the WITHTIMESTAMP field): decode-level poison.
    MissingTime,
    /// `v` is a string where earlier records wrote a float: InfluxDB rejects the line.
    TypeConflict,
}

impl Kind {
    /// The skip reason the sink reports for it.
    pub fn class(self) -> &'static str {
        match self {
            Kind::Good => "",
            Kind::BadJson => "decode_error",
            Kind::MissingTime => "missing_time",
            Kind::TypeConflict => "rejected_by_influxdb",
        }
    }
}

/// The statement of the poison tests (`{topic}` to be replaced).
pub const POISON_KCQL: &str =
    "INSERT INTO m SELECT v FROM {topic} WITHTIMESTAMP ts TIMESTAMPUNIT = NANOSECONDS WITHTAG(id)";

/// The record `i` of a poison test: key `k<i>`, a header, and a payload of `kind`, on
/// partition 0 (override with [`ProduceRecord::partition`]). A good record's point time is
/// `base + i`.
pub fn poison_record(base: i64, i: i64, kind: Kind) -> ProduceRecord {
    let payload = match kind {
        Kind::Good => json!({"id": "a", "v": i as f64 + 0.5, "ts": base + i}).to_string(),
        Kind::BadJson => format!("{{\"id\": \"a\", \"v\": {i}, oops"),
        Kind::MissingTime => json!({"id": "a", "v": i as f64 + 0.5}).to_string(),
        Kind::TypeConflict => {
            json!({"id": "a", "v": format!("text-{i}"), "ts": base + i}).to_string()
        }
    };
    ProduceRecord::new(payload)
        .key(format!("k{i}"))
        .partition(0)
        .header("origin", format!("rec-{i}"))
}
