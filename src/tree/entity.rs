//! What a response serves: an [`Entity`] — one opened version of a file, a folder as one
//! archive, or bytes generated in memory (a listing, a sidecar, `SHA256SUMS`, and the documents
//! to come). Each has a length, validators and a content type, so `http::decide` gives every
//! kind ETag, 304, If-Range, Range and HEAD alike; the handler turns the entity and the outcome
//! into a response. A new kind of document is a new [`Generated`] made by a pure renderer.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::header::HeaderValue;
use sha2::{Digest as _, Sha256};

use crate::http::conditional::Validators;
use crate::http::format;
use crate::representation::Representation;
use crate::tree::rendered::Rendered;

/// Something served with a body.
#[derive(Debug)]
pub enum Entity {
    /// One opened version of a file.
    File(Representation),
    /// A folder as one tar or zip: its bytes are framing and members (`rep.layout`).
    Archive(Representation),
    /// Bytes made in memory.
    Generated(Generated),
}

/// A document made here, with a strong ETag that is a digest of its bytes (so it changes
/// whenever a byte does, and two replicas making the same bytes send the same tag).
#[derive(Debug)]
pub struct Generated {
    pub content: Content,
    pub etag: String,
    pub content_type: HeaderValue,
    /// `Vary: Accept`: the URL has other forms chosen by `Accept` (a listing's HTML and JSON;
    /// a file and, with `--offer-metalink`, its Metalink).
    pub vary_accept: bool,
    /// `Content-Disposition`, when it names a download (a Metalink offered for a file's URL).
    pub disposition: Option<HeaderValue>,
}

/// A generated document's bytes: made whole (a sidecar, `SHA256SUMS`), or rendered part by
/// part as they are sent (a listing: the response holds its entries, not the page).
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Bytes),
    Rendered(Arc<Rendered>),
}

/// `text/plain; charset=utf-8`: the sidecars, `SHA256SUMS` and every fixed-text answer.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

impl Generated {
    /// A document of `content_type` with these bytes, tagged by their SHA-256.
    pub fn new(bytes: impl Into<Bytes>, content_type: &'static str) -> Generated {
        let bytes = bytes.into();
        let etag = format!("\"{}\"", format::hex(&Sha256::digest(&bytes)[..12]));
        Generated {
            content: Content::Bytes(bytes),
            etag,
            content_type: HeaderValue::from_static(content_type),
            vary_accept: false,
            disposition: None,
        }
    }

    /// A document rendered as it is sent (its ETag, like [`Generated::new`]'s, a digest of it).
    pub fn rendered(doc: Arc<Rendered>, content_type: &'static str) -> Generated {
        Generated {
            etag: doc.etag().to_string(),
            content: Content::Rendered(doc),
            content_type: HeaderValue::from_static(content_type),
            vary_accept: false,
            disposition: None,
        }
    }

    pub fn len(&self) -> u64 {
        match &self.content {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::Rendered(doc) => doc.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entity {
    /// The length of the whole entity (what a 200 sends).
    pub fn len(&self) -> u64 {
        match self {
            Entity::File(rep) | Entity::Archive(rep) => rep.len,
            Entity::Generated(doc) => doc.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ETag sent.
    pub fn etag(&self) -> &str {
        match self {
            Entity::File(rep) | Entity::Archive(rep) => &rep.etag,
            Entity::Generated(doc) => &doc.etag,
        }
    }

    /// The ETag, moved out (to a response field; [`Entity::etag`] is empty after).
    pub fn take_etag(&mut self) -> String {
        match self {
            Entity::File(rep) | Entity::Archive(rep) => std::mem::take(&mut rep.etag),
            Entity::Generated(doc) => std::mem::take(&mut doc.etag),
        }
    }

    /// `Last-Modified` as sent at `now` (none for a generated document).
    pub fn last_modified(&self, now: SystemTime) -> Option<SystemTime> {
        match self {
            Entity::File(rep) | Entity::Archive(rep) => {
                Some(format::last_modified(rep.modified, now))
            }
            Entity::Generated(_) => None,
        }
    }

    /// The validators the preconditions are evaluated against at `now`.
    pub fn validators(&self, now: SystemTime) -> Validators<'_> {
        Validators {
            etag: self.etag(),
            also: match self {
                Entity::File(rep) | Entity::Archive(rep) => rep.also.as_deref(),
                Entity::Generated(_) => None,
            },
            last_modified: self.last_modified(now),
        }
    }

    /// The `Content-Type` of the whole entity (and of each part of a multipart answer).
    pub fn content_type(&self) -> &HeaderValue {
        match self {
            Entity::File(rep) | Entity::Archive(rep) => &rep.identity.content_type,
            Entity::Generated(doc) => &doc.content_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_tag_is_a_digest_of_the_bytes() {
        let a = Generated::new(&b"abc\n"[..], TEXT_PLAIN);
        let b = Generated::new(&b"abc\n"[..], TEXT_PLAIN);
        let c = Generated::new(&b"abd\n"[..], TEXT_PLAIN);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 2 + 24);
        let entity = Entity::Generated(a);
        assert_eq!(entity.len(), 4);
        assert_eq!(
            entity.validators(SystemTime::UNIX_EPOCH).last_modified,
            None
        );
    }
}
