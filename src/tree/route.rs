//! Pure: a request target → the decoded path it names ([`parse`]), and that path → what is served
//! ([`target`]), given a lookup of what exists. Nothing here touches the filesystem: the lookup
//! is a closure, so the rules (trailing slash, redirect, sidecar, manifest, hidden names) are
//! tested against a map.
//!
//! The string checks here are the first line of defence; the kernel is the second (`root` opens
//! every path with `openat2(RESOLVE_BENEATH)`), so a traversal these checks cannot see (a
//! symlink leaving the root) is still stopped.

use std::borrow::Cow;

use crate::archive::Format;

/// What a sidecar's name adds to its file's name.
pub const SIDECAR_SUFFIX: &[u8] = b".sha256";
/// The per-directory checksum manifest's name.
pub const MANIFEST_NAME: &[u8] = b"SHA256SUMS";
/// The suffix of a Metalink 4 document (RFC 5854): `<file>.meta4`, `<dir>/<dir name>.meta4`.
pub const METALINK_SUFFIX: &[u8] = b".meta4";
/// The suffix of BitTorrent metainfo: `<file>.torrent`, `<dir>/<dir name>.torrent`.
pub const TORRENT_SUFFIX: &[u8] = b".torrent";
/// The root folder's web seed address: `/.web-seed/<root name>/<path>` is `/<path>`. A web seed
/// of a folder torrent (BEP 19) is the URL of the folder's parent, to which a client appends the
/// folder's name and the file's path; the root has no parent URL of that shape, so it gets this
/// one (a hidden name, so it never shadows a served entry unless `--hidden` serves a real
/// `.web-seed` folder, which it then does shadow for the root's name only).
pub const WEB_SEED_PREFIX: &[u8] = b".web-seed";

/// A request path, decoded and checked: what remains can only name something below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// The decoded segments: none empty, none `.` or `..`, none containing `/` or NUL. Any
    /// other byte (non-UTF-8 included, e.g. an overlong `%c0%ae`) is a byte of a name; so is an
    /// encoded backslash (`%5C`), which Linux allows in names and does not treat as a separator.
    pub segments: Vec<Vec<u8>>,
    /// The path ended with `/` (the root always does).
    pub trailing_slash: bool,
}

/// Why a request path is refused (answered as any path that names nothing: 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Not origin-form (`/…`): `*`, or empty.
    NotAPath,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// An empty segment (`//`) inside the path.
    EmptySegment,
    /// A `.` or `..` segment, raw or percent-encoded.
    DotSegment,
    /// `%2f` inside a segment.
    EncodedSlash,
    /// A raw backslash (a separator on other systems; a name holding one is sent as `%5C`).
    Backslash,
    /// A NUL byte.
    Nul,
}

impl BadPath {
    pub fn reason(self) -> &'static str {
        match self {
            BadPath::NotAPath => "the request target is not a path\n",
            BadPath::BadEscape => "bad percent-encoding in the path\n",
            BadPath::EmptySegment => "empty path segment\n",
            BadPath::DotSegment => "'.' and '..' segments are not allowed\n",
            BadPath::EncodedSlash => "an encoded '/' inside a path segment\n",
            BadPath::Backslash => "a backslash in the path\n",
            BadPath::Nul => "a NUL byte in the path\n",
        }
    }
}

