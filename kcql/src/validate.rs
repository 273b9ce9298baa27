//! Semantic checks the reference makes after parsing (its listener's checks): `_.` paths,
//! duplicate select fields, aliased `_.key.*`. Range and enum checks (BATCH, LIMIT, TTL,
//! TIMESTAMPUNIT, WITHFORMAT, STOREAS, PARTITIONBY, tags, KEYDELIMITER) are made by the parser
//! where the value is read, so their errors point at the value.

use crate::ast::Statement;
use crate::diag::ErrorKind;
use crate::parse::Failure;
use crate::reference::{field_from_path, select_entries, Field, Route};

/// Checks `stmt`, returning the first problem found.
pub(crate) fn validate(stmt: &Statement) -> Result<(), Failure> {
    let mut values: Vec<Field> = Vec::with_capacity(stmt.select.len());
    for (route, field, index) in select_entries(&stmt.select) {
        let span = stmt.select[index].span;
        let field = field.map_err(|k| Failure::new(k, span))?;
        let clash = values.iter().any(|e| {
            e.name == field.name
                && e.field_type == field.field_type
                && e.parents.is_none()
                && field.parents.is_none()
                && !(field.name.contains('(') && field.name.contains(')'))
        });
        if clash {
            let name = field.name.clone();
            let kind = match route {
                Route::Value => ErrorKind::DuplicateField { name },
                Route::Key => ErrorKind::DuplicateKeyField { name },
                Route::Header => ErrorKind::DuplicateHeaderField { name },
            };
            return Err(Failure::new(kind, span).help("remove or alias one of them"));
        }
        if route == Route::Value {
            values.push(field);
        }
    }
    for item in &stmt.ignore {
        field_from_path(&item.path, item.alias.as_ref())
            .map_err(|k| Failure::new(k, item.path.span))?;
    }
    for pk in &stmt.primary_keys {
        field_from_path(pk, None).map_err(|k| Failure::new(k, pk.span))?;
    }
    Ok(())
}
