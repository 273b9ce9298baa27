//! The talk's IoT pipeline: devices → MQTT → Kafka → 2-second window per device → Kafka →
//! InfluxDB, declared in KCQL.
//!
//! Today this example parses and checks the pipeline's three KCQL statements and prints them in
//! canonical form with what each one routes. The streaming runtime (MQTT source, window
//! processor, InfluxDB sink) that will execute them is being built (see the README's status).

use std::process::ExitCode;

/// The pipeline of the talk: one statement per connector.
const PIPELINE: [(&str, &str); 3] = [
    (
        "MQTT source",
        "INSERT INTO sensor_data SELECT * FROM /sensors/+ WITHKEY(id)",
    ),
    (
        "InfluxDB sink",
        "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)",
    ),
    (
        "MQTT source (shared subscription)",
        "INSERT INTO sensor_data SELECT * FROM $share/kcql/sensors/+ WITHKEY(id) KEYDELIMITER='-'",
    ),
];

fn main() -> ExitCode {
    println!("kcql iot_pipeline: checking the pipeline's KCQL\n");
    let mut failed = false;
    for (role, text) in PIPELINE {
        match kcql::parse(text) {
            Ok(stmt) => {
                let fields = stmt.selected_fields();
                println!("{role}");
                println!("  canonical: {stmt}");
                println!(
                    "  routes {} → {} ({} field list entr{}, key {:?}, tags {:?})",
                    stmt.source,
                    stmt.target().unwrap_or("-"),
                    fields.fields.len(),
                    if fields.fields.len() == 1 { "y" } else { "ies" },
                    stmt.with_key_names().unwrap_or_default(),
                    stmt.tags
                        .as_ref()
                        .map(|t| t.iter().map(|t| t.key.clone()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                );
                println!();
            }
            Err(d) => {
                eprintln!("{role}: {d}");
                failed = true;
            }
        }
    }
    println!(
        "The streaming runtime (MQTT → Kafka → window → InfluxDB) is not built yet; see README.md."
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