/// Decodes an origin-form path (as sent, without the query).
pub fn parse(raw: &str) -> Result<RequestPath, BadPath> {
    let rest = raw.strip_prefix('/').ok_or(BadPath::NotAPath)?;
    let trailing_slash = rest.is_empty() || rest.ends_with('/');
    let body = rest.strip_suffix('/').unwrap_or(rest);
    if body.is_empty() && !rest.is_empty() {
        return Err(BadPath::EmptySegment);
    }
    let mut segments = Vec::new();
    if !body.is_empty() {
        for raw_segment in body.split('/') {
            if raw_segment.is_empty() {
                return Err(BadPath::EmptySegment);
            }
            if raw_segment.contains('\\') {
                return Err(BadPath::Backslash);
            }
            let segment = decode(raw_segment)?;
            if segment == b"." || segment == b".." {
                return Err(BadPath::DotSegment);
            }
            if let Some(bad) = segment.iter().find_map(|b| match b {
                b'/' => Some(BadPath::EncodedSlash),
                0 => Some(BadPath::Nul),
                _ => None,
            }) {
                return Err(bad);
            }
            segments.push(segment);
        }
    }
    Ok(RequestPath {
        segments,
        trailing_slash,
    })
}

/// Strict percent-decoding: every `%` must start a two-hex-digit escape.
fn decode(segment: &str) -> Result<Vec<u8>, BadPath> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(BadPath::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl RequestPath {
    /// The path relative to the root, segments joined by `/` (empty for the root).
    pub fn relative(&self) -> Vec<u8> {
        self.segments.join(&b'/')
    }

    /// Whether any segment names a hidden entry (begins with `.`).
    pub fn is_hidden(&self) -> bool {
        self.segments.iter().any(|s| s.first() == Some(&b'.'))
    }
}

/// What a lookup of a relative path found.
#[derive(Debug)]
pub enum Found<F, D> {
    File(F),
    Dir(D),
    /// Nothing servable there (missing, hidden, a FIFO or device, a symlink leaving the root).
    Missing,
    /// The lookup failed (unreadable → 403, else 500); the caller logs it.
    Failed(std::io::Error),
    /// The lookup would have to wait for the disk: redo it on the blocking pool.
    WouldBlock,
}

/// What a request path names.
#[derive(Debug)]
pub enum Target<F, D> {
    File(F),
    /// `<name>.sha256` of the file `F` named `name` (no real file of that name exists).
    Sidecar(F, Vec<u8>),
    /// A directory named with its trailing slash.
    Listing(D),
    /// `SHA256SUMS` of the directory `D` (no real file of that name exists).
    Manifest(D),
    /// `<dir>/<dir name>.tar` or `.zip`: the directory `D` as one archive (no real file of that
    /// name exists).
    Archive(D, Format),
    /// `<name>.meta4` of the file `F` (no real file of that name exists).
    Metalink(F),
    /// `<dir>/<dir name>.meta4`: every visible file below the directory `D` in one Metalink.
    FolderMetalink(D),
    /// `<name>.torrent` of the file `F` (no real file of that name exists).
    Torrent(F),
    /// `<dir>/<dir name>.torrent`: every visible file below the directory `D` in one torrent.
    FolderTorrent(D),
    /// A directory named without its trailing slash: 301 to this location.
    Redirect(String),
    NotFound,
    Failed(std::io::Error),
    WouldBlock,
}

/// The rules that decide a target, besides the path.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// `--hidden`: names beginning with `.` are served.
    pub hidden: bool,
    /// Digests are on: sidecars, manifests and zip archives exist (a zip needs every CRC-32).
    pub checksums: bool,
    /// The root directory's own name, which names its archives (empty: no archives).
    pub root_name: &'a [u8],
}

