//! # kcql
//!
//! A parser, validator, canonical printer and compiler for **KCQL**, the SQL-like Kafka Connect
//! Query Language of Lenses' Stream Reactor connectors.
//!
//! ```
//! let stmt = kcql::parse(
//!     "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP sys_time() WITHTAG(id, poweredBy=kcql)",
//! ).unwrap();
//! assert_eq!(stmt.target(), Some("sensor"));
//! assert_eq!(stmt.source, "sensor_avg");
//! assert_eq!(
//!     stmt.to_string(),
//!     "INSERT INTO sensor SELECT * FROM sensor_avg WITHTIMESTAMP sys_time() WITHTAG (id, poweredBy = kcql)"
//! );
//! ```
//!
//! Every clause of the reference grammar parses with the reference's meaning; where the
//! reference silently ignores or drops input, this crate reports a [`Diagnostic`] with a span,
//! what was expected and a suggestion:
//!
//! ```
//! let err = kcql::parse("INSERT INTO t SELECT * FROM s WITHTAGS(a)").unwrap_err();
//! assert!(err.to_string().contains("did you mean `WITHTAG`?"));
//! ```
//!
//! Statements compile into a typed routing plan for one connector ([`compile`], [`plan`]):
//!
//! ```
//! let plan = kcql::compile_str(
//!     "INSERT INTO sensor SELECT * FROM sensor_avg WITHTAG(id)",
//!     kcql::Connector::InfluxSink,
//! )
//! .unwrap();
//! assert!(matches!(plan, kcql::Plan::Influx(_)));
//! ```
//!
//! The crate does no I/O. Modules: [`lex`] (tokens), [`mod@parse`] (statements), [`ast`] (the
//! tree), [`mod@reference`] (the reference implementation's view: field lists, tags, defaults),
//! [`plan`] (compiling statements for a connector), [`functions`] (the scalar and aggregate
//! functions of the extensions), [`diag`] (errors and rendering), [`keyword`] (keywords,
//! suggestions and the edit distance), [`span`] (byte spans).

#![warn(missing_docs)]
// `Statement` (the Ok side) is larger than `Diagnostic`, so boxing the error would save nothing.
#![allow(clippy::result_large_err)]

pub mod ast;
pub mod diag;
pub mod functions;
pub mod keyword;
pub mod lex;
pub mod parse;
pub mod plan;
mod print;
pub mod reference;
pub mod span;
mod validate;

pub use ast::*;
pub use diag::{Diagnostic, Diagnostics, ErrorKind, Stage};
pub use functions::Function;
pub use keyword::ClauseKind;
pub use parse::{parse, parse_many};
pub use plan::{compile, compile_str, Connector, Plan};
pub use reference::{Field, FieldType, SelectedFields, TargetType};
pub use span::Span;
