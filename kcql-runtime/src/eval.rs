//! Evaluates plan expressions on a record: field lookups (value, key, headers, metadata),
//! operators with SQL's NULL rules (a comparison with NULL is NULL; `AND`/`OR` are
//! three-valued; a `WHERE` that is not TRUE skips the record), and the scalar functions.
//!
//! Type rules: `+ - * %` on two integers stay integers (NULL on overflow or `% 0`); anything
//! with a float is a float; `/` always gives a float (NULL when dividing by zero). Comparisons
//! compare numbers numerically across integer/float, strings by bytes, booleans; other mixes
//! are NULL. `||` and `concat` join the text forms.

use crate::record::RecordView;
use crate::value::Value;
use kcql::ast::{BinaryOp, CastType, Literal, UnaryOp};
use kcql::plan::{FieldRef, PlanExpr, RecordPart};
use kcql::Function;
use std::borrow::Cow;
use std::cmp::Ordering;

/// The value of `field` in `rec`, if present.
pub fn lookup<'r, 'a>(field: &FieldRef, rec: &'r RecordView<'a>) -> Option<Cow<'r, Value<'a>>> {
    match &field.part {
        RecordPart::Value => rec.value.get_path(&field.path).map(Cow::Borrowed),
        RecordPart::Key => rec.key.get_path(&field.path).map(Cow::Borrowed),
        RecordPart::Header(name) => {
            rec.headers
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| {
                    Cow::Owned(match std::str::from_utf8(v) {
                        Ok(s) => Value::Str(Cow::Borrowed(s)),
                        Err(_) => Value::Bytes(Cow::Borrowed(v)),
                    })
                })
        }
        RecordPart::Topic => Some(Cow::Owned(Value::Str(Cow::Borrowed(rec.topic)))),
        RecordPart::Partition => Some(Cow::Owned(Value::Int(i64::from(rec.partition)))),
        RecordPart::Offset => Some(Cow::Owned(Value::Int(rec.offset))),
        RecordPart::Timestamp => rec.timestamp_ms.map(|t| Cow::Owned(Value::Int(t))),
    }
}

/// True when `e` evaluates to TRUE (NULL and FALSE both skip).
pub fn is_true(e: &PlanExpr, rec: &RecordView<'_>, now_ms: i64) -> bool {
    matches!(eval(e, rec, now_ms).as_ref(), Value::Bool(true))
}

fn owned<'r, 'a>(v: Value<'a>) -> Cow<'r, Value<'a>> {
    Cow::Owned(v)
}

/// Whether comparison `op` holds for two values ordered `o` (false for non-comparisons).
fn holds(op: BinaryOp, o: Ordering) -> bool {
    match op {
        BinaryOp::Eq => o == Ordering::Equal,
        BinaryOp::Ne => o != Ordering::Equal,
        BinaryOp::Lt => o == Ordering::Less,
        BinaryOp::Le => o != Ordering::Greater,
        BinaryOp::Gt => o == Ordering::Greater,
        BinaryOp::Ge => o != Ordering::Less,
        _ => false,
    }
}

fn arithmetic(op: BinaryOp, a: &Value<'_>, b: &Value<'_>) -> Value<'static> {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let r = match op {
            BinaryOp::Add => x.checked_add(*y),
            BinaryOp::Sub => x.checked_sub(*y),
            BinaryOp::Mul => x.checked_mul(*y),
            BinaryOp::Mod => x.checked_rem(*y),
            _ => None,
        };
        if op != BinaryOp::Div {
            return r.map_or(Value::Null, Value::Int);
        }
    }
    let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
        return Value::Null;
    };
    let r = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if y != 0.0 => x / y,
        BinaryOp::Mod if y != 0.0 => x % y,
        _ => return Value::Null,
    };
    if r.is_finite() {
        Value::Float(r)
    } else {
        Value::Null
    }
}

fn literal(l: &Literal) -> Value<'static> {
    match *l {
        Literal::Int(n) => Value::Int(n),
        Literal::Float(f) => Value::Float(f),
        Literal::Bool(b) => Value::Bool(b),
        Literal::Null => Value::Null,
    }
}

