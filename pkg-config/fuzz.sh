#!/usr/bin/env bash
# Runs coverage-guided fuzz targets (tests/fuzz: cargo fuzz + libFuzzer, debug assertions and
# overflow checks on) from seeds made of the test fixtures. CI does not run this (its instrumented
# build of Burn takes ~36 min from nothing): it replays the seeds and the stored corpus through the
# same targets in the ordinary test build (tests/fuzz_replay.rs, part of `cargo test`).
#   pkg-config/fuzz.sh TARGET SECONDS     one target
#   pkg-config/fuzz.sh all SECONDS        every target, SECONDS each
# Targets: data model_folder gguf tokenizer chat_template checkpoint setfit_head. An input that panics,
# aborts, runs longer than 10 s or takes more than 4 GB is a finding: it is saved under
# $WEBTUNE_FUZZ_HOME/artifacts/TARGET/ (default ~/.cache/webtune/fuzz) and the script fails.
# The corpus grows in $WEBTUNE_FUZZ_HOME/corpus/TARGET between runs. cargo-fuzz needs nightly
# flags: the stable toolchain allows them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"
TARGETS=(data model_folder gguf tokenizer chat_template checkpoint setfit_head)
if [ $# -ne 2 ]; then
  echo "usage: $0 TARGET|all SECONDS   (targets: ${TARGETS[*]})" >&2
  exit 2
fi
case " ${TARGETS[*]} all " in *" $1 "*) ;; *) echo "unknown fuzz target $1 (targets: ${TARGETS[*]})" >&2; exit 2 ;; esac
[ "$1" = all ] && targets=("${TARGETS[@]}") || targets=("$1")
seconds="$2"
HOME_DIR="${WEBTUNE_FUZZ_HOME:-$HOME/.cache/webtune/fuzz}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "cargo install cargo-fuzz (once)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

# The seed inputs, made of the test fixtures by the replay test (tests/fuzz_replay.rs), which
# also runs every target over them and over the stored corpus.
step "seeds from the fixtures (tests/fuzz_replay.rs)"
rm -rf "$HOME_DIR/seeds"
WEBTUNE_FUZZ_HOME="$HOME_DIR" WEBTUNE_FUZZ_WRITE_SEEDS="$HOME_DIR/seeds" cargo test --quiet --test fuzz_replay

for target in "${targets[@]}"; do
  case "$target" in model_folder | tokenizer) max_len=400000 ;; gguf) max_len=100000 ;; *) max_len=65536 ;; esac
  mkdir -p "$HOME_DIR/corpus/$target" "$HOME_DIR/artifacts/$target"
  step "fuzz $target for $seconds s (corpus: $HOME_DIR/corpus/$target)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none --debug-assertions --target-dir "$CARGO_TARGET_DIR/fuzz" \
    "$target" "$HOME_DIR/corpus/$target" "$HOME_DIR/seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$HOME_DIR/artifacts/$target/"
done
