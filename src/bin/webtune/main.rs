//! `webtune` command-line interface: the same engine as the browser build, natively.
//!
//! Every subcommand prints JSON on stdout (one object, or one per line for streams) so scripts
//! can consume it; human messages go to stderr.
//!
//! Cargo also builds this binary when the wasm integration tests are compiled for
//! `wasm32-unknown-unknown`; there it is an empty program (the CLI's dependencies are native-only).

#[cfg(not(target_family = "wasm"))]
mod cli;
#[cfg(not(target_family = "wasm"))]
mod encoder;
#[cfg(not(target_family = "wasm"))]
mod bench;
#[cfg(not(target_family = "wasm"))]
mod finetune;
#[cfg(not(target_family = "wasm"))]
mod generate;
#[cfg(not(target_family = "wasm"))]
mod search;

#[cfg(not(target_family = "wasm"))]
fn main() {
    keep_freed_memory();
    cli::main();
}

/// glibc hands every large buffer back to the kernel when it is freed (it `mmap`s allocations
/// above its threshold), so on the CPU backend each training step's tensors were fresh pages:
/// faulting them in and zeroing them costs a large share of a training run's CPU time. Serving
/// them all from the heap, and not trimming it, lets freed tensors be reused (faster steps for
/// somewhat more peak memory; BENCHMARKS.md).
#[cfg(all(not(target_family = "wasm"), target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator settings; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

#[cfg(all(not(target_family = "wasm"), not(all(target_os = "linux", target_env = "gnu"))))]
fn keep_freed_memory() {}

#[cfg(target_family = "wasm")]
fn main() {}
