//! The canonical printer: `Display` for the AST prints canonical KCQL (upper-case keywords,
//! clauses in a fixed order, names quoted only where needed), such that
//! `parse(&stmt.to_string()) == Ok(stmt)`.

use crate::ast::*;
use crate::keyword::is_keyword_like;
use crate::lex::is_word_byte;
use crate::parse::{reads_back, ReadAs};
use std::fmt::{self, Display, Formatter, Write};

mod expr;

/// True when `s` lexes as a single word that is a valid name: word characters only, not all
/// digits, and not a keyword in any letter case.
fn is_bare_word(s: &str) -> bool {
    // A lone `-`, `+` or `/` would read back as an operator, `-10` as a number.
    !s.is_empty()
        && !matches!(s, "-" | "+" | "/")
        && !s
            .strip_prefix('-')
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        && s.bytes().all(is_word_byte)
        && !s.bytes().all(|b| b.is_ascii_digit())
        && !is_keyword_like(s)
}

/// Writes a path segment, alias or single name: bare when possible, else backticked.
fn write_ident(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    if is_bare_word(s) {
        f.write_str(s)
    } else {
        write!(f, "`{s}`")
    }
}

/// A path read from a glued run (`WITHTAG` keys, `WITHTARGET`): its segments joined with `.`,
/// each bare when possible, else backticked; an empty segment is written as nothing (`.a`).
fn write_glued_path(f: &mut Formatter<'_>, p: &ColumnPath) -> fmt::Result {
    write_separated(f, &p.segments, ".", |f, seg| {
        if seg.is_empty() {
            Ok(())
        } else {
            write_ident(f, seg)
        }
    })
}

/// True when `s` is a glued run that re-lexes to itself and whose first word is a valid name.
fn is_bare_name(s: &str) -> bool {
    if s.is_empty() || s.starts_with('\'') {
        return false;
    }
    let mut chars_ok = true;
    let mut in_tick = false;
    let mut tick_len = 0usize;
    for b in s.bytes() {
        if b == b'`' {
            if in_tick && tick_len == 0 {
                return false;
            }
            in_tick = !in_tick;
            tick_len = 0;
            continue;
        }
        if in_tick {
            tick_len += 1;
            continue;
        }
        if !(is_word_byte(b) || b == b'.') {
            chars_ok = false;
        }
    }
    if in_tick || !chars_ok {
        return false;
    }
    // The unescape rule strips outer backticks; a value that starts and ends with one would
    // change meaning when printed raw.
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return false;
    }
    match s.split(['.', '`']).next() {
        Some("") => true,
        Some(first) => {
            is_bare_word(first)
                || (!first.bytes().all(|b| b.is_ascii_digit())
                    && !crate::keyword::is_reserved(first))
        }
        None => true,
    }
}

/// Ways of writing a value.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    /// As is.
    Bare,
    /// `` `v` ``
    Backticked,
    /// `'v'`
    Quoted,
    /// `` `'v'` `` (the unescape rule strips the backticks, then the quotes).
    BacktickedQuoted,
}

impl Spelling {
    /// `v` in this spelling.
    fn apply(self, v: &str) -> String {
        match self {
            Spelling::Bare => v.to_string(),
            Spelling::Backticked => format!("`{v}`"),
            Spelling::Quoted => format!("'{v}'"),
            Spelling::BacktickedQuoted => format!("`'{v}'`"),
        }
    }
}

