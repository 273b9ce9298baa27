//! The parser: tokens → [`Statement`].
//!
//! A hand-written recursive-descent parser over the tokens of [`crate::lex`]. Unlike the
//! reference it is anchored at the end of the statement, so nothing is silently ignored, and the
//! clauses after `FROM` may come in any order, each at most once.
//!
//! This module holds the entry points ([`parse`], [`parse_many`]); the parser itself is split by
//! clause group: `cursor` (the token cursor and its failures), `statement` (head, select list,
//! `FROM`), `clauses` (the clauses after `FROM`), `names` (names, column paths, aliases),
//! `values` (single-value clauses), `lists` (column lists), `params` (`STOREAS`, `WITHTAG`,
//! `PROPERTIES`), `expr` (expressions, `GROUP BY`, `WINDOW`, `WITHRETENTION`) and `read_back`
//! (the printer's check that a spelling reads back).

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics, ErrorKind, Failure, StatementRef};
use crate::lex::{tokenize_into, Token, TokenKind};
use crate::span::Span;
use std::sync::Arc;

mod clauses;
mod cursor;
mod expr;
mod lists;
mod names;
mod params;
mod read_back;
mod statement;
mod values;

use cursor::{describe, Parser};
pub(crate) use names::unescape;
pub(crate) use read_back::{reads_back, ReadAs};

/// What a parser step returns: its value, or where and why it failed.
type PResult<T> = Result<T, Failure>;

/// The deepest expression accepted: an expression tree at most this many operators and
/// function calls high, so that parsing, validating, printing and dropping a statement never
/// overflow the stack whatever the input.
pub const MAX_EXPR_DEPTH: usize = 64;

/// The most nested expression parsers (parentheses add one each). Printing a tree of height `h`
/// needs at most `2h + 1` (a parenthesised operand per level), so every accepted tree prints to
/// text that parses again.
const MAX_EXPR_RECURSION: usize = 2 * MAX_EXPR_DEPTH + 2;

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
    tokenize_into(src, toks)
        .map_err(|e| Failure::new(e.kind, e.span).into_diagnostic(Arc::from(src)))?;
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
                .into_diagnostic(Arc::from(src)));
            }
            i
        }
        None => toks.len(),
    };
    parse_tokens_into(src, &toks[..end], Span::new(0, src.len()), out)
        .map_err(|f| f.into_diagnostic(Arc::from(src)))
}

/// Parses `;`-separated statements. A `;` inside quotes or backticks does not split. Trailing
/// empty statements are ignored; an empty statement between two others is an error. Every
/// failing statement gets its own diagnostic, naming the statement.
pub fn parse_many(src: &str) -> Result<Vec<Statement>, Diagnostics> {
    let mut toks = Vec::with_capacity(src.len() / 4 + 4);
    tokenize_into(src, &mut toks).map_err(|e| {
        Diagnostics::from(Failure::new(e.kind, e.span).into_diagnostic(Arc::from(src)))
    })?;
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
    // The text, shared by every diagnostic; made on the first error.
    let mut text: Option<Arc<str>> = None;
    for (index, (piece, span)) in pieces.into_iter().enumerate() {
        match parse_tokens(src, piece, span) {
            Ok(s) => out.push(s),
            Err(f) => {
                let text = text.get_or_insert_with(|| Arc::from(src)).clone();
                let mut d = f.into_diagnostic(text);
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
    let mut p = Parser::new(src, toks, span.end);
    p.statement(stmt)?;
    stmt.spans.statement = Span::new(toks[0].span.start, toks[toks.len() - 1].span.end);
    crate::validate::validate(stmt)
}
