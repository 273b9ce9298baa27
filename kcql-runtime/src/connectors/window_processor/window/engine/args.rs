//! A route's aggregate arguments, each distinct expression evaluated once per record:
//! `MIN(t)`, `MAX(t)` and `AVG(t)` read `t` once.

use std::borrow::Cow;

use kcql::plan::{AggregatePlan, PlanExpr};
use smallvec::SmallVec;

use crate::eval::eval;
use crate::record::RecordView;
use crate::value::Value;

/// The distinct argument expressions of a route's aggregates and which one each aggregate
/// reads.
#[derive(Debug)]
pub(super) struct AggregateArgs {
    /// The distinct expressions, in first-use order.
    exprs: Vec<PlanExpr>,
    /// Per aggregate, its expression's index in `exprs`; `None` for `count(*)`.
    slots: Vec<Option<usize>>,
}

/// One record's values of a route's distinct argument expressions.
pub(super) type ArgValues<'r, 'a> = SmallVec<[Cow<'r, Value<'a>>; 4]>;

impl AggregateArgs {
    /// The arguments of `aggregates`.
    pub(super) fn of(aggregates: &[AggregatePlan]) -> AggregateArgs {
        let mut exprs: Vec<PlanExpr> = Vec::new();
        let slots = aggregates
            .iter()
            .map(|a| {
                let e = a.arg.as_ref()?;
                Some(exprs.iter().position(|x| x == e).unwrap_or_else(|| {
                    exprs.push(e.clone());
                    exprs.len() - 1
                }))
            })
            .collect();
        AggregateArgs { exprs, slots }
    }

    /// Evaluates every distinct expression on `rec` (expressions have no side effects and
    /// `now()` is one value per record, so once is the same as once per aggregate).
    pub(super) fn eval<'r, 'a>(
        &'r self,
        rec: &'r RecordView<'a>,
        now_ms: i64,
    ) -> ArgValues<'r, 'a> {
        self.exprs.iter().map(|e| eval(e, rec, now_ms)).collect()
    }

    /// Aggregate `i`'s argument among `values` (from [`eval`](Self::eval)); `None` for
    /// `count(*)`.
    pub(super) fn get<'v>(&self, values: &'v ArgValues<'_, '_>, i: usize) -> Option<&'v Value<'v>> {
        let slot = (*self.slots.get(i)?)?;
        values.get(slot).map(|v| v.as_ref())
    }
}
