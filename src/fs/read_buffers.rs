//! Buffers for file reads, reused instead of allocated and zeroed for every read.
//!
//! A positioned read needs an initialized `&mut [u8]` (`preadv2` with `RWF_NOWAIT` takes
//! initialized slices, and this crate has no `unsafe` to read into spare capacity), so a fresh
//! buffer must be zeroed before the kernel overwrites it: for a 1 GiB download that was a 256 KiB
//! `memset` and a `malloc`/`free` per read, 3.3% of the server's CPU (`perf record`, 4 parallel
//! 1 GiB curl downloads). Here a buffer is zeroed once, when first made; the bytes read are
//! handed to hyper as a [`Bytes`] that owns the buffer, and when hyper drops the last of them
//! (sent) the buffer goes back to a small pool for the next read, still initialized.
//!
//! Exactness: a reused buffer holds an earlier read's bytes, but only the first `n` bytes of a
//! read that returned `n` are ever exposed ([`ReadBuffer::into_bytes`]), and those are what the
//! kernel just wrote. Memory: buffers are kept by size class (powers of two, 4 KiB to 1 MiB), at
//! most [`POOL_BYTES`] of idle ones in all; a read larger than the largest class is allocated.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

/// The smallest class: 4 KiB.
const MIN_SHIFT: u32 = 12;
/// 4 KiB, 8 KiB, … 1 MiB.
const CLASSES: usize = 9;
/// Idle buffers kept, all classes together.
pub const POOL_BYTES: usize = 2 << 20;

struct Pool {
    free: [Vec<Vec<u8>>; CLASSES],
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: [const { Vec::new() }; CLASSES],
    bytes: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The smallest class that holds `len` bytes, if any does.
fn class_of(len: usize) -> Option<usize> {
    let size = len.max(1).checked_next_power_of_two()?.max(1 << MIN_SHIFT);
    let class = (size.trailing_zeros() - MIN_SHIFT) as usize;
    (class < CLASSES).then_some(class)
}

fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_SHIFT)
}

/// Takes a buffer of class `class` from the pool, or makes one.
fn take(class: usize) -> Vec<u8> {
    let reused = {
        let mut pool = pool();
        let buffer = pool.free[class].pop();
        if buffer.is_some() {
            pool.bytes -= class_size(class);
        }
        buffer
    };
    reused.unwrap_or_else(|| vec![0; class_size(class)])
}

/// Puts a buffer back, unless it is not of a class or the pool is full (then it is freed).
fn give_back(buffer: Vec<u8>) {
    let Some(class) = class_of(buffer.len()).filter(|&c| class_size(c) == buffer.len()) else {
        return;
    };
    let mut pool = pool();
    if pool.bytes + buffer.len() <= POOL_BYTES {
        pool.bytes += buffer.len();
        pool.free[class].push(buffer);
    }
}

/// Idle bytes in the pool (for tests).
pub fn pooled_bytes() -> usize {
    pool().bytes
}

/// A buffer for one read of up to `want` bytes.
#[derive(Debug)]
pub struct ReadBuffer {
    data: Vec<u8>,
    want: usize,
}

impl ReadBuffer {
    pub fn new(want: usize) -> ReadBuffer {
        let data = match class_of(want) {
            Some(class) => take(class),
            None => vec![0; want],
        };
        ReadBuffer { data, want }
    }

    /// Where the read goes: exactly `want` bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[..self.want]
    }

    /// The first `n` bytes (the read's count; at most `want`), owning the buffer, which returns to
    /// the pool when the last clone of them is dropped.
    pub fn into_bytes(mut self, n: usize) -> Bytes {
        let len = n.min(self.want);
        Bytes::from_owner(Filled {
            data: std::mem::take(&mut self.data),
            len,
        })
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

/// The bytes of one read, in a pooled buffer.
struct Filled {
    data: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Filled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_the_smallest_power_of_two_that_fits() {
        assert_eq!(class_of(0), Some(0));
        assert_eq!(class_of(1), Some(0));
        assert_eq!(class_of(4096), Some(0));
        assert_eq!(class_of(4097), Some(1));
        assert_eq!(class_of(256 << 10), Some(6));
        assert_eq!(class_of(1 << 20), Some(8));
        assert_eq!(class_of((1 << 20) + 1), None);
        assert_eq!(class_of(usize::MAX), None);
        for class in 0..CLASSES {
            assert_eq!(class_of(class_size(class)), Some(class));
        }
    }

    // One test touches the global pool, so that parallel tests cannot disturb its counts.
    #[test]
    fn only_the_bytes_read_are_seen_and_buffers_come_back() {
        // A buffer filled with a marker and given back…
        let mut first = ReadBuffer::new(5000);
        first.as_mut_slice().fill(0xee);
        assert_eq!(first.as_mut_slice().len(), 5000);
        let bytes = first.into_bytes(5000);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(clone.len(), 5000, "a clone keeps the buffer alive");
        drop(clone);
        assert!(pooled_bytes() >= 8192);
        // …is reused; a short read exposes only what it read, never the earlier bytes.
        let mut second = ReadBuffer::new(6000);
        second.as_mut_slice()[..3].copy_from_slice(b"abc");
        let bytes = second.into_bytes(3);
        assert_eq!(&bytes[..], b"abc");
        assert_eq!(bytes.slice(1..).as_ref(), b"bc");
        drop(bytes);
        // A count above `want` is capped; an oversized read is not pooled.
        let capped = ReadBuffer::new(10).into_bytes(99);
        assert_eq!(capped.len(), 10);
        let before = pooled_bytes();
        drop(ReadBuffer::new(3 << 20));
        assert_eq!(pooled_bytes(), before);
        // The pool never holds more than its bound.
        let many: Vec<_> = (0..40).map(|_| ReadBuffer::new(256 << 10)).collect();
        drop(many);
        assert!(pooled_bytes() <= POOL_BYTES);
    }
}
