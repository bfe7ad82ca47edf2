//! Rates and token buckets for `--limit-rate`, `--limit-rate-per-client` and
//! `--limit-rate-total`. Pure: a bucket takes a clock reading and a wish and says how many
//! bytes may go now, or how long to wait. A bucket holds at most one second's worth, so no
//! burst exceeds one chunk plus one second of the rate. A bucket shared by several downloads
//! (a client's, the server's) is a [`FairBucket`]: each consumer's bytes taken are its virtual
//! time, and a consumer more than one grant ahead of the slowest consumer that is still asking
//! waits for it — so N equally fast downloads get about R/N each — while a consumer that has
//! not asked lately (it reads slower than its share: its socket, not the bucket, holds it back)
//! does not hold the others back, and rejoins at their pace without credit (max-min fair,
//! work-conserving).

use std::time::{Duration, Instant};

/// The most one grant hands out, as a fraction of a second of the rate: small grants
/// interleave the downloads that share a bucket.
const GRANT_FRACTION: f64 = 1.0 / 20.0;
/// The smallest grant worth waking for (below it, wait for more).
const MIN_GRANT: f64 = 1024.0;

/// A size or rate as wget and nginx write them: digits with an optional fraction and a suffix
/// `k`, `m`, `g` (any case; powers of 1024). `500k` = 512000.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit '{unit}' (use k, M or G)")),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("'{text}' is not a size (e.g. 500k, 2M, 1.5G)"))?;
    let bytes = value * scale;
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("'{text}' is too large"));
    }
    Ok(bytes.round() as u64)
}

/// A rate: a size per second, more than zero.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("a rate must be more than 0".to_string()),
        rate => Ok(rate),
    }
}

/// What a bucket says to a wish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grant {
    /// Send this many bytes now.
    Now(usize),
    /// Nothing now; ask again after this long.
    Wait(Duration),
}

/// A token bucket of `rate` bytes per second holding at most one second's worth.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A bucket that starts empty (no burst at the start: the first second is at the rate).
    pub fn new(rate: u64, now: Instant) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: 0.0,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
    }

    /// How much of `want` bytes may go now (at most a small grant), without taking it.
    pub fn offer(&mut self, now: Instant, want: usize) -> Grant {
        self.refill(now);
        let cap = (self.rate * GRANT_FRACTION).max(MIN_GRANT.min(self.rate));
        let wish = (want as f64).min(cap);
        let ready = self.tokens.min(wish);
        if ready >= wish || ready >= MIN_GRANT.min(self.rate) {
            return Grant::Now((ready.floor() as usize).max(1).min(want));
        }
        let missing = wish.min(MIN_GRANT.min(self.rate)) - self.tokens;
        Grant::Wait(Duration::from_secs_f64((missing / self.rate).max(0.001)))
    }

    /// Takes `n` bytes (after an offer, from every bucket that applies).
    pub fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

/// A consumer that has not asked for this long is not backlogged: it does not hold others back.
const IDLE: Duration = Duration::from_millis(100);
/// How long a consumer that is ahead waits before asking again.
const AHEAD_WAIT: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
struct Consumer {
    taken: f64,
    asked: Instant,
}

/// A bucket shared fairly between consumers (identified by the caller).
#[derive(Debug, Clone)]
pub struct FairBucket {
    bucket: Bucket,
    consumers: std::collections::HashMap<u64, Consumer>,
}

impl FairBucket {
    pub fn new(rate: u64, now: Instant) -> FairBucket {
        FairBucket {
            bucket: Bucket::new(rate, now),
            consumers: Default::default(),
        }
    }

