//! Header values we format: `Content-Range`, `ETag`, HTTP-dates, `Content-Disposition`, and the
//! file's URL path. Pure functions of values; nothing here sees a request or the filesystem.

use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::representation::Stamp;

/// `Content-Range` of a satisfied range (§14.4): `bytes first-last/len` for the half-open `range`.
/// `range` must be non-empty.
pub fn content_range(range: &Range<u64>, len: u64) -> String {
    format!(
        "bytes {}-{}/{}",
        range.start,
        range.end.saturating_sub(1),
        len
    )
}

/// `Content-Range` of a 416 (§15.5.17): `bytes */len`.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// The provisional strong `ETag` (§8.8.3) of a version whose SHA-256 is not known yet: from
/// its inode, size, modification time and status-change time (to the nanosecond). The ctime is
/// what tells apart an in-place rewrite that restored the size and the mtime (`touch -r`): it
/// cannot be set back. Never equal to a [`content_etag`] (those begin with `sha256-`).
pub fn etag(stamp: &Stamp) -> String {
    format!(
        "\"{:x}-{:x}-{:x}.{:x}-{:x}.{:x}\"",
        stamp.ino,
        stamp.size,
        stamp.mtime.0.max(0),
        stamp.mtime.1,
        stamp.ctime.0.max(0),
        stamp.ctime.1
    )
}

/// The strong `ETag` of a version whose SHA-256 is known: derived from the content alone, so
/// every replica serving the same bytes sends the same tag whatever its inode or mtime, and
/// different bytes never share one (128 bits of SHA-256; §8.8.3 asks only that a strong tag
/// change with the representation data, which a content digest does by construction).
pub fn content_etag(sha256: &[u8; 32]) -> String {
    let mut tag = String::with_capacity(42);
    tag.push_str("\"sha256-");
    for byte in &sha256[..16] {
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}

/// `Last-Modified` as sent (§8.8.2.1): the modification time in whole seconds, and never later
/// than `now` (a file dated in the future is announced as modified now).
pub fn last_modified(modified: SystemTime, now: SystemTime) -> SystemTime {
    let clamped = modified.min(now);
    match clamped.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        // Before 1970 an HTTP-date cannot say it anyway (httpdate starts at 1970).
        Err(_) => UNIX_EPOCH,
    }
}

/// An IMF-fixdate (§5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

/// RFC 8187 `attr-char`: everything else in `filename*` is percent-encoded.
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` with both forms of the name (RFC 6266 §4.3): an ASCII
/// `filename=` for old clients (non-ASCII, controls, `"`, `\` and `%` become `_`, so no client
/// can misread an escape) and `filename*=UTF-8''…` (RFC 8187) with the exact name.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{fallback}\"");
    let _ = write!(
        value,
        "; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR_ESCAPES)
    );
    value
}

/// Characters left as they are in a URL path segment (RFC 3986 `pchar` minus the sub-delims that
/// some clients or shells treat specially).
const PATH_SEGMENT_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path at which a file name is served: `/` + the percent-encoded name bytes.
pub fn url_path(name: &[u8]) -> String {
    let mut path = String::from("/");
    path.extend(percent_encoding::percent_encode(name, PATH_SEGMENT_ESCAPES));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_inclusive_section_14_4() {
        assert_eq!(content_range(&(0..500), 1234), "bytes 0-499/1234");
        assert_eq!(content_range(&(1233..1234), 1234), "bytes 1233-1233/1234");
        assert_eq!(unsatisfied_range(1234), "bytes */1234");
        assert_eq!(unsatisfied_range(0), "bytes */0");
    }

    #[test]
    fn etag_is_strong_and_changes_with_each_validator_section_8_8_3() {
        let stamp = Stamp {
            dev: 1,
            ino: 7,
            size: 100,
            mtime: (1_700_000_000, 5),
            ctime: (1_700_000_001, 6),
        };
        let tag = etag(&stamp);
        assert!(tag.starts_with('"') && tag.ends_with('"') && !tag.starts_with("W/"));
        assert_ne!(tag, etag(&Stamp { ino: 8, ..stamp }));
        assert_ne!(tag, etag(&Stamp { size: 101, ..stamp }));
        assert_ne!(
            tag,
            etag(&Stamp {
                mtime: (1_700_000_000, 6),
                ..stamp
            })
        );
        assert_ne!(
            tag,
            etag(&Stamp {
                ctime: (1_700_000_002, 6),
                ..stamp
            }),
            "touch -r"
        );
        assert_eq!(tag, etag(&stamp));
        let content = content_etag(&[0xab; 32]);
        assert_eq!(content, format!("\"sha256-{}\"", "ab".repeat(16)));
        assert_ne!(content, content_etag(&[0xac; 32]));
        assert!(!tag.starts_with("\"sha256-"), "the two kinds never collide");
        assert!(
            crate::conditional::parse_entity_tag(&tag)
                .is_some_and(|(t, rest)| t == tag && rest.is_empty())
        );
    }

    #[test]
    fn last_modified_is_whole_seconds_and_never_in_the_future_section_8_8_2_1() {
        let now = UNIX_EPOCH + Duration::new(2_000, 0);
        assert_eq!(
            last_modified(UNIX_EPOCH + Duration::new(1_000, 999_999_999), now),
            UNIX_EPOCH + Duration::from_secs(1_000)
        );
        assert_eq!(last_modified(now + Duration::from_secs(60), now), now);
        assert_eq!(
            last_modified(UNIX_EPOCH - Duration::from_secs(5), now),
            UNIX_EPOCH
        );
    }

    #[test]
    fn http_dates_are_imf_fixdate_section_5_6_7() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn content_disposition_has_ascii_and_utf8_names_rfc_6266() {
        assert_eq!(
            content_disposition("love.rmvb"),
            "attachment; filename=\"love.rmvb\"; filename*=UTF-8''love.rmvb"
        );
        assert_eq!(
            content_disposition("my film \"é\" 100%.mp4"),
            "attachment; filename=\"my film ___ 100_.mp4\"; filename*=UTF-8''my%20film%20%22%C3%A9%22%20100%25.mp4"
        );
        assert_eq!(
            content_disposition("日本.txt"),
            "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"
        );
        assert_eq!(
            content_disposition("a\\b\n"),
            "attachment; filename=\"a_b_\"; filename*=UTF-8''a%5Cb%0A"
        );
    }

    #[test]
    fn url_paths_round_trip_through_percent_encoding() {
        for name in [
            "love.rmvb",
            "my film.mp4",
            "日本 語.txt",
            "a%b#c?d",
            "weird\"name",
        ] {
            let path = url_path(name.as_bytes());
            assert!(
                path.is_ascii() && !path[1..].contains(['/', ' ', '?', '#']),
                "{path}"
            );
            let parsed = crate::tree::route::parse(&path).unwrap();
            assert_eq!(parsed.segments, [name.as_bytes()], "{path}");
        }
        assert_eq!(url_path(b"my film.mp4"), "/my%20film.mp4");
    }
}
