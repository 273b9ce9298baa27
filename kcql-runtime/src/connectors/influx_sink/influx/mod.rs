//! Writing line protocol to InfluxDB over HTTP.
//!
//! * [`InfluxConfig`]: where and how to write (1.x or 2.x API, precision, gzip, timeout,
//!   backoff, batching).
//! * [`Batcher`]: collects encoded lines into one reused buffer until a batch is full or due,
//!   keeping each line's byte range and [`Origin`] (its record and measurement); it hands the
//!   batch out as [`Lines`], which the writer writes and reports rejected lines of by index.
//! * [`InfluxWriter`]: sends a batch and classifies the answer into `Ok` or a [`WriteError`]:
//!   transient (for the caller to retry, e.g. with [`InfluxWriter::backoff`]: the writer sends
//!   every request once), rejected lines (poison records; the others were
//!   written), a missing database or retention policy, or fatal (auth, bad request).
//!   [`InfluxWriter::write_isolating`] goes further and finds every refused line.
//! * [`InfluxWriter::ensure_database`]: `CREATE DATABASE` / `CREATE RETENTION POLICY` (1.x).
//!
//! # What the servers answer
//!
//! What InfluxDB 1.6.7 actually answers (found by experiment against the real server; the
//! `X-Influxdb-Error` header repeats the JSON `error`):
//!
//! | case | status | body |
//! |---|---|---|
//! | all written (also an empty body) | 204 | — |
//! | type conflict among good lines | 400 | `{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}` |
//! | several conflicts | 400 | only the **first** reason; `dropped=N` counts all of them (per shard: with points in several shards one shard's error wins) |
//! | unparseable line(s) among good lines | 400 | `{"error":"partial write: unable to parse 'm,t=d v= 4000': missing field value dropped=0"}`; several are joined with `\n`, in body order; `dropped` does not count them |
//! | every line unparseable | 400 | `{"error":"unable to parse 'bad line': invalid field format\nunable to parse 'bad2 x': invalid field format"}` (no `partial write`, nothing written) |
//! | unparseable line **and** a type conflict | 400 | only the conflict is reported; the parse error is not mentioned at all |
//! | field named `time` | 400 | `partial write: invalid field name: input field "time" on measurement "m" is invalid dropped=1` |
//! | points older than the retention policy | 400 | `partial write: points beyond retention policy dropped=1` |
//! | database missing | 404 | `{"error":"database not found: \"x\""}` |
//! | retention policy missing | **500** | `{"error":"retention policy not found: nope"}` |
//! | no `db=` | 400 | `{"error":"database is required"}` |
//! | bad `consistency=` | 400 | `{"error":"invalid consistency level"}` |
//! | body not gzip but `Content-Encoding: gzip` | 400 | `{"error":"gzip: invalid header"}` |
//! | body over `max-body-size` (25 MB) | 413 | `{"error":"Request Entity Too Large"}` |
//! | `/api/v2/write` (1.6.7 has none) | 404 | `404 page not found` (text/plain) |
//! | unknown `precision=`, **including `us`** | 204 | timestamps read as ns (1.x knows `n`/`ns`, `u`, `ms`, `s`, `m`, `h`; the writer sends `u`) |
//! | conflicting field types in two shards | 400 | `dropped=1` and one shard's reason, though each shard dropped a point (field types are per shard: `v=1i` at time 1 and `v=1.5` today are both accepted) |
//! | `CREATE DATABASE` / same `CREATE RETENTION POLICY` again | 200 | `{"results":[{"statement_id":0}]}` (idempotent) |
//! | `CREATE RETENTION POLICY` existing with another duration | 200 | `{"results":[{"statement_id":0,"error":"retention policy already exists"}]}` |
//! | retention duration under 1 h | 200 | `…"error":"retention policy duration must be at least 1h0m0s"` |
//! | database name with `\` | 200 | `…"error":"invalid name"` |
//!
//! Names in the messages are unescaped and not quoted-escaped (`input field "f k,=x" on
//! measurement "my meas,x"`); unparseable lines are quoted as InfluxDB saw them (leading
//! spaces removed, a trailing `\r` kept). Lines are split the way InfluxDB splits them: at
//! newlines outside double-quoted field values.
//!
//! InfluxDB 2.x (documented, not testable here): `400` = malformed line protocol, **nothing**
//! written, the first malformed line quoted; `422` = some points rejected, the rest written;
//! `401` unauthorized; `404` bucket or org not found; `413`; `429`/`503` with `Retry-After`.
//! VictoriaMetrics' `/api/v2/write` answers `204` even for unparseable lines (it logs and skips
//! them) and for strings (stored as 0); `400` text/plain for a broken gzip body.
//!
//! How the writer maps them: 2xx → `Ok`; 400 "partial write"/"unable to parse" (1.x) and 422
//! (2.x) → [`WriteError::Rejected`]; 400 naming malformed lines on the 2.x API →
//! [`WriteError::Malformed`]; other 400 → [`WriteError::Fatal`]; 401/403 → `Fatal`; 404
//! "database not found" / bucket not found → [`WriteError::DatabaseNotFound`]; "retention
//! policy not found" (any status) → [`WriteError::RetentionPolicyNotFound`]; 413 →
//! [`WriteError::TooLarge`]; 408/429/5xx, connection errors and timeouts →
//! [`WriteError::Transient`] (with `Retry-After`); anything else → `Fatal`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Instant;
//! use kcql_runtime::connectors::influx_sink::influx::{Api, Batcher, InfluxConfig, InfluxWriter};
//!
//! let config = InfluxConfig::new(
//!     "http://127.0.0.1:8086",
//!     Api::V1 { database: "telemetry".into(), retention_policy: None, username: None,
//!               password: None, consistency: None },
//! );
//! let writer = InfluxWriter::new(&config)?;
//! writer.ensure_database("telemetry", None).await?;
//! let mut batcher = Batcher::new(config.batch);
//! batcher.push_line(b"sensor,id=1 temperature=21.5 1700000000000000000", Instant::now());
//! let (lines, _origins) = batcher.take();
//! writer.write(lines).await?;
//! # Ok(()) }
//! ```

mod batch;
mod classify;
mod config;
mod error;
mod influxql;
mod writer;

pub use batch::{Batcher, Lines, Origin};
pub use config::{Api, BatchLimits, Consistency, InfluxConfig, Precision};
pub use error::{ConfigError, EnsureError, WriteError};
pub use influxql::{duration_literal, quote_ident};
pub use writer::{check_url, InfluxWriter, RejectedLine, WriteReport};

#[cfg(feature = "fuzzing")]
pub(crate) use batch::newline_ranges;
#[cfg(feature = "fuzzing")]
pub(crate) use classify::{classify, parse_retry_after, Reply, Target};
