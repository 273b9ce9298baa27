//! What a failed HTTP exchange means: retryable or not, with a message naming every cause,
//! and the delay a response asks for.

use std::time::{Duration, SystemTime};

use super::super::classify;
use crate::error_chain::error_chain;

/// The `Retry-After` delay `response` asks for, when it gives a usable one.
pub(super) fn retry_after_of(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| classify::parse_retry_after(v, SystemTime::now()))
}

/// Whether a request error is worth retrying, and a message naming its causes.
pub(super) fn transport_failure(e: &reqwest::Error, timeout: Duration) -> (bool, String) {
    let chain = error_chain(e);
    if let Some(reason) = certificate_failure(e) {
        // Retrying cannot make the server's certificate trusted (or ours accepted).
        (
            false,
            format!("TLS certificate verification failed ({reason}): {chain}"),
        )
    } else if e.is_timeout() {
        (true, format!("no answer within {timeout:?}: {chain}"))
    } else if e.is_connect() {
        (true, format!("cannot connect: {chain}"))
    } else if e.is_builder() {
        (false, format!("cannot build the request: {chain}"))
    } else {
        (true, chain)
    }
}

/// The rustls error in `e`'s causes when the TLS handshake failed on a certificate (the
/// server's not trusted or not for this host, or ours refused by the server).
fn certificate_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        // io::Error hides its inner error from `source()`: look inside it.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                return match tls {
                    rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(
                        rustls::AlertDescription::BadCertificate
                        | rustls::AlertDescription::CertificateRequired
                        | rustls::AlertDescription::CertificateUnknown
                        | rustls::AlertDescription::UnknownCA
                        | rustls::AlertDescription::CertificateExpired
                        | rustls::AlertDescription::CertificateRevoked
                        | rustls::AlertDescription::UnsupportedCertificate,
                    ) => Some(tls.to_string()),
                    _ => None,
                };
            }
        }
        next = err.source();
    }
    None
}
