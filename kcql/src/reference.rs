//! The reference implementation's view of a statement.
//!
//! Stream Reactor's `Kcql` object exposes fields, key fields, header fields, ignored fields,
//! primary keys, tags, a target type and defaults. Connectors written against it rely on those
//! exact rules (`_key.` routing, `_.key.` typing, metadata fields, defaults), so they are derived
//! here from the AST, once, with the reference's meaning.

use crate::ast::*;
use crate::diag::ErrorKind;
use serde::{Deserialize, Serialize};

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldType {
    /// The record value (the default).
    Value,
    /// The record key (`_.key.f`).
    Key,
    /// The record's topic (`_.topic`).
    Topic,
    /// The record's partition (`_.partition`).
    Partition,
    /// The record's offset (`_.offset`).
    Offset,
    /// The record's timestamp (`_.timestamp`).
    Timestamp,
}

/// A field as the reference reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// The last path segment (`*` for wildcards).
    pub name: String,
    /// The alias, or the name when there is none.
    pub alias: String,
    /// Where the value comes from.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The earlier path segments; `None` when there are none.
    pub parents: Option<Vec<String>>,
}

impl Field {
    /// `parents.name`, dotted.
    pub fn dotted(&self) -> String {
        match &self.parents {
            Some(p) => format!("{}.{}", p.join("."), self.name),
            None => self.name.clone(),
        }
    }
}

fn plain_field(segments: &[String], wildcard: bool, alias: Option<&Alias>) -> Field {
    let (name, parents) = if wildcard {
        ("*".to_string(), segments)
    } else {
        match segments.split_last() {
            Some((last, init)) => (last.clone(), init),
            None => ("*".to_string(), segments),
        }
    };
    Field {
        alias: alias.map_or_else(|| name.clone(), Alias::reference_text),
        name,
        field_type: FieldType::Value,
        parents: (!parents.is_empty()).then(|| parents.to_vec()),
    }
}

/// The reference's `Field.from`: a column path (with alias) → a field, applying the `_.` rules
/// (metadata fields and `_.key.` paths).
pub fn field_from_path(path: &ColumnPath, alias: Option<&Alias>) -> Result<Field, ErrorKind> {
    let segs = &path.segments;
    if segs.first().is_none_or(|s| s != "_") || (segs.len() == 1 && !path.wildcard) {
        return Ok(plain_field(segs, path.wildcard, alias));
    }
    if !path.wildcard {
        if let Some(last) = segs.last() {
            let meta = match last.to_ascii_lowercase().as_str() {
                "topic" => Some(FieldType::Topic),
                "partition" => Some(FieldType::Partition),
                "offset" => Some(FieldType::Offset),
                "timestamp" => Some(FieldType::Timestamp),
                _ => None,
            };
            if let Some(field_type) = meta {
                let name = last.to_ascii_lowercase();
                return Ok(Field {
                    alias: alias.map_or_else(|| name.clone(), Alias::reference_text),
                    name,
                    field_type,
                    parents: None,
                });
            }
        }
    }
    match segs.get(1) {
        Some(k) if k.eq_ignore_ascii_case("key") => {
            if segs.len() == 2 && !path.wildcard {
                return Err(ErrorKind::EmptyKeyPath);
            }
            if path.wildcard && alias.is_some() {
                return Err(ErrorKind::AliasedWildcard);
            }
            let mut f = plain_field(&segs[2..], path.wildcard, alias);
            f.field_type = FieldType::Key;
            Ok(f)
        }
        _ => Err(ErrorKind::BadMetadataPath),
    }
}

/// Which list a select item is routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The ordinary field list.
    Value,
    /// The key-field list (`_key.…`).
    Key,
    /// The header-field list (`_header.…`).
    Header,
}

