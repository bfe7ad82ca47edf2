//! The start-up banner as text: what is served, where, and lines to paste into a client. Pure:
//! [`BannerFacts`] in, a `String` out (the server gathers the facts — addresses, the key, the
//! largest file — and prints). Tests read the `listening on` line to learn the port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::http::format;
use crate::ops::qr;
use crate::text::{Escaped, human_size, indent, shell_quote};
use crate::tree::listing::{self, Page};

/// How the banner's URLs and client lines look: the origin (scheme and address) and, for a
/// self-signed certificate, the options each client needs to check it.
#[derive(Debug, Clone)]
pub struct ClientLines {
    /// The first of `origins`: the one the client lines use.
    pub origin: String,
    /// `scheme://address` for every address a client can reach us at (see `ops::addresses`).
    pub origins: Vec<String>,
    /// `/<secret>` with `--secret-path`, else empty.
    pub mount: String,
    curl: String,
    wget: String,
    aria2c: String,
}

/// What the client lines need to trust a self-signed certificate.
#[derive(Debug, Clone)]
pub struct SelfSignedCheck {
    /// curl's `--pinnedpubkey` value (`sha256//…`).
    pub pin: String,
    /// The certificate file, for wget's and aria2c's `--ca-certificate`.
    pub ca_file: String,
}

impl ClientLines {
    /// `reachable`: the addresses a client can reach the server at (the first is used in the
    /// client lines); when empty, `local` (loopback in place of an unspecified address).
    pub fn new(
        scheme: &str,
        local: SocketAddr,
        reachable: &[SocketAddr],
        mount: String,
        self_signed: Option<&SelfSignedCheck>,
    ) -> ClientLines {
        let origins: Vec<String> = reachable
            .iter()
            .map(|addr| format!("{scheme}://{addr}"))
            .collect();
        let origin = origins
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{scheme}://{}", shown_address(local)));
        let (curl, wget) = match self_signed {
            Some(check) => (
                format!("--pinnedpubkey '{}' -k ", check.pin),
                format!("--ca-certificate={} ", shell_quote(&check.ca_file)),
            ),
            None => (String::new(), String::new()),
        };
        ClientLines {
            origin,
            origins,
            mount,
            curl,
            aria2c: wget.clone(),
            wget,
        }
    }

    /// One indented line per address for `path` (a URL path beginning with `/`).
    fn urls(&self, path: &str) -> String {
        self.origins
            .iter()
            .map(|origin| format!("  {origin}{path}\n"))
            .collect()
    }

    fn resume(&self, url: &str) -> String {
        format!(
            "\x20 wget {}-c '{url}'\n\
             \x20 curl {}-C - -O '{url}'\n\
             \x20 aria2c {}-x 8 '{url}'\n",
            self.wget, self.curl, self.aria2c
        )
    }
}

/// The certificate as the banner shows it.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    pub cert_file: String,
    /// SHA-256, colon hex.
    pub fingerprint: String,
    /// For `--tls-self-signed`: the names it covers.
    pub self_signed: Option<Vec<String>>,
}

/// What is served.
#[derive(Debug, Clone)]
pub enum Served {
    /// `--file`s: each path as given, and its URL path.
    Files(Vec<(String, String)>),
    /// `--dir`: the directory, and its largest file among those looked at (relative path, size).
    Tree {
        path: String,
        largest: Option<(Vec<u8>, u64)>,
    },
}

/// Everything the banner says.
#[derive(Debug, Clone)]
pub struct BannerFacts<'a> {
    pub version: &'a str,
    pub scheme: &'a str,
    pub local: SocketAddr,
    pub lines: &'a ClientLines,
    pub tls: Option<&'a TlsFacts>,
    pub served: &'a Served,
    /// Files are hashed (`SHA256SUMS` and the sidecars exist).
    pub digest: bool,
    /// `--signed-links`: the plain URLs answer 403.
    pub signed_links: bool,
    /// `--auth` over plain HTTP: a warning.
    pub auth_in_clear: bool,
    /// `--qr`.
    pub qr: bool,
}

