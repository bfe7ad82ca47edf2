//! BitTorrent metainfo (BEP 3, v1): a file's, `/<path>.torrent`, and a folder's,
//! `/<dir>/<dir name>.torrent`, with this server (and each mirror) as web seeds (BEP 19): a
//! client takes pieces from peers when it finds them and from here by plain Range requests
//! otherwise. A file's web seed is the file's URL; a folder's is its parent folder's URL with a
//! `/` (the client appends the folder's name and each file's path), the root's
//! `/.web-seed/` (see `route::WEB_SEED_PREFIX`). Made on the blocking pool from the stored
//! SHA-1 pieces (a folder's: `digest::folders`); 503 with `Retry-After` until they are known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use hyper::header::HeaderValue;

use super::plan::{Extra, Found, Refusal, Stop, blocking};
use super::state::Shared;
use crate::digest::folders::{FolderFile, FolderStatus};
use crate::digest::{self, PiecesStatus, Status, pieces};
use crate::fs::stamp::Stamp;
use crate::http::format;
use crate::representation::Representation;
use crate::torrent::metainfo::{self, TorrentFile};
use crate::tree::archives::{self, FileBelow};
use crate::tree::entity::{Entity, Generated};
use crate::tree::listing::Magnet;
use crate::tree::root::Dir;
use crate::tree::route::{self, RequestPath};

/// Folders whose torrent was made, remembered (for their magnet links in listings) at most.
pub const REMEMBERED_FOLDERS: usize = 1024;
/// Entries one listing walks, at most, to check that folders still hold the files their
/// torrents were made of (beyond it, folders are listed without a magnet link).
pub const MAGNET_WALK_BUDGET: usize = 20_000;

/// The folders whose torrent was made: by their path below the root and the folder their
/// symlinks must stay in, a digest of the files (paths and version stamps) the torrent was
/// made of, and its infohash.
#[derive(Debug, Default)]
pub struct Made(Mutex<HashMap<FolderAt, MadeOf>>);

/// A folder's path below the root and the folder its symlinks must stay in.
type FolderAt = (Vec<u8>, Vec<u8>);
/// A digest of the files a torrent was made of, and its infohash.
type MadeOf = ([u8; 32], [u8; 20]);

impl Made {
    /// Remembers the folder at `rel` (symlinks kept within `within`); at the bound, everything
    /// remembered is forgotten first (its magnets are offered again once a walk confirms them).
    fn remember(&self, rel: &[u8], within: &[u8], files: [u8; 32], infohash: [u8; 20]) {
        let mut made = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if made.len() >= REMEMBERED_FOLDERS {
            made.clear();
        }
        made.insert((rel.to_vec(), within.to_vec()), (files, infohash));
    }

    fn get(&self, rel: &[u8], within: &[u8]) -> Option<([u8; 32], [u8; 20])> {
        let made = self.0.lock().unwrap_or_else(|p| p.into_inner());
        made.get(&(rel.to_vec(), within.to_vec())).copied()
    }
}

/// A digest of files' paths and version stamps (sorted by path).
fn files_key(below: &[FileBelow]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (_, rel, stamp) in below {
        hasher.update((rel.len() as u64).to_le_bytes());
        hasher.update(rel);
        hasher.update(stamp.size.to_le_bytes());
        hasher.update(stamp.ino.to_le_bytes());
        hasher.update(stamp.dev.to_le_bytes());
        hasher.update(stamp.mtime.0.to_le_bytes());
        hasher.update(stamp.mtime.1.to_le_bytes());
        hasher.update(stamp.ctime.0.to_le_bytes());
        hasher.update(stamp.ctime.1.to_le_bytes());
    }
    hasher.finalize().into()
}

/// The magnet link of the folder at `rel` (URL path `folder`) for a listing: known only if its
/// torrent was made and a walk (within what is left of `budget` entries) finds it still holds
/// exactly those files (blocking).
pub fn folder_magnet(
    shared: &Shared,
    rel: &[u8],
    within: &[u8],
    folder: &[Vec<u8>],
    base: &str,
    budget: &mut usize,
) -> Magnet {
    let seeds = folder_seeds(shared, base, folder);
    let name = folder_name(shared, folder);
    match made_infohash(shared, rel, within, budget) {
        Some(infohash) => Magnet::Known(metainfo::magnet(&infohash, name, &seeds)),
        None => Magnet::Pending(metainfo::magnet(&[0; 20], name, &seeds)),
    }
}

