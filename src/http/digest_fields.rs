//! The digest fields: what `Want-Repr-Digest` asks for and the `Repr-Digest` value sent (RFC
//! 9530), and the older `Want-Digest`/`Digest` (RFC 3230) that aria2c still uses. Pure.

use super::format::base64;

/// The `Repr-Digest` field value (RFC 9530 §3): a Structured Field Dictionary with one member.
pub fn repr_digest_value(digest: &[u8; 32]) -> String {
    format!("sha-256=:{}:", base64(digest))
}

/// Whether to send `Repr-Digest: sha-256` given the request's `Want-Repr-Digest` (RFC 9530 §4).
/// Absent or unparseable → yes (the field may be sent unsolicited). Otherwise yes unless the
/// client gave `sha-256` the weight 0 ("not acceptable"): for a preference of algorithms we do
/// not have, our sha-256 is still better than nothing (§4 lets a server send what it supports).
pub fn wants_sha256(want_repr_digest: Option<&str>) -> bool {
    let Some(value) = want_repr_digest else {
        return true;
    };
    for member in value.split(',') {
        let Some((key, weight)) = member.split_once('=') else {
            continue;
        };
        if key.trim() == "sha-256" {
            return weight.split(';').next().map(str::trim) != Some("0");
        }
    }
    true
}

/// The `Digest` field value (RFC 3230 §4.3.2, with the RFC 5843 `SHA-256` token): the
/// algorithm and the base64 digest, no quotes.
pub fn digest_value(digest: &[u8; 32]) -> String {
    format!("SHA-256={}", base64(digest))
}

/// Whether a `Want-Digest` (RFC 3230 §4.3.1: `SHA-512;q=1, SHA-256;q=1, SHA;q=0.1`, aria2c's)
/// names `SHA-256` (any case) with a q-value above 0. Absent: no (`Digest` is only sent when
/// asked for).
pub fn wants_rfc3230_sha256(want_digest: Option<&str>) -> bool {
    let Some(value) = want_digest else {
        return false;
    };
    value.split(',').any(|member| {
        let mut parts = member.split(';');
        let algorithm = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("q")).then(|| v.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        algorithm.eq_ignore_ascii_case("sha-256") && q > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    #[test]
    fn repr_digest_is_a_structured_field_byte_sequence_rfc_9530_section_3() {
        // The empty string's SHA-256, in hex and in the field's base64 form.
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            crate::http::format::hex(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            repr_digest_value(&empty),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn want_digest_asks_for_sha256_by_name_with_a_positive_q_rfc_3230() {
        assert!(wants_rfc3230_sha256(Some(
            "SHA-512;q=1, SHA-256;q=1, SHA;q=0.1"
        )));
        assert!(wants_rfc3230_sha256(Some("sha-256")));
        assert!(wants_rfc3230_sha256(Some(" SHA-256 ; q=0.5")));
        assert!(!wants_rfc3230_sha256(Some("SHA-256;q=0")));
        assert!(!wants_rfc3230_sha256(Some("SHA-512, MD5")));
        assert!(!wants_rfc3230_sha256(None));
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            digest_value(&empty),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn want_repr_digest_only_refuses_sha256_at_weight_zero_rfc_9530_section_4() {
        assert!(wants_sha256(None));
        assert!(wants_sha256(Some("sha-256=1")));
        assert!(wants_sha256(Some("sha-512=3, sha-256=10")));
        assert!(wants_sha256(Some("sha-512=3")));
        assert!(wants_sha256(Some("garbage")));
        assert!(!wants_sha256(Some("sha-256=0")));
        assert!(!wants_sha256(Some("sha-512=10, sha-256=0")));
    }
}
