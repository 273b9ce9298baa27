//! Runs the InfluxDB encode path in a loop (for profiling).
use kcql_runtime::connectors::influx_sink::{line_protocol::Precision, point::write_route};
use kcql_runtime::{decode::json, record::RecordView};
fn main() {
    let route = kcql::compile_influx(
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    )
    .unwrap_or_else(|d| panic!("{d}"))
    .routes
    .remove(0);
    let rec = br#"{"id":"SB01","temperature":25.3,"humidity":40,"ts":1700000000000}"#;
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut buf = Vec::with_capacity(1 << 20);
    for _ in 0..n {
        buf.clear();
        let v = json::parse(rec).expect("json");
        write_route(&route, &RecordView::of_value(v), 0, Precision::Ns, &mut buf).expect("point");
    }
    println!("{}", buf.len());
}
