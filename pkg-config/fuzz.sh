#!/usr/bin/env bash
# Runs coverage-guided fuzz targets (tests/fuzz: cargo fuzz + libFuzzer, debug assertions and
# overflow checks on) from seeds made of the test fixtures:
#   pkg-config/fuzz.sh TARGET SECONDS     one target
#   pkg-config/fuzz.sh all SECONDS        every target, SECONDS each
# Targets: data model_folder gguf tokenizer chat_template checkpoint. An input that panics,
# aborts, runs longer than 10 s or takes more than 4 GB is a finding: it is saved under
# $WEBTUNE_FUZZ_HOME/artifacts/TARGET/ (default ~/.cache/webtune/fuzz) and the script fails.
# The corpus grows in $WEBTUNE_FUZZ_HOME/corpus/TARGET between runs. cargo-fuzz needs nightly
# flags: the stable toolchain allows them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"
TARGETS=(data model_folder gguf tokenizer chat_template checkpoint)
if [ $# -ne 2 ]; then
  echo "usage: $0 TARGET|all SECONDS   (targets: ${TARGETS[*]})" >&2
  exit 2
fi
[ "$1" = all ] && targets=("${TARGETS[@]}") || targets=("$1")
seconds="$2"
HOME_DIR="${WEBTUNE_FUZZ_HOME:-$HOME/.cache/webtune/fuzz}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "cargo install cargo-fuzz (once)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

SEP=$'\n--8<--\n'
# The seed inputs of `target` (rewritten each run, from the fixtures), in $HOME_DIR/seeds/target.
seeds() {
  local dir="$HOME_DIR/seeds/$1" bert=tests/fixtures/bert llama=tests/fixtures/llama encoders=tests/fixtures/encoders
  rm -rf "$dir" && mkdir -p "$dir"
  case "$1" in
    data)
      printf '\0text,label\na fine film,good\n"quoted, comma",bad\n' >"$dir/csv"
      printf '\1text\tlabel\ttext_pair\nfine\tgood\tx\n' >"$dir/tsv"
      printf '\2{"text": "fine", "label": "good"}\n{"prompt": "a", "completion": "b", "text": "c"}\n' >"$dir/jsonl"
      printf '\3[{"text": "fine", "label": 1}, {"text": "bad", "label": 0}]' >"$dir/json"
      printf '\5-DOCSTART- O\n\nEU NNP B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\n' >"$dir/conll"
      printf '\6{"tokens": ["Bonn", "is"], "ner_tags": ["S-LOC", "O"]}\n' >"$dir/tagged"
      printf '\7{"data": [{"paragraphs": [{"context": "Zoe wrote it.", "qas": [{"id": "a", "question": "Who?", "answers": [{"text": "Zoe", "answer_start": 0}]}]}]}]}' >"$dir/squad" ;;
    model_folder)
      { cat $bert/tiny-cls3/config.json; printf '%s' "$SEP"; cat $bert/tiny-cls3/model.safetensors; printf '%s' "$SEP"; cat $bert/tokenizer.json; } >"$dir/bert"
      { cat $llama/tiny/config.json; printf '%s' "$SEP"; cat $llama/tiny/model.safetensors; printf '%s' "$SEP"; cat $llama/train-steps/tokenizer.json; } >"$dir/llama"
      for family in roberta distilbert; do
        { cat $encoders/$family/config.json; printf '%s' "$SEP"; cat $encoders/$family/model.safetensors; printf '%s' "$SEP"; cat $encoders/$family/tokenizer.json; } >"$dir/$family"
      done
      { cat tests/fixtures/gpt2/tiny/config.json; printf '%s' "$SEP"; cat tests/fixtures/gpt2/tiny/model.safetensors; printf '%s' "$SEP"; cat tests/fixtures/gpt2/tiny/tokenizer.json; } >"$dir/gpt2" ;;
    gguf)
      node --input-type=module -e "
        import { writeFileSync } from 'node:fs';
        import { gguf, tinyLlama } from '$ROOT/tests/js/hostile-files.mjs';
        writeFileSync('$dir/tiny.gguf', gguf(tinyLlama()));" ;;
    tokenizer)
      { printf '\x40\0'; cat $bert/tokenizer.json; } >"$dir/bert"
      { printf '\x08\0'; cat $llama/train-steps/tokenizer.json; } >"$dir/llama"
      { printf '\x40\0'; cat $encoders/xlm-roberta/tokenizer.json; } >"$dir/xlm-roberta" ;;
    chat_template)
      printf '%s' "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}" >"$dir/chatml"
      printf '%s' "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}{% endif %}[{{ m.role | upper }}] {{ m.content | trim }}{{ eos_token }}{% endfor %}" >"$dir/filters" ;;
    checkpoint)
      local work; work="$(mktemp -d)"
      printf 'text,label\na fine film,good\ndull,bad\nwarm,good\nboring,bad\n' >"$work/d.csv"
      mkdir "$work/model" && cp $bert/tiny-cls3/config.json $bert/tiny-cls3/model.safetensors $bert/tokenizer.json "$work/model/"
      cargo run --quiet --bin webtune -- train --model "$work/model" --data "$work/d.csv" --out "$work/out" --device cpu \
        --epochs 1 --batch-size 2 --validation-split 0 --checkpoint-every 1 >/dev/null
      local last; last="$(ls -d "$work"/out/checkpoints/checkpoint-* | head -1)"
      { cat "$last/trainer_state.json"; printf '%s' "$SEP"; cat "$last/optimizer.safetensors"; } >"$dir/tiny"
      rm -rf "$work" ;;
    *) echo "unknown fuzz target $1 (targets: ${TARGETS[*]})" >&2; exit 2 ;;
  esac
}

for target in "${targets[@]}"; do
  seeds "$target"
  case "$target" in model_folder | tokenizer) max_len=400000 ;; gguf) max_len=100000 ;; *) max_len=65536 ;; esac
  mkdir -p "$HOME_DIR/corpus/$target" "$HOME_DIR/artifacts/$target"
  step "fuzz $target for $seconds s (corpus: $HOME_DIR/corpus/$target)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz --sanitizer none --debug-assertions --target-dir "$CARGO_TARGET_DIR/fuzz" \
    "$target" "$HOME_DIR/corpus/$target" "$HOME_DIR/seeds/$target" -- \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$HOME_DIR/artifacts/$target/"
done