/// Evaluates `e` on `rec`. A missing field is NULL.
pub fn eval<'r, 'a>(e: &'r PlanExpr, rec: &'r RecordView<'a>, now_ms: i64) -> Cow<'r, Value<'a>> {
    match e {
        PlanExpr::Field { field } => lookup(field, rec).unwrap_or(Cow::Owned(Value::Null)),
        PlanExpr::Literal { value } => owned(literal(value)),
        PlanExpr::String { value } => owned(Value::Str(Cow::Owned(value.clone()))),
        // Aggregates are evaluated by the window processor, never here.
        PlanExpr::Aggregate { .. } => owned(Value::Null),
        PlanExpr::Unary { op, expr } => {
            let v = eval(expr, rec, now_ms);
            owned(match (op, v.as_ref()) {
                (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                (UnaryOp::Neg, Value::Int(n)) => n.checked_neg().map_or(Value::Null, Value::Int),
                (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                _ => Value::Null,
            })
        }
        PlanExpr::Binary { op, left, right } => {
            let l = eval(left, rec, now_ms);
            match op {
                BinaryOp::And | BinaryOp::Or => {
                    let short = matches!(op, BinaryOp::Or);
                    if matches!(l.as_ref(), Value::Bool(b) if *b == short) {
                        return owned(Value::Bool(short));
                    }
                    let r = eval(right, rec, now_ms);
                    owned(match (l.as_ref(), r.as_ref()) {
                        (_, Value::Bool(b)) if *b == short => Value::Bool(short),
                        (Value::Bool(_), Value::Bool(_)) => Value::Bool(!short),
                        _ => Value::Null,
                    })
                }
                _ => {
                    let r = eval(right, rec, now_ms);
                    let (a, b) = (l.as_ref(), r.as_ref());
                    if a.is_null() || b.is_null() {
                        return owned(Value::Null);
                    }
                    owned(match op {
                        BinaryOp::Eq
                        | BinaryOp::Ne
                        | BinaryOp::Lt
                        | BinaryOp::Le
                        | BinaryOp::Gt
                        | BinaryOp::Ge => a
                            .compare(b)
                            .map_or(Value::Null, |o| Value::Bool(holds(*op, o))),
                        BinaryOp::Concat => match (a.to_text(), b.to_text()) {
                            (Some(x), Some(y)) => Value::Str(Cow::Owned(format!("{x}{y}"))),
                            _ => Value::Null,
                        },
                        _ => arithmetic(*op, a, b),
                    })
                }
            }
        }
        PlanExpr::IsNull { expr, negated } => {
            let v = eval(expr, rec, now_ms);
            owned(Value::Bool(v.is_null() != *negated))
        }
        PlanExpr::InList {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, rec, now_ms);
            if v.is_null() {
                return owned(Value::Null);
            }
            let mut saw_null = false;
            for item in list {
                let c = eval(item, rec, now_ms);
                if c.is_null() {
                    saw_null = true;
                } else if v.compare(&c) == Some(Ordering::Equal) {
                    return owned(Value::Bool(!negated));
                }
            }
            owned(if saw_null {
                Value::Null
            } else {
                Value::Bool(*negated)
            })
        }
        PlanExpr::Like {
            expr,
            pattern,
            negated,
        } => {
            let v = eval(expr, rec, now_ms);
            owned(match v.as_ref() {
                Value::Str(s) => Value::Bool(pattern.matches(s) != *negated),
                _ => Value::Null,
            })
        }
        PlanExpr::Cast { expr, to } => owned(cast(eval(expr, rec, now_ms).as_ref(), *to)),
        PlanExpr::Call { function, args } => owned(call(*function, args, rec, now_ms)),
    }
}

/// `CAST(v AS to)`; NULL when the value cannot be converted.
pub fn cast(v: &Value<'_>, to: CastType) -> Value<'static> {
    match (to, v) {
        (_, Value::Null) => Value::Null,
        (CastType::Int, Value::Int(n)) => Value::Int(*n),
        (CastType::Int, Value::UInt(n)) => i64::try_from(*n).map_or(Value::Null, Value::Int),
        (CastType::Int, Value::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => {
            Value::Int(f.trunc() as i64)
        }
        (CastType::Int, Value::Bool(b)) => Value::Int(i64::from(*b)),
        (CastType::Int, Value::Str(s)) => s.trim().parse::<i64>().map_or(Value::Null, Value::Int),
        (CastType::Float, Value::Str(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(Value::Null, Value::Float),
        (CastType::Float, Value::Bool(b)) => Value::Float(if *b { 1.0 } else { 0.0 }),
        (CastType::Float, v) => v.as_f64().map_or(Value::Null, Value::Float),
        (CastType::String, v) => v
            .to_text()
            .map_or(Value::Null, |t| Value::Str(Cow::Owned(t.into_owned()))),
        (CastType::Bool, Value::Bool(b)) => Value::Bool(*b),
        (CastType::Bool, Value::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "0" => Value::Bool(false),
            _ => Value::Null,
        },
        (CastType::Bool, v) => v.as_f64().map_or(Value::Null, |f| Value::Bool(f != 0.0)),
        _ => Value::Null,
    }
}

fn call(f: Function, args: &[PlanExpr], rec: &RecordView<'_>, now_ms: i64) -> Value<'static> {
    let arg = |i: usize| {
        args.get(i)
            .map(|a| eval(a, rec, now_ms).into_owned().into_owned())
    };
    let text = |i: usize| arg(i).and_then(|v| v.to_text().map(Cow::into_owned));
    let num = |i: usize| arg(i);
    match f {
        Function::Concat => {
            let mut s = String::new();
            for i in 0..args.len() {
                if let Some(t) = text(i) {
                    s.push_str(&t);
                }
            }
            Value::Str(Cow::Owned(s))
        }
        Function::Lower => {
            text(0).map_or(Value::Null, |t| Value::Str(Cow::Owned(t.to_lowercase())))
        }
        Function::Upper => {
            text(0).map_or(Value::Null, |t| Value::Str(Cow::Owned(t.to_uppercase())))
        }
        Function::Trim => text(0).map_or(Value::Null, |t| {
            Value::Str(Cow::Owned(t.trim().to_string()))
        }),
        Function::Length => text(0).map_or(Value::Null, |t| Value::Int(t.chars().count() as i64)),
        Function::Abs => match num(0) {
            Some(Value::Int(n)) => n.checked_abs().map_or(Value::Null, Value::Int),
            Some(Value::Float(x)) => Value::Float(x.abs()),
            _ => Value::Null,
        },
        Function::Round => {
            let digits = match num(1) {
                Some(Value::Int(d)) => d.clamp(-15, 15) as i32,
                _ => 0,
            };
            match num(0) {
                Some(Value::Int(n)) if digits >= 0 => Value::Int(n),
                Some(v) => v.as_f64().map_or(Value::Null, |x| {
                    let m = 10f64.powi(digits);
                    Value::Float((x * m).round() / m)
                }),
                None => Value::Null,
            }
        }
        Function::Floor | Function::Ceil => match num(0) {
            Some(Value::Int(n)) => Value::Int(n),
            Some(v) => v.as_f64().map_or(Value::Null, |x| {
                Value::Float(if f == Function::Floor {
                    x.floor()
                } else {
                    x.ceil()
                })
            }),
            None => Value::Null,
        },
        Function::Coalesce => (0..args.len())
            .find_map(|i| arg(i).filter(|v| !v.is_null()))
            .unwrap_or(Value::Null),
        Function::Now => Value::Int(now_ms),
        // Aggregates run in the window processor.
        Function::Min
        | Function::Max
        | Function::Avg
        | Function::Sum
        | Function::Count
        | Function::First
        | Function::Last => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json;

    fn where_holds(cond: &str, payload: &str) -> Option<bool> {
        let p = kcql::compile_influx(&format!("INSERT INTO m SELECT * FROM t WHERE {cond}"))
            .unwrap_or_else(|d| panic!("{d}"));
        let rec = RecordView::of_value(json::parse(payload.as_bytes()).unwrap());
        match eval(p.routes[0].filter.as_ref().unwrap(), &rec, 0).as_ref() {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            other => panic!("WHERE gave {other:?}"),
        }
    }

    #[test]
    fn comparisons_and_null_logic() {
        let p = r#"{"t":25.3,"n":40,"id":"SB01","x":null,"tags":["a"]}"#;
        assert_eq!(where_holds("t > 25", p), Some(true));
        assert_eq!(where_holds("n = 40.0", p), Some(true));
        assert_eq!(where_holds("id LIKE 'SB%'", p), Some(true));
        assert_eq!(where_holds("id NOT IN ('SB02', 'SB03')", p), Some(true));
        assert_eq!(where_holds("x = 1", p), None);
        assert_eq!(where_holds("x IS NULL AND missing IS NULL", p), Some(true));
        assert_eq!(where_holds("x = 1 OR n > 1", p), Some(true));
        assert_eq!(where_holds("x = 1 AND n > 1", p), None);
        assert_eq!(where_holds("NOT (x = 1) OR FALSE", p), None);
        assert_eq!(where_holds("id = 5", p), None);
        assert_eq!(
            where_holds("n / 8 = 5 AND n % 7 = 5 AND n * 2 - 1 = 79", p),
            Some(true)
        );
        assert_eq!(where_holds("lower(id) || '!' = 'sb01!'", p), Some(true));
        assert_eq!(
            where_holds("cast(t AS int) = 25 AND cast('3.5' AS float) > 3", p),
            Some(true)
        );
        assert_eq!(
            where_holds(
                "coalesce(x, n) = 40 AND length(id) = 4 AND round(t) = 25",
                p
            ),
            Some(true)
        );
        assert_eq!(where_holds("n / 0 IS NULL", p), Some(true));
    }
}
