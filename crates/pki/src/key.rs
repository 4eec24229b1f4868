//! Private keys: reading PKCS#8, SEC1 and PKCS#1 PEM, naming their algorithm, matching them to
//! a certificate, and turning an ECDSA P-256 key into a signer.

use std::fmt;

use rustls_pki_types::PrivatePkcs8KeyDer;
use serde::Serialize;

use crate::der::{self, Reader};
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
        let bad = PkiError::BadKey;
        let mut seq = der::sequence(der_bytes).map_err(bad)?;
        seq.expect(der::TAG_INTEGER).map_err(bad)?;
        let mut alg_id = Reader::new(seq.expect(der::TAG_SEQUENCE).map_err(bad)?);
        let alg = alg_id.expect(der::TAG_OID).map_err(bad)?;
        let param_oid = alg_id.optional(der::TAG_OID).map_err(bad)?;
        let inner = seq.expect(der::TAG_OCTET_STRING).map_err(bad)?;
        if alg == OID_EC_PUBLIC_KEY {
            let sec1 = parse_sec1(inner).map_err(bad)?;
            let curve = param_oid.or(sec1.curve.as_deref());
            Ok(PrivateKey {
                format: KeyFormat::Pkcs8,
                algorithm: KeyAlgorithm::from_oids(alg, curve, 0),
                public: sec1.public,
                pkcs8: Some(der_bytes.to_vec()),
            })
        } else if alg == OID_RSA {
            let modulus = parse_pkcs1_modulus(inner).map_err(bad)?;
            Ok(PrivateKey {
                format: KeyFormat::Pkcs8,
                algorithm: KeyAlgorithm::Rsa {
                    bits: der::bit_len(&modulus),
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
        let sec1 = parse_sec1(der_bytes).map_err(PkiError::BadKey)?;
        let curve = sec1
            .curve
            .clone()
            .ok_or_else(|| PkiError::BadKey("EC PRIVATE KEY without curve parameters".into()))?;
        // PKCS#8 wrapping: { version 0, { ecPublicKey, curve }, OCTET STRING sec1 }.
        let alg_id = der::encode(
            der::TAG_SEQUENCE,
            &[
                der::encode(der::TAG_OID, OID_EC_PUBLIC_KEY),
                der::encode(der::TAG_OID, &curve),
            ]
            .concat(),
        );
        let pkcs8 = der::encode(
            der::TAG_SEQUENCE,
            &[
                der::encode(der::TAG_INTEGER, &[0]),
                alg_id,
                der::encode(der::TAG_OCTET_STRING, der_bytes),
            ]
            .concat(),
        );
        Ok(PrivateKey {
            format: KeyFormat::Sec1,
            algorithm: KeyAlgorithm::from_oids(OID_EC_PUBLIC_KEY, Some(&curve), 0),
            public: sec1.public,
            pkcs8: Some(pkcs8),
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey`.
    pub fn from_pkcs1_der(der_bytes: &[u8]) -> Result<Self, PkiError> {
        let modulus = parse_pkcs1_modulus(der_bytes).map_err(PkiError::BadKey)?;
        Ok(PrivateKey {
            format: KeyFormat::Pkcs1,
            algorithm: KeyAlgorithm::Rsa {
                bits: der::bit_len(&modulus),
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

/// The parts of a SEC1 `ECPrivateKey` we use.
struct Sec1 {
    curve: Option<Vec<u8>>,
    public: Option<Vec<u8>>,
}

fn parse_sec1(input: &[u8]) -> Result<Sec1, String> {
    let mut seq = der::sequence(input)?;
    let version = seq.expect(der::TAG_INTEGER)?;
    if version != [1] {
        return Err("EC private key version is not 1".into());
    }
    let secret = seq.expect(der::TAG_OCTET_STRING)?;
    if secret.is_empty() {
        return Err("empty EC private key".into());
    }
    let mut curve = None;
    let mut public = None;
    while !seq.is_empty() {
        let tlv = seq.any()?;
        match tlv.tag {
            0xa0 => curve = Some(Reader::new(tlv.value).expect(der::TAG_OID)?.to_vec()),
            0xa1 => {
                let bits = Reader::new(tlv.value).expect(der::TAG_BIT_STRING)?;
                let (&unused, point) = bits.split_first().ok_or("empty EC public key")?;
                if unused != 0 {
                    return Err("EC public key has unused bits".into());
                }
                public = Some(point.to_vec());
            }
            _ => {
                return Err(format!(
                    "unexpected element {:#04x} in EC private key",
                    tlv.tag
                ))
            }
        }
    }
    Ok(Sec1 { curve, public })
}

fn parse_pkcs1_modulus(input: &[u8]) -> Result<Vec<u8>, String> {
    let mut seq = der::sequence(input)?;
    seq.expect(der::TAG_INTEGER)?;
    let modulus = seq.expect(der::TAG_INTEGER)?;
    seq.expect(der::TAG_INTEGER)?;
    Ok(der::strip_leading_zeros(modulus).to_vec())
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
