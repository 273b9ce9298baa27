use super::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Hand encoding

/// A zigzag varint `long` (also `int`, lengths, counts and indexes).
fn long(n: i64) -> Vec<u8> {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn string(s: &str) -> Vec<u8> {
    [long(s.len() as i64), s.as_bytes().to_vec()].concat()
}

fn schema(json: &str) -> AvroSchema {
    AvroSchema::parse(json).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn s(x: &str) -> Value<'static> {
    Value::Str(Cow::Owned(x.to_owned()))
}

fn obj(members: Vec<(&str, Value<'static>)>) -> Value<'static> {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.to_owned()), v))
            .collect(),
    )
}

#[test]
fn zigzag_encoding_matches_the_specification() {
    assert_eq!(long(0), [0x00]);
    assert_eq!(long(-1), [0x01]);
    assert_eq!(long(1), [0x02]);
    assert_eq!(long(-64), [0x7f]);
    assert_eq!(long(64), [0x80, 0x01]);
    assert_eq!(long(i64::MIN).len(), 10);
}

// ---------------------------------------------------------------------------------------------
// Every type

#[test]
fn primitives() {
    let null = schema(r#""null""#);
    assert_eq!(null.decode(b""), Ok(Value::Null));
    assert_eq!(
        null.decode(&[0]),
        Err(AvroError::TrailingBytes {
            offset: 0,
            count: 1
        })
    );

    let boolean = schema(r#"{"type": "boolean"}"#);
    assert_eq!(boolean.decode(&[1]), Ok(Value::Bool(true)));
    assert_eq!(boolean.decode(&[0]), Ok(Value::Bool(false)));
    assert_eq!(
        boolean.decode(&[2]),
        Err(AvroError::BadBoolean { offset: 0, byte: 2 })
    );

    let int = schema(r#""int""#);
    for n in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
        assert_eq!(int.decode(&long(n.into())), Ok(Value::Int(n.into())));
    }
    assert_eq!(
        int.decode(&long(i64::from(i32::MAX) + 1)),
        Err(AvroError::IntOutOfRange {
            offset: 0,
            value: i64::from(i32::MAX) + 1
        })
    );

    let lng = schema(r#""long""#);
    for n in [0, 1, -1, i64::from(i32::MIN) - 1, i64::MAX, i64::MIN] {
        assert_eq!(lng.decode(&long(n)), Ok(Value::Int(n)));
    }

    let float = schema(r#""float""#);
    assert_eq!(float.decode(&1.5f32.to_le_bytes()), Ok(Value::Float(1.5)));
    assert_eq!(
        float.decode(&0.1f32.to_le_bytes()),
        Ok(Value::Float(f64::from(0.1f32)))
    );
    let double = schema(r#""double""#);
    assert_eq!(
        double.decode(&25.3f64.to_le_bytes()),
        Ok(Value::Float(25.3))
    );
    assert!(matches!(double.decode(&f64::NAN.to_le_bytes()), Ok(Value::Float(f)) if f.is_nan()));

    let bytes = schema(r#""bytes""#);
    let datum = [&long(3)[..], &[0, 0xff, 7]].concat();
    let v = bytes.decode(&datum).unwrap();
    assert!(matches!(&v, Value::Bytes(Cow::Borrowed(b)) if *b == [0, 0xff, 7]));

    let text = schema(r#""string""#);
    let datum = string("café ☕");
    let v = text.decode(&datum).unwrap();
    assert!(matches!(&v, Value::Str(Cow::Borrowed("café ☕"))));
    assert_eq!(text.decode(&long(0)), Ok(s("")));
}

#[test]
fn records_nested_and_named_references() {
    let sch = schema(
        r#"{"type": "record", "name": "Sensor", "namespace": "com.example", "fields": [
            {"name": "id", "type": "string"},
            {"name": "loc", "type": {"type": "record", "name": "Point", "fields": [
                {"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}},
            {"name": "home", "type": "com.example.Point"},
            {"name": "prev", "type": "Point"},
            {"name": "other", "type": {"type": "record", "name": "x.Other", "fields": [
                {"name": "p", "type": "com.example.Point"},
                {"name": "q", "type": ["null", "Other"]}]}},
            {"name": "empty", "type": {"type": "record", "name": "Empty", "fields": []}}
        ]}"#,
    );
    let point = |lat: f64, lon: f64| [lat.to_le_bytes(), lon.to_le_bytes()].concat();
    let datum = [
        string("SB01"),
        point(1.0, 2.0),
        point(3.0, 4.0),
        point(5.0, 6.0),
        point(7.0, 8.0),
        long(1), // q: Other
        point(9.0, 10.0),
        long(0), // q: null
    ]
    .concat();
    let pv = |lat, lon| obj(vec![("lat", Value::Float(lat)), ("lon", Value::Float(lon))]);
    let v = sch.decode(&datum).unwrap();
    assert_eq!(
        v,
        obj(vec![
            ("id", s("SB01")),
            ("loc", pv(1.0, 2.0)),
            ("home", pv(3.0, 4.0)),
            ("prev", pv(5.0, 6.0)),
            (
                "other",
                obj(vec![
                    ("p", pv(7.0, 8.0)),
                    ("q", obj(vec![("p", pv(9.0, 10.0)), ("q", Value::Null)]))
                ])
            ),
            ("empty", obj(vec![])),
        ])
    );
    // Field names borrow from the schema.
    let Value::Object(members) = &v else { panic!() };
    assert!(members.iter().all(|(k, _)| matches!(k, Cow::Borrowed(_))));
}

#[test]
fn arrays_in_several_blocks_with_negative_counts() {
    let sch = schema(r#"{"type": "array", "items": "long"}"#);
    let datum = [
        long(2),
        long(1),
        long(2),
        long(-2), // negative count: a byte size follows
        long(2),
        long(3),
        long(4),
        long(1),
        long(-5),
        long(0),
    ]
    .concat();
    assert_eq!(
        sch.decode(&datum),
        Ok(Value::Array(
            [1, 2, 3, 4, -5].into_iter().map(Value::Int).collect()
        ))
    );
    assert_eq!(sch.decode(&long(0)), Ok(Value::Array(vec![])));
    // A negative byte size.
    assert_eq!(
        sch.decode(&[long(-1), long(-5), long(1), long(0)].concat()),
        Err(AvroError::NegativeLength { offset: 1, len: -5 })
    );
    // A byte size beyond the input.
    assert!(matches!(
        sch.decode(&[long(-1), long(100), long(1), long(0)].concat()),
        Err(AvroError::Truncated {
            offset: 3,
            needed: 100,
            ..
        })
    ));
    // No terminating zero block.
    assert!(matches!(
        sch.decode(&[long(1), long(1)].concat()),
        Err(AvroError::Truncated { offset: 2, .. })
    ));

    let nested = schema(r#"{"type": "array", "items": {"type": "array", "items": "string"}}"#);
    let datum = [
        long(2),
        [long(1), string("a"), long(0)].concat(),
        [long(-2), long(4), string("b"), string("c"), long(0)].concat(),
        long(0),
    ]
    .concat();
    assert_eq!(
        nested.decode(&datum),
        Ok(Value::Array(vec![
            Value::Array(vec![s("a")]),
            Value::Array(vec![s("b"), s("c")]),
        ]))
    );
}

#[test]
fn maps_in_several_blocks_keep_payload_order() {
    let sch = schema(r#"{"type": "map", "values": "int"}"#);
    let datum = [
        long(2),
        string("b"),
        long(1),
        string("a"),
        long(2),
        long(-1),
        long(3),
        string("c"),
        long(3),
        long(1),
        string("a"),
        long(4),
        long(0),
    ]
    .concat();
    let v = sch.decode(&datum).unwrap();
    assert_eq!(
        v,
        obj(vec![
            ("b", Value::Int(1)),
            ("a", Value::Int(2)),
            ("c", Value::Int(3)),
            ("a", Value::Int(4)),
        ])
    );
    // Repeated keys are kept; lookups see the last one.
    assert_eq!(v.get("a"), Some(&Value::Int(4)));
    let Value::Object(members) = &v else { panic!() };
    assert!(members.iter().all(|(k, _)| matches!(k, Cow::Borrowed(_))));
    assert_eq!(
        sch.decode(&[long(1), vec![2, 0xc3], long(1), long(0)].concat()),
        Err(AvroError::InvalidUtf8 { offset: 2 })
    );
}

#[test]
fn unions() {
    let sch = schema(r#"["null", "string", {"type": "array", "items": "int"}]"#);
    assert_eq!(sch.decode(&long(0)), Ok(Value::Null));
    assert_eq!(sch.decode(&[long(1), string("x")].concat()), Ok(s("x")));
    assert_eq!(
        sch.decode(&[long(2), long(1), long(7), long(0)].concat()),
        Ok(Value::Array(vec![Value::Int(7)]))
    );
    assert_eq!(
        sch.decode(&long(3)),
        Err(AvroError::BadUnionIndex {
            offset: 0,
            index: 3,
            branches: 3
        })
    );
    assert_eq!(
        sch.decode(&long(-1)),
        Err(AvroError::BadUnionIndex {
            offset: 0,
            index: -1,
            branches: 3
        })
    );
    let empty = schema("[]");
    assert!(matches!(
        empty.decode(&long(0)),
        Err(AvroError::BadUnionIndex { branches: 0, .. })
    ));
}

#[test]
fn enums_are_symbol_names() {
    let sch = schema(
        r#"{"type": "record", "name": "R", "fields": [
            {"name": "c", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
            {"name": "d", "type": "Color"}]}"#,
    );
    let datum = [long(1), long(0)].concat();
    let v = sch.decode(&datum).unwrap();
    assert_eq!(v, obj(vec![("c", s("GREEN")), ("d", s("RED"))]));
    assert!(matches!(
        v.get("c"),
        Some(Value::Str(Cow::Borrowed("GREEN")))
    ));
    assert_eq!(
        sch.decode(&[long(0), long(2)].concat()),
        Err(AvroError::BadEnumIndex {
            offset: 1,
            index: 2,
            symbols: 2
        })
    );
}

#[test]
fn fixed() {
    let sch = schema(r#"{"type": "fixed", "name": "F4", "size": 4}"#);
    let v = sch.decode(&[1, 2, 3, 4]).unwrap();
    assert!(matches!(&v, Value::Bytes(Cow::Borrowed(b)) if *b == [1, 2, 3, 4]));
    assert_eq!(
        sch.decode(&[1, 2, 3]),
        Err(AvroError::Truncated {
            offset: 0,
            needed: 4,
            len: 3
        })
    );
    let zero = schema(r#"{"type": "fixed", "name": "F0", "size": 0}"#);
    assert_eq!(zero.decode(b""), Ok(Value::Bytes(Cow::Borrowed(b""))));
}

// ---------------------------------------------------------------------------------------------
// Logical types

const LOGICAL: &str = r#"{"type": "record", "name": "L", "fields": [
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "neg", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}},
    {"name": "big", "type": {"type": "fixed", "name": "D8", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 3}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "raw_id", "type": {"type": "fixed", "name": "U16", "size": 16, "logicalType": "uuid"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "ts_ns", "type": {"type": "long", "logicalType": "timestamp-nanos"}},
    {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "lts_ns", "type": {"type": "long", "logicalType": "local-timestamp-nanos"}},
    {"name": "span", "type": {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}},
    {"name": "bad_decimal", "type": {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 3}},
    {"name": "unknown", "type": {"type": "string", "logicalType": "color"}},
    {"name": "ts_on_int", "type": {"type": "int", "logicalType": "timestamp-millis"}}
]}"#;

#[test]
fn logical_types() {
    let sch = schema(LOGICAL);
    let datum = [
        [long(2), vec![0x30, 0x39]].concat(), // 12345
        [long(1), vec![0xff]].concat(),       // -1
        (-1_234_567i64).to_be_bytes().to_vec(),
        string("123e4567-e89b-12d3-a456-426614174000"),
        (0u8..16).collect(),
        long(19_000),
        long(3_600_000),
        long(3_600_000_000),
        long(1_700_000_000_000),
        [long(1), long(1_700_000_000_000_000)].concat(),
        long(1_700_000_000_000_000_000),
        long(1),
        long(2),
        long(3),
        [1u32.to_le_bytes(), 2u32.to_le_bytes(), 3u32.to_le_bytes()].concat(),
        [long(1), vec![9]].concat(),
        string("blue"),
        long(-5),
    ]
    .concat();
    let v = sch.decode(&datum).unwrap();
    let expected = obj(vec![
        ("price", Value::Float(123.45)),
        ("neg", Value::Float(-0.01)),
        ("big", Value::Float(-1234.567)),
        ("id", s("123e4567-e89b-12d3-a456-426614174000")),
        ("raw_id", s("00010203-0405-0607-0809-0a0b0c0d0e0f")),
        ("day", Value::Int(19_000)),
        ("t_ms", Value::Int(3_600_000)),
        ("t_us", Value::Int(3_600_000_000)),
        ("ts_ms", Value::Int(1_700_000_000_000)),
        ("ts_us", Value::Int(1_700_000_000_000_000)),
        ("ts_ns", Value::Int(1_700_000_000_000_000_000)),
        ("lts_ms", Value::Int(1)),
        ("lts_us", Value::Int(2)),
        ("lts_ns", Value::Int(3)),
        (
            "span",
            obj(vec![
                ("months", Value::Int(1)),
                ("days", Value::Int(2)),
                ("millis", Value::Int(3)),
            ]),
        ),
        ("bad_decimal", Value::Bytes(Cow::Owned(vec![9]))),
        ("unknown", s("blue")),
        ("ts_on_int", Value::Int(-5)),
    ]);
    assert_eq!(v, expected);

    use LogicalType as L;
    let lt = |f: &str| sch.logical_type(&[f]);
    assert_eq!(
        lt("price"),
        Some(L::Decimal {
            precision: 10,
            scale: 2
        })
    );
    assert_eq!(lt("id"), Some(L::Uuid));
    assert_eq!(lt("raw_id"), Some(L::Uuid));
    assert_eq!(lt("day"), Some(L::Date));
    assert_eq!(lt("t_ms"), Some(L::TimeMillis));
    assert_eq!(lt("t_us"), Some(L::TimeMicros));
    assert_eq!(lt("ts_ms"), Some(L::TimestampMillis));
    assert_eq!(
        lt("ts_us"),
        Some(L::TimestampMicros),
        "through a nullable union"
    );
    assert_eq!(lt("ts_ns"), Some(L::TimestampNanos));
    assert_eq!(lt("lts_ms"), Some(L::LocalTimestampMillis));
    assert_eq!(lt("lts_us"), Some(L::LocalTimestampMicros));
    assert_eq!(lt("lts_ns"), Some(L::LocalTimestampNanos));
    assert_eq!(lt("span"), Some(L::Duration));
    assert_eq!(lt("bad_decimal"), None);
    assert_eq!(lt("unknown"), None);
    assert_eq!(lt("ts_on_int"), None);
    assert_eq!(lt("missing"), None);
    assert_eq!(sch.logical_type(&["ts_ms", "deeper"]), None);
    assert_eq!(L::TimestampMicros.to_string(), "timestamp-micros");
}

#[test]
fn wide_decimals() {
    let sch = schema(
        r#"{"type": "fixed", "name": "D20", "size": 20, "logicalType": "decimal", "precision": 40, "scale": 2}"#,
    );
    // Sign extension beyond 16 bytes is harmless.
    assert_eq!(sch.decode(&[0xff; 20]), Ok(Value::Float(-0.01)));
    let mut datum = [0u8; 20];
    datum[19] = 1;
    assert_eq!(sch.decode(&datum), Ok(Value::Float(0.01)));
    // 0x00 then 0xff... is positive and needs all 17 significant bytes.
    let mut datum = [0xffu8; 20];
    datum[..3].fill(0);
    assert_eq!(
        sch.decode(&datum),
        Err(AvroError::DecimalTooWide { offset: 0 })
    );
    datum[3] = 0; // 0x00 0x00 0x00 0x00 0x7f 0xff..: i128::MAX
    datum[4] = 0x7f;
    assert_eq!(
        sch.decode(&datum),
        Ok(Value::Float(i128::MAX as f64 / 100.0))
    );
    let bytes = schema(r#"{"type": "bytes", "logicalType": "decimal", "precision": 3}"#);
    assert_eq!(bytes.decode(&long(0)), Ok(Value::Float(0.0)));
    assert_eq!(
        bytes.decode(&[long(17), vec![1; 17]].concat()),
        Err(AvroError::DecimalTooWide { offset: 1 })
    );
}

// ---------------------------------------------------------------------------------------------
// Recursion and limits

const LIST: &str = r#"{"type": "record", "name": "Node", "fields": [
    {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}"#;

fn list_datum(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend(long(i as i64));
        out.extend(long(if i + 1 < n { 1 } else { 0 }));
    }
    out
}

#[test]
fn recursive_schemas() {
    let sch = schema(LIST);
    assert_eq!(
        sch.decode(&list_datum(3)),
        Ok(obj(vec![
            ("v", Value::Int(0)),
            (
                "next",
                obj(vec![
                    ("v", Value::Int(1)),
                    (
                        "next",
                        obj(vec![("v", Value::Int(2)), ("next", Value::Null)])
                    ),
                ])
            ),
        ]))
    );
    assert!(sch.decode(&list_datum(MAX_DEPTH)).is_ok());
    assert!(matches!(
        sch.decode(&list_datum(MAX_DEPTH + 1)),
        Err(AvroError::TooDeep { .. })
    ));
    assert!(matches!(
        sch.decode(&list_datum(100_000)),
        Err(AvroError::TooDeep { .. })
    ));

    // Mutual recursion through an array, with the reference inside a nested definition.
    let tree = schema(
        r#"{"type": "record", "name": "Tree", "namespace": "t", "fields": [
            {"name": "kids", "type": {"type": "array", "items": {"type": "record", "name": "Kid",
                "fields": [{"name": "tree", "type": "t.Tree"}]}}}]}"#,
    );
    let datum = [long(1), long(0), long(0)].concat(); // one kid with an empty tree
    assert_eq!(
        tree.decode(&datum),
        Ok(obj(vec![(
            "kids",
            Value::Array(vec![obj(vec![(
                "tree",
                obj(vec![("kids", Value::Array(vec![]))])
            )])])
        )]))
    );
}

#[test]
fn hostile_lengths_and_counts_fail_without_allocating() {
    let text = schema(r#""string""#);
    for len in [1i64 << 40, i64::MAX] {
        assert!(matches!(
            text.decode(&[long(len), b"abc".to_vec()].concat()),
            Err(AvroError::Truncated { offset, needed, len: 7.. })
                if offset > 0 && needed == len as u64
        ));
    }
    assert_eq!(
        text.decode(&long(-1)),
        Err(AvroError::NegativeLength { offset: 0, len: -1 })
    );
    assert_eq!(
        text.decode(&[0xff; 11]),
        Err(AvroError::VarintOverflow { offset: 0 })
    );
    assert_eq!(
        text.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
        Err(AvroError::VarintOverflow { offset: 0 })
    );
    assert!(matches!(
        text.decode(&[0x80]),
        Err(AvroError::Truncated { offset: 1, .. })
    ));

    let longs = schema(r#"{"type": "array", "items": "long"}"#);
    for count in [1i64 << 50, i64::MAX, i64::MIN, -(1 << 50)] {
        let datum = [long(count), long(0), long(1), long(0)].concat();
        let r = longs.decode(&datum);
        assert!(
            matches!(r, Err(AvroError::Truncated { .. })),
            "{count}: {r:?}"
        );
    }
    let maps = schema(r#"{"type": "map", "values": "null"}"#);
    assert!(matches!(
        maps.decode(&[long(1 << 40), string("k"), long(0)].concat()),
        Err(AvroError::Truncated { offset: 0, .. })
    ));

    // Items of zero bytes: bounded by a budget, not by the input.
    let nulls = schema(r#"{"type": "array", "items": "null"}"#);
    let datum = [long(MAX_ZERO_SIZE_ITEMS as i64 - 1), long(1), long(0)].concat();
    let ok = nulls.decode(&datum).unwrap();
    assert!(matches!(ok, Value::Array(v) if v.len() == MAX_ZERO_SIZE_ITEMS));
    assert_eq!(
        nulls.decode(&[long(MAX_ZERO_SIZE_ITEMS as i64), long(1), long(0)].concat()),
        Err(AvroError::TooManyItems { offset: 3 })
    );
    assert_eq!(
        nulls.decode(&[long(i64::MAX), long(0)].concat()),
        Err(AvroError::TooManyItems { offset: 0 })
    );
    let empties = schema(
        r#"{"type": "array", "items": {"type": "record", "name": "E", "fields": [{"name": "n", "type": "null"}]}}"#,
    );
    assert_eq!(
        empties.decode(&[long(1 << 40), long(0)].concat()),
        Err(AvroError::TooManyItems { offset: 0 })
    );
}

/// A record of `fan` fields, each a record of `fan` fields, … `levels` deep, over `null`s: a
/// datum of zero bytes that decodes to `fan^levels` nulls. Only the first field of each
/// level spells its type out; the others name it.
fn fan_out(fan: usize, levels: usize) -> String {
    let mut ty = r#""null""#.to_string();
    for level in 0..levels {
        let fields: Vec<String> = (0..fan)
            .map(|i| {
                let t = match i {
                    0 => ty.clone(),
                    _ if level == 0 => r#""null""#.to_string(),
                    _ => format!(r#""R{}""#, level - 1),
                };
                format!(r#"{{"name": "f{i}", "type": {t}}}"#)
            })
            .collect();
        ty = format!(
            r#"{{"type": "record", "name": "R{level}", "fields": [{}]}}"#,
            fields.join(", ")
        );
    }
    ty
}

#[test]
fn zero_byte_values_in_records_share_the_budget() {
    // Found while writing the `avro_decode` fuzz target: eight levels of ten fields is a
    // 3 KB schema whose empty datum decoded to 10^8 nulls (gigabytes, minutes). Every value
    // that takes no bytes counts against MAX_ZERO_SIZE_ITEMS, not only array items.
    // (The values are not printed when the assertion fails: they are what is too large.)
    let outcome = |levels| schema(&fan_out(10, levels)).decode(b"").map(|_| "decoded");
    assert_eq!(outcome(5), Err(AvroError::TooManyItems { offset: 0 }));
    assert!(fan_out(10, 8).len() < 4096);
    assert_eq!(outcome(8), Err(AvroError::TooManyItems { offset: 0 }));
    // 10^4 nulls and 1 111 records fit.
    let four = schema(&fan_out(10, 4));
    let Ok(Value::Object(top)) = four.decode(b"") else {
        panic!("four levels decode");
    };
    assert_eq!(top.len(), 10);
    // In an array, each item counts as many values as it holds (here a record and its null).
    let records = schema(
        r#"{"type": "array", "items": {"type": "record", "name": "E", "fields": [{"name": "n", "type": "null"}]}}"#,
    );
    let half = (MAX_ZERO_SIZE_ITEMS / 2) as i64;
    assert!(records.decode(&[long(half), long(0)].concat()).is_ok());
    assert!(matches!(
        records.decode(&[long(half + 1), long(0)].concat()),
        Err(AvroError::TooManyItems { .. })
    ));
}

const SENSOR: &str = r#"{"type": "record", "name": "Sensor", "fields": [
    {"name": "id", "type": "string"},
    {"name": "temperature", "type": "double"},
    {"name": "humidity", "type": "int"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "tags", "type": {"type": "map", "values": "string"}},
    {"name": "readings", "type": {"type": "array", "items": ["null", "float"]}},
    {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["OK", "FAULT"]}},
    {"name": "mac", "type": {"type": "fixed", "name": "Mac", "size": 6}},
    {"name": "ok", "type": "boolean"}
]}"#;

fn sensor_datum() -> Vec<u8> {
    [
        string("SB01"),
        25.3f64.to_le_bytes().to_vec(),
        long(40),
        long(1_700_000_000_000),
        [long(1), string("site"), string("lab"), long(0)].concat(),
        [
            long(-2),
            long(6),
            long(1),
            1.5f32.to_le_bytes().to_vec(),
            long(0),
            long(0),
        ]
        .concat(),
        long(1),
        vec![1, 2, 3, 4, 5, 6],
        vec![1],
    ]
    .concat()
}

#[test]
fn sensor_record_and_every_truncation() {
    let sch = schema(SENSOR);
    let datum = sensor_datum();
    let v = sch.decode(&datum).unwrap();
    assert_eq!(v.get("id"), Some(&s("SB01")));
    assert_eq!(v.get("temperature"), Some(&Value::Float(25.3)));
    assert_eq!(v.get("humidity"), Some(&Value::Int(40)));
    assert_eq!(v.get("ts"), Some(&Value::Int(1_700_000_000_000)));
    assert_eq!(v.get_path(&["tags", "site"]), Some(&s("lab")));
    assert_eq!(
        v.get("readings"),
        Some(&Value::Array(vec![Value::Float(1.5), Value::Null]))
    );
    assert_eq!(v.get("state"), Some(&s("FAULT")));
    assert_eq!(
        v.get("mac"),
        Some(&Value::Bytes(Cow::Borrowed(&[1, 2, 3, 4, 5, 6])))
    );
    assert_eq!(v.get("ok"), Some(&Value::Bool(true)));
    for end in 0..datum.len() {
        let r = sch.decode(&datum[..end]);
        assert!(r.is_err(), "prefix of {end} bytes decoded: {r:?}");
    }
    let mut long_datum = datum.clone();
    long_datum.push(0);
    assert_eq!(
        sch.decode(&long_datum),
        Err(AvroError::TrailingBytes {
            offset: datum.len(),
            count: 1
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes, and corrupted valid datums, give a value or an error: never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for json in [SENSOR, LIST, LOGICAL] {
            let _ = schema(json).decode(&bytes);
        }
    }

    #[test]
    fn corrupted_datums_never_panic(at in 0usize..60, byte in any::<u8>()) {
        let mut datum = sensor_datum();
        let i = at % datum.len();
        datum[i] = byte;
        let _ = schema(SENSOR).decode(&datum);
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas

#[test]
fn schema_errors() {
    let invalid = |json: &str, needle: &str| match AvroSchema::parse(json) {
        Err(AvroSchemaError::Invalid(msg)) => {
            assert!(msg.contains(needle), "`{msg}` lacks `{needle}`")
        }
        other => panic!("{json}: {other:?}"),
    };
    assert!(matches!(
        AvroSchema::parse("{not json"),
        Err(AvroSchemaError::Json(_))
    ));
    invalid(r#""Foo""#, "unknown type `Foo`");
    invalid("42", "not a schema");
    invalid(r#"{"name": "x"}"#, "no `type`");
    invalid(r#"{"type": "record", "name": "R"}"#, "no `fields`");
    invalid(r#"{"type": "record", "fields": []}"#, "no `name`");
    invalid(
        r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}"#,
        "field `R.a`: unknown type `Nope`",
    );
    invalid(
        r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}, {"name": "a", "type": "int"}]}"#,
        "two fields `a`",
    );
    invalid(
        r#"["null", {"type": "fixed", "name": "F", "size": 1}, {"type": "fixed", "name": "F", "size": 2}]"#,
        "defined twice",
    );
    invalid(
        r#"{"type": "record", "name": "int", "fields": []}"#,
        "primitive",
    );
    invalid(r#"["null", ["int"]]"#, "union");
    invalid(r#"{"type": "fixed", "name": "F"}"#, "size");
    invalid(r#"{"type": "fixed", "name": "F", "size": -1}"#, "size");
    invalid(r#"{"type": "enum", "name": "E", "symbols": [1]}"#, "symbol");
    invalid(r#"{"type": "array"}"#, "items");
    invalid(r#"{"type": "map"}"#, "values");
    // Deeply nested schema JSON is refused by serde_json's recursion limit, not a crash.
    let deep = format!("{}\"int\"{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(AvroSchema::parse(&deep).is_err());
}

#[test]
fn schema_forms() {
    // A type wrapped in an object, the `error` type, aliases and namespaces.
    let sch = schema(
        r#"{"type": "error", "name": "a.b.Err", "aliases": ["Old"], "fields": [
            {"name": "n", "type": {"type": {"type": "int"}}},
            {"name": "self", "type": ["null", "Old"]},
            {"name": "also", "type": ["null", "a.b.Old"]},
            {"name": "e", "type": {"type": "enum", "name": "E", "namespace": "", "symbols": ["X"]}},
            {"name": "e2", "type": "E"}
        ]}"#,
    );
    let datum = [long(7), long(0), long(0), long(0), long(0)].concat();
    assert_eq!(
        sch.decode(&datum),
        Ok(obj(vec![
            ("n", Value::Int(7)),
            ("self", Value::Null),
            ("also", Value::Null),
            ("e", s("X")),
            ("e2", s("X")),
        ]))
    );
}

// ---------------------------------------------------------------------------------------------
// Confluent wire format and the decode() entry points

#[test]
fn confluent_wire_format() {
    let payload = [vec![0, 0, 0, 1, 0x2c], vec![1]].concat(); // id 300, boolean true
    assert_eq!(split_confluent(&payload), Ok((300, &[1u8][..])));
    assert_eq!(
        split_confluent(&[0, 0, 0]),
        Err(AvroError::ShortPayload { len: 3 })
    );
    assert_eq!(
        split_confluent(&[1, 0, 0, 0, 1]),
        Err(AvroError::BadMagic { byte: 1 })
    );
    assert_eq!(
        split_confluent(b"{\"json\":1}"),
        Err(AvroError::BadMagic { byte: b'{' })
    );

    let raw = schema(r#""boolean""#);
    assert_eq!(raw.registry_id(), None);
    assert_eq!(raw.decode_confluent(&payload), Ok(Value::Bool(true)));
    let registered = raw.clone().with_registry_id(300);
    assert_eq!(registered.decode_confluent(&payload), Ok(Value::Bool(true)));
    assert_eq!(
        registered.with_registry_id(7).decode_confluent(&payload),
        Err(AvroError::SchemaIdMismatch {
            payload: 300,
            schema: 7
        })
    );
    // Offsets count from the payload's start.
    assert_eq!(
        raw.decode_confluent(&[0, 0, 0, 0, 1, 9]),
        Err(AvroError::BadBoolean { offset: 5, byte: 9 })
    );
    assert_eq!(
        raw.decode_confluent(&[0, 0, 0, 0, 1]),
        Err(AvroError::Truncated {
            offset: 5,
            needed: 1,
            len: 5
        })
    );
}

#[test]
fn decode_entry_points() {
    use super::super::{decode, decode_with, DecodeError, Format};
    let sch = schema(r#""string""#);
    let datum = string("hi");
    assert_eq!(
        decode(Some(&datum), Format::Avro),
        Err(DecodeError::SchemaRequired(Format::Avro))
    );
    assert_eq!(
        decode_with(Some(&datum), Format::Avro, Some(&sch)),
        Ok(s("hi"))
    );
    let payload = [vec![0, 0, 0, 0, 5], datum.clone()].concat();
    assert_eq!(
        decode_with(Some(&payload), Format::ConfluentAvro, Some(&sch)),
        Ok(s("hi"))
    );
    assert_eq!(
        decode_with(Some(&datum), Format::ConfluentAvro, Some(&sch)),
        Err(DecodeError::Avro(AvroError::ShortPayload { len: 3 }))
    );
    assert_eq!(
        decode_with(None, Format::ConfluentAvro, None),
        Ok(Value::Null)
    );
    assert_eq!(decode(Some(b"\"x\""), Format::Json), Ok(s("x")));
    assert!(Format::ConfluentAvro.needs_schema() && !Format::Json.needs_schema());
    let f: Format = serde_json::from_str("\"confluent_avro\"").unwrap();
    assert_eq!(f, Format::ConfluentAvro);
    let f: Format = serde_json::from_str("\"avro\"").unwrap();
    assert_eq!(f, Format::Avro);
}

// ---------------------------------------------------------------------------------------------
// Round trips through apache-avro's encoder

mod reference {
    use super::*;
    use apache_avro::types::Value as A;
    use proptest::collection::vec;
    use std::collections::HashMap;

    /// A generated schema.
    #[derive(Debug, Clone)]
    enum T {
        Null,
        Bool,
        Int,
        Long,
        Float,
        Double,
        Bytes,
        Str,
        Enum(usize),
        Fixed(usize),
        Decimal(u32),
        Date,
        TimestampMicros,
        Array(Box<T>),
        Map(Box<T>),
        Record(Vec<T>),
        Nullable(Box<T>),
    }

    fn schema_strategy() -> impl Strategy<Value = T> {
        let leaf = prop_oneof![
            Just(T::Null),
            Just(T::Bool),
            Just(T::Int),
            Just(T::Long),
            Just(T::Float),
            Just(T::Double),
            Just(T::Bytes),
            Just(T::Str),
            (1usize..5).prop_map(T::Enum),
            (0usize..20).prop_map(T::Fixed),
            (0u32..6).prop_map(T::Decimal),
            Just(T::Date),
            Just(T::TimestampMicros),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| T::Array(Box::new(t))),
                inner.clone().prop_map(|t| T::Map(Box::new(t))),
                vec(inner.clone(), 0..5).prop_map(T::Record),
                inner
                    .prop_filter("a union of null and a non-union", |t| {
                        !matches!(t, T::Null | T::Nullable(_))
                    })
                    .prop_map(|t| T::Nullable(Box::new(t))),
            ]
        })
    }

    fn render(t: &T, n: &mut usize) -> serde_json::Value {
        use serde_json::json;
        *n += 1;
        let id = *n;
        match t {
            T::Null => json!("null"),
            T::Bool => json!("boolean"),
            T::Int => json!("int"),
            T::Long => json!("long"),
            T::Float => json!("float"),
            T::Double => json!("double"),
            T::Bytes => json!("bytes"),
            T::Str => json!("string"),
            T::Enum(k) => json!({"type": "enum", "name": format!("E{id}"),
                "symbols": (0..*k).map(|i| format!("S{i}")).collect::<Vec<_>>()}),
            T::Fixed(k) => json!({"type": "fixed", "name": format!("F{id}"), "size": k}),
            T::Decimal(scale) => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": 19, "scale": scale})
            }
            T::Date => json!({"type": "int", "logicalType": "date"}),
            T::TimestampMicros => json!({"type": "long", "logicalType": "timestamp-micros"}),
            T::Array(t) => json!({"type": "array", "items": render(t, n)}),
            T::Map(t) => json!({"type": "map", "values": render(t, n)}),
            T::Record(fields) => {
                let fields: Vec<_> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| json!({"name": format!("f{i}"), "type": render(f, n)}))
                    .collect();
                json!({"type": "record", "name": format!("R{id}"), "namespace": "gen", "fields": fields})
            }
            T::Nullable(t) => json!(["null", render(t, n)]),
        }
    }

    type Pair = (A, Value<'static>);

    /// A value of type `t`, as apache-avro's input and as the [`Value`] expected back.
    fn value_strategy(t: &T) -> BoxedStrategy<Pair> {
        match t {
            T::Null => Just((A::Null, Value::Null)).boxed(),
            T::Bool => any::<bool>()
                .prop_map(|b| (A::Boolean(b), Value::Bool(b)))
                .boxed(),
            T::Int => any::<i32>()
                .prop_map(|n| (A::Int(n), Value::Int(n.into())))
                .boxed(),
            T::Long => any::<i64>()
                .prop_map(|n| (A::Long(n), Value::Int(n)))
                .boxed(),
            T::Float => any::<f32>()
                .prop_filter("not NaN", |f| !f.is_nan())
                .prop_map(|f| (A::Float(f), Value::Float(f.into())))
                .boxed(),
            T::Double => any::<f64>()
                .prop_filter("not NaN", |f| !f.is_nan())
                .prop_map(|f| (A::Double(f), Value::Float(f)))
                .boxed(),
            T::Bytes => vec(any::<u8>(), 0..24)
                .prop_map(|b| (A::Bytes(b.clone()), Value::Bytes(Cow::Owned(b))))
                .boxed(),
            T::Str => "\\PC{0,12}"
                .prop_map(|s| (A::String(s.clone()), Value::Str(Cow::Owned(s))))
                .boxed(),
            T::Enum(k) => (0..*k as u32)
                .prop_map(|i| (A::Enum(i, format!("S{i}")), s(&format!("S{i}"))))
                .boxed(),
            T::Fixed(k) => {
                let k = *k;
                vec(any::<u8>(), k)
                    .prop_map(move |b| (A::Fixed(k, b.clone()), Value::Bytes(Cow::Owned(b))))
                    .boxed()
            }
            T::Decimal(scale) => {
                let scale = *scale;
                any::<i64>()
                    .prop_map(move |u| {
                        let bytes = u.to_be_bytes().to_vec();
                        let expected = u as f64 / 10f64.powi(scale as i32);
                        (A::Decimal(bytes.into()), Value::Float(expected))
                    })
                    .boxed()
            }
            T::Date => any::<i32>()
                .prop_map(|d| (A::Date(d), Value::Int(d.into())))
                .boxed(),
            T::TimestampMicros => any::<i64>()
                .prop_map(|t| (A::TimestampMicros(t), Value::Int(t)))
                .boxed(),
            T::Array(item) => vec(value_strategy(item), 0..4)
                .prop_map(|items| {
                    let (a, e): (Vec<_>, Vec<_>) = items.into_iter().unzip();
                    (A::Array(a), Value::Array(e))
                })
                .boxed(),
            T::Map(item) => vec(("[a-z]{0,4}", value_strategy(item)), 0..4)
                .prop_map(|entries| {
                    let mut a = HashMap::new();
                    let mut e = HashMap::new();
                    for (k, (av, ev)) in entries {
                        a.insert(k.clone(), av);
                        e.insert(k, ev);
                    }
                    let expected = e.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect();
                    (A::Map(a), Value::Object(expected))
                })
                .boxed(),
            T::Record(fields) => fields
                .iter()
                .map(value_strategy)
                .collect::<Vec<_>>()
                .prop_map(|values| {
                    let mut a = Vec::new();
                    let mut e = Vec::new();
                    for (i, (av, ev)) in values.into_iter().enumerate() {
                        a.push((format!("f{i}"), av));
                        e.push((Cow::Owned(format!("f{i}")), ev));
                    }
                    (A::Record(a), Value::Object(e))
                })
                .boxed(),
            T::Nullable(inner) => prop_oneof![
                Just((A::Union(0, Box::new(A::Null)), Value::Null)),
                value_strategy(inner).prop_map(|(a, e)| (A::Union(1, Box::new(a)), e)),
            ]
            .boxed(),
        }
    }

    /// Objects with their members sorted, since a map's order is the encoder's hash order.
    fn normalize(v: Value<'_>) -> Value<'static> {
        match v {
            Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
            Value::Object(members) => {
                let mut m: Vec<_> = members
                    .into_iter()
                    .map(|(k, v)| (Cow::<str>::Owned(k.into_owned()), normalize(v)))
                    .collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(m)
            }
            other => other.into_owned(),
        }
    }

    fn schema_and_value() -> impl Strategy<Value = (String, Pair)> {
        schema_strategy().prop_flat_map(|t| {
            let json = render(&t, &mut 0).to_string();
            (Just(json), value_strategy(&t))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn round_trips_generated_schemas((json, (avro, expected)) in schema_and_value()) {
            let reference = apache_avro::Schema::parse_str(&json).unwrap();
            let datum = apache_avro::to_avro_datum(&reference, avro).unwrap();
            let ours = AvroSchema::parse(&json).unwrap();
            let decoded = ours.decode(&datum);
            prop_assert!(decoded.is_ok(), "{json}: {decoded:?}");
            prop_assert_eq!(normalize(decoded.unwrap()), normalize(expected));
            // Every strict prefix is an error, not a panic or a wrong value.
            for end in 0..datum.len() {
                prop_assert!(ours.decode(&datum[..end]).is_err());
            }
        }
    }

    #[test]
    fn round_trips_a_recursive_schema() {
        let reference = apache_avro::Schema::parse_str(LIST).unwrap();
        let mut avro = A::Record(vec![
            ("v".into(), A::Int(2)),
            ("next".into(), A::Union(0, Box::new(A::Null))),
        ]);
        for v in [1, 0] {
            avro = A::Record(vec![
                ("v".into(), A::Int(v)),
                ("next".into(), A::Union(1, Box::new(avro))),
            ]);
        }
        let datum = apache_avro::to_avro_datum(&reference, avro).unwrap();
        assert_eq!(datum, list_datum(3));
        assert!(schema(LIST).decode(&datum).is_ok());
    }

    #[test]
    fn round_trips_a_uuid_and_a_fixed_decimal() {
        let json = r#"{"type": "record", "name": "U", "fields": [
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "d", "type": {"type": "fixed", "name": "D", "size": 12, "logicalType": "decimal", "precision": 20, "scale": 4}}]}"#;
        let reference = apache_avro::Schema::parse_str(json).unwrap();
        let text = "123e4567-e89b-12d3-a456-426614174000";
        let avro = A::Record(vec![
            ("id".into(), A::Uuid(text.parse().unwrap())),
            (
                "d".into(),
                A::Decimal((-123_456_789i64).to_be_bytes().to_vec().into()),
            ),
        ]);
        let datum = apache_avro::to_avro_datum(&reference, avro).unwrap();
        assert_eq!(
            schema(json).decode(&datum),
            Ok(obj(vec![("id", s(text)), ("d", Value::Float(-12345.6789))]))
        );
    }
}
