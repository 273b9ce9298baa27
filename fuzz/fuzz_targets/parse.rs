//! Any input: `parse` and `parse_many` must return (never panic), and every error must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match kcql::parse(src) {
        Ok(stmt) => {
            let _ = stmt.to_string();
        }
        Err(d) => {
            let _ = d.to_string();
            let _ = d.line_col();
        }
    }
    match kcql::parse_many(src) {
        Ok(stmts) => {
            for s in &stmts {
                let _ = s.to_string();
            }
        }
        Err(ds) => {
            let _ = ds.to_string();
        }
    }
});
