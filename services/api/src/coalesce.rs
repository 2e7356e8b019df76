//! Read coalescing (what Varnish calls request coalescing, nginx `proxy_cache_lock`, Go
//! `singleflight`), kept linearizable: identical concurrent reads share one database query,
//! but a request only ever shares a query that *starts after it arrived*.
//!
//! Per key there is at most one runner task. While its query is in flight, requests for the
//! same key queue; when the query finishes, the runner answers the requests it took and then
//! takes everything queued meanwhile and runs one new query for all of them. When nothing is
//! queued it stops, and the next request starts a new runner.
//!
//! Why no request sees data older than its own arrival: a request is queued under the mutex
//! before the runner takes the queue under the same mutex, and the runner starts the query only
//! after taking it. So the query is sent to PostgreSQL after the request arrived, and
//! PostgreSQL takes a statement's snapshot when the statement starts: every transaction
//! committed before the request arrived (in particular any write whose answer the client had
//! before sending the read; writes are answered only after commit) is visible to it.
//!
//! The query runs in a spawned task, so a cancelled request (client gone, timeout) never
//! cancels a query others wait for. If the runner dies anyway (a panic, runtime shutdown), a
//! guard removes its key: its waiters get `None` and the next request starts afresh, so a key
//! can never be left queued with nobody to serve it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

type Read<K, T> = dyn Fn(&K) -> Pin<Box<dyn Future<Output = T> + Send>> + Send + Sync;
/// Requests queued per key; a key is present exactly while its runner lives.
type Queues<K, T> = Mutex<HashMap<K, Vec<oneshot::Sender<T>>>>;

/// Shares each run of `read(key)` among the requests for `key` queued before it started.
pub struct Coalescer<K, T> {
    queues: Arc<Queues<K, T>>,
    read: Arc<Read<K, T>>,
}

impl<K, T> Clone for Coalescer<K, T> {
    fn clone(&self) -> Self {
        Self {
            queues: self.queues.clone(),
            read: self.read.clone(),
        }
    }
}

impl<K, T> std::fmt::Debug for Coalescer<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Coalescer")
    }
}

impl<K, T> Coalescer<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + 'static,
{
    /// A coalescer over `read`, which is called once per shared run.
    pub fn new<F, Fut>(read: F) -> Self
    where
        F: Fn(&K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        Self {
            queues: Arc::default(),
            read: Arc::new(move |key: &K| Box::pin(read(key)) as Pin<Box<_>>),
        }
    }

    /// The result of a run of `read(&key)` that started after this call was made.
    /// `None` only if that run was abandoned (it panicked, or the runtime is shutting down).
    /// Must be called inside a tokio runtime.
    pub async fn get(&self, key: K) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        let start = match lock(&self.queues).entry(key) {
            Entry::Occupied(mut queued) => {
                queued.get_mut().push(reply);
                None
            }
            Entry::Vacant(idle) => {
                let key = idle.key().clone();
                idle.insert(vec![reply]);
                Some(key)
            }
        };
        if let Some(key) = start {
            tokio::spawn(self.clone().serve(key));
        }
        answer.await.ok()
    }

    /// The runner of `key`: one query per batch of queued requests, until none are queued.
    async fn serve(self, key: K) {
        let mut guard = Abandoned {
            queues: &self.queues,
            key: Some(&key),
        };
        loop {
            let batch = {
                let mut queues = lock(&self.queues);
                let queued = queues.get_mut(&key).map(std::mem::take);
                match queued {
                    Some(batch) if !batch.is_empty() => batch,
                    _ => {
                        queues.remove(&key);
                        guard.key = None;
                        return;
                    }
                }
            };
            // Started only now, after every request in `batch` arrived.
            let value = (self.read)(&key).await;
            for reply in batch {
                // A request that went away no longer needs its answer.
                let _ = reply.send(value.clone());
            }
        }
    }
}

fn lock<K, T>(queues: &Queues<K, T>) -> MutexGuard<'_, HashMap<K, Vec<oneshot::Sender<T>>>> {
    // Nothing panics while holding the lock, but never let a poison wedge every read.
    queues.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a runner's key if the runner is dropped before it finished (panic, shutdown):
/// the queued requests are then answered `None` (their senders drop) instead of waiting forever.
struct Abandoned<'a, K: Hash + Eq, T> {
    queues: &'a Queues<K, T>,
    key: Option<&'a K>,
}

impl<K: Hash + Eq, T> Drop for Abandoned<'_, K, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(self.queues).remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;

    /// A fake read that counts its runs and, until released, blocks.
    fn gated() -> (Coalescer<u8, u64>, Arc<AtomicU64>, Arc<Semaphore>) {
        let runs = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (r, g) = (runs.clone(), gate.clone());
        let coalescer = Coalescer::new(move |key: &u8| {
            let (runs, gate, key) = (r.clone(), g.clone(), *key);
            async move {
                let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
                gate.acquire().await.expect("gate open").forget();
                run * 1000 + u64::from(key)
            }
        });
        (coalescer, runs, gate)
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_queued_behind_a_running_read_share_the_next_run_never_the_running_one() {
        let (c, runs, gate) = gated();
        let first = tokio::spawn({
            let c = c.clone();
            async move { c.get(7).await }
        });
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "run 1 is in flight");

        // These arrive while run 1 is in flight: they must wait for run 2, all together.
        let late: Vec<_> = (0..10)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.get(7).await })
            })
            .collect();
        // Another key is independent.
        let other = tokio::spawn({
            let c = c.clone();
            async move { c.get(9).await }
        });
        settle().await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "run 1 for key 7, one run for key 9"
        );

        gate.add_permits(1); // finishes one of the runs in flight
        gate.add_permits(1);
        settle().await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "one more run for all late requests"
        );
        gate.add_permits(1);

        let first = first.await.expect("joined").expect("answered");
        let other = other.await.expect("joined").expect("answered");
        assert_eq!(first % 1000, 7);
        assert_eq!(other % 1000, 9);
        let mut late_runs = Vec::new();
        for l in late {
            late_runs.push(l.await.expect("joined").expect("answered"));
        }
        assert!(
            late_runs.iter().all(|v| *v == late_runs[0]),
            "{late_runs:?}"
        );
        assert_eq!(
            late_runs[0], 3007,
            "the late requests got the run that started after them"
        );
        settle().await;
        assert!(lock(&c.queues).is_empty(), "runners stop when idle");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_read_answers_none_to_every_waiter_and_the_key_recovers() {
        let runs = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let (r, g) = (runs.clone(), gate.clone());
        let c = Coalescer::new(move |_: &u8| {
            let (run, gate) = (r.fetch_add(1, Ordering::SeqCst), g.clone());
            async move {
                if run == 0 {
                    gate.acquire().await.expect("gate open").forget();
                    panic!("the first run fails");
                }
                run
            }
        });
        let spawn = || {
            let c = c.clone();
            tokio::spawn(async move { c.get(1).await })
        };
        let mut waiters = vec![spawn()];
        settle().await;
        waiters.extend((0..4).map(|_| spawn())); // queued behind the failing run
        settle().await;
        gate.add_permits(1);
        for w in waiters {
            assert_eq!(w.await.expect("joined"), None);
        }
        assert_eq!(
            c.get(1).await,
            Some(1),
            "the next request starts a new runner"
        );
        settle().await;
        assert!(lock(&c.queues).is_empty(), "runners stop when idle");
    }
}
