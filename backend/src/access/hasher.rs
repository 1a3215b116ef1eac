//! Password hashing off the async threads, bounded (issue 17, item 1).
//!
//! Each argon2 check takes the hash's memory (about 19 MiB with the default parameters)
//! for a fraction of a second. Run on tokio's blocking pool, any number of them ran at
//! once, each on its own thread with its own allocator arena that kept the memory: 150
//! simultaneous sign-ins took the relay from 1.5 to 4.3 GiB.
//!
//! **Invariant:** at most `workers` hashes run at once, on the same `workers` threads
//! (so at most that many arenas ever hold hash memory), and at most `queue` more wait;
//! beyond that a sign-in is refused at once with "busy, retry in a second" rather than
//! queued without bound.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and their bounded queue.
pub struct Hasher {
    tx: SyncSender<Job>,
    workers: usize,
}

/// The queue is full: the relay checks as many passwords as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Hasher {
    /// `workers` threads (at least one) and room for `queue` waiting checks. The threads
    /// end when the `Hasher` is dropped.
    pub fn new(workers: usize, queue: usize) -> Hasher {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx: Arc<Mutex<Receiver<Job>>> = rx.clone();
            std::thread::Builder::new()
                .name(format!("winrelay-hash-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break,
                    }
                })
                .expect("a hashing thread");
        }
        Hasher { tx, workers }
    }

    /// One worker per core, at most 4.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
    }

    /// How many hashes may run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `f` on a hashing thread; `Busy` when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        match self.tx.try_send(job) {
            Ok(()) => result.await.map_err(|_| Busy),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_workers_run_and_the_queue_is_bounded() {
        let h = Arc::new(Hasher::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (h, running, most) = (h.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    h.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => done += 1,
                Err(Busy) => busy += 1,
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at once at most");
        assert!(
            done <= 9,
            "2 running + 3 waiting (+ what finished meanwhile): {done}"
        );
        assert!(busy >= 11, "the rest are told the relay is busy: {busy}");
        assert_eq!(h.run(|| 7).await, Ok(7), "and later ones run again");
    }
}
