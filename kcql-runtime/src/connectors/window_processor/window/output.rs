//! What a closed window's group becomes: the output record's value and its Kafka key.
//!
//! Value: an object (written as JSON by default, or Avro: see the processor's
//! `value_format_out` and [`schema`] for the schema derived from the plan) with, in this order, the `GROUP BY` fields (named by their last path
//! element), `window_start` and `window_end` (epoch milliseconds), then the select list's items
//! in order. An item whose name was used before replaces that member in place (`SELECT id …
//! GROUP BY id` writes `id` once). Floats are always written with a fraction or exponent
//! (`25.0`, never `25`) so downstream schemas see a stable type; a non-finite float is `null`.
//!
//! Key: no `GROUP BY` → no key (null); one field → its text (a string as it is, numbers and
//! booleans in their shortest form, objects and arrays as JSON; a null value → no key); several
//! fields → their texts joined with `.` (KCQL's default `KEYDELIMITER`), a null as the empty
//! text. The join is deterministic but not reversible (`a.b`+`c` and `a`+`b.c` give one key);
//! the value carries every field separately.

use crate::encode::json::write_json;
use crate::eval::eval;
use crate::record::RecordView;
use crate::value::Value;
use kcql::plan::{GroupKey, PlanExpr, ProjectionItem};
use std::borrow::Cow;

/// Where an output item's value comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A `GROUP BY` value.
    Group(usize),
    /// An aggregate's result.
    Aggregate(usize),
    /// An expression over group values and aggregates, rewritten to read `slots` (slot `i` is
    /// member `"i"` of a synthetic record value) and evaluated with the sink's evaluator.
    Computed { expr: PlanExpr, slots: Vec<Source> },
}

/// A route's outputs, compiled once.
#[derive(Debug, Clone)]
pub(crate) struct OutputPlan {
    group_names: Vec<String>,
    items: Vec<(String, Source)>,
    slot_names: Vec<String>,
}

impl OutputPlan {
    /// Compiles the select list of a route grouped by `group_by`.
    pub(crate) fn new(group_by: &[GroupKey], outputs: &[ProjectionItem]) -> OutputPlan {
        let mut items = Vec::new();
        let mut max_slots = 0;
        for item in outputs {
            // The window processor's compiler only produces named fields; `*` cannot be
            // grouped and is rejected before.
            let ProjectionItem::Field { name, value } = item else {
                continue;
            };
            let source = match direct(value, group_by) {
                Some(s) => s,
                None => {
                    let mut slots = Vec::new();
                    let expr = rewrite(value, group_by, &mut slots);
                    max_slots = max_slots.max(slots.len());
                    Source::Computed { expr, slots }
                }
            };
            items.push((name.clone(), source));
        }
        OutputPlan {
            group_names: group_by.iter().map(|g| g.name.clone()).collect(),
            items,
            slot_names: (0..max_slots).map(|i| i.to_string()).collect(),
        }
    }

    /// The value of one group's output (an object; written in the processor's output
    /// format by the caller). `now_ms` is what `now()` gives. Member names borrow from the
    /// plan (no copy per output).
    pub(crate) fn render<'s>(
        &'s self,
        groups: &[Value<'static>],
        aggregates: &[Value<'static>],
        window: (i64, i64),
        now_ms: i64,
    ) -> Value<'s> {
        let null = Value::Null;
        let mut members: Vec<(&'s str, Cow<'_, Value<'static>>)> =
            Vec::with_capacity(self.group_names.len() + 2 + self.items.len());
        for (name, v) in self.group_names.iter().zip(groups) {
            put(&mut members, name, Cow::Borrowed(v));
        }
        put(
            &mut members,
            "window_start",
            Cow::Owned(Value::Int(window.0)),
        );
        put(&mut members, "window_end", Cow::Owned(Value::Int(window.1)));
        for (name, source) in &self.items {
            let v = match source {
                Source::Group(i) => Cow::Borrowed(groups.get(*i).unwrap_or(&null)),
                Source::Aggregate(i) => Cow::Borrowed(aggregates.get(*i).unwrap_or(&null)),
                Source::Computed { expr, slots } => {
                    let record = Value::Object(
                        slots
                            .iter()
                            .zip(&self.slot_names)
                            .map(|(s, n)| {
                                let v = match s {
                                    Source::Group(i) => groups.get(*i),
                                    Source::Aggregate(i) => aggregates.get(*i),
                                    Source::Computed { .. } => None,
                                };
                                (Cow::Borrowed(n.as_str()), v.cloned().unwrap_or(Value::Null))
                            })
                            .collect(),
                    );
                    let rec = RecordView::of_value(record);
                    Cow::Owned(eval(expr, &rec, now_ms).into_owned().into_owned())
                }
            };
            put(&mut members, name, v);
        }
        Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v.into_owned()))
                .collect(),
        )
    }
}

/// Sets member `name` to `v`, replacing an earlier member of that name in place.
fn put<'n, 'v>(
    members: &mut Vec<(&'n str, Cow<'v, Value<'static>>)>,
    name: &'n str,
    v: Cow<'v, Value<'static>>,
) {
    match members.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = v,
        None => members.push((name, v)),
    }
}

/// A group value or aggregate used as it is.
fn direct(e: &PlanExpr, group_by: &[GroupKey]) -> Option<Source> {
    match e {
        PlanExpr::Aggregate { index } => Some(Source::Aggregate(*index)),
        PlanExpr::Field { field } => group_by
            .iter()
            .position(|g| g.field == *field)
            .map(Source::Group),
        _ => None,
    }
}

