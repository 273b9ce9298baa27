//! The Avro schema of a route's output records, derived from the plan when the processor
//! writes `avro` or `confluent_avro` without an `avro_schema_out`.
//!
//! A record `kcql.WindowResult` with the output's members in output order:
//!
//! | member | Avro type |
//! | --- | --- |
//! | `window_start`, `window_end` | `long` (`timestamp-millis`) |
//! | `COUNT(…)` | `long` |
//! | `AVG(…)` | `["null", "double"]` |
//! | `SUM(…)` | `["null", "long", "double"]` (exact integer sums stay `long`) |
//! | `GROUP BY` fields, `MIN`, `MAX`, `FIRST`, `LAST`, computed items | `["null", "long", "double", "string", "boolean"]`: their type depends on the input |
//!
//! An input value of another kind (an object, an array, bytes) does not fit the derived
//! schema: that window result is a poison output (error policy). Give `avro_schema_out` to
//! pin the types (one schema for every route's output).

use kcql::functions::Function;
use kcql::plan::AggregatePlan;
use serde_json::{json, Value as Json};

use super::{OutputPlan, Source};

/// Any scalar an input field or computed item may hold.
fn scalar() -> Json {
    json!(["null", "long", "double", "string", "boolean"])
}

/// True for a valid Avro name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_avro_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl OutputPlan {
    /// The derived output schema (JSON text) of this route, whose aggregates are
    /// `aggregates`; an output name that is not a valid Avro name is an error naming it.
    pub(crate) fn avro_schema(&self, aggregates: &[AggregatePlan]) -> Result<String, String> {
        let timestamp = json!({"type": "long", "logicalType": "timestamp-millis"});
        // Output order, a repeated name replacing the member in place (as `render` does).
        let mut fields: Vec<(&str, Json)> = Vec::new();
        fn put<'n>(fields: &mut Vec<(&'n str, Json)>, name: &'n str, ty: Json) {
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = ty,
                None => fields.push((name, ty)),
            }
        }
        for name in &self.group_names {
            put(&mut fields, name, scalar());
        }
        put(&mut fields, "window_start", timestamp.clone());
        put(&mut fields, "window_end", timestamp);
        for (name, source) in &self.items {
            let ty = match source {
                Source::Aggregate(i) => match aggregates.get(*i).map(|a| a.function) {
                    Some(Function::Count) => json!("long"),
                    Some(Function::Avg) => json!(["null", "double"]),
                    Some(Function::Sum) => json!(["null", "long", "double"]),
                    _ => scalar(),
                },
                Source::Group(_) | Source::Computed { .. } => scalar(),
            };
            put(&mut fields, name, ty);
        }
        if let Some((bad, _)) = fields.iter().find(|(n, _)| !is_avro_name(n)) {
            return Err(format!(
                "output field `{bad}` is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*): rename it with AS, or give avro_schema_out"
            ));
        }
        let fields: Vec<Json> = fields
            .into_iter()
            .map(|(name, ty)| json!({"name": name, "type": ty}))
            .collect();
        Ok(json!({
            "type": "record",
            "name": "WindowResult",
            "namespace": "kcql",
            "fields": fields,
        })
        .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::AvroSchema;

    fn route(kcql: &str) -> kcql::plan::WindowRoute {
        kcql::compile_processor(kcql)
            .expect("valid KCQL")
            .routes
            .remove(0)
    }

    #[test]
    fn types_follow_the_aggregates() {
        let r = route("INSERT INTO o SELECT id, COUNT(*) AS n, AVG(t) AS avg_t, SUM(t) AS s, MAX(t) AS hi FROM i GROUP BY id WINDOW TUMBLING(1s)");
        let plan = OutputPlan::new(&r.group_by, &r.outputs);
        let text = plan.avro_schema(&r.aggregates).expect("derived");
        AvroSchema::parse(&text).expect("a valid Avro schema");
        let doc: Json = serde_json::from_str(&text).expect("json");
        let fields: Vec<(String, Json)> = doc["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().expect("name").to_string(),
                    f["type"].clone(),
                )
            })
            .collect();
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["id", "window_start", "window_end", "n", "avg_t", "s", "hi"]
        );
        assert_eq!(fields[3].1, json!("long"));
        assert_eq!(fields[4].1, json!(["null", "double"]));
        assert_eq!(fields[1].1["logicalType"], "timestamp-millis");
        assert_eq!(fields[6].1, scalar());
    }

    #[test]
    fn names_that_avro_refuses_are_errors() {
        let r = route("INSERT INTO o SELECT COUNT(*) AS `n-1` FROM i WINDOW TUMBLING(1s)");
        let plan = OutputPlan::new(&r.group_by, &r.outputs);
        let e = plan.avro_schema(&r.aggregates).expect_err("n-1");
        assert!(e.contains("`n-1`"), "{e}");
    }
}