/// The infohash of the folder's torrent if it was made of the files it holds now.
fn made_infohash(
    shared: &Shared,
    rel: &[u8],
    within: &[u8],
    budget: &mut usize,
) -> Option<[u8; 20]> {
    let (files, infohash) = shared.torrents.get(rel, within)?;
    let root = &shared.config.root;
    let crate::tree::route::Found::Dir(dir) = root.lookup_within(rel, within, true) else {
        return None;
    };
    if *budget == 0 {
        return None;
    }
    let Ok(mut below) = archives::files_below_at_most(root, &dir, b"", *budget) else {
        // Past the budget (or unreadable): no more walks for this listing.
        *budget = 0;
        return None;
    };
    *budget = budget.saturating_sub(below.len().max(1));
    below.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    (files_key(&below) == files).then_some(infohash)
}

/// Files one folder torrent lists, at most (about 100 bytes each in the document, and each a
/// file clients create).
pub const MAX_FOLDER_FILES: usize = 100_000;

/// The media type of a `.torrent`.
pub const CONTENT_TYPE: &str = "application/x-bittorrent";

/// The `.torrent` of `rep`, on the blocking pool. `base`: the absolute URL the tree is mounted at.
pub async fn file_document(
    shared: &Arc<Shared>,
    rep: Representation,
    base: Option<String>,
) -> Found {
    let shared = Arc::clone(shared);
    blocking(move || file(&shared, &rep, base.as_deref()).map(|doc| (doc, Extra::new()))).await
}

/// A file's `info` dictionary.
fn file_info(
    name: &[u8],
    size: u64,
    pieces: &pieces::PieceHashes,
) -> crate::torrent::bencode::Value {
    // An empty file has no piece in a torrent (BEP 3; mktorrent and aria2c agree).
    let sha1: &[[u8; 20]] = if size == 0 { &[] } else { &pieces.sha1 };
    metainfo::single_info(name, size, pieces::piece_length(size), sha1)
}

/// The magnet link of the file at `rel` (whose version is `stamp`) for a listing, if its pieces
/// are known (blocking: they may be read from the store; nothing is queued).
pub fn file_magnet(shared: &Shared, stamp: &Stamp, rel: &[u8], base: &str) -> Magnet {
    let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
    let seeds = super::metalink::urls(shared, base, rel);
    match shared.digests.as_ref().and_then(|d| d.known_pieces(stamp)) {
        Some(pieces) => {
            let info = file_info(name, stamp.size, &pieces);
            Magnet::Known(metainfo::magnet(&metainfo::infohash(&info), name, &seeds))
        }
        None => Magnet::Pending(metainfo::magnet(&[0; 20], name, &seeds)),
    }
}

fn file(shared: &Shared, rep: &Representation, base: Option<&str>) -> Result<Entity, Stop> {
    let (Some(digests), Some(base)) = (&shared.digests, base) else {
        return Err(Stop::Refuse(Refusal::NotFound));
    };
    let pieces = match digests.pieces(&rep.stamp, &rep.identity.rel) {
        PiecesStatus::Ready { pieces, .. } => pieces,
        PiecesStatus::Hashing { done, total, rate } => {
            return Err(Stop::Pending(digest::retry_after(done, total, rate)));
        }
    };
    let info = file_info(&rep.identity.name, rep.stamp.size, &pieces);
    let seeds = super::metalink::everywhere(shared, base, &rep.identity.url_path);
    let bytes = metainfo::torrent(info, &seeds, &shared.config.trackers);
    let mut doc = Generated::new(bytes, CONTENT_TYPE);
    let mut name = rep.identity.display_name.clone();
    name.push_str(".torrent");
    doc.disposition = HeaderValue::from_str(&format::content_disposition(&name)).ok();
    Ok(Entity::Generated(doc))
}

/// A folder's `.torrent`, on the blocking pool, in a walk's turn. `path`: the request's,
/// `<folder>/<folder name>.torrent`.
pub async fn folder_document(
    shared: &Arc<Shared>,
    dir: Dir,
    path: RequestPath,
    base: Option<String>,
) -> Found {
    let _turn = shared.walks.acquire().await;
    let shared = Arc::clone(shared);
    let folder = path.segments[..path.segments.len().saturating_sub(1)].to_vec();
    blocking(move || {
        folder_torrent(&shared, &dir, &folder, base.as_deref()).map(|d| (d, Extra::new()))
    })
    .await
}

/// The web seeds of the folder at `folder` (its URL path's segments; none for the root): its
/// parent's URL with a `/`, here and at each mirror.
pub fn folder_seeds(shared: &Shared, base: &str, folder: &[Vec<u8>]) -> Vec<String> {
    let parent = match folder.split_last() {
        Some((_, parent)) => format::url_segments(parent.iter().map(Vec::as_slice)),
        None => format::url_segments([route::WEB_SEED_PREFIX]),
    };
    super::metalink::everywhere(shared, base, &format!("{parent}/"))
}

/// The folder's name in its torrent: its last segment, the root's name for the root.
fn folder_name<'a>(shared: &'a Shared, folder: &'a [Vec<u8>]) -> &'a [u8] {
    folder
        .last()
        .map_or(shared.config.root.name(), Vec::as_slice)
}

