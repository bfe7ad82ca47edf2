//! Where a symlink below a directory root may lead (without `--follow-symlinks`). Pure: the
//! file system is asked through a `readlink` callback.
//!
//! The kernel's `RESOLVE_BENEATH` already refuses every path that leaves the root at any step,
//! but it also refuses absolute symlinks that stay inside (`/srv/root/a -> /srv/root/b`), so
//! those are resolved here, one component at a time: each symlink's target must lie inside the
//! root, or the whole path is refused — a path through `dir-out -> /elsewhere` whose
//! `/elsewhere/root -> /srv/root` leads back in is as refused as one that stays out.
//!
//! And where a path led matters, not only the path asked: a symlink whose resolved target has a
//! hidden segment (`x -> .git`, without `--hidden`) or lies outside a signed folder link's
//! folder (`shared/x -> ../private`, asked through a link for `shared/`) is neither listed,
//! served nor archived ([`allowed`]).

/// At most this many symlinks in one path (Linux's own limit is 40).
pub const MAX_LINKS: usize = 40;

/// What `readlink` says of a path (relative to the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A symlink, with its target as stored.
    Link(Vec<u8>),
    /// Not a symlink (a file, a directory, anything else).
    NotLink,
    /// Nothing there (or not searchable): the rest is left as it is, for the open to fail.
    Missing,
}

/// Resolves `rel` below the root at the absolute path `root`, following each symlink whose
/// target lies inside the root. `None`: a symlink leads outside the root (absolute elsewhere, or
/// `..` above it), or more than [`MAX_LINKS`] symlinks. The result has no symlink, `.` or `..`
/// left (unless a component was [`Step::Missing`]: then the rest is appended unresolved).
pub fn resolve(
    root: &[u8],
    rel: &[u8],
    mut readlink: impl FnMut(&[u8]) -> Step,
) -> Option<Vec<u8>> {
    let root = root.strip_suffix(b"/").unwrap_or(root);
    let mut pending: Vec<Vec<u8>> = segments(rel).rev().map(<[u8]>::to_vec).collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(segment) = pending.pop() {
        match segment.as_slice() {
            b"." => continue,
            b".." => {
                done.pop()?;
                continue;
            }
            _ => {}
        }
        done.push(segment);
        let path = done.join(&b'/');
        match readlink(&path) {
            Step::NotLink => {}
            Step::Missing => {
                while let Some(rest) = pending.pop() {
                    done.push(rest);
                }
                break;
            }
            Step::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                done.pop();
                let relative = match target.strip_prefix(b"/") {
                    None => &target[..],
                    Some(_) if target == root => {
                        done.clear();
                        b""
                    }
                    Some(_) => {
                        let inside = target
                            .strip_prefix(root)
                            .and_then(|rest| rest.strip_prefix(b"/"))?;
                        done.clear();
                        inside
                    }
                };
                pending.extend(segments(relative).rev().map(<[u8]>::to_vec));
            }
        }
    }
    Some(done.join(&b'/'))
}

/// Whether what a path resolved to (`real`, relative to the root) may be served: no segment
/// hidden (unless `hidden`), and inside `within` (a folder's relative path; empty: the root).
pub fn allowed(real: &[u8], hidden: bool, within: &[u8]) -> bool {
    let visible = hidden || segments(real).all(|s| !s.starts_with(b"."));
    visible && inside(real, within)
}

/// Whether the relative path `path` is `folder` or below it (segment-wise).
pub fn inside(path: &[u8], folder: &[u8]) -> bool {
    folder.is_empty()
        || path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with(b"/"))
}

fn segments(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tree(links: &[(&str, &str)], missing: &[&str]) -> impl FnMut(&[u8]) -> Step {
        let links: HashMap<Vec<u8>, Vec<u8>> = links
            .iter()
            .map(|(from, to)| (from.as_bytes().to_vec(), to.as_bytes().to_vec()))
            .collect();
        let missing: Vec<Vec<u8>> = missing.iter().map(|m| m.as_bytes().to_vec()).collect();
        move |path| match links.get(path) {
            Some(target) => Step::Link(target.clone()),
            None if missing.iter().any(|m| path.starts_with(m)) => Step::Missing,
            None => Step::NotLink,
        }
    }

    fn resolved(links: &[(&str, &str)], rel: &str) -> Option<String> {
        resolve(b"/srv/root", rel.as_bytes(), tree(links, &["gone"]))
            .map(|p| String::from_utf8(p).unwrap())
    }

    #[test]
    fn links_inside_the_root_are_followed_absolute_or_relative() {
        assert_eq!(resolved(&[], "a/b/c").as_deref(), Some("a/b/c"));
        assert_eq!(
            resolved(&[("a", "/srv/root/x/y")], "a/f").as_deref(),
            Some("x/y/f")
        );
        assert_eq!(
            resolved(&[("a/l", "../m")], "a/l/f").as_deref(),
            Some("m/f")
        );
        assert_eq!(resolved(&[("r", "/srv/root")], "r/f").as_deref(), Some("f"));
        assert_eq!(
            resolved(&[("a", "b"), ("b", "c/./d")], "a").as_deref(),
            Some("c/d")
        );
        assert_eq!(resolved(&[], "gone/x/y").as_deref(), Some("gone/x/y"));
    }

    #[test]
    fn a_path_that_passes_outside_is_refused_even_if_it_comes_back() {
        assert_eq!(
            resolved(&[("dir-out", "/elsewhere")], "dir-out/root/x"),
            None
        );
        assert_eq!(resolved(&[("a", "../../srv/root/b")], "a"), None);
        assert_eq!(resolved(&[("a", "/srv/rootless/b")], "a"), None);
        assert_eq!(resolved(&[("a", "/srv")], "a/root/x"), None);
        assert_eq!(resolved(&[("a", "a")], "a"), None, "a loop ends");
    }

    #[test]
    fn a_target_is_allowed_only_if_visible_and_inside_the_links_folder() {
        assert!(allowed(b"shared/x/f", false, b"shared"));
        assert!(!allowed(b"private/f", false, b"shared"));
        assert!(!allowed(b"sharedx/f", false, b"shared"));
        assert!(allowed(b"private/f", false, b""));
        assert!(!allowed(b"shared/.git/config", false, b""));
        assert!(allowed(b"shared/.git/config", true, b""));
        assert!(inside(b"shared", b"shared"));
    }
}
