//! Diagnostics: typed errors with a byte span, rendered with `line:col`, the source line, a caret
//! under the span, what was expected and a suggestion.

use crate::span::{floor_char_boundary, line_col, Span};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// What went wrong. Lexical, syntactic and semantic errors share one enum so callers can match
/// on any of them; [`ErrorKind::stage`] tells which stage raised it. New kinds may be added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is empty or only whitespace.
    #[error("empty statement")]
    EmptyStatement,
    /// A character no token starts with.
    #[error("unexpected character `{ch}`")]
    UnexpectedChar {
        /// The character.
        ch: char,
    },
    /// A `'` string with no closing quote on the same line.
    #[error("unterminated string: a `'` string must close on the same line")]
    UnterminatedString,
    /// A `` ` `` name with no closing backtick.
    #[error("unterminated backticked name")]
    UnterminatedBacktick,
    /// ``` `` ``` with nothing inside.
    #[error("empty backticked name")]
    EmptyBacktick,
    /// The parser found something other than what may come next.
    #[error("expected {}, found {found}", one_of(expected))]
    Unexpected {
        /// What could have come next.
        expected: Vec<String>,
        /// What was found.
        found: String,
    },
    /// A reserved word where a name is needed.
    #[error("`{word}` is a keyword and cannot be used as a name here")]
    ReservedWord {
        /// The word.
        word: String,
    },
    /// A name made only of digits (the reference lexes it as a number).
    #[error("`{word}` is a number, not a name")]
    NumericName {
        /// The digits.
        word: String,
    },
    /// A clause written twice.
    #[error("{clause} is given more than once")]
    DuplicateClause {
        /// The clause keyword.
        clause: &'static str,
    },
    /// Two clauses that exclude each other.
    #[error("{clause} cannot be combined with {other}")]
    ConflictingClauses {
        /// The later clause.
        clause: &'static str,
        /// The earlier clause.
        other: &'static str,
    },
    /// A number outside the range its clause allows.
    #[error("{clause} must be an integer from {min} to {max}, found `{found}`")]
    NumberOutOfRange {
        /// The clause keyword.
        clause: &'static str,
        /// The smallest allowed value.
        min: u64,
        /// The largest allowed value.
        max: u64,
        /// The text found.
        found: String,
    },
    /// `TIMESTAMPUNIT` names no Java `TimeUnit`.
    #[error("invalid TIMESTAMPUNIT `{found}`: expected one of NANOSECONDS, MICROSECONDS, MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS")]
    InvalidTimeUnit {
        /// The text found.
        found: String,
    },
    /// `WITHFORMAT` names no known format.
    #[error("invalid WITHFORMAT `{found}`: expected one of AVRO, PROTOBUF, TEXT, BINARY, JSON, OBJECT or MAP")]
    InvalidFormat {
        /// The text found.
        found: String,
    },
    /// `KEYDELIMITER` is not one allowed character.
    #[error("invalid KEYDELIMITER {found}: expected one character from [A-Za-z0-9_-+/{{}}:|#@`^[]*?$] in single quotes")]
    InvalidKeyDelimiter {
        /// The text found.
        found: String,
    },
    /// A select field defined twice.
    #[error("field `{name}` has already been defined")]
    DuplicateField {
        /// The field name.
        name: String,
    },
    /// A `_key.` field whose name is already a value field.
    #[error("key field `{name}` has already been defined")]
    DuplicateKeyField {
        /// The field name.
        name: String,
    },
    /// A `_header.` field whose name is already a value field.
    #[error("header field `{name}` has already been defined")]
    DuplicateHeaderField {
        /// The field name.
        name: String,
    },
    /// `_.key.* AS x`.
    #[error("`*` cannot be aliased")]
    AliasedWildcard,
    /// `_.x` where `x` is not key/topic/partition/offset/timestamp.
    #[error("`_` must be followed by key, topic, partition, offset or timestamp")]
    BadMetadataPath,
    /// `_.key` with nothing after `key`.
    #[error("`_.key` must be followed by a field path or `*`")]
    EmptyKeyPath,
    /// `IGNORE *`
    #[error("`IGNORE *` would ignore every field")]
    IgnoreWildcard,
    /// `PK *`
    #[error("`*` is not a valid primary key")]
    WildcardPrimaryKey,
    /// `STOREAS t ()`
    #[error("STOREAS parameters `()` must hold at least one `name = value`")]
    EmptyStoreAsParams,
    /// A STOREAS parameter given twice (ignoring case).
    #[error("STOREAS parameter `{name}` is given more than once")]
    DuplicateStoreAsParam {
        /// The parameter name.
        name: String,
    },
    /// A tag key ending in `.`.
    #[error("tag `{key}` ends with `.`")]
    TagKeyEndsWithDot {
        /// The key.
        key: String,
    },
    /// `PARTITIONBY` entry given twice (ignoring case).
    #[error("PARTITIONBY field `{name}` is given more than once")]
    DuplicatePartition {
        /// The entry.
        name: String,
    },
    /// A value that must be backticked (WITHCONVERTER, WITHJMSSELECTOR, WITHREGEX).
    #[error("{clause} takes a backticked value")]
    NeedsBackticks {
        /// The clause keyword.
        clause: &'static str,
    },
    /// A number that does not fit its type.
    #[error("invalid number `{text}`")]
    InvalidNumber {
        /// The text.
        text: String,
    },
    /// A duration that is not `<n>ms|s|m|h|d` (or zero where it must be positive).
    #[error("invalid duration `{text}`")]
    InvalidDuration {
        /// The text.
        text: String,
    },
    /// A window that cannot work.
    #[error("invalid WINDOW: {reason}")]
    InvalidWindow {
        /// Why.
        reason: String,
    },
    /// A hopping window whose size / advance puts each record in too many windows.
    #[error(
        "too many windows per record: HOPPING size / advance must be at most {max}, found {count}"
    )]
    TooManyWindows {
        /// Windows per record, ⌈size / advance⌉.
        count: u64,
        /// The limit, [`MAX_WINDOWS_PER_RECORD`](crate::ast::MAX_WINDOWS_PER_RECORD).
        max: u64,
    },
    /// A function nobody defined.
    #[error("unknown function `{name}`; known functions: {known}")]
    UnknownFunction {
        /// The name as written.
        name: String,
        /// The known functions, comma-separated.
        known: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("{name}() takes {expected}, found {found}")]
    WrongArity {
        /// The function.
        name: String,
        /// How many it takes ("1 argument", "1 or 2 arguments" …).
        expected: &'static str,
        /// How many were given.
        found: usize,
    },
    /// `*` where only `count(*)` allows it.
    #[error("`*` is only allowed alone in the select list or in count(*)")]
    MisplacedWildcard,
    /// An aggregate inside an aggregate.
    #[error("aggregate `{name}` cannot be nested inside another aggregate")]
    NestedAggregate {
        /// The inner aggregate.
        name: String,
    },
    /// An aggregate in WHERE.
    #[error(
        "aggregate `{name}` is not allowed in WHERE (WHERE filters records before aggregation)"
    )]
    AggregateInWhere {
        /// The aggregate.
        name: String,
    },
    /// Aggregates without a WINDOW clause.
    #[error("aggregate `{name}` needs a WINDOW clause")]
    AggregateWithoutWindow {
        /// The aggregate.
        name: String,
    },
    /// GROUP BY or WINDOW without any aggregate in the select list.
    #[error("{clause} needs at least one aggregate (min, max, avg, sum, count, first, last) in the select list")]
    GroupingWithoutAggregate {
        /// The clause keyword.
        clause: &'static str,
    },
    /// A field beside aggregates that is not grouped.
    #[error("field `{name}` must appear in GROUP BY or inside an aggregate")]
    FieldNotGrouped {
        /// The field path.
        name: String,
    },
    /// A clause the target connector cannot honour.
    #[error("{clause} is not supported by the {connector} connector")]
    UnsupportedClause {
        /// The clause keyword.
        clause: &'static str,
        /// The connector.
        connector: &'static str,
    },
    /// A statement without `INSERT INTO <target>`.
    #[error("the {connector} connector needs `INSERT INTO <target>`")]
    MissingTarget {
        /// The connector.
        connector: &'static str,
    },
    /// A write mode the connector cannot honour.
    #[error("{mode} is not supported by the {connector} connector")]
    UnsupportedWriteMode {
        /// The mode as written.
        mode: &'static str,
        /// The connector.
        connector: &'static str,
    },
    /// An invalid MQTT topic filter.
    #[error("invalid MQTT topic filter `{filter}`: {reason}")]
    InvalidTopicFilter {
        /// The filter.
        filter: String,
        /// Why.
        reason: String,
    },
    /// An invalid Kafka topic name.
    #[error("invalid Kafka topic name `{name}`: {reason}")]
    InvalidKafkaTopic {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A payload converter nobody defined.
    #[error("unknown converter `{name}`; known converters: {known}")]
    UnknownConverter {
        /// The name as written.
        name: String,
        /// The known converters.
        known: &'static str,
    },
    /// A `PROPERTIES` key the connector does not know.
    #[error("property `{key}` is not supported by the {connector} connector")]
    UnsupportedProperty {
        /// The key.
        key: String,
        /// The connector.
        connector: &'static str,
    },
    /// A computed select item without `AS name`.
    #[error("this expression needs a name: add `AS <name>`")]
    ComputedNeedsAlias,
    /// Aggregates on a connector that does not aggregate.
    #[error("aggregates are not supported by the {connector} connector")]
    AggregatesNotSupported {
        /// The connector.
        connector: &'static str,
    },
    /// A window-processor statement without aggregates.
    #[error("the window processor needs aggregates with `GROUP BY … WINDOW …`")]
    NoAggregates,
    /// The same route twice.
    #[error("this statement repeats the route of statement {other}")]
    DuplicateRoute {
        /// 1-based index of the earlier statement.
        other: usize,
    },
    /// A clause that needs another one.
    #[error("{clause} needs {needs}")]
    MissingDependency {
        /// The clause.
        clause: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// `.*` followed by more path segments, or `*` followed by `.field`.
    #[error("`*` must be the last segment of a column path")]
    WildcardNotLast,
}

/// Which stage of processing raised an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Characters that form no token.
    Lexical,
    /// Tokens in an order the grammar does not allow.
    Syntax,
    /// A well-formed statement that breaks a rule of the language.
    Semantic,
    /// A valid statement that the chosen connector cannot execute.
    Plan,
}

