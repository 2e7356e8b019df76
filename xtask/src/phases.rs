//! The phases of `cargo xtask test`: foreground steps and background jobs (installs, linters,
//! Terraform) that run beside the cargo build, each timed. [`Phases::print`] prints when each
//! started and how long it took, at the end of the run, whether it passed or not.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

/// The run's clock and every phase recorded so far (cheap to clone, shared with the jobs).
#[derive(Clone)]
pub(crate) struct Phases(Arc<Clock>);

struct Clock {
    start: Instant,
    rows: Mutex<Vec<Row>>,
}

struct Row {
    name: String,
    background: bool,
    from: Duration,
    took: Duration,
    ok: bool,
}

impl Phases {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Clock {
            start: Instant::now(),
            rows: Mutex::new(Vec::new()),
        }))
    }

    /// Run `f` now, in this thread, as the phase `name`.
    pub(crate) fn run<T>(
        &self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let from = self.0.start.elapsed();
        let result = f();
        self.record(name, false, from, result.is_ok());
        result
    }

    /// Start `f` in a thread of its own as the phase `name`; [`Job::wait`] or [`join_all`]
    /// gets its outcome. A panic in `f` is a failure of the job, never a hang of its waiters.
    pub(crate) fn spawn(
        &self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
    ) -> Job {
        let done: Arc<Done> = Arc::default();
        let (phases, job_name, job_done) = (self.clone(), name.to_owned(), Arc::clone(&done));
        let handle = std::thread::spawn(move || {
            let from = phases.0.start.elapsed();
            let result = std::panic::catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(anyhow!("panicked")));
            phases.record(&job_name, true, from, result.is_ok());
            job_done.set(result.map_err(|e| format!("{e:#}")));
        });
        Job {
            name: name.to_owned(),
            done,
            handle: Some(handle),
        }
    }

    fn record(&self, name: &str, background: bool, from: Duration, ok: bool) {
        let took = self.0.start.elapsed().saturating_sub(from);
        self.0
            .rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Row {
                name: name.to_owned(),
                background,
                from,
                took,
                ok,
            });
    }

    /// Print the table of phases, in the order they started, and the total.
    pub(crate) fn print(&self) {
        let mut rows = self.0.rows.lock().unwrap_or_else(PoisonError::into_inner);
        rows.sort_by_key(|r| r.from);
        let width = rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0);
        eprintln!("\nphases (bg = in the background, beside the foreground steps)");
        eprintln!("  {:<width$}  {:>7}  {:>7}", "phase", "start", "took");
        for r in rows.iter() {
            eprintln!(
                "  {:<width$}  {:>7}  {:>7}  {}{}",
                r.name,
                clock(r.from),
                clock(r.took),
                if r.background { "bg" } else { "  " },
                if r.ok { "" } else { "  FAILED" },
            );
        }
        eprintln!(
            "  {:<width$}  {:>7}  {:>7}",
            "total",
            "",
            clock(self.0.start.elapsed())
        );
    }
}

/// `m:ss.s`
fn clock(d: Duration) -> String {
    let s = d.as_secs_f64();
    format!("{}:{:04.1}", (s / 60.0).floor(), s % 60.0)
}

/// A background phase started by [`Phases::spawn`].
pub(crate) struct Job {
    name: String,
    done: Arc<Done>,
    handle: Option<JoinHandle<()>>,
}

/// Set once, when the job's function returned (or panicked).
#[derive(Default)]
struct Done {
    outcome: Mutex<Option<Result<(), String>>>,
    cond: Condvar,
}

impl Done {
    fn set(&self, outcome: Result<(), String>) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        self.cond.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(o) = outcome.as_ref() {
                return o.clone();
            }
            outcome = self
                .cond
                .wait(outcome)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Something a job can block on: another job's completion (see [`Job::waiter`]).
#[derive(Clone)]
pub(crate) struct Waiter {
    name: String,
    done: Arc<Done>,
}

impl Waiter {
    /// Block until the job finished; fails when it failed.
    pub(crate) fn wait(&self) -> anyhow::Result<()> {
        self.done
            .wait()
            .map_err(|_| anyhow!("needs `{}`, which failed", self.name))
    }
}

impl Job {
    /// A handle to wait for this job from another thread.
    pub(crate) fn waiter(&self) -> Waiter {
        Waiter {
            name: self.name.clone(),
            done: Arc::clone(&self.done),
        }
    }

    /// Block until the job finished; its error, named, when it failed.
    pub(crate) fn join(mut self) -> anyhow::Result<()> {
        let outcome = self.done.wait();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        outcome.map_err(|e| anyhow!("{}: {e}", self.name))
    }
}

/// Join every job (none is left running); fail with every failed job's error, each named.
pub(crate) fn join_all(jobs: impl IntoIterator<Item = Job>) -> anyhow::Result<()> {
    let errors: Vec<String> = jobs
        .into_iter()
        .filter_map(|job| job.join().err().map(|e| format!("{e:#}")))
        .collect();
    if !errors.is_empty() {
        bail!(
            "{} background step(s) failed:\n\n{}",
            errors.len(),
            errors.join("\n\n")
        );
    }
    Ok(())
}
