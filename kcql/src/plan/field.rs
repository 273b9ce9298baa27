//! Field references and expressions with every path pre-split and pre-resolved, so the runtime
//! never looks at KCQL text again.

use crate::ast::{BinaryOp, CastType, ColumnPath, Expr, Literal, UnaryOp};
use crate::functions::Function;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which part of a record a value is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "part", content = "name", rename_all = "snake_case")]
pub enum RecordPart {
    /// The record value (payload).
    Value,
    /// The record key (`_key.…`, `_.key.…`).
    Key,
    /// A record header (`_header.name`).
    Header(String),
    /// The topic (`_.topic`).
    Topic,
    /// The partition (`_.partition`).
    Partition,
    /// The offset (`_.offset`).
    Offset,
    /// The record timestamp (`_.timestamp`).
    Timestamp,
}

/// A resolved field: a record part and a path inside it (empty = the part itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldRef {
    /// Where to read.
    #[serde(flatten)]
    pub part: RecordPart,
    /// The path of member names inside that part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
}

impl FieldRef {
    /// A path inside the record value.
    pub fn value<I: IntoIterator<Item = S>, S: Into<String>>(path: I) -> Self {
        FieldRef {
            part: RecordPart::Value,
            path: path.into_iter().map(Into::into).collect(),
        }
    }

    /// The last path element (the natural output name), or the part's name.
    pub fn last_name(&self) -> String {
        match (self.path.last(), &self.part) {
            (Some(last), _) => last.clone(),
            (None, RecordPart::Value) => "value".into(),
            (None, RecordPart::Key) => "key".into(),
            (None, RecordPart::Header(h)) => h.clone(),
            (None, RecordPart::Topic) => "topic".into(),
            (None, RecordPart::Partition) => "partition".into(),
            (None, RecordPart::Offset) => "offset".into(),
            (None, RecordPart::Timestamp) => "timestamp".into(),
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match &self.part {
            RecordPart::Value => None,
            RecordPart::Key => Some("_key".to_string()),
            RecordPart::Header(h) => return write!(f, "_header.{h}"),
            RecordPart::Topic => return f.write_str("_.topic"),
            RecordPart::Partition => return f.write_str("_.partition"),
            RecordPart::Offset => return f.write_str("_.offset"),
            RecordPart::Timestamp => return f.write_str("_.timestamp"),
        };
        let mut parts: Vec<&str> = prefix.iter().map(String::as_str).collect();
        parts.extend(self.path.iter().map(String::as_str));
        if parts.is_empty() {
            f.write_str("_value")
        } else {
            f.write_str(&parts.join("."))
        }
    }
}

/// Resolves a column path (without wildcard) to a record part and path, with the reference's
/// rules: `_key.a` and `_.key.a` read the key, `_header.h` a header, `_.topic|partition|offset|
/// timestamp` metadata; anything else the value.
pub fn resolve(path: &ColumnPath) -> FieldRef {
    let segs = &path.segments;
    let rest = |from: usize| segs.get(from..).unwrap_or_default().to_vec();
    match segs.first().map(String::as_str) {
        Some("_key") => FieldRef {
            part: RecordPart::Key,
            path: rest(1),
        },
        Some("_header") if segs.len() > 1 => FieldRef {
            part: RecordPart::Header(segs[1..].join(".")),
            path: Vec::new(),
        },
        Some(s) if segs.len() == 1 && s.starts_with("_key.") => FieldRef {
            part: RecordPart::Key,
            path: s["_key.".len()..].split('.').map(str::to_string).collect(),
        },
        Some(s) if segs.len() == 1 && s.starts_with("_header.") => FieldRef {
            part: RecordPart::Header(s["_header.".len()..].to_string()),
            path: Vec::new(),
        },
        Some("_") if segs.len() >= 2 => {
            let last = segs[segs.len() - 1].to_ascii_lowercase();
            let meta = match last.as_str() {
                "topic" => Some(RecordPart::Topic),
                "partition" => Some(RecordPart::Partition),
                "offset" => Some(RecordPart::Offset),
                "timestamp" => Some(RecordPart::Timestamp),
                _ => None,
            };
            match meta {
                Some(part) => FieldRef {
                    part,
                    path: Vec::new(),
                },
                // `_.key.a.b` (validated by the parser).
                None => FieldRef {
                    part: RecordPart::Key,
                    path: rest(2),
                },
            }
        }
        _ => FieldRef {
            part: RecordPart::Value,
            path: segs.clone(),
        },
    }
}

/// A `LIKE` pattern, pre-split into literal runs and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikePattern {
    /// The pattern as written.
    pub source: String,
    /// The pieces, in order.
    pub parts: Vec<LikePart>,
}