impl ErrorKind {
    /// The stage that raises this kind of error.
    pub fn stage(&self) -> Stage {
        use ErrorKind::*;
        match self {
            UnexpectedChar { .. } | UnterminatedString | UnterminatedBacktick | EmptyBacktick => {
                Stage::Lexical
            }
            EmptyStatement
            | Unexpected { .. }
            | ReservedWord { .. }
            | NumericName { .. }
            | DuplicateClause { .. }
            | ConflictingClauses { .. }
            | EmptyStoreAsParams
            | NeedsBackticks { .. }
            | WildcardNotLast
            | InvalidKeyDelimiter { .. } => Stage::Syntax,
            UnsupportedClause { .. }
            | MissingTarget { .. }
            | UnsupportedWriteMode { .. }
            | InvalidTopicFilter { .. }
            | InvalidKafkaTopic { .. }
            | UnknownConverter { .. }
            | UnsupportedProperty { .. }
            | ComputedNeedsAlias
            | AggregatesNotSupported { .. }
            | NoAggregates
            | DuplicateRoute { .. }
            | MissingDependency { .. } => Stage::Plan,
            _ => Stage::Semantic,
        }
    }
}

/// "A", "A or B", "one of A, B or C".
fn one_of(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("one of {} or {}", init.join(", "), last),
    }
}

