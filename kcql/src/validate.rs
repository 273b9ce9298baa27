//! Semantic checks the reference makes after parsing (its listener's checks): `_.` paths,
//! duplicate select fields, aliased `_.key.*`. Range and enum checks (BATCH, LIMIT, TTL,
//! TIMESTAMPUNIT, WITHFORMAT, STOREAS, PARTITIONBY, tags, KEYDELIMITER) are made by the parser
//! where the value is read, so their errors point at the value.
//!
//! Runs on every parse, so it works on borrowed data and does not allocate for statements with
//! up to 8 parentless select fields.

use crate::ast::{
    ColumnPath, Duration, Expr, Statement, Window, WindowKind, MAX_WINDOWS_PER_RECORD,
};
use crate::diag::{ErrorKind, Failure};
use crate::functions::Function;
use crate::keyword::ClauseKind;
use crate::reference::{field_ref, visit_select, FieldType, Route};

/// Parentless value fields seen so far, for the duplicate check.
struct Seen<'a> {
    inline: [(&'a str, FieldType); 8],
    len: usize,
    spill: Vec<(&'a str, FieldType)>,
}

impl<'a> Seen<'a> {
    fn new() -> Self {
        Seen {
            inline: [("", FieldType::Value); 8],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn contains(&self, name: &str, t: FieldType) -> bool {
        let same = |(n, ft): &(&str, FieldType)| *n == name && *ft == t;
        self.inline[..self.len].iter().any(same) || self.spill.iter().any(same)
    }

    fn push(&mut self, name: &'a str, t: FieldType) {
        if self.len < self.inline.len() {
            self.inline[self.len] = (name, t);
            self.len += 1;
        } else {
            self.spill.push((name, t));
        }
    }
}

/// Checks `stmt`, returning the first problem found.
pub(crate) fn validate(stmt: &Statement) -> Result<(), Failure> {
    let mut seen = Seen::new();
    visit_select(&stmt.select, &mut |index, route, field| {
        let span = stmt.select[index].span;
        let field = field.map_err(|k| Failure::new(k, span))?;
        // The reference turns a call's column arguments into fields; they name inputs, not
        // outputs, so they are not checked for duplicates.
        let from_call = matches!(stmt.select[index].expr, Expr::Call { .. });
        if field.parents.is_empty() && !from_call {
            // (Names are short: a byte loop, not `contains`' memchr.)
            let exempt =
                field.name.bytes().any(|c| c == b'(') && field.name.bytes().any(|c| c == b')');
            if !exempt && seen.contains(field.name, field.field_type) {
                let name = field.name.to_string();
                let kind = match route {
                    Route::Value => ErrorKind::DuplicateField { name },
                    Route::Key => ErrorKind::DuplicateKeyField { name },
                    Route::Header => ErrorKind::DuplicateHeaderField { name },
                };
                return Err(Failure::new(kind, span).help("remove or alias one of them"));
            }
            if route == Route::Value {
                seen.push(field.name, field.field_type);
            }
        }
        Ok(())
    })?;
    for item in &stmt.ignore {
        field_ref(&item.path.segments, item.path.wildcard, item.alias.as_ref())
            .map_err(|k| Failure::new(k, item.path.span))?;
    }
    for pk in &stmt.primary_keys {
        field_ref(&pk.segments, pk.wildcard, None).map_err(|k| Failure::new(k, pk.span))?;
    }
    validate_extensions(stmt)
}

/// Checks the extensions: known functions and their arity, `*` placement, aggregates only in
/// the select list and only with a WINDOW, and every other selected field grouped.
pub(crate) fn validate_extensions(stmt: &Statement) -> Result<(), Failure> {
    let mut first_aggregate: Option<(String, crate::span::Span)> = None;
    for item in &stmt.select {
        // A top-level column (`*` allowed) is always well-formed and never an aggregate.
        if matches!(&item.expr, Expr::Column(_)) {
            continue;
        }
        check_expr(
            &item.expr,
            Context {
                aggregate: None,
                in_where: false,
                star_ok: false,
            },
        )
        .map_err(|k| Failure::new(k, item.span))?;
        if first_aggregate.is_none() {
            if let Some(name) = find_aggregate(&item.expr) {
                first_aggregate = Some((name, item.span));
            }
        }
    }
    if let Some(w) = &stmt.where_clause {
        let span = stmt.spans.clause(ClauseKind::Where).unwrap_or_default();
        check_expr(
            w,
            Context {
                aggregate: None,
                in_where: true,
                star_ok: false,
            },
        )
        .map_err(|k| Failure::new(k, span))?;
    }
    match first_aggregate {
        None => {
            for (clause, present) in [
                (ClauseKind::GroupBy, !stmt.group_by.is_empty()),
                (ClauseKind::Window, stmt.window.is_some()),
            ] {
                if present {
                    let span = stmt.spans.clause(clause).unwrap_or_default();
                    return Err(Failure::new(
                        ErrorKind::GroupingWithoutAggregate {
                            clause: clause.keyword(),
                        },
                        span,
                    ));
                }
            }
        }
        Some((name, span)) => {
            if stmt.window.is_none() {
                return Err(
                    Failure::new(ErrorKind::AggregateWithoutWindow { name }, span)
                        .help("add e.g. `GROUP BY id WINDOW TUMBLING(2s)`"),
                );
            }
            for item in &stmt.select {
                let mut bare = Vec::new();
                columns_outside_aggregates(&item.expr, &mut bare);
                for path in bare {
                    let grouped = stmt.group_by.iter().any(|g| g == path);
                    if !grouped {
                        return Err(Failure::new(
                            ErrorKind::FieldNotGrouped {
                                name: path.dotted(),
                            },
                            item.span,
                        )
                        .help("add it to GROUP BY, or aggregate it (e.g. last(x))"));
                    }
                }
            }
        }
    }
    check_window(stmt)
}

/// Checks that the statement's window, if any, puts each record in at most
/// [`MAX_WINDOWS_PER_RECORD`] windows (the error points at the WINDOW clause). The parser runs it
/// on every statement; the window processor's compiler runs it again for statements built in
/// code.
pub(crate) fn check_window(stmt: &Statement) -> Result<(), Failure> {
    let Some(Window {
        kind: kind @ WindowKind::Hopping { size, advance },
        ..
    }) = stmt.window
    else {
        return Ok(());
    };
    let count = kind.windows_per_record();
    if count <= MAX_WINDOWS_PER_RECORD {
        return Ok(());
    }
    let span = stmt
        .spans
        .clause(ClauseKind::Window)
        .unwrap_or(stmt.spans.statement);
    let min_advance = Duration {
        millis: size.millis.div_ceil(MAX_WINDOWS_PER_RECORD),
    };
    let max_size = Duration {
        millis: advance.millis.max(1).saturating_mul(MAX_WINDOWS_PER_RECORD),
    };
    Err(Failure::new(
        ErrorKind::TooManyWindows {
            count,
            max: MAX_WINDOWS_PER_RECORD,
        },
        span,
    )
    .help(format!(
        "each record is added to every window that holds it: make the advance at least \
         {min_advance} or the size at most {max_size}"
    )))
}

#[derive(Clone, Copy)]
struct Context<'a> {
    /// The aggregate being walked inside, if any.
    aggregate: Option<&'a str>,
    in_where: bool,
    /// Whether a `*` column is allowed here.
    star_ok: bool,
}

fn check_expr(e: &Expr, cx: Context<'_>) -> Result<(), ErrorKind> {
    let inner = Context {
        star_ok: false,
        ..cx
    };
    match e {
        Expr::Column(p) if p.wildcard && !cx.star_ok => Err(ErrorKind::MisplacedWildcard),
        Expr::Column(_) | Expr::String { .. } | Expr::Literal { .. } => Ok(()),
        Expr::Call { name, args } => {
            let Some(func) = Function::from_name(name) else {
                return Err(ErrorKind::UnknownFunction {
                    name: name.clone(),
                    known: Function::known_names(),
                });
            };
            if !func.arity().accepts(args.len()) {
                return Err(ErrorKind::WrongArity {
                    name: func.name().to_string(),
                    expected: func.arity().describe(),
                    found: args.len(),
                });
            }
            if func.is_aggregate() {
                if cx.aggregate.is_some() {
                    return Err(ErrorKind::NestedAggregate { name: name.clone() });
                }
                if cx.in_where {
                    return Err(ErrorKind::AggregateInWhere { name: name.clone() });
                }
            }
            let cx = Context {
                aggregate: if func.is_aggregate() {
                    Some(name)
                } else {
                    cx.aggregate
                },
                in_where: cx.in_where,
                star_ok: func == Function::Count,
            };
            for a in args {
                let star_here = matches!(a, Expr::Column(p) if p.is_star());
                check_expr(
                    a,
                    Context {
                        star_ok: cx.star_ok && star_here,
                        ..cx
                    },
                )?;
            }
            Ok(())
        }
        Expr::Unary { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::Cast { expr, .. } => check_expr(expr, inner),
        Expr::Binary { left, right, .. } => {
            check_expr(left, inner)?;
            check_expr(right, inner)
        }
        Expr::InList { expr, list, .. } => {
            check_expr(expr, inner)?;
            list.iter().try_for_each(|e| check_expr(e, inner))
        }
    }
}

/// The name of the first aggregate call in `e`, if any.
fn find_aggregate(e: &Expr) -> Option<String> {
    match e {
        Expr::Call { name, args } => {
            if Function::from_name(name).is_some_and(Function::is_aggregate) {
                Some(name.clone())
            } else {
                args.iter().find_map(find_aggregate)
            }
        }
        Expr::Unary { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::Cast { expr, .. } => find_aggregate(expr),
        Expr::Binary { left, right, .. } => find_aggregate(left).or_else(|| find_aggregate(right)),
        Expr::InList { expr, list, .. } => {
            find_aggregate(expr).or_else(|| list.iter().find_map(find_aggregate))
        }
        Expr::Column(_) | Expr::String { .. } | Expr::Literal { .. } => None,
    }
}

/// The column paths `e` reads outside any aggregate call.
fn columns_outside_aggregates<'a>(e: &'a Expr, out: &mut Vec<&'a ColumnPath>) {
    match e {
        Expr::Column(p) => out.push(p),
        Expr::Call { name, args } => {
            if !Function::from_name(name).is_some_and(Function::is_aggregate) {
                args.iter().for_each(|a| columns_outside_aggregates(a, out));
            }
        }
        Expr::Unary { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::Cast { expr, .. } => columns_outside_aggregates(expr, out),
        Expr::Binary { left, right, .. } => {
            columns_outside_aggregates(left, out);
            columns_outside_aggregates(right, out);
        }
        Expr::InList { expr, list, .. } => {
            columns_outside_aggregates(expr, out);
            list.iter().for_each(|a| columns_outside_aggregates(a, out));
        }
        Expr::String { .. } | Expr::Literal { .. } => {}
    }
}
