//! A Confluent Schema Registry client for the Confluent Avro wire format: it resolves the
//! schema id in a payload's header to an [`AvroSchema`] through `GET {url}/schemas/ids/{id}`,
//! and caches the answer per id for the life of the client (a registered id never changes its
//! schema). Only fetching is asynchronous; with the schema in hand, decoding is synchronous
//! ([`AvroSchema::decode_confluent`]), and [`SchemaRegistry::cached_schema_for`] gives a hot
//! path without any `.await`. Encoders register their writer schemas under a subject
//! ([`SchemaRegistry::register`]). Basic auth and a CA to trust come from [`RegistryOptions`].

use super::avro::{split_confluent, AvroError, AvroSchema, AvroSchemaError};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::config::Secret;
use crate::error_chain::error_chain;
use crate::redact::redact_url;
use thiserror::Error;

mod options;
mod register;

pub use options::{RegistryOptions, RegistryOptionsError, CREDENTIALS_SOURCES};
pub use register::topic_subject;

/// How long one registry request may take, connecting included, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The Confluent error code for an unknown schema id (with HTTP 404).
pub const SCHEMA_NOT_FOUND: i64 = 40403;

/// Why a schema could not be had from the registry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// The registry does not know the id (HTTP 404, error code 40403).
    #[error("schema id {id} is not registered in the schema registry at {url}")]
    UnknownId {
        /// The id asked for.
        id: u32,
        /// The registry's base URL.
        url: String,
    },
    /// The registry's TLS certificate was refused (an untrusted CA, a name mismatch): waiting
    /// does not fix it. Fatal.
    #[error("schema registry at {url}: TLS failed: {reason} (is schema.registry.ssl.truststore.location the CA that signed it?)")]
    Tls {
        /// The registry's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry could not be reached or did not answer in time. Transient.
    #[error("schema registry at {url} is unreachable: {reason}")]
    Unreachable {
        /// The registry's base URL.
        url: String,
        /// What went wrong (connection refused, timed out, ...).
        reason: String,
    },
    /// The registry answered with an HTTP error other than an unknown id. Transient for 5xx
    /// and 429.
    #[error("schema registry answered HTTP {status} for schema id {id}: {message}")]
    Http {
        /// The id asked for.
        id: u32,
        /// The HTTP status.
        status: u16,
        /// The Confluent `error_code`, when the body had one.
        error_code: Option<i64>,
        /// The Confluent `message`, or the start of the body.
        message: String,
    },
    /// A success answer that is not the expected `{"schema": "..."}` JSON.
    #[error("schema registry sent an unreadable answer for schema id {id}: {what}")]
    BadResponse {
        /// The id asked for.
        id: u32,
        /// What was wrong.
        what: String,
    },
    /// The id names a schema of another type (`PROTOBUF`, `JSON`).
    #[error("schema id {id} is a {schema_type} schema, not Avro")]
    NotAvro {
        /// The id asked for.
        id: u32,
        /// The `schemaType` the registry reported.
        schema_type: String,
    },
    /// The schema refers to schemas registered under other subjects, which this client does
    /// not fetch.
    #[error("schema id {id} uses schema references, which are not supported")]
    References {
        /// The id asked for.
        id: u32,
    },
    /// The registered schema is not a usable Avro schema.
    #[error("schema id {id} is not a usable Avro schema: {source}")]
    Schema {
        /// The id asked for.
        id: u32,
        /// Why.
        #[source]
        source: AvroSchemaError,
    },
    /// The payload has no valid Confluent header (short, or a bad magic byte).
    #[error(transparent)]
    Payload(#[from] AvroError),
    /// The registry URL is not an `http` or `https` URL.
    #[error("invalid schema registry URL `{url}`: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the schema registry client: {0}")]
    Client(String),
    /// Registering a schema under a subject failed (HTTP error, or an unreadable answer).
    /// Transient for 5xx and 429.
    #[error("schema registry answered HTTP {status} when registering the schema under subject `{subject}`: {message}")]
    Register {
        /// The subject.
        subject: String,
        /// The HTTP status.
        status: u16,
        /// The Confluent `error_code`, when the body had one.
        error_code: Option<i64>,
        /// The Confluent `message`, or the start of the body.
        message: String,
    },
}

impl RegistryError {
    /// True when no record can ever be handled with this registry as configured: bad
    /// credentials (HTTP 401, 403), a refused TLS certificate, an unusable client. The
    /// component stops instead of treating every record as poison.
    pub fn is_fatal(&self) -> bool {
        match self {
            RegistryError::Tls { .. } | RegistryError::Client(_) | RegistryError::BadUrl { .. } => {
                true
            }
            RegistryError::Http { status, .. } | RegistryError::Register { status, .. } => {
                matches!(*status, 401 | 403)
            }
            _ => false,
        }
    }

    /// True when retrying later may succeed: the registry was unreachable, overloaded or
    /// failing (5xx, 429). An unknown id or a bad payload is not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Http { status, .. } | RegistryError::Register { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }
}

/// A Schema Registry client with a per-id cache of parsed schemas.
///
/// Two tasks missing the cache for the same id at once both fetch it; both get the same
/// schema, and the first one stored is kept. Failures are not cached.
///
/// Credentials in the URL (`https://user:password@registry:8081`, Confluent's
/// `basic.auth.credentials.source=URL`) are sent as HTTP basic auth and shown nowhere: the
/// URL in errors, in [`url`](Self::url) and in `Debug` output has its userinfo stripped.
#[derive(Debug)]
pub struct SchemaRegistry {
    /// The base URL as given (requests go there; it may hold credentials).
    request_base: Secret,
    /// The base URL without its userinfo, for messages.
    base: String,
    client: reqwest::Client,
    /// Basic-auth credentials sent with every request (besides any in the URL).
    basic_auth: Option<(Secret, Secret)>,
    cache: RwLock<HashMap<u32, Arc<AvroSchema>>>,
}

#[derive(serde::Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error_code: Option<i64>,
    message: Option<String>,
}

