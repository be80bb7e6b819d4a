//! Sparse indexes kept in memory and appended to disk as they grow.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One fixed-size index entry.
pub(crate) trait Entry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(b: &[u8]) -> Self;
}

/// `(offset relative to the segment base, byte position of the batch in the .log file)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub(crate) rel_offset: u32,
    pub(crate) position: u32,
}

/// `(largest timestamp so far in the segment, relative offset of the batch that holds it)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub(crate) timestamp: i64,
    pub(crate) rel_offset: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.rel_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            rel_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.rel_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            rel_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// A sparse index file and its entries. The entries live in memory; the file is open while
/// the index may still grow, and [`SparseIndex::release`] closes it once its segment is sealed
/// (a broker's open files bound its partitions: a sealed segment keeps only its log open). What
/// writes or syncs the file reopens it.
pub(crate) struct SparseIndex<E: Entry> {
    path: PathBuf,
    file: Option<File>,
    pub(crate) entries: Vec<E>,
}

impl<E: Entry> SparseIndex<E> {
    /// Opens (or creates) the index at `path`. The entries are returned as read; the caller
    /// decides whether they are trustworthy.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)?;
        let entries = raw.chunks_exact(E::SIZE).map(E::decode).collect();
        let torn = raw.len() % E::SIZE != 0;
        let mut index = SparseIndex {
            path: path.to_path_buf(),
            file: Some(file),
            entries,
        };
        if torn {
            index.rewrite()?;
        }
        Ok(index)
    }

    pub(crate) fn append(&mut self, entry: E) -> std::io::Result<()> {
        let mut buf = [0u8; 16];
        entry.encode(&mut buf[..E::SIZE]);
        self.writable()?.write_all(&buf[..E::SIZE])?;
        self.entries.push(entry);
        Ok(())
    }

    /// Replaces the file's content with the in-memory entries.
    pub(crate) fn rewrite(&mut self) -> std::io::Result<()> {
        let mut raw = vec![0u8; self.entries.len() * E::SIZE];
        for (chunk, e) in raw.chunks_exact_mut(E::SIZE).zip(&self.entries) {
            e.encode(chunk);
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &raw)?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = None;
        self.writable()?;
        Ok(())
    }

    /// The file, opened for appending if it was released.
    fn writable(&mut self) -> std::io::Result<&mut File> {
        let file = match self.file.take() {
            Some(f) => f,
            None => OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)?,
        };
        Ok(self.file.insert(file))
    }

    /// Keeps the first `len` entries, in memory and in the file (best effort: a torn file is
    /// rewritten when the index is next opened), after an append that failed.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
        if let Some(f) = &self.file
            && let Err(e) = f.set_len((len * E::SIZE) as u64)
        {
            tracing::warn!(index = %self.path.display(), error = %e, "could not cut an index back");
        }
    }

    /// Closes the file; the entries stay. For an index that no longer grows.
    pub(crate) fn release(&mut self) {
        self.file = None;
    }

    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    pub(crate) fn clear(&mut self) -> std::io::Result<()> {
        self.entries.clear();
        self.rewrite()
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        // A sync through any handle writes back the file's pages.
        match &self.file {
            Some(f) => f.sync_data(),
            None => File::open(&self.path)?.sync_data(),
        }
    }

    /// Another handle on the index file, to sync it from elsewhere.
    pub(crate) fn handle(&self) -> std::io::Result<File> {
        match &self.file {
            Some(f) => f.try_clone(),
            None => File::open(&self.path),
        }
    }

    pub(crate) fn delete(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub(crate) fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }
}

impl SparseIndex<OffsetEntry> {
    /// Position to start scanning from for `rel_offset`: the greatest entry at or below it.
    pub(crate) fn lookup(&self, rel_offset: u32) -> u32 {
        let i = self.entries.partition_point(|e| e.rel_offset <= rel_offset);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].position
        }
    }

    /// The greatest indexed batch position at or below `position` (0 when none).
    pub(crate) fn floor_position(&self, position: u64) -> u64 {
        let i = self
            .entries
            .partition_point(|e| u64::from(e.position) <= position);
        if i == 0 {
            0
        } else {
            u64::from(self.entries[i - 1].position)
        }
    }

    /// True when entries strictly increase and all point inside a log of `log_size` bytes.
    pub(crate) fn is_sane(&self, log_size: u64) -> bool {
        self.entries
            .windows(2)
            .all(|w| w[0].rel_offset < w[1].rel_offset && w[0].position < w[1].position)
            && self
                .entries
                .last()
                .is_none_or(|e| u64::from(e.position) < log_size)
    }
}

impl SparseIndex<TimeEntry> {
    /// Relative offset to start scanning from for timestamp `ts`: the last entry whose
    /// timestamp is below `ts` (every earlier batch is entirely older).
    pub(crate) fn lookup(&self, ts: i64) -> u32 {
        let i = self.entries.partition_point(|e| e.timestamp < ts);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].rel_offset
        }
    }

    pub(crate) fn is_monotonic(&self) -> bool {
        self.entries
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp && w[0].rel_offset <= w[1].rel_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.index");
        let mut idx = SparseIndex::<OffsetEntry>::open(&p).expect("open");
        idx.append(OffsetEntry {
            rel_offset: 0,
            position: 0,
        })
        .expect("a");
        idx.append(OffsetEntry {
            rel_offset: 10,
            position: 4096,
        })
        .expect("a");
        drop(idx);
        let mut raw = std::fs::read(&p).expect("read");
        raw.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&p, raw).expect("write");
        let idx = SparseIndex::<OffsetEntry>::open(&p).expect("open");
        assert_eq!(idx.entries.len(), 2);
        assert_eq!(idx.lookup(5), 0);
        assert_eq!(idx.lookup(10), 4096);
        assert_eq!(idx.lookup(99), 4096);
        assert_eq!(idx.floor_position(4095), 0);
        assert_eq!(idx.floor_position(4096), 4096);
        assert_eq!(idx.floor_position(1 << 40), 4096);
        assert!(idx.is_sane(5000));
        assert!(!idx.is_sane(4096));
    }
}
