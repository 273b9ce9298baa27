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

/// Writes the first of `spellings` that reads back as `v` where a value read as `read` is
/// expected (see [`reads_back`]). Every parsed value has such a spelling (the one it was
/// written with is among them); for a hand-built value with none, the first is written.
fn write_checked(
    f: &mut Formatter<'_>,
    read: ReadAs,
    v: &str,
    spellings: &[Spelling],
) -> fmt::Result {
    let mut first = None;
    for sp in spellings {
        let text = sp.apply(v);
        if reads_back(read, &text, v) {
            return f.write_str(&text);
        }
        first.get_or_insert(text);
    }
    f.write_str(first.as_deref().unwrap_or(v))
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
    fn apply(self, v: &str) -> String {
        match self {
            Spelling::Bare => v.to_string(),
            Spelling::Backticked => format!("`{v}`"),
            Spelling::Quoted => format!("'{v}'"),
            Spelling::BacktickedQuoted => format!("`'{v}'`"),
        }
    }
}

/// Writes a source or target name, backticking it when it would not re-lex as itself.
fn write_name(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    use Spelling::*;
    if is_bare_word(s) {
        return f.write_str(s);
    }
    let preferred = if is_bare_name(s) && !is_keyword_like(s) {
        Bare
    } else if !s.contains('`') {
        Backticked
    } else {
        Quoted
    };
    write_checked(
        f,
        ReadAs::Name,
        s,
        &[preferred, Backticked, Quoted, BacktickedQuoted, Bare],
    )
}

/// Writes an unescaped value: bare word, single-quoted, or backticked.
fn write_value(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    use Spelling::*;
    if is_bare_word(s) {
        return f.write_str(s);
    }
    let preferred = if !s.is_empty() && s.bytes().all(is_word_byte) && !is_keyword_like(s) {
        Bare
    } else if !s.contains('\'') && !s.contains(['\r', '\n']) {
        Quoted
    } else {
        Backticked
    };
    write_checked(
        f,
        ReadAs::Property,
        s,
        &[preferred, Quoted, Backticked, BacktickedQuoted, Bare],
    )
}

impl Display for ColumnPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            write_ident(f, seg)?;
        }
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
        f.write_str(&self.key)?;
        match &self.kind {
            TagKind::Field => Ok(()),
            TagKind::Constant(v) => {
                f.write_str(" = ")?;
                write_tag_value(f, v)
            }
            TagKind::Alias(v) => {
                f.write_str(" AS ")?;
                write_tag_value(f, v)
            }
        }
    }
}

fn write_tag_value(f: &mut Formatter<'_>, v: &str) -> fmt::Result {
    use Spelling::*;
    let preferred = if is_bare_name(v) && !v.starts_with('.') {
        Bare
    } else {
        Quoted
    };
    write_checked(f, ReadAs::TagValue, v, &[preferred, Quoted, Bare])
}

