//! Parses the conformance corpus in a loop (for profiling the parser).
fn main() {
    let text = std::fs::read_to_string("kcql/tests/conformance/kcql_cases.json").expect("corpus");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    let stmts: Vec<String> = cases
        .iter()
        .filter(|c| c["ok"] == true && c.get("quirk").is_none())
        .filter_map(|c| c["kcql"].as_str().map(str::to_string))
        .collect();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut ok = 0;
    for _ in 0..n {
        for s in &stmts {
            ok += usize::from(kcql::parse(s).is_ok());
        }
    }
    println!("{ok}");
}
