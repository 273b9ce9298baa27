use super::*;

fn props(pairs: &[(&str, &str)]) -> KafkaProperties {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn translated(pairs: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<SettingProblem>) {
    let mut p = props(pairs);
    let mut problems = Vec::new();
    translate(&mut p, &mut problems);
    (p.into_iter().collect(), problems)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

/// A file in a fresh directory with `content`.
fn file(name: &str, content: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("kcql-java-names-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn jaas_scram_becomes_username_and_password() {
    let (got, problems) = translated(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"kcql\" password=\"kcql-secret\";",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        got,
        pairs(&[
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.password", "kcql-secret"),
            ("sasl.username", "kcql"),
            ("security.protocol", "SASL_SSL"),
        ])
    );
}

#[test]
fn jaas_plain_sets_the_mechanism_scram_needs_one() {
    let plain = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"hunter2\";";
    let (got, problems) = translated(&[("sasl.jaas.config", plain)]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(got.contains(&("sasl.mechanism".into(), "PLAIN".into())));
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter2\";";
    let mut p = props(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.jaas.config", scram),
    ]);
    let problems = crate::kafka::resolve(&mut p);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "sasl.mechanism");
    assert!(
        problems[0].message.contains("SCRAM-SHA-512"),
        "{problems:?}"
    );
}

#[test]
fn jaas_problems_never_show_the_password() {
    for (extra, text) in [
        (None, "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required password=\"hunter2\";"),
        (None, "PlainLoginModule required password=\"hunter2\";"),
        (None, "PlainLoginModule required username=\"u\" password=\"hunter2"),
        (Some(("sasl.password", "hunter2")), "PlainLoginModule required username=\"u\" password=\"hunter2\";"),
    ] {
        let mut list = vec![("sasl.jaas.config", text)];
        list.extend(extra);
        let (got, problems) = translated(&list);
        assert!(!problems.is_empty(), "{text}");
        let shown = format!("{problems:?} {}", problems.iter().map(|p| p.to_string()).collect::<String>());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(problems.iter().all(|p| p.key == "sasl.jaas.config"), "{problems:?}");
        assert!(!got.iter().any(|(k, _)| k == "sasl.jaas.config"));
    }
}

#[test]
fn pem_stores_become_librdkafka_locations() {
    let ca = file(
        "ca.pem",
        b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    );
    let ks = file(
        "keystore.pem",
        b"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    );
    let (got, problems) = translated(&[
        ("ssl.truststore.location", &ca),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.password", "unused"),
        ("ssl.keystore.location", &ks),
        // No type: read from the file.
        ("ssl.endpoint.identification.algorithm", ""),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        got,
        pairs(&[
            ("ssl.ca.location", &ca),
            ("ssl.certificate.location", &ks),
            ("ssl.endpoint.identification.algorithm", "none"),
            ("ssl.key.location", &ks),
        ])
    );
}

#[test]
fn a_pkcs12_keystore_stays_as_librdkafka_reads_it() {
    let p12 = file("client.p12", &[0x30, 0x82, 0x0a, 0x01]);
    let (got, problems) = translated(&[
        ("ssl.keystore.location", &p12),
        ("ssl.keystore.type", "PKCS12"),
        ("ssl.keystore.password", "pw"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        got,
        pairs(&[
            ("ssl.keystore.location", &p12),
            ("ssl.keystore.password", "pw")
        ])
    );
}

#[test]
fn jks_stores_are_refused_with_the_conversion_command() {
    let jks = file("client.jks", &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2]);
    let (got, problems) = translated(&[
        ("ssl.keystore.location", &jks),
        ("ssl.keystore.password", "hunter2"),
        ("ssl.truststore.location", &jks),
        ("ssl.truststore.type", "JKS"),
    ]);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let keystore = problems
        .iter()
        .find(|p| p.key == "ssl.keystore.location")
        .unwrap();
    assert!(
        keystore.message.contains("keytool -importkeystore"),
        "{keystore}"
    );
    assert!(
        keystore.message.contains("-deststoretype PKCS12"),
        "{keystore}"
    );
    let truststore = problems
        .iter()
        .find(|p| p.key == "ssl.truststore.location")
        .unwrap();
    assert!(
        truststore.message.contains("keytool -exportcert -rfc"),
        "{truststore}"
    );
    assert!(!format!("{problems:?}").contains("hunter2"));
    assert!(
        !got.iter().any(|(k, _)| k.contains("store.location")),
        "{got:?}"
    );
}

#[test]
fn a_missing_store_file_names_the_java_key() {
    let (_, problems) = translated(&[("ssl.truststore.location", "/nonexistent/ca.pem")]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "ssl.truststore.location");
    assert!(problems[0].message.contains("does not exist"));
}

#[test]
fn librdkafka_names_pass_and_translating_twice_changes_nothing() {
    let list = [
        ("security.protocol", "sasl_ssl"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "u"),
        ("sasl.password", "p"),
        ("ssl.ca.location", "/x/ca.pem"),
    ];
    let (got, problems) = translated(&list);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(got, pairs(&list));
}
