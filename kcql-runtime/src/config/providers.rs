//! Kafka Connect's config providers: a value may name a secret kept elsewhere instead of
//! holding it, in both pipeline files and `.properties` connector files.
//!
//! | reference | resolves to |
//! |---|---|
//! | `${env:NAME}` | the environment variable `NAME` (Kafka's `EnvVarConfigProvider`) |
//! | `${file:/path/secrets.properties:key}` | `key` of a `.properties` file (`FileConfigProvider`) |
//! | `${directory:/path/dir:name}` | the text of the file `name` in a directory, as a mounted Kubernetes secret holds one (`DirectoryConfigProvider`) |
//!
//! A reference may be the whole value or part of it (`http://${env:HOST}:8086`). The syntax is
//! Kafka's: `${provider:[path:]key}`, the provider up to the first `:`, the path up to the
//! next. Kafka Connect leaves a reference it cannot resolve as it is, which turns a typo into
//! a literal password; here it is an error naming the key, so `--check` finds it: an unset or
//! empty variable, an unreadable file, a key the file lacks, a provider nobody knows.
//! `${…}` without a `provider:` prefix is not a reference and stays as written.
//!
//! A resolved value is never shown by these errors (they name the variable, file and key).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::properties::parse_properties;

/// The providers a reference may name.
pub const PROVIDERS: [&str; 3] = ["env", "file", "directory"];

/// A reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// `${env:NAME}` with `NAME` unset or empty.
    #[error("${{env:{name}}}: the environment variable {name} is {}", if *.empty { "empty" } else { "not set" })]
    MissingVariable {
        /// The variable.
        name: String,
        /// Set, but to the empty string.
        empty: bool,
    },
    /// The file or directory entry cannot be read.
    #[error("${{{provider}:{path}:…}}: cannot read {path}: {reason}")]
    Unreadable {
        /// `file` or `directory`.
        provider: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The properties file does not parse.
    #[error("${{file:{path}:…}}: {path} is not a properties file: {reason}")]
    NotProperties {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The properties file has no such key.
    #[error("${{file:{path}:{key}}}: {path} has no key `{key}`")]
    MissingKey {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// A reference without the parts its provider needs.
    #[error("`{reference}` is not a complete reference: write {expected}")]
    Incomplete {
        /// The reference as written.
        reference: String,
        /// What its provider expects.
        expected: &'static str,
    },
    /// A provider nobody knows.
    #[error(
        "`${{{provider}:…}}` names no config provider (expected one of env, file or directory)"
    )]
    UnknownProvider {
        /// The name as written.
        provider: String,
    },
    /// `${` without its closing `}`.
    #[error("`${{` at byte {at} has no closing `}}`")]
    Unclosed {
        /// The byte offset of `${` in the value.
        at: usize,
    },
}

/// Reads an environment variable.
type EnvLookup<'e> = Box<dyn Fn(&str) -> Option<String> + 'e>;

/// A properties file's entries, or why it could not be read.
type FileEntries = Result<BTreeMap<String, String>, ProviderError>;

/// Resolves references, reading each file once per load.
pub struct Providers<'e> {
    env: EnvLookup<'e>,
    files: BTreeMap<PathBuf, FileEntries>,
}

impl Default for Providers<'static> {
    fn default() -> Self {
        Providers::with_env(|name| std::env::var(name).ok())
    }
}

impl<'e> Providers<'e> {
    /// Providers reading variables through `env` (the process environment by default).
    pub fn with_env(env: impl Fn(&str) -> Option<String> + 'e) -> Self {
        Providers {
            env: Box::new(env),
            files: BTreeMap::new(),
        }
    }

