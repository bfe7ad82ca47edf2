//! Digests that survive a restart: a text file under `--state-dir` with one line per digest,
//! keyed by the version stamp it was computed for (device, inode, size, mtime and ctime to the
//! nanosecond). A restarted server uses a stored digest only for a file whose stamp is still
//! that one, so an edited, replaced or touched file is hashed again.
//!
//! Crash safety: new digests are appended, one `write` of one whole line each; a line is used
//! only if it is complete (ends in a newline) and well formed, so a write torn by a crash costs
//! at most that digest (it is hashed again). When the file has waste, the start-up rewrites it
//! compactly to a temporary file, `fsync`s it and renames it over the old one, so a crash then
//! leaves either the old file or the new one.
//!
//! Bounded: each line names the file's absolute path, so at start-up only the last digest of
//! each path is kept, and only if that path still has that version (a `stat` per path); the
//! versions no longer on disk, torn lines and duplicates are the waste a rewrite drops. (Lines
//! of the older form, without a path, cannot be checked and are kept.) The path is absolute
//! because one state directory may serve several roots.
//!
//! Pieces (`pieces::PieceHasher`) are kept beside it, one file per content in `pieces-v1/`,
//! named by the file's SHA-256 in hex and holding each piece's SHA-256 and SHA-1; written
//! to a temporary file and renamed, and used only if its length is right for the file's size
//! (else the file is hashed again). At start-up, the piece files of contents no longer stored
//! are removed.
//!
//! Not in extended attributes of the served files: setting one changes the file's ctime, which
//! is part of the stamp, and the served tree may be read-only.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::digest::Sums;
use crate::fs::stamp::Stamp;

/// The store's file name inside the state directory.
pub const FILE_NAME: &str = "digests-v1";
/// First field of a digest line without a path (the first form; still read).
const SUMS_TAG: &str = "sums";
/// First field of a digest line with its file's path (other kinds of line may follow in later
/// versions; they are skipped, not an error).
const AT_TAG: &str = "at";

/// A stored digest and the absolute path of the file it was computed for (none in the first
/// form of the lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sums: Sums,
    pub path: Option<PathBuf>,
}

/// The pieces' folder inside the state directory.
pub const PIECES_DIR: &str = "pieces-v1";

/// Folders' torrent pieces inside the state directory, one file per folder content.
pub const FOLDERS_DIR: &str = "folder-pieces-v1";
/// Folder piece files kept, at most: the oldest beyond this are removed at start-up and after
/// each one added (each change to a folder's files makes a new one).
pub const FOLDER_FILES_KEPT: usize = 1024;

/// An open digest store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    append: Mutex<File>,
    pieces: PathBuf,
    folders: PathBuf,
}

/// One line: `at SHA256HEX CRC32HEX DEV INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS PATHHEX\n`
/// (the numbers in decimal, the path's bytes in hex); without a path, the first form:
/// `sums` and the same fields but the last.
pub fn format_line(stamp: &Stamp, sums: &Sums, path: Option<&Path>) -> String {
    let tag = if path.is_some() { AT_TAG } else { SUMS_TAG };
    let mut line = format!(
        "{tag} {} {:08x} {} {} {} {} {} {} {}",
        crate::http::format::hex(&sums.sha256),
        sums.crc32,
        stamp.dev,
        stamp.ino,
        stamp.size,
        stamp.mtime.0,
        stamp.mtime.1,
        stamp.ctime.0,
        stamp.ctime.1
    );
    if let Some(path) = path {
        line.push(' ');
        line.push_str(&crate::http::format::hex(path.as_os_str().as_bytes()));
    }
    line.push('\n');
    line
}

/// Parses one line without its newline; `None` for anything not exactly a digest line.
pub fn parse_line(line: &str) -> Option<(Stamp, Stored)> {
    let mut fields = line.split(' ');
    let with_path = match fields.next()? {
        SUMS_TAG => false,
        AT_TAG => true,
        _ => return None,
    };
    let hex = fields.next()?;
    if hex.len() != 64 {
        return None;
    }
    let mut sum = [0u8; 32];
    for (i, byte) in sum.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let crc = fields.next()?;
    if crc.len() != 8 {
        return None;
    }
    let crc32 = u32::from_str_radix(crc, 16).ok()?;
    let mut number = || fields.next()?.parse::<i128>().ok();
    let (dev, ino, size) = (number()?, number()?, number()?);
    let (ms, mn, cs, cn) = (number()?, number()?, number()?, number()?);
    let stamp = Stamp {
        dev: u64::try_from(dev).ok()?,
        ino: u64::try_from(ino).ok()?,
        size: u64::try_from(size).ok()?,
        mtime: (i64::try_from(ms).ok()?, u32::try_from(mn).ok()?),
        ctime: (i64::try_from(cs).ok()?, u32::try_from(cn).ok()?),
    };
    let path = match with_path {
        true => Some(PathBuf::from(OsString::from_vec(unhex(fields.next()?)?))),
        false => None,
    };
    if fields.next().is_some() || stamp.mtime.1 >= 1_000_000_000 || stamp.ctime.1 >= 1_000_000_000 {
        return None;
    }
    let sums = Sums { sha256: sum, crc32 };
    Some((stamp, Stored { sums, path }))
}

