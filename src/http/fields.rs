//! Reading request fields: one field's value with repeated lines joined (§5.3), several fields
//! in one pass, and the `Host` check of RFC 9112 §3.2. Pure: a field map in, values out.

use std::borrow::Cow;

use hyper::Version;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

/// A field's value, with several field lines joined by ", " as §5.3 allows for lists. For the
/// singleton fields (dates, `If-Range`, `Range`) a join never parses, so they are then ignored
/// or false, which is what the RFC asks of an invalid value.
pub fn field<'a>(fields: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, str>> {
    let mut joined = None;
    for value in fields.get_all(name) {
        join_line(&mut joined, value);
    }
    joined
}

/// Adds one field line's value to what the earlier lines of that field gave (", " between).
fn join_line<'a>(joined: &mut Option<Cow<'a, str>>, value: &'a HeaderValue) {
    let text = String::from_utf8_lossy(value.as_bytes());
    match joined {
        None => *joined = Some(text),
        Some(joined) => {
            let joined = joined.to_mut();
            joined.push_str(", ");
            joined.push_str(&text);
        }
    }
}

/// [`field`] for several names in one pass over the request's fields (a lookup per name hashed
/// each name: 6 absent fields cost more than reading the 4 or 5 a download client sends).
pub fn fields_named<'a, const N: usize>(
    fields: &'a HeaderMap,
    names: [&HeaderName; N],
) -> [Option<Cow<'a, str>>; N] {
    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for (name, value) in fields {
        if let Some(at) = names.iter().position(|wanted| *wanted == name) {
            join_line(&mut found[at], value);
        }
    }
    found
}

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one `Host`, and no request two. An
/// absolute-form target must name the same host as `Host` (§3.2.2 lets the target's win; as
/// this server has no list of its names, a disagreement is refused rather than guessed at).
/// Returns the reason for a 400, or `None`.
pub fn host_problem(
    fields: &HeaderMap,
    version: Version,
    authority: Option<&str>,
) -> Option<&'static str> {
    let mut hosts = fields.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some("more than one Host field\n");
    }
    match (host, authority) {
        (None, _) if version == Version::HTTP_11 => {
            Some("an HTTP/1.1 request needs a Host field\n")
        }
        (Some(host), Some(authority))
            if !host.as_bytes().eq_ignore_ascii_case(authority.as_bytes()) =>
        {
            Some("the request target names another host than the Host field\n")
        }
        _ => None,
    }
}

/// Whether `host` is a plain `name[:port]`, `a.b.c.d[:port]` or `[v6][:port]` (RFC 9110
/// §7.2's `uri-host [ ":" port ]` without the odd forms): it goes into URLs and shell commands.
fn plain_host(host: &str) -> bool {
    let port_ok = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    if host.is_empty() || host.len() > 255 {
        return false;
    }
    if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let v6_ok = !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        return v6_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && port.is_none_or(port_ok)
}

/// `scheme://HOST` from the request's `Host` (HTTP/2: `:authority`), for the copy-paste
/// commands; `None` if absent or not a plain host[:port] (it goes into a shell command a person
/// may paste).
pub fn origin(fields: &HeaderMap, authority: Option<&str>, scheme: &str) -> Option<String> {
    let host = match fields.get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => authority?,
    };
    plain_host(host).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosts_make_an_origin() {
        for good in [
            "example.org",
            "example.org:8000",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8000",
            "a-b.c",
        ] {
            assert!(plain_host(good), "{good}");
        }
        for bad in [
            "", "a]b", "x:1:2", "::1", "[::1", "[::1]x", "a b", "a:", "a:123456", "[]", "h\"x",
        ] {
            assert!(!plain_host(bad), "{bad}");
        }
    }
    use proptest::prelude::*;

    const NAMES: [HeaderName; 8] = [
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_RANGE,
        header::RANGE,
        header::HOST,
        header::USER_AGENT,
    ];

    proptest! {
        /// One pass finds what the request said and what a lookup per name finds, repeated
        /// fields joined in order.
        #[test]
        fn one_pass_equals_a_lookup_per_name(
            lines in proptest::collection::vec((0..NAMES.len(), "[ -~]{0,12}"), 0..12)
        ) {
            let mut fields = HeaderMap::new();
            for (name, value) in &lines {
                fields.append(NAMES[*name].clone(), HeaderValue::from_str(value).unwrap());
            }
            let wanted = [&NAMES[0], &NAMES[1], &NAMES[2], &NAMES[3], &NAMES[4], &NAMES[5]];
            let found = fields_named(&fields, wanted);
            for (i, (name, got)) in wanted.iter().zip(found).enumerate() {
                // What the request said: that field's lines in order, joined with ", ".
                let lines_of: Vec<&str> =
                    lines.iter().filter(|(n, _)| *n == i).map(|(_, v)| v.as_str()).collect();
                let said = (!lines_of.is_empty()).then(|| lines_of.join(", "));
                prop_assert_eq!(got.as_deref(), said.as_deref());
                prop_assert_eq!(got, field(&fields, name));
            }
        }
    }

    fn with_hosts(hosts: &[&str]) -> HeaderMap {
        let mut fields = HeaderMap::new();
        for host in hosts {
            fields.append(header::HOST, HeaderValue::from_str(host).unwrap());
        }
        fields
    }

    #[test]
    fn host_is_required_once_in_http_1_1_rfc_9112_section_3_2() {
        let one = with_hosts(&["example.org"]);
        assert_eq!(host_problem(&one, Version::HTTP_11, None), None);
        assert!(host_problem(&with_hosts(&[]), Version::HTTP_11, None).is_some());
        assert_eq!(host_problem(&with_hosts(&[]), Version::HTTP_10, None), None);
        assert!(host_problem(&with_hosts(&["a", "a"]), Version::HTTP_10, None).is_some());
        assert_eq!(
            host_problem(&one, Version::HTTP_11, Some("EXAMPLE.org")),
            None
        );
        assert!(host_problem(&one, Version::HTTP_11, Some("other.org")).is_some());
    }

    #[test]
    fn an_origin_is_made_only_from_a_plain_host() {
        let fields = with_hosts(&["127.0.0.1:8000"]);
        assert_eq!(
            origin(&fields, None, "http").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        let h2 = HeaderMap::new();
        assert_eq!(
            origin(&h2, Some("[::1]:8443"), "https").as_deref(),
            Some("https://[::1]:8443")
        );
        assert_eq!(origin(&with_hosts(&["a;rm -rf"]), None, "http"), None);
        assert_eq!(origin(&h2, None, "http"), None);
    }
}
