//! Every statement that parses must print to canonical KCQL that parses back to the same
//! statement, and printing must be deterministic: `parse(&stmt.to_string()) == Ok(stmt)`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(stmt) = kcql::parse(src) else {
        return;
    };
    let printed = stmt.to_string();
    let again = stmt.to_string();
    assert_eq!(
        printed, again,
        "printing is not deterministic\ninput:   {src:?}\nprinted: {printed:?}\nagain:   {again:?}"
    );
    match kcql::parse(&printed) {
        Ok(reparsed) => {
            if reparsed != stmt {
                panic!(
                    "round trip changed the statement\ninput:    {src:?}\nprinted:  {printed:?}\nreprinted: {:?}\noriginal: {stmt:#?}\nreparsed: {reparsed:#?}",
                    reparsed.to_string()
                );
            }
            let reprinted = reparsed.to_string();
            assert_eq!(
                printed, reprinted,
                "printing is not a fixed point\ninput:     {src:?}\nprinted:   {printed:?}\nreprinted: {reprinted:?}"
            );
        }
        Err(e) => panic!(
            "printed statement does not parse\ninput:   {src:?}\nprinted: {printed:?}\nerror:\n{e}"
        ),
    }
});
