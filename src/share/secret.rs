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

/// `path` as logged: its first segment replaced by `stand_in` (`None`: as it is).
pub fn redacted<'a>(path: &'a str, stand_in: Option<&str>) -> Cow<'a, str> {
    let Some(stand_in) = stand_in else {
        return Cow::Borrowed(path);
    };
    let after = path.strip_prefix('/').unwrap_or(path);
    let rest = after.find('/').map_or("", |at| &after[at..]);
    Cow::Owned(format!("/{stand_in}{rest}"))
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
    fn logged_paths_show_a_stand_in_for_the_token() {
        assert_eq!(
            redacted("/t0ken/a%20b/c", Some(SECRET)),
            "/<secret>/a%20b/c"
        );
        assert_eq!(redacted("/d1.17.sig/", Some(LINK)), "/<link>/");
        assert_eq!(redacted("/t0ken", Some(SECRET)), "/<secret>");
        assert_eq!(redacted("/a/b", None), "/a/b");
    }
}