/// Writes `v` where a value read as `read` is expected: in the spelling preferred for that kind
/// of value, or else in the first of its other spellings that reads back as `v` (see
/// [`reads_back`]). Every parsed value has such a spelling (the one it was written with is
/// among them); for a hand-built value with none, the preferred one is written.
fn write_as(f: &mut Formatter<'_>, read: ReadAs, v: &str) -> fmt::Result {
    use Spelling::*;
    // Every kind of value prefers a bare word bare, and it reads back as itself.
    if is_bare_word(v) {
        return f.write_str(v);
    }
    let word = !v.is_empty() && v.bytes().all(is_word_byte);
    let bare_run = is_bare_name(v) && !is_keyword_like(v);
    let (preferred, others): (Spelling, &[Spelling]) = match read {
        ReadAs::Name => {
            let preferred = if bare_run {
                Bare
            } else if !v.contains('`') {
                Backticked
            } else {
                Quoted
            };
            (preferred, &[Backticked, Quoted, BacktickedQuoted, Bare])
        }
        ReadAs::Property => {
            let preferred = if word && !is_keyword_like(v) {
                Bare
            } else if !v.contains('\'') && !v.contains(['\r', '\n']) {
                Quoted
            } else {
                Backticked
            };
            (preferred, &[Quoted, Backticked, BacktickedQuoted, Bare])
        }
        ReadAs::Single => {
            let bare = word && !crate::keyword::is_reserved(v);
            let preferred = if bare { Bare } else { Backticked };
            (preferred, &[Backticked, BacktickedQuoted, Bare])
        }
        ReadAs::StoreType => {
            let preferred = if bare_run { Bare } else { Backticked };
            (preferred, &[Backticked, Bare])
        }
        ReadAs::UnescapedRun => {
            let preferred = if bare_run { Bare } else { Backticked };
            (preferred, &[Backticked, BacktickedQuoted, Bare])
        }
        ReadAs::TagValue => {
            let bare = is_bare_name(v) && !v.starts_with('.');
            let preferred = if bare { Bare } else { Quoted };
            (preferred, &[Quoted, Bare])
        }
    };
    let mut first = None;
    for sp in std::iter::once(preferred).chain(others.iter().copied()) {
        let text = sp.apply(v);
        if reads_back(read, &text, v) {
            return f.write_str(&text);
        }
        first.get_or_insert(text);
    }
    f.write_str(first.as_deref().unwrap_or(v))
}

impl Display for ColumnPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_separated(f, &self.segments, ".", |f, seg| write_ident(f, seg))?;
        if self.wildcard {
            if !self.segments.is_empty() {
                f.write_char('.')?;
            }
            f.write_char('*')?;
        }
        Ok(())
    }
}

impl Display for Alias {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Alias::Name(n) => write_ident(f, n),
            Alias::Quoted(q) => write!(f, "'{q}'"),
        }
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        expr::write_select_expr(f, &self.expr)?;
        if let Some(a) = &self.alias {
            write!(f, " AS {a}")?;
        }
        Ok(())
    }
}

impl Display for ColumnItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.path.fmt(f)?;
        if let Some(a) = &self.alias {
            write!(f, " AS {a}")?;
        }
        Ok(())
    }
}

impl Display for Tag {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_glued_path(f, &self.key)?;
        match &self.kind {
            TagKind::Field => Ok(()),
            TagKind::Constant(v) => {
                f.write_str(" = ")?;
                write_as(f, ReadAs::TagValue, v)
            }
            TagKind::Alias(v) => {
                f.write_str(" AS ")?;
                write_as(f, ReadAs::TagValue, v)
            }
        }
    }
}

/// Writes `items` with `write_item`, separated by `sep`.
fn write_separated<T>(
    f: &mut Formatter<'_>,
    items: impl IntoIterator<Item = T>,
    sep: &str,
    mut write_item: impl FnMut(&mut Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write_item(f, item)?;
    }
    Ok(())
}

/// `items`, separated by `, `.
fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    write_separated(f, items, ", ", |f, item| item.fmt(f))
}

/// ` {keyword}` when `set` (`AUTOCREATE`, `WITHUNWRAP` …).
fn write_flag(f: &mut Formatter<'_>, keyword: &str, set: bool) -> fmt::Result {
    if set {
        write!(f, " {keyword}")?;
    }
    Ok(())
}

