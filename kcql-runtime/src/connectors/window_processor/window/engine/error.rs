//! Why the engine cannot be built, and why a record is poison.

use crate::decode::DecodeError;
use crate::record::RecordFormatError;
use crate::time::TimeError;
use thiserror::Error;

use super::super::aggregate::AggregateError;

/// The engine could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BuildError {
    /// The key and value formats cannot work (an Avro format without its schema or
    /// registry, a schema that does not parse).
    #[error(transparent)]
    Format(#[from] RecordFormatError),
    /// The output format cannot work (an Avro output without a schema or registry, a schema
    /// that does not parse).
    #[error("value_format_out: {0}")]
    OutputFormat(#[from] crate::encode::OutputFormatError),
    /// No Avro schema can be derived for a route's output.
    #[error("route {route}: {message}")]
    OutputSchema {
        /// The route, 1-based.
        route: usize,
        /// Why.
        message: String,
    },
    /// The registry client for the output cannot be built.
    #[error("schema_registry_url: {0}")]
    Registry(#[from] crate::decode::RegistryError),
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
    /// A route whose window puts each record in more than
    /// [`MAX_WINDOWS_PER_RECORD`](kcql::ast::MAX_WINDOWS_PER_RECORD) windows (a plan built in
    /// code or deserialized; the compiler refuses such statements).
    #[error("route {route}: WINDOW {window} puts each record in {count} windows; at most {max} are allowed", max = kcql::ast::MAX_WINDOWS_PER_RECORD)]
    TooManyWindows {
        /// The route, 1-based.
        route: usize,
        /// The window as KCQL.
        window: kcql::ast::Window,
        /// Windows per record.
        count: u64,
    },
}

/// Why a record is a poison record for a route (or for all of them, when decoding failed).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WindowError {
    /// The key or value does not decode.
    #[error("cannot decode the record {part}: {error}")]
    Decode {
        /// `key` or `value`.
        part: &'static str,
        /// Why.
        error: DecodeError,
    },
    /// The event time is missing or unusable (same rules as the InfluxDB sink's time).
    #[error("event time: {0}")]
    EventTime(TimeError),
    /// The event time is so far from the epoch that a window boundary overflows.
    #[error("event time {0} ms is out of range for windowing")]
    EventTimeOutOfRange(i64),
    /// The event time is further ahead than `max_future_ms` of both the partition's largest
    /// event time and the processor's clock: accepting it would close every open window and
    /// make the partition's later records late.
    #[error("event time {event_ms} ms is more than {max_future_ms} ms ahead of the partition's time and the clock (limit {limit_ms} ms, setting max_future_ms)")]
    FarFuture {
        /// The record's event time (ms since the epoch).
        event_ms: i64,
        /// The latest event time accepted for it.
        limit_ms: i64,
        /// The setting in force.
        max_future_ms: u64,
    },
    /// An aggregate's argument has the wrong type.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}