fn write_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Head::Insert { mode, target } = &self.head {
            match mode {
                WriteMode::Insert => f.write_str("INSERT INTO ")?,
                WriteMode::Upsert => f.write_str("UPSERT INTO ")?,
                WriteMode::LegacyUpsertPk(pk) => write!(f, "UPSERT PK {pk} INTO ")?,
            }
            write_name(f, target)?;
            f.write_char(' ')?;
        }
        f.write_str("SELECT ")?;
        write_list(f, &self.select)?;
        f.write_str(" FROM ")?;
        write_name(f, &self.source)?;
        if let Some(w) = &self.where_clause {
            write!(f, " WHERE {w}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            write_list(f, &self.group_by)?;
        }
        if let Some(w) = &self.window {
            write!(f, " WINDOW {w}")?;
        }
        if !self.ignore.is_empty() {
            f.write_str(" IGNORE ")?;
            write_list(f, &self.ignore)?;
        }
        if self.autocreate {
            f.write_str(" AUTOCREATE")?;
        }
        if self.with_structure {
            f.write_str(" WITHSTRUCTURE")?;
        }
        if !self.primary_keys.is_empty() {
            f.write_str(" PK ")?;
            write_list(f, &self.primary_keys)?;
        }
        if let Some(t) = &self.dynamic_target {
            write!(f, " WITHTARGET = {t}")?;
        }
        if self.autoevolve {
            f.write_str(" AUTOEVOLVE")?;
        }
        if let Some(b) = self.batch_size {
            write!(f, " BATCH = {b}")?;
        }
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
        if let Some(u) = self.timestamp_unit {
            write!(f, " TIMESTAMPUNIT = {}", u.name())?;
        }
        if let Some(fmt_) = self.format {
            write!(f, " WITHFORMAT {}", fmt_.name())?;
        }
        if self.with_unwrap {
            f.write_str(" WITHUNWRAP")?;
        }
        if let Some(s) = &self.store_as {
            f.write_str(" STOREAS ")?;
            write_store_type(f, &s.type_name)?;
            if !s.params.is_empty() {
                f.write_str(" (")?;
                for (i, (k, v)) in s.params.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_char(')')?;
            }
        }
        if let Some(tags) = &self.tags {
            f.write_str(" WITHTAG (")?;
            write_list(f, tags)?;
            f.write_char(')')?;
        }
        if let Some(m) = &self.incremental_mode {
            write!(f, " INCREMENTALMODE = {m}")?;
        }
        if let Some(t) = &self.with_type {
            write!(f, " WITHTYPE {t}")?;
        }
        if let Some(d) = &self.doc_type {
            f.write_str(" WITHDOCTYPE = ")?;
            write_single(f, d)?;
        }
        if let Some(s) = &self.index_suffix {
            f.write_str(" WITHINDEXSUFFIX = ")?;
            write_single(f, s)?;
        }
        if let Some(t) = self.ttl {
            write!(f, " TTL = {t}")?;
        }
        if let Some(c) = &self.converter {
            write!(f, " WITHCONVERTER = `{c}`")?;
        }
        if let Some(j) = &self.jms_selector {
            write!(f, " WITHJMSSELECTOR = `{j}`")?;
        }
        if let Some(keys) = &self.with_key {
            f.write_str(" WITHKEY (")?;
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                for (j, seg) in k.segments.iter().enumerate() {
                    if j > 0 {
                        f.write_char('.')?;
                    }
                    write_ident(f, seg)?;
                }
            }
            f.write_char(')')?;
        }
        if let Some(d) = &self.key_delimiter {
            write!(f, " KEYDELIMITER = '{d}'")?;
        }
        if let Some(p) = &self.pipeline {
            f.write_str(" WITHPIPELINE = ")?;
            write_pipeline(f, p)?;
        }
        if let Some(s) = &self.subscription {
            write!(f, " WITHSUBSCRIPTION = {s}")?;
        }
        if let Some(r) = &self.regex {
            write!(f, " WITHREGEX = `{r}`")?;
        }
        if let Some(l) = self.limit {
            write!(f, " LIMIT {l}")?;
        }
        if !self.properties.is_empty() {
            f.write_str(" PROPERTIES (")?;
            for (i, (k, v)) in self.properties.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_value(f, k)?;
                f.write_str(" = ")?;
                write_value(f, v)?;
            }
            f.write_char(')')?;
        }
        if let Some(r) = &self.retention {
            write!(f, " WITHRETENTION = {r}")?;
        }
        Ok(())
    }
}

/// A value read from one word or backticked token and unescaped.
fn write_single(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    use Spelling::*;
    let preferred =
        if !s.is_empty() && s.bytes().all(is_word_byte) && !crate::keyword::is_reserved(s) {
            Bare
        } else {
            Backticked
        };
    write_checked(
        f,
        ReadAs::Single,
        s,
        &[preferred, Backticked, BacktickedQuoted, Bare],
    )
}

/// The `STOREAS` type: a glued run with its backticks removed.
fn write_store_type(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    use Spelling::*;
    let preferred = if is_bare_name(s) && !is_keyword_like(s) {
        Bare
    } else {
        Backticked
    };
    write_checked(f, ReadAs::StoreType, s, &[preferred, Backticked, Bare])
}

/// The `WITHPIPELINE` value: a glued run, unescaped (no quoted-string form).
fn write_pipeline(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    use Spelling::*;
    let preferred = if is_bare_name(s) && !is_keyword_like(s) {
        Bare
    } else {
        Backticked
    };
    write_checked(
        f,
        ReadAs::UnescapedRun,
        s,
        &[preferred, Backticked, BacktickedQuoted, Bare],
    )
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
