//! Encoders from the value model to payload formats (the counterpart of [`crate::decode`]).

pub mod avro;
pub mod json;
pub mod output;

pub use output::{EncodeError, OutputEncoder, OutputFormatError};
