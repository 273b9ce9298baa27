use super::*;

fn env(pairs: &'static [(&'static str, &'static str)]) -> Providers<'static> {
    Providers::with_env(move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

/// A fresh directory under the system temp dir, removed by the caller's test process end.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kcql-providers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn values_without_references_are_borrowed_unchanged() {
    let mut p = env(&[]);
    assert!(matches!(
        p.resolve("plain").unwrap(),
        Cow::Borrowed("plain")
    ));
    // `${…}` without a provider prefix is not a reference.
    assert_eq!(p.resolve("a ${b} c").unwrap(), "a ${b} c");
    assert_eq!(p.resolve("$ {x:y}").unwrap(), "$ {x:y}");
}

#[test]
fn env_references_resolve_whole_or_inside_a_value() {
    let mut p = env(&[("INFLUX_PASSWORD", "s3cret"), ("HOST", "influx.lan")]);
    assert_eq!(p.resolve("${env:INFLUX_PASSWORD}").unwrap(), "s3cret");
    assert_eq!(
        p.resolve("http://${env:HOST}:8086/${env:HOST}").unwrap(),
        "http://influx.lan:8086/influx.lan"
    );
    // Kafka's form with an empty path.
    assert_eq!(p.resolve("${env::HOST}").unwrap(), "influx.lan");
}

#[test]
fn an_unset_or_empty_variable_is_an_error_naming_it() {
    let mut p = env(&[("EMPTY", "")]);
    let unset = p.resolve("${env:NOPE}").unwrap_err();
    assert_eq!(
        unset,
        ProviderError::MissingVariable {
            name: "NOPE".into(),
            empty: false
        }
    );
    assert_eq!(
        unset.to_string(),
        "${env:NOPE}: the environment variable NOPE is not set"
    );
    assert_eq!(
        p.resolve("${env:EMPTY}").unwrap_err().to_string(),
        "${env:EMPTY}: the environment variable EMPTY is empty"
    );
}

#[test]
fn file_references_read_a_key_of_a_properties_file() {
    let dir = scratch("file");
    let file = dir.join("secrets.properties");
    std::fs::write(
        &file,
        "# secrets\ninflux.password = pa\\:ss\nsasl.password=x y\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let mut p = env(&[]);
    assert_eq!(
        p.resolve(&format!("${{file:{path}:influx.password}}"))
            .unwrap(),
        "pa:ss"
    );
    assert_eq!(
        p.resolve(&format!("u-${{file:{path}:sasl.password}}"))
            .unwrap(),
        "u-x y"
    );
    let missing = p.resolve(&format!("${{file:{path}:nope}}")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("${{file:{path}:nope}}: {path} has no key `nope`")
    );
    // Read once per load: a change on disk is not seen by the same Providers.
    std::fs::write(&file, "influx.password=changed\n").unwrap();
    assert_eq!(
        p.resolve(&format!("${{file:{path}:influx.password}}"))
            .unwrap(),
        "pa:ss"
    );
    let err = p
        .resolve(&format!("${{file:{}/absent.properties:k}}", dir.display()))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ProviderError::Unreadable {
                provider: "file",
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn directory_references_read_one_file_without_its_trailing_newline() {
    let dir = scratch("dir");
    std::fs::write(dir.join("password"), "hunter2\n").unwrap();
    let d = dir.display().to_string();
    let mut p = env(&[]);
    assert_eq!(
        p.resolve(&format!("${{directory:{d}:password}}")).unwrap(),
        "hunter2"
    );
    let escape = p
        .resolve(&format!("${{directory:{d}:../etc/passwd}}"))
        .unwrap_err();
    assert!(
        escape
            .to_string()
            .contains("must be a file in the directory"),
        "{escape}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_references_say_what_to_write() {
    let mut p = env(&[]);
    assert_eq!(
        p.resolve("${file:/only/a/path}").unwrap_err().to_string(),
        "`${file:/only/a/path}` is not a complete reference: write ${file:/path/to/file.properties:key}"
    );
    assert_eq!(
        p.resolve("${env:}").unwrap_err().to_string(),
        "`${env:}` is not a complete reference: write ${env:NAME}"
    );
    assert_eq!(
        p.resolve("${evn:X}").unwrap_err().to_string(),
        "`${evn:…}` names no config provider (expected one of env, file or directory)"
    );
    assert_eq!(
        p.resolve("abc${env:X").unwrap_err(),
        ProviderError::Unclosed { at: 3 }
    );
}

#[test]
fn errors_never_show_the_resolved_secret() {
    let dir = scratch("secret");
    let file = dir.join("s.properties");
    std::fs::write(&file, "a=hunter2\n").unwrap();
    let mut p = env(&[("A", "hunter2")]);
    let text = format!("${{env:A}}${{file:{}:b}}", file.display());
    let err = p.resolve(&text).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