/// `e` with every grouped field and aggregate replaced by a read of a slot; a field that is
/// not grouped (the compiler rejects those) reads NULL.
fn rewrite(e: &PlanExpr, group_by: &[GroupKey], slots: &mut Vec<Source>) -> PlanExpr {
    if let Some(source) = direct(e, group_by) {
        let index = slots.iter().position(|s| *s == source).unwrap_or_else(|| {
            slots.push(source);
            slots.len() - 1
        });
        return PlanExpr::Field {
            field: kcql::plan::FieldRef::value([index.to_string()]),
        };
    }
    let mut rec = |x: &PlanExpr| Box::new(rewrite(x, group_by, slots));
    match e {
        PlanExpr::Field { .. } | PlanExpr::Aggregate { .. } => PlanExpr::Literal {
            value: kcql::ast::Literal::Null,
        },
        PlanExpr::Literal { .. } | PlanExpr::String { .. } => e.clone(),
        PlanExpr::Call { function, args } => PlanExpr::Call {
            function: *function,
            args: args.iter().map(|a| rewrite(a, group_by, slots)).collect(),
        },
        PlanExpr::Unary { op, expr } => PlanExpr::Unary {
            op: *op,
            expr: rec(expr),
        },
        PlanExpr::Binary { op, left, right } => {
            let left = rec(left);
            let right = rec(right);
            PlanExpr::Binary {
                op: *op,
                left,
                right,
            }
        }
        PlanExpr::IsNull { expr, negated } => PlanExpr::IsNull {
            expr: rec(expr),
            negated: *negated,
        },
        PlanExpr::InList {
            expr,
            list,
            negated,
        } => PlanExpr::InList {
            expr: rec(expr),
            list: list.iter().map(|x| rewrite(x, group_by, slots)).collect(),
            negated: *negated,
        },
        PlanExpr::Like {
            expr,
            pattern,
            negated,
        } => PlanExpr::Like {
            expr: rec(expr),
            pattern: pattern.clone(),
            negated: *negated,
        },
        PlanExpr::Cast { expr, to } => PlanExpr::Cast {
            expr: rec(expr),
            to: *to,
        },
    }
}

/// The Kafka key of a group (see the module documentation).
pub fn group_key_bytes(values: &[Value<'_>]) -> Option<Vec<u8>> {
    let text = |v: &Value<'_>, out: &mut Vec<u8>| match v {
        Value::Array(_) | Value::Object(_) => write_json(v, out),
        other => {
            if let Some(t) = other.to_text() {
                out.extend_from_slice(t.as_bytes());
            }
        }
    };
    match values {
        [] | [Value::Null] => None,
        [one] => {
            let mut out = Vec::new();
            text(one, &mut out);
            Some(out)
        }
        several => {
            let mut out = Vec::new();
            for (i, v) in several.iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                text(v, &mut out);
            }
            Some(out)
        }
    }
}

mod schema;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json;

    fn json_of(v: &Value<'_>) -> String {
        let mut out = Vec::new();
        write_json(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_round_trips_through_the_decoder() {
        let text = r#"{"s":"a\"b\\c\n\u0001é","n":-3,"u":18446744073709551615,"f":25.5,"g":2.0,"b":[true,null],"o":{}}"#;
        let v = json::parse(text.as_bytes()).unwrap();
        let written = json_of(&v);
        assert_eq!(json::parse(written.as_bytes()).unwrap(), v);
        assert!(written.contains(r#""g":2.0"#), "{written}");
        assert_eq!(json_of(&Value::Float(f64::NAN)), "null");
        assert_eq!(json_of(&Value::Float(1e300)).parse::<f64>().unwrap(), 1e300);
    }

    #[test]
    fn keys_follow_the_documented_rules() {
        let s = |t: &'static str| Value::Str(Cow::Borrowed(t));
        assert_eq!(group_key_bytes(&[]), None);
        assert_eq!(group_key_bytes(&[Value::Null]), None);
        assert_eq!(group_key_bytes(&[s("SB01")]), Some(b"SB01".to_vec()));
        assert_eq!(group_key_bytes(&[Value::Int(7)]), Some(b"7".to_vec()));
        assert_eq!(
            group_key_bytes(&[s("a"), Value::Null, Value::Float(1.5)]),
            Some(b"a..1.5".to_vec())
        );
    }

    fn plan(kcql: &str) -> kcql::plan::WindowRoute {
        let mut p = kcql::compile_processor(kcql).unwrap_or_else(|d| panic!("{d}"));
        p.routes.remove(0)
    }

    #[test]
    fn renders_groups_window_and_computed_items() {
        let r = plan(
            "INSERT INTO o SELECT upper(id) AS uid, max(t) - min(t) AS spread, count(*) AS n, id \
             FROM s GROUP BY id, site WINDOW TUMBLING(2s)",
        );
        let out = OutputPlan::new(&r.group_by, &r.outputs);
        let groups = [Value::Str("sb01".into()), Value::Int(3)];
        // aggregates in plan order: max(t), min(t), count(*)
        let aggs = [Value::Float(30.5), Value::Int(20), Value::Int(4)];
        let mut buf = Vec::new();
        write_json(&out.render(&groups, &aggs, (2000, 4000), 0), &mut buf);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            r#"{"id":"sb01","site":3,"window_start":2000,"window_end":4000,"uid":"SB01","spread":10.5,"n":4}"#
        );
    }
}
