//! Reading a Kafka Connect `sasl.jaas.config` value:
//! `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`.
//! Errors describe the problem without quoting the text (it holds a password).

use std::collections::BTreeMap;

/// A JAAS login module entry.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module's class name as written.
    pub module: String,
    /// Its options (`username`, `password`, …), quotes and escapes removed.
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaasEntry")
            .field("module", &self.module)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JaasEntry {
    /// The login module's simple name (`PlainLoginModule`).
    pub fn simple_module(&self) -> &str {
        self.module.rsplit('.').next().unwrap_or(&self.module)
    }
}

/// Reads `text`: a module class, a control flag, `key=value` options (values in double quotes
/// may hold spaces, `\"` and `\\`), and a closing `;`.
pub fn parse(text: &str) -> Result<JaasEntry, String> {
    let mut rest = text.trim_start();
    let module = word(&mut rest)
        .ok_or("it is empty (expected `<LoginModule> required username=\"…\" password=\"…\";`)")?;
    let flag = word(&mut rest).ok_or("the login module has no control flag (`required`)")?;
    if !["required", "requisite", "sufficient", "optional"]
        .contains(&flag.to_ascii_lowercase().as_str())
    {
        // Not quoted: a missing flag puts an option (a password) here.
        return Err(
            "the word after the login module is not a control flag (expected `required`)"
                .to_string(),
        );
    }
    let mut options = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with(';') {
            break;
        }
        let Some(eq) = rest.find('=') else {
            return Err("an option has no `=` (expected key=\"value\")".to_string());
        };
        let key = rest[..eq].trim().to_string();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err("an option name is missing or holds spaces".to_string());
        }
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = quoted_value(quoted)
                .ok_or_else(|| format!("the value of `{key}` has no closing quote"))?;
            rest = after;
            value
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(rest.len());
            let value = rest[..end].to_string();
            rest = &rest[end..];
            value
        };
        options.insert(key, value);
    }
    let tail = rest.strip_prefix(';').unwrap_or(rest).trim();
    if !tail.is_empty() {
        return Err("text after the closing `;` (only one login module is supported)".to_string());
    }
    Ok(JaasEntry {
        module: module.to_string(),
        options,
    })
}

/// The next whitespace-delimited word of `rest` (a `;` ends it too).
fn word<'t>(rest: &mut &'t str) -> Option<&'t str> {
    let text = rest.trim_start();
    let end = text
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    *rest = &text[end..];
    Some(&text[..end])
}

/// The text up to the closing quote (escapes removed) and what follows it.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_scram_entries_as_kafka_connect_writes_them() {
        let e = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"s3 cr\\\"et\";",
        )
        .unwrap();
        assert_eq!(e.simple_module(), "PlainLoginModule");
        assert_eq!(e.options["username"], "alice");
        assert_eq!(e.options["password"], "s3 cr\"et");
        let e = parse(
            "  org.apache.kafka.common.security.scram.ScramLoginModule required\n username=bob\n password=\"x\"",
        )
        .unwrap();
        assert_eq!(e.simple_module(), "ScramLoginModule");
        assert_eq!(e.options["username"], "bob");
        assert!(!format!("{e:?}").contains('x'), "{e:?}");
    }

    #[test]
    fn malformed_entries_are_described_without_their_text() {
        for text in [
            "",
            "PlainLoginModule",
            "PlainLoginModule maybe username=\"a\";",
            "PlainLoginModule required username=\"a\" password=\"hunter2",
            "PlainLoginModule required hunter2;",
            "PlainLoginModule required password=\"hunter2\"; Other required;",
            "PlainLoginModule password=\"hunter2\";",
        ] {
            let err = parse(text).unwrap_err();
            assert!(!err.contains("hunter2"), "{text}: {err}");
        }
    }
}
