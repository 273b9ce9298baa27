//! What a failed HTTP exchange means: retryable or not, with a message naming every cause,
//! and the delay a response asks for.

use std::time::{Duration, SystemTime};

use super::super::classify;
use crate::error_chain::error_chain;

/// The `Retry-After` delay `response` asks for, when it gives a usable one.
pub(super) fn retry_after_of(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| classify::parse_retry_after(v, SystemTime::now()))
}

/// Whether a request error is worth retrying, and a message naming its causes.
pub(super) fn transport_failure(e: &reqwest::Error, timeout: Duration) -> (bool, String) {
    let chain = error_chain(e);
    if e.is_timeout() {
        (true, format!("no answer within {timeout:?}: {chain}"))
    } else if e.is_connect() {
        (true, format!("cannot connect: {chain}"))
    } else if e.is_builder() {
        (false, format!("cannot build the request: {chain}"))
    } else {
        (true, chain)
    }
}
