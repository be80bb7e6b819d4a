//! Page cache handed to a broker as it writes, so that its produce workloads reuse memory the
//! kernel holds rather than memory the VM's host took back.
//!
//! Some VMs (this one: Firecracker with virtio-balloon free page reporting) give free memory
//! back to their host, and the guest's first write to such a page costs a host page fault:
//! `dd` to the page cache runs at 300-570 MB/s into it against 1.5 GB/s into the pages of a
//! file deleted just before (a GiB of anonymous memory touched and freed just before did not
//! help: 299-308 MB/s). Freed pages are reported back within a second or two (a GiB freed, then
//! written again after 0, 0.5, 1, 2 and 4 s: 1.5, 1.6, 1.0, 0.75, 0.75 GB/s), so pages freed
//! all at once before a workload serve a fast broker to the end and a slow one only at first.
//! Instead the pages are held in a file written before the workload and given back a little
//! ahead of the broker's writes, by cutting the file's end: each broker, fast or slow, writes
//! into pages freed moments before. A broker that has run for a while writes into memory its
//! page cache recycles, not into memory the host took back; without this the produce rows of a
//! fresh machine measure the host's page faults as much as the brokers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How far ahead of the broker's writes pages are given back.
const AHEAD: u64 = 64 << 20;
/// How often the broker's writes are looked at.
const POLL: Duration = Duration::from_millis(5);

/// Pages held for a workload; dropping it gives back what is left.
pub(crate) struct Recycled {
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
    }
}

/// Holds `bytes` of page cache (a file in a temporary directory, never synced) and, while
/// the result lives, gives it back [`AHEAD`] of what the processes `pids` write (their
/// `wchar`, which for a broker under a produce load is its log writes). With no `pids` every
/// page is given back at once.
pub(crate) fn hold(bytes: u64, pids: Vec<u32>) -> anyhow::Result<Recycled> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("recycled");
    let mut file = std::fs::File::create(&path)?;
    let size = crate::write_chunks(&mut file, bytes)?;
    let stop = Arc::new(AtomicBool::new(false));
    if pids.is_empty() {
        drop(file);
        dir.close()?;
        return Ok(Recycled {
            stop,
            feeder: None,
            _dir: None,
        });
    }
    let start = written(&pids);
    let feeder = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("recycler".into())
            .spawn(move || {
                let mut left = size;
                while left > 0 && !stop.load(Ordering::Relaxed) {
                    let wanted = written(&pids).saturating_sub(start) + AHEAD;
                    let keep = size.saturating_sub(wanted);
                    if keep < left && file.set_len(keep).is_ok() {
                        left = keep;
                    }
                    std::thread::sleep(POLL);
                }
            })?
    };
    Ok(Recycled {
        stop,
        feeder: Some(feeder),
        _dir: Some(dir),
    })
}

/// Bytes the processes have handed to write calls (`wchar` in `/proc/PID/io`), summed.
fn written(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
            io.lines()
                .find_map(|l| l.strip_prefix("wchar:"))?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}
