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
fn main() {
    cli::main();
}

#[cfg(target_family = "wasm")]
fn main() {}
