//! A folder's listing (HTML or JSON) and its `SHA256SUMS`: the entries read on the blocking pool
//! in a walk's turn, with the digests known so far (the others queued) and the torrents'
//! magnet links.

use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;
use hyper::header;

use super::metalink;
use super::plan::{Extra, Found, Refusal, Stop, blocking, failed};
use super::state::Shared;
use crate::digest::{self, Wanted};
use crate::http::fields::{self, field};
use crate::tree::entity::{Entity, Generated, TEXT_PLAIN};
use crate::tree::entries::Listed;
use crate::tree::listing::{self, parts::Listing};
use crate::tree::rendered::Rendered;
use crate::tree::root::Dir;
use crate::tree::route::{self, RequestPath};

/// A directory's listing, HTML or JSON, read and rendered on the blocking pool.
pub(super) async fn listing(
    req: &Request<Incoming>,
    shared: &Arc<Shared>,
    dir: Dir,
    path: RequestPath,
    mount: String,
) -> Found {
    let json = route::wants_json(
        req.uri().query(),
        field(req.headers(), &header::ACCEPT).as_deref(),
    );
    let authority = req.uri().authority().map(|a| a.as_str());
    let origin = fields::origin(req.headers(), authority, shared.scheme());
    let seed_base = metalink::base(req, shared, &mount);
    let _turn = shared.walks.acquire().await;
    let shared = Arc::clone(shared);
    blocking(move || {
        let entries = read_entries(&shared, &dir, &path, seed_base.as_deref())?;
        let archive_name = path
            .segments
            .last()
            .map(Vec::as_slice)
            .or(Some(shared.config.root.name()))
            .filter(|name| !name.is_empty())
            .map(<[u8]>::to_vec);
        let checksums = shared.digests.is_some();
        let listing = Listing::new(
            path.segments,
            origin,
            entries,
            checksums,
            archive_name,
            mount,
            json,
        );
        let content_type = match json {
            true => "application/json",
            false => "text/html; charset=utf-8",
        };
        let rendered = shared.listings.share(Rendered::new(Box::new(listing)));
        let mut doc = Generated::rendered(rendered, content_type);
        doc.vary_accept = true;
        Ok((Entity::Generated(doc), Extra::new()))
    })
    .await
}

/// `SHA256SUMS` of a directory's files, once every digest is known (503 until then; 404 for a
/// directory without files).
pub(super) async fn manifest(shared: &Arc<Shared>, dir: Dir, path: RequestPath) -> Found {
    let _turn = shared.walks.acquire().await;
    let shared = Arc::clone(shared);
    blocking(move || {
        let entries = read_entries(&shared, &dir, &path, None)?;
        match listing::manifest(&entries) {
            Ok(Some(text)) => Ok((
                Entity::Generated(Generated::new(text, TEXT_PLAIN)),
                Extra::new(),
            )),
            Ok(None) => Err(Stop::Refuse(Refusal::NotFound)),
            Err(_) => {
                let rate = shared.digests.as_ref().map_or(0.0, |d| d.rate());
                let pending = pending_bytes(&entries);
                Err(Stop::Pending(digest::retry_after(0, pending, rate)))
            }
        }
    })
    .await
}

/// A directory's entries, sorted, with the digests known so far (the others are queued); with
/// `magnets` (the absolute URL the tree is mounted at), their torrents' magnet links too.
/// Blocking. An unreadable directory is the refusal to answer with.
fn read_entries(
    shared: &Shared,
    dir: &Dir,
    path: &RequestPath,
    magnets: Option<&str>,
) -> Result<Vec<listing::Entry>, Stop> {
    let root = &shared.config.root;
    let listed = (root.retrying(|| root.entries(dir)))
        .map_err(|err| failed("list", &route::display(&path.segments), &err))?;
    let magnets = magnets.map(|base| (base, dir.within(), path.segments.as_slice()));
    Ok(with_digests(shared, listed, magnets))
}

/// For a listing's magnet links: the absolute URL the tree is mounted at, the folder symlinks
/// must stay in, and the listed folder's URL path segments.
type MagnetsAt<'a> = (&'a str, &'a [u8], &'a [Vec<u8>]);

fn with_digests(
    shared: &Shared,
    listed: Vec<Listed>,
    magnets: Option<MagnetsAt<'_>>,
) -> Vec<listing::Entry> {
    let Some(digests) = shared.digests.as_deref() else {
        // Without digests, nothing to look up: no list of the files' paths either.
        let mut entries: Vec<listing::Entry> = listed.into_iter().map(|l| l.entry).collect();
        listing::sort(&mut entries);
        return entries;
    };
    let mut entries = Vec::with_capacity(listed.len());
    let mut files = Vec::new();
    let mut file_index = Vec::new();
    let mut budget = super::torrent::MAGNET_WALK_BUDGET;
    for mut item in listed {
        if item.is_file() {
            file_index.push(entries.len());
            files.push(Wanted {
                stamp: item.stamp,
                name: String::from_utf8_lossy(&item.rel).into_owned(),
                rel: item.rel,
            });
        } else if let Some((base, within, segments)) = magnets {
            let mut folder = segments.to_vec();
            folder.push(item.entry.name.clone());
            item.entry.magnet = super::torrent::folder_magnet(
                shared,
                &item.rel,
                within,
                &folder,
                base,
                &mut budget,
            );
        }
        entries.push(item.entry);
    }
    let sums = digests.lookup_all(&files);
    for ((index, sum), wanted) in file_index.into_iter().zip(sums).zip(&files) {
        entries[index].sha256 = sum.map(|s| s.sha256);
        if let Some((base, ..)) = magnets {
            entries[index].magnet =
                super::torrent::file_magnet(shared, &wanted.stamp, &wanted.rel, base);
        }
    }
    listing::sort(&mut entries);
    entries
}

/// Bytes of the files that still lack a digest.
fn pending_bytes(entries: &[listing::Entry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.sha256.is_none())
        .map(|e| match e.kind {
            listing::Kind::File { size } => size,
            listing::Kind::Dir => 0,
        })
        .sum()
}
