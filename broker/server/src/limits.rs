//! The process's open-file limit.
//!
//! Every partition keeps its segment files open (the active segment's log and its two
//! indexes, and each older segment's log), so `RLIMIT_NOFILE` bounds how many partitions a broker
//! can host. Many systems start processes with a soft limit of 1024 under a far higher hard
//! limit. The JVM raises its own soft limit to the hard one at start (`-XX:+MaxFDLimit`, on by
//! default), so Kafka runs with the hard limit; [`raise_open_file_limit`] does the same for
//! Weir. [`check_room_for_partitions`] refuses new partitions that would run out of files
//! instead of creating a topic half of whose logs cannot be opened.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::error::{Error, Result};

/// Files a new partition opens: its first segment's log, offset index and time index.
pub(crate) const FILES_PER_NEW_PARTITION: u64 = 3;

/// Files kept free for what else a broker opens while it runs: client connections, segment
/// rolls, snapshots, the files of an HTTP request.
pub(crate) const RESERVED_FILES: u64 = 128;

/// The soft open-file limit before and after [`raise_open_file_limit`]; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Raises the soft open-file limit to the hard limit. A hard limit of "unlimited" is capped at
/// the kernel's `fs.nr_open`, the most `setrlimit` accepts; where that is unknown the limit is
/// left as it is.
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let target = maximum.or_else(nr_open);
    let unchanged = OpenFileLimit {
        before: current,
        after: current,
    };
    let (Some(now), Some(target)) = (current, target) else {
        // Already unlimited, or no known ceiling to raise it to.
        return Ok(unchanged);
    };
    if target <= now {
        return Ok(unchanged);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum,
        },
    )?;
    Ok(OpenFileLimit {
        before: current,
        after: Some(target),
    })
}

/// The kernel's ceiling for a process's open files (Linux's `/proc/sys/fs/nr_open`).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The soft open-file limit; `None` when unlimited.
pub(crate) fn open_file_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// The files this process has open, where the system says (`/proc/self/fd`).
pub(crate) fn open_files() -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(dir.count() as u64)
}

/// Refuses `partitions` new partitions on this broker when their files would not fit under
/// the open-file limit, with [`RESERVED_FILES`] kept free. Where the limit or the count of
/// open files is unknown, nothing is refused.
pub(crate) fn check_room_for_partitions(partitions: usize) -> Result<()> {
    if partitions == 0 {
        return Ok(());
    }
    let Some(limit) = open_file_limit() else {
        return Ok(());
    };
    let Some(open) = open_files() else {
        return Ok(());
    };
    let needed = partitions as u64 * FILES_PER_NEW_PARTITION;
    if open + needed + RESERVED_FILES > limit {
        return Err(Error::OpenFileLimit {
            partitions,
            needed,
            open,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers_the_limit_and_is_idempotent() {
        let before = getrlimit(Resource::Nofile);
        let first = raise_open_file_limit().expect("raise");
        let second = raise_open_file_limit().expect("raise again");
        let after = getrlimit(Resource::Nofile);
        assert_eq!(first.before, before.current);
        assert_eq!(after.current, first.after);
        assert_eq!(
            second.before, second.after,
            "a second raise changes nothing"
        );
        assert_eq!(
            after.maximum, before.maximum,
            "the hard limit is left alone"
        );
        if let (Some(b), Some(a)) = (before.current, after.current) {
            assert!(a >= b);
        }
    }

    #[test]
    fn a_few_partitions_fit_and_an_impossible_number_does_not() {
        check_room_for_partitions(0).expect("nothing to open");
        check_room_for_partitions(1).expect("one partition fits");
        if let Some(limit) = getrlimit(Resource::Nofile).current {
            let too_many = (limit / FILES_PER_NEW_PARTITION + 1) as usize;
            let err = check_room_for_partitions(too_many).expect_err("cannot fit");
            assert_eq!(
                err.kafka_code(),
                weir_protocol::kafka::ResponseError::PolicyViolation.code()
            );
            let text = err.to_string();
            assert!(text.contains(&format!("limit of {limit}")), "{text}");
            assert!(text.contains("ulimit -n"), "{text}");
        }
    }
}
