//! How a connector names the format of a record's key or value: our `…format` key (`json`,
//! `string`, `bytes`, `avro`, `confluent_avro`) or the Kafka Connect converter class that
//! stands for it (`value.converter = io.confluent.connect.avro.AvroConverter`). The sink
//! reads with it, the MQTT source writes with it; both spellings given must agree.

use super::reader::{KeyError, Reader};
use crate::decode::Format;

/// What the two keys of one part say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartFormat {
    /// The format in use: the format key's, else the converter's; `None` when neither is
    /// given (or valid).
    pub format: Option<Format>,
    /// The format the converter class stands for, when one is given.
    pub converter: Option<Format>,
}

/// Reads `format_key` and `converter_key`; a value neither knows is reported with the
/// accepted ones, and two that disagree are reported on `converter_key` (the format key
/// wins). `verb` says what the converter does in that message (`reads`, `writes`).
pub fn read_part_format<E: From<KeyError>>(
    r: &mut Reader<'_, E>,
    format_key: &'static str,
    converter_key: &'static str,
    verb: &str,
) -> PartFormat {
    let named = choice(r, format_key, Format::from_name, &Format::NAMES.join(", "));
    let classes = Format::CONVERTERS.map(|(c, _)| c).join(", ");
    let converter = choice(r, converter_key, Format::of_converter, &classes);
    let format = match (named, converter) {
        (Some(n), Some(c)) if n != c => {
            r.invalid(
                converter_key,
                format!(
                    "{converter_key} {verb} {c:?} but {format_key} says {n:?}: give one of them"
                ),
            );
            Some(n)
        }
        (n, c) => n.or(c),
    };
    PartFormat { format, converter }
}

/// The value of `key` read by `parse`; a value it refuses is reported with the `choices`.
fn choice<E: From<KeyError>>(
    r: &mut Reader<'_, E>,
    key: &'static str,
    parse: fn(&str) -> Option<Format>,
    choices: &str,
) -> Option<Format> {
    let v = r.optional(key)?;
    let chosen = parse(&v);
    if chosen.is_none() {
        r.invalid(key, format!("{key} must be one of {choices}, got `{v}`"));
    }
    chosen
}
