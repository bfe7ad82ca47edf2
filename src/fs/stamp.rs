//! A file version's stamp: what must be unchanged for a stored digest, a kept handle or a
//! provisional `ETag` to still describe it, read from `stat` (no I/O here beyond the caller's
//! `stat`), and the provisional strong tag made from it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Stat};

use crate::http::format;

/// How close to the moment a file is looked at its mtime or ctime may be before the version is
/// not trusted (Git's "racy git" rule). Timestamps are coarse: a jiffy on kernels before 6.13,
/// 2 s on FAT and exFAT, whatever the server says on NFS and SMB. A write in the same tick as the
/// one the stamp shows leaves the stamp as it was (same size, same times): a digest or a kept
/// handle taken then would describe bytes that are no longer there. 2 s covers every granularity
/// above.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A version of a file: what must be unchanged for a stored digest (or an open handle) to still
/// describe it. The ctime covers what the others miss: an in-place rewrite that restores the
/// size and the mtime, a chmod or chown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time: seconds since the epoch (negative before 1970) and nanoseconds.
    pub mtime: (i64, u32),
    /// Status change time, likewise.
    pub ctime: (i64, u32),
}

impl Stamp {
    // The `stat` field types differ between architectures: the casts are no-ops only on some.
    #[allow(clippy::unnecessary_cast)]
    pub fn of(stat: &Stat) -> Stamp {
        Stamp {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            size: stat.st_size.max(0) as u64,
            mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as u32),
            ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as u32),
        }
    }

    /// The provisional strong `ETag` (§8.8.3) of a version whose SHA-256 is not known yet: from
    /// its inode, size, modification time and status-change time (to the nanosecond). The ctime is
    /// what tells apart an in-place rewrite that restored the size and the mtime (`touch -r`): it
    /// cannot be set back. Never equal to a [`format::content_etag`] (those begin with `sha256-`).
    pub fn etag(&self) -> String {
        let mut tag = String::with_capacity(2 + 6 * 16 + 5);
        tag.push('"');
        format::push_hex(&mut tag, self.ino);
        tag.push('-');
        format::push_hex(&mut tag, self.size);
        tag.push('-');
        format::push_hex(&mut tag, self.mtime.0.max(0).unsigned_abs());
        tag.push('.');
        format::push_hex(&mut tag, self.mtime.1.into());
        tag.push('-');
        format::push_hex(&mut tag, self.ctime.0.max(0).unsigned_abs());
        tag.push('.');
        format::push_hex(&mut tag, self.ctime.1.into());
        tag.push('"');
        tag
    }

    /// How long until this version can be trusted, if not yet: `Some` while its mtime or its
    /// ctime is within [`RACY_WINDOW`] of `looked` — a time taken *before* the `stat` that gave
    /// the stamp — on either side (a timestamp slightly in the future is as racy). Until then its
    /// digest is not computed or stored and its handle not kept; a write after `looked` + the
    /// window always shows in a new stamp. Timestamps far in the future (clock skew) are not
    /// racy: a write sets them to the present, which differs.
    pub fn unsettled_for(&self, looked: SystemTime) -> Option<Duration> {
        let looked = match looked.duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        };
        let window = RACY_WINDOW.as_nanos() as i128;
        [self.mtime, self.ctime]
            .iter()
            .map(|&(secs, nanos)| i128::from(secs) * 1_000_000_000 + i128::from(nanos))
            .filter(|&t| (looked - t).abs() < window)
            .map(|t| t + window - looked)
            .max()
            .map(|wait| Duration::from_nanos(wait.clamp(0, i128::from(u64::MAX)) as u64))
    }

    /// The modification time as a `SystemTime`.
    pub fn modified(&self) -> SystemTime {
        let (secs, nanos) = self.mtime;
        if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                + Duration::from_nanos(nanos.into())
        }
    }
}

/// The permission bits of a `stat` result.
// The field's type differs between architectures: the cast is a no-op only on some.
#[allow(clippy::unnecessary_cast)]
pub fn file_mode(stat: &Stat) -> u32 {
    (stat.st_mode as u32) & 0o7777
}

