//! What a response body is made of: a list of [`Segment`]s, each framing bytes we wrote or a
//! range of the entity (or of an archive member), so the exact length is known before the first
//! byte is sent. Multipart framing and archive layouts produce them; `body` streams them.

use std::ops::Range;

use bytes::Bytes;

/// A piece of a response body: framing bytes we wrote, a range of the entity (a file, an
/// archive or a generated document), or (in an archive) a range of member `index`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(Bytes),
    Entity(Range<u64>),
    Member { index: usize, range: Range<u64> },
}

impl Segment {
    /// The number of bytes this segment contributes to the body.
    pub fn len(&self) -> u64 {
        match self {
            Segment::Literal(bytes) => bytes.len() as u64,
            Segment::Entity(range) | Segment::Member { range, .. } => range.end - range.start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The exact body length of a list of segments.
pub fn body_length(segments: &[Segment]) -> u64 {
    segments.iter().map(Segment::len).sum()
}
