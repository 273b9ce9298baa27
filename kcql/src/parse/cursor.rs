//! The parser's cursor over one statement's tokens: looking ahead, consuming, and the
//! "expected …, found …" failures every clause parser reports.

use super::PResult;
use crate::diag::{ErrorKind, Failure};
use crate::keyword::{suggest, ClauseKind};
use crate::lex::{Token, TokenKind};
use crate::span::Span;

/// A recursive-descent parser over one statement's tokens (no `;` among them). Its methods are
/// spread over the `parse` submodules, one group of clauses each.
pub(super) struct Parser<'a> {
    /// The statement's source text (spans index into it).
    pub(super) src: &'a str,
    /// The statement's tokens.
    pub(super) toks: &'a [Token],
    /// Index of the next token.
    pub(super) pos: usize,
    /// Byte offset of the end of the statement (for "end of statement" spans).
    pub(super) end: usize,
    /// Span of the target name, once parsed.
    pub(super) last_name_span: Span,
    /// How many expression parsers are active (bounded by [`super::MAX_EXPR_RECURSION`]).
    pub(super) expr_depth: usize,
    /// The height of the expression tree the expression parser returned last.
    pub(super) expr_height: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the first of `toks`, the tokens of `src`; `end` is the byte offset of the end
    /// of the statement.
    pub(super) fn new(src: &'a str, toks: &'a [Token], end: usize) -> Self {
        Parser {
            src,
            toks,
            pos: 0,
            end,
            last_name_span: Span::default(),
            expr_depth: 0,
            expr_height: 0,
        }
    }

    /// The next token, if any.
    pub(super) fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    /// The next token's kind, if any.
    pub(super) fn peek_kind(&self) -> Option<TokenKind> {
        self.peek().map(|t| t.kind)
    }

    /// Consumes and returns the next token, if any.
    pub(super) fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// A token's text.
    pub(super) fn text(&self, t: &Token) -> &'a str {
        t.text(self.src)
    }

    /// True when the next token is the word `kw` (any letter case).
    #[inline]
    pub(super) fn at_keyword(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| self.word_is(t, kw))
    }

    /// True when `t` is the word `kw` (ASCII letters and `_`), in any letter case.
    #[inline]
    pub(super) fn word_is(&self, t: &Token, kw: &str) -> bool {
        t.kind == TokenKind::Word
            && t.span.len() == kw.len()
            && word_eq(
                &self.src.as_bytes()[t.span.start..t.span.end],
                kw.as_bytes(),
            )
    }

    /// Consumes the next token when it is the word `kw` (any letter case).
    #[inline]
    pub(super) fn eat_keyword(&mut self, kw: &str) -> Option<&'a Token> {
        if self.at_keyword(kw) {
            self.next()
        } else {
            None
        }
    }

    /// Consumes the next token when it is of `kind`.
    pub(super) fn eat(&mut self, kind: TokenKind) -> Option<&'a Token> {
        if self.peek_kind() == Some(kind) {
            self.next()
        } else {
            None
        }
    }

    /// The span of the next token, or an empty span at the end of the statement.
    pub(super) fn here(&self) -> Span {
        self.peek()
            .map_or(Span::new(self.end_of_last(), self.end_of_last()), |t| {
                t.span
            })
    }

    /// The byte offset just past the last token (or the end of the statement).
    fn end_of_last(&self) -> usize {
        self.toks.last().map_or(self.end, |t| t.span.end)
    }

    /// How the next token is named in "found …".
    pub(super) fn found(&self) -> String {
        match self.peek() {
            Some(t) => describe(self.src, t),
            None => "end of statement".to_string(),
        }
    }

    /// A failure at the next token: one of `expected` was wanted instead.
    #[cold]
    pub(super) fn unexpected<I, S>(&self, expected: I) -> Failure
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

    /// Consumes a token of `kind`, or fails.
    pub(super) fn expect(&mut self, kind: TokenKind) -> PResult<&'a Token> {
        match self.eat(kind) {
            Some(t) => Ok(t),
            None => Err(self.unexpected([kind.describe()])),
        }
    }

    /// Consumes the keyword `kw`, or fails (suggesting `kw` for a near miss).
    #[inline]
    pub(super) fn expect_keyword(&mut self, kw: &'static str) -> PResult<&'a Token> {
        match self.eat_keyword(kw) {
            Some(t) => Ok(t),
            None => Err(self.keyword_missing(kw)),
        }
    }

    /// The failure of [`Parser::expect_keyword`].
    #[cold]
    #[inline(never)]
    fn keyword_missing(&self, kw: &'static str) -> Failure {
        let mut f = self.unexpected([kw]);
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
            if suggest(self.text(t), [kw]).is_some() {
                f = f.help(format!("did you mean `{kw}`?"));
            }
        }
        f
    }

    /// One or more entries separated by `,`, each read by `entry`.
    pub(super) fn comma_list<T>(
        &mut self,
        mut entry: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        // The capacity the first push would give (for entries up to 1 KiB), without its
        // slower growth path.
        let mut entries = Vec::with_capacity(4);
        loop {
            entries.push(entry(self)?);
            if self.eat(TokenKind::Comma).is_none() {
                return Ok(entries);
            }
        }
    }

    /// One or more entries separated by `,` through the closing `)` (the `(` is already read),
    /// each read by `entry`; `expected` is what the failure names when an entry is followed by
    /// neither.
    pub(super) fn until_rparen(
        &mut self,
        expected: &[&str],
        mut entry: impl FnMut(&mut Self) -> PResult<()>,
    ) -> PResult<()> {
        loop {
            entry(self)?;
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            if self.eat(TokenKind::RParen).is_some() {
                return Ok(());
            }
            return Err(self.unexpected(expected.iter().copied()));
        }
    }

    /// Consumes the `=` after `clause`'s keyword, or fails with how to write it.
    pub(super) fn expect_eq(&mut self, clause: ClauseKind) -> PResult<()> {
        if self.eat(TokenKind::Eq).is_some() {
            return Ok(());
        }
        Err(self
            .unexpected(["`=`"])
            .help(format!("write `{} = …`", clause.keyword())))
    }

    /// Consumes a word, or fails naming `what` was expected.
    pub(super) fn expect_word(&mut self, what: &str) -> PResult<&'a Token> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected([what])),
        }
    }

    /// A single word or backticked token.
    pub(super) fn single_value_token(&mut self, what: &str) -> PResult<&'a Token> {
        match self.peek() {
            Some(t) if matches!(t.kind, TokenKind::Word | TokenKind::Backticked) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.unexpected([what])),
        }
    }
}

/// True when the word bytes `w` equal `kw` (ASCII letters and `_`) in any letter case. Clearing
/// bit 5 maps a letter's two cases onto one; the other bytes it merges with a word byte (`_`
/// with DEL) are control characters, which words never hold. One mask and compare per byte
/// instead of two case conversions.
#[inline]
fn word_eq(w: &[u8], kw: &[u8]) -> bool {
    debug_assert!(kw.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_'));
    w.len() == kw.len() && w.iter().zip(kw).all(|(a, b)| a & !0x20 == b & !0x20)
}

/// How a token is named in "found …": the text of a word, name or string, else its kind.
pub(super) fn describe(src: &str, t: &Token) -> String {
    match t.kind {
        TokenKind::Word | TokenKind::Backticked | TokenKind::String => {
            format!("`{}`", t.text(src))
        }
        k => k.describe().to_string(),
    }
}
