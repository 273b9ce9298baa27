//! Building InfluxQL statements safely: quoted identifiers and duration literals, and the
//! administration statements the writer runs.

use std::time::Duration;

/// `name` as an InfluxQL double-quoted identifier: `"` + name with `\` → `\\` and `"` → `\"` +
/// `"`. Any name can be written this way (InfluxDB itself refuses some names, e.g. ones with a
/// backslash or `/`, with its own error).
///
/// ```
/// use kcql_runtime::connectors::influx_sink::influx::quote_ident;
/// assert_eq!(quote_ident("my db"), r#""my db""#);
/// assert_eq!(quote_ident(r#"a"b\c"#), r#""a\"b\\c""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `d` as an InfluxQL duration literal in the largest unit that divides it exactly (`30d`,
/// `2w`, `90m`, `1500ms`); zero is `INF` (keep forever).
///
/// ```
/// use std::time::Duration;
/// use kcql_runtime::connectors::influx_sink::influx::duration_literal;
/// assert_eq!(duration_literal(Duration::from_secs(30 * 86_400)), "30d");
/// assert_eq!(duration_literal(Duration::ZERO), "INF");
/// ```
pub fn duration_literal(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "INF".to_string();
    }
    const UNITS: [(u128, &str); 8] = [
        (7 * 86_400_000_000_000, "w"),
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "u"),
        (1, "ns"),
    ];
    for (size, unit) in UNITS {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// `CREATE DATABASE "db"` (a no-op when it exists).
pub(super) fn create_database(db: &str) -> String {
    format!("CREATE DATABASE {}", quote_ident(db))
}

/// `CREATE RETENTION POLICY "policy" ON "db" DURATION <duration> REPLICATION 1`.
pub(super) fn create_retention_policy(policy: &str, db: &str, duration: Duration) -> String {
    format!(
        "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION 1",
        quote_ident(policy),
        quote_ident(db),
        duration_literal(duration)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("db"), "\"db\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_ident("a\\b"), "\"a\\\\b\"");
        assert_eq!(quote_ident("\\\""), "\"\\\\\\\"\"");
        assert_eq!(
            quote_ident("x\"; DROP DATABASE \"y"),
            "\"x\\\"; DROP DATABASE \\\"y\""
        );
        assert_eq!(quote_ident("naïve 数据"), "\"naïve 数据\"");
    }

    #[test]
    fn quoting_round_trips() {
        // Undo the escaping the way InfluxQL's scanner does and get the name back.
        for name in [
            "plain",
            "sp ace",
            "q\"uote",
            "back\\slash",
            "\\\"\\",
            "end\\",
        ] {
            let q = quote_ident(name);
            let inner = &q[1..q.len() - 1];
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.push(chars.next().expect("escape followed by a char"));
                } else {
                    assert_ne!(c, '"', "unescaped quote in {q}");
                    out.push(c);
                }
            }
            assert_eq!(out, name);
        }
    }

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(duration_literal(s(30 * 86_400)), "30d");
        assert_eq!(duration_literal(s(14 * 86_400)), "2w");
        assert_eq!(duration_literal(s(3600)), "1h");
        assert_eq!(duration_literal(s(5400)), "90m");
        assert_eq!(duration_literal(s(61)), "61s");
        assert_eq!(duration_literal(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_literal(Duration::from_micros(3)), "3u");
        assert_eq!(duration_literal(Duration::from_nanos(7)), "7ns");
        assert_eq!(duration_literal(Duration::ZERO), "INF");
    }

    #[test]
    fn administration_statements() {
        assert_eq!(create_database("my db"), r#"CREATE DATABASE "my db""#);
        assert_eq!(
            create_retention_policy("r\"p", "db", Duration::from_secs(7200)),
            r#"CREATE RETENTION POLICY "r\"p" ON "db" DURATION 2h REPLICATION 1"#
        );
    }
}