/// Bytes from lowercase or uppercase hex (an even number of digits, at least two).
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Every complete, valid line of a store's text — for each path only its last line, for each
/// version only its last line — and how many lines were waste (torn, invalid or superseded).
pub fn parse(text: &[u8]) -> (HashMap<Stamp, Stored>, usize) {
    let (complete, torn) = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => (&text[..end], end + 1 < text.len()),
        None => (&[][..], !text.is_empty()),
    };
    let mut digests: HashMap<Stamp, Stored> = HashMap::new();
    let mut latest: HashMap<PathBuf, Stamp> = HashMap::new();
    let mut lines = 0;
    if text.contains(&b'\n') {
        for line in complete.split(|&b| b == b'\n') {
            lines += 1;
            let Some((stamp, stored)) = std::str::from_utf8(line).ok().and_then(parse_line) else {
                continue;
            };
            if let Some(path) = &stored.path
                && let Some(older) = latest.insert(path.clone(), stamp)
                && older != stamp
                && digests
                    .get(&older)
                    .is_some_and(|d| d.path.as_ref() == Some(path))
            {
                digests.remove(&older);
            }
            digests.insert(stamp, stored);
        }
    }
    let waste = lines - digests.len() + usize::from(torn);
    (digests, waste)
}

/// Drops the digests whose path no longer has that version (changed, replaced or gone while
/// the server was down); returns how many. `stamp_of` is a `stat` of a path.
pub fn prune(
    digests: &mut HashMap<Stamp, Stored>,
    stamp_of: impl Fn(&Path) -> Option<Stamp>,
) -> usize {
    let before = digests.len();
    digests.retain(|stamp, stored| match &stored.path {
        Some(path) => stamp_of(path) == Some(*stamp),
        None => true,
    });
    before - digests.len()
}

impl Store {
    /// Opens (creating it, mode 0700, if need be) the store in `dir` and returns it with the
    /// digests it holds. Compacts the file first if it has waste.
    /// Versions no longer on disk are dropped (see [`prune`]).
    pub fn open(dir: &Path) -> io::Result<(Store, HashMap<Stamp, Stored>)> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        let (mut digests, mut waste) = parse(&text);
        waste += prune(&mut digests, |path| {
            rustix::fs::stat(path).ok().map(|stat| Stamp::of(&stat))
        });
        if waste > 0 {
            rewrite(dir, &path, &digests)?;
        }
        let append = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        let pieces = dir.join(PIECES_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&pieces)?;
        remove_orphan_pieces(&pieces, &digests);
        let folders = dir.join(FOLDERS_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&folders)?;
        remove_oldest(&folders, FOLDER_FILES_KEPT);
        Ok((
            Store {
                path,
                append: Mutex::new(append),
                pieces,
                folders,
            },
            digests,
        ))
    }

    /// Keeps the pieces of the content whose SHA-256 is `sum` (write, then rename).
    pub fn add_pieces(
        &self,
        sum: &[u8; 32],
        pieces: &super::pieces::PieceHashes,
    ) -> io::Result<()> {
        write_renamed(&self.pieces, sum, &super::pieces::encode(pieces))
    }

    /// Keeps a folder's SHA-1 pieces under its content key (`digest::folders::key`).
    pub fn add_folder_pieces(&self, key: &[u8; 32], pieces: &[[u8; 20]]) -> io::Result<()> {
        write_renamed(&self.folders, key, &super::pieces::encode_sha1(pieces))?;
        remove_oldest(&self.folders, FOLDER_FILES_KEPT);
        Ok(())
    }

    /// A folder's kept SHA-1 pieces, if there are `count` and they are whole (blocking).
    pub fn folder_pieces(&self, key: &[u8; 32], count: u64) -> Option<Vec<[u8; 20]>> {
        let bytes = std::fs::read(self.folders.join(crate::http::format::hex(key))).ok()?;
        super::pieces::decode_sha1(&bytes, count)
    }

    /// The kept pieces of the content `sum` of `size` bytes, if whole (blocking).
    pub fn pieces(&self, sum: &[u8; 32], size: u64) -> Option<super::pieces::PieceHashes> {
        let bytes = std::fs::read(self.pieces.join(crate::http::format::hex(sum))).ok()?;
        super::pieces::decode(&bytes, size)
    }

    /// Adds one digest of the file at `path` (one `write` of one line).
    pub fn add(&self, stamp: &Stamp, sums: &Sums, path: Option<&Path>) -> io::Result<()> {
        let line = format_line(stamp, sums, path);
        let mut file = self
            .append
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(line.as_bytes())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `bytes` to `dir/<hex of name>` through a temporary file and a rename.
fn write_renamed(dir: &Path, name: &[u8; 32], bytes: &[u8]) -> io::Result<()> {
    let hex = crate::http::format::hex(name);
    let temp = dir.join(format!("{hex}.tmp.{}", std::process::id()));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&temp, dir.join(hex))
}

