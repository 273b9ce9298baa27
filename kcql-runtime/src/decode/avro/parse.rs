//! Reading the JSON form of an Avro schema into [`AvroSchema`](super::AvroSchema)'s arena of
//! nodes: primitives, named types (and references to them), logical types, and each node's
//! smallest encoded size.

use super::*;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

#[derive(Default)]
pub(super) struct SchemaParser {
    pub(super) nodes: Vec<Node>,
    /// Full names (and full aliases) of named types.
    pub(super) names: HashMap<String, NodeId>,
}

fn invalid(what: impl Into<String>) -> AvroSchemaError {
    AvroSchemaError::Invalid(what.into())
}

fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int(None),
        "long" => Node::Long(None),
        "float" => Node::Float,
        "double" => Node::Double,
        "bytes" => Node::Bytes,
        "string" => Node::String,
        _ => return None,
    })
}

/// The full name of `name` inside namespace `ns`.
fn full_name(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// The namespace part of a full name.
fn namespace_of(full: &str) -> &str {
    full.rsplit_once('.').map_or("", |(ns, _)| ns)
}

impl SchemaParser {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub(super) fn parse(&mut self, j: &Json, ns: &str) -> Result<NodeId, AvroSchemaError> {
        match j {
            Json::String(name) => self.reference(name, ns),
            Json::Array(branches) => {
                let mut ids = Vec::with_capacity(branches.len());
                for b in branches {
                    let id = self.parse(b, ns)?;
                    if matches!(self.nodes[id], Node::Union(_)) {
                        return Err(invalid("a union may not directly contain another union"));
                    }
                    ids.push(id);
                }
                Ok(self.push(Node::Union(ids.into())))
            }
            Json::Object(m) => self.complex(m, ns),
            other => Err(invalid(format!("`{other}` is not a schema"))),
        }
    }

    /// A primitive type name or a reference to a named type defined earlier.
    fn reference(&mut self, name: &str, ns: &str) -> Result<NodeId, AvroSchemaError> {
        if let Some(node) = primitive(name) {
            return Ok(self.push(node));
        }
        self.names
            .get(&full_name(name, ns))
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| invalid(format!("unknown type `{name}`")))
    }

    fn complex(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let ty = m
            .get("type")
            .ok_or_else(|| invalid("a schema object has no `type`"))?;
        let logical = m.get("logicalType").and_then(Json::as_str);
        let base = match ty {
            Json::String(t) => match t.as_str() {
                "record" | "error" => return self.record(m, ns),
                "enum" => return self.enumeration(m, ns),
                "fixed" => return self.fixed(m, ns, logical),
                "array" => {
                    let items = m
                        .get("items")
                        .ok_or_else(|| invalid("an array schema has no `items`"))?;
                    let items = self.parse(items, ns)?;
                    return Ok(self.push(Node::Array(items)));
                }
                "map" => {
                    let values = m
                        .get("values")
                        .ok_or_else(|| invalid("a map schema has no `values`"))?;
                    let values = self.parse(values, ns)?;
                    return Ok(self.push(Node::Map(values)));
                }
                name => self.reference(name, ns)?,
            },
            nested => self.parse(nested, ns)?,
        };
        // Logical types on primitives. Primitive nodes are never shared, so they can be
        // rewritten in place; a logical type on a reference to a named type is ignored.
        if let Some(lt) = logical {
            let node = match (&self.nodes[base], lt) {
                (Node::Int(None), "date") => Node::Int(Some(LogicalType::Date)),
                (Node::Int(None), "time-millis") => Node::Int(Some(LogicalType::TimeMillis)),
                (Node::Long(None), _) => match long_logical(lt) {
                    Some(l) => Node::Long(Some(l)),
                    None => return Ok(base),
                },
                (Node::String, "uuid") => Node::UuidString,
                (Node::Bytes, "decimal") => match decimal_params(m) {
                    Some((precision, scale)) => Node::Decimal {
                        precision,
                        scale,
                        size: None,
                    },
                    None => return Ok(base),
                },
                _ => return Ok(base),
            };
            self.nodes[base] = node;
        }
        Ok(base)
    }

    /// The full name and aliases of a named type, and the namespace its members live in.
    fn names_of(
        &self,
        m: &Map<String, Json>,
        ns: &str,
    ) -> Result<(String, Vec<String>), AvroSchemaError> {
        let name = m
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("a named type has no `name`"))?;
        let space = match m.get("namespace") {
            Some(Json::String(s)) => s.as_str(),
            Some(Json::Null) | None => ns,
            Some(other) => return Err(invalid(format!("namespace `{other}` is not a string"))),
        };
        let full = full_name(name, space);
        let own_ns = namespace_of(&full).to_owned();
        let mut aliases = Vec::new();
        if let Some(list) = m.get("aliases") {
            let list = list
                .as_array()
                .ok_or_else(|| invalid(format!("aliases of `{full}` are not an array")))?;
            for a in list {
                let a = a
                    .as_str()
                    .ok_or_else(|| invalid(format!("an alias of `{full}` is not a string")))?;
                aliases.push(full_name(a, &own_ns));
            }
        }
        Ok((full, aliases))
    }

    fn define(
        &mut self,
        full: &str,
        aliases: &[String],
        id: NodeId,
    ) -> Result<(), AvroSchemaError> {
        for name in std::iter::once(full).chain(aliases.iter().map(String::as_str)) {
            if PRIMITIVES.contains(&name) {
                return Err(invalid(format!("`{name}` is a primitive type name")));
            }
            if self.names.insert(name.to_owned(), id).is_some() {
                return Err(invalid(format!("type `{name}` is defined twice")));
            }
        }
        Ok(())
    }

    fn record(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let id = self.push(Node::Pending);
        self.define(&full, &aliases, id)?;
        let inner_ns = namespace_of(&full).to_owned();
        let list = m
            .get("fields")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid(format!("record `{full}` has no `fields` array")))?;
        let mut fields: Vec<(Box<str>, NodeId)> = Vec::with_capacity(list.len());
        for f in list {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(format!("a field of record `{full}` has no `name`")))?;
            if fields.iter().any(|(n, _)| &**n == name) {
                return Err(invalid(format!("record `{full}` has two fields `{name}`")));
            }
            let ty = f
                .get("type")
                .ok_or_else(|| invalid(format!("field `{full}.{name}` has no `type`")))?;
            let ty = self
                .parse(ty, &inner_ns)
                .map_err(|e| invalid(format!("field `{full}.{name}`: {}", strip(e))))?;
            fields.push((name.into(), ty));
        }
        self.nodes[id] = Node::Record {
            fields: fields.into(),
        };
        Ok(id)
    }

    fn enumeration(&mut self, m: &Map<String, Json>, ns: &str) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let list = m
            .get("symbols")
            .and_then(Json::as_array)
            .ok_or_else(|| invalid(format!("enum `{full}` has no `symbols` array")))?;
        let symbols = list
            .iter()
            .map(|s| s.as_str().map(Box::from))
            .collect::<Option<Box<[Box<str>]>>>()
            .ok_or_else(|| invalid(format!("a symbol of enum `{full}` is not a string")))?;
        let id = self.push(Node::Enum { symbols });
        self.define(&full, &aliases, id)?;
        Ok(id)
    }

    fn fixed(
        &mut self,
        m: &Map<String, Json>,
        ns: &str,
        logical: Option<&str>,
    ) -> Result<NodeId, AvroSchemaError> {
        let (full, aliases) = self.names_of(m, ns)?;
        let size = m
            .get("size")
            .and_then(Json::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| invalid(format!("fixed `{full}` has no non-negative `size`")))?;
        let node = match logical {
            Some("decimal") => match decimal_params(m) {
                Some((precision, scale)) => Node::Decimal {
                    precision,
                    scale,
                    size: Some(size),
                },
                None => Node::Fixed(size),
            },
            Some("uuid") if size == 16 => Node::UuidFixed,
            Some("duration") if size == 12 => Node::Duration,
            _ => Node::Fixed(size),
        };
        let id = self.push(node);
        self.define(&full, &aliases, id)?;
        Ok(id)
    }
}