/// Resolves `path` (sent as `raw_path` with `query`) to a target. `lookup` is asked for the
/// path itself, and only on a miss for what a sidecar or manifest name would belong to.
/// A real file always wins over a sidecar or manifest of the same name.
pub fn target<F, D>(
    path: &RequestPath,
    raw_path: &str,
    query: Option<&str>,
    rules: Rules<'_>,
    mut lookup: impl FnMut(&[u8]) -> Found<F, D>,
) -> Target<F, D> {
    if !rules.hidden && path.is_hidden() {
        // The root's own name may begin with a dot: its archives are still not hidden entries
        // (and no hidden file of that name is ever looked up).
        let [only] = path.segments.as_slice() else {
            return Target::NotFound;
        };
        if path.trailing_slash || rules.root_name.is_empty() {
            return Target::NotFound;
        }
        let root_archive = Format::of_name(only)
            .filter(|(format, stem)| {
                *stem == rules.root_name && (*format == Format::Tar || rules.checksums)
            })
            .map(|(format, _)| format);
        let named =
            |suffix: &[u8]| rules.checksums && only.strip_suffix(suffix) == Some(rules.root_name);
        let root_document = match (named(METALINK_SUFFIX), named(TORRENT_SUFFIX)) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        if root_archive.is_none() && root_document.is_none() {
            return Target::NotFound;
        }
        return match (lookup(b""), root_archive, root_document) {
            (Found::Dir(dir), Some(format), _) => Target::Archive(dir, format),
            (Found::Dir(dir), None, Some(true)) => Target::FolderMetalink(dir),
            (Found::Dir(dir), None, Some(false)) => Target::FolderTorrent(dir),
            (Found::WouldBlock, ..) => Target::WouldBlock,
            _ => Target::NotFound,
        };
    }
    let relative = path.relative();
    match lookup(&relative) {
        Found::File(_) if path.trailing_slash && !path.segments.is_empty() => Target::NotFound,
        Found::File(file) => Target::File(file),
        Found::Dir(dir) if path.trailing_slash => Target::Listing(dir),
        Found::Dir(_) => Target::Redirect(with_slash(raw_path, query)),
        Found::Failed(err) => Target::Failed(err),
        Found::WouldBlock => Target::WouldBlock,
        Found::Missing if path.trailing_slash => Target::NotFound,
        Found::Missing => {
            let Some(last) = path.segments.last() else {
                return Target::NotFound;
            };
            let parent_len = relative.len() - last.len();
            let parent = &relative[..parent_len.saturating_sub(1)];
            if let Some((format, stem)) = Format::of_name(last) {
                let parent_name = match path.segments.len() {
                    1 => rules.root_name,
                    n => &path.segments[n - 2],
                };
                if stem == parent_name && (format == Format::Tar || rules.checksums) {
                    return match lookup(parent) {
                        Found::Dir(dir) => Target::Archive(dir, format),
                        Found::WouldBlock => Target::WouldBlock,
                        Found::Failed(err) => Target::Failed(err),
                        _ => Target::NotFound,
                    };
                }
            }
            if !rules.checksums {
                return Target::NotFound;
            }
            if let Some(stem) = last.strip_suffix(METALINK_SUFFIX).filter(|s| !s.is_empty()) {
                let parent_name = match path.segments.len() {
                    1 => rules.root_name,
                    n => &path.segments[n - 2],
                };
                let file = &relative[..relative.len() - METALINK_SUFFIX.len()];
                return match described(stem == parent_name, file, parent, &mut lookup) {
                    Described::File(found) => Target::Metalink(found),
                    Described::Dir(dir) => Target::FolderMetalink(dir),
                    Described::Other(target) => target,
                };
            }
            if let Some(stem) = last.strip_suffix(TORRENT_SUFFIX).filter(|s| !s.is_empty()) {
                let parent_name = match path.segments.len() {
                    1 => rules.root_name,
                    n => &path.segments[n - 2],
                };
                let file = &relative[..relative.len() - TORRENT_SUFFIX.len()];
                return match described(stem == parent_name, file, parent, &mut lookup) {
                    Described::File(found) => Target::Torrent(found),
                    Described::Dir(dir) => Target::FolderTorrent(dir),
                    Described::Other(target) => target,
                };
            }
            if last.as_slice() == MANIFEST_NAME {
                return match lookup(parent) {
                    Found::Dir(dir) => Target::Manifest(dir),
                    Found::WouldBlock => Target::WouldBlock,
                    Found::Failed(err) => Target::Failed(err),
                    _ => Target::NotFound,
                };
            }
            match last.strip_suffix(SIDECAR_SUFFIX) {
                Some(name) if !name.is_empty() => {
                    match lookup(&relative[..relative.len() - SIDECAR_SUFFIX.len()]) {
                        Found::File(file) => Target::Sidecar(file, name.to_vec()),
                        Found::WouldBlock => Target::WouldBlock,
                        Found::Failed(err) => Target::Failed(err),
                        _ => Target::NotFound,
                    }
                }
                _ => Target::NotFound,
            }
        }
    }
}