/// Removes temporary files and all but the `keep` most recently written files of `dir`.
/// Errors are ignored: what is left is only space.
fn remove_oldest(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().contains(".tmp.") {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).ok();
        files.push((modified, entry.path()));
    }
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in files.iter().skip(keep) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes the piece files of contents no digest names any more (and temporary files left by a
/// crash). Errors are ignored: what is left is only space.
fn remove_orphan_pieces(dir: &Path, digests: &HashMap<Stamp, Stored>) {
    let kept: std::collections::HashSet<String> = digests
        .values()
        .map(|stored| crate::http::format::hex(&stored.sums.sha256))
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !kept.contains(&*name.to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Write-then-rename: the new contents to a temporary file, synced, renamed over `path`, and the
/// directory synced so the rename itself is durable.
fn rewrite(dir: &Path, path: &Path, digests: &HashMap<Stamp, Stored>) -> io::Result<()> {
    let temp = dir.join(format!("{FILE_NAME}.tmp.{}", std::process::id()));
    let mut text = String::with_capacity(digests.len() * 200);
    for (stamp, stored) in digests {
        text.push_str(&format_line(stamp, &stored.sums, stored.path.as_deref()));
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sums(b: u8) -> Sums {
        Sums {
            sha256: [b; 32],
            crc32: u32::from(b) * 0x0101_0101,
        }
    }

    /// A digest stored without a path (the first form of the lines).
    fn bare(b: u8) -> Stored {
        Stored {
            sums: sums(b),
            path: None,
        }
    }

    fn at(b: u8, path: &str) -> Stored {
        Stored {
            sums: sums(b),
            path: Some(PathBuf::from(path)),
        }
    }

    #[test]
    fn lines_with_a_path_round_trip_whatever_its_bytes() {
        let odd = PathBuf::from(OsString::from_vec(b"/srv/a b\n\xff.bin".to_vec()));
        let line = format_line(&stamp(3), &sums(3), Some(&odd));
        assert!(line.starts_with("at ") && line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        let (got_stamp, stored) = parse_line(line.trim_end()).unwrap();
        assert_eq!(
            (got_stamp, stored.path.as_deref()),
            (stamp(3), Some(odd.as_path()))
        );
        assert_eq!(parse_line(&format!("{} x", line.trim_end())), None);
        assert_eq!(
            parse_line(line.trim_end().trim_end_matches(char::is_alphanumeric)),
            None
        );
    }

    #[test]
    fn only_the_last_version_of_each_path_is_kept() {
        let mut text = String::new();
        for n in 1..=100 {
            text.push_str(&format_line(
                &stamp(n),
                &sums(n as u8),
                Some(Path::new("/srv/f")),
            ));
        }
        text.push_str(&format_line(
            &stamp(500),
            &sums(5),
            Some(Path::new("/srv/g")),
        ));
        text.push_str(&format_line(&stamp(600), &sums(6), None));
        let (digests, waste) = parse(text.as_bytes());
        assert_eq!(
            digests,
            HashMap::from([
                (stamp(100), at(100, "/srv/f")),
                (stamp(500), at(5, "/srv/g")),
                (stamp(600), bare(6)),
            ])
        );
        assert_eq!(waste, 99);
    }

    #[test]
    fn versions_no_longer_on_disk_are_pruned_and_pathless_ones_kept() {
        let mut digests = HashMap::from([
            (stamp(1), at(1, "/srv/same")),
            (stamp(2), at(2, "/srv/changed")),
            (stamp(3), at(3, "/srv/gone")),
            (stamp(4), bare(4)),
        ]);
        let on_disk = |path: &Path| match path.to_str() {
            Some("/srv/same") => Some(stamp(1)),
            Some("/srv/changed") => Some(stamp(9)),
            _ => None,
        };
        assert_eq!(prune(&mut digests, on_disk), 2);
        assert_eq!(
            digests,
            HashMap::from([(stamp(1), at(1, "/srv/same")), (stamp(4), bare(4))])
        );
    }

    fn stamp(n: u64) -> Stamp {
        Stamp {
            dev: 2049,
            ino: n,
            size: n * 1000,
            mtime: (1_700_000_000, 123_456_789),
            ctime: (-5, 999_999_999),
        }
    }

    #[test]
    fn lines_round_trip_and_damaged_lines_are_refused() {
        let line = format_line(&stamp(7), &sums(0xab), None);
        assert!(line.ends_with('\n'));
        let body = line.trim_end();
        assert_eq!(parse_line(body), Some((stamp(7), bare(0xab))));
        for bad in [
            "",
            "sha256",
            &body.replacen("sums", "md5", 1),
            &body.replacen("abababab ", "ababab ", 1),
            &format!("{body} 1"),
            &body.replacen(&"ab".repeat(32), &"ab".repeat(31), 1),
            &body.replacen(&"ab".repeat(32), &"zz".repeat(32), 1),
            &body.replace("123456789", "1234567890"),
            "\0\0\0\0",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_torn_last_line_is_waste_not_a_digest() {
        let mut text = format_line(&stamp(1), &sums(1), None).into_bytes();
        let second = format_line(&stamp(2), &sums(2), None);
        for cut in 0..second.len() {
            let mut torn = text.clone();
            torn.extend_from_slice(&second.as_bytes()[..cut]);
            let (digests, waste) = parse(&torn);
            assert_eq!(digests.len(), 1, "cut at {cut}");
            assert_eq!(digests.get(&stamp(1)), Some(&bare(1)));
            assert_eq!(waste, usize::from(cut > 0), "cut at {cut}");
        }
        text.extend_from_slice(second.as_bytes());
        assert_eq!(
            parse(&text),
            (HashMap::from([(stamp(1), bare(1)), (stamp(2), bare(2))]), 0)
        );
    }

    #[test]
    fn the_store_survives_reopening_and_compacts_waste() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/rangeserve");
        {
            let (store, loaded) = Store::open(&state).unwrap();
            assert!(loaded.is_empty());
            store.add(&stamp(1), &sums(1), None).unwrap();
            store.add(&stamp(1), &sums(1), None).unwrap();
            store.add(&stamp(2), &sums(2), None).unwrap();
        }
        // A crash mid-append leaves a partial line.
        let path = state.join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"sums abab").unwrap();
        let (_store, loaded) = Store::open(&state).unwrap();
        assert_eq!(
            loaded,
            HashMap::from([(stamp(1), bare(1)), (stamp(2), bare(2))])
        );
        let compacted = std::fs::read_to_string(&path).unwrap();
        assert_eq!(compacted.lines().count(), 2, "{compacted}");
        let mode = std::fs::metadata(&state).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
    }

    #[test]
    fn folder_pieces_survive_reopening_and_only_the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        store
            .add_folder_pieces(&[1; 32], &[[9; 20], [8; 20]])
            .unwrap();
        assert_eq!(
            store.folder_pieces(&[1; 32], 2),
            Some(vec![[9; 20], [8; 20]])
        );
        assert_eq!(
            store.folder_pieces(&[1; 32], 3),
            None,
            "the wrong count is not used"
        );
        assert_eq!(store.folder_pieces(&[2; 32], 2), None);
        let folders = dir.path().join(FOLDERS_DIR);
        std::fs::write(folders.join("x.tmp.1"), b"torn").unwrap();
        for n in 0..(FOLDER_FILES_KEPT + 5) {
            std::fs::write(folders.join(format!("{n:064x}")), b"").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let file = File::options()
            .write(true)
            .open(folders.join(crate::http::format::hex(&[1; 32])))
            .unwrap();
        file.set_modified(old).unwrap();
        drop(store);
        let (store, _) = Store::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(&folders).unwrap().count(),
            FOLDER_FILES_KEPT
        );
        assert_eq!(
            store.folder_pieces(&[1; 32], 2),
            None,
            "the oldest went first"
        );
    }

    proptest! {
        #[test]
        fn any_stamp_round_trips(dev: u64, ino: u64, size: u64, ms: i64, mn in 0u32..1_000_000_000,
                                  cs: i64, cn in 0u32..1_000_000_000, sha256: [u8; 32], crc32: u32) {
            let stamp = Stamp { dev, ino, size, mtime: (ms, mn), ctime: (cs, cn) };
            let sums = Sums { sha256, crc32 };
            let line = format_line(&stamp, &sums, None);
            prop_assert_eq!(parse_line(line.trim_end()), Some((stamp, Stored { sums, path: None })));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_loader(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (digests, _) = parse(&text);
            prop_assert!(digests.len() <= text.len() / 80 + 1);
        }
    }
}
