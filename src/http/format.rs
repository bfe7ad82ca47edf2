//! Header values we format: `Content-Range`, `ETag`, HTTP-dates, `Content-Disposition`, and the
//! file's URL path. Pure functions of values; nothing here sees a request or the filesystem.

use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// `Content-Range` of a satisfied range (§14.4): `bytes first-last/len` for the half-open `range`.
/// `range` must be non-empty.
///
/// This and the tags and dates below are written digit by digit instead of through `format!`:
/// they are built on every response, and `core::fmt` cost several thousand instructions per
/// response here (callgrind). The tests check each against the `format!` (or `httpdate`) it
/// replaced.
pub fn content_range(range: &Range<u64>, len: u64) -> String {
    let mut value = String::with_capacity(6 + 3 * 20 + 2);
    value.push_str("bytes ");
    push_decimal(&mut value, range.start);
    value.push('-');
    push_decimal(&mut value, range.end.saturating_sub(1));
    value.push('/');
    push_decimal(&mut value, len);
    value
}

/// `Content-Range` of a 416 (§15.5.17): `bytes */len`.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `n` in lowercase hexadecimal without leading zeros (`{:x}`).
pub fn push_hex(out: &mut String, n: u64) {
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = HEX_DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

/// Appends each byte as two lowercase hexadecimal digits (`{:02x}` each).
pub fn push_hex_bytes(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0xf)]));
    }
}

/// The strong `ETag` of a version whose SHA-256 is known: derived from the content alone, so
/// every replica serving the same bytes sends the same tag whatever its inode or mtime, and
/// different bytes never share one (128 bits of SHA-256; §8.8.3 asks only that a strong tag
/// change with the representation data, which a content digest does by construction).
pub fn content_etag(sha256: &[u8; 32]) -> String {
    let mut tag = String::with_capacity(42);
    tag.push_str("\"sha256-");
    push_hex_bytes(&mut tag, &sha256[..16]);
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

/// An IMF-fixdate (§5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Times before 1970 are
/// written as 1970's first second, times after 9999 as its last (an IMF-fixdate has four digits
/// for the year; `httpdate` panics there). What is sent is never later than now.
pub fn http_date(time: SystemTime) -> String {
    /// 9999-12-31T23:59:59Z.
    const LAST: u64 = 253_402_300_799;
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(LAST);
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[(days % 7) as usize]);
    out.push_str(", ");
    push_two(&mut out, day);
    out.push(' ');
    out.push_str(MONTHS[(month - 1) as usize]);
    out.push(' ');
    push_two(&mut out, year / 100);
    push_two(&mut out, year % 100);
    out.push(' ');
    push_two(&mut out, of_day / 3600);
    out.push(':');
    push_two(&mut out, of_day / 60 % 60);
    out.push(':');
    push_two(&mut out, of_day % 60);
    out.push_str(" GMT");
    out
}

/// Appends `n` (below 100) as two decimal digits.
fn push_two(out: &mut String, n: u64) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// (year, month 1–12, day 1–31) of the `days`-th day after 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that a leap day is the last day of its year.
    let z = days + 719_468;
    let era = z / 146_097;
    let of_era = z % 146_097; // [0, 146096]
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365; // [0, 399]
    let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let mp = (5 * of_year + 2) / 153; // [0, 11], March first
    let day = of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
    url_segments([name])
}

/// The URL path of a sequence of path segments: each as `/` + its percent-encoded bytes (empty
/// for no segment). The one encoder of URL paths: listings, links, the banner.
pub fn url_segments<'a>(segments: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.extend(percent_encoding::percent_encode(
            segment,
            PATH_SEGMENT_ESCAPES,
        ));
    }
    path
}

/// Each byte as two lowercase hexadecimal digits.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex_bytes(&mut out, bytes);
    out
}

/// Standard base64 with padding (RFC 4648 §4), as Structured Fields' byte sequences use (the
/// `base64` crate's standard engine).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
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

    proptest::proptest! {
        /// The hand-written formatting is byte for byte what `format!` and `httpdate` wrote.
        #[test]
        fn hand_written_fields_equal_what_format_wrote(
            a in proptest::prelude::any::<u64>(),
            b in proptest::prelude::any::<u64>(),
            len in proptest::prelude::any::<u64>(),
            sum in proptest::prelude::any::<[u8; 32]>(),
            secs in 0u64..=253_402_300_799,
        ) {
            let (start, end) = (a.min(b), a.max(b).max(1));
            proptest::prop_assert_eq!(
                content_range(&(start..end), len),
                format!("bytes {}-{}/{}", start, end - 1, len)
            );
            let hex: String = sum[..16].iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(content_etag(&sum), format!("\"sha256-{hex}\""));
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            proptest::prop_assert_eq!(http_date(time), httpdate::fmt_http_date(time));
        }
    }

    #[test]
    fn http_dates_at_the_calendar_edges() {
        for secs in [
            0,
            59,
            86_399,
            86_400,
            951_782_400,   // 2000-02-29 (a leap day of a century year)
            951_868_800,   // 2000-03-01
            4_107_542_400, // 2100-03-01 (2100 is no leap year)
            4_107_456_000, // 2100-02-28
            253_402_300_799,
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(http_date(time), httpdate::fmt_http_date(time), "{secs}");
        }
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(1)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(300_000_000_000)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
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
        assert_eq!(
            url_segments([&b"a b"[..], b"c/d", b"\xff"]),
            "/a%20b/c%2Fd/%FF"
        );
        assert_eq!(url_segments(std::iter::empty()), "");
        assert_eq!(url_path(b"my film.mp4"), "/my%20film.mp4");
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }
}