impl SchemaRegistry {
    /// A client for the registry at `url` (such as `http://localhost:8081`), with requests
    /// timing out after [`DEFAULT_TIMEOUT`].
    pub fn new(url: impl Into<String>) -> Result<SchemaRegistry, RegistryError> {
        Self::with_timeout(url, DEFAULT_TIMEOUT)
    }

    /// A client for the registry at `url` whose requests time out after `timeout`.
    pub fn with_timeout(
        url: impl Into<String>,
        timeout: Duration,
    ) -> Result<SchemaRegistry, RegistryError> {
        Self::with_options(url, &RegistryOptions::default(), timeout)
    }

    /// A client for the registry at `url` with `options` (basic auth, a CA file to trust),
    /// whose requests time out after `timeout`.
    pub fn with_options(
        url: impl Into<String>,
        options: &RegistryOptions,
        timeout: Duration,
    ) -> Result<SchemaRegistry, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout);
        // The registry's CA file, trusted besides the built-in and system roots: the same
        // TLS settings as every HTTP client of the runtime.
        let tls = crate::http_tls::HttpTls {
            ca_file: options.ca_file.clone(),
            ..crate::http_tls::HttpTls::default()
        };
        builder = tls
            .apply(builder)
            .map_err(|e| RegistryError::Client(e.to_string()))?;
        let client = builder
            .build()
            .map_err(|e| RegistryError::Client(error_chain(&e)))?;
        let mut registry = Self::with_client(url, client)?;
        registry.basic_auth = options
            .basic_auth()
            .map(|(user, password)| (Secret::new(user), Secret::new(password)));
        Ok(registry)
    }

    /// A client for the registry at `url` that sends its requests with `client` (for
    /// authentication headers, TLS settings or proxies; set a timeout on it).
    pub fn with_client(
        url: impl Into<String>,
        client: reqwest::Client,
    ) -> Result<SchemaRegistry, RegistryError> {
        let mut request_base = url.into();
        while request_base.ends_with('/') {
            request_base.pop();
        }
        let base = redact_url(&request_base).into_owned();
        let bad = |reason: String| RegistryError::BadUrl {
            url: base.clone(),
            reason,
        };
        let parsed = reqwest::Url::parse(&request_base).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(format!(
                "scheme `{}` is not http or https",
                parsed.scheme()
            )));
        }
        Ok(SchemaRegistry {
            request_base: Secret::new(request_base),
            base,
            client,
            basic_auth: None,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// A request that got no answer: a refused TLS certificate ([`RegistryError::Tls`]) or
    /// an unreachable registry.
    fn send_error(&self, e: &reqwest::Error) -> RegistryError {
        let reason = error_chain(e);
        let lower = reason.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("handshake") {
            RegistryError::Tls {
                url: self.base.clone(),
                reason,
            }
        } else {
            RegistryError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        }
    }

    /// `request` with the configured basic-auth credentials, if any.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic_auth {
            Some((user, password)) => request.basic_auth(user.expose(), Some(password.expose())),
            None => request,
        }
    }

    /// The registry's base URL, without the credentials it may hold.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The schema registered under `id`, if it is cached.
    pub fn cached(&self, id: u32) -> Option<Arc<AvroSchema>> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// The schema for a Confluent payload's header when it is cached (`Ok(None)` when it is
    /// not, so the caller can fall back to [`schema_for`](Self::schema_for)). Never waits on
    /// the network.
    pub fn cached_schema_for(&self, payload: &[u8]) -> Result<Option<Arc<AvroSchema>>, AvroError> {
        let (id, _) = split_confluent(payload)?;
        Ok(self.cached(id))
    }

    /// The schema for a Confluent payload's header, from the cache or else the registry.
    pub async fn schema_for(&self, payload: &[u8]) -> Result<Arc<AvroSchema>, RegistryError> {
        let (id, _) = split_confluent(payload)?;
        self.schema(id).await
    }

    /// The schema registered under `id`, from the cache or else the registry.
    pub async fn schema(&self, id: u32) -> Result<Arc<AvroSchema>, RegistryError> {
        if let Some(schema) = self.cached(id) {
            return Ok(schema);
        }
        let schema = Arc::new(self.fetch(id).await?);
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        Ok(cache.entry(id).or_insert(schema).clone())
    }

    async fn fetch(&self, id: u32) -> Result<AvroSchema, RegistryError> {
        let unreachable = |e: reqwest::Error| self.send_error(&e);
        let response = self
            .authorize(
                self.client
                    .get(format!("{}/schemas/ids/{id}", self.request_base.expose())),
            )
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.schemaregistry.v1+json, application/json",
            )
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let answer: Option<ErrorAnswer> = serde_json::from_slice(&body).ok();
            let error_code = answer.as_ref().and_then(|a| a.error_code);
            if status == reqwest::StatusCode::NOT_FOUND && error_code == Some(SCHEMA_NOT_FOUND) {
                return Err(RegistryError::UnknownId {
                    id,
                    url: self.base.clone(),
                });
            }
            let message = answer
                .and_then(|a| a.message)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(RegistryError::Http {
                id,
                status: status.as_u16(),
                error_code,
                message,
            });
        }
        let answer: SchemaAnswer =
            serde_json::from_slice(&body).map_err(|e| RegistryError::BadResponse {
                id,
                what: e.to_string(),
            })?;
        if let Some(t) = answer.schema_type.filter(|t| t != "AVRO") {
            return Err(RegistryError::NotAvro { id, schema_type: t });
        }
        if !answer.references.is_empty() {
            return Err(RegistryError::References { id });
        }
        AvroSchema::parse(&answer.schema)
            .map(|s| s.with_registry_id(id))
            .map_err(|source| RegistryError::Schema { id, source })
    }
}

#[cfg(test)]
mod tests;
