//! Settings every connector shares: the error policy and credentials ([`Secret`], from
//! [`crate::redact`]).

use std::fmt;

pub use crate::redact::Secret;

/// What a connector does with a record it cannot handle or a write that fails
/// (`connect.influx.error.policy`, `connect.mqtt.error.policy`, a processor's `error_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Log the failure and carry on.
    Noop,
    /// Fail the task (the default).
    Throw,
    /// Retry after the connector's retry interval, at most its max retries, then fail.
    Retry,
}

impl ErrorPolicy {
    /// The property value (`NOOP`, `THROW`, `RETRY`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorPolicy::Noop => "NOOP",
            ErrorPolicy::Throw => "THROW",
            ErrorPolicy::Retry => "RETRY",
        }
    }

    /// The policy a property value names, in any letter case and ignoring surrounding
    /// whitespace; `None` for anything else (each connector words its own error).
    pub fn parse(value: &str) -> Option<ErrorPolicy> {
        [ErrorPolicy::Noop, ErrorPolicy::Throw, ErrorPolicy::Retry]
            .into_iter()
            .find(|p| value.trim().eq_ignore_ascii_case(p.as_str()))
    }
}

impl fmt::Display for ErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_in_any_case_and_print_upper_case() {
        assert_eq!(ErrorPolicy::parse(" noop "), Some(ErrorPolicy::Noop));
        assert_eq!(ErrorPolicy::parse("Throw"), Some(ErrorPolicy::Throw));
        assert_eq!(ErrorPolicy::parse("RETRY"), Some(ErrorPolicy::Retry));
        assert_eq!(ErrorPolicy::parse("skip"), None);
        assert_eq!(ErrorPolicy::Retry.to_string(), "RETRY");
    }
}