/// The banner.
pub fn render(facts: &BannerFacts<'_>) -> String {
    let lines = facts.lines;
    let (origin, mount) = (&lines.origin, &lines.mount);
    let (version, scheme, local) = (facts.version, facts.scheme, facts.local);
    let tls_lines = facts.tls.map(tls_lines).unwrap_or_default();
    let mut banner = String::new();
    let mut qr_path = format!("{mount}/");
    match facts.served {
        Served::Files(files) if files.len() == 1 => {
            let (path, url_path) = &files[0];
            let url = format!("{origin}{mount}{url_path}");
            banner.push_str(&format!(
                "rangeserve {version}: serving {}\n\
                 listening on {scheme}://{local}\n{tls_lines}\
                 \n{urls}\
                 \nResume an interrupted download with any of:\n{resume}",
                Escaped(path),
                urls = lines.urls(&format!("{mount}{url_path}")),
                resume = lines.resume(&url),
            ));
            qr_path = format!("{mount}{url_path}");
        }
        Served::Files(files) => {
            banner.push_str(&format!(
                "rangeserve {version}: serving {} files\nlistening on {scheme}://{local}\n{tls_lines}\n{}\n",
                files.len(),
                lines.urls(&format!("{mount}/")),
            ));
            for (_, url_path) in files {
                banner.push_str(&format!("  {origin}{mount}{url_path}\n"));
            }
            if let Some((_, first)) = files.first() {
                banner.push_str(&format!(
                    "\nResume an interrupted download with any of:\n{}",
                    lines.resume(&format!("{origin}{mount}{first}"))
                ));
            }
        }
        Served::Tree { path, largest } => {
            let page = Page {
                segments: &[],
                origin: Some(origin),
                entries: &[],
                checksums: facts.digest,
                archive_name: None,
                mount,
            };
            banner.push_str(&format!(
                "rangeserve {version}: serving directory {}\n\
                 listening on {scheme}://{local}\n{tls_lines}\
                 \n{urls}\
                 \nFetch the whole folder resumably (run it again to resume){then}:\n\
                 {recipe}\n",
                Escaped(path),
                urls = lines.urls(&format!("{mount}/")),
                recipe = indent(&listing::recipe(&page)),
                then = if facts.digest {
                    ", then prove every file whole"
                } else {
                    ""
                },
            ));
            if !lines.wget.is_empty() {
                banner.push_str(&format!(
                    "  (add {}to wget for the self-signed certificate)\n",
                    lines.wget
                ));
            }
            match largest {
                Some((rel, size)) => {
                    let url = format!(
                        "{origin}{mount}{}",
                        format::url_segments(rel.split(|&b| b == b'/'))
                    );
                    banner.push_str(&format!(
                        "\nLargest file: {} ({}); resume an interrupted download with any of:\n{}",
                        Escaped(&String::from_utf8_lossy(rel)),
                        human_size(*size),
                        lines.resume(&url)
                    ));
                }
                None => banner.push_str("\n(no files in it yet)\n"),
            }
        }
    }
    if facts.signed_links {
        banner.push_str(
            "\nOnly signed links are served (the URLs above answer 403): make them with\n  \
             rangeserve link --expires 24h PATH...   (with the same --state-dir or --link-key)\n",
        );
    }
    if facts.auth_in_clear {
        banner.push_str(
            "\nWarning: --auth over plain HTTP: the passwords travel in the clear (base64 is not \
             encryption); add --tls-self-signed or --tls-cert/--tls-key.\n",
        );
    }
    if facts.qr {
        banner.push_str(&qr_lines(lines, &qr_path));
    }
    banner
}

