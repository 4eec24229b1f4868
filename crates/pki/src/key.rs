//! Private keys: reading PKCS#8, SEC1 and PKCS#1 PEM, naming their algorithm, matching them to
//! a certificate, and turning an ECDSA P-256 key into a signer.

use std::fmt;

use pkcs1::RsaPrivateKeyRef;
use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::{Encode, Tag, Tagged};
use pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfoRef};
use rustls_pki_types::PrivatePkcs8KeyDer;
use sec1::EcPrivateKey;
use serde::Serialize;

use crate::error::PkiError;
use crate::pem::pem_blocks;

pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A public-key algorithm, with the curve or size that matters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (what KubeVirt uses).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// ECDSA on NIST P-521.
    EcdsaP521,
    /// ECDSA on another curve.
    Ecdsa {
        /// The curve's dotted OID.
        curve: String,
    },
    /// RSA.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Ed25519.
    Ed25519,
    /// Anything else.
    Other {
        /// The algorithm's dotted OID.
        oid: String,
    },
}

impl KeyAlgorithm {
    /// Classifies an algorithm OID and its parameter (the curve OID for EC keys).
    pub(crate) fn from_oids(alg: &[u8], curve: Option<&[u8]>, rsa_bits: usize) -> Self {
        if alg == OID_EC_PUBLIC_KEY {
            match curve {
                Some(c) if c == OID_P256 => KeyAlgorithm::EcdsaP256,
                Some(c) if c == OID_P384 => KeyAlgorithm::EcdsaP384,
                Some(c) if c == OID_P521 => KeyAlgorithm::EcdsaP521,
                Some(c) => KeyAlgorithm::Ecdsa {
                    curve: oid_to_string(c),
                },
                None => KeyAlgorithm::Ecdsa {
                    curve: "unknown".into(),
                },
            }
        } else if alg == OID_RSA {
            KeyAlgorithm::Rsa { bits: rsa_bits }
        } else if alg == OID_ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            KeyAlgorithm::Other {
                oid: oid_to_string(alg),
            }
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::EcdsaP521 => f.write_str("ECDSA P-521"),
            KeyAlgorithm::Ecdsa { curve } => write!(f, "ECDSA (curve {curve})"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other { oid } => write!(f, "algorithm {oid}"),
        }
    }
}

/// Dotted form of a DER-encoded OID body.
pub(crate) fn oid_to_string(body: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for &b in body {
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let mut parts = Vec::with_capacity(arcs.len() + 1);
    if let Some((&first, rest)) = arcs.split_first() {
        let (a, b) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        parts.push(a.to_string());
        parts.push(b.to_string());
        parts.extend(rest.iter().map(u128::to_string));
    }
    parts.join(".")
}

/// How a private key was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// PKCS#8 (`PRIVATE KEY`).
    Pkcs8,
    /// SEC1 (`EC PRIVATE KEY`).
    Sec1,
    /// PKCS#1 (`RSA PRIVATE KEY`).
    Pkcs1,
}

/// What a private key is, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySummary {
    /// The encoding.
    pub format: KeyFormat,
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
}

/// A parsed private key. Its secret is never printed.
#[derive(Clone)]
pub struct PrivateKey {
    format: KeyFormat,
    algorithm: KeyAlgorithm,
    /// The EC point or the RSA modulus (leading zeros stripped), when the key carries it.
    public: Option<Vec<u8>>,
    /// PKCS#8 DER of an EC key (SEC1 keys are wrapped), used to build a signer.
    pkcs8: Option<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Reads the first private key in `pem_text` (PKCS#8, SEC1 or PKCS#1; other blocks such
    /// as `EC PARAMETERS` are skipped).
    pub fn from_pem(pem_text: &str) -> Result<Self, PkiError> {
        let blocks = pem_blocks(pem_text)?;
        if blocks.is_empty() {
            return Err(PkiError::NoPem {
                expected: "PRIVATE KEY",
            });
        }
        for block in &blocks {
            match block.label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8_der(&block.der),
                "EC PRIVATE KEY" => return Self::from_sec1_der(&block.der),
                "RSA PRIVATE KEY" => return Self::from_pkcs1_der(&block.der),
                "ENCRYPTED PRIVATE KEY" => return Err(PkiError::EncryptedKey),
                _ => {}
            }
        }
        Err(PkiError::UnexpectedPemLabel {
            found: blocks.first().map(|b| b.label.clone()).unwrap_or_default(),
            expected: "PRIVATE KEY",
        })
    }

