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

/// A field computed without allocating: borrowed name and parents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldRef<'a> {
    /// The field name.
    pub name: &'a str,
    /// Where its value comes from.
    pub field_type: FieldType,
    /// The parent segments (empty when none).
    pub parents: &'a [String],
    /// The alias, if any.
    pub alias: Option<&'a Alias>,
}

impl FieldRef<'_> {
    /// The owned [`Field`].
    pub fn to_field(self) -> Field {
        Field {
            name: self.name.to_string(),
            alias: self
                .alias
                .map_or_else(|| self.name.to_string(), Alias::reference_text),
            field_type: self.field_type,
            parents: (!self.parents.is_empty()).then(|| self.parents.to_vec()),
        }
    }
}

fn plain_ref<'a>(segments: &'a [String], wildcard: bool, alias: Option<&'a Alias>) -> FieldRef<'a> {
    let (name, parents): (&str, &[String]) = if wildcard {
        ("*", segments)
    } else {
        match segments.split_last() {
            Some((last, init)) => (last, init),
            None => ("*", segments),
        }
    };
    FieldRef {
        name,
        field_type: FieldType::Value,
        parents,
        alias,
    }
}

/// The reference's `Field.from` on path segments, without allocating.
pub(crate) fn field_ref<'a>(
    segs: &'a [String],
    wildcard: bool,
    alias: Option<&'a Alias>,
) -> Result<FieldRef<'a>, ErrorKind> {
    if segs.first().is_none_or(|s| s != "_") || (segs.len() == 1 && !wildcard) {
        return Ok(plain_ref(segs, wildcard, alias));
    }
    if !wildcard {
        if let Some(last) = segs.last() {
            let meta = [
                ("topic", FieldType::Topic),
                ("partition", FieldType::Partition),
                ("offset", FieldType::Offset),
                ("timestamp", FieldType::Timestamp),
            ]
            .into_iter()
            .find(|(n, _)| last.eq_ignore_ascii_case(n));
            if let Some((name, field_type)) = meta {
                return Ok(FieldRef {
                    name,
                    field_type,
                    parents: &[],
                    alias,
                });
            }
        }
    }
    match segs.get(1) {
        Some(k) if k.eq_ignore_ascii_case("key") => {
            if segs.len() == 2 && !wildcard {
                return Err(ErrorKind::EmptyKeyPath);
            }
            if wildcard && alias.is_some() {
                return Err(ErrorKind::AliasedWildcard);
            }
            let mut f = plain_ref(&segs[2..], wildcard, alias);
            f.field_type = FieldType::Key;
            Ok(f)
        }
        _ => Err(ErrorKind::BadMetadataPath),
    }
}

/// The reference's `Field.from`: a column path (with alias) → a field, applying the `_.` rules
/// (metadata fields and `_.key.` paths).
pub fn field_from_path(path: &ColumnPath, alias: Option<&Alias>) -> Result<Field, ErrorKind> {
    field_ref(&path.segments, path.wildcard, alias).map(FieldRef::to_field)
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
/// fields (the leading segment removed), anything else → fields. Returns the route and the
/// remaining segments and wildcard flag.
pub(crate) fn route(path: &ColumnPath) -> (Route, &[String], bool) {
    let segs = path.segments.as_slice();
    // Every special route starts with `_`; most paths do not.
    if segs.first().is_none_or(|s| !s.starts_with('_')) {
        return (Route::Value, segs, path.wildcard);
    }
    match segs.first().map(String::as_str) {
        Some("_key") => (Route::Key, &segs[1..], path.wildcard || segs.len() == 1),
        Some("_header") if segs.len() > 1 || path.wildcard => {
            (Route::Header, &segs[1..], path.wildcard || segs.len() == 1)
        }
        Some(s) if segs.len() == 1 && s.starts_with("_key.") => (Route::Key, segs, path.wildcard),
        Some(s) if segs.len() == 1 && s.starts_with("_header.") => {
            (Route::Header, segs, path.wildcard)
        }
        _ => (Route::Value, segs, path.wildcard),
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

/// Calls `f(item index, route, field)` for every field the select list defines, in order:
/// columns, `'*'`, and the plain-column arguments of function calls.
pub(crate) fn visit_select<'a, E>(
    items: &'a [SelectItem],
    f: &mut impl FnMut(usize, Route, Result<FieldRef<'a>, ErrorKind>) -> Result<(), E>,
) -> Result<(), E> {
    for (i, item) in items.iter().enumerate() {
        visit_expr(&item.expr, item.alias.as_ref(), i, f)?;
    }
    Ok(())
}

fn visit_expr<'a, E>(
    expr: &'a Expr,
    alias: Option<&'a Alias>,
    index: usize,
    f: &mut impl FnMut(usize, Route, Result<FieldRef<'a>, ErrorKind>) -> Result<(), E>,
) -> Result<(), E> {
    match expr {
        Expr::Column(path) => {
            let (route, segs, wildcard) = route(path);
            let field = match route {
                Route::Value => field_ref(segs, wildcard, alias),
                Route::Key | Route::Header => Ok(plain_ref(segs, wildcard, alias)),
            };
            f(index, route, field)
        }
        Expr::String { value } if value == "*" => {
            f(index, Route::Value, Ok(plain_ref(&[], true, alias)))
        }
        Expr::String { .. } => Ok(()),
        Expr::Call { args, .. } => {
            for a in args {
                if let Expr::Column(_) = a {
                    visit_expr(a, None, index, f)?;
                }
            }
            Ok(())
        }
        // Extension expressions have no reference meaning and define no reference field.
        Expr::Literal { .. }
        | Expr::Unary { .. }
        | Expr::Binary { .. }
        | Expr::IsNull { .. }
        | Expr::InList { .. }
        | Expr::Like { .. }
        | Expr::Cast { .. } => Ok(()),
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
        let _ = visit_select::<()>(&self.select, &mut |_, route, field| {
            if let Ok(field) = field {
                let field = field.to_field();
                match route {
                    Route::Value => out.fields.push(field),
                    Route::Key => out.key_fields.push(field),
                    Route::Header => out.header_fields.push(field),
                }
            }
            Ok(())
        });
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
