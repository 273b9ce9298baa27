//! The parser: tokens → [`Statement`].
//!
//! A hand-written recursive-descent parser over the tokens of [`crate::lex`]. Unlike the
//! reference it is anchored at the end of the statement, so nothing is silently ignored, and the
//! clauses after `FROM` may come in any order, each at most once.

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics, ErrorKind, Failure, StatementRef};
use crate::keyword::{is_reserved, suggest, ClauseKind};
use crate::lex::{is_field_byte, tokenize_into, Token, TokenKind};
use crate::span::Span;

mod expr;

type PResult<T> = Result<T, Failure>;

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

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse(src: &str) -> Result<Statement, Diagnostic> {
    // The statement is filled in place: it is large, and moving it through the layers below
    // cost more than the parsing itself.
    let mut stmt = Statement::empty();
    with_token_buffer(|toks| parse_one(src, toks, &mut stmt))?;
    Ok(stmt)
}

thread_local! {
    /// A token buffer reused across calls, so parsing allocates no token vector.
    static TOKENS: std::cell::RefCell<Vec<Token>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with the thread's reusable token buffer (or a fresh one when it is in use).
fn with_token_buffer<R>(f: impl FnOnce(&mut Vec<Token>) -> R) -> R {
    TOKENS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::new()),
    })
}

#[inline]
fn parse_one(src: &str, toks: &mut Vec<Token>, out: &mut Statement) -> Result<(), Diagnostic> {
    tokenize_into(src, toks).map_err(|e| Failure::new(e.kind, e.span).into_diagnostic(src))?;
    let end = match toks.iter().position(|t| t.kind == TokenKind::Semicolon) {
        Some(i) => {
            if let Some(extra) = toks.get(i + 1) {
                return Err(Failure::new(
                    ErrorKind::Unexpected {
                        expected: vec!["end of input".into()],
                        found: describe(src, extra),
                    },
                    extra.span,
                )
                .help("this function parses a single statement; use parse_many for several")
                .into_diagnostic(src));
            }
            i
        }
        None => toks.len(),
    };
    parse_tokens_into(src, &toks[..end], Span::new(0, src.len()), out)
        .map_err(|f| f.into_diagnostic(src))
}

