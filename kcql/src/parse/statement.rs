//! The statement's frame: the head (`INSERT|UPSERT … INTO target` or a bare `SELECT`), the
//! select list and `FROM source`; the clauses after it are read by [`super::clauses`].

use super::{PResult, Parser};
use crate::ast::*;
use crate::keyword::suggest;
use crate::lex::TokenKind;
use crate::span::Span;

impl Statement {
    /// A statement with no clauses (`SELECT FROM` with an empty source), to be filled in.
    pub(crate) fn empty() -> Statement {
        Statement {
            head: Head::Select,
            select: Vec::new(),
            source: String::new(),
            ignore: Vec::new(),
            primary_keys: Vec::new(),
            autocreate: false,
            autoevolve: false,
            with_structure: false,
            with_unwrap: false,
            batch_size: None,
            partitioning: None,
            timestamp: None,
            timestamp_unit: None,
            format: None,
            store_as: None,
            tags: None,
            incremental_mode: None,
            with_type: None,
            doc_type: None,
            index_suffix: None,
            ttl: None,
            converter: None,
            jms_selector: None,
            with_key: None,
            key_delimiter: None,
            pipeline: None,
            subscription: None,
            regex: None,
            dynamic_target: None,
            limit: None,
            properties: Vec::new(),
            where_clause: None,
            group_by: Vec::new(),
            window: None,
            retention: None,
            spans: StatementSpans::default(),
        }
    }
}

impl<'a> Parser<'a> {
    /// A whole statement into `stmt`: head, select list, `FROM source`, then the clauses.
    pub(super) fn statement(&mut self, stmt: &mut Statement) -> PResult<()> {
        let head = self.head()?;
        let target_span = self.last_name_span;
        self.expect_keyword("SELECT")?;
        let select = self.select_list()?;
        if self.eat_keyword("FROM").is_none() {
            let mut f = self.unexpected(["`,`", "AS", "FROM", "an operator"]);
            if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
                if suggest(self.text(t), ["FROM"]).is_some() {
                    f = f.help("did you mean `FROM`?");
                } else if let Some(h) = operator_hint(self.text(t)) {
                    f = f.help(h);
                }
            }
            return Err(f);
        }
        let (source, source_span) = self.name("a source name after FROM")?;
        stmt.head = head;
        stmt.select = select;
        stmt.source = source;
        stmt.spans.target = target_span;
        stmt.spans.source = source_span;
        self.clauses(stmt)
    }

    /// `INSERT INTO t`, `UPSERT INTO t`, `UPSERT PK k INTO t`, or nothing before a bare `SELECT`.
    pub(super) fn head(&mut self) -> PResult<Head> {
        self.last_name_span = Span::default();
        if self.at_keyword("SELECT") {
            return Ok(Head::Select);
        }
        let mode = if self.eat_keyword("INSERT").is_some() {
            WriteMode::Insert
        } else if self.eat_keyword("UPSERT").is_some() {
            if self.eat_keyword("PK").is_some() {
                let t = self.expect(TokenKind::Word)?;
                WriteMode::LegacyUpsertPk(self.text(t).to_string())
            } else {
                WriteMode::Upsert
            }
        } else {
            let mut f = self.unexpected(["INSERT", "UPSERT", "SELECT"]);
            if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
                let w = self.text(t);
                if w.eq_ignore_ascii_case("UPDATE") {
                    f = f.help("UPDATE INTO was removed from KCQL; use UPSERT INTO");
                } else if let Some(s) = suggest(w, ["INSERT", "UPSERT", "SELECT"]) {
                    f = f.help(format!("did you mean `{s}`?"));
                }
            }
            return Err(f);
        };
        self.expect_keyword("INTO")?;
        let (target, span) = self.name("a target name after INTO")?;
        self.last_name_span = span;
        Ok(Head::Insert { mode, target })
    }

    /// The select list: `,`-separated expressions, each with an optional alias.
    fn select_list(&mut self) -> PResult<Vec<SelectItem>> {
        self.comma_list(|p| {
            let start = p.here();
            let expr = p.select_item_expr()?;
            let alias = p.alias()?;
            let end = p.toks[p.pos - 1].span;
            Ok(SelectItem {
                expr,
                alias,
                span: start.to(end),
            })
        })
    }
}

/// Help for a word like `-b` or `+1` standing where an operator was expected.
pub(super) fn operator_hint(word: &str) -> Option<String> {
    let op = word
        .chars()
        .next()
        .filter(|c| matches!(c, '-' | '+' | '/'))?;
    let rest = &word[1..];
    (!rest.is_empty()).then(|| {
        format!("`{word}` is read as a name (`{op}` is a name character); put spaces around operators: `{op} {rest}`")
    })
}
