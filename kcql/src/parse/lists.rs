//! Column lists: `IGNORE`, `PK`, `PARTITIONBY` and `WITHKEY`.

use super::cursor::describe;
use super::{PResult, Parser};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::keyword::is_reserved;
use crate::lex::{is_field_byte, TokenKind};
use crate::span::Span;

impl<'a> Parser<'a> {
    /// `IGNORE a, b.c AS x`: column paths (no lone `*`) with optional aliases.
    pub(super) fn ignore_list(&mut self) -> PResult<Vec<ColumnItem>> {
        self.comma_list(|p| {
            if let Some(star) = p.peek().filter(|t| t.kind == TokenKind::Star) {
                if p.toks.get(p.pos + 1).map(|t| t.kind) != Some(TokenKind::Dot) {
                    return Err(Failure::new(ErrorKind::IgnoreWildcard, star.span)
                        .help("remove `IGNORE *`, or name the fields to ignore"));
                }
            }
            let path = p.column_path(true)?;
            let alias = p.alias()?;
            Ok(ColumnItem { path, alias })
        })
    }

    /// `PK a, b.c`: column paths, no `*`.
    pub(super) fn pk_list(&mut self) -> PResult<Vec<ColumnPath>> {
        self.comma_list(|p| {
            if let Some(star) = p.peek().filter(|t| t.kind == TokenKind::Star) {
                return Err(Failure::new(ErrorKind::WildcardPrimaryKey, star.span));
            }
            p.column_path(true)
        })
    }

    /// `PARTITIONBY` entries: glued runs of field words, dots, backticked segments and a final
    /// `.*`, or quoted strings; kept as raw text.
    pub(super) fn partition_list(&mut self) -> PResult<Vec<String>> {
        let mut items: Vec<(String, Span)> = Vec::with_capacity(4);
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

    /// `WITHKEY (a, b.c)`: dotted field names; numbers are allowed as segments, keywords are not.
    pub(super) fn with_key(&mut self) -> PResult<Vec<ColumnPath>> {
        self.expect(TokenKind::LParen)?;
        let mut keys = Vec::with_capacity(4);
        self.until_rparen(&["`,`", "`)`"], |p| {
            let start = p.here();
            let mut segments = Vec::with_capacity(4);
            loop {
                match p.peek() {
                    Some(t) if t.kind == TokenKind::Word => {
                        if is_reserved(p.text(t)) {
                            p.check_name_word(t)?;
                        }
                        p.pos += 1;
                        segments.push(p.text(t).to_string());
                    }
                    Some(t) if t.kind == TokenKind::Backticked => {
                        p.pos += 1;
                        segments.push(t.inner(p.src).to_string());
                    }
                    _ => return Err(p.unexpected(["a field name"])),
                }
                if p.eat(TokenKind::Dot).is_none() {
                    break;
                }
            }
            let end = p.toks[p.pos - 1].span;
            keys.push(ColumnPath {
                segments,
                wildcard: false,
                span: start.to(end),
            });
            Ok(())
        })?;
        Ok(keys)
    }
}
