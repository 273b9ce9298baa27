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
//! Statements compile into a typed routing plan for one connector ([`compile_influx`],
//! [`compile_mqtt`], [`compile_processor`]; [`compile_str`] and [`compile`] for a connector
//! chosen at run time; [`plan`]):
//!
//! ```
//! let plan = kcql::compile_influx("INSERT INTO sensor SELECT * FROM sensor_avg WITHTAG(id)")
//!     .unwrap();
//! assert_eq!(plan.topics(), ["sensor_avg"]);
//! let any = kcql::compile_str("INSERT INTO m SELECT * FROM t", kcql::Connector::InfluxSink).unwrap();
//! assert!(matches!(any, kcql::Plan::Influx(_)));
//! ```
//!
//! The crate does no I/O. Public modules, in the order data flows through them:
//!
//! - [`lex`]: tokens (words, backticked names, strings, punctuation) with byte spans.
//! - [`mod@parse`]: statements: [`parse()`], [`parse_many`], and [`parse::MAX_EXPR_DEPTH`]. Every
//!   parse also runs the reference's semantic checks (duplicate fields, `_.` paths, the
//!   extensions' function, aggregate and grouping rules).
//! - [`ast`]: the tree ([`Statement`] and its clauses); serde-serializable. `Display` on it is
//!   the canonical printer: `parse(&stmt.to_string())` gives `stmt` back.
//! - [`mod@reference`]: the reference implementation's view of a statement: field lists, tags,
//!   defaults ([`SelectedFields`], [`Field`], [`TargetType`]).
//! - [`plan`]: compiling statements for a connector ([`compile_influx`], [`compile_mqtt`],
//!   [`compile_processor`], [`compile`], [`compile_str`], [`Connector`], [`Plan`]), and
//!   describing a plan as text, Graphviz or Mermaid ([`plan::explain`]).
//! - [`functions`]: the scalar and aggregate functions of the extensions ([`Function`]).
//! - [`diag`]: errors and their rendering ([`Diagnostic`], [`Diagnostics`], [`ErrorKind`],
//!   [`Stage`]).
//! - [`keyword`]: keywords, clause kinds ([`ClauseKind`]), suggestions and the edit distance.
//! - [`span`]: byte spans ([`Span`]), kept out of AST equality.
//!
//! Two private modules serve them: `validate` (the checks every parse runs) and `print` (the
//! canonical printer behind `Display`).

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
pub use plan::{
    compile, compile_influx, compile_mqtt, compile_processor, compile_str, Connector, Plan,
};
pub use reference::{Field, FieldType, SelectedFields, TargetType};
pub use span::Span;
