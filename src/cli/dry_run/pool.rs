//! Batches on several threads, their results back in input order: the shape both of a dry
//! run's passes take with `--jobs N` (the first pass reading records' places, the mapping
//! pass mapping rows).
//!
//! The producer (the calling thread) numbers each batch and hands batch n to worker n mod N,
//! so each worker meets the same batches in the same order on every run (its caches and
//! bounded tallies fill alike, and so does the report merged from them). One consumer thread
//! takes the workers' results in batch order. The producer stays at most `4 × N` batches
//! ahead of the consumer, so a worker that falls behind (a descheduled thread) cannot make the
//! batches waiting behind it pile up in memory. Batches go back to the producer, and the
//! consumer's spent buffers back to the workers, for reuse.
//!
//! Stopping: when the consumer returns early (a closed pipe), its receivers drop, every
//! worker's next send fails and it stops, and so does the producer's next send.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// What a pool's threads are called, and what its errors say it was doing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Names {
    /// The workers' and consumer's thread names (`canon-…`).
    pub(super) worker: &'static str,
    pub(super) consumer: &'static str,
    /// "the first pass", "the mapping pass": for "cannot start a thread for …" and "… stopped".
    pub(super) what: &'static str,
}

/// The workers' results, in batch order, on the consumer's thread.
pub(super) struct InOrder<Out, Spare> {
    done: Receiver<(u64, Out)>,
    pending: BTreeMap<u64, Out>,
    next: u64,
    /// Whether the consumer holds a result it has not yet finished with.
    holding: bool,
    finished: Sender<()>,
    spent: Sender<Spare>,
}

impl<Out, Spare> InOrder<Out, Spare> {
    /// The next batch's number and result, once the worker that has it is done (`None`: no
    /// more batches). Asking for it says the previous one is finished with.
    pub(super) fn next(&mut self) -> Option<(u64, Out)> {
        if std::mem::take(&mut self.holding) {
            let _ = self.finished.send(());
        }
        loop {
            if let Some(out) = self.pending.remove(&self.next) {
                self.next += 1;
                self.holding = true;
                return Some((self.next - 1, out));
            }
            let (seq, out) = self.done.recv().ok()?;
            self.pending.insert(seq, out);
        }
    }

    /// Hands a buffer the consumer is done with back to the workers.
    pub(super) fn recycle(&self, spare: Spare) {
        let _ = self.spent.send(spare);
    }
}

/// Hands batches to the workers: [`Turns::send`] is the producer's only call.
pub(super) struct Turns<In> {
    queues: Vec<SyncSender<(u64, In)>>,
    seq: u64,
    finished: Receiver<()>,
    consumed: u64,
    in_flight: u64,
    back: Receiver<In>,
}

/// The consumer or the workers have stopped: the producer should stop too.
#[derive(Debug)]
pub(super) struct Stopped;

impl<In> Turns<In> {
    /// Sends `batch` to its worker, waits while the producer is too far ahead, and returns a
    /// batch a worker is done with, for reuse, if one is back.
    pub(super) fn send(&mut self, batch: In) -> Result<Option<In>, Stopped> {
        let queue = self
            .queues
            .get(self.seq as usize % self.queues.len().max(1))
            .ok_or(Stopped)?;
        queue.send((self.seq, batch)).map_err(|_| Stopped)?;
        self.seq += 1;
        while self.seq - self.consumed >= self.in_flight {
            self.finished.recv().map_err(|_| Stopped)?;
            self.consumed += 1;
        }
        Ok(self.back.try_recv().ok())
    }

    /// How many batches were sent.
    pub(super) fn sent(&self) -> u64 {
        self.seq
    }
}

/// A worker's own state and its step: a batch in, its result out (into a spare buffer when
/// the consumer has given one back); the batch itself goes back to the producer.
pub(super) trait Work<In, Out, Spare> {
    type Done: Send;
    fn work(&mut self, batch: &mut In, spare: Option<Spare>) -> Out;
    /// What the worker hands back when the batches end (the mapping pass's coverage).
    fn finish(self) -> Self::Done;
}