/// Which statement of a multi-statement input an error belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// 1-based index of the statement.
    pub index: usize,
    /// The first few words of the statement.
    pub preview: String,
}

/// One error, located in its source text, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct Diagnostic {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where, as byte offsets into [`Diagnostic::input`].
    pub span: Span,
    /// A suggestion ("did you mean `WITHTAG`?", "quote it with backticks" …).
    pub help: Option<String>,
    /// The statement it belongs to, when the input held several.
    pub statement: Option<StatementRef>,
    /// The whole input text, shared by the diagnostics of one input.
    pub input: Arc<str>,
}

impl Diagnostic {
    /// A diagnostic for `kind` at `span` in `source`.
    pub fn new(kind: ErrorKind, span: Span, source: &str) -> Self {
        Diagnostic {
            kind,
            span,
            help: None,
            statement: None,
            input: Arc::from(source),
        }
    }

    /// Adds a suggestion.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column of the span's start.
    pub fn line_col(&self) -> (usize, usize) {
        line_col(&self.input, self.span.start)
    }

    /// The stage that raised the error.
    pub fn stage(&self) -> Stage {
        self.kind.stage()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        writeln!(f, "error: {}", self.kind)?;
        match &self.statement {
            Some(s) if s.preview.is_empty() => {
                writeln!(f, " --> {line}:{col} (statement {})", s.index)?
            }
            Some(s) => writeln!(
                f,
                " --> {line}:{col} (statement {}: `{}`)",
                s.index, s.preview
            )?,
            None => writeln!(f, " --> {line}:{col}")?,
        }
        let start = floor_char_boundary(&self.input, self.span.start);
        let line_start = self.input[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.input[start..]
            .find('\n')
            .map_or(self.input.len(), |i| start + i);
        let text = self.input[line_start..line_end].trim_end_matches('\r');
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        // Keep the line's tabs under the caret so it lines up however tabs are displayed.
        let caret_pad: String = self.input[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let end = floor_char_boundary(&self.input, self.span.end.min(line_end)).max(start);
        let width = self.input[start..end].chars().count().max(1);
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line} | {text}")?;
        write!(f, "{pad} | {caret_pad}{}", "^".repeat(width))?;
        if let Some(help) = &self.help {
            write!(f, "\n{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// An error found by a stage (parser, validator, compiler) before it is attached to its source
/// text: what went wrong, where, and a suggestion. [`Failure::into_diagnostic`] makes the
/// [`Diagnostic`] users see.
///
/// Boxed, so that the parser's `Result<T, Failure>` is no larger than `T` needs: the success
/// path, taken for every token, moves small results, and only failures pay for the box.
#[derive(Debug, Clone)]
pub(crate) struct Failure(Box<FailureParts>);

/// The parts of a [`Failure`] (reached through it by `Deref`).
#[derive(Debug, Clone)]
pub(crate) struct FailureParts {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where, as byte offsets into the source text.
    pub span: Span,
    /// A suggestion, if any.
    pub help: Option<String>,
}

impl std::ops::Deref for Failure {
    type Target = FailureParts;
    fn deref(&self) -> &FailureParts {
        &self.0
    }
}

impl std::ops::DerefMut for Failure {
    fn deref_mut(&mut self) -> &mut FailureParts {
        &mut self.0
    }
}

impl Failure {
    /// A failure of `kind` at `span`, with no suggestion.
    #[cold]
    pub(crate) fn new(kind: ErrorKind, span: Span) -> Self {
        Failure(Box::new(FailureParts {
            kind,
            span,
            help: None,
        }))
    }

    /// Adds a suggestion.
    #[cold]
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// The diagnostic for this failure in `src`, the text its span points into (shared by the
    /// diagnostics of one input).
    pub(crate) fn into_diagnostic(self, src: Arc<str>) -> Diagnostic {
        let FailureParts { kind, span, help } = *self.0;
        Diagnostic {
            kind,
            span,
            help,
            statement: None,
            input: src,
        }
    }
}

/// Several diagnostics (one per failing statement, or per problem found), all pointing into one
/// input text, which they share.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Attaches the text the spans point into, to every diagnostic (for diagnostics made without
    /// it, such as [`crate::compile`]'s; the `compile_*` functions that take the text attach it).
    pub fn with_input(self, input: &str) -> Self {
        let input: Arc<str> = Arc::from(input);
        Diagnostics(
            self.0
                .into_iter()
                .map(|d| Diagnostic {
                    input: input.clone(),
                    ..d
                })
                .collect(),
        )
    }

    /// The diagnostics, in source order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
