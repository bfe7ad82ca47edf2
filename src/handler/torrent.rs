//! A file's BitTorrent metainfo, `/<path>.torrent` (BEP 3, v1), with this server's URL of the
//! file (and each mirror's) as web seeds (BEP 19): a client takes pieces from peers when it
//! finds them and from here by plain Range requests otherwise. Made on the blocking pool from
//! the stored SHA-1 pieces; 503 with `Retry-After` until they are known.

use std::sync::Arc;

use hyper::header::HeaderValue;

use super::plan::{Extra, Found, Refusal, Stop, blocking};
use super::state::Shared;
use crate::digest::{self, PiecesStatus, pieces};
use crate::http::format;
use crate::representation::Representation;
use crate::torrent::metainfo;
use crate::tree::entity::{Entity, Generated};

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
    let size = rep.stamp.size;
    // An empty file has no piece in a torrent (BEP 3; mktorrent and aria2c agree).
    let sha1: &[[u8; 20]] = if size == 0 { &[] } else { &pieces.sha1 };
    let info = metainfo::single_info(&rep.identity.name, size, pieces::piece_length(size), sha1);
    let path = &rep.identity.url_path;
    let seeds: Vec<String> = std::iter::once(format!("{base}{path}"))
        .chain(shared.config.mirrors.iter().map(|m| format!("{m}{path}")))
        .collect();
    let bytes = metainfo::torrent(info, &seeds, &shared.config.trackers);
    let mut doc = Generated::new(bytes, CONTENT_TYPE);
    let mut name = rep.identity.display_name.clone();
    name.push_str(".torrent");
    doc.disposition = HeaderValue::from_str(&format::content_disposition(&name)).ok();
    Ok(Entity::Generated(doc))
}
