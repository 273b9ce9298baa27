//! The clauses after `FROM`: in any order, each at most once, `PARTITIONBY` and `NOPARTITION`
//! not together. [`Parser::clause`] dispatches each keyword to the parser of its value.

use super::cursor::describe;
use super::statement::operator_hint;
use super::{unescape, PResult, Parser};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::keyword::{suggest, ClauseKind};
use crate::lex::{is_field_byte, TokenKind};

/// Clauses removed from KCQL over the years, with what to do instead.
const REMOVED_CLAUSES: &[(&str, &str)] = &[
    ("WITHTAGS", "did you mean `WITHTAG`?"),
    (
        "UPDATE",
        "UPDATE INTO was removed from KCQL; use UPSERT INTO",
    ),
    (
        "WITHPARTITIONER",
        "WITHPARTITIONER was removed from KCQL (2024); use PROPERTIES",
    ),
    ("SAMPLE", "SAMPLE … EVERY was removed from KCQL (2024)"),
    ("CAPITALIZE", "CAPITALIZE was removed from KCQL (2024)"),
    ("INITIALIZE", "INITIALIZE was removed from KCQL (2024)"),
    ("PROJECTTO", "PROJECTTO was removed from KCQL (2024)"),
    ("DISTRIBUTEBY", "DISTRIBUTEBY was removed from KCQL (2024)"),
    ("CLUSTERBY", "CLUSTERBY was removed from KCQL (2024)"),
    ("WITHGROUP", "WITHGROUP was removed from KCQL (2024)"),
    ("WITHOFFSET", "WITHOFFSET was removed from KCQL (2024)"),
    (
        "WITHCOMPRESSION",
        "WITHCOMPRESSION was removed from KCQL (2024); use PROPERTIES",
    ),
    (
        "WITHDELAY",
        "WITHDELAY was removed from KCQL (2024); use PROPERTIES",
    ),
    (
        "WITH_FLUSH_INTERVAL",
        "WITH_FLUSH_INTERVAL moved into PROPERTIES (2024)",
    ),
    (
        "WITH_FLUSH_SIZE",
        "WITH_FLUSH_SIZE moved into PROPERTIES (2024)",
    ),
    (
        "WITH_FLUSH_COUNT",
        "WITH_FLUSH_COUNT moved into PROPERTIES (2024)",
    ),
];

impl<'a> Parser<'a> {
    /// The clauses after `FROM`, up to the end of the statement, each recorded in `stmt` with its
    /// span.
    pub(super) fn clauses(&mut self, stmt: &mut Statement) -> PResult<()> {
        while let Some(t) = self.peek() {
            let clause = match t.kind {
                TokenKind::Word => ClauseKind::from_word(self.text(t)),
                _ => None,
            };
            let Some(clause) = clause else {
                return Err(self.unknown_clause(stmt));
            };
            if let Some(first) = stmt.spans.clause(clause) {
                let _ = first;
                return Err(Failure::new(
                    ErrorKind::DuplicateClause {
                        clause: clause.keyword(),
                    },
                    t.span,
                )
                .help(format!(
                    "remove one of the two {} clauses",
                    clause.keyword()
                )));
            }
            let conflict = match clause {
                ClauseKind::PartitionBy => Some(ClauseKind::NoPartition),
                ClauseKind::NoPartition => Some(ClauseKind::PartitionBy),
                _ => None,
            };
            if let Some(other) = conflict.filter(|o| stmt.spans.clause(*o).is_some()) {
                return Err(Failure::new(
                    ErrorKind::ConflictingClauses {
                        clause: clause.keyword(),
                        other: other.keyword(),
                    },
                    t.span,
                ));
            }
            self.pos += 1;
            self.clause(clause, stmt)?;
            let end = self.toks[self.pos - 1].span;
            stmt.spans.set_clause(clause, t.span.to(end));
        }
        Ok(())
    }

