//! Makes rolled segments durable off the append path.
//!
//! A segment that stops being the active one is fsynced once, so that recovery after a crash of
//! the machine need only re-validate what came after it. That fsync writes back everything the
//! page cache still holds of the segment (up to `segment.bytes`, 1 GiB by default), which takes
//! a second or more; done under the log's lock, as it once was, every produce and fetch of the
//! partition waited for it. Now a roll queues the sealed segment's files here and a background
//! thread syncs them, then records the **recovery point** (the base offset of the first segment
//! not known to be on disk) in the log directory. After an unclean shutdown every segment from
//! the recovery point on is re-validated, not only the active one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// The file in a log directory holding the recovery point.
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";

/// The files of one sealed segment, and the offset its durability vouches for: the base offset
/// of the segment that follows it.
pub(crate) struct Sealed {
    pub(crate) next_base: i64,
    pub(crate) files: Vec<Arc<File>>,
}

#[derive(Default)]
pub(crate) struct Flusher {
    pending: Mutex<Vec<Sealed>>,
    /// Held for a whole pass, so that passes do not overtake each other.
    pass: Mutex<()>,
}

impl Flusher {
    /// Queues `sealed` for the process's sync threads.
    pub(crate) fn sync_in_background(self: &Arc<Self>, dir: &Path, sealed: Sealed) {
        self.pending.lock().push(sealed);
        let job = Job {
            flusher: self.clone(),
            dir: dir.to_path_buf(),
        };
        if let Err(std::sync::mpsc::SendError(job)) = sync_queue().send(job) {
            // No sync thread could be started: sync here rather than not at all.
            job.run();
        }
    }

    /// Syncs every queued segment, then moves the recovery point past them. A pass that fails
    /// puts its segments back, so that no later pass moves the recovery point over them.
    pub(crate) fn sync_pending(&self, dir: &Path) -> std::io::Result<()> {
        self.pass(dir, None)
    }

    /// After a truncation or restart the log's active segment starts at `point`, possibly below
    /// the recorded recovery point: syncs what is queued and records `point`, after any pass
    /// already under way (which could otherwise record its higher point last).
    pub(crate) fn restart_from(&self, dir: &Path, point: i64) -> std::io::Result<()> {
        self.pass(dir, Some(point))
    }

    fn pass(&self, dir: &Path, point: Option<i64>) -> std::io::Result<()> {
        let _pass = self.pass.lock();
        let batch = std::mem::take(&mut *self.pending.lock());
        let Some(point) = point.or_else(|| batch.iter().map(|s| s.next_base).max()) else {
            return Ok(());
        };
        let synced = batch
            .iter()
            .flat_map(|s| &s.files)
            .try_for_each(|f| f.sync_data())
            .and_then(|()| sync_producer_snapshot(dir))
            .and_then(|()| write_recovery_point(dir, point));
        match synced {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()), // the log was deleted
            Err(e) => {
                self.pending.lock().extend(batch);
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }
}

/// Threads syncing rolled segments for every log of the process. A few are enough: `segment.ms`
/// can roll every partition of a broker within the same second, and a thread per roll would
/// start that many threads and as many concurrent fsyncs.
const SYNC_THREADS: usize = 2;

struct Job {
    flusher: Arc<Flusher>,
    dir: PathBuf,
}

impl Job {
    fn run(self) {
        if let Err(e) = self.flusher.sync_pending(&self.dir) {
            // The recovery point stays where it was: recovery re-validates more.
            tracing::warn!(dir = %self.dir.display(), error = %e, "syncing a rolled segment failed");
        }
    }
}

/// The queue of the sync threads, started on first use.
fn sync_queue() -> &'static std::sync::mpsc::Sender<Job> {
    static QUEUE: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..SYNC_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("weir-seg-sync-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job, not while running it.
                        let job = rx.lock().recv();
                        match job {
                            Ok(job) => job.run(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start a segment sync thread");
            }
        }
        tx
    })
}

/// Syncs the producer-state snapshot a roll wrote without syncing (the newest one, if rolls
/// followed each other).
fn sync_producer_snapshot(dir: &Path) -> std::io::Result<()> {
    match File::open(dir.join(crate::producer_state::SNAPSHOT_FILE)) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_recovery_point(dir: &Path, point: i64) -> std::io::Result<()> {
    // Written after the data it vouches for is synced; if this write is lost, recovery merely
    // re-validates more segments, so it needs no fsync of its own.
    crate::log::replace_file(&dir.join(RECOVERY_POINT_FILE), &point.to_string(), false)
}

/// The recovery point recorded in `dir`; `None` for a log written before there was one (its
/// rolled segments were synced at the roll).
pub(crate) fn read_recovery_point(dir: &Path) -> Option<i64> {
    std::fs::read_to_string(dir.join(RECOVERY_POINT_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}
