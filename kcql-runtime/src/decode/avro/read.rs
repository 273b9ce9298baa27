//! Walking one Avro binary datum against a parsed schema into a [`Value`], with the hostile-input
//! limits of the [module documentation](super).

use super::*;

pub(super) struct Reader<'a> {
    pub(super) nodes: &'a [Node],
    pub(super) min_size: &'a [u32],
    pub(super) b: &'a [u8],
    pub(super) i: usize,
    pub(super) zero_items: usize,
}

impl<'a> Reader<'a> {
    fn truncated(&self, offset: usize, needed: u64) -> AvroError {
        AvroError::Truncated {
            offset,
            needed,
            len: self.b.len(),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], AvroError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|&end| end <= self.b.len())
            .ok_or_else(|| self.truncated(self.i, n as u64))?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    #[inline]
    fn long(&mut self) -> Result<i64, AvroError> {
        let start = self.i;
        let mut acc: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.b.get(self.i) else {
                return Err(self.truncated(self.i, 1));
            };
            self.i += 1;
            if shift == 63 && byte > 1 {
                return Err(AvroError::VarintOverflow { offset: start });
            }
            acc |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((acc >> 1) as i64 ^ -((acc & 1) as i64))
    }

    #[inline]
    fn int(&mut self) -> Result<i32, AvroError> {
        let offset = self.i;
        let value = self.long()?;
        i32::try_from(value).map_err(|_| AvroError::IntOutOfRange { offset, value })
    }

    /// A non-negative length.
    #[inline]
    fn len(&mut self) -> Result<u64, AvroError> {
        let offset = self.i;
        let len = self.long()?;
        u64::try_from(len).map_err(|_| AvroError::NegativeLength { offset, len })
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], AvroError> {
        let len = self.len()?;
        match usize::try_from(len) {
            Ok(n) => self.take(n),
            Err(_) => Err(self.truncated(self.i, len)),
        }
    }

