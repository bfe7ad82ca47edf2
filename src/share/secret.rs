//! Pure: the request path's first segment when it is a secret — the `--secret-path` token or a
//! signed link's token — compared in constant time, and kept out of the logs.
//!
//! A token is as good as a password: the access log, the progress lines and the live view show
//! `/<secret>/rest` or `/<link>/rest` instead (text and JSON alike), so a log shipped elsewhere
//! gives no way in.

use std::borrow::Cow;

use subtle::ConstantTimeEq as _;

/// What stands in the logs for a `--secret-path` token.
pub const SECRET: &str = "<secret>";
/// What stands in the logs for a signed link's token.
pub const LINK: &str = "<link>";

/// `path` without its first segment when that segment is `secret` (compared in constant time:
/// the time taken says nothing of how much of a guess was right). The rest is empty or begins
/// with `/`. `None`: another first segment.
pub fn strip_secret<'a>(path: &'a str, secret: &str) -> Option<&'a str> {
    let after = path.strip_prefix('/')?;
    let (first, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
    bool::from(first.as_bytes().ct_eq(secret.as_bytes())).then_some(rest)
}

/// What a path may carry that must not be logged.
#[derive(Debug, Clone, Copy)]
pub enum Secrets<'a> {
    None,
    /// `--secret-path`'s token.
    Path(&'a str),
    /// `--signed-links`: any segment that has a link token's form.
    Links,
}

/// Whether a segment has a link token's form: `f` or `d`, digits, `.`, digits, `.`, base64url.
fn looks_like_link(segment: &str) -> bool {
    let parts: Vec<&str> = segment.split('.').collect();
    // `<kind><n>.<expiry>.<signature>`, or with a download limit `….n<N>.<signature>`.
    let (head, expiry, signature) = match parts.as_slice() {
        [head, expiry, signature] => (*head, *expiry, *signature),
        [head, expiry, limit, signature]
            if limit.len() > 1
                && limit.starts_with('n')
                && limit[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            (*head, *expiry, *signature)
        }
        _ => return false,
    };
    head.len() > 1
        && head.starts_with(['f', 'd'])
        && head[1..].bytes().all(|b| b.is_ascii_digit())
        && !expiry.is_empty()
        && expiry.bytes().all(|b| b.is_ascii_digit())
        && signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

/// `path` as logged: every segment that is the secret token (or, with signed links, has a link
/// token's form) replaced by its stand-in, wherever it is (`//TOKEN/…`, `/TOKEN/../TOKEN/…`).
pub fn redacted<'a>(path: &'a str, secrets: Secrets<'_>) -> Cow<'a, str> {
    if matches!(secrets, Secrets::None) {
        return Cow::Borrowed(path);
    }
    let hides = |segment: &str| match secrets {
        Secrets::None => None,
        Secrets::Path(token) => (!token.is_empty() && segment.contains(token)).then_some(SECRET),
        Secrets::Links => looks_like_link(segment).then_some(LINK),
    };
    if !path.split('/').any(|s| hides(s).is_some()) {
        return Cow::Borrowed(path);
    }
    let shown: Vec<&str> = path.split('/').map(|s| hides(s).unwrap_or(s)).collect();
    Cow::Owned(shown.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_the_whole_first_segment() {
        let secret = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            strip_secret(&format!("/{secret}/a/b"), secret),
            Some("/a/b")
        );
        assert_eq!(strip_secret(&format!("/{secret}"), secret), Some(""));
        assert_eq!(strip_secret(&format!("/{secret}x/a"), secret), None);
        assert_eq!(strip_secret(&format!("/{}/a", &secret[..31]), secret), None);
        assert_eq!(strip_secret("/a/b", secret), None);
        assert_eq!(strip_secret("", secret), None);
    }

    #[test]
    fn logged_paths_show_a_stand_in_for_the_token_wherever_it_is() {
        let token = Secrets::Path("t0ken");
        assert_eq!(redacted("/t0ken/a%20b/c", token), "/<secret>/a%20b/c");
        assert_eq!(redacted("//t0ken/a", token), "//<secret>/a");
        assert_eq!(
            redacted("/t0ken/../t0ken/a", token),
            "/<secret>/../<secret>/a"
        );
        assert_eq!(
            redacted("/xt0kenx/a", token),
            "/<secret>/a",
            "a segment holding it"
        );
        assert_eq!(redacted("/t0ken", token), "/<secret>");
        assert_eq!(redacted("/d1.17.s-ig_=/", Secrets::Links), "/<link>/");
        assert_eq!(redacted("/f1.17.n3.s-ig/a", Secrets::Links), "/<link>/a");
        assert_eq!(
            redacted("//f2.1796308509.h7kY/x", Secrets::Links),
            "//<link>/x"
        );
        assert_eq!(
            redacted("/film.2024.mkv/a.b", Secrets::Links),
            "/film.2024.mkv/a.b"
        );
        assert_eq!(redacted("/a/b", Secrets::None), "/a/b");
        assert!(matches!(redacted("/a/b", token), Cow::Borrowed(_)));
    }
}
