//! Tests of single write requests: their shape, the answers' classes and transport failures.

use std::io::Read as _;
use std::time::Duration;

use super::super::test_server::{batch, canned, http, v1_config, v2_config, BODY};
use crate::config::Secret;
use crate::connectors::influx_sink::influx::{
    Api, Consistency, InfluxWriter, Precision, WriteError,
};

#[tokio::test]
async fn v1_request_shape_and_success() {
    let (url, seen) = canned(vec![http("204 No Content", &[], "")]).await;
    let mut c = v1_config(&url);
    c.api = Api::V1 {
        database: "my db".into(),
        retention_policy: Some("r&p".into()),
        username: Some("user".into()),
        password: Some(Secret::new("pa:ss")),
        consistency: Some(Consistency::Quorum),
    };
    c.precision = Precision::Us;
    let w = InfluxWriter::new(&c).unwrap();
    w.write(batch(BODY).take().0).await.unwrap();
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!(
        s.target(),
        "/write?db=my+db&rp=r%26p&precision=u&consistency=quorum"
    );
    assert!(s.head.starts_with("POST "));
    // base64("user:pa:ss")
    assert_eq!(
        s.header("authorization").as_deref(),
        Some("Basic dXNlcjpwYTpzcw==")
    );
    assert_eq!(s.header("content-encoding"), None);
    assert_eq!(s.body, BODY);
}

#[tokio::test]
async fn v2_request_shape_with_gzip_and_path_prefix() {
    let (url, seen) = canned(vec![http("204 No Content", &[], "")]).await;
    let mut c = v2_config(&format!("{url}/prefix/"), "acme corp", "b/1", "tok==");
    c.gzip = true;
    let w = InfluxWriter::new(&c).unwrap();
    assert!(
        !format!("{w:?}").contains("tok=="),
        "token leaked into Debug"
    );
    w.write(batch(BODY).take().0).await.unwrap();
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!(
        s.target(),
        "/prefix/api/v2/write?org=acme+corp&bucket=b%2F1&precision=ns"
    );
    assert_eq!(s.header("authorization").as_deref(), Some("Token tok=="));
    assert_eq!(s.header("content-encoding").as_deref(), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&s.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, BODY);
}

#[tokio::test]
async fn partial_write_is_rejected_with_the_line() {
    let body = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
    let (url, _) = canned(vec![http(
        "400 Bad Request",
        &[("Content-Type", "application/json")],
        body,
    )])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    match w.write(batch(BODY).take().0).await {
        Err(WriteError::Rejected { dropped, lines, .. }) => {
            assert_eq!(dropped, Some(1));
            assert_eq!(lines, vec![1]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn statuses_map_to_classes() {
    type Check = fn(&WriteError) -> bool;
    let cases: Vec<(Option<String>, Check)> = vec![
        (
            http(
                "401 Unauthorized",
                &[],
                r#"{"error":"authorization failed"}"#,
            ),
            |e| {
                matches!(
                    e,
                    WriteError::Fatal {
                        status: Some(401),
                        ..
                    }
                )
            },
        ),
        (
            http("403 Forbidden", &[], r#"{"error":"forbidden"}"#),
            |e| {
                matches!(
                    e,
                    WriteError::Fatal {
                        status: Some(403),
                        ..
                    }
                )
            },
        ),
        (
            http(
                "404 Not Found",
                &[],
                r#"{"error":"database not found: \"my db\""}"#,
            ),
            |e| matches!(e, WriteError::DatabaseNotFound { database, .. } if database == "my db"),
        ),
        (
            http(
                "500 Internal Server Error",
                &[],
                r#"{"error":"retention policy not found: rp"}"#,
            ),
            |e| matches!(e, WriteError::RetentionPolicyNotFound { policy, .. } if policy == "rp"),
        ),
        (
            http("429 Too Many Requests", &[("Retry-After", "7")], ""),
            |e| matches!(e, WriteError::Transient { retry_after: Some(d), status: Some(429), .. } if *d == Duration::from_secs(7)),
        ),
        (
            http("503 Service Unavailable", &[], "overloaded"),
            |e| matches!(e, WriteError::Transient { retry_after: None, status: Some(503), message } if message == "overloaded"),
        ),
        (http("408 Request Timeout", &[], ""), |e| {
            matches!(
                e,
                WriteError::Transient {
                    status: Some(408),
                    ..
                }
            )
        }),
        (
            http(
                "413 Request Entity Too Large",
                &[],
                r#"{"error":"Request Entity Too Large"}"#,
            ),
            |e| matches!(e, WriteError::TooLarge { bytes: 49, .. }),
        ),
        (http("200 OK", &[], ""), |_| false),
    ];
    for (response, check) in cases {
        let (url, _) = canned(vec![response.clone()]).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        match w.write(batch(BODY).take().0).await {
            Ok(()) => assert!(
                response
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("HTTP/1.1 200"),
                "{response:?} accepted"
            ),
            Err(e) => assert!(check(&e), "{response:?} gave {e:?}"),
        }
    }
}

#[tokio::test]
async fn connection_refused_and_timeout_are_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let w = InfluxWriter::new(&v1_config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = w.write(batch(BODY).take().0).await.unwrap_err();
    assert!(
        matches!(&e, WriteError::Transient { status: None, message, .. } if message.contains("connect")),
        "{e:?}"
    );

    let (url, _) = canned(vec![None]).await;
    let mut c = v1_config(&url);
    c.timeout = Duration::from_millis(200);
    let w = InfluxWriter::new(&c).unwrap();
    let e = w.write(batch(BODY).take().0).await.unwrap_err();
    assert!(
        matches!(&e, WriteError::Transient { status: None, message, .. } if message.contains("no answer within")),
        "{e:?}"
    );
}

#[tokio::test]
async fn transient_failures_are_returned_not_retried() {
    let (url, seen) = canned(vec![http("503 Service Unavailable", &[], "")]).await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    let e = w.write(batch(BODY).take().0).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "one request per call");
}

#[tokio::test]
async fn empty_body_sends_nothing() {
    let (url, seen) = canned(vec![http("500 Internal Server Error", &[], "")]).await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    w.write(batch(b"").take().0).await.unwrap();
    assert!(seen.lock().unwrap().is_empty());
}
