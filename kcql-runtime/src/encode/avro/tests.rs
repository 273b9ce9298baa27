use super::*;
use crate::decode::json;

const SENSOR: &str = r#"{"type":"record","name":"Sensor","namespace":"iot","fields":[
    {"name":"id","type":"string"},
    {"name":"temperature","type":"double"},
    {"name":"count","type":"long"},
    {"name":"small","type":"int"},
    {"name":"f","type":"float"},
    {"name":"ok","type":"boolean"},
    {"name":"humidity","type":["null","int"],"default":null},
    {"name":"tags","type":{"type":"array","items":"string"}},
    {"name":"attrs","type":{"type":"map","values":"long"}},
    {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
    {"name":"raw","type":"bytes"},
    {"name":"mac","type":{"type":"fixed","name":"Mac","size":2}},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
    {"name":"uid","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

fn value(text: &str) -> Value<'static> {
    json::parse(text.as_bytes()).expect("json").into_owned()
}

const FULL: &str = r#"{"id":"d1","temperature":21.5,"count":7,"small":-3,"f":1.5,"ok":true,
    "humidity":40,"tags":["a","b"],"attrs":{"x":1,"y":-2},"kind":"B","raw":"hi","mac":"zz",
    "price":-12.34,"uid":"0102030405060708090a0b0c0d0e0f10","ts":1700000000000,"extra":1}"#;

#[test]
fn round_trips_through_our_decoder() {
    let schema = AvroSchema::parse(SENSOR).expect("schema");
    let v = value(FULL);
    let datum = to_avro(&schema, &v).expect("fits");
    let back = schema.decode(&datum).expect("decodes");
    assert_eq!(back.get("id"), Some(&Value::Str("d1".into())));
    assert_eq!(back.get("temperature"), Some(&Value::Float(21.5)));
    assert_eq!(back.get("count"), Some(&Value::Int(7)));
    assert_eq!(back.get("small"), Some(&Value::Int(-3)));
    assert_eq!(back.get("f"), Some(&Value::Float(1.5)));
    assert_eq!(back.get("humidity"), Some(&Value::Int(40)));
    assert_eq!(back.get("kind"), Some(&Value::Str("B".into())));
    assert_eq!(back.get("price"), Some(&Value::Float(-12.34)));
    assert_eq!(
        back.get("uid"),
        Some(&Value::Str("01020304-0506-0708-090a-0b0c0d0e0f10".into()))
    );
    assert_eq!(
        back.get("attrs").and_then(|a| a.get("y")),
        Some(&Value::Int(-2))
    );
    assert_eq!(back.get("ts"), Some(&Value::Int(1_700_000_000_000)));
    assert_eq!(
        back.get("extra"),
        None,
        "members the schema does not name are not written"
    );
}

#[test]
fn the_reference_implementation_reads_what_we_write() {
    use apache_avro::types::Value as A;
    // apache-avro reads `uuid` only on strings: the reference schema leaves that field out.
    let text = SENSOR.replace(
        r#"{"name":"uid","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},"#,
        "",
    );
    let schema = AvroSchema::parse(&text).expect("schema");
    let reference = apache_avro::Schema::parse_str(&text).expect("reference schema");
    let datum = to_avro(&schema, &value(FULL)).expect("fits");
    let read = apache_avro::from_avro_datum(&reference, &mut &datum[..], None).expect("reads");
    let A::Record(fields) = read else {
        panic!("not a record: {read:?}")
    };
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(field("id"), Some(A::String("d1".into())));
    assert_eq!(field("count"), Some(A::Long(7)));
    assert_eq!(field("humidity"), Some(A::Union(1, Box::new(A::Int(40)))));
    assert_eq!(field("kind"), Some(A::Enum(1, "B".into())));
    assert_eq!(field("ts"), Some(A::TimestampMillis(1_700_000_000_000)));
    assert_eq!(field("mac"), Some(A::Fixed(2, b"zz".to_vec())));
}

#[test]
fn a_missing_nullable_field_is_null_and_a_missing_required_one_is_an_error() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"]},{"name":"b","type":"long"}]}"#,
    )
    .expect("schema");
    let datum = to_avro(&schema, &value(r#"{"b":5}"#)).expect("fits");
    assert_eq!(datum, vec![0, 10]);
    let e = to_avro(&schema, &value(r#"{"a":1}"#)).expect_err("b is required");
    assert_eq!(
        e.to_string(),
        "value.b: missing, and its Avro type does not allow null"
    );
}

#[test]
fn values_that_do_not_fit_name_their_path() {
    let schema = AvroSchema::parse(SENSOR).expect("schema");
    let cases = [
        (
            r#""temperature":"hot""#,
            "value.temperature: a value of type string does not fit the Avro type double",
        ),
        (
            r#""small":3000000000"#,
            "value.small: 3000000000 does not fit the Avro type int",
        ),
        (
            r#""count":1.5"#,
            "value.count: 1.5 does not fit the Avro type long",
        ),
        (
            r#""tags":["a",1]"#,
            "value.tags[1]: a value of type integer does not fit the Avro type string",
        ),
        (
            r#""kind":"C""#,
            "value.kind: `C` does not fit the Avro type enum (not a symbol)",
        ),
        (
            r#""mac":"abc""#,
            "value.mac: a value of type longer does not fit the Avro type fixed(2)",
        ),
    ];
    for (replace, message) in cases {
        let field = replace.split(':').next().expect("field");
        let text = FULL
            .split(',')
            .map(|m| {
                if m.trim_start().starts_with(field) {
                    replace
                } else {
                    m
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        // The array member spans two comma-separated pieces; keep the text valid JSON.
        let text = text.replace(r#"["a",1],"b"]"#, r#"["a",1]"#);
        let e = to_avro(&schema, &value(&text)).expect_err(message);
        assert_eq!(e.to_string(), message, "{text}");
    }
    let e = to_avro(&schema, &value("[1]")).expect_err("not a record");
    assert_eq!(
        e.to_string(),
        "value: a value of type array does not fit the Avro type record"
    );
}

#[test]
fn confluent_payloads_carry_the_id() {
    let schema = AvroSchema::parse(r#""long""#).expect("schema");
    let payload = to_confluent(&schema, 258, &Value::Int(-1)).expect("fits");
    assert_eq!(payload, vec![0, 0, 0, 1, 2, 1]);
    let schema = schema.with_registry_id(258);
    assert_eq!(schema.decode_confluent(&payload), Ok(Value::Int(-1)));
}

#[test]
fn unions_pick_the_first_branch_that_fits() {
    let schema = AvroSchema::parse(r#"["null","long","double","string"]"#).expect("schema");
    assert_eq!(to_avro(&schema, &Value::Null).expect("null"), vec![0]);
    assert_eq!(to_avro(&schema, &Value::Int(1)).expect("long"), vec![2, 2]);
    assert_eq!(to_avro(&schema, &Value::Float(0.5)).expect("double")[0], 4);
    assert_eq!(
        to_avro(&schema, &Value::Str("x".into())).expect("string"),
        vec![6, 2, b'x']
    );
    assert!(to_avro(&schema, &Value::Bool(true)).is_err());
    // A float without a fraction stays a double when the union has one.
    let schema = AvroSchema::parse(r#"["null","long","double"]"#).expect("schema");
    assert_eq!(to_avro(&schema, &Value::Float(25.0)).expect("double")[0], 4);
    let schema = AvroSchema::parse(r#"["null","double","long"]"#).expect("schema");
    assert_eq!(
        to_avro(&schema, &Value::Int(25)).expect("long"),
        vec![4, 50]
    );
}
