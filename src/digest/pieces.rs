//! Pure: a file's pieces — the SHA-256 and the SHA-1 of each piece, computed in the hasher's
//! one read with the whole-file SHA-256 and CRC-32 — so a client (aria2c, wget2 through a
//! Metalink; a BitTorrent client through the file's torrent, whose v1 pieces are SHA-1) can
//! check every piece as it arrives and fetch again only a bad one.
//!
//! The piece length is a function of the size alone, so every replica makes the same pieces:
//! 1 MiB, doubled while the file would have more than [`MAX_PIECES`] pieces (a 4 GiB file has
//! 4,096 pieces of 1 MiB; a 40 GiB one 2,560 of 16 MiB). A file has at least one piece (an
//! empty file: one piece of nothing, whose hash is the SHA-256 of nothing).

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// The smallest piece length.
pub const MIN_PIECE: u64 = 1 << 20;
/// Pieces per file, at most (until the length would pass 2^62).
pub const MAX_PIECES: u64 = 4096;

/// The piece length of a file of `size` bytes.
pub fn piece_length(size: u64) -> u64 {
    let mut length = MIN_PIECE;
    while size.div_ceil(length) > MAX_PIECES && length < (1 << 62) {
        length *= 2;
    }
    length
}

/// How many pieces a file of `size` bytes has (at least one).
pub fn piece_count(size: u64) -> u64 {
    size.div_ceil(piece_length(size)).max(1)
}

/// The byte range of piece `index` of a file of `size` bytes.
pub fn piece_range(size: u64, index: u64) -> std::ops::Range<u64> {
    let length = piece_length(size);
    let start = (index * length).min(size);
    start..(start + length).min(size)
}

/// Each piece's hashes: SHA-256 (Metalink) and SHA-1 (BitTorrent v1), in piece order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceHashes {
    pub sha256: Vec<[u8; 32]>,
    pub sha1: Vec<[u8; 20]>,
}

/// Hashes a stream of bytes piece by piece (fed in any slicing).
#[derive(Debug, Clone)]
pub struct PieceHasher {
    length: u64,
    filled: u64,
    current: Sha256,
    current_sha1: Sha1,
    done: PieceHashes,
}

impl PieceHasher {
    /// For a file of `size` bytes.
    pub fn new(size: u64) -> PieceHasher {
        let count = piece_count(size) as usize;
        PieceHasher {
            length: piece_length(size),
            filled: 0,
            current: Sha256::new(),
            current_sha1: Sha1::new(),
            done: PieceHashes {
                sha256: Vec::with_capacity(count),
                sha1: Vec::with_capacity(count),
            },
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (self.length - self.filled) as usize;
            let take = room.min(bytes.len());
            self.current.update(&bytes[..take]);
            self.current_sha1.update(&bytes[..take]);
            self.filled += take as u64;
            bytes = &bytes[take..];
            if self.filled == self.length {
                self.close_piece();
            }
        }
    }

    fn close_piece(&mut self) {
        let full = std::mem::take(&mut self.current);
        self.done.sha256.push(full.finalize().into());
        let full = std::mem::take(&mut self.current_sha1);
        self.done.sha1.push(full.finalize().into());
        self.filled = 0;
    }

    /// The pieces' hashes (the last piece may be short; an empty stream is one empty piece).
    pub fn finish(mut self) -> PieceHashes {
        if self.filled > 0 || self.done.sha256.is_empty() {
            self.close_piece();
        }
        self.done
    }
}

/// SHA-1 pieces of a stream of a given piece length (BitTorrent v1): a folder's torrent hashes
/// its files end to end, so a piece may span files and no file's own pieces give it. An empty
/// stream has no piece (BEP 3; what mktorrent makes).
#[derive(Debug, Clone)]
pub struct Sha1Pieces {
    length: u64,
    filled: u64,
    current: Sha1,
    done: Vec<[u8; 20]>,
}

impl Sha1Pieces {
    pub fn new(length: u64) -> Sha1Pieces {
        Sha1Pieces {
            length: length.max(1),
            filled: 0,
            current: Sha1::new(),
            done: Vec::new(),
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = ((self.length - self.filled) as usize).min(bytes.len());
            self.current.update(&bytes[..take]);
            self.filled += take as u64;
            bytes = &bytes[take..];
            if self.filled == self.length {
                self.done
                    .push(std::mem::take(&mut self.current).finalize().into());
                self.filled = 0;
            }
        }
    }

    /// The pieces (the last may be short).
    pub fn finish(mut self) -> Vec<[u8; 20]> {
        if self.filled > 0 {
            self.done.push(self.current.finalize().into());
        }
        self.done
    }
}

/// SHA-1 pieces as stored (a folder's): the hashes, then the SHA-256 of them.
pub fn encode_sha1(pieces: &[[u8; 20]]) -> Vec<u8> {
    let mut out = pieces.concat();
    let check: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&check);
    out
}