    #[inline]
    fn str(&mut self) -> Result<&'a str, AvroError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| AvroError::InvalidUtf8 {
            offset: self.i - bytes.len() + e.valid_up_to(),
        })
    }

    /// A block count of an array or map whose items encode in at least `min` bytes each,
    /// checked against the remaining input; 0 ends the array or map.
    fn block(&mut self, min: u64) -> Result<usize, AvroError> {
        let offset = self.i;
        let n = self.long()?;
        if n < 0 {
            // A negative count is followed by the block's size in bytes.
            let size = self.len()?;
            if size > (self.b.len() - self.i) as u64 {
                return Err(self.truncated(self.i, size));
            }
        }
        let count = n.unsigned_abs();
        if count == 0 {
            return Ok(0);
        }
        if min > 0 {
            let needed = count.saturating_mul(min);
            if needed > (self.b.len() - self.i) as u64 {
                return Err(self.truncated(offset, needed));
            }
        } else if count > (MAX_ZERO_SIZE_ITEMS - self.zero_items) as u64 {
            // Each item counts itself (`zero_byte_value`) as it is read; refuse a count that
            // cannot fit before reserving room for it.
            return Err(AvroError::TooManyItems { offset });
        }
        // Bounded by the input length or by MAX_ZERO_SIZE_ITEMS, both of which fit usize.
        Ok(count as usize)
    }

    /// Counts one value that takes no bytes (a `null`, an empty `fixed`, a record of such)
    /// against [`MAX_ZERO_SIZE_ITEMS`]: the input's length bounds every other value, this
    /// budget bounds these, wherever they are (array items, record fields).
    #[inline]
    fn zero_byte_value(&mut self) -> Result<(), AvroError> {
        if self.zero_items == MAX_ZERO_SIZE_ITEMS {
            return Err(AvroError::TooManyItems { offset: self.i });
        }
        self.zero_items += 1;
        Ok(())
    }

    pub(super) fn value(&mut self, id: NodeId, depth: usize) -> Result<Value<'a>, AvroError> {
        let nodes = self.nodes;
        if self.min_size[id] == 0 {
            self.zero_byte_value()?;
        }
        Ok(match &nodes[id] {
            Node::Null | Node::Pending => Value::Null,
            Node::Boolean => match self.take(1)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                byte => {
                    return Err(AvroError::BadBoolean {
                        offset: self.i - 1,
                        byte,
                    })
                }
            },
            Node::Int(_) => Value::Int(i64::from(self.int()?)),
            Node::Long(_) => Value::Int(self.long()?),
            Node::Float => {
                let b = self.take(4)?;
                Value::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Node::Double => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float(f64::from_le_bytes(a))
            }
            Node::Bytes => Value::Bytes(Cow::Borrowed(self.bytes()?)),
            Node::String | Node::UuidString => Value::Str(Cow::Borrowed(self.str()?)),
            Node::UuidFixed => Value::Str(Cow::Owned(uuid_text(self.take(16)?))),
            Node::Fixed(size) => Value::Bytes(Cow::Borrowed(self.take(*size)?)),
            Node::Enum { symbols } => {
                let offset = self.i;
                let index = self.long()?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or(AvroError::BadEnumIndex {
                        offset,
                        index,
                        symbols: symbols.len(),
                    })?;
                Value::Str(Cow::Borrowed(symbol))
            }
            Node::Decimal { scale, size, .. } => {
                let offset = self.i;
                let raw = match size {
                    Some(n) => self.take(*n)?,
                    None => self.bytes()?,
                };
                let offset = if size.is_some() {
                    offset
                } else {
                    self.i - raw.len()
                };
                Value::Float(
                    decimal_to_f64(raw, *scale).ok_or(AvroError::DecimalTooWide { offset })?,
                )
            }
            Node::Duration => {
                let b = self.take(12)?;
                let part = |k: usize| {
                    Value::Int(i64::from(u32::from_le_bytes([
                        b[k],
                        b[k + 1],
                        b[k + 2],
                        b[k + 3],
                    ])))
                };
                Value::Object(vec![
                    (Cow::Borrowed("months"), part(0)),
                    (Cow::Borrowed("days"), part(4)),
                    (Cow::Borrowed("millis"), part(8)),
                ])
            }
            Node::Record { fields } => {
                self.enter(depth)?;
                let mut out = Vec::with_capacity(fields.len());
                for (name, field) in fields.iter() {
                    out.push((Cow::Borrowed(&**name), self.value(*field, depth + 1)?));
                }
                Value::Object(out)
            }
            Node::Array(item) => {
                self.enter(depth)?;
                let mut out = Vec::new();
                loop {
                    let count = self.block(u64::from(self.min_size[*item]))?;
                    if count == 0 {
                        break;
                    }
                    out.reserve(count);
                    for _ in 0..count {
                        out.push(self.value(*item, depth + 1)?);
                    }
                }
                Value::Array(out)
            }
            Node::Map(values) => {
                self.enter(depth)?;
                let mut out = Vec::new();
                loop {
                    // An entry is a key (at least its length byte) and a value.
                    let count = self.block(1 + u64::from(self.min_size[*values]))?;
                    if count == 0 {
                        break;
                    }
                    out.reserve(count);
                    for _ in 0..count {
                        let key = self.str()?;
                        out.push((Cow::Borrowed(key), self.value(*values, depth + 1)?));
                    }
                }
                Value::Object(out)
            }
            Node::Union(branches) => {
                // A union's branch is never a union, so it needs no depth of its own.
                let offset = self.i;
                let index = self.long()?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or(AvroError::BadUnionIndex {
                        offset,
                        index,
                        branches: branches.len(),
                    })?;
                self.value(*branch, depth)?
            }
        })
    }

    #[inline]
    fn enter(&self, depth: usize) -> Result<(), AvroError> {
        if depth >= MAX_DEPTH {
            Err(AvroError::TooDeep { offset: self.i })
        } else {
            Ok(())
        }
    }
}

/// A big-endian two's-complement unscaled integer over 10^scale, or `None` when it does not fit
/// 128 bits.
fn decimal_to_f64(raw: &[u8], scale: u32) -> Option<f64> {
    let Some(&first) = raw.first() else {
        return Some(0.0);
    };
    let fill = if first & 0x80 != 0 { 0xff } else { 0x00 };
    // Drop sign-extension bytes that do not change the value.
    let mut s = raw;
    while s.len() > 16 && s[0] == fill && (s[1] & 0x80) == (fill & 0x80) {
        s = &s[1..];
    }
    if s.len() > 16 {
        return None;
    }
    let mut buf = [fill; 16];
    buf[16 - s.len()..].copy_from_slice(s);
    let unscaled = i128::from_be_bytes(buf) as f64;
    // 10^scale is exact in f64 up to 10^22; beyond that the quotient is rounded twice.
    Some(unscaled / 10f64.powi(scale.min(400) as i32))
}

/// The canonical text of a 16-byte UUID: lowercase hex, hyphenated 8-4-4-4-12.
fn uuid_text(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(HEX[usize::from(byte >> 4)] as char);
        s.push(HEX[usize::from(byte & 0xf)] as char);
    }
    s
}
