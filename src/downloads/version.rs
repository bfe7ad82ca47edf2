//! Pure: which version of what a copy is of — a file's stamp (nothing made per response), an
//! archive's strong tag — and its form in the store.

use crate::fs::stamp::Stamp;

/// Which version of what: a file's stamp (no string made per response), an archive's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    File(Stamp),
    Archive(String),
}

impl Version {
    /// As the store writes it: `s:DEV:INO:SIZE:MS:MN:CS:CN` or `a:TAG`.
    pub fn text(&self) -> String {
        match self {
            Version::File(s) => format!(
                "s:{}:{}:{}:{}:{}:{}:{}",
                s.dev, s.ino, s.size, s.mtime.0, s.mtime.1, s.ctime.0, s.ctime.1
            ),
            Version::Archive(tag) => format!("a:{tag}"),
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        if let Some(tag) = text.strip_prefix("a:") {
            return Some(Version::Archive(tag.to_string()));
        }
        let fields: Vec<&str> = text.strip_prefix("s:")?.split(':').collect();
        let [dev, ino, size, ms, mn, cs, cn] = fields.as_slice() else {
            return None;
        };
        Some(Version::File(Stamp {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
            size: size.parse().ok()?,
            mtime: (ms.parse().ok()?, mn.parse().ok()?),
            ctime: (cs.parse().ok()?, cn.parse().ok()?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_through_their_stored_form() {
        let file = Version::File(Stamp {
            dev: 1,
            ino: u64::MAX,
            size: 3,
            mtime: (-4, 5),
            ctime: (i64::MAX, 999_999_999),
        });
        let archive = Version::Archive("\"a:b c\"".into());
        for v in [file, archive] {
            assert_eq!(Version::parse(&v.text()), Some(v.clone()));
        }
        for bad in ["", "s:1:2", "x:1", "s:a:b:c:d:e:f:g"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }
}