    /// Reads a PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        let info =
            PrivateKeyInfoRef::try_from(der_bytes).map_err(|e| PkiError::BadKey(e.to_string()))?;
        let alg = info.algorithm.oid.as_bytes();
        let param_oid = parameter_oid(&info.algorithm)?;
        let param_oid = param_oid.as_ref().map(ObjectIdentifier::as_bytes);
        let inner = info.private_key.as_bytes();
        if alg == OID_EC_PUBLIC_KEY {
            let sec1 = parse_sec1(inner)?;
            let curve = param_oid.or(sec1.curve.as_ref().map(ObjectIdentifier::as_bytes));
            Ok(PrivateKey {
                format: KeyFormat::Pkcs8,
                algorithm: KeyAlgorithm::from_oids(alg, curve, 0),
                public: sec1.public,
                pkcs8: Some(der_bytes.to_vec()),
            })
        } else if alg == OID_RSA {
            let modulus = parse_pkcs1_modulus(inner)?;
            Ok(PrivateKey {
                format: KeyFormat::Pkcs8,
                algorithm: KeyAlgorithm::Rsa {
                    bits: bit_len(&modulus),
                },
                public: Some(modulus),
                pkcs8: None,
            })
        } else {
            Ok(PrivateKey {
                format: KeyFormat::Pkcs8,
                algorithm: KeyAlgorithm::from_oids(alg, param_oid, 0),
                public: None,
                pkcs8: None,
            })
        }
    }

    /// Reads a SEC1 `ECPrivateKey`.
    pub fn from_sec1_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        let sec1 = parse_sec1(der_bytes)?;
        let curve = sec1
            .curve
            .ok_or_else(|| PkiError::BadKey("EC PRIVATE KEY without curve parameters".into()))?;
        // PKCS#8 wrapping: { version 0, { ecPublicKey, curve }, OCTET STRING sec1 }.
        let algorithm = AlgorithmIdentifierRef {
            oid: sec1::ALGORITHM_OID,
            parameters: Some(AnyRef::from(&curve)),
        };
        let wrap = |e| bad_key("wrapping SEC1 key in PKCS#8", e);
        let private_key = OctetStringRef::new(der_bytes).map_err(wrap)?;
        let pkcs8 = PrivateKeyInfoRef::new(algorithm, private_key)
            .to_der()
            .map_err(wrap)?;
        Ok(PrivateKey {
            format: KeyFormat::Sec1,
            algorithm: KeyAlgorithm::from_oids(OID_EC_PUBLIC_KEY, Some(curve.as_bytes()), 0),
            public: sec1.public,
            pkcs8: Some(pkcs8),
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        let modulus = parse_pkcs1_modulus(der_bytes)?;
        Ok(PrivateKey {
            format: KeyFormat::Pkcs1,
            algorithm: KeyAlgorithm::Rsa {
                bits: bit_len(&modulus),
            },
            public: Some(modulus),
            pkcs8: None,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> &KeyAlgorithm {
        &self.algorithm
    }

    /// The key's encoding.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// Algorithm and encoding, for display or JSON.
    pub fn summary(&self) -> KeySummary {
        KeySummary {
            format: self.format,
            algorithm: self.algorithm.clone(),
        }
    }

    /// The public half carried in the key: the EC point, or the RSA modulus.
    pub(crate) fn public_material(&self) -> Option<&[u8]> {
        self.public.as_deref()
    }

    /// A signer for issuing certificates. Only ECDSA P-256 keys are accepted, as KubeVirt's
    /// CAs are ECDSA P-256; the key is checked to be internally consistent.
    pub fn to_signing_key(&self) -> Result<rcgen::KeyPair, PkiError> {
        if self.algorithm != KeyAlgorithm::EcdsaP256 {
            return Err(PkiError::WrongKeyType(self.algorithm.to_string()));
        }
        let pkcs8 = self
            .pkcs8
            .as_deref()
            .ok_or_else(|| PkiError::BadKey("no PKCS#8 form".into()))?;
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8),
            &rcgen::PKCS_ECDSA_P256_SHA256,
        )
        .map_err(|e| PkiError::BadKey(e.to_string()))
    }
}

/// A key that could not be read: what was being read, and why.
fn bad_key(what: &str, error: impl fmt::Display) -> PkiError {
    PkiError::BadKey(format!("{what}: {error}"))
}

/// The parameter of an `AlgorithmIdentifier` when it is an OID (the curve of an EC key);
/// other parameters, such as RSA's NULL, are not an error but yield `None`.
fn parameter_oid(alg: &AlgorithmIdentifierRef<'_>) -> Result<Option<ObjectIdentifier>, PkiError> {
    match alg.parameters {
        Some(p) if p.tag() == Tag::ObjectIdentifier => p
            .decode_as::<ObjectIdentifier>()
            .map(Some)
            .map_err(|e| bad_key("PKCS#8 algorithm parameters", e)),
        _ => Ok(None),
    }
}

/// The parts of a SEC1 `ECPrivateKey` we use.
struct Sec1 {
    curve: Option<ObjectIdentifier>,
    public: Option<Vec<u8>>,
}

fn parse_sec1(input: &[u8]) -> Result<Sec1, PkiError> {
    let key = EcPrivateKey::try_from(input).map_err(|e| PkiError::BadKey(e.to_string()))?;
    if key.private_key.is_empty() {
        return Err(PkiError::BadKey("empty EC private key".into()));
    }
    Ok(Sec1 {
        curve: key.parameters.and_then(|p| p.named_curve()),
        public: key.public_key.map(<[u8]>::to_vec),
    })
}

/// The modulus of a PKCS#1 `RSAPrivateKey`, without leading zeros.
fn parse_pkcs1_modulus(input: &[u8]) -> Result<Vec<u8>, PkiError> {
    let key = RsaPrivateKeyRef::try_from(input).map_err(|e| PkiError::BadKey(e.to_string()))?;
    Ok(strip_leading_zeros(key.modulus.as_bytes()).to_vec())
}

/// An unsigned big-endian integer without its leading zero bytes.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Size in bits of an unsigned big-endian integer.
pub(crate) fn bit_len(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        Some(&b) => (bytes.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_oids() {
        assert_eq!(oid_to_string(OID_P256), "1.2.840.10045.3.1.7");
        assert_eq!(oid_to_string(OID_P384), "1.3.132.0.34");
        assert_eq!(oid_to_string(OID_RSA), "1.2.840.113549.1.1.1");
    }

    #[test]
    fn ec_public_key_oid_matches_sec1() {
        assert_eq!(sec1::ALGORITHM_OID.as_bytes(), OID_EC_PUBLIC_KEY);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01]), 1);
        assert_eq!(bit_len(&[]), 0);
    }

    fn fixture_der(pem_text: &str) -> Vec<u8> {
        pem_blocks(pem_text).unwrap().remove(0).der
    }

    #[test]
    fn sec1_key_is_wrapped_in_pkcs8() {
        let sec1 = fixture_der(include_str!("../tests/data/ec-sec1.key"));
        let key = PrivateKey::from_sec1_der(&sec1).unwrap();
        // { version 0, { ecPublicKey, P-256 }, OCTET STRING sec1 }: a 121-byte key, so the
        // OCTET STRING has a short length and the SEQUENCE a long one.
        assert_eq!(sec1.len(), 121);
        let alg_id = [
            &[0x30, 0x13, 0x06, 0x07][..],
            OID_EC_PUBLIC_KEY,
            &[0x06, 0x08],
            OID_P256,
        ]
        .concat();
        let body = [&[0x02, 0x01, 0x00][..], &alg_id, &[0x04, 121], &sec1].concat();
        let expected = [&[0x30, 0x81, body.len() as u8][..], &body].concat();
        assert_eq!(key.pkcs8.as_deref(), Some(expected.as_slice()));
        let again = PrivateKey::from_pkcs8_der(&expected).unwrap();
        assert_eq!(again.summary().algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(again.public_material(), key.public_material());
    }

    #[test]
    fn truncated_keys_are_errors() {
        let sec1 = fixture_der(include_str!("../tests/data/ec-sec1.key"));
        let rsa = fixture_der(include_str!("../tests/data/rsa.key"));
        let pkcs1 = fixture_der(include_str!("../tests/data/rsa-pkcs1.key"));
        for cut in 0..sec1.len() {
            assert!(matches!(
                PrivateKey::from_sec1_der(&sec1[..cut]),
                Err(PkiError::BadKey(_))
            ));
        }
        for cut in (0..rsa.len()).step_by(7) {
            assert!(matches!(
                PrivateKey::from_pkcs8_der(&rsa[..cut]),
                Err(PkiError::BadKey(_))
            ));
        }
        for cut in (0..pkcs1.len()).step_by(7) {
            assert!(matches!(
                PrivateKey::from_pkcs1_der(&pkcs1[..cut]),
                Err(PkiError::BadKey(_))
            ));
        }
    }

    #[test]
    fn generated_p256_key_round_trips() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = PrivateKey::from_pem(&kp.serialize_pem()).unwrap();
        assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP256);
        assert_eq!(key.format(), KeyFormat::Pkcs8);
        assert_eq!(key.public_material(), Some(kp.public_key_raw()));
        let signer = key.to_signing_key().unwrap();
        assert_eq!(signer.public_key_raw(), kp.public_key_raw());
        assert!(!format!("{key:?}").contains("pkcs8"));
    }

    #[test]
    fn p384_key_is_not_a_signer() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let key = PrivateKey::from_pem(&kp.serialize_pem()).unwrap();
        assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP384);
        assert_eq!(
            key.to_signing_key().unwrap_err(),
            PkiError::WrongKeyType("ECDSA P-384".into())
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            PrivateKey::from_pem("nope"),
            Err(PkiError::NoPem { .. })
        ));
        let fake = crate::pem::encode_pem("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            PrivateKey::from_pem(&fake),
            Err(PkiError::BadKey(_))
        ));
        let enc = crate::pem::encode_pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(
            PrivateKey::from_pem(&enc).unwrap_err(),
            PkiError::EncryptedKey
        );
        let cert = crate::pem::encode_pem("CERTIFICATE", &[0x30, 0x00]);
        assert!(matches!(
            PrivateKey::from_pem(&cert),
            Err(PkiError::UnexpectedPemLabel { .. })
        ));
    }
}
