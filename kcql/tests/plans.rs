//! Plan snapshots: every spec of the corpus (`kcql/tests/specs/**/*.kcql`, except the invalid
//! ones under `errors/`) compiled for each connector. The snapshot holds, per connector, the
//! plan as `kcql explain` text or the rendered rejection, so both plans and connector-rejection
//! messages are reviewed.

use kcql::plan::{explain, ExplainFormat};
use kcql::Connector;

const CONNECTORS: [Connector; 3] = [
    Connector::MqttSource,
    Connector::InfluxSink,
    Connector::WindowProcessor,
];

#[test]
fn plans_for_every_valid_spec() {
    insta::glob!("specs/**/*.kcql", |path| {
        if path.components().any(|c| c.as_os_str() == "errors") {
            return;
        }
        let src = std::fs::read_to_string(path).expect("read spec");
        kcql::parse_many(&src).unwrap_or_else(|d| panic!("{}: {d}", path.display()));
        let mut out = String::new();
        for c in CONNECTORS {
            out.push_str(&format!("== {c}\n"));
            match kcql::compile_str(&src, c) {
                Ok(plan) => {
                    assert_eq!(plan.connector(), c);
                    out.push_str(&explain(&plan, ExplainFormat::Text));
                }
                Err(d) => {
                    let rendered = d.to_string();
                    assert!(rendered.starts_with("error: "), "{rendered}");
                    out.push_str(&rendered);
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        insta::assert_snapshot!(out);
    });
}

/// The DESIGN pipeline: each statement compiles for its connector; the plans as JSON.
#[test]
fn pipeline_plans_as_json() {
    let cases = [
        (Connector::MqttSource, "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)"),
        (
            Connector::WindowProcessor,
            "INSERT INTO sensor_avg SELECT id, MIN(temperature), MAX(temperature), AVG(temperature) \
             FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)",
        ),
        (
            Connector::InfluxSink,
            "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
        ),
    ];
    for (c, src) in cases {
        let plan = kcql::compile_str(src, c).unwrap_or_else(|d| panic!("{d}"));
        insta::assert_json_snapshot!(format!("pipeline_{c}"), plan);
    }
}

/// The pipeline's three plans drawn as one graph: each Kafka topic is one node, written by
/// one connector and read by the next.
#[test]
fn pipeline_topology_joins_shared_topics() {
    let plans: Vec<kcql::Plan> = [
        (Connector::MqttSource, "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)"),
        (
            Connector::WindowProcessor,
            "INSERT INTO sensor_avg SELECT id, avg(temperature) FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)",
        ),
        (Connector::InfluxSink, "INSERT INTO sensor SELECT * FROM sensor_avg WITHTAG(id)"),
    ]
    .into_iter()
    .map(|(c, s)| kcql::compile_str(s, c).unwrap_or_else(|d| panic!("{d}")))
    .collect();
    let mermaid = kcql::plan::explain_pipeline(&plans, ExplainFormat::Mermaid);
    assert_eq!(
        mermaid.matches("[(\"kafka: sensor_data\")]").count(),
        1,
        "{mermaid}"
    );
    assert!(
        mermaid.contains("n0 --> r0 --> n1\n  n1 --> r1 --> n2\n  n2 --> r2 --> n3"),
        "{mermaid}"
    );
    let dot = kcql::plan::explain_pipeline(&plans, ExplainFormat::Dot);
    assert!(dot.contains("n1 -> r1 -> n2;"), "{dot}");
}

/// A statement built in code never went through the parser's window check; compiling it for
/// the window processor still refuses a window that puts each record in more than
/// `MAX_WINDOWS_PER_RECORD` windows, and accepts one at the limit.
#[test]
fn processor_refuses_too_many_windows_per_record_in_code_built_statements() {
    use kcql::ast::{Duration, Window, WindowKind, MAX_WINDOWS_PER_RECORD};
    let mut stmt =
        kcql::parse("INSERT INTO o SELECT id, max(t) AS m FROM s GROUP BY id WINDOW TUMBLING(2s)")
            .unwrap_or_else(|d| panic!("{d}"));
    let hopping = |size: u64, advance: u64| Window {
        kind: WindowKind::Hopping {
            size: Duration { millis: size },
            advance: Duration { millis: advance },
        },
        grace: None,
    };
    stmt.window = Some(hopping(MAX_WINDOWS_PER_RECORD, 1));
    kcql::compile(std::slice::from_ref(&stmt), Connector::WindowProcessor)
        .unwrap_or_else(|d| panic!("{d}"));
    stmt.window = Some(hopping(86_400_000, 1));
    let d = kcql::compile(std::slice::from_ref(&stmt), Connector::WindowProcessor)
        .expect_err("86.4 M windows per record");
    assert_eq!(
        d.iter().map(|d| d.kind.clone()).collect::<Vec<_>>(),
        [kcql::ErrorKind::TooManyWindows {
            count: 86_400_000,
            max: MAX_WINDOWS_PER_RECORD
        }],
        "{d}"
    );
}

/// ⌈size / advance⌉ windows per record: a ratio just past the limit is refused even when the
/// advance does not divide the size.
#[test]
fn windows_per_record_rounds_up() {
    for (src, ok) in [
        ("HOPPING(10s, 1ms)", true),
        ("HOPPING(10001ms, 1ms)", false),
        ("HOPPING(20000ms, 2ms)", true),
        ("HOPPING(20001ms, 2ms)", false),
        ("TUMBLING(1d)", true),
    ] {
        let text = format!("INSERT INTO o SELECT id, max(t) AS m FROM s GROUP BY id WINDOW {src}");
        assert_eq!(kcql::parse(&text).is_ok(), ok, "{src}");
    }
}
