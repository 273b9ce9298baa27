//! Aggregate accumulators: `min max avg sum count first last` over one group of one window.
//!
//! SQL rules: NULL (and missing) inputs are skipped; an aggregate that saw no input is NULL
//! (`count` is 0). Numbers:
//!
//! * `sum` of integers is exact: it is accumulated in 128 bits and emitted as a JSON integer
//!   while it fits 64 bits (signed, or unsigned above `i64::MAX`); beyond that, or as soon as one
//!   input is a float, it is a float.
//! * `avg` is always a float (the exact integer part plus the float part, divided by the count).
//! * `min`/`max` compare numbers numerically across integers and floats, strings by bytes,
//!   booleans `false < true`; they keep the input value itself (an integer stays an integer).
//! * `first`/`last` keep the value of the record with the smallest/largest event time; among
//!   equal event times the earliest/latest to arrive.
//!
//! A value of the wrong type (a string into `sum`, an object into `min`, a string into a `max`
//! that already holds a number) is an [`AggregateError`]; the engine checks every aggregate of a
//! record with [`check`] before it updates any, so a poison record leaves the state untouched.

use crate::value::Value;
use kcql::Function;
use std::cmp::Ordering;
use thiserror::Error;

/// Why a value cannot go into an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AggregateError {
    /// `sum`/`avg` of something that is not a number.
    #[error("{function}() needs numbers, got a {kind}")]
    NotNumeric {
        /// The aggregate.
        function: &'static str,
        /// The type received.
        kind: &'static str,
    },
    /// `min`/`max` of a type that has no order (object, array, bytes).
    #[error("{function}() cannot order a {kind}")]
    Unordered {
        /// The aggregate.
        function: &'static str,
        /// The type received.
        kind: &'static str,
    },
    /// `min`/`max` of a value that cannot be compared with the one already held.
    #[error("{function}() cannot compare a {kind} with the {held} it already holds")]
    Incomparable {
        /// The aggregate.
        function: &'static str,
        /// The type received.
        kind: &'static str,
        /// The type held.
        held: &'static str,
    },
}

/// A value with the event time and arrival number of its record (for `first`/`last`).
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    /// Event time, epoch milliseconds.
    pub event_ms: i64,
    /// Arrival number (increases with every record the engine sees).
    pub arrival: u64,
    /// The value.
    pub value: Value<'static>,
}

/// Integer part (exact) and float part of a numeric sum, with the number of inputs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NumericSum {
    ints: i128,
    floats: f64,
    count: u64,
    any_float: bool,
}

impl NumericSum {
    fn add(&mut self, v: &Value<'_>) {
        match v {
            Value::Int(n) => self.add_int(i128::from(*n)),
            Value::UInt(n) => self.add_int(i128::from(*n)),
            Value::Float(f) => {
                self.floats += f;
                self.any_float = true;
            }
            _ => return,
        }
        self.count += 1;
    }

    fn add_int(&mut self, n: i128) {
        match self.ints.checked_add(n) {
            Some(s) => self.ints = s,
            None => {
                self.floats += n as f64;
                self.any_float = true;
            }
        }
    }

    fn merge(&mut self, o: &NumericSum) {
        self.add_int(o.ints);
        self.floats += o.floats;
        self.count += o.count;
        self.any_float |= o.any_float;
    }

    fn total_f64(&self) -> f64 {
        self.ints as f64 + self.floats
    }

    fn sum(&self) -> Value<'static> {
        if self.count == 0 {
            Value::Null
        } else if self.any_float {
            Value::Float(self.total_f64())
        } else if let Ok(n) = i64::try_from(self.ints) {
            Value::Int(n)
        } else if let Ok(n) = u64::try_from(self.ints) {
            Value::UInt(n)
        } else {
            Value::Float(self.total_f64())
        }
    }

    fn avg(&self) -> Value<'static> {
        if self.count == 0 {
            Value::Null
        } else {
            Value::Float(self.total_f64() / self.count as f64)
        }
    }
}

/// The running state of one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Accumulator {
    /// `count(*)` / `count(x)`.
    Count(u64),
    /// `sum(x)`.
    Sum(NumericSum),
    /// `avg(x)`.
    Avg(NumericSum),
    /// `min(x)`.
    Min(Option<Value<'static>>),
    /// `max(x)`.
    Max(Option<Value<'static>>),
    /// `first(x)`.
    First(Option<Stamped>),
    /// `last(x)`.
    Last(Option<Stamped>),
}

fn is_number(v: &Value<'_>) -> bool {
    matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_))
}

