//! The abstract syntax tree of a KCQL statement.
//!
//! The tree keeps what was written (in canonical form: quotes removed where they carry no
//! meaning), so that [`Display`](std::fmt::Display) prints canonical KCQL and
//! `parse(print(ast)) == ast`. Spans are kept for diagnostics but ignored by `PartialEq` and not
//! serialized. The reference implementation's view of a statement (its `Kcql` getters: field
//! lists, tags, target type …) is derived from the tree in [`crate::reference`].

use crate::keyword::ClauseKind;
use crate::span::Span;
use serde::{Deserialize, Serialize};

/// One KCQL statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// `INSERT|UPSERT … INTO <target>` or a select-only statement.
    pub head: Head,
    /// The select list, in order.
    pub select: Vec<SelectItem>,
    /// The source after `FROM` (a Kafka topic, MQTT filter, table …), unescaped.
    pub source: String,
    /// `IGNORE` columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ColumnItem>,
    /// `PK` columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_keys: Vec<ColumnPath>,
    /// `AUTOCREATE`
    #[serde(default, skip_serializing_if = "is_false")]
    pub autocreate: bool,
    /// `AUTOEVOLVE`
    #[serde(default, skip_serializing_if = "is_false")]
    pub autoevolve: bool,
    /// `WITHSTRUCTURE`
    #[serde(default, skip_serializing_if = "is_false")]
    pub with_structure: bool,
    /// `WITHUNWRAP`
    #[serde(default, skip_serializing_if = "is_false")]
    pub with_unwrap: bool,
    /// `BATCH = n` (1 ..= i32::MAX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// `PARTITIONBY …` or `NOPARTITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<Partitioning>,
    /// `WITHTIMESTAMP …`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimestampSource>,
    /// `TIMESTAMPUNIT = …`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_unit: Option<TimeUnit>,
    /// `WITHFORMAT …`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// `STOREAS type (k = v, …)`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_as: Option<StoreAs>,
    /// `WITHTAG (…)`; `None` when absent (an empty list cannot be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// `INCREMENTALMODE = m`, raw text (backticks kept, as the reference does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_mode: Option<String>,
    /// `WITHTYPE t`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_type: Option<String>,
    /// `WITHDOCTYPE = d`, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_type: Option<String>,
    /// `WITHINDEXSUFFIX = s`, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_suffix: Option<String>,
    /// `TTL = n` (1 ..= i64::MAX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// ``WITHCONVERTER = `c` ``, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converter: Option<String>,
    /// ``WITHJMSSELECTOR = `j` ``, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jms_selector: Option<String>,
    /// `WITHKEY (a, b.c)`; `None` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_key: Option<Vec<ColumnPath>>,
    /// `KEYDELIMITER = 'c'`: one character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_delimiter: Option<String>,
    /// `WITHPIPELINE = p`, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// `WITHSUBSCRIPTION = s`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// ``WITHREGEX = `r` ``, unescaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `WITHTARGET = a.b.c`: the field whose value names the target (a glued run read as a
    /// path: dots outside backticks separate segments, backticks are removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_target: Option<ColumnPath>,
    /// `LIMIT n` (1 ..= i32::MAX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `PROPERTIES (k = v, …)`: keys unique (a repeated key keeps the last value, in the
    /// position of its first occurrence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<(String, String)>,
    /// `WHERE <expr>` (extension): records for which it is not true are skipped.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_clause: Option<Expr>,
    /// `GROUP BY a, b.c, _key` (extension, window processor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<ColumnPath>,
    /// `WINDOW TUMBLING(…) | HOPPING(…, …) [GRACE …]` (extension, window processor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// `WITHRETENTION = policy | duration` (extension, InfluxDB sink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Where each part of the statement was written.
    #[serde(skip)]
    pub spans: StatementSpans,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Spans of the parts of a [`Statement`]; compare equal regardless of content.
#[derive(Debug, Clone)]
pub struct StatementSpans {
    /// The whole statement.
    pub statement: Span,
    /// The target name (after `INTO`).
    pub target: Span,
    /// The source name (after `FROM`).
    pub source: Span,
    /// Each clause (keyword through its value), indexed by [`ClauseKind::index`], as compact
    /// `(start, end)` pairs; `(0, 0)` means absent. Use [`StatementSpans::clause`].
    clauses: [(u32, u32); ClauseKind::ALL.len()],
}

