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
    // io::Error hides the error it wraps from `source()` (it returns that error's source),
    // and hyper nests io errors: look inside each one as well as along the chain.
    let mut pending: Vec<&(dyn std::error::Error + 'static)> = vec![e];
    while let Some(err) = pending.pop() {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return is_certificate_error(tls).then(|| tls.to_string());
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            pending.push(inner);
        }
        if let Some(source) = err.source() {
            pending.push(source);
        }
    }
    None
}

/// A certificate was refused: the server's (not trusted, expired, not for this host) or ours
/// (missing, not trusted by the server).
fn is_certificate_error(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::AlertReceived(
                A::BadCertificate
                    | A::CertificateRequired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::CertificateExpired
                    | A::CertificateRevoked
                    | A::UnsupportedCertificate
            )
    )
}
