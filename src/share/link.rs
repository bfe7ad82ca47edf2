//! Expiring links (`rangeserve link`, `--signed-links`). A link's first path segment is a token
//! `<kind><n>.<expiry>.<signature>`: `kind` is `f` (a file: the next `n` segments name it, and
//! its `.sha256` sidecar rides on the same link) or `d` (a directory: the next `n` segments name
//! it, and its listing and everything below it are covered); `expiry` is Unix seconds; the
//! signature is HMAC-SHA-256 (key from the state directory or `--link-key`) over the version,
//! the kind, `n`, the expiry text and the covered segments, in unpadded base64url. Everything
//! after the token is the ordinary path, so the last segment is still the file's name and
//! `wget -c`, `curl -C - -O` and `aria2c` save and resume under it. Pure: [`sign`] and
//! [`verify`] take the key, the segments and a clock reading.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a link covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// What a request's token and path say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Valid and unexpired: serve the path after the token.
    Valid,
    /// Signed, but past its expiry: 410.
    Expired,
    /// Not a link, altered, or a path the link does not cover: 403.
    Refused,
}

fn message(
    kind: Kind,
    n: usize,
    expiry: &str,
    downloads: Option<&str>,
    scope: &[Vec<u8>],
) -> Vec<u8> {
    let k = match kind {
        Kind::File => 'f',
        Kind::Dir => 'd',
    };
    // A link with a download limit signs it (v2): taking the field out changes the message.
    let mut m = match downloads {
        None => format!("rangeserve-link-v1\n{k}\n{n}\n{expiry}\n"),
        Some(limit) => format!("rangeserve-link-v2\n{k}\n{n}\n{expiry}\n{limit}\n"),
    }
    .into_bytes();
    for segment in scope {
        // Length-prefixed, so no two lists of segments give the same bytes.
        m.extend_from_slice(segment.len().to_string().as_bytes());
        m.push(b':');
        m.extend_from_slice(segment);
    }
    m
}

/// HMAC-SHA-256 (`None` only if the key were refused, which HMAC never does: any length goes).
fn mac(key: &[u8], message: &[u8]) -> Option<[u8; 32]> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac.finalize().into_bytes().into())
}

fn matches(key: &[u8], message: &[u8], given: &[u8]) -> bool {
    mac(key, message).is_some_and(|expected| bool::from(expected.ct_eq(given)))
}

/// The token for `scope` (decoded path segments) until `expiry` (Unix seconds).
pub fn sign(key: &[u8], kind: Kind, scope: &[Vec<u8>], expiry: u64) -> String {
    sign_limited(key, kind, scope, expiry, None)
}

/// [`sign`], allowing at most `downloads` completed downloads through the link when given
/// (`<kind><n>.<expiry>.n<downloads>.<signature>`).
pub fn sign_limited(
    key: &[u8],
    kind: Kind,
    scope: &[Vec<u8>],
    expiry: u64,
    downloads: Option<u64>,
) -> String {
    let expiry = expiry.to_string();
    let limit = downloads.map(|n| n.to_string());
    let m = message(kind, scope.len(), &expiry, limit.as_deref(), scope);
    let signature = mac(key, &m).unwrap_or_default();
    let k = match kind {
        Kind::File => 'f',
        Kind::Dir => 'd',
    };
    match limit {
        None => format!("{k}{}.{expiry}.{}", scope.len(), B64.encode(signature)),
        Some(limit) => format!(
            "{k}{}.{expiry}.n{limit}.{}",
            scope.len(),
            B64.encode(signature)
        ),
    }
}

/// The download limit a token carries (trust it only once [`verify`] said `Valid`).
pub fn download_limit(token: &str) -> Option<u64> {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.as_slice() {
        [_, _, limit, _] => limit.strip_prefix('n')?.parse().ok(),
        _ => None,
    }
}

/// A token's expiry (Unix seconds; trust it only once [`verify`] said `Valid`).
pub fn expiry(token: &str) -> u64 {
    token
        .split('.')
        .nth(1)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0)
}