/// Runs `jobs` workers made by `start`, the consumer `consume` on a thread of its own, and
/// the producer `produce` on the calling thread. Returns the workers' `finish`es (in worker
/// order) and the consumer's result. Workers the system refuses to start are left out; an
/// error when none starts.
pub(super) fn run<In, Out, Spare, W, C>(
    names: Names,
    jobs: usize,
    start: impl Fn() -> W + Sync,
    consume: impl FnOnce(InOrder<Out, Spare>) -> C + Send,
    produce: impl FnOnce(&mut Turns<In>),
) -> Result<(Vec<W::Done>, C), String>
where
    In: Send,
    Out: Send,
    Spare: Send,
    W: Work<In, Out, Spare>,
    C: Send,
{
    let jobs = jobs.max(1);
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Out)>(jobs * 4);
    let (back_tx, back_rx) = mpsc::channel::<In>();
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let (spent_tx, spent_rx) = mpsc::channel::<Spare>();
    let spent_rx = Arc::new(Mutex::new(spent_rx));
    let cannot_start = |e: std::io::Error| format!("cannot start a thread for {}: {e}", names.what);
    std::thread::scope(|scope| {
        let in_order = InOrder {
            done: done_rx,
            pending: BTreeMap::new(),
            next: 0,
            holding: false,
            finished: finished_tx,
            spent: spent_tx,
        };
        let consumer = std::thread::Builder::new()
            .name(format!("canon-{}", names.consumer))
            .spawn_scoped(scope, move || consume(in_order))
            .map_err(cannot_start)?;
        let mut queues = Vec::with_capacity(jobs);
        let mut workers = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            let (queue, batches) = mpsc::sync_channel::<(u64, In)>(2);
            let (done_tx, back_tx, spent_rx) = (done_tx.clone(), back_tx.clone(), spent_rx.clone());
            let start = &start;
            let worker = std::thread::Builder::new()
                .name(format!("canon-{}", names.worker))
                .spawn_scoped(scope, move || {
                    let mut worker = start();
                    for (seq, mut batch) in batches {
                        // A buffer the consumer is done with, rather than one allocated here
                        // and freed on the consumer's thread for every batch.
                        let spare = spent_rx.lock().ok().and_then(|rx| rx.try_recv().ok());
                        let out = worker.work(&mut batch, spare);
                        if done_tx.send((seq, out)).is_err() {
                            break;
                        }
                        let _ = back_tx.send(batch);
                    }
                    worker.finish()
                });
            // A run goes on with the workers that started.
            if let Ok(worker) = worker {
                queues.push(queue);
                workers.push(worker);
            }
        }
        // Only the workers may send results: when they all stop, the consumer's `next` ends.
        drop(done_tx);
        drop(back_tx);
        if workers.is_empty() {
            // The consumer sees its channel close and ends.
            let _ = consumer.join();
            return Err(format!("cannot start a thread for {}", names.what));
        }
        let mut turns = Turns {
            queues,
            seq: 0,
            finished: finished_rx,
            consumed: 0,
            in_flight: (jobs * 4) as u64,
            back: back_rx,
        };
        produce(&mut turns);
        // The workers' queues close: each finishes the batches it has and stops.
        drop(turns);
        let done: Vec<W::Done> = workers
            .into_iter()
            .filter_map(|worker| worker.join().ok())
            .collect();
        let consumed = consumer
            .join()
            .map_err(|_| format!("{} stopped", names.what))?;
        Ok((done, consumed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squares numbers; counts its batches.
    struct Squarer {
        batches: u64,
    }

    impl Work<Vec<u64>, Vec<u64>, Vec<u64>> for Squarer {
        type Done = u64;
        fn work(&mut self, batch: &mut Vec<u64>, spare: Option<Vec<u64>>) -> Vec<u64> {
            self.batches += 1;
            let mut out = spare.unwrap_or_default();
            out.clear();
            out.extend(batch.iter().map(|n| n * n));
            out
        }
        fn finish(self) -> u64 {
            self.batches
        }
    }

    const NAMES: Names = Names {
        worker: "test-worker",
        consumer: "test-consumer",
        what: "the test",
    };

    /// Results come back in batch order whatever the workers, every batch is worked once,
    /// and each worker takes its turns (batch n to worker n mod N).
    #[test]
    fn results_come_in_order_and_workers_take_turns() {
        for jobs in 1..=4 {
            let (done, seen) = run(
                NAMES,
                jobs,
                || Squarer { batches: 0 },
                |mut in_order| {
                    let mut seen = Vec::new();
                    while let Some((seq, out)) = in_order.next() {
                        seen.push((seq, out.clone()));
                        in_order.recycle(out);
                    }
                    seen
                },
                |turns| {
                    for n in 0..50u64 {
                        let mut batch = turns.send(vec![n, n + 1]).unwrap().unwrap_or_default();
                        batch.clear();
                    }
                    assert_eq!(turns.sent(), 50);
                },
            )
            .unwrap();
            let expected: Vec<_> = (0..50u64)
                .map(|n| (n, vec![n * n, (n + 1) * (n + 1)]))
                .collect();
            assert_eq!(seen, expected, "{jobs} workers");
            let turns: Vec<u64> = (0..jobs as u64)
                .map(|w| (0..50u64).filter(|n| n % jobs as u64 == w).count() as u64)
                .collect();
            assert_eq!(done, turns, "{jobs} workers");
        }
    }

    /// A consumer that stops early (a closed pipe) stops the producer too, instead of
    /// leaving it blocked on a full queue.
    #[test]
    fn a_consumer_that_stops_stops_the_producer() {
        let (_, taken) = run(
            NAMES,
            2,
            || Squarer { batches: 0 },
            |mut in_order| {
                let mut taken = 0;
                while taken < 3 && in_order.next().is_some() {
                    taken += 1;
                }
                taken
            },
            |turns| {
                let mut sent = 0;
                while turns.send(vec![1]).is_ok() {
                    sent += 1;
                    assert!(sent < 1_000, "the producer was not stopped");
                }
            },
        )
        .unwrap();
        assert_eq!(taken, 3);
    }
}