/// The digest part of a one-file banner, printed when the first hash is ready.
/// `magnet`: the file's magnet link (its torrent's infohash, this URL as web seed), when its
/// pieces are known.
pub fn digest_lines(
    lines: &ClientLines,
    url_path: &str,
    sum: &[u8; 32],
    name: &str,
    magnet: Option<&str>,
) -> String {
    let url = format!("{}{}{url_path}", lines.origin, lines.mount);
    let mut text = format!(
        "\nsha256 {}  {}\n\
         Prove a resumed download whole:\n\
         \x20 wget {wget}-c '{url}' && wget {wget}-q -O - '{url}.sha256' | sha256sum -c\n",
        format::hex(sum),
        Escaped(name),
        wget = lines.wget,
    );
    if let Some(magnet) = magnet {
        text.push_str(&format!(
            "Or as a torrent with this server as its web seed: '{url}.torrent'\n  {magnet}\n"
        ));
    }
    text
}

/// `--qr`: the first address another machine can use, as a QR code.
fn qr_lines(lines: &ClientLines, path: &str) -> String {
    let remote = lines.origins.iter().find(|origin| {
        !(origin.contains("://127.")
            || origin.contains("://[::1]")
            || origin.contains("://localhost"))
    });
    let Some(origin) = remote else {
        return "\n(--qr: this server is reachable only on loopback; no QR code)\n".to_string();
    };
    let url = format!("{origin}{path}");
    match qr::render(&url) {
        Some(code) => format!("\n{url}\n{code}\n"),
        None => format!("\n(--qr: {url} is too long for a QR code)\n"),
    }
}

/// The banner's TLS lines: the certificate's fingerprint, and for a self-signed one what it
/// covers, where it is kept and how the client lines check it.
fn tls_lines(tls: &TlsFacts) -> String {
    let fingerprint = &tls.fingerprint;
    match &tls.self_signed {
        None => format!(
            "TLS certificate {} (SHA-256 fingerprint {fingerprint})\n",
            tls.cert_file
        ),
        Some(names) => format!(
            "TLS: self-signed certificate for {names}, kept in {cert}\n\
             \x20 SHA-256 fingerprint {fingerprint}\n\
             \x20 (compare it out of band: openssl x509 -noout -fingerprint -sha256 -in CERT; the curl\n\
             \x20 lines below pin its public key, the wget and aria2c lines trust only that file)\n",
            names = names.join(", "),
            cert = tls.cert_file,
        ),
    }
}

