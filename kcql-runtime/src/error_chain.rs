//! An error with its causes as one line of text, for logs and error messages.

/// `e` and its sources, joined with `: ` ("error sending request …: connection refused"); a
/// source whose text the message already holds is not repeated (reqwest's own message hides
/// the cause, others repeat it).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
