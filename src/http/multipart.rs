//! `multipart/byteranges` framing (RFC 9110 §14.6, §15.3.7.2; RFC 2046 §5.1.1) as a list of body
//! [`Segment`]s, so the exact `Content-Length` is known before the first byte is sent.
//!
//! Pure: the caller chooses the boundary (a random token) and streams the segments.

use std::ops::Range;

use bytes::Bytes;

use super::format;
use super::segment::Segment;
#[cfg(test)]
use super::segment::body_length;

/// The response `Content-Type` of a multipart body with this boundary.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/byteranges; boundary={boundary}")
}

/// Frames `ranges` of a `len`-byte representation of type `part_type`, in the order given. Each
/// part carries its own `Content-Type` and `Content-Range` (§14.6). `boundary` must be a valid
/// RFC 2046 boundary that does not occur in the file (a long random token).
pub fn byteranges(
    ranges: &[Range<u64>],
    len: u64,
    part_type: &str,
    boundary: &str,
) -> Vec<Segment> {
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, range) in ranges.iter().enumerate() {
        // The CRLF before each delimiter after the first belongs to the delimiter (RFC 2046).
        let lead = if i == 0 { "" } else { "\r\n" };
        let header = format!(
            "{lead}--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: {}\r\n\r\n",
            format::content_range(range, len)
        );
        segments.push(Segment::Literal(Bytes::from(header)));
        segments.push(Segment::Entity(range.clone()));
    }
    segments.push(Segment::Literal(Bytes::from(format!(
        "\r\n--{boundary}--\r\n"
    ))));
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Produces the body the way the streaming code does, from an in-memory file.
    fn render(segments: &[Segment], file: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for segment in segments {
            match segment {
                Segment::Literal(bytes) => out.extend_from_slice(bytes),
                Segment::Entity(r) => {
                    out.extend_from_slice(&file[r.start as usize..r.end as usize])
                }
                Segment::Member { .. } => panic!("byteranges frames the representation only"),
            }
        }
        out
    }

    /// A minimal multipart/byteranges reader: (Content-Range, data) per part, or an error.
    fn parse(body: &[u8], boundary: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let delimiter = format!("--{boundary}");
        let text = body.to_vec();
        let mut parts = Vec::new();
        let mut pos = 0;
        let find = |from: usize, needle: &[u8]| {
            text[from..]
                .windows(needle.len())
                .position(|w| w == needle)
                .map(|p| p + from)
        };
        if !text.starts_with(delimiter.as_bytes()) {
            return Err("no leading delimiter".into());
        }
        loop {
            pos += delimiter.len();
            if text[pos..].starts_with(b"--\r\n") {
                return if pos + 4 == text.len() {
                    Ok(parts)
                } else {
                    Err("bytes after close".into())
                };
            }
            let head_end = find(pos, b"\r\n\r\n").ok_or("no header end")?;
            let head = String::from_utf8_lossy(&text[pos + 2..head_end]).to_string();
            let range = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Range: "))
                .ok_or("no Content-Range")?
                .to_string();
            let next = find(head_end + 4, format!("\r\n{delimiter}").as_bytes())
                .ok_or("no next delimiter")?;
            parts.push((range, text[head_end + 4..next].to_vec()));
            pos = next + 2;
        }
    }

    #[test]
    fn two_ranges_are_framed_as_rfc_9110_section_14_6_shows() {
        let file: Vec<u8> = (0..100u8).collect();
        let segments = byteranges(&[0..2, 98..100], 100, "text/plain", "THIS_STRING_SEPARATES");
        let body = render(&segments, &file);
        let want = b"--THIS_STRING_SEPARATES\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100\r\n\r\n\x00\x01\
\r\n--THIS_STRING_SEPARATES\r\nContent-Type: text/plain\r\nContent-Range: bytes 98-99/100\r\n\r\n\x62\x63\
\r\n--THIS_STRING_SEPARATES--\r\n";
        assert_eq!(body, want.to_vec());
        assert_eq!(body_length(&segments), want.len() as u64);
        assert_eq!(content_type("abc"), "multipart/byteranges; boundary=abc");
    }

    proptest! {
        #[test]
        fn the_length_is_exact_and_every_part_parses_back(
            len in 1u64..2000,
            picks in prop::collection::vec((any::<u64>(), any::<u64>()), 1..20),
            part_type in "[a-z]{1,8}/[a-z0-9.+-]{1,12}",
        ) {
            let file: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let ranges: Vec<Range<u64>> = picks.iter().map(|&(a, b)| {
                let start = a % len;
                start..start + 1 + b % (len - start)
            }).collect();
            let boundary = "0123456789abcdef0123";
            let segments = byteranges(&ranges, len, &part_type, boundary);
            let body = render(&segments, &file);
            prop_assert_eq!(body_length(&segments), body.len() as u64);
            let parts = parse(&body, boundary).map_err(TestCaseError::fail)?;
            prop_assert_eq!(parts.len(), ranges.len());
            for ((content_range, data), range) in parts.iter().zip(&ranges) {
                prop_assert_eq!(content_range, &format::content_range(range, len));
                prop_assert_eq!(&data[..], &file[range.start as usize..range.end as usize]);
            }
        }
    }
}