/// The file type of a `stat` result.
pub fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode as _)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_changed_within_two_seconds_of_the_look_is_not_trusted_until_it_has_settled() {
        let at = |secs: i64, nanos: u32| UNIX_EPOCH + Duration::new(secs as u64, nanos);
        let stamp = |mtime: (i64, u32), ctime: (i64, u32)| Stamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime,
            ctime,
        };
        let old = stamp((100, 0), (100, 0));
        assert_eq!(
            old.unsettled_for(at(102, 0)),
            None,
            "two seconds later: trusted"
        );
        assert_eq!(
            old.unsettled_for(at(101, 500_000_000)),
            Some(Duration::from_millis(500))
        );
        // The later of the two counts; a ctime moved by chmod or touch -d makes it racy again.
        let touched_back = stamp((50, 0), (101, 0));
        assert_eq!(
            touched_back.unsettled_for(at(101, 0)),
            Some(Duration::from_secs(2))
        );
        // A timestamp a second in the future (a clock a little ahead) waits for it to pass.
        assert_eq!(old.unsettled_for(at(99, 0)), Some(Duration::from_secs(3)));
        // Far in the future or the past: a write would set the present, which differs.
        assert_eq!(stamp((5000, 0), (10, 0)).unsettled_for(at(1000, 0)), None);
        assert_eq!(stamp((-5, 0), (-5, 0)).unsettled_for(at(0, 0)), None);
        assert_eq!(
            stamp((i64::MIN, 0), (i64::MAX, 999_999_999)).unsettled_for(at(0, 0)),
            None,
            "no overflow"
        );
    }
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn a_stamp_changes_with_size_mtime_and_ctime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(b"abc").unwrap();
        let before = Stamp::of(&rustix::fs::stat(&path).unwrap());
        assert_eq!(before.size, 3);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(before.modified(), meta.modified().unwrap());
        // chmod changes only the ctime.
        std::thread::sleep(Duration::from_millis(10));
        let mut perms = meta.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&path, perms).unwrap();
        let after = Stamp::of(&rustix::fs::stat(&path).unwrap());
        assert_eq!((after.size, after.mtime), (before.size, before.mtime));
        assert_ne!(after, before);
    }

    #[test]
    fn times_before_1970_convert() {
        let stamp = Stamp {
            dev: 0,
            ino: 0,
            size: 0,
            mtime: (-2, 500_000_000),
            ctime: (0, 0),
        };
        assert_eq!(stamp.modified(), UNIX_EPOCH - Duration::from_millis(1500));
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
        let tag = stamp.etag();
        assert!(tag.starts_with('"') && tag.ends_with('"') && !tag.starts_with("W/"));
        assert_ne!(tag, Stamp { ino: 8, ..stamp }.etag());
        assert_ne!(tag, Stamp { size: 101, ..stamp }.etag());
        assert_ne!(
            tag,
            Stamp {
                mtime: (1_700_000_000, 6),
                ..stamp
            }
            .etag()
        );
        assert_ne!(
            tag,
            Stamp {
                ctime: (1_700_000_002, 6),
                ..stamp
            }
            .etag(),
            "touch -r"
        );
        assert_eq!(tag, stamp.etag());
        let content = format::content_etag(&[0xab; 32]);
        assert_eq!(content, format!("\"sha256-{}\"", "ab".repeat(16)));
        assert_ne!(content, format::content_etag(&[0xac; 32]));
        assert!(!tag.starts_with("\"sha256-"), "the two kinds never collide");
        assert!(
            crate::http::conditional::parse_entity_tag(&tag)
                .is_some_and(|(t, rest)| t == tag && rest.is_empty())
        );
    }

    proptest::proptest! {
        /// The hand-written tag is byte for byte what `format!` wrote.
        #[test]
        fn the_provisional_tag_equals_what_format_wrote(
            ino in proptest::prelude::any::<u64>(),
            size in proptest::prelude::any::<u64>(),
            mtime in (proptest::prelude::any::<i64>(), 0u32..1_000_000_000),
            ctime in (proptest::prelude::any::<i64>(), 0u32..1_000_000_000),
        ) {
            let stamp = Stamp { dev: 1, ino, size, mtime, ctime };
            proptest::prop_assert_eq!(
                stamp.etag(),
                format!(
                    "\"{:x}-{:x}-{:x}.{:x}-{:x}.{:x}\"",
                    stamp.ino,
                    stamp.size,
                    stamp.mtime.0.max(0),
                    stamp.mtime.1,
                    stamp.ctime.0.max(0),
                    stamp.ctime.1
                )
            );
        }
    }
}
