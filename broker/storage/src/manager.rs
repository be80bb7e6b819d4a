use std::path::{Path, PathBuf};

use crate::{Error, Log, LogConfig, Result};

const CLEAN_SHUTDOWN_MARKER: &str = ".clean-shutdown";

/// Owns the data directory: knows whether the last stop was clean, and where each partition's
/// log lives (`<data-dir>/<topic>-<partition>`, as in Kafka).
pub struct LogManager {
    data_dir: PathBuf,
    clean_start: bool,
    /// Held for the life of the manager: a second broker on the same directory is refused.
    _lock: std::fs::File,
}

impl LogManager {
    /// Opens the data directory. The clean-shutdown marker is consumed here, so a crash from now
    /// on makes the next start recover.
    pub fn open(data_dir: &Path) -> Result<LogManager> {
        std::fs::create_dir_all(data_dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join(".lock"))?;
        if let Err(e) = lock.try_lock() {
            return Err(Error::DataDirInUse {
                dir: data_dir.display().to_string(),
                reason: e.to_string(),
            });
        }
        let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
        let clean_start = marker.exists();
        if clean_start {
            std::fs::remove_file(&marker)?;
        }
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            clean_start,
            _lock: lock,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the previous run shut down cleanly (its indexes can be trusted as written).
    pub fn clean_start(&self) -> bool {
        self.clean_start
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }

    pub fn open_log(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log> {
        Log::open(
            &self.partition_dir(topic, partition),
            config,
            self.clean_start,
            now_ms,
        )
    }

    /// Removes a partition's files (topic deletion).
    pub fn delete_log(&self, topic: &str, partition: i32) -> Result<()> {
        match std::fs::remove_dir_all(self.partition_dir(topic, partition)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Records that every log was closed cleanly; call after closing them all.
    pub fn mark_clean_shutdown(&self) -> Result<()> {
        std::fs::write(self.data_dir.join(CLEAN_SHUTDOWN_MARKER), b"")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_has_one_owner_and_clean_shutdown_is_remembered() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = LogManager::open(dir.path()).expect("open");
        assert!(!first.clean_start());
        assert!(matches!(
            LogManager::open(dir.path()),
            Err(Error::DataDirInUse { .. })
        ));
        first.mark_clean_shutdown().expect("mark");
        drop(first);
        let second = LogManager::open(dir.path()).expect("reopen after release");
        assert!(second.clean_start());
        drop(second);
        assert!(
            !LogManager::open(dir.path()).expect("again").clean_start(),
            "the marker is consumed"
        );
    }
}
