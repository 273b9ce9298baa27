//! PEM files of TLS settings: a bundle of certificates (a CA file may hold several, a client
//! certificate file holds the chain) and one private key (PKCS#8, PKCS#1 or SEC1).
//!
//! Each reader names the file and what is wrong with it: missing, unreadable, not PEM, or PEM
//! without the expected section (a key file given as the certificate and the like). Nothing
//! of a file's content appears in an error.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why a PEM file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PemError {
    /// The file cannot be read (missing, a directory, no permission).
    #[error("cannot read `{path}`: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is PEM-framed but a section is broken (bad base64, no END line).
    #[error("`{path}` is not valid PEM: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is broken.
        reason: String,
    },
    /// The file holds no section of the kind wanted (not PEM at all, or only other sections).
    #[error("`{path}` holds no PEM {wanted} (expected a `-----BEGIN {label}-----` section)")]
    Missing {
        /// The file.
        path: String,
        /// What was looked for ("certificate", "private key").
        wanted: &'static str,
        /// The PEM label expected.
        label: &'static str,
    },
}

impl PemError {
    /// The file the problem is about.
    pub fn path(&self) -> &str {
        match self {
            PemError::Read { path, .. }
            | PemError::Invalid { path, .. }
            | PemError::Missing { path, .. } => path,
        }
    }
}

/// Every certificate (`-----BEGIN CERTIFICATE-----`) in the PEM file at `path`, in file order;
/// other sections are ignored. At least one, or an error.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(PemError::Missing {
            path: path.display().to_string(),
            wanted: "certificate",
            label: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The first private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) in the PEM file
/// at `path`. Encrypted keys are not supported (they are reported as missing).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => PemError::Missing {
            path: path.display().to_string(),
            wanted: "private key",
            label: "PRIVATE KEY",
        },
        other => invalid(path, other),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|e| PemError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn invalid(path: &Path, e: pem::Error) -> PemError {
    PemError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
