//! Semantic checks the reference makes after parsing (its listener's checks): `_.` paths,
//! duplicate select fields, aliased `_.key.*`. Range and enum checks (BATCH, LIMIT, TTL,
//! TIMESTAMPUNIT, WITHFORMAT, STOREAS, PARTITIONBY, tags, KEYDELIMITER) are made by the parser
//! where the value is read, so their errors point at the value.
//!
//! Runs on every parse, so it works on borrowed data and does not allocate for statements with
//! up to 16 parentless select fields.

use crate::ast::Statement;
use crate::diag::ErrorKind;
use crate::parse::Failure;
use crate::reference::{field_ref, visit_select, FieldType, Route};

/// Parentless value fields seen so far, for the duplicate check.
struct Seen<'a> {
    inline: [(&'a str, FieldType); 16],
    len: usize,
    spill: Vec<(&'a str, FieldType)>,
}

impl<'a> Seen<'a> {
    fn new() -> Self {
        Seen {
            inline: [("", FieldType::Value); 16],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn contains(&self, name: &str, t: FieldType) -> bool {
        self.inline[..self.len]
            .iter()
            .chain(self.spill.iter())
            .any(|(n, ft)| *n == name && *ft == t)
    }

    fn push(&mut self, name: &'a str, t: FieldType) {
        if self.len < self.inline.len() {
            self.inline[self.len] = (name, t);
            self.len += 1;
        } else {
            self.spill.push((name, t));
        }
    }
}

/// Checks `stmt`, returning the first problem found.
pub(crate) fn validate(stmt: &Statement) -> Result<(), Failure> {
    let mut seen = Seen::new();
    visit_select(&stmt.select, &mut |index, route, field| {
        let span = stmt.select[index].span;
        let field = field.map_err(|k| Failure::new(k, span))?;
        if field.parents.is_empty() {
            let exempt = field.name.contains('(') && field.name.contains(')');
            if !exempt && seen.contains(field.name, field.field_type) {
                let name = field.name.to_string();
                let kind = match route {
                    Route::Value => ErrorKind::DuplicateField { name },
                    Route::Key => ErrorKind::DuplicateKeyField { name },
                    Route::Header => ErrorKind::DuplicateHeaderField { name },
                };
                return Err(Failure::new(kind, span).help("remove or alias one of them"));
            }
            if route == Route::Value {
                seen.push(field.name, field.field_type);
            }
        }
        Ok(())
    })?;
    for item in &stmt.ignore {
        field_ref(&item.path.segments, item.path.wildcard, item.alias.as_ref())
            .map_err(|k| Failure::new(k, item.path.span))?;
    }
    for pk in &stmt.primary_keys {
        field_ref(&pk.segments, pk.wildcard, None).map_err(|k| Failure::new(k, pk.span))?;
    }
    Ok(())
}
