//! How the printer checks that a spelling it writes is read back as the same value.

use super::{unescape, Parser};

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
    let mut p = Parser::new(text, &toks, text.len());
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
