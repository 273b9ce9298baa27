//! The functions expressions may call (extension): scalar functions for the select list and
//! `WHERE`, and aggregates for windowed statements. Names are case-insensitive.

use serde::{Deserialize, Serialize};

/// A known function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// `concat(a, …)`: the arguments' text joined (NULLs skipped).
    Concat,
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `trim(s)`: leading and trailing whitespace removed.
    Trim,
    /// `length(s)`: number of characters.
    Length,
    /// `abs(x)`
    Abs,
    /// `round(x [, digits])`: half away from zero.
    Round,
    /// `floor(x)`
    Floor,
    /// `ceil(x)`
    Ceil,
    /// `coalesce(a, …)`: the first non-NULL argument.
    Coalesce,
    /// `now()`: processing time, epoch milliseconds.
    Now,
    /// `min(x)` (aggregate)
    Min,
    /// `max(x)` (aggregate)
    Max,
    /// `avg(x)` (aggregate)
    Avg,
    /// `sum(x)` (aggregate)
    Sum,
    /// `count(*)` or `count(x)` (aggregate; `count(x)` skips NULLs)
    Count,
    /// `first(x)`: the value of the earliest record in the window (aggregate)
    First,
    /// `last(x)`: the value of the latest record in the window (aggregate)
    Last,
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly n.
    Exactly(usize),
    /// n or more.
    AtLeast(usize),
    /// Between the two, inclusive.
    Between(usize, usize),
}

impl Arity {
    /// True when `n` arguments are accepted.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::AtLeast(k) => n >= k,
            Arity::Between(a, b) => (a..=b).contains(&n),
        }
    }

    /// "1 argument", "at least 1 argument", "1 or 2 arguments".
    pub fn describe(self) -> &'static str {
        match self {
            Arity::Exactly(0) => "no arguments",
            Arity::Exactly(1) => "1 argument",
            Arity::AtLeast(1) => "at least 1 argument",
            Arity::Between(1, 2) => "1 or 2 arguments",
            _ => "a different number of arguments",
        }
    }
}

impl Function {
    /// Every function, scalar ones first.
    pub const ALL: [Function; 18] = [
        Function::Concat,
        Function::Lower,
        Function::Upper,
        Function::Trim,
        Function::Length,
        Function::Abs,
        Function::Round,
        Function::Floor,
        Function::Ceil,
        Function::Coalesce,
        Function::Now,
        Function::Min,
        Function::Max,
        Function::Avg,
        Function::Sum,
        Function::Count,
        Function::First,
        Function::Last,
    ];

    /// The lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Concat => "concat",
            Function::Lower => "lower",
            Function::Upper => "upper",
            Function::Trim => "trim",
            Function::Length => "length",
            Function::Abs => "abs",
            Function::Round => "round",
            Function::Floor => "floor",
            Function::Ceil => "ceil",
            Function::Coalesce => "coalesce",
            Function::Now => "now",
            Function::Min => "min",
            Function::Max => "max",
            Function::Avg => "avg",
            Function::Sum => "sum",
            Function::Count => "count",
            Function::First => "first",
            Function::Last => "last",
        }
    }

    /// The function named `name`, in any letter case.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// True for the aggregates (min, max, avg, sum, count, first, last).
    pub const fn is_aggregate(self) -> bool {
        matches!(
            self,
            Function::Min
                | Function::Max
                | Function::Avg
                | Function::Sum
                | Function::Count
                | Function::First
                | Function::Last
        )
    }

    /// How many arguments it takes.
    pub const fn arity(self) -> Arity {
        match self {
            Function::Concat | Function::Coalesce => Arity::AtLeast(1),
            Function::Round => Arity::Between(1, 2),
            Function::Now => Arity::Exactly(0),
            _ => Arity::Exactly(1),
        }
    }

    /// The known function names, comma-separated (for error messages).
    pub fn known_names() -> String {
        let mut names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
        names.push("cast");
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_complete() {
        for f in Function::ALL {
            assert_eq!(Function::from_name(&f.name().to_ascii_uppercase()), Some(f));
        }
        assert_eq!(Function::from_name("nope"), None);
        assert!(Function::Count.is_aggregate());
        assert!(!Function::Concat.is_aggregate());
        assert!(Function::Round.arity().accepts(2));
        assert!(!Function::Now.arity().accepts(1));
    }
}