/// Parses `;`-separated statements. A `;` inside quotes or backticks does not split. Trailing
/// empty statements are ignored; an empty statement between two others is an error. Every
/// failing statement gets its own diagnostic, naming the statement.
pub fn parse_many(src: &str) -> Result<Vec<Statement>, Diagnostics> {
    let mut toks = Vec::with_capacity(src.len() / 4 + 4);
    tokenize_into(src, &mut toks)
        .map_err(|e| Diagnostics::from(Failure::new(e.kind, e.span).into_diagnostic(src)))?;
    // Split on `;` and drop trailing empty pieces.
    let mut pieces: Vec<(&[Token], Span)> = Vec::new();
    let mut start_tok = 0;
    let mut start_byte = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.kind == TokenKind::Semicolon {
            pieces.push((&toks[start_tok..i], Span::new(start_byte, t.span.start)));
            start_tok = i + 1;
            start_byte = t.span.end;
        }
    }
    pieces.push((&toks[start_tok..], Span::new(start_byte, src.len())));
    while pieces.len() > 1 && pieces.last().is_some_and(|(t, _)| t.is_empty()) {
        pieces.pop();
    }
    let several = pieces.len() > 1;
    let mut out = Vec::with_capacity(pieces.len());
    let mut errors = Vec::new();
    for (index, (piece, span)) in pieces.into_iter().enumerate() {
        match parse_tokens(src, piece, span) {
            Ok(s) => out.push(s),
            Err(f) => {
                let mut d = f.into_diagnostic(src);
                if several {
                    d.statement = Some(StatementRef {
                        index: index + 1,
                        preview: preview(src, piece, span),
                    });
                }
                errors.push(d);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// The first words of a statement, for naming it in diagnostics.
fn preview(src: &str, toks: &[Token], span: Span) -> String {
    match (toks.first(), toks.get(4).or(toks.last())) {
        (Some(first), Some(last)) => {
            let text = &src[first.span.start..last.span.end];
            if toks.len() > 5 {
                format!("{text} …")
            } else {
                text.to_string()
            }
        }
        _ => src[span.start..span.end].trim().to_string(),
    }
}

/// Parses one statement from its tokens (no `;` among them).
#[inline]
pub(crate) fn parse_tokens(src: &str, toks: &[Token], span: Span) -> PResult<Statement> {
    let mut stmt = Statement::empty();
    parse_tokens_into(src, toks, span, &mut stmt)?;
    Ok(stmt)
}

/// [`parse_tokens`] writing into `stmt` (which must be [`Statement::empty`]).
#[inline]
fn parse_tokens_into(src: &str, toks: &[Token], span: Span, stmt: &mut Statement) -> PResult<()> {
    if toks.is_empty() {
        let at = if span.is_empty() {
            span
        } else {
            Span::new(span.start, span.start + 1)
        };
        return Err(Failure::new(ErrorKind::EmptyStatement, at)
            .help("write a statement such as `INSERT INTO target SELECT * FROM source`"));
    }
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        end: span.end,
        last_name_span: Span::default(),
        expr_depth: 0,
        expr_height: 0,
    };
    p.statement(stmt)?;
    stmt.spans.statement = Span::new(toks[0].span.start, toks[toks.len() - 1].span.end);
    crate::validate::validate(stmt)
}

fn describe(src: &str, t: &Token) -> String {
    match t.kind {
        TokenKind::Word | TokenKind::Backticked | TokenKind::String => {
            format!("`{}`", t.text(src))
        }
        k => k.describe().to_string(),
    }
}

/// The deepest expression accepted: an expression tree at most this many operators and
/// function calls high, so that parsing, validating, printing and dropping a statement never
/// overflow the stack whatever the input.
pub const MAX_EXPR_DEPTH: usize = 64;

/// The most nested expression parsers (parentheses add one each). Printing a tree of height `h`
/// needs at most `2h + 1` (a parenthesised operand per level), so every accepted tree prints to
/// text that parses again.
const MAX_EXPR_RECURSION: usize = 2 * MAX_EXPR_DEPTH + 2;

struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    pos: usize,
    /// Byte offset of the end of the statement (for "end of statement" spans).
    end: usize,
    /// Span of the target name, once parsed.
    last_name_span: Span,
    /// How many expression parsers are active (bounded by [`MAX_EXPR_RECURSION`]).
    expr_depth: usize,
    /// The height of the expression tree the expression parser returned last.
    expr_height: usize,
}

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
    // ----- token helpers -------------------------------------------------------------------

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    fn peek_kind(&self) -> Option<TokenKind> {
        self.peek().map(|t| t.kind)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn text(&self, t: &Token) -> &'a str {
        t.text(self.src)
    }

    /// True when the next token is the word `kw` (any letter case).
    fn at_keyword(&self, kw: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == TokenKind::Word && t.text(self.src).eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> Option<&'a Token> {
        if self.at_keyword(kw) {
            self.next()
        } else {
            None
        }
    }

    fn eat(&mut self, kind: TokenKind) -> Option<&'a Token> {
        if self.peek_kind() == Some(kind) {
            self.next()
        } else {
            None
        }
    }

    /// The span of the next token, or an empty span at the end of the statement.
    fn here(&self) -> Span {
        self.peek()
            .map_or(Span::new(self.end_of_last(), self.end_of_last()), |t| {
                t.span
            })
    }

    fn end_of_last(&self) -> usize {
        self.toks.last().map_or(self.end, |t| t.span.end)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => describe(self.src, t),
            None => "end of statement".to_string(),
        }
    }

    fn unexpected<I, S>(&self, expected: I) -> Failure
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Failure::new(
            ErrorKind::Unexpected {
                expected: expected.into_iter().map(Into::into).collect(),
                found: self.found(),
            },
            self.here(),
        )
    }

    fn expect(&mut self, kind: TokenKind) -> PResult<&'a Token> {
        match self.eat(kind) {
            Some(t) => Ok(t),
            None => Err(self.unexpected([kind.describe()])),
        }
    }

    fn expect_keyword(&mut self, kw: &'static str) -> PResult<&'a Token> {
        if let Some(t) = self.eat_keyword(kw) {
            return Ok(t);
        }
        let mut f = self.unexpected([kw]);
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
            if suggest(self.text(t), [kw]).is_some() {
                f = f.help(format!("did you mean `{kw}`?"));
            }
        }
        Err(f)
    }

    // ----- statement -----------------------------------------------------------------------

    fn statement(&mut self, stmt: &mut Statement) -> PResult<()> {
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

    fn head(&mut self) -> PResult<Head> {
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
}

// ----- names, columns and the select list --------------------------------------------------

/// Removes one pair of outer backticks, then one pair of outer single quotes (the reference's
/// `unescape`).
pub(crate) fn unescape(raw: &str) -> &str {
    let s = strip_pair(raw, '`');
    strip_pair(s, '\'')
}

fn strip_pair(s: &str, q: char) -> &str {
    if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn is_all_digits(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

/// How a value the printer writes is read back; see [`reads_back`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadAs {
    /// A source or target name ([`Parser::name`]).
    Name,
    /// A glued run, unescaped (`WITHPIPELINE`).
    UnescapedRun,
    /// A glued run with every backtick removed (the `STOREAS` type).
    StoreType,
    /// One word or backticked token, unescaped (`WITHDOCTYPE`, `WITHINDEXSUFFIX`).
    Single,
    /// A `PROPERTIES` key or value.
    Property,
    /// A `WITHTAG` value.
    TagValue,
}

/// True when `text`, standing alone where a value read as `read` is expected, parses to
/// exactly `expected` and nothing else. The printer uses it to pick a spelling that survives
/// `parse(print(ast)) == ast`.
pub(crate) fn reads_back(read: ReadAs, text: &str, expected: &str) -> bool {
    let Ok(toks) = crate::lex::tokenize(text) else {
        return false;
    };
    let mut p = Parser {
        src: text,
        toks: &toks,
        pos: 0,
        end: text.len(),
        last_name_span: Span::default(),
        expr_depth: 0,
        expr_height: 0,
    };
    let value = match read {
        ReadAs::Name => p.name("a name").map(|(v, _)| v),
        ReadAs::UnescapedRun => p.raw_run("a name").map(|r| unescape(r).to_string()),
        ReadAs::StoreType => p.raw_run("a name").map(|r| r.replace('`', "")),
        ReadAs::Single => p
            .single_value_token("a value")
            .map(|t| unescape(t.text(text)).to_string()),
        ReadAs::Property => p.property_atom("a value"),
        ReadAs::TagValue => p.tag_value(),
    };
    p.pos == toks.len() && value.is_ok_and(|v| v == expected)
}

impl<'a> Parser<'a> {
    /// A run of name tokens (words, backticked names, dots) with no whitespace between them.
    /// Returns the raw text and its span; `None` when the next token cannot start a run.
    fn glued_run(&mut self) -> Option<(&'a str, Span)> {
        let first = self.peek()?;
        if !matches!(
            first.kind,
            TokenKind::Word | TokenKind::Backticked | TokenKind::Dot
        ) {
            return None;
        }
        self.pos += 1;
        let mut last = first;
        while let Some(t) = self.peek() {
            if t.span.start != last.span.end
                || !matches!(
                    t.kind,
                    TokenKind::Word | TokenKind::Backticked | TokenKind::Dot
                )
            {
                break;
            }
            self.pos += 1;
            last = t;
        }
        let span = first.span.to(last.span);
        Some((&self.src[span.start..span.end], span))
    }

    /// Checks that a word may be used as a name.
    fn check_name_word(&self, t: &Token) -> PResult<()> {
        let w = self.text(t);
        if is_reserved(w) {
            return Err(
                Failure::new(ErrorKind::ReservedWord { word: w.into() }, t.span)
                    .help(format!("quote it with backticks: `{w}`")),
            );
        }
        if is_all_digits(w) {
            return Err(
                Failure::new(ErrorKind::NumericName { word: w.into() }, t.span)
                    .help(format!("quote it with backticks: `{w}`")),
            );
        }
        Ok(())
    }

    /// A source or target name: a quoted string, or a glued run of words, backticked names and
    /// dots (`a.b`, `/sensors/+/temp`, `` `my topic` ``, `$share/g/t`). Unescaped.
    fn name(&mut self, what: &'static str) -> PResult<(String, Span)> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok((t.inner(self.src).to_string(), t.span));
        }
        let start = self.pos;
        let Some((raw, span)) = self.glued_run() else {
            return Err(self.unexpected([what]));
        };
        // The first word may not be a keyword or a number; later words are glued text.
        if let Some(first) = self.toks[start..self.pos]
            .iter()
            .find(|t| t.kind != TokenKind::Dot)
        {
            if first.kind == TokenKind::Word && first.span.start == span.start {
                self.check_name_word(first)?;
            }
        }
        Ok((unescape(raw).to_string(), span))
    }

    /// One column-path segment: a word (not a keyword or number) or a backticked name.
    fn segment(&mut self) -> PResult<String> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.check_name_word(t)?;
                self.pos += 1;
                Ok(self.text(t).to_string())
            }
            Some(t) if t.kind == TokenKind::Backticked => {
                self.pos += 1;
                Ok(t.inner(self.src).to_string())
            }
            _ => Err(self.unexpected(["a field name"])),
        }
    }

    /// A column path: `*`, `a`, `a.b.c`, `a.b.*`, `` `x y`.z ``.
    fn column_path(&mut self, allow_wildcard: bool) -> PResult<ColumnPath> {
        let start = self.here();
        if let Some(star) = self.eat(TokenKind::Star) {
            if !allow_wildcard {
                return Err(star_not_allowed(star.span));
            }
            if let Some(dot) = self.eat(TokenKind::Dot) {
                return Err(Failure::new(
                    ErrorKind::WildcardNotLast,
                    star.span.to(dot.span),
                ));
            }
            let mut p = ColumnPath::star();
            p.span = star.span;
            return Ok(p);
        }
        let mut segments = vec![self.segment()?];
        let mut wildcard = false;
        let mut end = self.toks[self.pos - 1].span;
        while let Some(dot) = self.eat(TokenKind::Dot) {
            if let Some(star) = self.eat(TokenKind::Star) {
                if !allow_wildcard {
                    return Err(star_not_allowed(star.span));
                }
                wildcard = true;
                end = star.span;
                if let Some(dot2) = self.eat(TokenKind::Dot) {
                    return Err(Failure::new(
                        ErrorKind::WildcardNotLast,
                        star.span.to(dot2.span),
                    ));
                }
                break;
            }
            if !matches!(
                self.peek_kind(),
                Some(TokenKind::Word | TokenKind::Backticked)
            ) {
                let mut f = self.unexpected(["a field name", "`*`"]);
                f.span = dot.span.to(self.here());
                return Err(f.help("a `.` must be followed by a field name or `*`"));
            }
            segments.push(self.segment()?);
            end = self.toks[self.pos - 1].span;
        }
        Ok(ColumnPath {
            segments,
            wildcard,
            span: start.to(end),
        })
    }

    /// `AS alias`, if present.
    fn alias(&mut self) -> PResult<Option<Alias>> {
        if self.eat_keyword("AS").is_none() {
            return Ok(None);
        }
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.check_name_word(t)?;
                self.pos += 1;
                Ok(Some(Alias::Name(self.text(t).to_string())))
            }
            Some(t) if t.kind == TokenKind::Backticked => {
                self.pos += 1;
                Ok(Some(Alias::Name(t.inner(self.src).to_string())))
            }
            Some(t) if t.kind == TokenKind::String => {
                self.pos += 1;
                Ok(Some(Alias::Quoted(t.inner(self.src).to_string())))
            }
            _ => Err(self.unexpected(["an alias"])),
        }
    }

    fn select_list(&mut self) -> PResult<Vec<SelectItem>> {
        let mut items = Vec::new();
        loop {
            let start = self.here();
            let expr = self.select_item_expr()?;
            let alias = self.alias()?;
            let end = self.toks[self.pos - 1].span;
            items.push(SelectItem {
                expr,
                alias,
                span: start.to(end),
            });
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(items);
            }
        }
    }
}