/// Routes a select-list path by its dotted text: `_key…` → key fields, `_header.…` → header
/// fields (the leading segment removed), anything else → fields.
pub fn route(path: &ColumnPath) -> (Route, ColumnPath) {
    let first = path.segments.first().map(String::as_str);
    let strip = |p: &ColumnPath| ColumnPath {
        segments: p.segments[1..].to_vec(),
        wildcard: p.wildcard || p.segments.len() == 1,
        span: p.span,
    };
    match first {
        Some("_key") => (Route::Key, strip(path)),
        Some("_header") if path.segments.len() > 1 || path.wildcard => (Route::Header, strip(path)),
        Some(s) if path.segments.len() == 1 && s.starts_with("_key.") => (Route::Key, path.clone()),
        Some(s) if path.segments.len() == 1 && s.starts_with("_header.") => {
            (Route::Header, path.clone())
        }
        _ => (Route::Value, path.clone()),
    }
}

/// The three field lists of a select list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedFields {
    /// Value (and `_.key.`/metadata) fields.
    pub fields: Vec<Field>,
    /// `_key.` fields (type VALUE, leading `_key` removed).
    pub key_fields: Vec<Field>,
    /// `_header.` fields (leading `_header` removed).
    pub header_fields: Vec<Field>,
}

/// How the select list's entries map to fields: used by both the reference view and validation.
pub(crate) fn select_entries(
    items: &[SelectItem],
) -> Vec<(Route, Result<Field, ErrorKind>, usize)> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        push_expr_fields(&item.expr, item.alias.as_ref(), i, &mut out);
    }
    out
}

fn push_expr_fields(
    expr: &Expr,
    alias: Option<&Alias>,
    index: usize,
    out: &mut Vec<(Route, Result<Field, ErrorKind>, usize)>,
) {
    match expr {
        Expr::Column(path) => {
            let (route, routed) = route(path);
            let field = match route {
                Route::Value => field_from_path(&routed, alias),
                Route::Key | Route::Header => {
                    if routed.segments.len() == 1
                        && routed.segments[0].contains('.')
                        && !routed.wildcard
                    {
                        Ok(plain_field(&routed.segments, false, alias))
                    } else {
                        Ok(plain_field(&routed.segments, routed.wildcard, alias))
                    }
                }
            };
            out.push((route, field, index));
        }
        Expr::String { value } if value == "*" => {
            out.push((Route::Value, Ok(plain_field(&[], true, alias)), index));
        }
        Expr::String { .. } => {}
        Expr::Call { args, .. } => {
            for a in args {
                if let Expr::Column(_) = a {
                    push_expr_fields(a, None, index, out);
                }
            }
        }
    }
}

/// The write mode as the reference reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReferenceWriteMode {
    /// INSERT
    Insert,
    /// UPSERT
    Upsert,
}

/// What a target name addresses (the reference's `TargetTypeParser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetType {
    /// A fixed target.
    Static {
        /// The target name.
        target: String,
    },
    /// The record key, or a path inside it (`_key.a.b`).
    Key {
        /// The path after `_key.`.
        path: Option<String>,
    },
    /// The record value, or a path inside it (`_value.a.b`).
    Value {
        /// The path after `_value.`.
        path: Option<String>,
    },
    /// A header (`_header.name`).
    Header {
        /// The header name.
        name: String,
    },
}

/// `_header` with no name after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("No path specified for header")]
pub struct NoHeaderPath;

/// Parses a target name the way the reference's `TargetTypeParser` does: split on the first `.`,
/// match `_key`, `_value` or `_header` case-sensitively, anything else is static.
pub fn parse_target_type(target: &str) -> Result<TargetType, NoHeaderPath> {
    let (prefix, rest) = match target.split_once('.') {
        Some((p, r)) => (p, Some(r)),
        None => (target, None),
    };
    Ok(match prefix {
        "_key" => TargetType::Key {
            path: rest.map(str::to_string),
        },
        "_value" => TargetType::Value {
            path: rest.map(str::to_string),
        },
        "_header" => TargetType::Header {
            name: rest.map(str::to_string).ok_or(NoHeaderPath)?,
        },
        _ => TargetType::Static {
            target: target.to_string(),
        },
    })
}

