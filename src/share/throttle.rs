//! The thin I/O around [`super::rate`]: the buckets that apply to one response (its own, its
//! client's, the server's) and the timer a throttled body sleeps on. The body asks
//! [`Throttle::poll_grant`] how much of what it holds it may send now.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use super::rate::{Bucket, FairBucket, Grant, combine};

/// The limits from the command line (bytes per second; `after`: bytes at full speed first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub per_response: Option<u64>,
    pub after: u64,
    pub per_client: Option<u64>,
    pub total: Option<u64>,
}

impl Limits {
    pub fn any(&self) -> bool {
        self.per_response.is_some() || self.per_client.is_some() || self.total.is_some()
    }
}

type Shared = Arc<Mutex<FairBucket>>;

/// Numbers the throttles, so a shared bucket can tell its consumers apart.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The buckets shared between responses: the server's, and one per client address (kept while
/// a response of that client holds it).
#[derive(Debug, Default)]
pub struct Buckets {
    total: Mutex<Option<Shared>>,
    clients: Mutex<HashMap<IpAddr, Weak<Mutex<FairBucket>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Buckets {
    /// The throttle for one response of `client`, or `None` when no limit is set.
    pub fn throttle(&self, limits: &Limits, client: IpAddr) -> Option<Throttle> {
        if !limits.any() {
            return None;
        }
        let now = Instant::now().into_std();
        let total = limits.total.map(|rate| {
            let mut total = lock(&self.total);
            Arc::clone(
                total.get_or_insert_with(|| Arc::new(Mutex::new(FairBucket::new(rate, now)))),
            )
        });
        let client = limits.per_client.map(|rate| {
            let mut clients = lock(&self.clients);
            if clients.len() > 64 {
                clients.retain(|_, weak| weak.strong_count() > 0);
            }
            match clients.get(&client).and_then(Weak::upgrade) {
                Some(bucket) => bucket,
                None => {
                    let bucket = Arc::new(Mutex::new(FairBucket::new(rate, now)));
                    clients.insert(client, Arc::downgrade(&bucket));
                    bucket
                }
            }
        });
        Some(Throttle {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            own: limits.per_response.map(|rate| Bucket::new(rate, now)),
            after: limits.after,
            client,
            total,
            sleep: None,
        })
    }
}

/// The limits on one response body.
pub struct Throttle {
    id: u64,
    own: Option<Bucket>,
    after: u64,
    client: Option<Shared>,
    total: Option<Shared>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Throttle {
    /// How many of `want` bytes may go now, `sent` having gone already; `Pending` (with a
    /// timer set) until some may.
    pub fn poll_grant(&mut self, cx: &mut Context<'_>, want: usize, sent: u64) -> Poll<usize> {
        loop {
            if let Some(sleep) = &mut self.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            let now = Instant::now();
            // The first `after` bytes go at full speed (`--limit-rate-after`, per response) as
            // far as this response's own limit goes; shared limits still apply.
            let free = self.after.saturating_sub(sent);
            let mut grants = Vec::with_capacity(3);
            match &mut self.own {
                Some(own) if free == 0 => grants.push(own.offer(now.into_std(), want)),
                _ if free > 0 => {
                    grants.push(Grant::Now(want.min(free.min(usize::MAX as u64) as usize)))
                }
                _ => {}
            }
            let mut client = self.client.as_ref().map(|b| lock(b));
            let mut total = self.total.as_ref().map(|b| lock(b));
            for bucket in client.iter_mut().chain(total.iter_mut()) {
                grants.push(bucket.offer(self.id, now.into_std(), want));
            }
            match combine(&grants) {
                Grant::Now(n) => {
                    let n = n.min(want);
                    for bucket in client.iter_mut().chain(total.iter_mut()) {
                        bucket.take(self.id, n);
                    }
                    if let (Some(own), 0) = (&mut self.own, free) {
                        own.take(n);
                    }
                    return Poll::Ready(n);
                }
                Grant::Wait(wait) => {
                    drop(client);
                    drop(total);
                    self.sleep = Some(Box::pin(tokio::time::sleep_until(now + wait)));
                }
            }
        }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        for bucket in self.client.iter().chain(self.total.iter()) {
            lock(bucket).leave(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_throttled_body_gets_its_rate_and_the_first_bytes_free() {
        let buckets = Buckets::default();
        let limits = Limits {
            per_response: Some(100_000),
            after: 50_000,
            ..Limits::default()
        };
        let mut throttle = buckets
            .throttle(&limits, "127.0.0.1".parse().unwrap())
            .unwrap();
        let started = Instant::now();
        let mut sent = 0u64;
        while sent < 1_050_000 {
            let n = std::future::poll_fn(|cx| throttle.poll_grant(cx, 256 * 1024, sent)).await;
            sent += n as u64;
        }
        // 50 kB free, then 1 MB at 100 kB/s: about 10 s.
        let took = started.elapsed().as_secs_f64();
        assert!((9.5..10.6).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_shares_one_bucket_across_its_connections() {
        let buckets = Buckets::default();
        let limits = Limits {
            per_client: Some(200_000),
            ..Limits::default()
        };
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let mut throttle = buckets.throttle(&limits, ip).unwrap();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                while sent < 500_000 {
                    sent += std::future::poll_fn(|cx| throttle.poll_grant(cx, 65_536, sent)).await
                        as u64;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // 2 MB at 200 kB/s together: about 10 s (each connection alone would take 2.5 s).
        let took = started.elapsed().as_secs_f64();
        assert!((9.5..10.6).contains(&took), "{took}");
        let other = buckets
            .throttle(&limits, "10.0.0.2".parse().unwrap())
            .unwrap();
        let same = buckets.throttle(&limits, ip).unwrap();
        assert!(!Arc::ptr_eq(
            other.client.as_ref().unwrap(),
            same.client.as_ref().unwrap()
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_total_limit_is_shared_fairly_and_a_slow_reader_leaves_its_share() {
        let buckets = Arc::new(Buckets::default());
        let limits = Limits {
            total: Some(400_000),
            ..Limits::default()
        };
        let started = Instant::now();
        let mut tasks = Vec::new();
        // Three fast downloads and one that reads at most 20 kB/s.
        for i in 0..4u8 {
            let mut throttle = buckets
                .throttle(&limits, IpAddr::from([10, 0, 0, i]))
                .unwrap();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                while started.elapsed() < std::time::Duration::from_secs(10) {
                    let n = std::future::poll_fn(|cx| throttle.poll_grant(cx, 16_384, sent)).await;
                    sent += n as u64;
                    if i == 3 {
                        tokio::time::sleep(std::time::Duration::from_secs_f64(n as f64 / 20_000.0))
                            .await;
                    }
                }
                sent
            }));
        }
        let mut sent = Vec::new();
        for task in tasks {
            sent.push(task.await.unwrap() as f64 / 10.0);
        }
        let (fast, slow) = (&sent[..3], sent[3]);
        assert!(slow < 25_000.0, "the slow reader: {slow}");
        for rate in fast {
            // (400 k - 20 k) / 3 ≈ 127 k each.
            assert!((rate - 126_666.0).abs() / 126_666.0 < 0.15, "{sent:?}");
        }
    }
}
