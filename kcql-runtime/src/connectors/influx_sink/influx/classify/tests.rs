//! Tests of reply classification, line identification and `Retry-After` parsing.

use super::*;
use crate::connectors::influx_sink::influx::batch::newline_ranges;

fn v1() -> Target {
    Target {
        v2: false,
        database: "db".into(),
        retention_policy: None,
    }
}

fn json_reply(status: u16, body: &str) -> (u16, Vec<u8>) {
    (status, body.as_bytes().to_vec())
}

/// Byte ranges of `body` cut at every newline (how the tests' bodies hold their lines).
fn at_newlines(body: &str) -> Vec<Range<usize>> {
    newline_ranges(body.as_bytes())
}

/// [`identify_lines`] with `body` cut at its newlines into `n` lines.
fn ids(msg: &str, body: &str, n: usize) -> Vec<usize> {
    let ranges = at_newlines(body);
    assert_eq!(ranges.len(), n, "{body:?}");
    identify_lines(msg, Lines::new(body.as_bytes(), &ranges).unwrap())
}

fn run(target: &Target, (status, body): (u16, Vec<u8>), sent: &str) -> Result<(), WriteError> {
    let ranges = at_newlines(sent);
    classify(
        target,
        &Reply {
            status,
            retry_after: None,
            error_header: None,
            body: &body,
        },
        Lines::new(sent.as_bytes(), &ranges).unwrap(),
        sent.len(),
    )
}

const CONFLICT_BODY: &str = "m,t=c v=3i 3000\nm,t=d v=2.5 4000\nm,t=e v=5i 5000\n";