    /// What `id` may send now of `want`.
    pub fn offer(&mut self, id: u64, now: Instant, want: usize) -> Grant {
        let active_min = self
            .consumers
            .iter()
            .filter(|(other, c)| **other != id && now.saturating_duration_since(c.asked) <= IDLE)
            .map(|(_, c)| c.taken)
            .fold(f64::INFINITY, f64::min);
        let consumer = self.consumers.entry(id).or_insert(Consumer {
            taken: if active_min.is_finite() {
                active_min
            } else {
                0.0
            },
            asked: now,
        });
        // Back from a pause (or new): no credit for the time away.
        if active_min.is_finite() && consumer.taken < active_min {
            consumer.taken = active_min;
        }
        consumer.asked = now;
        let slack = (self.bucket.rate * GRANT_FRACTION).max(MIN_GRANT);
        if active_min.is_finite() && consumer.taken > active_min + slack {
            return Grant::Wait(AHEAD_WAIT);
        }
        self.bucket.offer(now, want)
    }

    pub fn take(&mut self, id: u64, n: usize) {
        self.bucket.take(n);
        if let Some(consumer) = self.consumers.get_mut(&id) {
            consumer.taken += n as f64;
        }
    }

    /// `id` is done (its response ended).
    pub fn leave(&mut self, id: u64) {
        self.consumers.remove(&id);
    }
}

/// The answer of several buckets together: the smallest grant, or the longest wait.
pub fn combine(grants: &[Grant]) -> Grant {
    let mut now = usize::MAX;
    let mut wait = Duration::ZERO;
    for grant in grants {
        match *grant {
            Grant::Now(n) => now = now.min(n),
            Grant::Wait(d) => wait = wait.max(d),
        }
    }
    if wait > Duration::ZERO {
        Grant::Wait(wait)
    } else {
        Grant::Now(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_read_like_wget_and_nginx() {
        assert_eq!(parse_size("500k"), Ok(512_000));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        for bad in ["", "k", "1x", "-1k", "nan", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("0").is_err());
    }

    /// Sends as fast as the bucket allows for `secs` simulated seconds; returns bytes sent.
    fn drain(rate: u64, secs: f64, want: usize) -> u64 {
        let start = Instant::now();
        let mut bucket = Bucket::new(rate, start);
        let mut now = start;
        let end = start + Duration::from_secs_f64(secs);
        let mut sent = 0u64;
        while now < end {
            match bucket.offer(now, want) {
                Grant::Now(n) => {
                    bucket.take(n);
                    sent += n as u64;
                }
                Grant::Wait(d) => now += d,
            }
        }
        sent
    }

    #[test]
    fn a_bucket_sends_at_its_rate() {
        for rate in [10_000u64, 500_000, 2 << 20, 100 << 20] {
            let sent = drain(rate, 10.0, 256 * 1024) as f64;
            let want = rate as f64 * 10.0;
            assert!(
                (sent - want).abs() / want < 0.02,
                "{rate}: {sent} vs {want}"
            );
        }
    }

    #[test]
    fn an_idle_bucket_bursts_at_most_one_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1 << 20, start);
        let later = start + Duration::from_secs(60);
        let mut burst = 0;
        while let Grant::Now(n) = bucket.offer(later, 256 * 1024) {
            bucket.take(n);
            burst += n;
        }
        assert!(burst <= 1 << 20, "{burst}");
    }

    #[test]
    fn combined_buckets_take_the_tightest() {
        assert_eq!(combine(&[Grant::Now(10), Grant::Now(4)]), Grant::Now(4));
        let wait = Duration::from_millis(5);
        assert_eq!(
            combine(&[Grant::Now(10), Grant::Wait(wait)]),
            Grant::Wait(wait)
        );
    }

    proptest! {
        #[test]
        fn grants_never_exceed_the_wish_or_the_rate(rate in 1u64..(1 << 30), want in 1usize..(1 << 20), ms in 0u64..5000) {
            let start = Instant::now();
            let mut bucket = Bucket::new(rate, start);
            match bucket.offer(start + Duration::from_millis(ms), want) {
                Grant::Now(n) => {
                    prop_assert!(n >= 1 && n <= want);
                    prop_assert!(n as f64 <= (rate as f64).max(1.0));
                }
                Grant::Wait(d) => prop_assert!(d > Duration::ZERO && d <= Duration::from_secs(2)),
            }
        }
    }
}