impl Default for StatementSpans {
    fn default() -> Self {
        StatementSpans {
            statement: Span::default(),
            target: Span::default(),
            source: Span::default(),
            clauses: [(0, 0); ClauseKind::ALL.len()],
        }
    }
}

impl StatementSpans {
    /// Where `clause` was written, if it was.
    pub fn clause(&self, clause: ClauseKind) -> Option<Span> {
        let (start, end) = self.clauses[clause.index()];
        (end > 0).then(|| Span::new(start as usize, end as usize))
    }

    /// Records where `clause` was written (spans beyond 4 GiB are clamped).
    pub fn set_clause(&mut self, clause: ClauseKind, span: Span) {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        self.clauses[clause.index()] = (clamp(span.start), clamp(span.end).max(1));
    }
}

impl PartialEq for StatementSpans {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The part before `SELECT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Head {
    /// `INSERT INTO t`, `UPSERT INTO t` or the legacy `UPSERT PK f INTO t`.
    Insert {
        /// The write mode.
        mode: WriteMode,
        /// The target (table, topic, measurement …), unescaped.
        target: String,
    },
    /// A statement starting with `SELECT`: no target, no write mode.
    Select,
}

/// How rows are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// `INSERT INTO`
    Insert,
    /// `UPSERT INTO`
    Upsert,
    /// The legacy `UPSERT PK <field> INTO`: the reference parses it but sets **no** write mode
    /// and keeps no primary key; the field is kept here only so the statement prints back.
    LegacyUpsertPk(String),
}

/// One entry of the select list: an expression and an optional alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectItem {
    /// What is selected.
    pub expr: Expr,
    /// `AS alias`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
    /// Where the item was written.
    #[serde(skip)]
    pub span: Span,
}

/// An expression in the select list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    /// A column path: `a`, `a.b.c`, `*`, `a.*`, `_key.id`, `_.topic` …
    Column(ColumnPath),
    /// A quoted string: `'abc'` (the reference selects no field for it).
    String {
        /// The text between the quotes.
        value: String,
    },
    /// A function call: `f(a, b)`, `count(*)`; plain column arguments become fields in the
    /// reference view. Names are matched case-insensitively against the known functions.
    Call {
        /// The function name as written.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A number, boolean or `NULL` (extension).
    Literal {
        /// The value.
        value: Literal,
    },
    /// `-x` or `NOT x` (extension).
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a + b`, `a AND b`, `a = b`, `a || b` … (extension).
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
    },
    /// `x IS [NOT] NULL` (extension).
    IsNull {
        /// The tested expression.
        expr: Box<Expr>,
        /// True for `IS NOT NULL`.
        negated: bool,
    },
    /// `x [NOT] IN (a, b, …)` (extension).
    InList {
        /// The tested expression.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// True for `NOT IN`.
        negated: bool,
    },
    /// `x [NOT] LIKE 'pattern'` with `%` (any run) and `_` (one character) (extension).
    Like {
        /// The tested expression.
        expr: Box<Expr>,
        /// The pattern.
        pattern: String,
        /// True for `NOT LIKE`.
        negated: bool,
    },
    /// `CAST(x AS type)` (extension).
    Cast {
        /// The converted expression.
        expr: Box<Expr>,
        /// The target type.
        to: CastType,
    },
}

/// A literal value in an expression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float (always finite).
    Float(f64),
    /// `TRUE` / `FALSE`
    Bool(bool),
    /// `NULL`
    Null,
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `NOT x`
    Not,
}

/// An infix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    /// `OR`
    Or,
    /// `AND`
    And,
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `||` (string concatenation)
    Concat,
}

impl BinaryOp {
    /// The operator as written in canonical KCQL.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Concat => "||",
        }
    }

    /// Binding strength: higher binds tighter.
    pub const fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 4,
            BinaryOp::Concat => 5,
            BinaryOp::Add | BinaryOp::Sub => 6,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 7,
        }
    }
}

/// The target type of `CAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CastType {
    /// `INT` (64-bit signed)
    Int,
    /// `FLOAT` (64-bit)
    Float,
    /// `STRING`
    String,
    /// `BOOL`
    Bool,
}

