//! Names: source and target names, column paths (`a.b.*`, `` `x y`.z ``), aliases, and the
//! glued runs of words, backticks and dots that KCQL reads as one name.

use super::{PResult, Parser};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::keyword::is_reserved;
use crate::lex::{Token, TokenKind};
use crate::span::Span;

/// Removes one pair of outer backticks, then one pair of outer single quotes (the reference's
/// `unescape`).
pub(crate) fn unescape(raw: &str) -> &str {
    let s = strip_pair(raw, '`');
    strip_pair(s, '\'')
}

/// `s` without one pair of outer `q` quotes, if it has them.
fn strip_pair(s: &str, q: char) -> &str {
    if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// True for a non-empty run of ASCII digits.
pub(super) fn is_all_digits(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

/// Why the word `w` at `span` cannot be a name: reserved, or a number.
#[cold]
fn name_word_failure(w: &str, span: Span) -> Failure {
    let kind = if is_reserved(w) {
        ErrorKind::ReservedWord { word: w.into() }
    } else {
        ErrorKind::NumericName { word: w.into() }
    };
    Failure::new(kind, span).help(format!("quote it with backticks: `{w}`"))
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

impl<'a> Parser<'a> {
    /// A run of name tokens (words, backticked names, dots) with no whitespace between them.
    /// Returns the raw text and its span; `None` when the next token cannot start a run.
    pub(super) fn glued_run(&mut self) -> Option<(&'a str, Span)> {
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

    /// A glued run read as a field path (`WITHTAG` keys, `WITHTARGET`): dots outside backticks
    /// separate segments and backticks are removed, so `` `a.b`.c `` is `a.b` then `c` (and
    /// `.a` starts with an empty segment). Returns the path and the raw text; `None` when the
    /// next token cannot start a run.
    pub(super) fn glued_path(&mut self) -> Option<(ColumnPath, &'a str)> {
        let start = self.pos;
        let (raw, span) = self.glued_run()?;
        let toks = &self.toks[start..self.pos];
        let dots = toks.iter().filter(|t| t.kind == TokenKind::Dot).count();
        let mut segments = Vec::with_capacity(dots + 1);
        let mut segment = String::new();
        for t in toks {
            match t.kind {
                TokenKind::Dot => segments.push(std::mem::take(&mut segment)),
                // A segment is mostly one token: its text allocated once, at its size.
                _ if segment.is_empty() => segment = t.inner(self.src).to_string(),
                _ => segment.push_str(t.inner(self.src)),
            }
        }
        segments.push(segment);
        let path = ColumnPath {
            segments,
            wildcard: false,
            span,
        };
        Some((path, raw))
    }

    /// A glued run of words, backticked names and dots, as raw text.
    pub(super) fn raw_run(&mut self, what: &str) -> PResult<&'a str> {
        match self.glued_run() {
            Some((raw, _)) => Ok(raw),
            None => Err(self.unexpected([what])),
        }
    }

    /// Checks that a word may be used as a name.
    #[inline]
    pub(super) fn check_name_word(&self, t: &Token) -> PResult<()> {
        let w = self.text(t);
        if is_reserved(w) || is_all_digits(w) {
            return Err(name_word_failure(w, t.span));
        }
        Ok(())
    }

    /// A source or target name: a quoted string, or a glued run of words, backticked names and
    /// dots (`a.b`, `/sensors/+/temp`, `` `my topic` ``, `$share/g/t`). Unescaped.
    pub(super) fn name(&mut self, what: &'static str) -> PResult<(String, Span)> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok((t.inner(self.src).to_string(), t.span));
        }
        // The common name, one word standing alone (`TOPIC_A`, `/sensors/+/temp`): no run to
        // collect, and unescaping leaves a word as it is.
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
            let alone = self
                .toks
                .get(self.pos + 1)
                .is_none_or(|n| n.span.start != t.span.end);
            if alone {
                self.check_name_word(t)?;
                self.pos += 1;
                return Ok((self.text(t).to_string(), t.span));
            }
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

    /// How many segments the path at the cursor has at most (`a.b.c` → 3), so that its vector
    /// is allocated once.
    fn segments_ahead(&self) -> usize {
        let rest = self.toks.get(self.pos + 1..).unwrap_or_default();
        1 + rest
            .chunks_exact(2)
            .take_while(|p| {
                p[0].kind == TokenKind::Dot
                    && matches!(p[1].kind, TokenKind::Word | TokenKind::Backticked)
            })
            .count()
    }

    /// A column path: `*`, `a`, `a.b.c`, `a.b.*`, `` `x y`.z ``.
    pub(super) fn column_path(&mut self, allow_wildcard: bool) -> PResult<ColumnPath> {
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
        let mut segments = Vec::with_capacity(self.segments_ahead());
        segments.push(self.segment()?);
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
    #[inline]
    pub(super) fn alias(&mut self) -> PResult<Option<Alias>> {
        if self.eat_keyword("AS").is_none() {
            return Ok(None);
        }
        self.alias_after_as().map(Some)
    }

    /// The alias after `AS`.
    #[inline(never)]
    fn alias_after_as(&mut self) -> PResult<Alias> {
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.check_name_word(t)?;
                self.pos += 1;
                Ok(Alias::Name(self.text(t).to_string()))
            }
            Some(t) if t.kind == TokenKind::Backticked => {
                self.pos += 1;
                Ok(Alias::Name(t.inner(self.src).to_string()))
            }
            Some(t) if t.kind == TokenKind::String => {
                self.pos += 1;
                Ok(Alias::Quoted(t.inner(self.src).to_string()))
            }
            _ => Err(self.unexpected(["an alias"])),
        }
    }
}