/// The address to show in URLs: loopback in place of an unspecified address.
fn shown_address(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port())
        }
        _ => local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddr {
        "0.0.0.0:8000".parse().unwrap()
    }

    fn facts<'a>(lines: &'a ClientLines, served: &'a Served) -> BannerFacts<'a> {
        BannerFacts {
            version: "9.9.9",
            scheme: "http",
            local: local(),
            lines,
            tls: None,
            served,
            digest: true,
            signed_links: false,
            auth_in_clear: false,
            qr: false,
        }
    }

    #[test]
    fn one_file_gets_its_urls_and_three_resume_lines() {
        let reachable: Vec<SocketAddr> = vec!["192.0.2.7:8000".parse().unwrap()];
        let lines = ClientLines::new("http", local(), &reachable, String::new(), None);
        let served = Served::Files(vec![("/srv/love.rmvb".into(), "/love.rmvb".into())]);
        let text = render(&facts(&lines, &served));
        assert!(
            text.starts_with("rangeserve 9.9.9: serving /srv/love.rmvb\n"),
            "{text}"
        );
        assert!(
            text.contains("listening on http://0.0.0.0:8000\n"),
            "{text}"
        );
        assert!(
            text.contains("  http://192.0.2.7:8000/love.rmvb\n"),
            "{text}"
        );
        assert!(
            text.contains("  wget -c 'http://192.0.2.7:8000/love.rmvb'\n"),
            "{text}"
        );
        assert!(text.contains("  curl -C - -O 'http://192.0.2.7:8000/love.rmvb'\n"));
        assert!(text.contains("  aria2c -x 8 'http://192.0.2.7:8000/love.rmvb'\n"));
        assert!(!text.contains("Warning"));
    }

    #[test]
    fn with_no_address_found_the_loopback_is_shown() {
        let lines = ClientLines::new("https", local(), &[], "/s3cret".into(), None);
        assert_eq!(lines.origin, "https://127.0.0.1:8000");
        let served = Served::Tree {
            path: "/srv/season1".into(),
            largest: Some((b"sub dir/ep 1.mkv".to_vec(), 3 << 30)),
        };
        let text = render(&facts(&lines, &served));
        assert!(text.contains("serving directory /srv/season1\n"), "{text}");
        assert!(
            text.contains("Largest file: sub dir/ep 1.mkv (3.0 GiB)"),
            "{text}"
        );
        assert!(
            text.contains("'https://127.0.0.1:8000/s3cret/sub%20dir/ep%201.mkv'"),
            "{text}"
        );
        assert!(text.contains("then prove every file whole"), "{text}");
    }

    #[test]
    fn a_self_signed_certificate_changes_every_client_line() {
        let check = SelfSignedCheck {
            pin: "sha256//AAAA".into(),
            ca_file: "/state/it's.pem".into(),
        };
        let lines = ClientLines::new("https", local(), &[], String::new(), Some(&check));
        let tls = TlsFacts {
            cert_file: "/state/it's.pem".into(),
            fingerprint: "AB:CD".into(),
            self_signed: Some(vec!["host".into(), "127.0.0.1".into()]),
        };
        let served = Served::Files(vec![("/f".into(), "/f".into())]);
        let mut facts = facts(&lines, &served);
        facts.tls = Some(&tls);
        facts.scheme = "https";
        let text = render(&facts);
        assert!(text.contains("TLS: self-signed certificate for host, 127.0.0.1"));
        assert!(
            text.contains("curl --pinnedpubkey 'sha256//AAAA' -k -C - -O"),
            "{text}"
        );
        assert!(
            text.contains(r"wget --ca-certificate='/state/it'\''s.pem' -c"),
            "{text}"
        );
        let digest = digest_lines(
            &lines,
            "/f",
            &[0xab; 32],
            "f",
            Some("magnet:?xt=urn:btih:00"),
        );
        assert!(digest.contains("'https://127.0.0.1:8000/f.torrent'\n  magnet:?xt=urn:btih:00\n"));
        assert!(digest.contains(&format!("sha256 {}  f\n", "ab".repeat(32))));
        assert!(digest.contains("'https://127.0.0.1:8000/f.sha256' | sha256sum -c"));
    }

    #[test]
    fn names_with_control_characters_reach_the_terminal_escaped() {
        let lines = ClientLines::new("http", local(), &[], String::new(), None);
        let served = Served::Tree {
            path: "/srv/a\u{1b}[2Jb".into(),
            largest: Some((b"\x1b[2J\x1b[31mEVIL\nline".to_vec(), 5)),
        };
        let text = render(&facts(&lines, &served));
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(
            text.contains("serving directory /srv/a\\x1b[2Jb\n"),
            "{text}"
        );
        assert!(
            text.contains(r"Largest file: \x1b[2J\x1b[31mEVIL\nline (5 B)"),
            "{text}"
        );
        assert!(
            text.contains("%1B%5B2J%1B%5B31mEVIL%0Aline"),
            "the URL is percent-encoded: {text}"
        );
        let digest = digest_lines(&lines, "/f", &[0xab; 32], "f\u{9b}2J", None);
        assert!(digest.contains(r"  f\u{9b}2J"), "{digest}");
    }

    #[test]
    fn warnings_and_the_qr_fallback() {
        let lines = ClientLines::new("http", local(), &[], String::new(), None);
        let served = Served::Tree {
            path: "/d".into(),
            largest: None,
        };
        let mut facts = facts(&lines, &served);
        facts.signed_links = true;
        facts.auth_in_clear = true;
        facts.qr = true;
        let text = render(&facts);
        assert!(text.contains("(no files in it yet)"));
        assert!(text.contains("Only signed links are served"));
        assert!(text.contains("Warning: --auth over plain HTTP"));
        assert!(text.contains("reachable only on loopback; no QR code"));
    }
}
