//! The Schema Registry settings every component reading or writing Confluent Avro accepts,
//! with Kafka Connect's names: `schema.registry.url`, `basic.auth.credentials.source`
//! (`USER_INFO` or `URL`) with `basic.auth.user.info` (`user:password`, a secret), and
//! `schema.registry.ssl.truststore.location`: a **PEM** file of CA certificates to trust for
//! an `https` registry (Kafka Connect takes a JKS/PKCS12 truststore there; convert it with
//! `keytool -exportcert -rfc`). In TOML: `schema_registry_url`,
//! `basic_auth_credentials_source`, `basic_auth_user_info`, `schema_registry_ca_file`.

use std::path::PathBuf;

use super::reader::{KeyError, Reader};
use crate::decode::RegistryOptions;
use crate::redact::Secret;

/// The registry's base URL (Kafka Connect's converter setting, unprefixed).
pub const SCHEMA_REGISTRY_URL: &str = "schema.registry.url";
/// `USER_INFO` or `URL`: where basic-auth credentials come from.
pub const BASIC_AUTH_SOURCE: &str = "basic.auth.credentials.source";
/// `user:password` for `USER_INFO`.
pub const BASIC_AUTH_USER_INFO: &str = "basic.auth.user.info";
/// A PEM file of CA certificates for an `https` registry.
pub const REGISTRY_CA: &str = "schema.registry.ssl.truststore.location";

/// Every key [`read_registry_options`] reads, and the URL key.
pub const REGISTRY_KEYS: [&str; 4] = [
    SCHEMA_REGISTRY_URL,
    BASIC_AUTH_SOURCE,
    BASIC_AUTH_USER_INFO,
    REGISTRY_CA,
];

/// The same settings as Kafka Connect's `AvroConverter` takes them, under its
/// `value.converter.` and `key.converter.` prefixes (a connector shares one registry
/// client between key and value: both spellings must agree).
pub const CONVERTER_REGISTRY_KEYS: [&str; 6] = [
    "value.converter.basic.auth.credentials.source",
    "value.converter.basic.auth.user.info",
    "value.converter.schema.registry.ssl.truststore.location",
    "key.converter.basic.auth.credentials.source",
    "key.converter.basic.auth.user.info",
    "key.converter.schema.registry.ssl.truststore.location",
];

/// The value of the first of `keys` (an unprefixed key and its converter spellings) that is
/// set; another one set to a different value is reported (without the values: they may be
/// secrets).
fn first_of<E: From<KeyError>>(r: &mut Reader<'_, E>, keys: [&'static str; 3]) -> Option<String> {
    let mut found: Option<(&'static str, String)> = None;
    for key in keys {
        match (r.optional(key), &found) {
            (Some(v), None) => found = Some((key, v)),
            (Some(v), Some((first, seen))) if &v != seen => {
                r.invalid(
                    key,
                    format!("{key} disagrees with {first}: give one of them"),
                );
            }
            _ => {}
        }
    }
    found.map(|(_, v)| v)
}

/// The registry options from `r`, every problem reported naming its key. Each setting may
/// be written unprefixed or under `value.converter.` / `key.converter.`
/// ([`CONVERTER_REGISTRY_KEYS`]).
pub fn read_registry_options<E: From<KeyError>>(r: &mut Reader<'_, E>) -> RegistryOptions {
    let [value_source, value_user, value_ca, key_source, key_user, key_ca] =
        CONVERTER_REGISTRY_KEYS;
    let ca_file = first_of(r, [REGISTRY_CA, value_ca, key_ca]).map(PathBuf::from);
    if let Some(path) = &ca_file {
        if let Err(message) = check_ca_file(path) {
            r.invalid(REGISTRY_CA, format!("{REGISTRY_CA}: {message}"));
        }
    }
    let source = first_of(r, [BASIC_AUTH_SOURCE, value_source, key_source]);
    let user_info = first_of(r, [BASIC_AUTH_USER_INFO, value_user, key_user]).map(Secret::new);
    match RegistryOptions::from_basic_auth(source.as_deref(), user_info, ca_file.clone()) {
        Ok(options) => options,
        Err(e) => {
            let key = match e {
                crate::decode::RegistryOptionsError::UnknownSource(_) => BASIC_AUTH_SOURCE,
                _ => BASIC_AUTH_USER_INFO,
            };
            r.invalid(key, e.to_string());
            RegistryOptions {
                user_info: None,
                ca_file,
            }
        }
    }
}

/// `Ok` when `path` is a readable file holding a PEM certificate.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    crate::pem::read_certificates(path)
        .map(drop)
        .map_err(|e| e.to_string())
}
