//! Whether a route reads the record key (only then is the key decoded).

use kcql::plan::{FieldRef, PlanExpr, ProjectionItem, RecordPart, WindowRoute};

/// True when any expression of the route reads the record key.
pub(super) fn route_reads_key(r: &WindowRoute) -> bool {
    fn field(f: &FieldRef) -> bool {
        f.part == RecordPart::Key
    }
    fn expr(e: &PlanExpr) -> bool {
        match e {
            PlanExpr::Field { field: f } => field(f),
            PlanExpr::Literal { .. } | PlanExpr::String { .. } | PlanExpr::Aggregate { .. } => {
                false
            }
            PlanExpr::Call { args, .. } => args.iter().any(expr),
            PlanExpr::Unary { expr: e, .. }
            | PlanExpr::IsNull { expr: e, .. }
            | PlanExpr::Like { expr: e, .. }
            | PlanExpr::Cast { expr: e, .. } => expr(e),
            PlanExpr::Binary { left, right, .. } => expr(left) || expr(right),
            PlanExpr::InList { expr: e, list, .. } => expr(e) || list.iter().any(expr),
        }
    }
    let time_key =
        matches!(&r.event_time, kcql::plan::TimestampPlan::Field { field: f, .. } if field(f));
    time_key
        || r.group_by.iter().any(|g| field(&g.field))
        || r.aggregates
            .iter()
            .any(|a| a.arg.as_ref().is_some_and(expr))
        || r.filter.as_ref().is_some_and(expr)
        || r.outputs.iter().any(|o| match o {
            ProjectionItem::Field { value, .. } => expr(value),
            ProjectionItem::Expand { from, .. } => field(from),
        })
}
