use std::collections::HashSet;
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

    /// Opens the log of `topic`'s `partition`, the topic having the id `topic_id`. A directory
    /// left by an earlier topic of the same name (deleted while this broker was down, or whose
    /// files could not all be removed) is removed first, so that the new topic does not start
    /// with the old one's records. A directory without the id (written before 2026-11-24) is
    /// taken as the topic's.
    pub fn open_log(
        &self,
        topic: &str,
        partition: i32,
        topic_id: &str,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log> {
        let dir = self.partition_dir(topic, partition);
        let id_file = dir.join(TOPIC_ID_FILE);
        let recorded = match std::fs::read_to_string(&id_file) {
            Ok(text) => recorded_topic_id(&text).map(str::to_string),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(old) = recorded.as_deref().filter(|old| *old != topic_id) {
            tracing::warn!(
                dir = %dir.display(),
                old_topic_id = old,
                topic_id,
                "removing the files of an earlier topic of the same name"
            );
            remove_log_dir(&dir)?;
        }
        let log = Log::open(&dir, config, self.clean_start, now_ms)?;
        if recorded.as_deref() != Some(topic_id) {
            // Not synced: creating a topic of many partitions would wait for as many fsyncs. A
            // file a machine crash leaves empty or cut short names no id, and the directory is
            // taken as the topic's again.
            crate::log::replace_file(
                &id_file,
                &format!("version: 0\ntopic_id: {topic_id}\n"),
                false,
            )?;
        }
        Ok(log)
    }

    /// The partition directories that name their topic by id, with that id: what
    /// [`LogManager::remove_deleted_logs`] weighs. Directories written before the id was
    /// recorded, and everything else in the data directory, are not listed; an entry that cannot
    /// be read is skipped with a warning.
    pub fn partition_dirs(&self) -> Result<Vec<(PathBuf, String)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.data_dir)? {
            let dir = match entry {
                Ok(entry) => entry.path(),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable data directory entry");
                    continue;
                }
            };
            let named = dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit_once('-'))
                .is_some_and(|(topic, p)| !topic.is_empty() && p.parse::<u32>().is_ok());
            if !named || !dir.is_dir() {
                continue;
            }
            match std::fs::read_to_string(dir.join(TOPIC_ID_FILE)) {
                Ok(text) => {
                    if let Some(id) = recorded_topic_id(&text) {
                        found.push((dir.clone(), id.to_string()));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "skipping a partition directory whose topic id cannot be read");
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes the partition directories that name a topic id in `deleted` (topics the metadata
    /// records as deleted): what a deletion left when the broker stopped before removing every
    /// partition's files. A directory naming an id in neither `deleted` nor `live` is left in
    /// place and reported: metadata cut short or restored from an old copy does not know a
    /// topic, which must not cost it its data. Returns the directories removed; one that cannot
    /// be removed is reported and the others are still removed.
    pub fn remove_deleted_logs(
        &self,
        live: &HashSet<String>,
        deleted: &HashSet<String>,
    ) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        let mut unknown = Vec::new();
        for (dir, id) in self.partition_dirs()? {
            if deleted.contains(&id) {
                tracing::warn!(dir = %dir.display(), topic_id = %id, "removing the files of a deleted topic's partition");
                match remove_log_dir(&dir) {
                    Ok(()) => removed.push(dir),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted topic's partition files");
                    }
                }
            } else if !live.contains(&id) {
                unknown.push(dir);
            }
        }
        if let Some(first) = unknown.first() {
            tracing::warn!(
                count = unknown.len(),
                first = %first.display(),
                "partition directories naming a topic the metadata has never had: left in place"
            );
        }
        Ok(removed)
    }

    /// Removes a partition's files (topic deletion).
    pub fn delete_log(&self, topic: &str, partition: i32) -> Result<()> {
        Ok(remove_log_dir(&self.partition_dir(topic, partition))?)
    }

    /// Records that every log was closed cleanly; call after closing them all.
    pub fn mark_clean_shutdown(&self) -> Result<()> {
        std::fs::write(self.data_dir.join(CLEAN_SHUTDOWN_MARKER), b"")?;
        Ok(())
    }
}

/// The file in a partition's directory that names the topic it belongs to by id (Kafka's
/// `partition.metadata`): a topic deleted and created again under the same name gets a new id.
const TOPIC_ID_FILE: &str = "partition.metadata";

/// The topic id in a [`TOPIC_ID_FILE`]'s text (`version: 0`, `topic_id: ID`), if it names one.
fn recorded_topic_id(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .map(str::trim)
        .filter(|id| !id.is_empty())
}

/// Times a log directory's removal is tried while files keep appearing in it.
const REMOVE_ATTEMPTS: u32 = 50;

