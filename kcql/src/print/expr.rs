//! Printing expressions with the fewest parentheses that re-parse to the same tree.

use super::{write_ident, write_list};
use crate::ast::*;
use std::fmt::{self, Display, Formatter, Write};

/// Binding strength of the printed form of `e` (higher binds tighter); see `parse/expr.rs`.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => op.precedence(),
        Expr::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        Expr::IsNull { .. } | Expr::InList { .. } | Expr::Like { .. } => 4,
        Expr::Unary {
            op: UnaryOp::Neg, ..
        } => 8,
        Expr::Literal {
            value: Literal::Int(n),
        } if *n < 0 => 8,
        Expr::Literal {
            value: Literal::Float(v),
        } if v.is_sign_negative() => 8,
        _ => 9,
    }
}

/// Writes `e`, in parentheses when it binds looser than `min`.
fn child(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if precedence(e) < min {
        write!(f, "({e})")
    } else {
        e.fmt(f)
    }
}

/// A non-negative float that reads back as a float: always with a `.`.
fn write_float_abs(f: &mut Formatter<'_>, v: f64) -> fmt::Result {
    let text = format!("{}", v.abs());
    f.write_str(&text)?;
    if !text.contains('.') {
        f.write_str(".0")?;
    }
    Ok(())
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match *self {
            // `-` is a name character, so negative numbers are written `- 5`.
            Literal::Int(n) if n < 0 => write!(f, "- {}", n.unsigned_abs()),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(v) => {
                if v.is_sign_negative() {
                    f.write_str("- ")?;
                }
                write_float_abs(f, v)
            }
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(p) => p.fmt(f),
            Expr::String { value } => write!(f, "'{value}'"),
            Expr::Call { name, args } => {
                // A call name is a word followed by `(`; backticks would make it a column.
                f.write_str(name)?;
                f.write_char('(')?;
                write_list(f, args)?;
                f.write_char(')')
            }
            Expr::Literal { value } => value.fmt(f),
            Expr::Unary {
                op: UnaryOp::Not,
                expr,
            } => {
                f.write_str("NOT ")?;
                child(f, expr, 3)
            }
            Expr::Unary {
                op: UnaryOp::Neg,
                expr,
            } => {
                f.write_str("- ")?;
                // `- 5` would read back as the literal -5, so a negated number is parenthesised.
                let number = matches!(
                    **expr,
                    Expr::Literal {
                        value: Literal::Int(_) | Literal::Float(_)
                    }
                );
                if number {
                    write!(f, "({expr})")
                } else {
                    child(f, expr, 8)
                }
            }
            Expr::Binary { op, left, right } => {
                let p = op.precedence();
                // Left-associative, except comparisons, which do not chain at all.
                let left_min = if p == 4 { p + 1 } else { p };
                child(f, left, left_min)?;
                write!(f, " {} ", op.symbol())?;
                child(f, right, p + 1)
            }
            Expr::IsNull { expr, negated } => {
                child(f, expr, 5)?;
                f.write_str(if *negated { " IS NOT NULL" } else { " IS NULL" })
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                child(f, expr, 5)?;
                f.write_str(if *negated { " NOT IN (" } else { " IN (" })?;
                write_list(f, list)?;
                f.write_char(')')
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                child(f, expr, 5)?;
                write!(
                    f,
                    "{} '{pattern}'",
                    if *negated { " NOT LIKE" } else { " LIKE" }
                )
            }
            Expr::Cast { expr, to } => write!(f, "CAST({expr} AS {})", to.name()),
        }
    }
}

/// Writes a select item's expression: a lone `TRUE`/`FALSE`/`NULL` there would read back as a
/// field name, so it is parenthesised.
pub(super) fn write_select_expr(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    match e {
        Expr::Literal {
            value: Literal::Bool(_) | Literal::Null,
        } => write!(f, "({e})"),
        _ => e.fmt(f),
    }
}

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (size, unit) in UNITS {
            if self.millis > 0 && self.millis.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.millis / size);
            }
        }
        write!(f, "{}ms", self.millis)
    }
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.kind {
            WindowKind::Tumbling { size } => write!(f, "TUMBLING({size})")?,
            WindowKind::Hopping { size, advance } => write!(f, "HOPPING({size}, {advance})")?,
        }
        if let Some(g) = self.grace {
            write!(f, " GRACE {g}")?;
        }
        Ok(())
    }
}

impl Display for Retention {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Duration(d) => d.fmt(f),
            Retention::Policy(p) => {
                if Duration::parse(p).is_some() {
                    write!(f, "`{p}`")
                } else {
                    write_ident(f, p)
                }
            }
        }
    }
}