/// `/.web-seed/<root name>/<path>` as `/<path>` (see [`WEB_SEED_PREFIX`]); any other path as
/// it is.
pub fn unalias(mut path: RequestPath, root_name: &[u8]) -> RequestPath {
    if !root_name.is_empty()
        && path.segments.len() >= 2
        && path.segments[0] == WEB_SEED_PREFIX
        && path.segments[1] == root_name
    {
        // `/.web-seed/<root>` is then the root without its slash: redirected to add one.
        path.segments.drain(..2);
    }
    path
}

/// What a describing document's name (`<stem>.meta4`, `<stem>.torrent`) is of.
enum Described<F, D> {
    File(F),
    Dir(D),
    Other(Target<F, D>),
}

/// The file `<stem>` if there is one — a file named like its folder keeps its own documents
/// (and a link to that file never reaches the folder's) — else, when `folder` (the stem is the
/// parent's name), the parent folder.
fn described<F, D>(
    folder: bool,
    file: &[u8],
    parent: &[u8],
    lookup: &mut impl FnMut(&[u8]) -> Found<F, D>,
) -> Described<F, D> {
    match lookup(file) {
        Found::File(found) => return Described::File(found),
        Found::WouldBlock => return Described::Other(Target::WouldBlock),
        Found::Failed(err) => return Described::Other(Target::Failed(err)),
        _ if !folder => return Described::Other(Target::NotFound),
        _ => {}
    }
    match lookup(parent) {
        Found::Dir(dir) => Described::Dir(dir),
        Found::WouldBlock => Described::Other(Target::WouldBlock),
        Found::Failed(err) => Described::Other(Target::Failed(err)),
        _ => Described::Other(Target::NotFound),
    }
}

/// The redirect for a directory named without its slash: the same path and query, plus `/`.
fn with_slash(raw_path: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("{raw_path}/?{query}"),
        None => format!("{raw_path}/"),
    }
}

/// Whether a listing should be JSON: `?format=json`, or an `Accept` that prefers
/// `application/json` to `text/html` (RFC 9110 §12.5.1 weights; absent types weigh 0 unless a
/// wildcard covers them). Browsers and `*/*` get HTML.
pub fn wants_json(query: Option<&str>, accept: Option<&str>) -> bool {
    if let Some(query) = query {
        for pair in query.split('&') {
            match pair {
                "format=json" => return true,
                "format=html" => return false,
                _ => {}
            }
        }
    }
    let Some(accept) = accept else { return false };
    let (mut json, mut html) = (None::<f32>, None::<f32>);
    let mut wildcard = 0.0f32;
    for member in accept.split(',') {
        let mut parts = member.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json = Some(weight),
            "text/html" => html = Some(weight),
            "*/*" | "application/*" | "text/*" => wildcard = wildcard.max(weight),
            _ => {}
        }
    }
    let json = json.unwrap_or(0.0);
    json > 0.0 && json > html.unwrap_or(wildcard)
}

