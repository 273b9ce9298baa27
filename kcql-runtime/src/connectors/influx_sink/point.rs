//! One record through one InfluxDB route: `WHERE`, measurement, fields, tags and time, written
//! as a line-protocol point straight into the batch buffer.
//!
//! Field rules (the reference's, with its listed defects fixed): `*` takes every top-level
//! member except IGNOREd/renamed ones; null members are skipped (the reference failed JSON
//! records and skipped Map ones); objects and arrays under `*` fail the record; an explicitly
//! selected field that is missing or null fails the record; later fields overwrite earlier ones
//! of the same name; a field named `time` is not written (InfluxDB reserves it). Tags take the
//! text form of their field and are omitted when it is missing or null. Time: see
//! [`time_ns`]; integer fields are in `TIMESTAMPUNIT`, float fields are epoch seconds (as
//! in the reference, but rounded to the microsecond instead of truncated), strings are ISO-8601; a missing or
//! invalid time fails the record instead of silently using the clock.

use crate::connectors::influx_sink::line_protocol::{
    write_point, FieldValue, PointError, Precision,
};
use crate::eval::{eval, is_true, lookup};
use crate::record::RecordView;
use crate::time::{time_ns, TimeError};
use crate::value::Value;
use kcql::plan::{InfluxRoute, Measurement, PlanExpr, ProjectionItem, TagPlan};
use smallvec::SmallVec;
use std::borrow::Cow;
use thiserror::Error;

/// Why a record produced no point (a poison record, handled by the error policy).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RecordError {
    /// An explicitly selected field is absent or null.
    #[error("field `{0}` is selected but the record has no value for it")]
    MissingField(String),
    /// A value InfluxDB cannot store as a field.
    #[error("field `{name}` is {kind}, which InfluxDB cannot store as a field")]
    UnsupportedField {
        /// The field.
        name: String,
        /// Its type.
        kind: &'static str,
    },
    /// `*` on something that is not an object.
    #[error("cannot take the members of {0}: it is not an object")]
    NotAnObject(String),
    /// The record has no usable time.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// The point was refused by the encoder.
    #[error(transparent)]
    Point(#[from] PointError),
}

/// What happened to a record on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'r> {
    /// A point was appended to the buffer, in this measurement (as the route named it,
    /// unescaped).
    Written(Cow<'r, str>),
    /// `WHERE` was not true.
    Filtered,
}

fn to_field<'v>(name: &str, v: &'v Value<'_>) -> Result<Option<FieldValue<'v>>, RecordError> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Int(n) => FieldValue::Int(*n),
        Value::UInt(n) => FieldValue::UInt(*n),
        Value::Float(f) => FieldValue::Float(*f),
        Value::Str(s) => FieldValue::Str(s),
        other => {
            return Err(RecordError::UnsupportedField {
                name: name.to_string(),
                kind: other.type_name(),
            })
        }
    }))
}

/// The text form of a looked-up value, borrowing when it can.
fn text_of<'r>(v: Cow<'r, Value<'_>>) -> Option<Cow<'r, str>> {
    match v {
        Cow::Borrowed(b) => b.to_text(),
        Cow::Owned(o) => o.to_text().map(|t| Cow::Owned(t.into_owned())),
    }
}