impl CastType {
    /// The type name in canonical KCQL.
    pub const fn name(self) -> &'static str {
        match self {
            CastType::Int => "INT",
            CastType::Float => "FLOAT",
            CastType::String => "STRING",
            CastType::Bool => "BOOL",
        }
    }

    /// The type named `s` (any case; `integer`, `double`, `text`, `boolean` also accepted).
    pub fn from_name(s: &str) -> Option<CastType> {
        let u = s.to_ascii_lowercase();
        Some(match u.as_str() {
            "int" | "integer" | "long" | "bigint" => CastType::Int,
            "float" | "double" | "real" => CastType::Float,
            "string" | "text" | "varchar" => CastType::String,
            "bool" | "boolean" => CastType::Bool,
            _ => return None,
        })
    }
}

/// A time span written `500ms`, `2s`, `5m`, `1h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Duration {
    /// The length in milliseconds.
    pub millis: u64,
}

impl Duration {
    /// Parses `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d` (any case).
    pub fn parse(text: &str) -> Option<Duration> {
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        let factor = match unit.to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        n.checked_mul(factor).map(|millis| Duration { millis })
    }

    /// The length as a `std::time::Duration`.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

/// `WINDOW …`: how records are grouped in time (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Tumbling or hopping.
    pub kind: WindowKind,
    /// `GRACE d`: how long after a window's end late records are still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Duration>,
}

/// The shape of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WindowKind {
    /// `TUMBLING(size)`: back-to-back windows of `size`.
    Tumbling {
        /// Window length.
        size: Duration,
    },
    /// `HOPPING(size, advance)`: windows of `size` starting every `advance`.
    Hopping {
        /// Window length.
        size: Duration,
        /// Distance between window starts (at most `size`).
        advance: Duration,
    },
}

/// The most windows one record may fall into. `HOPPING(size, advance)` adds each record to
/// ⌈size / advance⌉ windows (`HOPPING(1d, 1ms)` would be 86.4 million), so larger ratios are
/// rejected when the statement is checked.
pub const MAX_WINDOWS_PER_RECORD: u64 = 10_000;

impl WindowKind {
    /// The most windows one record falls into: 1 for a tumbling window, ⌈size / advance⌉ for a
    /// hopping one (an advance of zero counts as 1 ms, as the runtime reads it).
    pub fn windows_per_record(&self) -> u64 {
        match *self {
            WindowKind::Tumbling { .. } => 1,
            WindowKind::Hopping { size, advance } => {
                size.millis.div_ceil(advance.millis.max(1)).max(1)
            }
        }
    }
}

/// `WITHRETENTION = …` for the InfluxDB sink (extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Retention {
    /// `WITHRETENTION = autogen`: write into this existing retention policy (InfluxDB 1.x) or
    /// bucket (InfluxDB 2).
    Policy(String),
    /// `WITHRETENTION = 30d`: write into a retention policy named after the duration (`30d`);
    /// with `AUTOCREATE` the sink creates the database and this policy with that duration.
    Duration(Duration),
}

/// A dotted column path, optionally ending in `.*` (or just `*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnPath {
    /// The path segments, unescaped (`` `a.b` `` is one segment `a.b`). Empty for a bare `*`.
    pub segments: Vec<String>,
    /// True when the path ends in `*` (`*` or `a.b.*`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub wildcard: bool,
    /// Where the path was written.
    #[serde(skip)]
    pub span: Span,
}

impl ColumnPath {
    /// A path of plain segments, without wildcard.
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ColumnPath {
            segments: segments.into_iter().map(Into::into).collect(),
            wildcard: false,
            span: Span::default(),
        }
    }

    /// The bare `*`.
    pub fn star() -> Self {
        ColumnPath {
            segments: Vec::new(),
            wildcard: true,
            span: Span::default(),
        }
    }

    /// True for the bare `*`.
    pub fn is_star(&self) -> bool {
        self.wildcard && self.segments.is_empty()
    }

    /// The segments joined with `.` (and `.*` / `*` when wildcard), unescaped.
    pub fn dotted(&self) -> String {
        let mut s = self.segments.join(".");
        if self.wildcard {
            if !s.is_empty() {
                s.push('.');
            }
            s.push('*');
        }
        s
    }
}

/// A column with an optional alias (the `IGNORE` list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnItem {
    /// The column.
    pub path: ColumnPath,
    /// `AS alias`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
}

/// An alias after `AS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Alias {
    /// A name: `AS col` or ``AS `my col` ``.
    Name(String),
    /// A quoted string: `AS 'my col'`. The reference keeps the quotes in the alias value.
    Quoted(String),
}

