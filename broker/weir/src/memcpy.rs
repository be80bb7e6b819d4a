//! Keeps glibc's memcpy off `rep movsb` on AMD CPUs.
//!
//! glibc copies blocks above 2 KiB (`glibc.cpu.x86_rep_movsb_threshold`) with `rep movsb` on
//! CPUs that advertise ERMS. On AMD Zen that instruction slows down about twentyfold when the
//! destination starts a few bytes past the source modulo the 4 KiB page (a misaligned
//! destination), where glibc's vector loop keeps its speed; newer glibc releases stop using it
//! on these CPUs, Debian 12's 2.36 does not. The broker's largest copies are of exactly that
//! kind: a producer's records, at whatever offset the request put them, into a plugin's memory
//! at whatever address its allocator chose. On this project's 2-core AMD EPYC VM one megabyte
//! lowered into the no-op plugin took ~300 us instead of ~25 us.
//!
//! Tunables are read once, when the process starts, so `weir serve` re-executes itself with the
//! tunable raised past any copy it makes when the CPU is AMD's and the environment does not set
//! the tunable already (setting it yourself, to any value, keeps yours and skips the re-exec).
//! The process keeps its PID, arguments and the rest of its environment.

/// The glibc tunable: copies from this size up use `rep movsb`.
const TUNABLE: &str = "glibc.cpu.x86_rep_movsb_threshold";

/// Re-executes this process with [`TUNABLE`] raised when that is needed and possible; returns
/// (doing nothing) otherwise, or if the exec fails, which only costs the speed.
pub(crate) fn keep_memcpy_off_rep_movsb() {
    if !cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_env = "gnu"
    )) {
        return;
    }
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains(TUNABLE) || !amd_with_erms() {
        return;
    }
    let value = if current.is_empty() {
        format!("{TUNABLE}={}", u64::MAX)
    } else {
        format!("{current}:{TUNABLE}={}", u64::MAX)
    };
    reexec(&value);
}

/// Whether `/proc/cpuinfo` names an AMD CPU with ERMS (the flag glibc goes by).
fn amd_with_erms() -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let amd = info
        .lines()
        .any(|l| l.starts_with("vendor_id") && l.ends_with("AuthenticAMD"));
    let erms = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "erms"));
    amd && erms
}

#[cfg(unix)]
fn reexec(tunables: &str) {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "weir".into());
    // `exec` only returns on failure.
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    eprintln!("weir: could not re-execute with GLIBC_TUNABLES={tunables} ({err}); going on");
}

#[cfg(not(unix))]
fn reexec(_tunables: &str) {}
