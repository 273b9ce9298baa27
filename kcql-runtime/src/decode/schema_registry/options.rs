//! How a [`SchemaRegistry`](super::SchemaRegistry) client reaches its registry beyond the URL,
//! with Kafka Connect's names for the settings: HTTP basic auth from `basic.auth.user.info`
//! (`basic.auth.credentials.source = USER_INFO`) or from the URL's userinfo (`URL`), and a CA
//! to trust for an `https` registry (`schema.registry.ssl.truststore.location`, a PEM file).

use std::path::PathBuf;

use crate::redact::Secret;

/// The values `basic.auth.credentials.source` accepts.
pub const CREDENTIALS_SOURCES: [&str; 2] = ["USER_INFO", "URL"];

/// The registry client's settings besides its URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryOptions {
    /// `user:password` sent as HTTP basic auth (Kafka Connect's `basic.auth.user.info`);
    /// `None`: credentials come from the URL's userinfo, if it has any.
    pub user_info: Option<Secret>,
    /// A PEM file of CA certificates trusted for an `https` registry, on top of the system's.
    pub ca_file: Option<PathBuf>,
}

/// Why the registry settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryOptionsError {
    /// `basic.auth.credentials.source` is neither `USER_INFO` nor `URL`.
    #[error("basic.auth.credentials.source must be USER_INFO or URL, got `{0}`")]
    UnknownSource(String),
    /// `USER_INFO` without `basic.auth.user.info`.
    #[error(
        "basic.auth.credentials.source = USER_INFO needs basic.auth.user.info (\"user:password\")"
    )]
    MissingUserInfo,
    /// `basic.auth.user.info` without a `:` between user and password.
    #[error("basic.auth.user.info must be \"user:password\" (no `:` found)")]
    BadUserInfo,
}

impl RegistryOptions {
    /// The options from Kafka Connect's two basic-auth settings: `source` (`USER_INFO` or
    /// `URL`, any letter case; absent: `USER_INFO` when `user_info` is given, else `URL`) and
    /// `user_info` (`user:password`). With `URL`, a `user_info` given is not used.
    pub fn from_basic_auth(
        source: Option<&str>,
        user_info: Option<Secret>,
        ca_file: Option<PathBuf>,
    ) -> Result<RegistryOptions, RegistryOptionsError> {
        let source = match source.map(str::trim) {
            None | Some("") if user_info.is_some() => "USER_INFO".to_string(),
            None | Some("") => "URL".to_string(),
            Some(s) => s.to_ascii_uppercase(),
        };
        let user_info = match source.as_str() {
            "URL" => None,
            "USER_INFO" => {
                let info = user_info.ok_or(RegistryOptionsError::MissingUserInfo)?;
                if !info.expose().contains(':') {
                    return Err(RegistryOptionsError::BadUserInfo);
                }
                Some(info)
            }
            other => return Err(RegistryOptionsError::UnknownSource(other.to_string())),
        };
        Ok(RegistryOptions { user_info, ca_file })
    }

    /// The `(user, password)` to send, if any.
    pub(crate) fn basic_auth(&self) -> Option<(&str, &str)> {
        self.user_info
            .as_ref()
            .and_then(|info| info.expose().split_once(':'))
    }
}