#[test]
fn influx_1_6_type_conflict_names_the_line() {
    let r = run(
        &v1(),
        json_reply(
            400,
            r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#,
        ),
        CONFLICT_BODY,
    );
    match r {
        Err(WriteError::Rejected { dropped, lines, .. }) => {
            assert_eq!(dropped, Some(1));
            assert_eq!(lines, vec![1]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn in_batch_conflicts_with_several_types() {
    let body = "nb v=1.5 1\nnb v=2i 2\nnb v=3.5 3\nnb v=true 4\nother v=1i 5\n";
    let msg = "partial write: field type conflict: input field \"v\" on measurement \"nb\" is type integer, already exists as type float dropped=2";
    assert_eq!(ids(msg, body, 5), vec![1, 3]);
}

#[test]
fn escaped_names_match_unescaped_message() {
    let body = "my\\ meas\\,x,t\\ k=v\\=1 f\\ k\\,\\=x=1.5 2\nmy\\ meas\\,x f\\ k\\,\\=x=2i 3\n";
    let msg = "partial write: field type conflict: input field \"f k,=x\" on measurement \"my meas,x\" is type float, already exists as type integer dropped=1";
    assert_eq!(ids(msg, body, 2), vec![0]);
    let body = "q\\\"m f\"k=\"s\" 2\n";
    let msg = "partial write: field type conflict: input field \"f\"k\" on measurement \"q\"m\" is type string, already exists as type integer dropped=1";
    assert_eq!(ids(msg, body, 1), vec![0]);
}

#[test]
fn string_fields_with_commas_spaces_and_quotes() {
    let body = "m s=\"a, b=c \\\"q\\\"\",v=1.5 1\nm s=\"x\",v=2i 2\n";
    let msg = "partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1";
    assert_eq!(ids(msg, body, 2), vec![0]);
}

#[test]
fn parse_errors_are_found_in_order_including_duplicates() {
    let body = "m v=3i 3000\nbad line\nm v=5i 5000\nbad line\n   bad2 x\nbad x\r\n";
    let msg = "partial write: unable to parse 'bad line': invalid field format\nunable to parse 'bad line': invalid field format\nunable to parse 'bad2 x': invalid field format\nunable to parse 'bad x\r': invalid field format dropped=0";
    assert_eq!(ids(msg, body, 6), vec![1, 3, 4, 5]);
    match run(
        &v1(),
        (
            400,
            serde_json::to_vec(&serde_json::json!({"error": msg})).unwrap(),
        ),
        body,
    ) {
        Err(WriteError::Rejected { dropped, lines, .. }) => {
            assert_eq!(dropped, Some(0));
            assert_eq!(lines, vec![1, 3, 4, 5]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn quoted_line_containing_the_separator() {
    let body = "m v=1i 1\nx': y\nm v=2i 2\n";
    let msg = "partial write: unable to parse 'x': y': invalid field format dropped=0";
    assert_eq!(ids(msg, body, 3), vec![1]);
}

#[test]
fn every_line_unparseable_is_rejected_without_partial() {
    let body = "bad line\nbad2 x\n";
    let r = run(
        &v1(),
        json_reply(
            400,
            r#"{"error":"unable to parse 'bad line': invalid field format\nunable to parse 'bad2 x': invalid field format"}"#,
        ),
        body,
    );
    assert_eq!(
        r,
        Err(WriteError::Rejected {
            message: "unable to parse 'bad line': invalid field format\nunable to parse 'bad2 x': invalid field format".into(),
            dropped: None,
            lines: vec![0, 1],
        })
    );
}

#[test]
fn unbalanced_quote_swallows_following_lines() {
    // InfluxDB sees one line `pe v="a\nb 1\npe v=1i 2`; the caller wrote three.
    let body = "pe v=\"a\nb 1\npe v=1i 2\nok v=1i 3\n";
    let msg = "partial write: unable to parse 'pe v=\"a\nb 1\npe v=1i 2\nok v=1i 3': unbalanced quotes dropped=0";
    assert_eq!(ids(msg, body, 4), vec![0, 1, 2, 3]);
    // A legitimate newline inside a string value is one line for both.
    let body = b"sm s=\"a\nb\" 1\nsm s=5i 2\n";
    let msg = "partial write: field type conflict: input field \"s\" on measurement \"sm\" is type integer, already exists as type string dropped=1";
    let sent = Lines::new(body, &[0..12, 13..22]).unwrap();
    assert_eq!(identify_lines(msg, sent), vec![1]);
}

#[test]
fn invalid_field_name_time() {
    let body = "m time=1i 7000\nm v=7i 7000\n";
    let msg = "partial write: invalid field name: input field \"time\" on measurement \"m\" is invalid dropped=1";
    assert_eq!(ids(msg, body, 2), vec![0]);
}

#[test]
fn reasons_without_lines_keep_the_count() {
    let r = run(
        &v1(),
        json_reply(
            400,
            r#"{"error":"partial write: points beyond retention policy dropped=2"}"#,
        ),
        CONFLICT_BODY,
    );
    match r {
        Err(WriteError::Rejected { dropped, lines, .. }) => {
            assert_eq!(dropped, Some(2));
            assert!(lines.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_classes() {
    let t = v1();
    let body = "m v=1i 1\n";
    assert_eq!(run(&t, (204, vec![]), body), Ok(()));
    assert_eq!(run(&t, (200, b"{}".to_vec()), body), Ok(()));
    assert!(matches!(
        run(&t, json_reply(404, r#"{"error":"database not found: \"db\""}"#), body),
        Err(WriteError::DatabaseNotFound { ref database, .. }) if database == "db"
    ));
    assert!(matches!(
        run(&t, json_reply(500, r#"{"error":"retention policy not found: nope"}"#), body),
        Err(WriteError::RetentionPolicyNotFound { ref policy, .. }) if policy == "nope"
    ));
    for s in [401, 403] {
        assert!(matches!(
            run(&t, json_reply(s, r#"{"error":"authorization failed"}"#), body),
            Err(WriteError::Fatal { status: Some(x), .. }) if x == s
        ));
    }
    for s in [408, 429, 500, 502, 503, 504] {
        assert!(matches!(
            run(&t, json_reply(s, r#"{"error":"timeout"}"#), body),
            Err(WriteError::Transient { status: Some(x), .. }) if x == s
        ));
    }
    assert!(matches!(
        run(
            &t,
            json_reply(413, r#"{"error":"Request Entity Too Large"}"#),
            body
        ),
        Err(WriteError::TooLarge { bytes: 9, .. })
    ));
    for b in [
        r#"{"error":"database is required"}"#,
        r#"{"error":"invalid consistency level"}"#,
        r#"{"error":"gzip: invalid header"}"#,
    ] {
        assert!(matches!(
            run(&t, json_reply(400, b), body),
            Err(WriteError::Fatal {
                status: Some(400),
                ..
            })
        ));
    }
    assert_eq!(
        run(&t, (404, b"404 page not found\n".to_vec()), body),
        Err(WriteError::Fatal {
            status: Some(404),
            message: "404 page not found".into()
        })
    );
    assert_eq!(
        run(&t, (418, vec![]), body),
        Err(WriteError::Fatal {
            status: Some(418),
            message: "HTTP 418 with an empty body".into()
        })
    );
}

#[test]
fn v2_shapes() {
    let t = Target {
        v2: true,
        database: "bucket1".into(),
        retention_policy: None,
    };
    let body = "m v=1i 1\nbad line\nm v=2i 2\n";
    assert_eq!(
        run(
            &t,
            json_reply(
                400,
                r#"{"code":"invalid","message":"unable to parse 'bad line': invalid field format"}"#
            ),
            body
        ),
        Err(WriteError::Malformed {
            message: "unable to parse 'bad line': invalid field format".into(),
            lines: vec![1]
        })
    );
    assert!(matches!(
        run(&t, json_reply(400, r#"{"code":"invalid","line":2,"message":"failed to parse line protocol: errors encountered on line(s): line 2: invalid field format"}"#), body),
        Err(WriteError::Malformed { ref lines, .. }) if lines == &[1]
    ));
    assert!(matches!(
        run(&t, json_reply(400, r#"{"code":"invalid","message":"partial write of line protocol occurred","data":[{"error_message":"x","line_number":2,"original_line":"bad line"}]}"#), body),
        Err(WriteError::Rejected { ref lines, .. }) if lines == &[1]
    ));
    let conflict = "m v=1i 1\nm v=1.5 2\n";
    assert!(matches!(
        run(&t, json_reply(422, r#"{"code":"unprocessable entity","message":"failure writing points to database: partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#), conflict),
        Err(WriteError::Rejected { dropped: Some(1), ref lines, .. }) if lines == &[1]
    ));
    assert!(matches!(
        run(&t, json_reply(404, r#"{"code":"not found","message":"bucket \"bucket1\" not found"}"#), body),
        Err(WriteError::DatabaseNotFound { ref database, .. }) if database == "bucket1"
    ));
    assert!(matches!(
        run(
            &t,
            json_reply(
                404,
                r#"{"code":"not found","message":"organization name \"o\" not found"}"#
            ),
            body
        ),
        Err(WriteError::Fatal {
            status: Some(404),
            ..
        })
    ));
    assert!(matches!(
        run(
            &t,
            json_reply(
                401,
                r#"{"code":"unauthorized","message":"unauthorized access"}"#
            ),
            body
        ),
        Err(WriteError::Fatal {
            status: Some(401),
            ..
        })
    ));
    // VictoriaMetrics: text/plain.
    assert!(matches!(
        run(&t, (400, b"remoteAddr: \"127.0.0.1:57380\"; requestURI: /api/v2/write?org=o&bucket=b&precision=ns; cannot read gzipped influx line protocol data: gzip: invalid header".to_vec()), body),
        Err(WriteError::Fatal { status: Some(400), .. })
    ));
}

#[test]
fn header_message_when_body_is_empty() {
    let r = classify(
        &v1(),
        &Reply {
            status: 503,
            retry_after: Some(Duration::from_secs(7)),
            error_header: Some("engine: cache maximum memory size exceeded"),
            body: b"",
        },
        Lines::new(b"m v=1i 1\n", &at_newlines("m v=1i 1\n")).unwrap(),
        9,
    );
    assert_eq!(
        r,
        Err(WriteError::Transient {
            retry_after: Some(Duration::from_secs(7)),
            status: Some(503),
            message: "engine: cache maximum memory size exceeded".into()
        })
    );
}

#[test]
fn dropped_counts() {
    assert_eq!(dropped_count("partial write: x dropped=12"), Some(12));
    assert_eq!(dropped_count("unable to parse 'x'"), None);
}

#[test]
fn retry_after_forms() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}

#[test]
fn retry_after_dates_outside_four_digit_years_are_ignored() {
    // Minimized by the `influx_reply` fuzz target: the seconds of year 999999939993
    // overflowed a u64 (a panic with overflow checks, a wrapped delay without).
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        parse_retry_after("n 06 Nov 999999939993 0:9:7 GMT", now),
        None
    );
    // Far enough out for `days_from_civil` itself to overflow.
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 99999999999999999 08:49:37 GMT", now),
        None
    );
    // An IMF-fixdate's year is four digits (RFC 9110, 5.6.7).
    assert_eq!(
        parse_retry_after("Sun, 06 Nov -994 08:49:37 GMT", now),
        None
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 9999 08:49:37 GMT", now),
        Some(Duration::from_secs(253_397_494_177 - 1_700_000_000))
    );
}
