//! A document rendered part by part on demand (the listings): each part renders to the same
//! bytes every time, so one pass gives every part's offset, the length and the SHA-256 (the
//! strong ETag), and any byte range is rendered again from the parts that hold it. A response
//! holds the document's data (for a listing: its sorted entries) and an offset per part, never
//! the rendered page.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::body::Document;
use crate::http::format;

/// What a document is made of.
pub trait Parts: Send + Sync + 'static {
    /// How many parts.
    fn count(&self) -> usize;
    /// Appends part `index` (always the same bytes).
    fn render(&self, index: usize, out: &mut String);
}

/// A document with its parts' offsets, its length and its ETag.
pub struct Rendered {
    parts: Box<dyn Parts>,
    /// Where each part starts.
    starts: Vec<u64>,
    len: u64,
    etag: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("parts", &self.starts.len())
            .field("len", &self.len)
            .finish()
    }
}

impl Rendered {
    /// Renders every part once, keeping only their offsets and the digest.
    pub fn new(parts: Box<dyn Parts>) -> Rendered {
        let count = parts.count();
        let mut starts = Vec::with_capacity(count);
        let (mut hasher, mut len, mut buf) = (Sha256::new(), 0u64, String::new());
        for index in 0..count {
            buf.clear();
            parts.render(index, &mut buf);
            starts.push(len);
            len += buf.len() as u64;
            hasher.update(buf.as_bytes());
        }
        let etag = format!("\"{}\"", format::hex(&hasher.finalize()[..12]));
        Rendered {
            parts,
            starts,
            len,
            etag,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The strong ETag: a digest of the bytes.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Bytes `range` (clamped to the length), rendered from the parts that hold them.
    pub fn bytes(&self, range: Range<u64>) -> Bytes {
        let end = range.end.min(self.len);
        if range.start >= end {
            return Bytes::new();
        }
        let first = self.starts.partition_point(|&start| start <= range.start) - 1;
        let mut out = String::new();
        let mut index = first;
        while index < self.starts.len() && self.starts[index] < end {
            self.parts.render(index, &mut out);
            index += 1;
        }
        let from = (range.start - self.starts[first]) as usize;
        let to = (end - self.starts[first]) as usize;
        Bytes::from(out).slice(from..to.min(from + (end - range.start) as usize))
    }
}

/// The documents being sent, by ETag: a request that renders the same bytes as one still being
/// sent shares it, so many downloads of one unchanged listing hold one copy of its entries.
#[derive(Debug, Default)]
pub struct Live {
    by_etag: Mutex<HashMap<String, Weak<Rendered>>>,
}

/// Past this many tags, the ones no longer sent are forgotten.
const LIVE_PRUNE_AT: usize = 256;

impl Live {
    /// `doc`, or the live document with the same bytes.
    pub fn share(&self, doc: Rendered) -> Arc<Rendered> {
        let mut live = self.by_etag.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(same) = live.get(doc.etag()).and_then(Weak::upgrade) {
            return same;
        }
        if live.len() >= LIVE_PRUNE_AT {
            live.retain(|_, weak| weak.strong_count() > 0);
        }
        let doc = Arc::new(doc);
        live.insert(doc.etag().to_string(), Arc::downgrade(&doc));
        doc
    }
}

impl Document for Rendered {
    fn read_at(&self, offset: u64, max: usize) -> Bytes {
        self.bytes(offset..offset.saturating_add(max as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Words(Vec<&'static str>);

    impl Parts for Words {
        fn count(&self) -> usize {
            self.0.len()
        }
        fn render(&self, index: usize, out: &mut String) {
            out.push_str(self.0[index]);
        }
    }

    #[test]
    fn any_range_is_the_whole_documents_bytes() {
        let words = vec!["<head>", "", "row one,", "row two,", "r3", "</tail>"];
        let whole: String = words.concat();
        let doc = Rendered::new(Box::new(Words(words)));
        assert_eq!(doc.len(), whole.len() as u64);
        let sum = Sha256::digest(whole.as_bytes());
        assert_eq!(doc.etag(), format!("\"{}\"", format::hex(&sum[..12])));
        for start in 0..=whole.len() {
            for end in start..=whole.len() + 2 {
                let got = doc.bytes(start as u64..end as u64);
                assert_eq!(&got[..], &whole.as_bytes()[start..end.min(whole.len())]);
            }
        }
        let (five, three) = (5u64, 3u64);
        assert!(doc.bytes(five..three).is_empty());
    }

    #[test]
    fn the_same_bytes_are_shared_while_one_is_live() {
        let live = Live::default();
        let a = live.share(Rendered::new(Box::new(Words(vec!["a", "b"]))));
        let b = live.share(Rendered::new(Box::new(Words(vec!["ab"]))));
        assert!(Arc::ptr_eq(&a, &b), "same bytes, same tag");
        let c = live.share(Rendered::new(Box::new(Words(vec!["ac"]))));
        assert!(!Arc::ptr_eq(&a, &c));
        drop((a, b));
        let d = live.share(Rendered::new(Box::new(Words(vec!["ab"]))));
        assert_eq!(Arc::strong_count(&d), 1, "a dropped one is not kept alive");
    }
}
