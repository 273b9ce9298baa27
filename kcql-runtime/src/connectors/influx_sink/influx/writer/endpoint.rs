//! The configured base URL, checked, and the endpoints under it.

use reqwest::Url;

use super::super::error::ConfigError;

/// The configured URL, checked: absolute, http or https, with a host.
pub(super) fn parse_base(url: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::Url {
        url: url.to_string(),
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
    Ok(parsed)
}

/// `base` with `path` appended to its path (a path prefix is kept).
pub(super) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}