/// Stored SHA-1 pieces back, if `count` and whole.
pub fn decode_sha1(bytes: &[u8], count: u64) -> Option<Vec<[u8; 20]>> {
    if bytes.len() as u64 != count * 20 + 32 {
        return None;
    }
    let (body, check) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != check {
        return None;
    }
    body.chunks_exact(20).map(|c| c.try_into().ok()).collect()
}

/// Bytes one stored piece takes: its SHA-256, then its SHA-1.
const STORED_PIECE: usize = 32 + 20;

/// The pieces as stored: per piece its SHA-256 then its SHA-1, and last the SHA-256 of all
/// that (so a file damaged on disk is noticed, not served as other bytes' pieces).
pub fn encode(pieces: &PieceHashes) -> Vec<u8> {
    let mut out = Vec::with_capacity(pieces.sha256.len() * STORED_PIECE + 32);
    for (sha256, sha1) in pieces.sha256.iter().zip(&pieces.sha1) {
        out.extend_from_slice(sha256);
        out.extend_from_slice(sha1);
    }
    let check: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&check);
    out
}

/// Stored pieces back, if they are the right count for `size` and their check holds (a torn,
/// damaged, stale or older-format file is not: the file is then hashed again).
pub fn decode(bytes: &[u8], size: u64) -> Option<PieceHashes> {
    if bytes.len() as u64 != piece_count(size) * STORED_PIECE as u64 + 32 {
        return None;
    }
    let (body, check) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != check {
        return None;
    }
    let mut pieces = PieceHashes::default();
    for piece in body.chunks_exact(STORED_PIECE) {
        pieces.sha256.push(piece[..32].try_into().ok()?);
        pieces.sha1.push(piece[32..].try_into().ok()?);
    }
    Some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_length_is_one_mib_doubled_while_there_would_be_more_than_4096_pieces() {
        assert_eq!(piece_length(0), 1 << 20);
        assert_eq!(piece_length(4 << 30), 1 << 20);
        assert_eq!(piece_length((4 << 30) + 1), 2 << 20);
        assert_eq!(piece_length(40 << 30), 16 << 20);
        assert_eq!(piece_count(4 << 30), 4096);
        assert_eq!(piece_count(0), 1);
        assert_eq!(piece_count(1), 1);
        assert!(piece_count(u64::MAX) <= MAX_PIECES);
        assert_eq!(piece_range(3 << 20, 2), (2 << 20)..(3 << 20));
        assert_eq!(piece_range((2 << 20) + 5, 2), (2 << 20)..((2 << 20) + 5));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn each_piece_hash_is_the_sha256_of_its_byte_range_however_the_bytes_come(
            size in 0usize..(3 << 20) + 7,
            cuts in proptest::collection::vec(1usize..700_000, 1..8),
        ) {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let mut hasher = PieceHasher::new(size as u64);
            let mut at = 0;
            let mut cut = cuts.iter().cycle();
            while at < data.len() {
                let n = (*cut.next().unwrap()).min(data.len() - at);
                hasher.update(&data[at..at + n]);
                at += n;
            }
            let pieces = hasher.finish();
            prop_assert_eq!(pieces.sha256.len() as u64, piece_count(size as u64));
            prop_assert_eq!(pieces.sha1.len() as u64, piece_count(size as u64));
            for i in 0..pieces.sha256.len() {
                let range = piece_range(size as u64, i as u64);
                let bytes = &data[range.start as usize..range.end as usize];
                let want: [u8; 32] = Sha256::digest(bytes).into();
                prop_assert_eq!(pieces.sha256[i], want);
                let want: [u8; 20] = Sha1::digest(bytes).into();
                prop_assert_eq!(pieces.sha1[i], want);
            }
            let mut stored = encode(&pieces);
            prop_assert_eq!(decode(&stored, size as u64), Some(pieces));
            stored[0] ^= 1;
            prop_assert_eq!(decode(&stored, size as u64), None, "a damaged file is not used");
            prop_assert_eq!(decode(&[0; 31], size as u64), None);
        }

        #[test]
        fn sha1_pieces_of_a_stream_are_the_sha1s_of_its_slices(
            size in 0usize..70_000,
            length in 1u64..20_000,
            cuts in proptest::collection::vec(1usize..9_000, 1..6),
        ) {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            let mut hasher = Sha1Pieces::new(length);
            let (mut at, mut cut) = (0, cuts.iter().cycle());
            while at < data.len() {
                let n = (*cut.next().unwrap()).min(data.len() - at);
                hasher.update(&data[at..at + n]);
                at += n;
            }
            let pieces = hasher.finish();
            let want: Vec<[u8; 20]> = data
                .chunks(length as usize)
                .map(|c| Sha1::digest(c).into())
                .collect();
            prop_assert_eq!(&pieces, &want);
            let mut stored = encode_sha1(&pieces);
            prop_assert_eq!(decode_sha1(&stored, pieces.len() as u64), Some(pieces.clone()));
            prop_assert_eq!(decode_sha1(&stored, pieces.len() as u64 + 1), None);
            stored[0] ^= 1;
            prop_assert_eq!(decode_sha1(&stored, pieces.len() as u64), None);
        }
    }
}
