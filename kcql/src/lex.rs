//! The lexer: KCQL text → tokens.
//!
//! Token rules follow the reference lexer (see `kcql-grammar-notes.md` §1) with two deliberate
//! changes: a character no rule matches is an error instead of being dropped, and `#`/`$` are
//! word characters so MQTT filters (`a/#`, `$share/g/t`) can be written unquoted.
//!
//! Words are *not* classified into keywords here: whether `limit` is a keyword or a name depends
//! on where it stands, which only the parser knows.

use crate::diag::ErrorKind;
use crate::span::Span;
use nom::bytes::complete::take_till;
use nom::Parser;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of `[A-Za-z0-9_@\-+/{}:#$]`: identifiers, numbers, topic names, MQTT filters.
    Word,
    /// A backtick-quoted name; the text between the backticks is never empty.
    Backticked,
    /// A single-quoted string (no escapes, no line breaks).
    String,
    /// `.`
    Dot,
    /// `*`
    Star,
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `=`
    Eq,
    /// `;` (statement separator)
    Semicolon,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `!=` or `<>`
    Ne,
    /// `%`
    Percent,
    /// `||`
    Concat,
}

impl TokenKind {
    /// How the token is named in "expected …" messages.
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Word => "a name",
            TokenKind::Backticked => "a backticked name",
            TokenKind::String => "a quoted string",
            TokenKind::Dot => "`.`",
            TokenKind::Star => "`*`",
            TokenKind::Comma => "`,`",
            TokenKind::LParen => "`(`",
            TokenKind::RParen => "`)`",
            TokenKind::Eq => "`=`",
            TokenKind::Semicolon => "`;`",
            TokenKind::Lt => "`<`",
            TokenKind::Le => "`<=`",
            TokenKind::Gt => "`>`",
            TokenKind::Ge => "`>=`",
            TokenKind::Ne => "`!=`",
            TokenKind::Percent => "`%`",
            TokenKind::Concat => "`||`",
        }
    }
}

/// One token: its kind and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it is in the source.
    pub span: Span,
}

impl Token {
    /// The token's text, quotes included.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.span.start..self.span.end]
    }

    /// The token's text without its surrounding quotes or backticks.
    pub fn inner<'a>(&self, src: &'a str) -> &'a str {
        match self.kind {
            TokenKind::Backticked | TokenKind::String => {
                &src[self.span.start + 1..self.span.end - 1]
            }
            _ => self.text(src),
        }
    }
}

/// Lookup table for [`is_word_byte`].
static WORD_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'_' | b'@' | b'-' | b'+' | b'/' | b'{' | b'}' | b':' | b'#' | b'$'
            );
        i += 1;
    }
    t
};

/// True for the characters a [`TokenKind::Word`] is made of.
#[inline]
pub fn is_word_byte(b: u8) -> bool {
    WORD_BYTES[b as usize]
}

/// True for the characters of the reference's `FIELD` token: `[A-Za-z0-9_@]`.
pub fn is_field_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'@'
}

/// A lexing failure: what went wrong and where.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    /// The failure.
    pub kind: ErrorKind,
    /// Where it happened.
    pub span: Span,
}

/// What the lexer does with a byte that starts a token: [`SPACE`], [`WORD`], [`SPECIAL`],
/// [`INVALID`], or the index in [`SINGLES`] of a one-byte token's kind.
type Start = u8;
/// Space, tab, CR or LF: skipped.
const SPACE: Start = 8;
/// The first byte of a [`TokenKind::Word`].
const WORD: Start = 9;
/// `<`, `>`, `!`, `|`, `` ` `` or `'`: looked at more closely.
const SPECIAL: Start = 10;
/// No token starts with this byte.
const INVALID: Start = 11;

/// The one-byte tokens, in the order their bytes are listed in [`STARTS`].
const SINGLES: [TokenKind; 8] = [
    TokenKind::Dot,
    TokenKind::Star,
    TokenKind::Comma,
    TokenKind::LParen,
    TokenKind::RParen,
    TokenKind::Eq,
    TokenKind::Semicolon,
    TokenKind::Percent,
];

/// The [`Start`] of every byte (a plain byte table: one load and one jump per token).
static STARTS: [Start; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b' ' | b'\t' | b'\r' | b'\n' => SPACE,
            b'.' => 0,
            b'*' => 1,
            b',' => 2,
            b'(' => 3,
            b')' => 4,
            b'=' => 5,
            b';' => 6,
            b'%' => 7,
            b'<' | b'>' | b'!' | b'|' | b'`' | b'\'' => SPECIAL,
            _ if WORD_BYTES[i] => WORD,
            _ => INVALID,
        };
        i += 1;
    }
    t
};

