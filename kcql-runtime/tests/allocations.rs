//! Measures how much the hot path allocates, with a counting global allocator: decoding a
//! sensor record copies no string (names and values borrow from the payload), and turning it
//! into a line-protocol point allocates nothing beyond the decoded object's member vector.

use kcql_runtime::connectors::influx_sink::line_protocol::Precision;
use kcql_runtime::connectors::influx_sink::point::write_route;
use kcql_runtime::decode::json;
use kcql_runtime::record::RecordView;
use kcql_testkit::alloc_count::{counted, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const SENSOR: &[u8] = br#"{"id":"SB01","temperature":25.3,"humidity":40,"ts":1700000000000}"#;

#[test]
fn decode_and_encode_allocate_only_the_member_vector() {
    let route = kcql::compile_influx(
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    )
    .unwrap_or_else(|d| panic!("{d}"))
    .routes
    .remove(0);
    let mut buf = Vec::with_capacity(4096);
    // Warm up (thread-locals, lazy statics).
    let v = json::parse(SENSOR).expect("json");
    write_route(&route, &RecordView::of_value(v), 0, Precision::Ns, &mut buf).expect("point");
    buf.clear();

    let (value, allocs, bytes) = counted(|| json::parse(SENSOR).expect("json"));
    assert_eq!(
        allocs, 1,
        "decoding should allocate only the object's member vector"
    );
    assert!(
        bytes < SENSOR.len() * 4,
        "{bytes} bytes allocated for a {}-byte payload",
        SENSOR.len()
    );

    let rec = RecordView::of_value(value);
    let (_, allocs, _) =
        counted(|| write_route(&route, &rec, 0, Precision::Ns, &mut buf).expect("point"));
    assert_eq!(allocs, 0, "evaluating and encoding should not allocate");
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "sensor,id=SB01,poweredBy=kcql id=\"SB01\",temperature=25.3,humidity=40i,ts=1700000000000i 1700000000000000000\n"
    );
}