    /// `value` with every reference resolved (borrowed when it holds none).
    pub fn resolve<'v>(&mut self, value: &'v str) -> Result<Cow<'v, str>, ProviderError> {
        if !value.contains("${") {
            return Ok(Cow::Borrowed(value));
        }
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        let mut offset = 0;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(len) = after.find('}') else {
                return Err(ProviderError::Unclosed { at: offset + start });
            };
            let body = &after[..len];
            match body.split_once(':') {
                Some((provider, target)) if is_name(provider) => {
                    out.push_str(&self.lookup(provider, target, body)?);
                }
                _ => {
                    // Not a reference: kept as written.
                    out.push_str("${");
                    out.push_str(body);
                    out.push('}');
                }
            }
            let consumed = start + 2 + len + 1;
            rest = &rest[consumed..];
            offset += consumed;
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    fn lookup(
        &mut self,
        provider: &str,
        target: &str,
        body: &str,
    ) -> Result<String, ProviderError> {
        // Kafka's syntax: the path runs to the first `:` of what follows the provider.
        let (path, key) = match target.split_once(':') {
            Some((path, key)) => (Some(path), key),
            None => (None, target),
        };
        let incomplete = |expected| ProviderError::Incomplete {
            reference: format!("${{{body}}}"),
            expected,
        };
        match provider {
            "env" => {
                if key.is_empty() {
                    return Err(incomplete("${env:NAME}"));
                }
                match (self.env)(key) {
                    Some(v) if !v.is_empty() => Ok(v),
                    found => Err(ProviderError::MissingVariable {
                        name: key.to_string(),
                        empty: found.is_some(),
                    }),
                }
            }
            "file" => match path {
                Some(path) if !path.is_empty() && !key.is_empty() => self.file_key(path, key),
                _ => Err(incomplete("${file:/path/to/file.properties:key}")),
            },
            "directory" => match path {
                Some(dir) if !dir.is_empty() && !key.is_empty() => read_entry(dir, key),
                _ => Err(incomplete("${directory:/path/to/dir:file}")),
            },
            other => Err(ProviderError::UnknownProvider {
                provider: other.to_string(),
            }),
        }
    }

    fn file_key(&mut self, path: &str, key: &str) -> Result<String, ProviderError> {
        let entries = self
            .files
            .entry(PathBuf::from(path))
            .or_insert_with(|| read_properties_file(path));
        match entries {
            Err(e) => Err(e.clone()),
            Ok(map) => map
                .get(key)
                .cloned()
                .ok_or_else(|| ProviderError::MissingKey {
                    path: path.to_string(),
                    key: key.to_string(),
                }),
        }
    }
}

/// A provider name: letters, digits, `_` and `-`, starting with a letter.
fn is_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn read_properties_file(path: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProviderError::Unreadable {
        provider: "file",
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let entries = parse_properties(&text).map_err(|e| ProviderError::NotProperties {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    Ok(entries.into_iter().map(|p| (p.key, p.value)).collect())
}

/// The text of `dir/name`, without one trailing newline (as `echo secret > file` leaves it).
fn read_entry(dir: &str, name: &str) -> Result<String, ProviderError> {
    let unreadable = |reason: String| ProviderError::Unreadable {
        provider: "directory",
        path: Path::new(dir).join(name).display().to_string(),
        reason,
    };
    // The name is one entry of the directory, never a path out of it.
    if name.contains('/') || name == ".." || name == "." {
        return Err(unreadable(
            "the name must be a file in the directory".into(),
        ));
    }
    let text = std::fs::read_to_string(Path::new(dir).join(name))
        .map_err(|e| unreadable(e.to_string()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_string())
}

/// A reference in a pipeline file that cannot be resolved, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlReferenceError {
    /// The table holding the value (`sink.influx[0]`, `kafka.properties`, `top level`).
    pub at: String,
    /// The key of the value.
    pub key: String,
    /// Why.
    pub error: ProviderError,
}

/// Resolves every reference in the string values of `table` (in nested tables and arrays
/// too), in place; every problem is returned.
pub fn resolve_toml(
    table: &mut toml::Table,
    providers: &mut Providers<'_>,
) -> Vec<TomlReferenceError> {
    let mut errors = Vec::new();
    for (key, value) in table.iter_mut() {
        resolve_value(value, &mut Vec::new(), key, providers, &mut errors);
    }
    errors
}

fn resolve_value(
    value: &mut toml::Value,
    at: &mut Vec<String>,
    key: &str,
    providers: &mut Providers<'_>,
    errors: &mut Vec<TomlReferenceError>,
) {
    match value {
        toml::Value::String(s) => match providers.resolve(s) {
            Ok(Cow::Borrowed(_)) => {}
            Ok(Cow::Owned(resolved)) => *s = resolved,
            Err(error) => errors.push(TomlReferenceError {
                at: if at.is_empty() {
                    "top level".to_string()
                } else {
                    at.join(".")
                },
                key: key.to_string(),
                error,
            }),
        },
        toml::Value::Table(t) => {
            at.push(key.to_string());
            for (k, v) in t.iter_mut() {
                resolve_value(v, at, k, providers, errors);
            }
            at.pop();
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if item.is_table() {
                    // `[[sink.influx]]` tables: `sink.influx[0]`.
                    at.push(format!("{key}[{i}]"));
                    if let toml::Value::Table(t) = item {
                        for (k, v) in t.iter_mut() {
                            resolve_value(v, at, k, providers, errors);
                        }
                    }
                    at.pop();
                } else {
                    resolve_value(item, at, key, providers, errors);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