/// Tokenizes `src`, appending to `out` (cleared first). Stops at the first error.
pub fn tokenize_into(src: &str, out: &mut Vec<Token>) -> Result<(), LexError> {
    out.clear();
    let bytes = src.as_bytes();
    let mut i = 0;
    // Hot path: one table lookup per token start, then a tight loop over a word's bytes; only
    // quoted tokens and two-byte operators look further.
    while let Some(&first) = bytes.get(i) {
        let start = i;
        let kind = match STARTS[first as usize] {
            SPACE => {
                i += 1;
                continue;
            }
            WORD => {
                i += 1;
                while bytes.get(i).is_some_and(|&b| is_word_byte(b)) {
                    i += 1;
                }
                TokenKind::Word
            }
            SPECIAL => {
                let (kind, len) = special(src, start)?;
                i += len;
                kind
            }
            INVALID => {
                let ch = src[start..].chars().next().unwrap_or('\u{fffd}');
                return Err(LexError {
                    kind: ErrorKind::UnexpectedChar { ch },
                    span: Span::new(start, start + ch.len_utf8()),
                });
            }
            single => {
                i += 1;
                SINGLES[usize::from(single & 7)]
            }
        };
        out.push(Token {
            kind,
            span: Span::new(start, i),
        });
    }
    Ok(())
}

/// The token starting with one of the [`SPECIAL`] bytes at `start`: its kind and length.
fn special(src: &str, start: usize) -> Result<(TokenKind, usize), LexError> {
    let rest = &src[start..];
    let bytes = rest.as_bytes();
    let next = bytes.get(1).copied();
    Ok(match bytes[0] {
        b'<' => match next {
            Some(b'=') => (TokenKind::Le, 2),
            Some(b'>') => (TokenKind::Ne, 2),
            _ => (TokenKind::Lt, 1),
        },
        b'>' => match next {
            Some(b'=') => (TokenKind::Ge, 2),
            _ => (TokenKind::Gt, 1),
        },
        b'!' if next == Some(b'=') => (TokenKind::Ne, 2),
        b'|' if next == Some(b'|') => (TokenKind::Concat, 2),
        b'`' => {
            let (after, inner) = take_till::<_, _, nom::error::Error<&str>>(|c| c == '`')
                .parse(&rest[1..])
                .map_err(|_| LexError {
                    kind: ErrorKind::UnterminatedBacktick,
                    span: Span::new(start, src.len()),
                })?;
            if after.is_empty() {
                return Err(LexError {
                    kind: ErrorKind::UnterminatedBacktick,
                    span: Span::new(start, src.len()),
                });
            }
            if inner.is_empty() {
                return Err(LexError {
                    kind: ErrorKind::EmptyBacktick,
                    span: Span::new(start, start + 2),
                });
            }
            (TokenKind::Backticked, inner.len() + 2)
        }
        b'\'' => {
            let (after, inner) =
                take_till::<_, _, nom::error::Error<&str>>(|c| matches!(c, '\'' | '\r' | '\n'))
                    .parse(&rest[1..])
                    .map_err(|_| LexError {
                        kind: ErrorKind::UnterminatedString,
                        span: Span::new(start, src.len()),
                    })?;
            if !after.starts_with('\'') {
                return Err(LexError {
                    kind: ErrorKind::UnterminatedString,
                    span: Span::new(start, start + 1 + inner.len()),
                });
            }
            (TokenKind::String, inner.len() + 2)
        }
        _ => {
            // A lone `!` or `|`.
            let ch = char::from(bytes[0]);
            return Err(LexError {
                kind: ErrorKind::UnexpectedChar { ch },
                span: Span::new(start, start + 1),
            });
        }
    })
}

/// Tokenizes `src` into a new vector.
pub fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::with_capacity(src.len() / 4 + 4);
    tokenize_into(src, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn words_include_topic_and_filter_characters() {
        let src = "FROM /sensors/+/temp a/# $share/g/t namespace1:T @col";
        let toks = tokenize(src).unwrap();
        let texts: Vec<_> = toks.iter().map(|t| t.text(src)).collect();
        assert_eq!(
            texts,
            [
                "FROM",
                "/sensors/+/temp",
                "a/#",
                "$share/g/t",
                "namespace1:T",
                "@col"
            ]
        );
    }

    #[test]
    fn punctuation_and_operators() {
        use TokenKind::*;
        assert_eq!(
            kinds("a.b,*()=;<<=>>=!=<>%||"),
            [
                Word, Dot, Word, Comma, Star, LParen, RParen, Eq, Semicolon, Lt, Le, Gt, Ge, Ne,
                Ne, Percent, Concat
            ]
        );
    }

    #[test]
    fn quoted_tokens_keep_inner_text() {
        let src = "`a b.c` 'x y' ''";
        let toks = tokenize(src).unwrap();
        assert_eq!(toks[0].kind, TokenKind::Backticked);
        assert_eq!(toks[0].inner(src), "a b.c");
        assert_eq!(toks[1].inner(src), "x y");
        assert_eq!(toks[2].inner(src), "");
    }

    #[test]
    fn bad_input_is_an_error_with_a_span() {
        let e = tokenize("FROM t!x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnexpectedChar { ch: '!' });
        assert_eq!((e.span.start, e.span.end), (6, 7));
        assert_eq!(
            tokenize("'abc").unwrap_err().kind,
            ErrorKind::UnterminatedString
        );
        assert_eq!(
            tokenize("'a\nb'").unwrap_err().kind,
            ErrorKind::UnterminatedString
        );
        assert_eq!(
            tokenize("`abc").unwrap_err().kind,
            ErrorKind::UnterminatedBacktick
        );
        assert_eq!(tokenize("``").unwrap_err().kind, ErrorKind::EmptyBacktick);
        assert_eq!(
            tokenize("é").unwrap_err().kind,
            ErrorKind::UnexpectedChar { ch: 'é' }
        );
    }
}
