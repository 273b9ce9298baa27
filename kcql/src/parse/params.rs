//! Key–value clauses: `STOREAS type (k = v, …)`, `WITHTAG (…)` and `PROPERTIES (…)`.

use super::{unescape, PResult, Parser};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::lex::TokenKind;

impl<'a> Parser<'a> {
    /// `STOREAS type (k = v, …) …`: the type (backticks removed) and its parameters, each name
    /// once.
    pub(super) fn store_as(&mut self) -> PResult<StoreAs> {
        let type_name = self.raw_run("a storage type")?.replace('`', "");
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(open) = self.eat(TokenKind::LParen) {
            if let Some(close) = self.eat(TokenKind::RParen) {
                return Err(Failure::new(
                    ErrorKind::EmptyStoreAsParams,
                    open.span.to(close.span),
                ));
            }
            self.until_rparen(&["`,`", "`)`"], |p| {
                let key_span = p.here();
                let key = p.raw_run("a parameter name")?;
                p.expect(TokenKind::Eq)?;
                let value = p.raw_run("a parameter value")?;
                if params.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    return Err(Failure::new(
                        ErrorKind::DuplicateStoreAsParam { name: key.into() },
                        key_span,
                    ));
                }
                params.push((key.to_string(), value.to_string()));
                Ok(())
            })?;
        }
        Ok(StoreAs { type_name, params })
    }

    /// `WITHTAG (field, key = constant, field AS alias, …)`.
    pub(super) fn tags(&mut self) -> PResult<Vec<Tag>> {
        self.expect(TokenKind::LParen)?;
        let mut tags = Vec::with_capacity(4);
        self.until_rparen(&["`,`", "`=`", "AS", "`)`"], |p| {
            let (key, raw) = match p.glued_path() {
                Some(r) => r,
                None => return Err(p.unexpected(["a tag"])),
            };
            if raw.ends_with('.') {
                return Err(Failure::new(
                    ErrorKind::TagKeyEndsWithDot { key: raw.into() },
                    key.span,
                ));
            }
            let kind = if p.eat(TokenKind::Eq).is_some() {
                TagKind::Constant(p.tag_value()?)
            } else if p.eat_keyword("AS").is_some() {
                TagKind::Alias(p.tag_value()?)
            } else {
                TagKind::Field
            };
            tags.push(Tag { key, kind });
            Ok(())
        })?;
        Ok(tags)
    }

    /// A tag value: a glued run (raw text) or a quoted string (its text).
    pub(super) fn tag_value(&mut self) -> PResult<String> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok(t.inner(self.src).to_string());
        }
        Ok(self.raw_run("a tag value")?.to_string())
    }

    /// `PROPERTIES (k = v, …)`, possibly empty; a repeated key keeps its last value in its first
    /// key's place.
    pub(super) fn properties(&mut self) -> PResult<Vec<(String, String)>> {
        self.expect(TokenKind::LParen)?;
        if self.eat(TokenKind::RParen).is_some() {
            return Ok(Vec::new());
        }
        let mut props: Vec<(String, String)> = Vec::with_capacity(4);
        self.until_rparen(&["`,`", "`)`"], |p| {
            let key = p.property_atom("a property name")?;
            p.expect(TokenKind::Eq)?;
            let value = p.property_atom("a property value")?;
            match props.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => props.push((key, value)),
            }
            Ok(())
        })?;
        Ok(props)
    }

    /// A `PROPERTIES` key or value: a quoted string (its text) or a glued run, unescaped.
    pub(super) fn property_atom(&mut self, what: &str) -> PResult<String> {
        if let Some(t) = self.eat(TokenKind::String) {
            return Ok(t.inner(self.src).to_string());
        }
        Ok(unescape(self.raw_run(what)?).to_string())
    }
}