/// ` {clause}` and `value`, written by `write`, when there is a value; `clause` is the
/// keyword with what separates it from the value (` `, ` = `, ` (`).
fn write_opt_with<T>(
    f: &mut Formatter<'_>,
    clause: &str,
    value: Option<T>,
    write: impl FnOnce(&mut Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    match value {
        Some(v) => {
            write!(f, " {clause}")?;
            write(f, v)
        }
        None => Ok(()),
    }
}

/// ` {clause}{value}` when there is a value (see [`write_opt_with`]).
fn write_opt<T: Display>(f: &mut Formatter<'_>, clause: &str, value: Option<T>) -> fmt::Result {
    write_opt_with(f, clause, value, |f, v| v.fmt(f))
}

/// ` {clause}a, b, …` when `items` is not empty.
fn write_list_clause<T: Display>(f: &mut Formatter<'_>, clause: &str, items: &[T]) -> fmt::Result {
    let items = (!items.is_empty()).then_some(items);
    write_opt_with(f, clause, items, write_list)
}

/// `` `v` ``: the backticked values of `WITHCONVERTER`, `WITHJMSSELECTOR` and `WITHREGEX`.
fn write_backticked(f: &mut Formatter<'_>, v: &str) -> fmt::Result {
    write!(f, "`{v}`")
}

/// `(a, b, …)`.
fn write_parenthesised<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    f.write_char('(')?;
    write_list(f, items)?;
    f.write_char(')')
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Head::Insert { mode, target } = &self.head {
            match mode {
                WriteMode::Insert => f.write_str("INSERT INTO ")?,
                WriteMode::Upsert => f.write_str("UPSERT INTO ")?,
                WriteMode::LegacyUpsertPk(pk) => write!(f, "UPSERT PK {pk} INTO ")?,
            }
            write_as(f, ReadAs::Name, target)?;
            f.write_char(' ')?;
        }
        f.write_str("SELECT ")?;
        write_list(f, &self.select)?;
        f.write_str(" FROM ")?;
        write_as(f, ReadAs::Name, &self.source)?;
        write_opt(f, "WHERE ", self.where_clause.as_ref())?;
        write_list_clause(f, "GROUP BY ", &self.group_by)?;
        write_opt(f, "WINDOW ", self.window.as_ref())?;
        write_list_clause(f, "IGNORE ", &self.ignore)?;
        write_flag(f, "AUTOCREATE", self.autocreate)?;
        write_flag(f, "WITHSTRUCTURE", self.with_structure)?;
        write_list_clause(f, "PK ", &self.primary_keys)?;
        write_opt_with(
            f,
            "WITHTARGET = ",
            self.dynamic_target.as_ref(),
            write_glued_path,
        )?;
        write_flag(f, "AUTOEVOLVE", self.autoevolve)?;
        write_opt(f, "BATCH = ", self.batch_size)?;
        match &self.partitioning {
            Some(Partitioning::By(p)) => write!(f, " PARTITIONBY {}", p.join(", "))?,
            Some(Partitioning::None) => f.write_str(" NOPARTITION")?,
            None => {}
        }
        match &self.timestamp {
            Some(TimestampSource::SysTime) => f.write_str(" WITHTIMESTAMP sys_time()")?,
            Some(TimestampSource::Field(p)) => write!(f, " WITHTIMESTAMP {p}")?,
            None => {}
        }
        write_opt(
            f,
            "TIMESTAMPUNIT = ",
            self.timestamp_unit.map(TimeUnit::name),
        )?;
        write_opt(f, "WITHFORMAT ", self.format.map(Format::name))?;
        write_flag(f, "WITHUNWRAP", self.with_unwrap)?;
        write_opt_with(f, "STOREAS ", self.store_as.as_ref(), |f, s| {
            write_as(f, ReadAs::StoreType, &s.type_name)?;
            if !s.params.is_empty() {
                f.write_str(" (")?;
                write_separated(f, &s.params, ", ", |f, (k, v)| write!(f, "{k} = {v}"))?;
                f.write_char(')')?;
            }
            Ok(())
        })?;
        write_opt_with(f, "WITHTAG ", self.tags.as_deref(), write_parenthesised)?;
        write_opt(f, "INCREMENTALMODE = ", self.incremental_mode.as_ref())?;
        write_opt(f, "WITHTYPE ", self.with_type.as_ref())?;
        write_opt_with(f, "WITHDOCTYPE = ", self.doc_type.as_deref(), |f, v| {
            write_as(f, ReadAs::Single, v)
        })?;
        write_opt_with(
            f,
            "WITHINDEXSUFFIX = ",
            self.index_suffix.as_deref(),
            |f, v| write_as(f, ReadAs::Single, v),
        )?;
        write_opt(f, "TTL = ", self.ttl)?;
        write_opt_with(
            f,
            "WITHCONVERTER = ",
            self.converter.as_deref(),
            write_backticked,
        )?;
        write_opt_with(
            f,
            "WITHJMSSELECTOR = ",
            self.jms_selector.as_deref(),
            write_backticked,
        )?;
        write_opt_with(f, "WITHKEY (", self.with_key.as_deref(), |f, keys| {
            // Key paths never end in `*`, whatever the tree says.
            write_separated(f, keys, ", ", |f, k| {
                write_separated(f, &k.segments, ".", |f, seg| write_ident(f, seg))
            })?;
            f.write_char(')')
        })?;
        write_opt_with(
            f,
            "KEYDELIMITER = ",
            self.key_delimiter.as_deref(),
            |f, d| write!(f, "'{d}'"),
        )?;
        write_opt_with(f, "WITHPIPELINE = ", self.pipeline.as_deref(), |f, v| {
            write_as(f, ReadAs::UnescapedRun, v)
        })?;
        write_opt(f, "WITHSUBSCRIPTION = ", self.subscription.as_ref())?;
        write_opt_with(f, "WITHREGEX = ", self.regex.as_deref(), write_backticked)?;
        write_opt(f, "LIMIT ", self.limit)?;
        let properties = (!self.properties.is_empty()).then_some(&self.properties);
        write_opt_with(f, "PROPERTIES (", properties, |f, props| {
            write_separated(f, props, ", ", |f, (k, v)| {
                write_as(f, ReadAs::Property, k)?;
                f.write_str(" = ")?;
                write_as(f, ReadAs::Property, v)
            })?;
            f.write_char(')')
        })?;
        write_opt(f, "WITHRETENTION = ", self.retention.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    /// `src` parses, prints to text that parses back to the same statement, and printing is a
    /// fixed point.
    fn assert_roundtrip(src: &str) -> String {
        let stmt = parse(src).unwrap_or_else(|e| panic!("{src:?} does not parse:\n{e}"));
        let printed = stmt.to_string();
        let reparsed = parse(&printed)
            .unwrap_or_else(|e| panic!("printed {printed:?} (from {src:?}) does not parse:\n{e}"));
        assert_eq!(reparsed, stmt, "round trip of {src:?} via {printed:?}");
        assert_eq!(reparsed.to_string(), printed);
        printed
    }

    #[test]
    fn names_with_backticks_and_quotes_round_trip() {
        // Found by the fuzzer: a name with both a backtick and a `'` was printed in quotes.
        assert_eq!(
            assert_roundtrip("INSERT INTO `it's`.`x` SELECT * FROM t"),
            "INSERT INTO `it's`.`x` SELECT * FROM t"
        );
        assert_roundtrip("SELECT * FROM `a'b`.c`d'e`");
        // A name that is itself quoted: `` `''x''` `` unescapes to `'x'`.
        assert_roundtrip("SELECT * FROM `''x''`");
        assert_roundtrip("SELECT * FROM `x``y`");
    }

    #[test]
    fn clause_values_with_backticks_and_quotes_round_trip() {
        assert_roundtrip("SELECT * FROM t WITHPIPELINE = `x``y`");
        assert_roundtrip("SELECT * FROM t WITHPIPELINE = `''x''`");
        assert_roundtrip("SELECT * FROM t WITHDOCTYPE = `''x''`");
        assert_roundtrip("SELECT * FROM t WITHINDEXSUFFIX = `''x''`");
        assert_roundtrip("SELECT * FROM t STOREAS `'x'`");
        assert_roundtrip("SELECT * FROM t PROPERTIES (a = `it's`.`x`, `''k''` = `x``y`)");
        assert_roundtrip("SELECT * FROM t WITHTAG (a = `it's`, b AS `x`)");
    }

    #[test]
    fn call_names_are_never_backticked() {
        assert_eq!(
            assert_roundtrip("SELECT Lower(a) AS l, NOW() AS n FROM t"),
            "SELECT Lower(a) AS l, NOW() AS n FROM t"
        );
    }
}
