use super::*;

fn problems(pairs: &[(&str, &str)]) -> Vec<SettingProblem> {
    let mut p: KafkaProperties = pairs.iter().map(|(k, v)| (*k, *v)).collect();
    resolve(&mut p)
}

fn keys(problems: &[SettingProblem]) -> Vec<String> {
    problems.iter().map(|p| p.key.to_string()).collect()
}

/// An existing file (this source file).
fn existing() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/src/kafka/security.rs").to_string()
}

#[test]
fn complete_settings_pass() {
    let f = existing();
    assert_eq!(problems(&[]), []);
    assert_eq!(problems(&[("security.protocol", "plaintext")]), []);
    assert_eq!(
        problems(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "scram-sha-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
            ("ssl.ca.location", &f),
        ]),
        []
    );
    assert_eq!(
        problems(&[
            ("security.protocol", "ssl"),
            ("ssl.ca.location", "probe"),
            ("ssl.certificate.location", &f),
            ("ssl.key.location", &f),
        ]),
        []
    );
}

#[test]
fn sasl_without_mechanism_or_credentials_names_what_is_missing() {
    let got = problems(&[("security.protocol", "SASL_SSL")]);
    assert_eq!(keys(&got), ["sasl.mechanism"], "{got:?}");
    assert!(got[0]
        .message
        .contains("PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"));
    let got = problems(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.password", "hunter2"),
    ]);
    assert_eq!(keys(&got), ["sasl.username"], "{got:?}");
    let got = problems(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "u"),
    ]);
    assert_eq!(keys(&got), ["sasl.password"], "{got:?}");
}

#[test]
fn unknown_protocols_and_mechanisms_list_the_accepted_ones() {
    let got = problems(&[("security.protocol", "TLS")]);
    assert_eq!(keys(&got), ["security.protocol"]);
    assert!(
        got[0]
            .message
            .contains("PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        "{got:?}"
    );
    let got = problems(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "GSSAPI"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ]);
    assert_eq!(keys(&got), ["sasl.mechanism"]);
    assert!(
        got[0].message.contains("`GSSAPI` is not supported"),
        "{got:?}"
    );
}

#[test]
fn settings_the_protocol_ignores_are_pointed_out() {
    let got = problems(&[("sasl.username", "u"), ("sasl.password", "hunter2")]);
    assert_eq!(keys(&got), ["security.protocol"]);
    assert!(got[0].message.contains("SASL_SSL"), "{got:?}");
    let got = problems(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("ssl.ca.location", "probe"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
    ]);
    assert_eq!(keys(&got), ["security.protocol"], "{got:?}");
}

#[test]
fn a_key_without_its_certificate_and_missing_files_are_named() {
    let f = existing();
    let got = problems(&[("security.protocol", "SSL"), ("ssl.key.location", &f)]);
    assert_eq!(keys(&got), ["ssl.certificate.location"], "{got:?}");
    let got = problems(&[
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", &f),
    ]);
    assert_eq!(keys(&got), ["ssl.key.location"], "{got:?}");
    let got = problems(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", "/nonexistent/ca.pem"),
        ("ssl.certificate.location", env!("CARGO_MANIFEST_DIR")),
        ("ssl.key.location", &f),
    ]);
    assert_eq!(
        keys(&got),
        ["ssl.ca.location", "ssl.certificate.location"],
        "{got:?}"
    );
    assert!(got[0]
        .message
        .contains("`/nonexistent/ca.pem`, which does not exist"));
    assert!(got[1].message.contains("is a directory"));
}

#[test]
fn no_problem_shows_a_secret() {
    let got = problems(&[
        ("security.protocol", "plaintext"),
        ("sasl.password", "hunter2"),
        ("ssl.key.password", "hunter3"),
        (
            "sasl.jaas.config",
            "PlainLoginModule required username=\"u\" password=\"hunter4\";",
        ),
    ]);
    assert!(!got.is_empty());
    let shown: String = got.iter().map(|p| format!("{p} {p:?}")).collect();
    assert!(!shown.contains("hunter"), "{shown}");
}

#[test]
fn properties_librdkafka_does_not_know_or_refuses_are_problems_naming_them() {
    let p = problems(&[
        ("max.poll.records", "500"),
        ("linger.ms", "soon"),
        ("fetch.min.bytes", "1"),
    ]);
    assert_eq!(keys(&p), ["linger.ms", "max.poll.records"]);
    assert!(
        p[1].to_string().contains("librdkafka has no such property"),
        "{}",
        p[1]
    );
    assert!(
        p[0].to_string().contains("librdkafka refuses it: "),
        "{}",
        p[0]
    );
    // A refused credential is never quoted.
    let secret = problems(&[
        ("ssl.key.password", "hunter2"),
        ("sasl.oauthbearer.config", "x"),
    ]);
    let shown: String = secret.iter().map(|p| p.to_string()).collect();
    assert!(!shown.contains("hunter2"), "{shown}");
}
