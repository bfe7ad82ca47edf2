//! HTTP/2 streams under the send-stall rule. Over HTTP/1.1 a client that stops reading blocks
//! the socket write, and `timed_io` times that. Over HTTP/2 it stops granting flow-control
//! window instead: the socket stays writable, hyper parks that stream's task until the window
//! opens, and no socket timer would ever notice. hyper runs each stream as a task on the
//! executor it is given; [`StreamExecutor`] wraps each one so that a stream task not woken
//! for the send timeout is dropped (h2 then resets that stream, the response body's drop logs
//! it as aborted, and its file handle and buffers are freed) while the connection's other
//! streams go on. It also counts the connection's streams in flight, so that `timed_io` does not
//! take a connection whose every stream waits for window for an idle one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Spawns hyper's HTTP/2 stream tasks on the current (worker) runtime, each under the stall
/// timeout; one per connection (it counts that connection's streams).
#[derive(Clone)]
pub struct StreamExecutor {
    send_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
}

impl StreamExecutor {
    pub fn new(send_timeout: Duration) -> StreamExecutor {
        StreamExecutor {
            send_timeout,
            in_flight: Arc::default(),
        }
    }

    /// The connection's streams in flight (what `timed_io` asks before calling it idle).
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.in_flight)
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, stream: F) {
        tokio::spawn(Guarded::new(
            stream,
            self.send_timeout,
            Arc::clone(&self.in_flight),
        ));
    }
}

/// Wakes the guarded task and records that the inner future asked for it.
#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let outer = self
            .outer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(outer) = outer {
            outer.wake();
        }
    }
}

/// A stream task that ends (dropping its inner future) once it has gone `timeout` without its
/// inner future being woken.
pub struct Guarded<F> {
    inner: Pin<Box<F>>,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    flag: Arc<Flag>,
    waker: Waker,
    started: bool,
    in_flight: Arc<AtomicUsize>,
}

impl<F: Future<Output = ()>> Guarded<F> {
    pub fn new(inner: F, timeout: Duration, in_flight: Arc<AtomicUsize>) -> Guarded<F> {
        in_flight.fetch_add(1, Ordering::Relaxed);
        let flag = Arc::new(Flag::default());
        Guarded {
            inner: Box::pin(inner),
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            started: false,
            in_flight,
        }
    }
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let woken = this.flag.woken.swap(false, Ordering::AcqRel);
        if woken || !this.started {
            this.started = true;
            this.deadline.as_mut().reset(Instant::now() + this.timeout);
        }
        {
            let mut outer = this
                .flag
                .outer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        if this.inner.as_mut().poll(&mut inner_cx).is_ready() {
            return Poll::Ready(());
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            if !this.flag.woken.load(Ordering::Acquire) {
                tracing::info!(
                    "an HTTP/2 stream waited {:?} for the client to take more (flow-control window); resetting it",
                    this.timeout
                );
                return Poll::Ready(());
            }
            // Woken while we looked: run again rather than wait.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<F> Drop for Guarded<F> {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_task_never_woken_is_dropped_after_the_timeout() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let guarded = Guarded::new(
            std::future::pending::<()>(),
            Duration::from_secs(60),
            Arc::clone(&in_flight),
        );
        assert_eq!(in_flight.load(Ordering::Relaxed), 1);
        guarded.await;
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert_eq!(in_flight.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_woken_now_and_then_runs_to_its_end() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let slow_but_moving = async {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_secs(50)).await;
            }
        };
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        Guarded::new(
            async move {
                slow_but_moving.await;
                flag.store(true, Ordering::Relaxed);
            },
            Duration::from_secs(60),
            in_flight,
        )
        .await;
        assert!(done.load(Ordering::Relaxed), "not cut");
        assert_eq!(started.elapsed(), Duration::from_secs(250));
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_stalled_after_progress_is_dropped_a_timeout_after_its_last_wake() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        Guarded::new(
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                std::future::pending::<()>().await;
            },
            Duration::from_secs(60),
            in_flight,
        )
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(90));
    }
}