/// Removes a log directory and everything in it. A background writer may still add a file to it
/// while it is being removed (the segment sync thread records the recovery point after a roll's
/// fsync, which takes seconds; a compaction pass writes its cleaned segment), which makes the
/// final `rmdir` fail with "Directory not empty": the removal is then tried again, as those
/// writers fail once the directory is gone rather than create it again.
fn remove_log_dir(dir: &Path) -> std::io::Result<()> {
    let mut attempt = 1;
    loop {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.kind() == std::io::ErrorKind::DirectoryNotEmpty
                    && attempt < REMOVE_ATTEMPTS =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
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

    #[test]
    fn a_log_dir_is_removed_while_another_thread_still_writes_into_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let manager = LogManager::open(dir.path()).expect("open");
        let log_dir = manager.partition_dir("t", 0);
        std::fs::create_dir_all(&log_dir).expect("mkdir");
        for i in 0..200 {
            std::fs::write(log_dir.join(format!("{i:020}.log")), b"x").expect("write");
        }
        // As the segment sync thread does after a roll: a file written through a temporary
        // one and a rename, until the directory is gone.
        let writer_dir = log_dir.clone();
        let writer = std::thread::spawn(move || {
            let mut written = 0u32;
            while written < 20_000 {
                let tmp = writer_dir.join("recovery-point.tmp");
                if std::fs::write(&tmp, b"1").is_err()
                    || std::fs::rename(&tmp, writer_dir.join("recovery-point")).is_err()
                {
                    break;
                }
                written += 1;
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            written
        });
        while !log_dir.join("recovery-point").exists() {
            std::thread::yield_now();
        }
        manager
            .delete_log("t", 0)
            .expect("deleted despite the writer");
        assert!(!log_dir.exists());
        writer.join().expect("writer");
        // Nothing made the directory again.
        assert!(!log_dir.exists());
    }

    #[test]
    fn a_topic_made_again_under_the_same_name_starts_empty() {
        use kafka_protocol::records::Compression;
        let dir = tempfile::tempdir().expect("tmp");
        let manager = LogManager::open(dir.path()).expect("open");
        let cfg = LogConfig::default;
        let b = crate::batch::test_util::batch(&["a", "b"], 1_000, Compression::None);
        let first = manager.open_log("t", 0, "id-1", cfg(), 0).expect("first");
        first.append(&b, 0, 0).expect("append");
        drop(first);
        // The same topic again (a restart) keeps its records.
        let again = manager.open_log("t", 0, "id-1", cfg(), 0).expect("again");
        assert_eq!(again.log_end_offset(), 2);
        drop(again);
        // A directory from before topic ids were recorded is the topic's.
        std::fs::remove_file(manager.partition_dir("t", 0).join(TOPIC_ID_FILE)).expect("rm");
        let adopted = manager.open_log("t", 0, "id-1", cfg(), 0).expect("adopted");
        assert_eq!(adopted.log_end_offset(), 2);
        drop(adopted);
        // A new topic of the same name (the old one's files were left behind) starts empty.
        let new = manager
            .open_log("t", 0, "id-2", cfg(), 0)
            .expect("new topic");
        assert_eq!(new.log_end_offset(), 0);
        drop(new);
        let text = std::fs::read_to_string(manager.partition_dir("t", 0).join(TOPIC_ID_FILE))
            .expect("id file");
        assert_eq!(recorded_topic_id(&text), Some("id-2"));
        // One a crash left empty names no topic: the directory stays the topic's.
        std::fs::write(manager.partition_dir("t", 0).join(TOPIC_ID_FILE), b"").expect("empty");
        let after_crash = manager
            .open_log("t", 0, "id-2", cfg(), 0)
            .expect("after a crash");
        after_crash.append(&b, 0, 0).expect("append");
        drop(after_crash);
        let reopened = manager
            .open_log("t", 0, "id-2", cfg(), 0)
            .expect("reopened");
        assert_eq!(reopened.log_end_offset(), 2);
    }

    #[test]
    fn only_the_partitions_of_deleted_topics_are_swept() {
        let dir = tempfile::tempdir().expect("tmp");
        let manager = LogManager::open(dir.path()).expect("open");
        let cfg = LogConfig::default;
        for (topic, id) in [
            ("kept", "id-kept"),
            ("gone", "id-gone"),
            ("my-topic", "id-dash"),
            ("unknown", "id-unknown"),
        ] {
            for p in 0..2 {
                drop(manager.open_log(topic, p, id, cfg(), 0).expect("open log"));
            }
        }
        // A partition directory from before ids were recorded, and what else lives in a data
        // directory, are never taken for a deleted topic's.
        drop(manager.open_log("old", 0, "id-old", cfg(), 0).expect("old"));
        std::fs::remove_file(manager.partition_dir("old", 0).join(TOPIC_ID_FILE)).expect("rm");
        for other in ["metadata", "groups-0x", "plugins"] {
            std::fs::create_dir_all(dir.path().join(other)).expect("mkdir");
        }
        assert_eq!(manager.partition_dirs().expect("list").len(), 8);

        let set = |ids: &[&str]| -> HashSet<String> { ids.iter().map(|s| s.to_string()).collect() };
        let live = set(&["id-kept", "id-dash"]);
        let removed = manager
            .remove_deleted_logs(&live, &set(&["id-gone", "id-never-on-disk"]))
            .expect("sweep");
        assert_eq!(
            removed,
            [
                manager.partition_dir("gone", 0),
                manager.partition_dir("gone", 1)
            ]
        );
        // Live topics, a topic the metadata does not know (neither live nor deleted: metadata
        // cut short), old directories and the rest stay.
        for (topic, p) in [
            ("kept", 0),
            ("kept", 1),
            ("my-topic", 0),
            ("my-topic", 1),
            ("unknown", 0),
            ("unknown", 1),
            ("old", 0),
        ] {
            assert!(manager.partition_dir(topic, p).exists(), "{topic}-{p}");
        }
        for other in ["metadata", "groups-0x", "plugins"] {
            assert!(dir.path().join(other).exists());
        }
        // Metadata that knows no topic at all removes nothing it was not told was deleted.
        assert!(
            manager
                .remove_deleted_logs(&HashSet::new(), &HashSet::new())
                .expect("sweep")
                .is_empty()
        );
        assert!(manager.partition_dir("kept", 0).exists());
    }
}
