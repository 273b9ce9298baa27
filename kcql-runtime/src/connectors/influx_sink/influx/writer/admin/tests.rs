//! Tests of creating the database and retention policy.

use std::time::Duration;

use reqwest::Url;

use super::super::test_server::{canned, http, v1_config, v2_config};
use crate::connectors::influx_sink::influx::{EnsureError, InfluxWriter};

#[tokio::test]
async fn ensure_database_statements_and_errors() {
    let ok = http("200 OK", &[], r#"{"results":[{"statement_id":0}]}"#);
    let (url, seen) = canned(vec![ok.clone()]).await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    w.ensure_database(
        "we\"ird\\db",
        Some(("r p", Some(Duration::from_secs(30 * 86_400)))),
    )
    .await
    .unwrap();
    let statements: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            let url = Url::parse(&format!("http://x{}", s.target())).unwrap();
            assert_eq!(url.path(), "/query");
            url.query_pairs()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
                .unwrap()
        })
        .collect();
    assert_eq!(
        statements,
        [
            r#"CREATE DATABASE "we\"ird\\db""#,
            r#"CREATE RETENTION POLICY "r p" ON "we\"ird\\db" DURATION 30d REPLICATION 1"#,
        ]
    );

    let (url, _) = canned(vec![
        ok.clone(),
        http(
            "200 OK",
            &[],
            r#"{"results":[{"statement_id":0,"error":"retention policy already exists"}]}"#,
        ),
    ])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    w.ensure_database("db", Some(("rp", Some(Duration::from_secs(7200)))))
        .await
        .expect("an existing policy is fine");

    let (url, _) = canned(vec![http(
        "200 OK",
        &[],
        r#"{"results":[{"statement_id":0,"error":"invalid name"}]}"#,
    )])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    assert_eq!(
        w.ensure_database("a\\b", None).await,
        Err(EnsureError::Statement {
            statement: r#"CREATE DATABASE "a\\b""#.into(),
            message: "invalid name".into()
        })
    );

    let (url, _) = canned(vec![http(
        "401 Unauthorized",
        &[],
        r#"{"error":"authorization failed"}"#,
    )])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    assert!(matches!(
        w.ensure_database("db", None).await,
        Err(EnsureError::Fatal {
            status: Some(401),
            ..
        })
    ));

    let (url, _) = canned(vec![http(
        "503 Service Unavailable",
        &[("Retry-After", "2")],
        "",
    )])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    assert!(matches!(
        w.ensure_database("db", None).await,
        Err(EnsureError::Transient { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
    ));
}

#[tokio::test]
async fn ensure_database_is_a_no_op_on_v2() {
    let (url, seen) = canned(vec![http("500 Internal Server Error", &[], "")]).await;
    let w = InfluxWriter::new(&v2_config(&url, "o", "b", "t")).unwrap();
    w.ensure_database("b", Some(("rp", Some(Duration::from_secs(3600)))))
        .await
        .unwrap();
    assert!(seen.lock().unwrap().is_empty());
}