    /// The failure for a token where a clause keyword (or the end) was expected, with the best
    /// hint: a removed clause, a spacing problem, a near-miss keyword or a swallowed keyword.
    fn unknown_clause(&self, stmt: &Statement) -> Failure {
        let unused: Vec<&'static str> = ClauseKind::ALL
            .iter()
            .filter(|c| stmt.spans.clause(**c).is_none())
            .map(|c| c.keyword())
            .collect();
        let mut expected: Vec<String> = unused.iter().map(|s| s.to_string()).collect();
        expected.push("end of statement".into());
        let mut f = self.unexpected(expected);
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
            let w = self.text(t);
            if let Some((_, hint)) = REMOVED_CLAUSES
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(w))
            {
                f = f.help(*hint);
            } else if let Some(h) = operator_hint(w) {
                f = f.help(h);
            } else if let Some(s) = suggest(w, ClauseKind::ALL.iter().map(|c| c.keyword())) {
                f = f.help(format!("did you mean `{s}`?"));
            } else if let Some(hint) = glued_keyword_hint(
                &stmt.source,
                self.pos > 0 && self.toks[self.pos - 1].span.end == stmt.spans.source.end,
            ) {
                f = f.help(hint);
            }
        }
        f
    }

    /// One clause's value, the keyword already read, written into `stmt`.
    fn clause(&mut self, clause: ClauseKind, stmt: &mut Statement) -> PResult<()> {
        match clause {
            ClauseKind::Ignore => stmt.ignore = self.ignore_list()?,
            ClauseKind::Autocreate => stmt.autocreate = true,
            ClauseKind::Autoevolve => stmt.autoevolve = true,
            ClauseKind::WithStructure => stmt.with_structure = true,
            ClauseKind::WithUnwrap => stmt.with_unwrap = true,
            ClauseKind::NoPartition => stmt.partitioning = Some(Partitioning::None),
            ClauseKind::Pk => stmt.primary_keys = self.pk_list()?,
            ClauseKind::WithTarget => {
                self.expect_eq(clause)?;
                let Some((path, _)) = self.glued_path() else {
                    return Err(self.unexpected(["a field path"]));
                };
                stmt.dynamic_target = Some(path);
            }
            ClauseKind::Batch => {
                self.expect_eq(clause)?;
                stmt.batch_size = Some(self.integer(clause, i32::MAX as u64)? as u32);
            }
            ClauseKind::Limit => {
                if let Some(eq) = self.eat(TokenKind::Eq) {
                    return Err(Failure::new(
                        ErrorKind::Unexpected {
                            expected: vec!["an integer".into()],
                            found: "`=`".into(),
                        },
                        eq.span,
                    )
                    .help("LIMIT takes no `=`: write `LIMIT 10`"));
                }
                stmt.limit = Some(self.integer(clause, i32::MAX as u64)? as u32);
            }
            ClauseKind::Ttl => {
                self.expect_eq(clause)?;
                stmt.ttl = Some(self.integer(clause, i64::MAX as u64)?);
            }
            ClauseKind::PartitionBy => {
                stmt.partitioning = Some(Partitioning::By(self.partition_list()?))
            }
            ClauseKind::WithTimestamp => stmt.timestamp = Some(self.timestamp()?),
            ClauseKind::TimestampUnit => {
                self.expect_eq(clause)?;
                let t = self.expect_word("a time unit such as MILLISECONDS")?;
                let w = self.text(t);
                stmt.timestamp_unit = Some(TimeUnit::from_name(w).ok_or_else(|| {
                    Failure::new(ErrorKind::InvalidTimeUnit { found: w.into() }, t.span)
                })?);
            }
            ClauseKind::WithFormat => {
                let t = self.expect_word("a format such as JSON")?;
                let w = self.text(t);
                stmt.format = Some(Format::from_name(w).ok_or_else(|| {
                    let f = Failure::new(ErrorKind::InvalidFormat { found: w.into() }, t.span);
                    match suggest(w, Format::ALL.iter().map(|f| f.name())) {
                        Some(s) => f.help(format!("did you mean `{s}`?")),
                        None => f,
                    }
                })?);
            }
            ClauseKind::StoreAs => stmt.store_as = Some(self.store_as()?),
            ClauseKind::WithTag => stmt.tags = Some(self.tags()?),
            ClauseKind::IncrementalMode => {
                self.expect_eq(clause)?;
                let t = self.single_value_token("a mode name")?;
                stmt.incremental_mode = Some(self.text(t).to_string());
            }
            ClauseKind::WithType => {
                let t = self.expect_word("a type name")?;
                stmt.with_type = Some(self.text(t).to_string());
            }
            ClauseKind::WithDocType => {
                self.expect_eq(clause)?;
                let t = self.single_value_token("a document type")?;
                stmt.doc_type = Some(unescape(self.text(t)).to_string());
            }
            ClauseKind::WithIndexSuffix => {
                self.expect_eq(clause)?;
                let t = self.single_value_token("an index suffix")?;
                stmt.index_suffix = Some(unescape(self.text(t)).to_string());
            }
            ClauseKind::WithConverter => stmt.converter = Some(self.backticked_value(clause)?),
            ClauseKind::WithJmsSelector => stmt.jms_selector = Some(self.backticked_value(clause)?),
            ClauseKind::WithRegex => stmt.regex = Some(self.backticked_value(clause)?),
            ClauseKind::WithKey => stmt.with_key = Some(self.with_key()?),
            ClauseKind::KeyDelimiter => {
                self.expect_eq(clause)?;
                stmt.key_delimiter = Some(self.key_delimiter()?);
            }
            ClauseKind::WithPipeline => {
                self.expect_eq(clause)?;
                stmt.pipeline = Some(unescape(self.raw_run("a pipeline name")?).to_string());
            }
            ClauseKind::WithSubscription => {
                self.expect_eq(clause)?;
                let t = self.expect_word("a subscription name")?;
                if !self.text(t).bytes().all(is_field_byte) {
                    return Err(Failure::new(
                        ErrorKind::Unexpected {
                            expected: vec![
                                "a subscription name of letters, digits, `_` or `@`".into()
                            ],
                            found: describe(self.src, t),
                        },
                        t.span,
                    ));
                }
                stmt.subscription = Some(self.text(t).to_string());
            }
            ClauseKind::Properties => stmt.properties = self.properties()?,
            ClauseKind::Where => stmt.where_clause = Some(self.expr()?),
            ClauseKind::GroupBy => stmt.group_by = self.group_by()?,
            ClauseKind::Window => stmt.window = Some(self.window()?),
            ClauseKind::WithRetention => stmt.retention = Some(self.retention()?),
        }
        Ok(())
    }
}

/// Help for a stray word right after the source: the source may have swallowed a clause
/// keyword (`FROM TABLE_APK id`), or a name with spaces needs backticks.
fn glued_keyword_hint(source: &str, after_source: bool) -> Option<String> {
    if !after_source {
        return None;
    }
    let upper = source.to_ascii_uppercase();
    for c in ClauseKind::ALL {
        let kw = c.keyword();
        if upper.len() > kw.len() && upper.ends_with(kw) {
            let name = &source[..source.len() - kw.len()];
            return Some(format!(
                "did you mean `{name} {kw} …`? a clause keyword must be separated from the name by a space"
            ));
        }
    }
    Some("names with spaces or special characters must be quoted with backticks".to_string())
}
