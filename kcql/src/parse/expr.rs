//! Expressions (extension): the select list's computed columns and `WHERE` conditions.
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, comparisons and `IS [NOT] NULL`,
//! `[NOT] IN (…)`, `[NOT] LIKE '…'`, `||`, `+ -`, `* / %`, unary `-`, primaries. Comparisons do
//! not chain. Because `-`, `+` and `/` are name characters in KCQL (`a-b` is a field name, as in
//! the reference), these operators need spaces around them: `a - b`.

use super::names::is_all_digits;
use super::{PResult, Parser, MAX_EXPR_DEPTH, MAX_EXPR_RECURSION};
use crate::ast::*;
use crate::diag::{ErrorKind, Failure};
use crate::lex::{Token, TokenKind};
use crate::span::Span;

/// Precedence of `NOT x`.
const NOT_PREC: u8 = 3;
/// Precedence of comparisons and the `IS`/`IN`/`LIKE` predicates.
const CMP_PREC: u8 = 4;
/// Precedence of unary minus.
const NEG_PREC: u8 = 8;

/// `-` glued to digits (`-10`): one word token, read as a negative number in expressions.
fn is_negative_digits(w: &str) -> bool {
    w.strip_prefix('-').is_some_and(is_all_digits)
}

impl<'a> Parser<'a> {
    /// A select-list item's expression. A lone `true`, `false` or `null` is a field name there
    /// (as in the reference); anywhere inside an expression it is a literal.
    pub(super) fn select_item_expr(&mut self) -> PResult<Expr> {
        if let Some(path) = self.plain_column_item()? {
            return Ok(Expr::Column(path));
        }
        if let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) {
            let w = self.text(t);
            let literal_word = ["TRUE", "FALSE", "NULL"].iter().any(|k| self.word_is(t, k));
            if literal_word && self.ends_select_item(self.toks.get(self.pos + 1)) {
                return Ok(Expr::Column(self.column_path(true)?));
            }
            // `-5` (or `-5.x`) alone is a field name, as in the reference; inside an expression
            // it is a negative number.
            if is_negative_digits(w) {
                let start = self.pos;
                if let Ok(path) = self.column_path(true) {
                    if self.ends_select_item(self.peek()) {
                        return Ok(Expr::Column(path));
                    }
                }
                self.pos = start;
            }
        }
        self.expr()
    }

    /// The common select item, a plain column path (`a`, `a.b`, `` `x y` ``, `*`, `a.*`) that
    /// ends the item, read without the expression parser (which would read it the same way,
    /// through more checks). `None`, with the cursor unmoved, when the item is anything else.
    fn plain_column_item(&mut self) -> PResult<Option<ColumnPath>> {
        let Some(t) = self.peek() else {
            return Ok(None);
        };
        let plain = match t.kind {
            TokenKind::Star | TokenKind::Backticked => true,
            // A word the expression parser reads as a column: not a number, literal, `NOT`,
            // `-` or function name.
            TokenKind::Word => {
                let w = self.text(t).as_bytes();
                (w[0].is_ascii_alphabetic() || w[0] == b'_' || w[0] == b'@')
                    && !(matches!(w.len(), 3..=5)
                        && ["NOT", "NULL", "TRUE", "FALSE"]
                            .iter()
                            .any(|k| self.word_is(t, k)))
                    && self.toks.get(self.pos + 1).map(|n| n.kind) != Some(TokenKind::LParen)
            }
            _ => false,
        };
        if !plain {
            return Ok(None);
        }
        let start = self.pos;
        let path = self.column_path(true)?;
        if self.ends_select_item(self.peek()) {
            self.expr_height = 1;
            return Ok(Some(path));
        }
        self.pos = start;
        Ok(None)
    }

    /// True when `next`, the token after a candidate select item, ends the item: the end of
    /// the statement, `,`, `AS` or `FROM`.
    fn ends_select_item(&self, next: Option<&Token>) -> bool {
        next.is_none_or(|n| {
            n.kind == TokenKind::Comma || self.word_is(n, "AS") || self.word_is(n, "FROM")
        })
    }

    /// A full expression.
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        self.expr_bp(0)
    }

    /// The infix operator at the cursor, if any, with the number of tokens it spans.
    fn binary_op(&self) -> Option<BinaryOp> {
        let t = self.peek()?;
        Some(match t.kind {
            TokenKind::Eq => BinaryOp::Eq,
            TokenKind::Ne => BinaryOp::Ne,
            TokenKind::Lt => BinaryOp::Lt,
            TokenKind::Le => BinaryOp::Le,
            TokenKind::Gt => BinaryOp::Gt,
            TokenKind::Ge => BinaryOp::Ge,
            TokenKind::Concat => BinaryOp::Concat,
            TokenKind::Star => BinaryOp::Mul,
            TokenKind::Percent => BinaryOp::Mod,
            TokenKind::Word => match self.text(t) {
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Sub,
                "/" => BinaryOp::Div,
                _ if self.word_is(t, "AND") => BinaryOp::And,
                _ if self.word_is(t, "OR") => BinaryOp::Or,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Records that the expression just built, which starts at `at`, is `height` nodes high;
    /// fails past [`MAX_EXPR_DEPTH`].
    fn expr_built(&mut self, height: usize, at: Span) -> PResult<()> {
        self.expr_height = height;
        if height > MAX_EXPR_DEPTH {
            return Err(self.too_deep(at));
        }
        Ok(())
    }

    /// The failure for an expression nested deeper than [`MAX_EXPR_DEPTH`].
    fn too_deep(&self, at: Span) -> Failure {
        Failure::new(
            ErrorKind::Unexpected {
                expected: vec![format!(
                    "an expression nested at most {MAX_EXPR_DEPTH} levels deep"
                )],
                found: "deeper nesting of parentheses, operators or function calls".into(),
            },
            at,
        )
        .help("split the expression, or use `IN (…)` instead of a long chain of `OR`s")
    }

    /// Leaves the height of the result in `expr_height`.
    fn expr_bp(&mut self, min: u8) -> PResult<Expr> {
        let start = self.here();
        if self.expr_depth >= MAX_EXPR_RECURSION {
            return Err(self.too_deep(start));
        }
        self.expr_depth += 1;
        let mut lhs = self.prefix()?;
        let mut height = self.expr_height;
        loop {
            if min <= CMP_PREC {
                if let Some(e) = self.predicate(&mut lhs, height)? {
                    lhs = e;
                    height = self.expr_height;
                    continue;
                }
            }
            let Some(op) = self.binary_op() else { break };
            let prec = op.precedence();
            if prec < min {
                break;
            }
            let op_span = self.here();
            self.pos += 1;
            let rhs = self.expr_bp(prec + 1)?;
            height = height.max(self.expr_height) + 1;
            self.expr_built(height, op_span)?;
            lhs = Expr::Binary {
                op,
                left: Box::new(lhs),
                right: Box::new(rhs),
            };
            if prec == CMP_PREC && self.binary_op().is_some_and(|o| o.precedence() == CMP_PREC) {
                return Err(Failure::new(
                    ErrorKind::Unexpected {
                        expected: vec!["AND".into(), "OR".into()],
                        found: self.found(),
                    },
                    self.here(),
                )
                .help(format!(
                    "comparisons do not chain; after `{}` combine conditions with AND",
                    &self.src[op_span.start..op_span.end]
                )));
            }
        }
        self.expr_depth -= 1;
        self.expr_height = height;
        Ok(lhs)
    }

    /// `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] LIKE '…'` after `lhs`, which is `height` high.
    /// Leaves the height of the result in `expr_height`.
    fn predicate(&mut self, lhs: &mut Expr, height: usize) -> PResult<Option<Expr>> {
        let start = self.here();
        let take = |e: &mut Expr| {
            Box::new(std::mem::replace(
                e,
                Expr::Literal {
                    value: Literal::Null,
                },
            ))
        };
        if self.eat_keyword("IS").is_some() {
            let negated = self.eat_keyword("NOT").is_some();
            self.expect_keyword("NULL")?;
            self.expr_built(height + 1, start)?;
            return Ok(Some(Expr::IsNull {
                expr: take(lhs),
                negated,
            }));
        }
        let negated = match (self.peek(), self.toks.get(self.pos + 1)) {
            (Some(t), Some(n))
                if self.word_is(t, "NOT") && (self.word_is(n, "IN") || self.word_is(n, "LIKE")) =>
            {
                self.pos += 1;
                true
            }
            _ => false,
        };
        if self.eat_keyword("IN").is_some() {
            self.expect(TokenKind::LParen)?;
            let (list, list_height) = self.expr_list_until_rparen()?;
            self.expr_built(list_height.max(height) + 1, start)?;
            return Ok(Some(Expr::InList {
                expr: take(lhs),
                list,
                negated,
            }));
        }
        if self.eat_keyword("LIKE").is_some() {
            let Some(t) = self.eat(TokenKind::String) else {
                return Err(self.unexpected(["a quoted pattern such as 'sensor-%'"]));
            };
            self.expr_built(height + 1, start)?;
            return Ok(Some(Expr::Like {
                expr: take(lhs),
                pattern: t.inner(self.src).to_string(),
                negated,
            }));
        }
        if negated {
            return Err(self.unexpected(["IN", "LIKE"]));
        }
        Ok(None)
    }

    /// `NOT x`, `- x`, or a primary. Leaves the height of the result in `expr_height`.
    fn prefix(&mut self) -> PResult<Expr> {
        let start = self.here();
        if self.eat_keyword("NOT").is_some() {
            let expr = self.expr_bp(NOT_PREC)?;
            self.expr_built(self.expr_height + 1, start)?;
            return Ok(Expr::Unary {
                op: UnaryOp::Not,
                expr: Box::new(expr),
            });
        }
        if let Some(t) = self
            .peek()
            .filter(|t| t.kind == TokenKind::Word && self.text(t) == "-")
        {
            self.pos += 1;
            // `- 5` is the literal -5; `- x` negates.
            if self
                .peek()
                .is_some_and(|n| n.kind == TokenKind::Word && is_all_digits(self.text(n)))
            {
                return self.number(true);
            }
            let _ = t;
            let expr = self.expr_bp(NEG_PREC)?;
            self.expr_built(self.expr_height + 1, start)?;
            return Ok(Expr::Unary {
                op: UnaryOp::Neg,
                expr: Box::new(expr),
            });
        }
        self.primary()
    }

    /// A number at the cursor (an all-digit word, optionally `.digits` glued to it).
    fn number(&mut self, negative: bool) -> PResult<Expr> {
        let Some(t) = self.next() else {
            return Err(self.unexpected(["a number"]));
        };
        // `-10` written as one word carries its own sign.
        let (negative, int_text, glued_minus) = match self.text(t).strip_prefix('-') {
            Some(digits) if !negative => (true, digits, true),
            _ => (negative, self.text(t), false),
        };
        let mut end = t.span;
        let fraction = match (self.peek(), self.toks.get(self.pos + 1)) {
            (Some(dot), Some(frac))
                if dot.kind == TokenKind::Dot
                    && dot.span.start == t.span.end
                    && frac.kind == TokenKind::Word
                    && frac.span.start == dot.span.end
                    && is_all_digits(self.text(frac)) =>
            {
                self.pos += 2;
                end = frac.span;
                Some(self.text(frac))
            }
            _ => None,
        };
        let span = t.span.to(end);
        let bad = || {
            Failure::new(
                ErrorKind::InvalidNumber {
                    text: format!(
                        "{}{}",
                        if negative && !glued_minus { "-" } else { "" },
                        &self.src[span.start..span.end]
                    ),
                },
                span,
            )
        };
        let value = match fraction {
            Some(frac) => {
                let v: f64 = format!("{int_text}.{frac}").parse().map_err(|_| bad())?;
                if !v.is_finite() {
                    return Err(bad());
                }
                Literal::Float(if negative { -v } else { v })
            }
            None => {
                let v: u64 = int_text.parse().map_err(|_| bad())?;
                if negative {
                    if v > i64::MAX as u64 + 1 {
                        return Err(bad());
                    }
                    Literal::Int((v as i64).wrapping_neg())
                } else {
                    Literal::Int(i64::try_from(v).map_err(|_| bad())?)
                }
            }
        };
        self.expr_height = 1;
        Ok(Expr::Literal { value })
    }

    /// Leaves the height of the result in `expr_height` (parentheses add none).
    fn primary(&mut self) -> PResult<Expr> {
        let Some(t) = self.peek() else {
            return Err(self.unexpected(["an expression"]));
        };
        // Leaves are 1 high; calls and parenthesised expressions set their own height.
        self.expr_height = 1;
        match t.kind {
            TokenKind::LParen => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(TokenKind::RParen)?;
                Ok(e)
            }
            TokenKind::String => {
                self.pos += 1;
                Ok(Expr::String {
                    value: t.inner(self.src).to_string(),
                })
            }
            TokenKind::Star | TokenKind::Backticked => Ok(Expr::Column(self.column_path(true)?)),
            TokenKind::Word => {
                let w = self.text(t);
                if is_all_digits(w) || is_negative_digits(w) {
                    return self.number(false);
                }
                for (k, v) in [
                    ("true", Literal::Bool(true)),
                    ("false", Literal::Bool(false)),
                    ("null", Literal::Null),
                ] {
                    if w.eq_ignore_ascii_case(k) {
                        self.pos += 1;
                        return Ok(Expr::Literal { value: v });
                    }
                }
                if self.toks.get(self.pos + 1).map(|n| n.kind) == Some(TokenKind::LParen) {
                    return self.call();
                }
                Ok(Expr::Column(self.column_path(true)?))
            }
            _ => {
                Err(self.unexpected(["a field name", "`*`", "a quoted string", "a number", "`(`"]))
            }
        }
    }

    /// `name(args)` or `CAST(x AS type)`; the cursor is on the name.
    fn call(&mut self) -> PResult<Expr> {
        let Some(t) = self.next() else {
            return Err(self.unexpected(["a function name"]));
        };
        self.check_name_word(t)?;
        let name = self.text(t);
        self.expect(TokenKind::LParen)?;
        if name.eq_ignore_ascii_case("cast") {
            let expr = self.expr()?;
            self.expr_built(self.expr_height + 1, t.span)?;
            self.expect_keyword("AS")?;
            let ty = self.peek().filter(|t| t.kind == TokenKind::Word);
            let to = ty.and_then(|t| CastType::from_name(self.text(t)));
            let Some(to) = to else {
                return Err(self.unexpected(["INT", "FLOAT", "STRING", "BOOL"]));
            };
            self.pos += 1;
            self.expect(TokenKind::RParen)?;
            return Ok(Expr::Cast {
                expr: Box::new(expr),
                to,
            });
        }
        let (args, height) = if self.eat(TokenKind::RParen).is_some() {
            (Vec::new(), 0)
        } else {
            self.expr_list_until_rparen()?
        };
        self.expr_built(height + 1, t.span)?;
        Ok(Expr::Call {
            name: name.to_string(),
            args,
        })
    }

    /// `e1, e2, …)` (at least one expression, through the closing parenthesis), with the
    /// tallest expression's height.
    fn expr_list_until_rparen(&mut self) -> PResult<(Vec<Expr>, usize)> {
        let mut list = Vec::with_capacity(4);
        let mut height = 0;
        self.until_rparen(&["`,`", "`)`"], |p| {
            list.push(p.expr()?);
            height = height.max(p.expr_height);
            Ok(())
        })?;
        Ok((list, height))
    }

    /// `BY a, b.c` after `GROUP`.
    pub(super) fn group_by(&mut self) -> PResult<Vec<ColumnPath>> {
        self.expect_keyword("BY")?;
        self.comma_list(|p| p.column_path(false))
    }

    /// A duration word: `500ms`, `2s`, `5m`, `1h`, `1d`.
    fn duration(&mut self, allow_zero: bool) -> PResult<Duration> {
        let Some(t) = self.peek().filter(|t| t.kind == TokenKind::Word) else {
            return Err(self.unexpected(["a duration such as 2s"]));
        };
        self.pos += 1;
        let text = self.text(t);
        match Duration::parse(text) {
            Some(d) if allow_zero || d.millis > 0 => Ok(d),
            _ => Err(
                Failure::new(ErrorKind::InvalidDuration { text: text.into() }, t.span)
                    .help("write a positive duration: 500ms, 2s, 5m, 1h or 1d"),
            ),
        }
    }

    /// `TUMBLING(size) | HOPPING(size, advance)` and an optional `GRACE d`, after `WINDOW`.
    pub(super) fn window(&mut self) -> PResult<Window> {
        let kind = if self.eat_keyword("TUMBLING").is_some() {
            self.expect(TokenKind::LParen)?;
            let size = self.duration(false)?;
            self.expect(TokenKind::RParen)?;
            WindowKind::Tumbling { size }
        } else if self.eat_keyword("HOPPING").is_some() {
            self.expect(TokenKind::LParen)?;
            let size = self.duration(false)?;
            self.expect(TokenKind::Comma)?;
            let advance_span = self.here();
            let advance = self.duration(false)?;
            self.expect(TokenKind::RParen)?;
            if advance > size {
                return Err(Failure::new(
                    ErrorKind::InvalidWindow {
                        reason: "the advance of a HOPPING window cannot exceed its size".into(),
                    },
                    advance_span,
                ));
            }
            WindowKind::Hopping { size, advance }
        } else {
            return Err(self.unexpected(["TUMBLING", "HOPPING"]));
        };
        let grace = if self.eat_keyword("GRACE").is_some() {
            Some(self.duration(true)?)
        } else {
            None
        };
        Ok(Window { kind, grace })
    }

    /// `= policy | duration` after `WITHRETENTION`.
    pub(super) fn retention(&mut self) -> PResult<Retention> {
        if self.eat(TokenKind::Eq).is_none() {
            return Err(self
                .unexpected(["`=`"])
                .help("write `WITHRETENTION = 30d` or `WITHRETENTION = autogen`"));
        }
        match self.peek() {
            Some(t) if t.kind == TokenKind::Word => {
                self.pos += 1;
                let w = self.text(t);
                Ok(match Duration::parse(w) {
                    Some(d) if d.millis > 0 => Retention::Duration(d),
                    Some(_) => {
                        return Err(Failure::new(
                            ErrorKind::InvalidDuration { text: w.into() },
                            t.span,
                        ))
                    }
                    None => Retention::Policy(w.to_string()),
                })
            }
            Some(t) if t.kind == TokenKind::Backticked => {
                self.pos += 1;
                Ok(Retention::Policy(t.inner(self.src).to_string()))
            }
            _ => Err(self.unexpected(["a retention policy name or a duration such as 30d"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diag::ErrorKind;
    use crate::parse::{parse, MAX_EXPR_DEPTH};

    /// `inner` wrapped in `k` pairs of `open` … `close`.
    fn nest(open: &str, inner: &str, close: &str, k: usize) -> String {
        format!("{}{inner}{}", open.repeat(k), close.repeat(k))
    }

    fn too_deep(src: &str) -> bool {
        match parse(src) {
            Err(d) => {
                let rendered = d.to_string();
                matches!(&d.kind, ErrorKind::Unexpected { expected, .. }
                    if expected == &[format!("an expression nested at most {MAX_EXPR_DEPTH} levels deep")])
                    && rendered.contains("use `IN (…)` instead")
            }
            Ok(_) => false,
        }
    }

    /// Deep nesting of every kind used to overflow the stack (in the parser for nested
    /// parentheses, calls and prefixes; when validating, printing or dropping the tree for long
    /// operator chains). It is now a diagnostic, however deep the input.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 100_000;
        let shapes = [
            format!("SELECT {} AS x FROM t", nest("concat(", "a", ")", n)),
            format!("SELECT * FROM t WHERE {} = 1", nest("(", "a", ")", n)),
            format!("SELECT * FROM t WHERE {} a", "NOT ".repeat(n)),
            format!("SELECT * FROM t WHERE {} a = 1", "- ".repeat(n)),
            format!("SELECT * FROM t WHERE a{} = 1", " + a".repeat(n)),
            format!("SELECT * FROM t WHERE a = 1{}", " AND a = 1".repeat(n)),
            format!("SELECT * FROM t WHERE a{}", " IS NULL = true".repeat(n)),
            format!("SELECT * FROM t WHERE {}", nest("a IN (", "", ")", n)),
            format!("SELECT {} AS x FROM t", nest("cast(", "a", " AS INT)", n)),
        ];
        for src in &shapes {
            assert!(too_deep(src), "{}…", &src[..60]);
            let many = format!("{src}; {src}");
            assert!(crate::parse::parse_many(&many).is_err());
        }
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_round_trips() {
        let round_trips = |src: &str| {
            let stmt = parse(src).unwrap_or_else(|e| panic!("{e}"));
            let printed = stmt.to_string();
            let again = parse(&printed).unwrap_or_else(|e| panic!("{printed}\n{e}"));
            assert_eq!(again, stmt);
        };
        let d = MAX_EXPR_DEPTH;
        // A left-deep chain: each `+` adds one level above the leaf.
        let chain = format!("SELECT * FROM t WHERE a{}", " + a".repeat(d - 1));
        round_trips(&chain);
        assert!(too_deep(&format!("{chain} + a")));

        let calls = |k: usize| format!("SELECT {} AS x FROM t", nest("lower(", "a", ")", k));
        round_trips(&calls(d - 1));
        assert!(too_deep(&calls(d)));

        // Trees whose printed form has more parentheses than the input: `- - 5` prints as
        // `- (- 5)`, so the printed text nests one level deeper.
        round_trips(&format!(
            "SELECT * FROM t WHERE {}5 = a",
            "- ".repeat(d - 1)
        ));
        round_trips(&format!("SELECT * FROM t WHERE {}a", "NOT ".repeat(d - 1)));
        let right = |k: usize| format!("SELECT * FROM t WHERE {}", nest("a - (", "a", ")", k));
        round_trips(&right(d - 1));
        assert!(too_deep(&right(d)));

        // Parentheses add no level to the tree, but each one is a level of parsing.
        let parens = |k: usize| format!("SELECT * FROM t WHERE {} = 1", nest("(", "a", ")", k));
        round_trips(&parens(2 * d + 1));
        assert!(too_deep(&parens(2 * d + 2)));
    }
}
