//! The connectors, one folder each: its configuration (`config`), its component (what `run`
//! hosts) and its engine. Connectors share the runtime's common modules (`kafka`, `decode`,
//! `record`, `eval`, `config`, `metrics` …) and never import each other.
//!
//! * [`influx_sink`]: Kafka → InfluxDB (line protocol over the v1 and v2 write APIs).
//! * [`mqtt_source`]: MQTT → Kafka, acknowledging to the broker after Kafka confirmed.
//! * [`window_processor`]: Kafka → tumbling/hopping window aggregates → Kafka.

pub mod influx_sink;
pub mod mqtt_source;
pub mod window_processor;