impl Alias {
    /// The alias as the reference reports it (a quoted alias keeps its quotes).
    pub fn reference_text(&self) -> String {
        match self {
            Alias::Name(n) => n.clone(),
            Alias::Quoted(q) => format!("'{q}'"),
        }
    }
}

/// `PARTITIONBY …` or `NOPARTITION`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "fields", rename_all = "snake_case")]
pub enum Partitioning {
    /// `PARTITIONBY a, b.c, _header.`x.y``: entries as raw text (quotes and backticks kept).
    By(Vec<String>),
    /// `NOPARTITION`: explicitly no partitioning (not the same as an absent clause).
    None,
}

/// Where a record's timestamp comes from (`WITHTIMESTAMP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum TimestampSource {
    /// `WITHTIMESTAMP sys_time()`: the wall clock when the record is processed.
    SysTime,
    /// `WITHTIMESTAMP field.path`: a field of the record.
    Field(ColumnPath),
}

/// `TIMESTAMPUNIT`: a Java `TimeUnit` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeUnit {
    /// NANOSECONDS
    Nanoseconds,
    /// MICROSECONDS
    Microseconds,
    /// MILLISECONDS (the default when the clause is absent)
    Milliseconds,
    /// SECONDS
    Seconds,
    /// MINUTES
    Minutes,
    /// HOURS
    Hours,
    /// DAYS
    Days,
}

impl TimeUnit {
    /// Every unit, in order.
    pub const ALL: [TimeUnit; 7] = [
        TimeUnit::Nanoseconds,
        TimeUnit::Microseconds,
        TimeUnit::Milliseconds,
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
    ];

    /// The upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            TimeUnit::Nanoseconds => "NANOSECONDS",
            TimeUnit::Microseconds => "MICROSECONDS",
            TimeUnit::Milliseconds => "MILLISECONDS",
            TimeUnit::Seconds => "SECONDS",
            TimeUnit::Minutes => "MINUTES",
            TimeUnit::Hours => "HOURS",
            TimeUnit::Days => "DAYS",
        }
    }

    /// The unit named `s`, in any letter case.
    pub fn from_name(s: &str) -> Option<TimeUnit> {
        TimeUnit::ALL
            .into_iter()
            .find(|u| u.name().eq_ignore_ascii_case(s))
    }
}

/// `WITHFORMAT`: the payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Format {
    /// AVRO
    Avro,
    /// PROTOBUF
    Protobuf,
    /// TEXT
    Text,
    /// BINARY
    Binary,
    /// JSON
    Json,
    /// OBJECT
    Object,
    /// MAP
    Map,
}

impl Format {
    /// Every format, in order.
    pub const ALL: [Format; 7] = [
        Format::Avro,
        Format::Protobuf,
        Format::Text,
        Format::Binary,
        Format::Json,
        Format::Object,
        Format::Map,
    ];

    /// The upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Avro => "AVRO",
            Format::Protobuf => "PROTOBUF",
            Format::Text => "TEXT",
            Format::Binary => "BINARY",
            Format::Json => "JSON",
            Format::Object => "OBJECT",
            Format::Map => "MAP",
        }
    }

    /// The format named `s`, in any letter case.
    pub fn from_name(s: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|u| u.name().eq_ignore_ascii_case(s))
    }
}

/// `STOREAS type (k = v, …)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreAs {
    /// The storage type, backticks removed.
    pub type_name: String,
    /// Parameters in order; names are unique ignoring case. Raw text (backticks kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
}

/// One `WITHTAG` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag key, read as a path (dots outside backticks separate segments, backticks are
    /// removed): the field read by `field`/`alias` tags; for `constant` tags the tag name is
    /// its segments joined with `.` ([`ColumnPath::dotted`]).
    pub key: ColumnPath,
    /// What kind of tag it is.
    #[serde(flatten)]
    pub kind: TagKind,
}

/// The three kinds of `WITHTAG` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum TagKind {
    /// `WITHTAG (f)`: the tag `f` takes the value of field `f`.
    Field,
    /// `WITHTAG (k = v)`: the tag `k` has the constant value `v`.
    Constant(String),
    /// `WITHTAG (f AS t)`: the tag `t` takes the value of field `f`.
    Alias(String),
}
