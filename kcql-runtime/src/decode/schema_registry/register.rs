//! Registering a writer schema under a subject (`POST {url}/subjects/{subject}/versions`,
//! answered `{"id": N}`), for the Confluent Avro encoders: registering a schema the registry
//! already holds under the subject gives its existing id.

use super::{ErrorAnswer, RegistryError, SchemaRegistry};

#[derive(serde::Deserialize)]
struct IdAnswer {
    id: u32,
}

/// The subject of a topic's keys or values under Confluent's default `TopicNameStrategy`:
/// `<topic>-key` or `<topic>-value`.
pub fn topic_subject(topic: &str, is_key: bool) -> String {
    format!("{topic}-{}", if is_key { "key" } else { "value" })
}

/// `text` as one URL path segment: every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SchemaRegistry {
    /// Registers the Avro schema `schema` (JSON text) under `subject` and returns its id (the
    /// existing one when the subject already holds it). [`RegistryError::is_transient`] tells
    /// a registry that is down from one that refuses the schema.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let unreachable = |e: reqwest::Error| self.send_error(&e);
        let url = format!(
            "{}/subjects/{}/versions",
            self.request_base.expose(),
            path_segment(subject)
        );
        let body = serde_json::json!({ "schema": schema });
        let response = self
            .authorize(self.client.post(url))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/vnd.schemaregistry.v1+json",
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let answer: Option<ErrorAnswer> = serde_json::from_slice(&body).ok();
            return Err(RegistryError::Register {
                subject: subject.to_string(),
                status: status.as_u16(),
                error_code: answer.as_ref().and_then(|a| a.error_code),
                message: answer
                    .and_then(|a| a.message)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect()),
            });
        }
        serde_json::from_slice::<IdAnswer>(&body)
            .map(|a| a.id)
            .map_err(|e| RegistryError::Register {
                subject: subject.to_string(),
                status: status.as_u16(),
                error_code: None,
                message: format!("unreadable answer: {e}"),
            })
    }
}