fn folder_torrent(
    shared: &Shared,
    dir: &Dir,
    folder: &[Vec<u8>],
    base: Option<&str>,
) -> Result<Entity, Stop> {
    let (Some(digests), Some(base)) = (&shared.digests, base) else {
        return Err(Stop::Refuse(Refusal::NotFound));
    };
    let name = folder_name(shared, folder);
    let root = &shared.config.root;
    // The walk stops past twice the files a torrent may list (folders count too).
    let below = root
        .retrying(|| archives::files_below_at_most(root, dir, name, 2 * MAX_FOLDER_FILES))
        .map_err(|err| {
            tracing::warn!("cannot list the files for a torrent: {err}");
            Stop::Refuse(Refusal::OpenFailed(crate::error::status_for(&err)))
        })?;
    if below.len() > MAX_FOLDER_FILES {
        tracing::warn!(
            "a torrent of more than {MAX_FOLDER_FILES} files is not made ({} files)",
            below.len()
        );
        return Err(Stop::Refuse(Refusal::OpenFailed(
            hyper::StatusCode::INTERNAL_SERVER_ERROR,
        )));
    }
    // Ordered by path, bytewise (`a.txt` before `a/x`), as mktorrent orders them: the same
    // folder gives the same infohash there.
    let mut below = below;
    below.sort_unstable_by(|a, b| a.1.cmp(&b.1));
    let made_of = files_key(&below);
    let prefix_len = match dir.rel() {
        b"" => 0,
        rel => rel.len() + 1,
    };
    // Names some client would rewrite (and then ask the web seed for in vain) are left out.
    let below: Vec<_> = below
        .into_iter()
        .filter(|(_, rel, _)| {
            rel[prefix_len.min(rel.len())..]
                .split(|&b| b == b'/')
                .all(metainfo::portable)
        })
        .collect();
    // A torrent of no byte is one no client takes (libtorrent: "invalid length").
    if below.iter().all(|(_, _, stamp)| stamp.size == 0) {
        return Err(Stop::Refuse(Refusal::NotFound));
    }
    let (mut files, mut listed) = (Vec::with_capacity(below.len()), Vec::new());
    let (mut pending, mut rate) = (0u64, 0.0f64);
    for (_, rel, stamp) in below {
        match digests.ensure(&stamp, &rel) {
            Status::Ready { sum, .. } => {
                listed.push(TorrentFile {
                    path: rel[prefix_len.min(rel.len())..]
                        .split(|&b| b == b'/')
                        .map(<[u8]>::to_vec)
                        .collect(),
                    length: stamp.size,
                });
                files.push(FolderFile {
                    rel,
                    stamp,
                    sha256: sum,
                });
            }
            Status::Hashing {
                done,
                total,
                rate: r,
            } => {
                pending += total.saturating_sub(done);
                rate = rate.max(r);
            }
        }
    }
    let total: u64 = files.iter().map(|f| f.stamp.size).sum();
    if pending > 0 {
        // The files first, then the folder's own pass.
        return Err(Stop::Pending(digest::retry_after(0, pending + total, rate)));
    }
    let piece_length = pieces::piece_length(total);
    let sha1 = match digests.folder_pieces(piece_length, files) {
        FolderStatus::Ready(sha1) => sha1,
        FolderStatus::Hashing { done, total, rate } => {
            return Err(Stop::Pending(digest::retry_after(done, total, rate)));
        }
    };
    let info = metainfo::folder_info(name, &listed, piece_length, &sha1);
    shared
        .torrents
        .remember(dir.rel(), dir.within(), made_of, metainfo::infohash(&info));
    let seeds = folder_seeds(shared, base, folder);
    let bytes = metainfo::torrent(info, &seeds, &shared.config.trackers);
    let mut doc = Generated::new(shared.held.share(bytes), CONTENT_TYPE);
    let mut shown = String::from_utf8_lossy(name).into_owned();
    shown.push_str(".torrent");
    doc.disposition = HeaderValue::from_str(&format::content_disposition(&shown)).ok();
    Ok(Entity::Generated(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folders_remembered_stay_within_their_bound() {
        let made = Made::default();
        for n in 0..(REMEMBERED_FOLDERS as u32 + 10) {
            made.remember(&n.to_be_bytes(), b"", [1; 32], [2; 20]);
            let held = made.0.lock().unwrap().len();
            assert!(held <= REMEMBERED_FOLDERS, "{held}");
        }
        let last = (REMEMBERED_FOLDERS as u32 + 9).to_be_bytes();
        assert_eq!(made.get(&last, b""), Some(([1; 32], [2; 20])));
        assert_eq!(made.get(&last, b"elsewhere"), None);
    }
}
