//! A minimal DER reader, enough to take private keys (PKCS#8, SEC1, PKCS#1) apart.

/// DER tag of INTEGER.
pub(crate) const TAG_INTEGER: u8 = 0x02;
/// DER tag of BIT STRING.
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
/// DER tag of OCTET STRING.
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
/// DER tag of OBJECT IDENTIFIER.
pub(crate) const TAG_OID: u8 = 0x06;
/// DER tag of SEQUENCE.
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// One DER element: its tag and contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) value: &'a [u8],
}

/// A cursor over consecutive DER elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the elements of `input`.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    /// True when every element has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next element, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, String> {
        let (&tag, after_tag) = self.rest.split_first().ok_or("unexpected end of DER")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte DER tags are not supported".into());
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or("DER length missing")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err("bad DER length".into());
            }
            let (len_bytes, tail) = after_len.split_at(n);
            after_len = tail;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err("DER element runs past the end of its input".into());
        }
        let (value, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(Tlv { tag, value })
    }

    /// Reads the next element and checks its tag.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let tlv = self.any()?;
        if tlv.tag == tag {
            Ok(tlv.value)
        } else {
            Err(format!(
                "expected DER tag {tag:#04x}, found {:#04x}",
                tlv.tag
            ))
        }
    }

    /// Reads the next element if it has `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, String> {
        match self.rest.first() {
            Some(&t) if t == tag => self.expect(tag).map(Some),
            _ => Ok(None),
        }
    }
}

/// Reads `input` as exactly one SEQUENCE and returns a reader over its elements.
pub(crate) fn sequence(input: &[u8]) -> Result<Reader<'_>, String> {
    let mut outer = Reader::new(input);
    let body = outer.expect(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return Err("trailing data after DER SEQUENCE".into());
    }
    Ok(Reader::new(body))
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

/// Encodes one DER element (used to wrap SEC1 keys in PKCS#8).
pub(crate) fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let trimmed = strip_leading_zeros(&bytes);
        out.push(0x80 | trimmed.len() as u8);
        out.extend_from_slice(trimmed);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_elements_and_long_lengths() {
        let inner = encode(TAG_OCTET_STRING, &[7u8; 300]);
        let seq = encode(TAG_SEQUENCE, &[encode(TAG_INTEGER, &[1]), inner].concat());
        let mut r = sequence(&seq).unwrap();
        assert_eq!(r.expect(TAG_INTEGER).unwrap(), &[1]);
        assert_eq!(r.optional(TAG_OID).unwrap(), None);
        assert_eq!(r.expect(TAG_OCTET_STRING).unwrap().len(), 300);
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_truncated_input() {
        let seq = encode(TAG_SEQUENCE, &[1, 2, 3, 4]);
        assert!(sequence(&seq[..seq.len() - 1]).is_err());
        assert!(Reader::new(&[]).any().is_err());
        assert!(sequence(&[0x30, 0x85, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01]), 1);
        assert_eq!(bit_len(&[]), 0);
    }
}
