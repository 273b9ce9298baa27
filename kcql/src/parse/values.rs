//! Single-value clauses: integers (`BATCH`, `LIMIT`, `TTL`), backticked values
//! (`WITHCONVERTER`, `WITHJMSSELECTOR`, `WITHREGEX`), `WITHTIMESTAMP` and `KEYDELIMITER`.

use super::names::is_all_digits;
use super::{PResult, Parser};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::keyword::ClauseKind;
use crate::lex::{is_field_byte, TokenKind};

impl<'a> Parser<'a> {
    /// An unsigned integer in `1..=max`.
    pub(super) fn integer(&mut self, clause: ClauseKind, max: u64) -> PResult<u64> {
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
    pub(super) fn backticked_value(&mut self, clause: ClauseKind) -> PResult<String> {
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

    /// The `WITHTIMESTAMP` value: `sys_time()` or a field path (no `*`).
    pub(super) fn timestamp(&mut self) -> PResult<TimestampSource> {
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

    /// The `KEYDELIMITER` value: one quoted letter, digit or allowed punctuation character.
    pub(super) fn key_delimiter(&mut self) -> PResult<String> {
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
}
