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
    write_fields, FieldValue, PointError, Precision,
};
use crate::eval::{eval, is_true, lookup};
use crate::record::RecordView;
use crate::time::{time_ns, TimeError};
use crate::value::{same_name, Value};
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

/// The point's fields so far, by name, each borrowing its value from the record or from the
/// route's computed values: later fields replace earlier ones of the same name, `time` is
/// never one.
struct Fields<'s, 'a> {
    list: SmallVec<[(&'s str, &'s Value<'a>); 16]>,
    /// Once the list is long, a 128-bit filter of the names' hashes: a name whose bit is not
    /// set is new, so the linear search is skipped (the usual case for `*`).
    seen: u128,
}

/// Up to this many fields, a new name is searched for linearly (cheaper than hashing).
const LINEAR_FIELDS: usize = 8;

impl<'s, 'a> Fields<'s, 'a> {
    fn new() -> Self {
        Fields {
            list: SmallVec::new(),
            seen: 0,
        }
    }

    /// Sets `name` to `value`, replacing an earlier field of the same name.
    #[inline]
    fn put(&mut self, name: &'s str, value: &'s Value<'a>) {
        if name == "time" {
            return;
        }
        let len = self.list.len();
        let maybe_seen = if len < LINEAR_FIELDS {
            true
        } else {
            if len == LINEAR_FIELDS {
                self.seen = self.list.iter().fold(0, |m, (k, _)| m | name_bit(k));
            }
            let bit = name_bit(name);
            let seen = self.seen & bit != 0;
            self.seen |= bit;
            seen
        };
        if maybe_seen {
            if let Some(slot) = self.list.iter_mut().find(|(k, _)| same_name(k, name)) {
                slot.1 = value;
                return;
            }
        }
        self.list.push((name, value));
    }
}

/// One bit of 128 chosen by a hash of `name` (its length, first and last bytes up to eight).
#[inline]
fn name_bit(name: &str) -> u128 {
    let b = name.as_bytes();
    let n = b.len();
    let word = |s: &[u8]| s.iter().fold(0u64, |w, c| w << 8 | u64::from(*c));
    let (head, tail) = if n >= 8 {
        (word(&b[..8]), word(&b[n - 8..]))
    } else {
        (word(b), n as u64)
    };
    let h = (head ^ tail.rotate_left(29) ^ (n as u64) << 56).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    1u128 << (h >> 57)
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
    if let [ProjectionItem::Expand { from, exclude }] = route.fields.as_slice() {
        if let (true, Some(Cow::Borrowed(Value::Object(members)))) =
            (exclude.is_empty(), lookup(from, rec))
        {
            if distinct_names(members) {
                // `SELECT *` of an object without repeated names: its members are the fields.
                let fields = members
                    .iter()
                    .filter(|(k, v)| !v.is_null() && k != "time")
                    .map(|(k, v)| (k.as_ref(), v));
                return finish(route, rec, now_ns, precision, fields, out);
            }
        }
    }
    // The named projections' values first, in order, so that every field below borrows.
    let selected: SmallVec<[Option<Cow<'r, Value<'a>>>; 8]> = route
        .fields
        .iter()
        .filter_map(|item| match item {
            ProjectionItem::Field {
                value: PlanExpr::Field { field },
                ..
            } => Some(lookup(field, rec)),
            ProjectionItem::Field { value, .. } => Some(Some(eval(value, rec, now_ms))),
            ProjectionItem::Expand { .. } => None,
        })
        .collect();
    let mut selected_values = selected.iter();
    let mut fields = Fields::new();
    for item in &route.fields {
        match item {
            ProjectionItem::Expand { from, exclude } => match lookup(from, rec) {
                None => {}
                Some(Cow::Borrowed(Value::Object(members))) => {
                    for (k, v) in members {
                        if v.is_null() || (!exclude.is_empty() && exclude.iter().any(|e| e == k)) {
                            continue;
                        }
                        fields.put(k, v);
                    }
                }
                Some(v) if v.is_null() => {}
                Some(_) => return Err(RecordError::NotAnObject(from.to_string())),
            },
            ProjectionItem::Field { name, value } => {
                let v = selected_values
                    .next()
                    .and_then(Option::as_deref)
                    .filter(|v| !v.is_null());
                match (v, value) {
                    (Some(v), _) => fields.put(name, v),
                    (None, PlanExpr::Field { field }) => {
                        return Err(RecordError::MissingField(field.to_string()))
                    }
                    (None, _) => {}
                }
            }
        }
    }
    finish(
        route,
        rec,
        now_ns,
        precision,
        fields.list.iter().map(|(k, v)| (*k, *v)),
        out,
    )
}

/// Whether no two members of an object have the same name (so `*` needs no replacing): pairs
/// compared by length and end bytes, or for a large object first by a 128-bit filter of their
/// hashes; `false` when unsure.
fn distinct_names(members: &[(Cow<'_, str>, Value<'_>)]) -> bool {
    if members.len() <= LINEAR_FIELDS {
        return members
            .iter()
            .enumerate()
            .all(|(i, (a, _))| members[..i].iter().all(|(b, _)| !same_name(a, b)));
    }
    let mut seen = 0u128;
    for (k, _) in members {
        let bit = name_bit(k);
        if seen & bit != 0 {
            return false;
        }
        seen |= bit;
    }
    true
}

/// The rest of [`write_route`] once the fields are known (none null, no name twice, no
/// `time`): they must all be writable; then tags, measurement and time, and the point.
fn finish<'r, 'v, 'a: 'v>(
    route: &'r InfluxRoute,
    rec: &'r RecordView<'a>,
    now_ns: i64,
    precision: Precision,
    fields: impl Iterator<Item = (&'v str, &'v Value<'a>)> + Clone,
    out: &mut Vec<u8>,
) -> Result<Outcome<'r>, RecordError> {
    let mut any = false;
    for (name, v) in fields.clone() {
        to_field(name, v)?;
        any = true;
    }
    let mut tags: SmallVec<[(&'r str, Cow<'r, str>); 8]> = SmallVec::new();
    for t in &route.tags {
        match t {
            TagPlan::Field { key, field } => {
                if let Some(text) = lookup(field, rec).and_then(text_of) {
                    tags.push((key, text));
                }
            }
            TagPlan::Constant { key, value } => tags.push((key, Cow::Borrowed(value.as_str()))),
        }
    }
    let measurement: Cow<'r, str> = match &route.measurement {
        Measurement::Static { name } => Cow::Borrowed(name.as_str()),
        Measurement::Field { field, fallback } => lookup(field, rec)
            .and_then(text_of)
            .unwrap_or(Cow::Borrowed(fallback.as_str())),
    };
    let ts = precision.from_nanos(time_ns(&route.timestamp, rec, now_ns)?);
    if !any {
        return Err(PointError::NoFields.into());
    }
    let values = fields.filter_map(|(name, v)| Some((name, to_field(name, v).ok()??)));
    write_fields(out, &measurement, &mut tags, values, Some(ts))?;
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
