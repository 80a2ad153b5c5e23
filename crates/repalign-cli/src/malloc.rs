//! Process-wide allocator settings for programs that run the teachers on the CPU: the
//! `repalign` binary, and the benchmark (`crates/repalign/examples/bench_step.rs`
//! includes this file), call [`tune_for_tensors`] first thing in `main`. The library
//! never does: a library must not change its user's allocator behind their back.
//!
//! Every burn op on the CPU backend writes a fresh buffer, and a training step allocates
//! and frees hundreds of them, tens of megabytes each. glibc serves blocks above a
//! moving threshold with `mmap` and gives them back with `munmap`, so each step maps and
//! zero-fills (page-faults) the same memory again. Raising the threshold to its maximum
//! and not trimming the heap keeps freed buffers for the next op. Peak memory is
//! unchanged (it is reached within a step either way); memory freed after the peak
//! stays with the process instead of going back to the system.

/// Blocks up to this size come from the heap: glibc's maximum for `M_MMAP_THRESHOLD`
/// on 64-bit targets (larger values are refused).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of the heap is returned to the system only above this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;
/// Extra memory asked of the system each time the heap grows, so it grows rarely.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 256 << 20;

/// Tunes glibc's `malloc` for the many large, short-lived tensor buffers of a training
/// step (see the module docs), all settings or none. Returns whether they were applied:
/// `false` on other C libraries and operating systems, where it does nothing.
pub fn tune_for_tensors() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets allocator parameters; these three are documented
        // as settable at any time. All or none: the mmap threshold is the one glibc may
        // refuse (it caps it), so it goes first and nothing follows a refusal; glibc
        // accepts any non-negative trim threshold and top pad.
        unsafe {
            if libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 {
                return false;
            }
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
