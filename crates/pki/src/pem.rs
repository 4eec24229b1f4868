//! PEM text to DER blocks, with truncated or garbled input reported rather than skipped.

use crate::error::PkiError;

/// One PEM block: its label (e.g. `CERTIFICATE`) and decoded contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`.
    pub label: String,
    /// The base64-decoded contents.
    pub der: Vec<u8>,
}

/// Splits `text` into PEM blocks. Fails when a block is malformed or cut short (a `BEGIN` line
/// without its `END` line), so a truncated bundle is an error, not a shorter bundle.
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, PkiError> {
    let begins = text.matches("-----BEGIN ").count();
    if begins == 0 {
        return Ok(Vec::new());
    }
    let parsed = pem::parse_many(text).map_err(|e| PkiError::BadPem(e.to_string()))?;
    if parsed.len() != begins {
        return Err(PkiError::BadPem(format!(
            "{begins} BEGIN line(s) but {} complete block(s): input is truncated or garbled",
            parsed.len()
        )));
    }
    Ok(parsed
        .into_iter()
        .map(|p| PemBlock {
            label: p.tag().to_string(),
            der: p.into_contents(),
        })
        .collect())
}

/// Encodes DER as one PEM block with `\n` line endings.
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der.to_vec()), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let one = encode_pem("CERTIFICATE", &[1, 2, 3]);
        let two = format!("{one}{one}");
        let blocks = pem_blocks(&two).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].der, vec![1, 2, 3]);
        assert_eq!(blocks[1].label, "CERTIFICATE");

        let cut = &two[..two.len() - 30];
        assert!(matches!(pem_blocks(cut), Err(PkiError::BadPem(_))));
        assert!(pem_blocks("hello").unwrap().is_empty());
    }

    #[test]
    fn bad_base64_is_an_error() {
        let text = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(pem_blocks(text), Err(PkiError::BadPem(_))));
    }
}
