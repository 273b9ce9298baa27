//! The talk's IoT pipeline: devices → MQTT → Kafka → 2-second window per device → Kafka →
//! InfluxDB, declared in KCQL.
//!
//! Today this example compiles the pipeline's three statements for their connectors and prints
//! each plan and the pipeline's topology (Mermaid). The streaming runtime that executes the
//! plans (MQTT source, window processor, InfluxDB sink) is being built (see the README).

use kcql::plan::{explain, explain_pipeline, ExplainFormat};
use kcql::Connector;
use std::process::ExitCode;

/// The pipeline of the talk: one statement per connector.
const PIPELINE: [(Connector, &str); 3] = [
    (
        Connector::MqttSource,
        "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)",
    ),
    (
        Connector::WindowProcessor,
        "INSERT INTO sensor_avg SELECT id, MIN(temperature), MAX(temperature), AVG(temperature) \
         FROM sensor_data GROUP BY id WINDOW TUMBLING(2s)",
    ),
    (
        Connector::InfluxSink,
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP window_end \
         WITHTAG(id, poweredBy=kcql)",
    ),
];

fn main() -> ExitCode {
    println!("kcql iot_pipeline: compiling the pipeline's KCQL\n");
    let mut failed = false;
    let mut plans = Vec::new();
    for (connector, text) in PIPELINE {
        match kcql::compile_str(text, connector) {
            Ok(plan) => {
                println!("{text}");
                println!("{}", explain(&plan, ExplainFormat::Text));
                plans.push(plan);
            }
            Err(d) => {
                eprintln!("{d}");
                failed = true;
            }
        }
    }
    println!(
        "Topology (Mermaid):\n{}",
        explain_pipeline(&plans, ExplainFormat::Mermaid)
    );
    println!(
        "The streaming runtime (MQTT → Kafka → window → InfluxDB) is not built yet; see README.md."
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