/// `validate_properties` found keys outside the allowed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unexpected properties found: `{}`. Please check the documentation to find the properties you really need.", .0.join(", "))]
pub struct UnexpectedProperties(pub Vec<String>);

impl Statement {
    /// The write mode: `None` for select-only statements and the legacy `UPSERT PK f INTO`.
    pub fn write_mode(&self) -> Option<ReferenceWriteMode> {
        match &self.head {
            Head::Insert {
                mode: WriteMode::Insert,
                ..
            } => Some(ReferenceWriteMode::Insert),
            Head::Insert {
                mode: WriteMode::Upsert,
                ..
            } => Some(ReferenceWriteMode::Upsert),
            _ => None,
        }
    }

    /// The target after `INTO`; `None` for select-only statements.
    pub fn target(&self) -> Option<&str> {
        match &self.head {
            Head::Insert { target, .. } => Some(target),
            Head::Select => None,
        }
    }

    /// What the target addresses; `None` for select-only statements.
    pub fn target_type(&self) -> Option<Result<TargetType, NoHeaderPath>> {
        self.target().map(parse_target_type)
    }

    /// The select list as the reference's three field lists. The statement has been validated,
    /// so entries that fail `Field.from` cannot occur.
    pub fn selected_fields(&self) -> SelectedFields {
        let mut out = SelectedFields::default();
        for (route, field, _) in select_entries(&self.select) {
            let Ok(field) = field else { continue };
            match route {
                Route::Value => out.fields.push(field),
                Route::Key => out.key_fields.push(field),
                Route::Header => out.header_fields.push(field),
            }
        }
        out
    }

    /// The `IGNORE` list as fields (no `_key.`/`_header.` routing).
    pub fn ignored_fields(&self) -> Vec<Field> {
        self.ignore
            .iter()
            .filter_map(|c| field_from_path(&c.path, c.alias.as_ref()).ok())
            .collect()
    }

    /// The `PK` list as fields (no routing, no alias). Empty for the legacy `UPSERT PK` form,
    /// whose field the reference drops.
    pub fn primary_key_fields(&self) -> Vec<Field> {
        self.primary_keys
            .iter()
            .filter_map(|p| field_from_path(p, None).ok())
            .collect()
    }

    /// `PARTITIONBY` entries; empty when absent or under `NOPARTITION`.
    pub fn partition_by(&self) -> &[String] {
        match &self.partitioning {
            Some(Partitioning::By(v)) => v,
            _ => &[],
        }
    }

    /// True under `NOPARTITION`.
    pub fn no_partition(&self) -> bool {
        matches!(self.partitioning, Some(Partitioning::None))
    }

    /// `WITHTIMESTAMP` as the reference's text: `sys_time()` or the field path.
    pub fn timestamp_text(&self) -> Option<String> {
        self.timestamp.as_ref().map(|t| match t {
            TimestampSource::SysTime => "sys_time()".to_string(),
            TimestampSource::Field(p) => p.dotted(),
        })
    }

    /// `TIMESTAMPUNIT`, defaulting to milliseconds.
    pub fn timestamp_unit_or_default(&self) -> TimeUnit {
        self.timestamp_unit.unwrap_or(TimeUnit::Milliseconds)
    }

    /// `KEYDELIMITER`, defaulting to `.`.
    pub fn key_delimiter_or_default(&self) -> &str {
        self.key_delimiter.as_deref().unwrap_or(".")
    }

    /// `WITHKEY` entries as dotted strings.
    pub fn with_key_names(&self) -> Option<Vec<String>> {
        self.with_key
            .as_ref()
            .map(|k| k.iter().map(ColumnPath::dotted).collect())
    }

    /// The value of property `key`, if given.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Checks that every property key is in `allowed`.
    pub fn validate_properties(&self, allowed: &[&str]) -> Result<(), UnexpectedProperties> {
        let unexpected: Vec<String> = self
            .properties
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        if unexpected.is_empty() {
            Ok(())
        } else {
            Err(UnexpectedProperties(unexpected))
        }
    }
}
