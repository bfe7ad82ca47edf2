//! Pure: a file's pieces — the SHA-256 of each piece, computed in the hasher's one read with
//! the whole-file SHA-256 and CRC-32 — so a client (aria2c, wget2 through a Metalink) can check
//! every piece as it arrives and fetch again only a bad one.
//!
//! The piece length is a function of the size alone, so every replica makes the same pieces:
//! 1 MiB, doubled while the file would have more than [`MAX_PIECES`] pieces (a 4 GiB file has
//! 4,096 pieces of 1 MiB; a 40 GiB one 2,560 of 16 MiB). A file has at least one piece (an
//! empty file: one piece of nothing, whose hash is the SHA-256 of nothing).

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

/// Hashes a stream of bytes piece by piece (fed in any slicing).
#[derive(Debug, Clone)]
pub struct PieceHasher {
    length: u64,
    filled: u64,
    current: Sha256,
    done: Vec<[u8; 32]>,
}

impl PieceHasher {
    /// For a file of `size` bytes.
    pub fn new(size: u64) -> PieceHasher {
        PieceHasher {
            length: piece_length(size),
            filled: 0,
            current: Sha256::new(),
            done: Vec::with_capacity(piece_count(size) as usize),
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (self.length - self.filled) as usize;
            let take = room.min(bytes.len());
            self.current.update(&bytes[..take]);
            self.filled += take as u64;
            bytes = &bytes[take..];
            if self.filled == self.length {
                let full = std::mem::take(&mut self.current);
                self.done.push(full.finalize().into());
                self.filled = 0;
            }
        }
    }

    /// The pieces' hashes (the last piece may be short; an empty stream is one empty piece).
    pub fn finish(mut self) -> Vec<[u8; 32]> {
        if self.filled > 0 || self.done.is_empty() {
            self.done.push(self.current.finalize().into());
        }
        self.done
    }
}

/// The pieces as stored: their hashes one after another.
pub fn encode(pieces: &[[u8; 32]]) -> Vec<u8> {
    pieces.concat()
}

/// Stored pieces back, if they are the right count for `size` (a torn or stale file is not).
pub fn decode(bytes: &[u8], size: u64) -> Option<Vec<[u8; 32]>> {
    if bytes.len() as u64 != piece_count(size) * 32 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect(),
    )
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
            prop_assert_eq!(pieces.len() as u64, piece_count(size as u64));
            for (i, piece) in pieces.iter().enumerate() {
                let range = piece_range(size as u64, i as u64);
                let want: [u8; 32] = Sha256::digest(&data[range.start as usize..range.end as usize]).into();
                prop_assert_eq!(piece, &want);
            }
            prop_assert_eq!(decode(&encode(&pieces), size as u64), Some(pieces));
            prop_assert_eq!(decode(&[0; 31], size as u64), None);
        }
    }
}