// ----- clauses -----------------------------------------------------------------------------

impl<'a> Parser<'a> {
    fn clauses(&mut self, stmt: &mut Statement) -> PResult<()> {
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
                stmt.dynamic_target = Some(self.raw_run("a field path")?.to_string());
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

    fn expect_eq(&mut self, clause: ClauseKind) -> PResult<()> {
        if self.eat(TokenKind::Eq).is_some() {
            return Ok(());
        }
        Err(self
            .unexpected(["`=`"])
            .help(format!("write `{} = …`", clause.keyword())))
    }

    fn expect_word(&mut self, what: &str) -> PResult<&'a Token> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected([what])),
        }
    }

    /// A single word or backticked token.
    fn single_value_token(&mut self, what: &str) -> PResult<&'a Token> {
        match self.peek() {
            Some(t) if matches!(t.kind, TokenKind::Word | TokenKind::Backticked) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected([what])),
        }
    }

    /// A glued run of words, backticked names and dots, as raw text.
    fn raw_run(&mut self, what: &str) -> PResult<&'a str> {
        match self.glued_run() {
            Some((raw, _)) => Ok(raw),
            None => Err(self.unexpected([what])),
        }
    }

    /// An unsigned integer in `1..=max`.
    fn integer(&mut self, clause: ClauseKind, max: u64) -> PResult<u64> {
        let t = match self.peek() {
            Some(t) if t.kind == TokenKind::Word && is_all_digits(self.text(t)) => t,
            _ => return Err(self.unexpected(["an integer"])),
        };
        self.pos += 1;
        let text = self.text(t);
        match text.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Failure::new(
                ErrorKind::NumberOutOfRange {
                    clause: clause.keyword(),
                    min: 1,
                    max,
                    found: text.into(),
                },
                t.span,
            )),
        }
    }

    /// ``WITHCONVERTER = `…` `` and friends: a backticked value, or a word the reference lexes
    /// as a topic name (it contains one of `-+/{}:`).
    fn backticked_value(&mut self, clause: ClauseKind) -> PResult<String> {
        self.expect_eq(clause)?;
        match self.peek() {
            Some(t) if t.kind == TokenKind::Backticked => {
                self.pos += 1;
                Ok(t.inner(self.src).to_string())
            }
            Some(t) if t.kind == TokenKind::Word => {
                let w = self.text(t);
                if w.bytes().all(is_field_byte) {
                    return Err(Failure::new(
                        ErrorKind::NeedsBackticks {
                            clause: clause.keyword(),
                        },
                        t.span,
                    )
                    .help(format!("write {} = `{w}`", clause.keyword())));
                }
                self.pos += 1;
                Ok(w.to_string())
            }
            _ => Err(self.unexpected(["a backticked value"])),
        }
    }

    fn ignore_list(&mut self) -> PResult<Vec<ColumnItem>> {
        let mut items = Vec::new();
        loop {
            if let Some(star) = self.peek().filter(|t| t.kind == TokenKind::Star) {
                if self.toks.get(self.pos + 1).map(|t| t.kind) != Some(TokenKind::Dot) {
                    return Err(Failure::new(ErrorKind::IgnoreWildcard, star.span)
                        .help("remove `IGNORE *`, or name the fields to ignore"));
                }
            }
            let path = self.column_path(true)?;
            let alias = self.alias()?;
            items.push(ColumnItem { path, alias });
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(items);
            }
        }
    }

    fn pk_list(&mut self) -> PResult<Vec<ColumnPath>> {
        let mut items = Vec::new();
        loop {
            if let Some(star) = self.peek().filter(|t| t.kind == TokenKind::Star) {
                return Err(Failure::new(ErrorKind::WildcardPrimaryKey, star.span));
            }
            items.push(self.column_path(true)?);
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(items);
            }
        }
    }

    /// `PARTITIONBY` entries: glued runs of field words, dots, backticked segments and a final
    /// `.*`, or quoted strings; kept as raw text.
    fn partition_list(&mut self) -> PResult<Vec<String>> {
        let mut items: Vec<(String, Span)> = Vec::new();
        loop {
            let (raw, span) =
                if let Some(t) = self.eat(TokenKind::String) {
                    (self.text(t), t.span)
                } else {
                    let first = match self.peek() {
                        Some(t) if t.kind == TokenKind::Word => t,
                        _ => return Err(self.unexpected(["a field name", "a quoted string"])),
                    };
                    let start = self.pos;
                    let mut last = first;
                    self.pos += 1;
                    while let Some(t) = self.peek() {
                        let glued = t.span.start == last.span.end;
                        let ok = match t.kind {
                            TokenKind::Dot | TokenKind::Word => true,
                            TokenKind::Backticked | TokenKind::Star => last.kind == TokenKind::Dot,
                            _ => false,
                        };
                        if !glued || !ok || last.kind == TokenKind::Star {
                            break;
                        }
                        self.pos += 1;
                        last = t;
                    }
                    for t in &self.toks[start..self.pos] {
                        if t.kind == TokenKind::Word && !self.text(t).bytes().all(is_field_byte) {
                            return Err(Failure::new(
                                ErrorKind::Unexpected {
                                    expected: vec![
                                        "a field name of letters, digits, `_` or `@`".into()
                                    ],
                                    found: describe(self.src, t),
                                },
                                t.span,
                            )
                            .help("quote the segment with backticks: a.`b-c`"));
                        }
                    }
                    self.check_name_word(first)?;
                    let span = first.span.to(last.span);
                    (&self.src[span.start..span.end], span)
                };
            if raw.trim().is_empty() || raw == "''" {
                return Err(self.unexpected(["a field name"]));
            }
            if items.iter().any(|(r, _)| r.eq_ignore_ascii_case(raw)) {
                return Err(Failure::new(
                    ErrorKind::DuplicatePartition { name: raw.into() },
                    span,
                ));
            }
            items.push((raw.to_string(), span));
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(items.into_iter().map(|(r, _)| r).collect());
            }
        }
    }

    fn timestamp(&mut self) -> PResult<TimestampSource> {
        if self.at_keyword("sys_time")
            && self.toks.get(self.pos + 1).map(|t| t.kind) == Some(TokenKind::LParen)
        {
            self.pos += 2;
            self.expect(TokenKind::RParen)?;
            return Ok(TimestampSource::SysTime);
        }
        if !matches!(
            self.peek_kind(),
            Some(TokenKind::Word | TokenKind::Backticked)
        ) {
            return Err(self.unexpected(["a field name", "sys_time()"]));
        }
        Ok(TimestampSource::Field(self.column_path(false)?))
    }

    fn store_as(&mut self) -> PResult<StoreAs> {
        let type_name = self.raw_run("a storage type")?.replace('`', "");
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(open) = self.eat(TokenKind::LParen) {
            if let Some(close) = self.eat(TokenKind::RParen) {
                return Err(Failure::new(
                    ErrorKind::EmptyStoreAsParams,
                    open.span.to(close.span),
                ));
            }
            loop {
                let key_span = self.here();
                let key = self.raw_run("a parameter name")?;
                self.expect(TokenKind::Eq)?;
                let value = self.raw_run("a parameter value")?;
                if params.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    return Err(Failure::new(
                        ErrorKind::DuplicateStoreAsParam { name: key.into() },
                        key_span,
                    ));
                }
                params.push((key.to_string(), value.to_string()));
                if self.eat(TokenKind::Comma).is_some() {
                    continue;
                }
                if self.eat(TokenKind::RParen).is_some() {
                    break;
                }
                return Err(self.unexpected(["`,`", "`)`"]));
            }
        }
        Ok(StoreAs { type_name, params })
    }

    fn tags(&mut self) -> PResult<Vec<Tag>> {
        self.expect(TokenKind::LParen)?;
        let mut tags = Vec::new();
        loop {
            let (key, key_span) = match self.glued_run() {
                Some(r) => r,
                None => return Err(self.unexpected(["a tag"])),
            };
            if key.ends_with('.') {
                return Err(Failure::new(
                    ErrorKind::TagKeyEndsWithDot { key: key.into() },
                    key_span,
                ));
            }
            let kind = if self.eat(TokenKind::Eq).is_some() {
                TagKind::Constant(self.tag_value()?)
            } else if self.eat_keyword("AS").is_some() {
                TagKind::Alias(self.tag_value()?)
            } else {
                TagKind::Field
            };
            tags.push(Tag {
                key: key.to_string(),
                kind,
            });
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            if self.eat(TokenKind::RParen).is_some() {
                return Ok(tags);
            }
            return Err(self.unexpected(["`,`", "`=`", "AS", "`)`"]));
        }
    }

    /// A tag value: a glued run (raw text) or a quoted string (its text).
    fn tag_value(&mut self) -> PResult<String> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok(t.inner(self.src).to_string());
        }
        Ok(self.raw_run("a tag value")?.to_string())
    }

    fn with_key(&mut self) -> PResult<Vec<ColumnPath>> {
        self.expect(TokenKind::LParen)?;
        let mut keys = Vec::new();
        loop {
            let start = self.here();
            let mut segments = Vec::new();
            loop {
                match self.peek() {
                    Some(t) if t.kind == TokenKind::Word => {
                        if is_reserved(self.text(t)) {
                            self.check_name_word(t)?;
                        }
                        self.pos += 1;
                        segments.push(self.text(t).to_string());
                    }
                    Some(t) if t.kind == TokenKind::Backticked => {
                        self.pos += 1;
                        segments.push(t.inner(self.src).to_string());
                    }
                    _ => return Err(self.unexpected(["a field name"])),
                }
                if self.eat(TokenKind::Dot).is_none() {
                    break;
                }
            }
            let end = self.toks[self.pos - 1].span;
            keys.push(ColumnPath {
                segments,
                wildcard: false,
                span: start.to(end),
            });
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            if self.eat(TokenKind::RParen).is_some() {
                return Ok(keys);
            }
            return Err(self.unexpected(["`,`", "`)`"]));
        }
    }

    fn key_delimiter(&mut self) -> PResult<String> {
        const ALLOWED: &[u8] = b"_-+/{}:|#@^[]*?$";
        match self.peek() {
            Some(t) if t.kind == TokenKind::String => {
                self.pos += 1;
                let inner = t.inner(self.src);
                let ok = inner.len() == 1
                    && inner
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || ALLOWED.contains(&b));
                if ok {
                    Ok(inner.to_string())
                } else {
                    Err(Failure::new(
                        ErrorKind::InvalidKeyDelimiter {
                            found: self.text(t).into(),
                        },
                        t.span,
                    ))
                }
            }
            _ => Err(self.unexpected(["a quoted delimiter such as '|'"])),
        }
    }

    fn properties(&mut self) -> PResult<Vec<(String, String)>> {
        self.expect(TokenKind::LParen)?;
        let mut props: Vec<(String, String)> = Vec::new();
        if self.eat(TokenKind::RParen).is_some() {
            return Ok(props);
        }
        loop {
            let key = self.property_atom("a property name")?;
            self.expect(TokenKind::Eq)?;
            let value = self.property_atom("a property value")?;
            match props.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => props.push((key, value)),
            }
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            if self.eat(TokenKind::RParen).is_some() {
                return Ok(props);
            }
            return Err(self.unexpected(["`,`", "`)`"]));
        }
    }

    fn property_atom(&mut self, what: &str) -> PResult<String> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok(t.inner(self.src).to_string());
        }
        Ok(unescape(self.raw_run(what)?).to_string())
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

/// Help for a word like `-b` or `+1` standing where an operator was expected.
fn operator_hint(word: &str) -> Option<String> {
    let op = word
        .chars()
        .next()
        .filter(|c| matches!(c, '-' | '+' | '/'))?;
    let rest = &word[1..];
    (!rest.is_empty()).then(|| {
        format!("`{word}` is read as a name (`{op}` is a name character); put spaces around operators: `{op} {rest}`")
    })
}

/// `*` where only a field name may stand (PK, WITHTIMESTAMP, GROUP BY …).
fn star_not_allowed(span: Span) -> Failure {
    Failure::new(
        ErrorKind::Unexpected {
            expected: vec!["a field name".into()],
            found: "`*`".into(),
        },
        span,
    )
}
