//! The error type for reading and producing certificates and keys.

use thiserror::Error;

/// Why a certificate, key or bundle could not be read, or a certificate could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PkiError {
    /// The text holds no PEM block at all.
    #[error("no PEM block found (expected {expected})")]
    NoPem {
        /// The PEM label that was looked for, e.g. `CERTIFICATE`.
        expected: &'static str,
    },
    /// The PEM text is malformed: bad base64, mismatched labels, or a block cut short.
    #[error("malformed PEM: {0}")]
    BadPem(String),
    /// A PEM block has a label other than the expected one.
    #[error("unexpected PEM block {found:?} (expected {expected})")]
    UnexpectedPemLabel {
        /// The label found.
        found: String,
        /// The label expected.
        expected: &'static str,
    },
    /// A certificate's DER could not be parsed.
    #[error("invalid certificate: {0}")]
    BadCertificate(String),
    /// A private key's DER could not be parsed.
    #[error("invalid private key: {0}")]
    BadKey(String),
    /// The private key is encrypted; only plain keys are supported.
    #[error("encrypted private keys are not supported")]
    EncryptedKey,
    /// The key is not of the type KubeVirt uses.
    #[error("wrong key type: expected ECDSA P-256, got {0}")]
    WrongKeyType(String),
    /// The private key does not belong to the certificate.
    #[error("private key does not match the certificate's public key")]
    KeyMismatch,
    /// The certificate given as a CA is not a CA certificate.
    #[error("certificate is not a CA (basicConstraints CA:true missing)")]
    NotACa,
    /// A duration or instant is outside what a certificate can express.
    #[error("time out of range: {0}")]
    TimeOutOfRange(String),
    /// The certificate generator failed.
    #[error("certificate generation failed: {0}")]
    Generation(String),
}