/// Checks that `value` (the aggregate's argument for one record; `None` for `count(*)`) may go
/// into `function` whose per-partition accumulators for this group are `held`.
#[inline]
pub fn check<'h>(
    function: Function,
    value: Option<&Value<'_>>,
    held: impl Iterator<Item = &'h Accumulator>,
) -> Result<(), AggregateError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    match function {
        Function::Sum | Function::Avg if !is_number(v) => Err(AggregateError::NotNumeric {
            function: function.name(),
            kind: v.type_name(),
        }),
        Function::Min | Function::Max => {
            if !(is_number(v) || matches!(v, Value::Str(_) | Value::Bool(_))) {
                return Err(AggregateError::Unordered {
                    function: function.name(),
                    kind: v.type_name(),
                });
            }
            for acc in held {
                if let Accumulator::Min(Some(h)) | Accumulator::Max(Some(h)) = acc {
                    if !comparable(v, h) {
                        return Err(AggregateError::Incomparable {
                            function: function.name(),
                            kind: v.type_name(),
                            held: h.type_name(),
                        });
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether [`Value::compare`] orders `v` and `held` (two strings, two booleans, two numbers
/// neither of which is NaN), without comparing them.
fn comparable(v: &Value<'_>, held: &Value<'_>) -> bool {
    let nan = |x: &Value<'_>| matches!(x, Value::Float(f) if f.is_nan());
    match (v, held) {
        (Value::Str(_), Value::Str(_)) | (Value::Bool(_), Value::Bool(_)) => true,
        _ => is_number(v) && is_number(held) && !nan(v) && !nan(held),
    }
}

impl Accumulator {
    /// An empty accumulator for `function` (a scalar function gets a `count`, never used: the
    /// compiler only registers aggregates).
    pub fn new(function: Function) -> Accumulator {
        match function {
            Function::Sum => Accumulator::Sum(NumericSum::default()),
            Function::Avg => Accumulator::Avg(NumericSum::default()),
            Function::Min => Accumulator::Min(None),
            Function::Max => Accumulator::Max(None),
            Function::First => Accumulator::First(None),
            Function::Last => Accumulator::Last(None),
            _ => Accumulator::Count(0),
        }
    }

    /// Adds one record's argument value (already [`check`]ed). `value` is `None` for
    /// `count(*)`, which counts every record.
    #[inline]
    pub fn update(&mut self, value: Option<&Value<'_>>, event_ms: i64, arrival: u64) {
        let Some(v) = value else {
            if let Accumulator::Count(n) = self {
                *n += 1;
            }
            return;
        };
        if v.is_null() {
            return;
        }
        let stamped = || Stamped {
            event_ms,
            arrival,
            value: v.clone().into_owned(),
        };
        match self {
            Accumulator::Count(n) => *n += 1,
            Accumulator::Sum(s) | Accumulator::Avg(s) => s.add(v),
            Accumulator::Min(m) => keep_if(m, v, Ordering::Less),
            Accumulator::Max(m) => keep_if(m, v, Ordering::Greater),
            Accumulator::First(f) => {
                if f.as_ref().is_none_or(|h| event_ms < h.event_ms) {
                    *f = Some(stamped());
                }
            }
            Accumulator::Last(l) => {
                if l.as_ref().is_none_or(|h| event_ms >= h.event_ms) {
                    *l = Some(stamped());
                }
            }
        }
    }

    /// Folds `other` (the same aggregate over other records) into `self`.
    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(a), Accumulator::Count(b)) => *a += b,
            (Accumulator::Sum(a), Accumulator::Sum(b))
            | (Accumulator::Avg(a), Accumulator::Avg(b)) => a.merge(b),
            (Accumulator::Min(a), Accumulator::Min(Some(b))) => keep_if(a, b, Ordering::Less),
            (Accumulator::Max(a), Accumulator::Max(Some(b))) => keep_if(a, b, Ordering::Greater),
            (Accumulator::First(a), Accumulator::First(Some(b)))
                if a.as_ref()
                    .is_none_or(|h| (b.event_ms, b.arrival) < (h.event_ms, h.arrival)) =>
            {
                *a = Some(b.clone());
            }
            (Accumulator::Last(a), Accumulator::Last(Some(b)))
                if a.as_ref()
                    .is_none_or(|h| (b.event_ms, b.arrival) > (h.event_ms, h.arrival)) =>
            {
                *a = Some(b.clone());
            }
            _ => {}
        }
    }

    /// The aggregate's value.
    pub fn result(&self) -> Value<'static> {
        match self {
            Accumulator::Count(n) => i64::try_from(*n).map_or(Value::UInt(*n), Value::Int),
            Accumulator::Sum(s) => s.sum(),
            Accumulator::Avg(s) => s.avg(),
            Accumulator::Min(m) | Accumulator::Max(m) => m.clone().unwrap_or(Value::Null),
            Accumulator::First(s) | Accumulator::Last(s) => {
                s.as_ref().map_or(Value::Null, |s| s.value.clone())
            }
        }
    }
}

/// Replaces `held` by `v` when there is none or `v` compares as `wanted` to it.
fn keep_if(held: &mut Option<Value<'static>>, v: &Value<'_>, wanted: Ordering) {
    if held.as_ref().is_none_or(|h| v.compare(h) == Some(wanted)) {
        *held = Some(v.clone().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn run(function: Function, values: &[Value<'static>]) -> Value<'static> {
        let mut acc = Accumulator::new(function);
        for (i, v) in values.iter().enumerate() {
            check(function, Some(v), std::iter::once(&acc)).unwrap();
            acc.update(Some(v), 0, i as u64);
        }
        acc.result()
    }

    fn s(t: &str) -> Value<'static> {
        Value::Str(Cow::Owned(t.to_string()))
    }

    #[test]
    fn sums_stay_exact_integers_until_a_float_or_overflow() {
        let ints = [Value::Int(3), Value::Null, Value::Int(-1)];
        assert_eq!(run(Function::Sum, &ints), Value::Int(2));
        assert_eq!(
            run(Function::Sum, &[Value::Int(i64::MAX), Value::Int(1)]),
            Value::UInt(i64::MAX as u64 + 1)
        );
        assert_eq!(
            run(Function::Sum, &[Value::UInt(u64::MAX), Value::Int(1)]),
            Value::Float(u64::MAX as f64 + 1.0)
        );
        assert_eq!(
            run(Function::Sum, &[Value::Int(1), Value::Float(0.5)]),
            Value::Float(1.5)
        );
        assert_eq!(run(Function::Sum, &[Value::Null]), Value::Null);
        assert_eq!(
            run(Function::Avg, &[Value::Int(1), Value::Int(2)]),
            Value::Float(1.5)
        );
        assert_eq!(run(Function::Avg, &[]), Value::Null);
    }

    #[test]
    fn counts_skip_nulls_only_for_an_argument() {
        let vals = [Value::Int(1), Value::Null, s("x")];
        assert_eq!(run(Function::Count, &vals), Value::Int(2));
        let mut star = Accumulator::new(Function::Count);
        for _ in 0..3 {
            star.update(None, 0, 0);
        }
        assert_eq!(star.result(), Value::Int(3));
    }

    #[test]
    fn min_max_keep_the_input_value_and_order_across_number_types() {
        let vals = [Value::Float(2.5), Value::Int(2), Value::Int(7), Value::Null];
        assert_eq!(run(Function::Min, &vals), Value::Int(2));
        assert_eq!(run(Function::Max, &vals), Value::Int(7));
        assert_eq!(run(Function::Max, &[s("b"), s("a")]), s("b"));
        assert_eq!(
            run(
                Function::Min,
                &[Value::UInt(u64::MAX), Value::Int(i64::MAX)]
            ),
            Value::Int(i64::MAX)
        );
    }

    #[test]
    fn type_errors_are_reported_before_any_update() {
        let acc = Accumulator::Max(Some(Value::Int(1)));
        assert_eq!(
            check(Function::Max, Some(&s("x")), std::iter::once(&acc)),
            Err(AggregateError::Incomparable {
                function: "max",
                kind: "string",
                held: "integer"
            })
        );
        assert!(matches!(
            check(Function::Sum, Some(&s("x")), std::iter::empty()),
            Err(AggregateError::NotNumeric { .. })
        ));
        assert!(matches!(
            check(
                Function::Min,
                Some(&Value::Array(vec![])),
                std::iter::empty()
            ),
            Err(AggregateError::Unordered { .. })
        ));
        assert_eq!(
            check(Function::Sum, Some(&Value::Null), std::iter::empty()),
            Ok(())
        );
        assert_eq!(
            check(Function::First, Some(&s("x")), std::iter::empty()),
            Ok(())
        );
    }

    #[test]
    fn comparable_agrees_with_compare() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::UInt(u64::MAX),
            Value::Float(2.5),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            s("x"),
            Value::Bytes(Cow::Borrowed(b"x")),
            Value::Array(vec![]),
            Value::Object(vec![]),
        ];
        for a in &values {
            for b in &values {
                assert_eq!(comparable(a, b), a.compare(b).is_some(), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn first_and_last_go_by_event_time_then_arrival() {
        let mut first = Accumulator::new(Function::First);
        let mut last = Accumulator::new(Function::Last);
        for (t, arrival, v) in [
            (20, 0, "b"),
            (10, 1, "a1"),
            (10, 2, "a2"),
            (30, 3, "c1"),
            (30, 4, "c2"),
        ] {
            first.update(Some(&s(v)), t, arrival);
            last.update(Some(&s(v)), t, arrival);
        }
        assert_eq!(first.result(), s("a1"));
        assert_eq!(last.result(), s("c2"));
    }

    #[test]
    fn merging_partials_equals_one_pass() {
        let values: Vec<(i64, Value<'static>)> = (0..20)
            .map(|i| (i * 7 % 11, Value::Int(i * 13 % 17 - 8)))
            .collect();
        for f in [
            Function::Min,
            Function::Max,
            Function::Sum,
            Function::Avg,
            Function::Count,
            Function::First,
            Function::Last,
        ] {
            let mut whole = Accumulator::new(f);
            let mut parts = [Accumulator::new(f), Accumulator::new(f)];
            for (i, (t, v)) in values.iter().enumerate() {
                whole.update(Some(v), *t, i as u64);
                parts[i % 2].update(Some(v), *t, i as u64);
            }
            let [mut a, b] = parts;
            a.merge(&b);
            assert_eq!(a.result(), whole.result(), "{f:?}");
        }
    }
}