/// One piece of a [`LikePattern`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum LikePart {
    /// Literal text.
    Text(String),
    /// `_`: exactly one character.
    One,
    /// `%`: any run of characters, possibly empty.
    Any,
}

impl LikePattern {
    /// Splits `source` on `%` and `_`.
    pub fn compile(source: &str) -> Self {
        let mut parts = Vec::new();
        let mut text = String::new();
        for c in source.chars() {
            let wild = match c {
                '%' => Some(LikePart::Any),
                '_' => Some(LikePart::One),
                _ => None,
            };
            match wild {
                Some(w) => {
                    if !text.is_empty() {
                        parts.push(LikePart::Text(std::mem::take(&mut text)));
                    }
                    if !(w == LikePart::Any && parts.last() == Some(&LikePart::Any)) {
                        parts.push(w);
                    }
                }
                None => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(LikePart::Text(text));
        }
        LikePattern {
            source: source.to_string(),
            parts,
        }
    }

    /// True when `s` matches the whole pattern. Time is linear in `s` times the pattern's
    /// length, whatever the pattern: the text before the first `%` must start `s`, the text
    /// after the last `%` (a fixed number of characters) must end it, and each run between
    /// two `%` is matched at its leftmost place after the previous one (leftmost is never
    /// worse for what follows), so nothing is ever retried.
    pub fn matches(&self, s: &str) -> bool {
        let is_any = |p: &LikePart| *p == LikePart::Any;
        let mut runs = self.parts.split(is_any);
        let first = runs.next().unwrap_or_default();
        let Some(start) = match_run_at(first, s, 0) else {
            return false;
        };
        let wildcards = self.parts.iter().filter(|p| is_any(p)).count();
        if wildcards == 0 {
            return start == s.len();
        }
        let last = self.parts.rsplit(is_any).next().unwrap_or_default();
        let Some(end) = back_by_chars(s, run_chars(last)) else {
            return false;
        };
        if end < start || match_run_at(last, s, end) != Some(s.len()) {
            return false;
        }
        let mut at = start;
        for run in runs.take(wildcards - 1) {
            match find_run(run, s, at, end) {
                Some(after) => at = after,
                None => return false,
            }
        }
        true
    }
}

/// Where a run of text and `_` (no `%`) that starts at byte `at` of `s` ends, if it matches.
fn match_run_at(run: &[LikePart], s: &str, mut at: usize) -> Option<usize> {
    for part in run {
        let rest = s.get(at..)?;
        at += match part {
            LikePart::Text(t) => rest.starts_with(t.as_str()).then_some(t.len())?,
            LikePart::One => rest.chars().next()?.len_utf8(),
            LikePart::Any => return None,
        };
    }
    Some(at)
}

/// How many characters a run of text and `_` matches.
fn run_chars(run: &[LikePart]) -> usize {
    run.iter()
        .map(|p| match p {
            LikePart::Text(t) => t.chars().count(),
            LikePart::One => 1,
            LikePart::Any => 0,
        })
        .sum()
}

/// The byte offset `chars` characters before the end of `s`.
fn back_by_chars(s: &str, chars: usize) -> Option<usize> {
    let mut at = s.len();
    for _ in 0..chars {
        at -= s.get(..at)?.chars().next_back()?.len_utf8();
    }
    Some(at)
}

/// The end of the leftmost match of `run` in `s` starting at or after byte `from` and ending at
/// or before byte `limit`.
fn find_run(run: &[LikePart], s: &str, from: usize, limit: usize) -> Option<usize> {
    let starts = s.get(from..limit)?.char_indices().map(|(i, _)| from + i);
    starts
        .chain([limit])
        .find_map(|i| match_run_at(run, s, i).filter(|&end| end <= limit))
}

/// An expression with fields resolved and functions looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanExpr {
    /// Read a field.
    Field {
        /// The field.
        field: FieldRef,
    },
    /// A constant.
    Literal {
        /// The value.
        value: Literal,
    },
    /// A string constant.
    String {
        /// The text.
        value: String,
    },
    /// A scalar function.
    Call {
        /// The function.
        function: Function,
        /// Its arguments.
        args: Vec<PlanExpr>,
    },
    /// The result of the window processor's aggregate number `index`.
    Aggregate {
        /// Index into the route's aggregates.
        index: usize,
    },
    /// `-x`, `NOT x`
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<PlanExpr>,
    },
    /// `a op b`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<PlanExpr>,
        /// Right operand.
        right: Box<PlanExpr>,
    },
    /// `x IS [NOT] NULL`
    IsNull {
        /// Tested.
        expr: Box<PlanExpr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `x [NOT] IN (…)`
    InList {
        /// Tested.
        expr: Box<PlanExpr>,
        /// Candidates.
        list: Vec<PlanExpr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `x [NOT] LIKE '…'`
    Like {
        /// Tested.
        expr: Box<PlanExpr>,
        /// The compiled pattern.
        pattern: LikePattern,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `CAST(x AS t)`
    Cast {
        /// Converted.
        expr: Box<PlanExpr>,
        /// Target type.
        to: CastType,
    },
}

impl PlanExpr {
    /// Whether `function` is called anywhere in this expression.
    pub fn calls(&self, function: Function) -> bool {
        match self {
            PlanExpr::Field { .. }
            | PlanExpr::Literal { .. }
            | PlanExpr::String { .. }
            | PlanExpr::Aggregate { .. } => false,
            PlanExpr::Call { function: f, args } => {
                *f == function || args.iter().any(|a| a.calls(function))
            }
            PlanExpr::Binary { left, right, .. } => left.calls(function) || right.calls(function),
            PlanExpr::InList { expr, list, .. } => {
                expr.calls(function) || list.iter().any(|a| a.calls(function))
            }
            PlanExpr::Unary { expr, .. }
            | PlanExpr::IsNull { expr, .. }
            | PlanExpr::Like { expr, .. }
            | PlanExpr::Cast { expr, .. } => expr.calls(function),
        }
    }
}

/// Resolves a validated expression that holds no aggregate call (a `WHERE` condition, a
/// projected column of the MQTT source or the InfluxDB sink, an aggregate's argument).
pub(crate) fn resolve_scalar(e: &Expr) -> PlanExpr {
    resolve_expr(e, &mut |_| 0)
}

/// Resolves a validated scalar expression. `aggregate` is called for each aggregate call (the
/// window processor registers it and returns its index); elsewhere aggregates cannot occur
/// (the compiler rejects them first).
pub(crate) fn resolve_expr(e: &Expr, aggregate: &mut dyn FnMut(&Expr) -> usize) -> PlanExpr {
    let mut rec = |x: &Expr| Box::new(resolve_expr(x, aggregate));
    match e {
        Expr::Column(p) => PlanExpr::Field { field: resolve(p) },
        Expr::String { value } => PlanExpr::String {
            value: value.clone(),
        },
        Expr::Literal { value } => PlanExpr::Literal { value: *value },
        Expr::Call { name, args } => match Function::from_name(name) {
            Some(f) if f.is_aggregate() => PlanExpr::Aggregate {
                index: aggregate(e),
            },
            Some(function) => PlanExpr::Call {
                function,
                args: args.iter().map(|a| resolve_expr(a, aggregate)).collect(),
            },
            // Unknown functions are rejected by the parser's validation.
            None => PlanExpr::Literal {
                value: Literal::Null,
            },
        },
        Expr::Unary { op, expr } => PlanExpr::Unary {
            op: *op,
            expr: rec(expr),
        },
        Expr::Binary { op, left, right } => {
            let left = rec(left);
            let right = rec(right);
            PlanExpr::Binary {
                op: *op,
                left,
                right,
            }
        }
        Expr::IsNull { expr, negated } => PlanExpr::IsNull {
            expr: rec(expr),
            negated: *negated,
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => PlanExpr::InList {
            expr: rec(expr),
            list: list.iter().map(|x| resolve_expr(x, aggregate)).collect(),
            negated: *negated,
        },
        Expr::Like {
            expr,
            pattern,
            negated,
        } => PlanExpr::Like {
            expr: rec(expr),
            pattern: LikePattern::compile(pattern),
            negated: *negated,
        },
        Expr::Cast { expr, to } => PlanExpr::Cast {
            expr: rec(expr),
            to: *to,
        },
    }
}

/// True when `e` contains an aggregate call.
pub(crate) fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Call { name, args } => {
            Function::from_name(name).is_some_and(Function::is_aggregate)
                || args.iter().any(has_aggregate)
        }
        Expr::Unary { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::Cast { expr, .. } => has_aggregate(expr),
        Expr::Binary { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        Expr::InList { expr, list, .. } => has_aggregate(expr) || list.iter().any(has_aggregate),
        Expr::Column(_) | Expr::String { .. } | Expr::Literal { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> ColumnPath {
        ColumnPath::new(s.split('.'))
    }

    #[test]
    fn resolves_reference_paths() {
        assert_eq!(resolve(&path("a.b")), FieldRef::value(["a", "b"]));
        assert_eq!(
            resolve(&path("_key.id")),
            FieldRef {
                part: RecordPart::Key,
                path: vec!["id".into()]
            }
        );
        assert_eq!(
            resolve(&path("_.key.a.b")),
            FieldRef {
                part: RecordPart::Key,
                path: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            resolve(&path("_header.src")),
            FieldRef {
                part: RecordPart::Header("src".into()),
                path: vec![]
            }
        );
        assert_eq!(resolve(&path("_.Offset")).part, RecordPart::Offset);
        assert_eq!(resolve(&ColumnPath::new(["_key.x.y"])).path, ["x", "y"]);
    }

    #[test]
    fn like_patterns() {
        let p = LikePattern::compile("sensor-%_x");
        assert!(p.matches("sensor-12x"));
        assert!(p.matches("sensor-ax"));
        assert!(!p.matches("sensor-x"));
        assert!(!p.matches("other-12x"));
        assert!(LikePattern::compile("%").matches(""));
        assert!(LikePattern::compile("a%%b").matches("ab"));
        assert!(LikePattern::compile("é_").matches("éé"));
        assert!(!LikePattern::compile("abc").matches("abcd"));
    }

    /// The backtracking matcher this one replaces: exponential on `%a%a%…b`, but obviously
    /// right, so the reference for the property below.
    fn reference(parts: &[LikePart], s: &str) -> bool {
        match parts.split_first() {
            None => s.is_empty(),
            Some((LikePart::Text(t), rest)) => s
                .strip_prefix(t.as_str())
                .is_some_and(|r| reference(rest, r)),
            Some((LikePart::One, rest)) => {
                let mut chars = s.chars();
                chars.next().is_some() && reference(rest, chars.as_str())
            }
            Some((LikePart::Any, rest)) => s
                .char_indices()
                .map(|(i, _)| i)
                .chain([s.len()])
                .any(|i| reference(rest, &s[i..])),
        }
    }

    proptest::proptest! {
        #[test]
        fn like_agrees_with_the_backtracking_reference(
            pattern in "[ab%_é]{0,7}",
            text in "[abé]{0,9}",
        ) {
            let p = LikePattern::compile(&pattern);
            proptest::prop_assert_eq!(p.matches(&text), reference(&p.parts, &text), "{} ~ {}", pattern, text);
        }
    }

    #[test]
    fn like_is_not_exponential_in_wildcards() {
        // The backtracking matcher takes astronomically long here (it tries every way to place
        // eleven `%` in a megabyte); this one scans the text a few times.
        let text = "a".repeat(1 << 20);
        let p = LikePattern::compile("%a%a%a%a%a%a%a%a%a%a%b");
        assert!(!p.matches(&text));
        let p = LikePattern::compile("%a%a%a%a%a%a%a%a%a%a%");
        assert!(p.matches(&text));
    }
}