/// The message of a schema error, to nest it in another.
fn strip(e: AvroSchemaError) -> String {
    match e {
        AvroSchemaError::Json(s) | AvroSchemaError::Invalid(s) => s,
    }
}

fn long_logical(name: &str) -> Option<LogicalType> {
    Some(match name {
        "time-micros" => LogicalType::TimeMicros,
        "timestamp-millis" => LogicalType::TimestampMillis,
        "timestamp-micros" => LogicalType::TimestampMicros,
        "timestamp-nanos" => LogicalType::TimestampNanos,
        "local-timestamp-millis" => LogicalType::LocalTimestampMillis,
        "local-timestamp-micros" => LogicalType::LocalTimestampMicros,
        "local-timestamp-nanos" => LogicalType::LocalTimestampNanos,
        _ => return None,
    })
}

/// A decimal's precision and scale, or `None` when they are invalid (then the logical type is
/// ignored, as the specification says).
fn decimal_params(m: &Map<String, Json>) -> Option<(u32, u32)> {
    let precision = u32::try_from(m.get("precision")?.as_u64()?).ok()?;
    let scale = match m.get("scale") {
        None => 0,
        Some(s) => u32::try_from(s.as_u64()?).ok()?,
    };
    (precision >= 1 && scale <= precision).then_some((precision, scale))
}

/// A lower bound on the encoded size of every node. Only records depend on other nodes, so a
/// few passes settle; for a record that (impossibly) contains itself with no union or array to
/// end the recursion the bound stops growing after the last pass, and stays a lower bound.
pub(super) fn min_sizes(nodes: &[Node]) -> Vec<u32> {
    let mut min = vec![0u32; nodes.len()];
    for _ in 0..64 {
        let mut changed = false;
        for i in (0..nodes.len()).rev() {
            let size = match &nodes[i] {
                Node::Null | Node::Pending => 0,
                Node::Boolean
                | Node::Int(_)
                | Node::Long(_)
                | Node::Bytes
                | Node::String
                | Node::UuidString
                | Node::Enum { .. }
                | Node::Array(_)
                | Node::Map(_) => 1,
                Node::Union(branches) => u32::from(!branches.is_empty()),
                Node::Float => 4,
                Node::Double => 8,
                Node::UuidFixed => 16,
                Node::Duration => 12,
                Node::Fixed(size) => u32::try_from(*size).unwrap_or(u32::MAX),
                Node::Decimal { size, .. } => {
                    size.map_or(1, |s| u32::try_from(s).unwrap_or(u32::MAX))
                }
                Node::Record { fields } => fields
                    .iter()
                    .fold(0u32, |acc, (_, f)| acc.saturating_add(min[*f])),
            };
            if size != min[i] {
                min[i] = size;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    min
}