/// The path's segments as display text (lossy UTF-8), e.g. for the listing's title.
pub fn display(segments: &[Vec<u8>]) -> Cow<'static, str> {
    if segments.is_empty() {
        return Cow::Borrowed("/");
    }
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(segment));
    }
    out.push('/');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn segs(path: &RequestPath) -> Vec<&[u8]> {
        path.segments.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn origin_form_paths_decode_into_segments() {
        let p = parse("/").unwrap();
        assert!(p.segments.is_empty() && p.trailing_slash);
        let p = parse("/a/b%20c/").unwrap();
        assert_eq!(segs(&p), [&b"a"[..], b"b c"]);
        assert!(p.trailing_slash);
        let p = parse("/a/%E6%97%A5.txt").unwrap();
        assert_eq!(segs(&p), [&b"a"[..], "日.txt".as_bytes()]);
        assert!(!p.trailing_slash);
        // Names may hold any byte but `/` and NUL: `#`, `?`, `%`, non-UTF-8.
        let p = parse("/%23%3F%25%FF%FE").unwrap();
        assert_eq!(segs(&p), [&b"#?%\xff\xfe"[..]]);
        // An encoded backslash is a name byte on Linux, never a separator.
        let p = parse("/..%5C..%5Cetc").unwrap();
        assert_eq!(segs(&p), [&b"..\\..\\etc"[..]]);
    }

    #[test]
    fn overlong_utf8_dots_and_slashes_are_only_name_bytes() {
        let p = parse("/%c0%ae%c0%ae/%c0%af").unwrap();
        assert_eq!(segs(&p), [&b"\xc0\xae\xc0\xae"[..], b"\xc0\xaf"]);
    }

    #[test]
    fn traversal_forms_are_refused() {
        for (raw, why) in [
            ("", BadPath::NotAPath),
            ("*", BadPath::NotAPath),
            ("a/b", BadPath::NotAPath),
            ("/..", BadPath::DotSegment),
            ("/../etc/passwd", BadPath::DotSegment),
            ("/a/./b", BadPath::DotSegment),
            ("/%2e%2e/x", BadPath::DotSegment),
            ("/%2E%2e/x", BadPath::DotSegment),
            ("/.%2e/x", BadPath::DotSegment),
            ("/a/%2e", BadPath::DotSegment),
            ("/a/../", BadPath::DotSegment),
            ("/..%2fetc", BadPath::EncodedSlash),
            ("/a%2Fb", BadPath::EncodedSlash),
            ("/..\\etc", BadPath::Backslash),
            ("/a\\b", BadPath::Backslash),
            ("/a%00b", BadPath::Nul),
            ("//etc/passwd", BadPath::EmptySegment),
            ("//", BadPath::EmptySegment),
            ("/a//", BadPath::EmptySegment),
            ("/a//b", BadPath::EmptySegment),
            ("/%", BadPath::BadEscape),
            ("/%zz", BadPath::BadEscape),
            ("/%2", BadPath::BadEscape),
        ] {
            assert_eq!(parse(raw), Err(why), "{raw:?}");
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        F,
        D,
    }

    fn resolve(path: &str, query: Option<&str>, rules: Rules<'_>) -> String {
        let tree: HashMap<&[u8], Kind> = HashMap::from([
            (&b""[..], Kind::D),
            (b"a.txt", Kind::F),
            (b"sub", Kind::D),
            (b"sub/b.iso", Kind::F),
            (b"sub/b.iso.sha256", Kind::F),
            (b"real", Kind::D),
            (b"real/SHA256SUMS", Kind::F),
            (b".hidden", Kind::F),
            (b"sub/sub.zip", Kind::F),
            (b"same", Kind::D),
            (b"same/same", Kind::F),
        ]);
        let Ok(parsed) = parse(path).map(|p| unalias(p, rules.root_name)) else {
            return "bad".into();
        };
        let found = target(&parsed, path, query, rules, |rel| match tree.get(rel) {
            Some(Kind::F) => Found::File(String::from_utf8_lossy(rel).into_owned()),
            Some(Kind::D) => Found::Dir(String::from_utf8_lossy(rel).into_owned()),
            None => Found::Missing,
        });
        match found {
            Target::File(f) => format!("file {f}"),
            Target::Sidecar(f, name) => format!("sidecar {f} {}", String::from_utf8_lossy(&name)),
            Target::Listing(d) => format!("listing {d}"),
            Target::Manifest(d) => format!("manifest {d}"),
            Target::Archive(d, f) => format!("archive {d} {f:?}"),
            Target::Metalink(f) => format!("metalink {f}"),
            Target::FolderMetalink(d) => format!("folder metalink {d}"),
            Target::Torrent(f) => format!("torrent {f}"),
            Target::FolderTorrent(d) => format!("folder torrent {d}"),
            Target::Redirect(to) => format!("301 {to}"),
            Target::NotFound => "404".into(),
            Target::Failed(e) => format!("failed {e}"),
            Target::WouldBlock => "would block".into(),
        }
    }

    const DEFAULT: Rules<'static> = Rules {
        hidden: false,
        checksums: true,
        root_name: b"top",
    };

    #[test]
    fn paths_resolve_to_files_listings_redirects_sidecars_and_manifests() {
        for (path, query, want) in [
            ("/", None, "listing "),
            ("/a.txt", None, "file a.txt"),
            ("/a.txt/", None, "404"),
            ("/sub", None, "301 /sub/"),
            ("/sub", Some("format=json"), "301 /sub/?format=json"),
            ("/sub/", None, "listing sub"),
            ("/s%75b/", None, "listing sub"),
            ("/sub/b.iso", None, "file sub/b.iso"),
            // A real file named like a sidecar wins.
            ("/sub/b.iso.sha256", None, "file sub/b.iso.sha256"),
            ("/a.txt.sha256", None, "sidecar a.txt a.txt"),
            ("/a.txt.sha256/", None, "404"),
            ("/.sha256", None, "404"),
            ("/sub.sha256", None, "404"),
            ("/SHA256SUMS", None, "manifest "),
            ("/sub/SHA256SUMS", None, "manifest sub"),
            ("/real/SHA256SUMS", None, "file real/SHA256SUMS"),
            ("/a.txt/SHA256SUMS", None, "404"),
            ("/missing", None, "404"),
            ("/missing/", None, "404"),
            ("/.hidden", None, "404"),
            ("/sub/../a.txt", None, "bad"),
            ("/top.tar", None, "archive  Tar"),
            ("/top.zip", None, "archive  Zip"),
            ("/sub/sub.tar", None, "archive sub Tar"),
            // A real file of the archive's name wins.
            ("/sub/sub.zip", None, "file sub/sub.zip"),
            ("/sub.tar", None, "404"),
            ("/sub/top.tar", None, "404"),
            ("/real/real.tar", None, "archive real Tar"),
            ("/a.txt/a.txt.tar", None, "404"),
            ("/sub/sub.tar/", None, "404"),
            ("/a.txt.meta4", None, "metalink a.txt"),
            ("/sub/b.iso.meta4", None, "metalink sub/b.iso"),
            ("/sub/sub.meta4", None, "folder metalink sub"),
            ("/top.meta4", None, "folder metalink "),
            ("/sub.meta4", None, "404"),
            ("/.meta4", None, "404"),
            ("/a.txt.meta4/", None, "404"),
            ("/a.txt.torrent", None, "torrent a.txt"),
            ("/sub/b.iso.torrent", None, "torrent sub/b.iso"),
            ("/.torrent", None, "404"),
            ("/nothing.torrent", None, "404"),
            ("/sub/sub.torrent", None, "folder torrent sub"),
            // A file named like its folder keeps its own documents.
            ("/same/same.torrent", None, "torrent same/same"),
            ("/same/same.meta4", None, "metalink same/same"),
            ("/top.torrent", None, "folder torrent "),
            ("/sub.torrent", None, "404"),
            ("/sub/top.torrent", None, "404"),
            // The root's web seed address.
            ("/.web-seed/top/a.txt", None, "file a.txt"),
            ("/.web-seed/top/sub/b.iso", None, "file sub/b.iso"),
            ("/.web-seed/top/", None, "listing "),
            ("/.web-seed/top", None, "301 /.web-seed/top/"),
            ("/.web-seed/other/a.txt", None, "404"),
            ("/.web-seed/a.txt", None, "404"),
            ("/sub/.web-seed/top/a.txt", None, "404"),
        ] {
            assert_eq!(resolve(path, query, DEFAULT), want, "{path} {query:?}");
        }
    }

    #[test]
    fn hidden_names_need_the_flag_and_checksums_need_digests() {
        let hidden = Rules {
            hidden: true,
            ..DEFAULT
        };
        assert_eq!(resolve("/.hidden", None, hidden), "file .hidden");
        assert_eq!(resolve("/.hidden.sha256", None, DEFAULT), "404");
        let dot_root = Rules {
            root_name: b".top",
            ..DEFAULT
        };
        assert_eq!(resolve("/.top.tar", None, dot_root), "archive  Tar");
        assert_eq!(resolve("/.hidden", None, dot_root), "404");
        assert_eq!(resolve("/.top.tar/", None, dot_root), "404");
        assert_eq!(resolve("/.top.torrent", None, dot_root), "folder torrent ");
        assert_eq!(resolve("/.top.meta4", None, dot_root), "folder metalink ");
        assert_eq!(resolve("/.other.torrent", None, dot_root), "404");
        assert_eq!(
            resolve("/.hidden.sha256", None, hidden),
            "sidecar .hidden .hidden"
        );
        let no_digest = Rules {
            checksums: false,
            ..DEFAULT
        };
        assert_eq!(resolve("/top.tar", None, no_digest), "archive  Tar");
        assert_eq!(
            resolve("/top.zip", None, no_digest),
            "404",
            "a zip needs the CRC-32s"
        );
        assert_eq!(resolve("/a.txt.sha256", None, no_digest), "404");
        assert_eq!(resolve("/SHA256SUMS", None, no_digest), "404");
        assert_eq!(
            resolve("/real/SHA256SUMS", None, no_digest),
            "file real/SHA256SUMS"
        );
    }

    #[test]
    fn json_is_chosen_by_query_or_by_accept_weights() {
        assert!(wants_json(Some("format=json"), None));
        assert!(wants_json(Some("x=1&format=json"), Some("text/html")));
        assert!(!wants_json(Some("format=html"), Some("application/json")));
        assert!(wants_json(None, Some("application/json")));
        assert!(wants_json(None, Some("application/json, text/plain;q=0.5")));
        assert!(!wants_json(None, None));
        assert!(!wants_json(None, Some("*/*")));
        // What browsers send.
        assert!(!wants_json(
            None,
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        ));
        assert!(!wants_json(None, Some("application/json;q=0, */*")));
        assert!(!wants_json(None, Some("text/html, application/json;q=0.9")));
        assert!(wants_json(None, Some("text/html;q=0.5, application/json")));
    }

    proptest! {
        /// Whatever is sent, an accepted path has only segments that name an entry below the
        /// root: never empty, `.`, `..`, and never a separator or NUL.
        #[test]
        fn accepted_paths_never_leave_the_root(raw in "/[a-zA-Z0-9%./\\\\]{0,24}") {
            if let Ok(path) = parse(&raw) {
                for segment in &path.segments {
                    prop_assert!(!segment.is_empty());
                    prop_assert!(segment != b"." && segment != b"..");
                    prop_assert!(!segment.iter().any(|b| matches!(b, b'/' | 0)));
                }
            }
        }

        /// Any name (any bytes but `/` and NUL) percent-encoded as the listing does decodes
        /// back to itself.
        #[test]
        fn encoded_names_round_trip(name in proptest::collection::vec(1u8..=255, 1..40)) {
            prop_assume!(!name.contains(&b'/'));
            prop_assume!(name != b"." && name != b"..");
            let path = crate::http::format::url_path(&name);
            let parsed = parse(&path).unwrap();
            prop_assert_eq!(parsed.segments, vec![name]);
        }
    }
}
