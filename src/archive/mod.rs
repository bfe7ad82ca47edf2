//! Pure: a folder as one uncompressed archive whose bytes are a function of its members' names,
//! sizes, modes, times (and, for zip, CRC-32s). The length is known before the first byte, and any
//! byte range can be produced directly: framing from arithmetic, data from positioned reads of the
//! right member. It is the multipart machinery grown up: a [`Layout`] is a list of pieces, framing
//! bytes or a whole member's data, and [`Layout::first_segment`] turns the start of a byte range
//! of the archive into a body segment ([`Segment::Literal`] or [`Segment::Member`]) by binary
//! search (the body takes them one at a time; [`Layout::segments`] gives them all, for tests).
//!
//! [`tar`] writes POSIX pax/ustar, [`zip`] stored zip with ZIP64 where needed; [`names`] maps
//! the names that would mean something else to an extractor.

pub mod names;
pub mod tar;
pub mod zip;

use std::ops::Range;

use bytes::Bytes;

use crate::http::segment::Segment;

/// The two archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Tar,
    Zip,
}

impl Format {
    /// The file name extension, with its dot.
    pub fn extension(self) -> &'static [u8] {
        match self {
            Format::Tar => b".tar",
            Format::Zip => b".zip",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Tar => "application/x-tar",
            Format::Zip => "application/zip",
        }
    }

    /// Which format a file name asks for, and its stem.
    pub fn of_name(name: &[u8]) -> Option<(Format, &[u8])> {
        [Format::Tar, Format::Zip].into_iter().find_map(|format| {
            let stem = name.strip_suffix(format.extension())?;
            (!stem.is_empty()).then_some((format, stem))
        })
    }
}

/// One member as the archive describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its path inside the archive, `/`-separated, without a trailing slash (a directory's name
    /// gets one where the format wants it).
    pub path: Vec<u8>,
    /// `Some(size)` for a regular file, `None` for a directory.
    pub size: Option<u64>,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time: seconds since the epoch and nanoseconds.
    pub mtime: (i64, u32),
    /// CRC-32 of the data (zip only; 0 for directories).
    pub crc32: u32,
}

/// A piece of an archive: framing we wrote, or the whole data of member `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Bytes),
    Member { index: usize, len: u64 },
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Member { len, .. } => *len,
        }
    }
}

/// An archive's pieces with their start offsets, so any range is found by binary search.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pieces: Vec<Piece>,
    starts: Vec<u64>,
    len: u64,
}

impl Layout {
    /// Builds a layout from pieces in order (empty pieces are dropped).
    pub fn new(pieces: Vec<Piece>) -> Layout {
        let mut layout = Layout::default();
        for piece in pieces {
            let len = piece.len();
            if len == 0 {
                continue;
            }
            layout.starts.push(layout.len);
            layout.len += len;
            layout.pieces.push(piece);
        }
        layout
    }

    /// The archive's exact length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The body segments that produce bytes `range` of the archive (clamped to its length).
    pub fn segments(&self, range: Range<u64>) -> Vec<Segment> {
        let end = range.end.min(self.len);
        let mut offset = range.start;
        let mut out = Vec::new();
        while let Some(segment) = self.first_segment(offset..end) {
            offset += segment.len();
            out.push(segment);
        }
        out
    }

    /// The first body segment of bytes `range` of the archive: framing bytes or a range of one
    /// member's data, at most one piece long (`None` for an empty range, or one past the end).
    /// A body takes one at a time, so a response holds a position in the shared layout, not a
    /// copy of its piece list.
    pub fn first_segment(&self, range: Range<u64>) -> Option<Segment> {
        let end = range.end.min(self.len);
        let offset = range.start;
        if offset >= end {
            return None;
        }
        // The piece holding `offset`: the last one starting at or before it.
        let i = self.starts.partition_point(|&start| start <= offset) - 1;
        let (start, piece) = (self.starts[i], &self.pieces[i]);
        let from = offset - start;
        let to = (end - start).min(piece.len());
        Some(match piece {
            Piece::Bytes(bytes) => Segment::Literal(bytes.slice(from as usize..to as usize)),
            Piece::Member { index, .. } => Segment::Member {
                index: *index,
                range: from..to,
            },
        })
    }
}

/// Zero bytes for padding (tar blocks), sliced without allocating.
pub(crate) static ZEROS: [u8; 1024] = [0; 1024];

pub(crate) fn zeros(len: usize) -> Bytes {
    Bytes::from_static(&ZEROS[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a layout's bytes are, with member `i`'s data being `i` repeated.
    fn materialize(segments: &[Segment]) -> Vec<u8> {
        let mut out = Vec::new();
        for segment in segments {
            match segment {
                Segment::Literal(bytes) => out.extend_from_slice(bytes),
                Segment::Member { index, range } => out.extend(std::iter::repeat_n(
                    *index as u8,
                    (range.end - range.start) as usize,
                )),
                Segment::Entity(_) => panic!("an archive has no primary file"),
            }
        }
        out
    }

    fn sample() -> Layout {
        Layout::new(vec![
            Piece::Bytes(Bytes::from_static(b"head")),
            Piece::Member { index: 1, len: 5 },
            Piece::Bytes(Bytes::new()),
            Piece::Member { index: 2, len: 0 },
            Piece::Bytes(Bytes::from_static(b"mid")),
            Piece::Member { index: 3, len: 2 },
            Piece::Bytes(Bytes::from_static(b"tail")),
        ])
    }

    #[test]
    fn names_ask_for_a_format() {
        assert_eq!(
            Format::of_name(b"season1.tar"),
            Some((Format::Tar, &b"season1"[..]))
        );
        assert_eq!(
            Format::of_name(b"a.b.zip"),
            Some((Format::Zip, &b"a.b"[..]))
        );
        assert_eq!(Format::of_name(b".tar"), None);
        assert_eq!(Format::of_name(b"x.tgz"), None);
    }

    #[test]
    fn segments_of_any_range_are_the_same_bytes_as_the_whole() {
        let layout = sample();
        assert_eq!(layout.len(), 4 + 5 + 3 + 2 + 4);
        let whole = materialize(&layout.segments(0..layout.len()));
        assert_eq!(whole, b"head\x01\x01\x01\x01\x01mid\x03\x03tail");
        for start in 0..layout.len() {
            for end in start..=layout.len() + 2 {
                let got = materialize(&layout.segments(start..end));
                let end = end.min(layout.len());
                assert_eq!(got, whole[start as usize..end as usize], "{start}..{end}");
            }
        }
    }

    proptest! {
        #[test]
        fn random_layouts_slice_exactly(lens in proptest::collection::vec((0u64..50, any::<bool>()), 0..20),
                                        a in 0u64..1200, b in 0u64..1200) {
            let pieces: Vec<Piece> = lens.iter().enumerate().map(|(i, &(len, member))| {
                if member {
                    Piece::Member { index: i % 250, len }
                } else {
                    Piece::Bytes(Bytes::from(vec![b'a' + (i % 26) as u8; len as usize]))
                }
            }).collect();
            let layout = Layout::new(pieces);
            let whole = materialize(&layout.segments(0..layout.len()));
            prop_assert_eq!(whole.len() as u64, layout.len());
            let (start, end) = (a.min(b), a.max(b));
            let got = materialize(&layout.segments(start..end));
            let (s, e) = (start.min(layout.len()) as usize, end.min(layout.len()) as usize);
            prop_assert_eq!(&got[..], &whole[s.min(e)..e]);
        }
    }
}
