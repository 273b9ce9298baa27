//! Errors of the InfluxDB writer, in the runtime's three classes: transient (retry later),
//! poison lines (skip those records, the rest of the batch is handled), fatal (stop).

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// Why a write did not (fully) succeed.
///
/// The body is never lost: [`InfluxWriter::write`](super::InfluxWriter::write) only borrows
/// it, so on any error the caller still holds every line and decides what to do with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    /// InfluxDB refused some lines and **wrote the others** (InfluxDB 1.x `400` "partial write"
    /// or "unable to parse"; InfluxDB 2.x `422`). Treat `lines` as poison records.
    ///
    /// `lines` are 0-based line numbers in the body: the lines InfluxDB quoted as unparseable,
    /// and the lines that carry the field InfluxDB names in a type conflict (same measurement,
    /// same field key, a type other than the one that already exists) or an invalid field
    /// name. InfluxDB 1.6.7 reports only the **first** storage-level reason (and, with several
    /// shards, only one shard's count), so `lines` may name fewer lines than were dropped:
    /// compare with `dropped`, or use
    /// [`InfluxWriter::write_isolating`](super::InfluxWriter::write_isolating), which re-sends
    /// the rest until InfluxDB accepts it.
    #[error("InfluxDB rejected {} line(s) (dropped={}): {}", lines.len(), DroppedDisplay(*dropped), Excerpt(message))]
    Rejected {
        /// InfluxDB's error message (JSON `error` of 1.x, `message` of 2.x).
        message: String,
        /// The `dropped=N` InfluxDB reports: points that parsed but were refused. Unparseable
        /// lines are not counted in it. `None` when the message carries no count.
        dropped: Option<usize>,
        /// 0-based numbers of the lines identified as rejected, ascending.
        lines: Vec<usize>,
    },
    /// The server refused the **whole** request because of malformed lines and wrote nothing
    /// (InfluxDB 2.x `400`). Skip `lines` and send the rest again.
    #[error("InfluxDB rejected the whole request because of {} malformed line(s): {}", lines.len(), Excerpt(message))]
    Malformed {
        /// The server's error message.
        message: String,
        /// 0-based numbers of the malformed lines identified in the message, ascending.
        lines: Vec<usize>,
    },
    /// The database (v1) or bucket (v2) does not exist. Fatal unless the caller may create it
    /// ([`InfluxWriter::ensure_database`](super::InfluxWriter::ensure_database)).
    #[error("InfluxDB database {database:?} does not exist: {}", Excerpt(message))]
    DatabaseNotFound {
        /// The database or bucket written to.
        database: String,
        /// The server's error message.
        message: String,
    },
    /// The retention policy does not exist (InfluxDB 1.6.7 answers this with `500`, so a plain
    /// "5xx is transient" rule would retry it forever).
    #[error(
        "InfluxDB retention policy {policy:?} does not exist: {}",
        Excerpt(message)
    )]
    RetentionPolicyNotFound {
        /// The retention policy written to.
        policy: String,
        /// The server's error message.
        message: String,
    },
    /// The body is larger than the server accepts (`413`); nothing was written. Send smaller
    /// batches.
    #[error(
        "InfluxDB refused a {bytes}-byte body as too large: {}",
        Excerpt(message)
    )]
    TooLarge {
        /// Size of the body sent (compressed size when gzip is on).
        bytes: usize,
        /// The server's error message.
        message: String,
    },
    /// Try again later: connection refused or reset, timeout, `408`, `429`, `5xx`. Nothing can
    /// be assumed written.
    #[error("transient InfluxDB failure{}: {}", StatusDisplay(*status), Excerpt(message))]
    Transient {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// HTTP status, `None` when no response arrived.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// Retrying cannot help: authentication (`401`/`403`), a request the server does not
    /// understand (wrong URL or API version, invalid consistency level, …).
    #[error("InfluxDB write failed{}: {}", StatusDisplay(*status), Excerpt(message))]
    Fatal {
        /// HTTP status, `None` when the request could not be built.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

impl WriteError {
    /// `true` for [`WriteError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, WriteError::Transient { .. })
    }

    /// The lines identified as bad by [`WriteError::Rejected`] or [`WriteError::Malformed`]
    /// (empty for other errors).
    pub fn bad_lines(&self) -> &[usize] {
        match self {
            WriteError::Rejected { lines, .. } | WriteError::Malformed { lines, .. } => lines,
            _ => &[],
        }
    }
}

/// Why [`InfluxWriter::ensure_database`](super::InfluxWriter::ensure_database) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnsureError {
    /// Try again later (connection, timeout, `408`, `429`, `5xx`).
    #[error("transient InfluxDB failure{}: {}", StatusDisplay(*status), Excerpt(message))]
    Transient {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// HTTP status, `None` when no response arrived.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The request was refused (auth, bad request).
    #[error("InfluxDB query failed{}: {}", StatusDisplay(*status), Excerpt(message))]
    Fatal {
        /// HTTP status, `None` when the request could not be built.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// InfluxDB executed the statement and reported an error for it.
    #[error("InfluxDB refused `{statement}`: {message}")]
    Statement {
        /// The InfluxQL statement.
        statement: String,
        /// InfluxDB's error for it.
        message: String,
    },
}

/// The writer could not be built from its configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// `url` is not an absolute http(s) URL.
    #[error("invalid InfluxDB url {url:?}: {reason}")]
    Url {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential cannot be sent in an HTTP header.
    #[error("invalid InfluxDB {what}: {reason}")]
    Credential {
        /// Which credential.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend initialisation, a client key that does
    /// not match its certificate).
    #[error("cannot build the HTTP client: {}", crate::error_chain::error_chain(.0))]
    Client(#[source] reqwest::Error),
    /// The TLS settings cannot be used (a file missing or not PEM, a certificate without its
    /// key, …).
    #[error("InfluxDB TLS settings: {0}")]
    Tls(#[from] crate::http_tls::HttpTlsError),
}

/// At most this much of a server message goes into an error's `Display` (the full message
/// stays in the variant's field).
const DISPLAY_LIMIT: usize = 1000;

/// Displays a message cut at [`DISPLAY_LIMIT`] bytes (on a char boundary).
struct Excerpt<'a>(&'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= DISPLAY_LIMIT {
            return f.write_str(self.0);
        }
        let mut end = DISPLAY_LIMIT;
        while !self.0.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}… ({} more bytes)", &self.0[..end], self.0.len() - end)
    }
}

struct StatusDisplay(Option<u16>);

impl fmt::Display for StatusDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (HTTP {s})"),
            None => Ok(()),
        }
    }
}

struct DroppedDisplay(Option<usize>);

impl fmt::Display for DroppedDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_cuts_long_messages_on_char_boundaries() {
        let long = "é".repeat(2000);
        let e = WriteError::Fatal {
            status: Some(400),
            message: long,
        };
        let s = e.to_string();
        assert!(s.starts_with("InfluxDB write failed (HTTP 400): éé"));
        assert!(s.ends_with("more bytes)"), "{s}");
        assert!(s.len() < 1200);
    }

    #[test]
    fn bad_lines_and_transience() {
        let r = WriteError::Rejected {
            message: "m".into(),
            dropped: Some(1),
            lines: vec![2],
        };
        assert_eq!(r.bad_lines(), &[2]);
        assert!(!r.is_transient());
        assert_eq!(r.to_string(), "InfluxDB rejected 1 line(s) (dropped=1): m");
        let t = WriteError::Transient {
            retry_after: None,
            status: None,
            message: "connection refused".into(),
        };
        assert!(t.is_transient());
        assert!(t.bad_lines().is_empty());
        assert_eq!(
            t.to_string(),
            "transient InfluxDB failure: connection refused"
        );
    }
}