/// A link's id for logs, hooks and `rangeserve links`: it names the link without giving it (a
/// digest of the token, from which neither the token nor its signature can be had).
pub fn id(token: &str) -> String {
    use sha2::Digest as _;
    let digest = Sha256::digest(format!("rangeserve-link-id\n{token}"));
    crate::http::format::hex(&digest[..8])
}

/// For a folder link's token (`d<n>.…`), the number of segments its folder has: everything
/// served through it, symlinks resolved, must lie inside that folder. `None` for a file link
/// (it names one path, the one its maker chose) or anything else.
pub fn folder_segments(token: &str) -> Option<usize> {
    token.strip_prefix('d')?.split('.').next()?.parse().ok()
}

/// Checks a token (the first segment, as text) against the segments after it, at `now`.
/// Returns the check, and whether what is asked is the file's sidecar (served as such).
pub fn verify(key: &[u8], token: &str, rest: &[Vec<u8>], now: u64) -> Check {
    let parts: Vec<&str> = token.split('.').collect();
    let (head, expiry, limit, signature) = match parts.as_slice() {
        [head, expiry, signature] => (*head, *expiry, None, *signature),
        [head, expiry, limit, signature] => {
            // `n` and a number without sign or leading zero, as `sign_limited` writes it.
            match limit.strip_prefix('n') {
                Some(n)
                    if !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && !(n.len() > 1 && n.starts_with('0')) =>
                {
                    (*head, *expiry, Some(n), *signature)
                }
                _ => return Check::Refused,
            }
        }
        _ => return Check::Refused,
    };
    let kind = match head.as_bytes().first() {
        Some(b'f') => Kind::File,
        Some(b'd') => Kind::Dir,
        _ => return Check::Refused,
    };
    let Ok(n) = head[1..].parse::<usize>() else {
        return Check::Refused;
    };
    if head[1..].starts_with(['+', '0']) && head.len() > 2 || rest.len() < n {
        return Check::Refused;
    }
    let Ok(given) = B64.decode(signature) else {
        return Check::Refused;
    };
    let mut scope = rest[..n].to_vec();
    // A file link also opens the file's sidecar: `name.sha256` in place of `name`.
    if kind == Kind::File {
        if rest.len() != n {
            return Check::Refused;
        }
        let sidecar_of = scope
            .last()
            .and_then(|last| {
                // The documents that describe the file ride on its link too.
                [&b".sha256"[..], b".meta4", b".torrent"]
                    .iter()
                    .find_map(|suffix| last.strip_suffix(*suffix))
            })
            .map(<[u8]>::to_vec);
        if !matches(key, &message(kind, n, expiry, limit, &scope), &given) {
            let Some(base) = sidecar_of else {
                return Check::Refused;
            };
            if let Some(last) = scope.last_mut() {
                *last = base;
            }
            if !matches(key, &message(kind, n, expiry, limit, &scope), &given) {
                return Check::Refused;
            }
        }
    } else if !matches(key, &message(kind, n, expiry, limit, &scope), &given) {
        return Check::Refused;
    }
    match expiry.parse::<u64>() {
        Ok(until) if now <= until && !expiry.starts_with('+') => Check::Valid,
        Ok(_) => Check::Expired,
        Err(_) => Check::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn segs(path: &str) -> Vec<Vec<u8>> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn a_file_link_opens_the_file_and_its_sidecar_until_it_expires() {
        let token = sign(KEY, Kind::File, &segs("season 1/ep1.mkv"), 1000);
        assert!(token.starts_with("f2.1000."));
        assert_eq!(
            verify(KEY, &token, &segs("season 1/ep1.mkv"), 999),
            Check::Valid
        );
        assert_eq!(
            verify(KEY, &token, &segs("season 1/ep1.mkv"), 1000),
            Check::Valid
        );
        assert_eq!(
            verify(KEY, &token, &segs("season 1/ep1.mkv.sha256"), 10),
            Check::Valid
        );
        assert_eq!(
            verify(KEY, &token, &segs("season 1/ep1.mkv"), 1001),
            Check::Expired
        );
        for other in [
            "season 1/ep2.mkv",
            "season 1",
            "season 1/ep1.mkv/x",
            "ep1.mkv",
            "season 1/ep1.mkv.sha256.sha256",
        ] {
            assert_eq!(
                verify(KEY, &token, &segs(other), 10),
                Check::Refused,
                "{other}"
            );
        }
        assert_eq!(
            verify(b"another key", &token, &segs("season 1/ep1.mkv"), 10),
            Check::Refused
        );
    }

    #[test]
    fn a_dir_link_opens_the_listing_and_everything_below_but_nothing_beside() {
        let token = sign(KEY, Kind::Dir, &segs("season 1"), 1000);
        for below in [
            "season 1",
            "season 1/ep1.mkv",
            "season 1/extras/a.txt",
            "season 1/season 1.tar",
        ] {
            assert_eq!(
                verify(KEY, &token, &segs(below), 5),
                Check::Valid,
                "{below}"
            );
        }
        for beside in ["season 2/ep1.mkv", "", "season 10/x"] {
            assert_eq!(
                verify(KEY, &token, &segs(beside), 5),
                Check::Refused,
                "{beside}"
            );
        }
        let root = sign(KEY, Kind::Dir, &[], 1000);
        assert_eq!(
            verify(KEY, &root, &segs("anything/at/all"), 5),
            Check::Valid
        );
    }

    #[test]
    fn a_download_limit_is_signed_and_cannot_be_taken_out_or_changed() {
        let scope = segs("a/film.mkv");
        let token = sign_limited(KEY, Kind::File, &scope, 1000, Some(3));
        assert!(token.starts_with("f2.1000.n3."), "{token}");
        assert_eq!(verify(KEY, &token, &scope, 5), Check::Valid);
        assert_eq!(download_limit(&token), Some(3));
        assert_eq!(download_limit(&sign(KEY, Kind::File, &scope, 1000)), None);
        let parts: Vec<&str> = token.split('.').collect();
        for forged in [
            format!("{}.{}.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.n4.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.n03.{}", parts[0], parts[1], parts[3]),
            format!("{}.{}.x3.{}", parts[0], parts[1], parts[3]),
        ] {
            assert_eq!(verify(KEY, &forged, &scope, 5), Check::Refused, "{forged}");
        }
        assert_eq!(id(&token).len(), 16);
        assert_ne!(id(&token), id(&sign(KEY, Kind::File, &scope, 1000)));
        assert!(!token.contains(&id(&token)));
    }

    #[test]
    fn tokens_that_are_not_links_are_refused() {
        for token in [
            "",
            "x",
            "f1",
            "f1.100",
            "f1.100.!!",
            "g1.100.AAAA",
            "f.100.AAAA",
            "f01.100.AAAA",
        ] {
            assert_eq!(verify(KEY, token, &segs("a"), 5), Check::Refused, "{token}");
        }
    }

    proptest! {
        /// Every single-byte change of a valid link — token (kind, count, expiry, signature) or
        /// path — is refused, and the link itself is accepted.
        #[test]
        fn every_single_byte_change_is_refused(
            path in proptest::collection::vec("[a-zA-Z0-9 ._-]{1,12}", 1..4),
            expiry in 1_000u64..4_000_000_000,
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let scope: Vec<Vec<u8>> = path.iter().map(|s| s.as_bytes().to_vec()).collect();
            let token = sign(KEY, Kind::File, &scope, expiry);
            prop_assert_eq!(verify(KEY, &token, &scope, expiry - 1), Check::Valid);
            // The link as bytes: the token, then each segment.
            let mut whole: Vec<Vec<u8>> = vec![token.clone().into_bytes()];
            whole.extend(scope.iter().cloned());
            let total: usize = whole.iter().map(Vec::len).sum();
            let mut i = at.index(total);
            let mut part = 0;
            while i >= whole[part].len() {
                i -= whole[part].len();
                part += 1;
            }
            prop_assume!(whole[part][i] != byte);
            whole[part][i] = byte;
            let token = String::from_utf8_lossy(&whole[0]).into_owned();
            let check = verify(KEY, &token, &whole[1..], expiry - 1);
            // A changed last segment may name the sidecar only if it is exactly name + ".sha256",
            // which one byte cannot make.
            prop_assert_eq!(check, Check::Refused);
        }
    }
}
