//! KCQL conformance: runs every case of a corpus in the format of
//! `kcql/tests/conformance/kcql_cases.json` (see the grammar notes, section 0) against the
//! parser.
//!
//! The corpus path comes from `$KCQL_CONFORMANCE` (default: the in-repo copy). A case with
//! `ok: true` and no `quirk` must parse and satisfy every key of its `expect`; a case with
//! `ok: false`, or marked `quirk` (reference leniency we deliberately do not reproduce), must be
//! rejected. Prints `CONFORMANCE kcql: N passed, M failed` and each failure; fails if M > 0.
//! No check depends on a case id.

use kcql::reference::{Field, ReferenceWriteMode, TargetType};
use kcql::{Statement, TagKind};
use serde_json::{json, Map, Value};

fn corpus_path() -> String {
    std::env::var("KCQL_CONFORMANCE").unwrap_or_else(|_| {
        format!(
            "{}/tests/conformance/kcql_cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

fn field_json(f: &Field) -> Value {
    json!({
        "name": f.name,
        "alias": f.alias,
        "type": f.field_type,
        "parents": f.parents,
    })
}

/// Compares only the keys the expectation lists; `parents_prefix` compares a prefix.
fn field_matches(actual: &Value, expected: &Value) -> Result<(), String> {
    let exp = expected
        .as_object()
        .ok_or("field expectation is not an object")?;
    for (k, v) in exp {
        if k == "parents_prefix" {
            let want: Vec<Value> = v.as_array().cloned().unwrap_or_default();
            let got: Vec<Value> = actual["parents"].as_array().cloned().unwrap_or_default();
            if got.len() < want.len() || got[..want.len()] != want[..] {
                return Err(format!("parents {got:?} do not start with {want:?}"));
            }
            continue;
        }
        if &actual[k] != v {
            return Err(format!("{k}: expected {v}, got {}", actual[k]));
        }
    }
    Ok(())
}

fn check_list(name: &str, actual: &[Value], mode: &str, expected: &Value) -> Result<(), String> {
    match mode {
        "" => {
            let exp = expected.as_array().ok_or(format!("{name}: not a list"))?;
            if exp.len() != actual.len() {
                return Err(format!(
                    "{name}: expected {} entries, got {}: {actual:?}",
                    exp.len(),
                    actual.len()
                ));
            }
            for (i, (a, e)) in actual.iter().zip(exp).enumerate() {
                field_matches(a, e).map_err(|m| format!("{name}[{i}]: {m}"))?;
            }
            Ok(())
        }
        "unordered" => {
            let exp = expected.as_array().ok_or(format!("{name}: not a list"))?;
            if exp.len() != actual.len() {
                return Err(format!(
                    "{name}: expected {} entries, got {}: {actual:?}",
                    exp.len(),
                    actual.len()
                ));
            }
            let mut used = vec![false; actual.len()];
            for e in exp {
                let hit = actual
                    .iter()
                    .enumerate()
                    .find(|(i, a)| !used[*i] && field_matches(a, e).is_ok());
                match hit {
                    Some((i, _)) => used[i] = true,
                    None => return Err(format!("{name}: no entry matches {e} in {actual:?}")),
                }
            }
            Ok(())
        }
        "at" => {
            let exp = expected
                .as_object()
                .ok_or(format!("{name}_at: not an object"))?;
            for (idx, e) in exp {
                let i: usize = idx
                    .parse()
                    .map_err(|_| format!("{name}_at: bad index {idx}"))?;
                let a = actual
                    .get(i)
                    .ok_or(format!("{name}_at: no entry {i} in {actual:?}"))?;
                field_matches(a, e).map_err(|m| format!("{name}[{i}]: {m}"))?;
            }
            Ok(())
        }
        "count" => {
            let want = expected
                .as_u64()
                .ok_or(format!("{name}_count: not a number"))?;
            if actual.len() as u64 != want {
                return Err(format!(
                    "{name}_count: expected {want}, got {}",
                    actual.len()
                ));
            }
            Ok(())
        }
        "nonempty" => {
            if expected.as_bool() != Some(!actual.is_empty()) {
                return Err(format!(
                    "{name}_nonempty: expected {expected}, got {actual:?}"
                ));
            }
            Ok(())
        }
        other => Err(format!("unknown list check `{name}_{other}`")),
    }
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn tags_json(stmt: &Statement) -> Value {
    match &stmt.tags {
        None => Value::Null,
        Some(tags) => Value::Array(
            tags.iter()
                .map(|t| {
                    let (value, kind) = match &t.kind {
                        TagKind::Field => (Value::Null, "field"),
                        TagKind::Constant(v) => (json!(v), "constant"),
                        TagKind::Alias(v) => (json!(v), "alias"),
                    };
                    json!({"key": t.key.dotted(), "value": value, "kind": kind})
                })
                .collect(),
        ),
    }
}

fn scalar(stmt: &Statement, key: &str) -> Option<Value> {
    Some(match key {
        "source" => json!(stmt.source),
        "target" => opt_str(stmt.target()),
        "write_mode" => match stmt.write_mode() {
            Some(ReferenceWriteMode::Insert) => json!("INSERT"),
            Some(ReferenceWriteMode::Upsert) => json!("UPSERT"),
            None => Value::Null,
        },
        "autocreate" => json!(stmt.autocreate),
        "autoevolve" => json!(stmt.autoevolve),
        "with_unwrap" => json!(stmt.with_unwrap),
        "with_structure" => json!(stmt.with_structure),
        "timestamp" => opt_str(stmt.timestamp_text().as_deref()),
        "timestamp_unit" => json!(stmt.timestamp_unit_or_default().name()),
        "format" => opt_str(stmt.format.map(|f| f.name())),
        "with_type" => opt_str(stmt.with_type.as_deref()),
        "converter" => opt_str(stmt.converter.as_deref()),
        "jms_selector" => opt_str(stmt.jms_selector.as_deref()),
        "dynamic_target" => opt_str(stmt.dynamic_target.as_ref().map(|p| p.dotted()).as_deref()),
        "pipeline" => opt_str(stmt.pipeline.as_deref()),
        "inc_mode" => opt_str(stmt.incremental_mode.as_deref()),
        "index_suffix" => opt_str(stmt.index_suffix.as_deref()),
        "doc_type" => opt_str(stmt.doc_type.as_deref()),
        "subscription" => opt_str(stmt.subscription.as_deref()),
        "regex" => opt_str(stmt.regex.as_deref()),
        "key_delimiter" => json!(stmt.key_delimiter_or_default()),
        "limit" => json!(stmt.limit.unwrap_or(0)),
        "batch_size" => json!(stmt.batch_size.unwrap_or(0)),
        "ttl" => json!(stmt.ttl.unwrap_or(0)),
        "with_key" => stmt.with_key_names().map_or(Value::Null, |k| json!(k)),
        "tags" => tags_json(stmt),
        "no_partition" => json!(stmt.no_partition()),
        "partition_by" => json!(stmt.partition_by()),
        "properties" => {
            let m: Map<String, Value> = stmt
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Value::Object(m)
        }
        "store_as" => match &stmt.store_as {
            None => Value::Null,
            Some(s) => {
                let params: Map<String, Value> = s
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                json!({"type": s.type_name, "params": params})
            }
        },
        "target_type" => match stmt.target_type() {
            None => Value::Null,
            Some(Err(e)) => json!({"error": e.to_string()}),
            Some(Ok(t)) => match t {
                TargetType::Static { target } => json!({"kind": "static", "target": target}),
                TargetType::Key { path } => json!({"kind": "key", "path": path}),
                TargetType::Value { path } => json!({"kind": "value", "path": path}),
                TargetType::Header { name } => json!({"kind": "header", "name": name}),
            },
        },
        _ => return None,
    })
}

/// Compares a scalar expectation; objects compare only the keys the expectation lists.
fn scalar_matches(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k) == Some(v)),
        _ => actual == expected,
    }
}

fn unordered_strings(actual: Vec<String>, expected: &Value) -> Result<(), String> {
    let mut want: Vec<String> =
        serde_json::from_value(expected.clone()).map_err(|e| e.to_string())?;
    let mut got = actual;
    want.sort();
    got.sort();
    if want == got {
        Ok(())
    } else {
        Err(format!("expected {want:?} (any order), got {got:?}"))
    }
}

/// Reads one of a statement's field lists as JSON.
type FieldList = fn(&Statement) -> Vec<Value>;

fn check_key(stmt: &Statement, key: &str, expected: &Value) -> Result<(), String> {
    let lists: [(&str, FieldList); 5] = [
        ("fields", |s| {
            s.selected_fields().fields.iter().map(field_json).collect()
        }),
        ("key_fields", |s| {
            s.selected_fields()
                .key_fields
                .iter()
                .map(field_json)
                .collect()
        }),
        ("header_fields", |s| {
            s.selected_fields()
                .header_fields
                .iter()
                .map(field_json)
                .collect()
        }),
        ("ignored_fields", |s| {
            s.ignored_fields().iter().map(field_json).collect()
        }),
        ("primary_keys", |s| {
            s.primary_key_fields().iter().map(field_json).collect()
        }),
    ];
    for (name, get) in lists {
        if key == name {
            return check_list(name, &get(stmt), "", expected);
        }
        if let Some(mode) = key.strip_prefix(name).and_then(|r| r.strip_prefix('_')) {
            return check_list(name, &get(stmt), mode, expected);
        }
    }
    match key {
        "primary_key_names_unordered" => {
            return unordered_strings(
                stmt.primary_key_fields()
                    .into_iter()
                    .map(|f| f.name)
                    .collect(),
                expected,
            )
        }
        "primary_key_paths_unordered" => {
            return unordered_strings(
                stmt.primary_key_fields()
                    .iter()
                    .map(Field::dotted)
                    .collect(),
                expected,
            )
        }
        "partition_by_unordered" => {
            return unordered_strings(stmt.partition_by().to_vec(), expected)
        }
        "tags_unordered" => {
            let got = tags_json(stmt);
            let got = got.as_array().cloned().unwrap_or_default();
            return check_list("tags", &got, "unordered", expected);
        }
        "validate_properties" => {
            let allowed: Vec<String> =
                serde_json::from_value(expected["allowed"].clone()).map_err(|e| e.to_string())?;
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            let result = stmt.validate_properties(&allowed);
            let want_ok = expected["ok"].as_bool().unwrap_or(true);
            return match (result, want_ok) {
                (Ok(()), true) => Ok(()),
                (Err(e), false) => match expected["error_contains"].as_str() {
                    Some(s) if !e.to_string().contains(s) => {
                        Err(format!("error `{e}` does not contain `{s}`"))
                    }
                    _ => Ok(()),
                },
                (r, _) => Err(format!(
                    "validate_properties: expected ok={want_ok}, got {r:?}"
                )),
            };
        }
        "extract_property" => {
            let k = expected["key"].as_str().ok_or("extract_property.key")?;
            let got = opt_str(stmt.property(k));
            return if got == expected["value"] {
                Ok(())
            } else {
                Err(format!(
                    "property {k}: expected {}, got {got}",
                    expected["value"]
                ))
            };
        }
        _ => {}
    }
    match scalar(stmt, key) {
        Some(actual) if scalar_matches(&actual, expected) => Ok(()),
        Some(actual) => Err(format!("{key}: expected {expected}, got {actual}")),
        None => Err(format!("unknown expectation key `{key}`")),
    }
}

fn run_case(case: &Value) -> Result<(), String> {
    let kcql = case["kcql"].as_str().ok_or("case has no kcql")?;
    let must_parse = case["ok"].as_bool() == Some(true) && case.get("quirk").is_none();
    let parsed = kcql::parse(kcql);
    match (must_parse, parsed) {
        (false, Err(_)) => Ok(()),
        (false, Ok(s)) => Err(format!("expected a rejection, but it parsed as `{s}`")),
        (true, Err(d)) => Err(format!("expected success, got:\n{d}")),
        (true, Ok(stmt)) => {
            let expect = case["expect"].as_object().cloned().unwrap_or_default();
            let failures: Vec<String> = expect
                .iter()
                .filter_map(|(k, v)| check_key(&stmt, k, v).err())
                .collect();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures.join("; "))
            }
        }
    }
}

#[test]
fn kcql_conformance() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!cases.is_empty(), "{path} holds no cases");
    let mut failed = Vec::new();
    for case in &cases {
        if let Err(msg) = run_case(case) {
            failed.push((case["id"].as_str().unwrap_or("?").to_string(), msg));
        }
    }
    println!(
        "CONFORMANCE kcql: {} passed, {} failed",
        cases.len() - failed.len(),
        failed.len()
    );
    for (id, msg) in &failed {
        println!("FAILED {id}: {msg}");
    }
    assert!(
        failed.is_empty(),
        "{} conformance case(s) failed",
        failed.len()
    );
}
