//! The configured base URL, checked, and the endpoints under it.

use reqwest::Url;

use crate::redact::redact_url;

use super::super::error::ConfigError;

/// The configured URL, checked: absolute, http or https, with a host and without
/// credentials (the API's username and password, or token, carry them). Errors show the URL
/// without its userinfo.
pub(super) fn parse_base(url: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::Url {
        url: redact_url(url).into_owned(),
        reason,
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme must be http or https, not {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_string()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query string or fragment".to_string()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not hold credentials: give them as the username and password (InfluxDB 1.x) \
             or the token (2.x)"
                .to_string(),
        ));
    }
    Ok(parsed)
}

/// `base` with `path` appended to its path (a path prefix is kept).
pub(super) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}