/// Sets `name` to `value`, replacing an earlier field of the same name.
fn put<'r, 'a>(
    entries: &mut SmallVec<[(&'r str, Cow<'r, Value<'a>>); 16]>,
    name: &'r str,
    value: Cow<'r, Value<'a>>,
) {
    if name == "time" {
        return;
    }
    match entries.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value,
        None => entries.push((name, value)),
    }
}

/// Runs `route` on `rec`, appending at most one point to `out` (nothing on error).
/// `now_ns` is the processing time; `precision` the write's timestamp precision.
pub fn write_route<'r, 'a>(
    route: &'r InfluxRoute,
    rec: &'r RecordView<'a>,
    now_ns: i64,
    precision: Precision,
    out: &mut Vec<u8>,
) -> Result<Outcome<'r>, RecordError> {
    let now_ms = now_ns.div_euclid(1_000_000);
    if let Some(f) = &route.filter {
        if !is_true(f, rec, now_ms) {
            return Ok(Outcome::Filtered);
        }
    }
    let mut entries: SmallVec<[(&'r str, Cow<'r, Value<'a>>); 16]> = SmallVec::new();
    for item in &route.fields {
        match item {
            ProjectionItem::Expand { from, exclude } => match lookup(from, rec) {
                None => {}
                Some(Cow::Borrowed(Value::Object(members))) => {
                    for (k, v) in members {
                        if v.is_null() || exclude.iter().any(|e| e == k) {
                            continue;
                        }
                        put(&mut entries, k, Cow::Borrowed(v));
                    }
                }
                Some(v) if v.is_null() => {}
                Some(_) => return Err(RecordError::NotAnObject(from.to_string())),
            },
            ProjectionItem::Field { name, value } => {
                let v = match value {
                    PlanExpr::Field { field } => lookup(field, rec)
                        .filter(|v| !v.is_null())
                        .ok_or_else(|| RecordError::MissingField(field.to_string()))?,
                    computed => eval(computed, rec, now_ms),
                };
                if !v.is_null() {
                    put(&mut entries, name, v);
                }
            }
        }
    }
    let mut fields: SmallVec<[(&str, FieldValue<'_>); 16]> = SmallVec::new();
    for (name, v) in &entries {
        if let Some(f) = to_field(name, v)? {
            fields.push((name, f));
        }
    }
    let mut tag_values: SmallVec<[(&'r str, Cow<'r, str>); 8]> = SmallVec::new();
    for t in &route.tags {
        match t {
            TagPlan::Field { key, field } => {
                if let Some(text) = lookup(field, rec).and_then(text_of) {
                    tag_values.push((key, text));
                }
            }
            TagPlan::Constant { key, value } => {
                tag_values.push((key, Cow::Borrowed(value.as_str())))
            }
        }
    }
    let mut tags: SmallVec<[(&str, &str); 8]> =
        tag_values.iter().map(|(k, v)| (*k, v.as_ref())).collect();
    let measurement: Cow<'r, str> = match &route.measurement {
        Measurement::Static { name } => Cow::Borrowed(name.as_str()),
        Measurement::Field { field, fallback } => lookup(field, rec)
            .and_then(text_of)
            .unwrap_or(Cow::Borrowed(fallback.as_str())),
    };
    let ts = precision.from_nanos(time_ns(&route.timestamp, rec, now_ns)?);
    write_point(out, &measurement, &mut tags, &fields, Some(ts))?;
    Ok(Outcome::Written(measurement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json;
    use kcql::plan::InfluxPlan;

    fn route(kcql: &str) -> InfluxPlan {
        kcql::compile_influx(kcql).unwrap_or_else(|d| panic!("{d}"))
    }

    fn point(kcql: &str, payload: &str, ts_ms: Option<i64>) -> Result<String, RecordError> {
        let plan = route(kcql);
        let mut rec = RecordView::of_value(json::parse(payload.as_bytes()).unwrap());
        rec.timestamp_ms = ts_ms;
        let mut out = Vec::new();
        write_route(
            &plan.routes[0],
            &rec,
            5_000_000_000,
            Precision::Ns,
            &mut out,
        )?;
        Ok(String::from_utf8(out).unwrap())
    }

    const SENSOR: &str =
        r#"{"id":"SB01","temperature":25.3,"humidity":40,"ts":1700000000000,"note":null}"#;

    #[test]
    fn the_pipeline_sink() {
        assert_eq!(
            point("INSERT INTO sensor SELECT * FROM t WITHTIMESTAMP ts WITHTAG(id, poweredBy=kcql)", SENSOR, None).unwrap(),
            "sensor,id=SB01,poweredBy=kcql id=\"SB01\",temperature=25.3,humidity=40i,ts=1700000000000i 1700000000000000000\n"
        );
    }

    #[test]
    fn selection_aliases_ignore_and_default_time() {
        assert_eq!(
            point(
                "INSERT INTO m SELECT *, temperature AS t FROM x IGNORE ts",
                SENSOR,
                Some(1234)
            )
            .unwrap(),
            "m id=\"SB01\",humidity=40i,t=25.3 1234000000\n"
        );
        assert_eq!(
            point("INSERT INTO m SELECT temperature * 2 AS t2, upper(id) AS u FROM x WITHTIMESTAMP sys_time()", SENSOR, None).unwrap(),
            "m t2=50.6,u=\"SB01\" 5000000000\n"
        );
    }

    #[test]
    fn poison_records_are_errors() {
        let q = "INSERT INTO m SELECT nope FROM x WITHTIMESTAMP ts";
        assert_eq!(
            point(q, SENSOR, None),
            Err(RecordError::MissingField("nope".into()))
        );
        assert_eq!(
            point(
                "INSERT INTO m SELECT * FROM x WITHTIMESTAMP nope",
                SENSOR,
                None
            ),
            Err(RecordError::Time(TimeError::MissingField("nope".into())))
        );
        assert!(matches!(
            point("INSERT INTO m SELECT * FROM x", r#"{"a":{"b":1}}"#, Some(1)),
            Err(RecordError::UnsupportedField { .. })
        ));
        assert_eq!(
            point("INSERT INTO m SELECT * FROM x", r#"{"a":1}"#, None),
            Err(RecordError::Time(TimeError::NoRecordTimestamp))
        );
        assert_eq!(
            point("INSERT INTO m SELECT * FROM x", r#"{"a":null}"#, Some(1)),
            Err(RecordError::Point(PointError::NoFields))
        );
    }

    #[test]
    fn where_tags_target_and_time_forms() {
        assert_eq!(
            point(
                "INSERT INTO m SELECT * FROM x WHERE humidity > 50",
                SENSOR,
                Some(1)
            ),
            Ok(String::new())
        );
        assert_eq!(
            point("INSERT INTO m SELECT humidity FROM x WITHTARGET = id WITHTAG(missing, temperature AS t)", SENSOR, Some(1)).unwrap(),
            "SB01,t=25.3 humidity=40i 1000000\n"
        );
        assert_eq!(
            point(
                "INSERT INTO m SELECT a FROM x WITHTIMESTAMP t TIMESTAMPUNIT = SECONDS",
                r#"{"a":1,"t":1700000000}"#,
                None
            )
            .unwrap(),
            "m a=1i 1700000000000000000\n"
        );
        assert_eq!(
            point(
                "INSERT INTO m SELECT a FROM x WITHTIMESTAMP t",
                r#"{"a":1,"t":"2017-03-28T09:26:16.034Z"}"#,
                None
            )
            .unwrap(),
            "m a=1i 1490693176034000000\n"
        );
        assert_eq!(
            point(
                "INSERT INTO m SELECT a FROM x WITHTIMESTAMP t",
                r#"{"a":1,"t":1490693176.0345}"#,
                None
            )
            .unwrap(),
            "m a=1i 1490693176034500000\n"
        );
    }
}
