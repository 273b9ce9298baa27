//! Tests of isolating the refused lines of a batch.

use super::super::test_server::{batch, canned, http, v1_config, BODY};
use crate::connectors::influx_sink::influx::{InfluxWriter, WriteError};

#[tokio::test]
async fn isolating_confirms_suspects_and_bisects_unnamed_rejections() {
    let conflict = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
    let beyond = r#"{"error":"partial write: points beyond retention policy dropped=1"}"#;
    let (url, seen) = canned(vec![
        // Full body: the conflict points at line 1.
        http("400 Bad Request", &[], conflict),
        // Line 1 alone: refused, so it is poison.
        http("400 Bad Request", &[], conflict),
        // Lines 0, 2: a reason naming no line.
        http("400 Bad Request", &[], beyond),
        // Halves: line 0 alone is fine.
        http("204 No Content", &[], ""),
        // line 2 alone is refused.
        http("400 Bad Request", &[], beyond),
    ])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    let report = w.write_isolating(batch(BODY).take().0).await.unwrap();
    assert_eq!(report.requests, 5);
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![1, 2]);
    assert!(report.rejected[0].message.contains("field type conflict"));
    assert!(report.rejected[1].message.contains("beyond retention"));
    let bodies: Vec<Vec<u8>> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(bodies[0], BODY);
    assert_eq!(bodies[1], b"m,t=d v=2.5 4000\n");
    assert_eq!(bodies[2], b"m,t=c v=3i 3000\nm,t=e v=5i 5000\n");
    assert_eq!(bodies[3], b"m,t=c v=3i 3000\n");
    assert_eq!(bodies[4], b"m,t=e v=5i 5000\n");
}

#[tokio::test]
async fn isolating_clears_suspects_that_were_written() {
    // Across shards a message can point at lines that were stored: the suspects are sent
    // on their own and the ones accepted there are not poison.
    let conflict = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
    let body = b"m v=1.5 1\nm v=2.5 2\nm v=3i 3\n";
    let (url, _) = canned(vec![
        http("400 Bad Request", &[], conflict), // all: suspects 0, 1
        http("400 Bad Request", &[], conflict), // 0, 1: dropped=1 of 2, halve
        http("400 Bad Request", &[], conflict), // 0 alone: poison
        http("204 No Content", &[], ""),        // 1 alone: fine
        http("204 No Content", &[], ""),        // rest: 2
    ])
    .await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    let report = w.write_isolating(batch(body).take().0).await.unwrap();
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![0]);
    assert_eq!(report.requests, 5);
}

#[tokio::test]
async fn isolating_returns_transient_and_fatal_failures_at_once() {
    let conflict = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"m\" is type float, already exists as type integer dropped=1"}"#;
    for (responses, sent) in [
        (vec![http("503 Service Unavailable", &[], "")], 1),
        // Failing while isolating: nothing is retried here either.
        (
            vec![
                http("400 Bad Request", &[], conflict),
                http("503 Service Unavailable", &[], ""),
            ],
            2,
        ),
    ] {
        let (url, seen) = canned(responses).await;
        let w = InfluxWriter::new(&v1_config(&url)).unwrap();
        let e = w.write_isolating(batch(BODY).take().0).await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        assert_eq!(seen.lock().unwrap().len(), sent);
    }

    let (url, _) = canned(vec![http("401 Unauthorized", &[], "")]).await;
    let w = InfluxWriter::new(&v1_config(&url)).unwrap();
    assert!(matches!(
        w.write_isolating(batch(BODY).take().0).await,
        Err(WriteError::Fatal {
            status: Some(401),
            ..
        })
    ));
}
