#!/usr/bin/env bash
# Benchmarks, each side by side with the reference in one run (BENCHMARKS.md has method + numbers).
#
#   pkg-config/bench.sh encoder     MiniLM inference latency: PyTorch CPU (2 threads), webtune
#                                   native CPU + wgpu; in one Chromium run webtune and
#                                   transformers.js (npm, local ONNX export), each on WebGPU + CPU
#   pkg-config/bench.sh step        MiniLM full fine-tuning step time, batch 16 x 64 tokens: PyTorch
#                                   CPU (2 threads), webtune native CPU + wgpu, webtune in Chromium
#                                   on WebGPU + CPU (~35 min on 2 cores: software GPUs are slow)
#   pkg-config/bench.sh finetune    MiniLM fine-tuned on 4,000 SST-2 rows, 2 seeds: dev accuracy,
#                                   training time, median step time of webtune (native CPU) and
#                                   PyTorch (CPU, 2 threads); webtune's export re-evaluated in
#                                   transformers (~45 min on 2 cores)
#   pkg-config/bench.sh lora        SmolLM2-135M-Instruct (GGUF) LoRA (rank 8, q_proj/v_proj) on 64
#                                   Alpaca rows, 16 steps, 2 seeds: held-out loss on 32 other rows
#                                   before and after, webtune (native CPU) vs transformers + PEFT
#                                   (CPU, 2 threads); bar: mean after-loss within 0.015
#   pkg-config/bench.sh ner|qa|mlm  MiniLM trained for an encoder task, 3 seeds, webtune (native CPU)
#                                   vs transformers + PyTorch (CPU, 2 threads), same recipe
#                                   (tests/reference/bench_tasks.py): ner — entity F1 on CoNLL-2003
#                                   dev; qa — SQuAD EM/F1; mlm — held-out MLM loss drop on SST-2
#   pkg-config/bench.sh generate    SmolLM2-135M-Instruct (the Q4_1 GGUF) text generation in one
#                                   Chromium run: webtune's CPU path and WebGPU vs wllama (npm,
#                                   llama.cpp in wasm, one thread and two): time to first token,
#                                   decode tokens/s (medians of 5), webtune's wasm memory
#   pkg-config/bench.sh generate-gemma   the same with Google's Gemma 3 270M Q4_K_M GGUF (fetched
#                                   by pkg-config/models.mjs into the model cache)
#   pkg-config/bench.sh qlora       LoRA (rank 8, q/v, batch 4 × up to 256 tokens, 16 Alpaca rows)
#                                   on SmolLM2-135M's Q4_1 GGUF, the base kept quantized (also with
#                                   gradient checkpointing) and widened to f32 (--dequantize-base),
#                                   side by side: native CLI (CPU: peak resident memory, time per
#                                   step, the plan), then in Chromium on the CPU path (wasm memory,
#                                   time per step); then Gemma 3 270M Q4_K_M and a random
#                                   Qwen2.5-0.5B-shaped model both ways in Chromium (~40 min)
#   pkg-config/bench.sh llamacpp    llama.cpp (llama-cpp-python 0.3.36, built from PyPI's source
#                                   into ~/.cache/webtune/llamacpp-venv) loads webtune's adapter
#                                   GGUF onto SmolLM2's GGUF: greedy continuations, webtune vs
#                                   llama.cpp, with and without the adapter, and top-10 logits
#   pkg-config/bench.sh recipe      MiniLM on 2,000 SST-2 rows: webtune, then its `webtune recipe`
#                                   in transformers' Trainer (its own order, and webtune's):
#                                   dev loss and accuracy side by side
#   pkg-config/bench.sh recipe-lm   SmolLM2 LoRA on 64 Alpaca rows (bench_lora.py's run): webtune,
#                                   then its recipe in the Trainer + PEFT: held-out loss side by side
#   pkg-config/bench.sh fewshot     8, 16 and 32 SST-2 rows per class (3 seeds): SetFit in webtune
#                                   and in the setfit library, and webtune's plain fine-tuning, on
#                                   MiniLM; dev accuracy side by side (tests/reference/bench_fewshot.py)
#   pkg-config/bench.sh augment     plain fine-tuning with and without each augmentation (swap,
#                                   delete; substitute and insert given a masked LM: WEBTUNE_AUGMENT_MLM,
#                                   or the one `augment-mlm` made) at 64/128/256 SST-2 rows, 3 seeds,
#                                   dev accuracy (tests/reference/bench_augment.py)
#   pkg-config/bench.sh augment-mlm the masked LM that fills `augment`'s substitute and insert:
#                                   MiniLM with a fresh head trained on SST-2's text by webtune
#                                   (~/.cache/webtune/augment-mlm; tests/reference/make_augment_mlm.py)
#   pkg-config/bench.sh active      active learning: `webtune rank` (entropy) vs random choice, 5
#                                   rounds of 32 labels from a 2,000-row SST-2 pool, dev accuracy
#                                   per round (tests/reference/bench_active.py)
#   pkg-config/bench.sh adapters    one SmolLM2 Q4_1 base in Chromium with two LoRA adapters
#                                   attached at run time (PEFT and GGUF; trained first by the CLI):
#                                   wasm memory before and after, decoding speed with and without
#   pkg-config/bench.sh soak        resources in Chromium: 200 pipeline load/dispose cycles on
#                                   WebGPU, fine-tuning runs of 100 and 1,000 steps on WebGPU
#                                   and the CPU path; wasm memory and live GPU buffers must not grow past the
#                                   bounds in tests/bench/soak.mjs (RELIABILITY.md)
#
# Prints JSON lines, then a markdown table (encoder: each median's ratio to PyTorch's).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/pkg-config/env.sh"
cd "$ROOT"
what="${1:-encoder}"
out="$(mktemp)"

# MiniLM from the assets, the reference venv ($py), the native CLI and the wasm package. Native is
# the test build (dev profile, every dependency — Burn, CubeCL, wgpu — at opt-level 3; only
# webtune's thin glue at opt-level 1), so no third Burn build is needed.
prepare_minilm() {
  model="$WEBTUNE_ASSETS/models/all-MiniLM-L6-v2"
  [ -f "$model/model.safetensors" ] || { echo "bench: $model not found (set WEBTUNE_ASSETS)" >&2; exit 1; }
  "$ROOT/pkg-config/setup.sh"
  py="$("$ROOT/tests/reference/setup.sh")"
  step "build (native CLI, wasm package)"
  cargo build --bin webtune
  "$ROOT/pkg-config/build.sh" >/dev/null
}

# A reference script in the venv that runs both sides, webtune through the native CLI: script,
# title, then the script's own arguments (default: seeds 0, 1).
reference_and_cli() {
  py="$("$ROOT/tests/reference/setup.sh")"
  step "build (native CLI)"
  cargo build --bin webtune
  # a copy: a build during the (long) run would replace the binary under it
  local bin
  bin="$(mktemp -d)/webtune"
  cp "$CARGO_TARGET_DIR/debug/webtune" "$bin"
  step "$2"
  local script="$1"
  shift 2
  exec "$py" "tests/reference/$script" "${@:---seeds=0,1}" --webtune "$bin"
}

case "$what" in
  encoder)
    prepare_minilm
    step "PyTorch CPU, 2 threads"
    "$py" tests/reference/bench_encoder.py --model "$model" --threads 2 | tee -a "$out"
    for dev in cpu gpu; do
      step "webtune native $dev"
      "$CARGO_TARGET_DIR/debug/webtune" bench encoder --model "$model" --device "$dev" | tee -a "$out"
    done
    step "transformers.js (npm) and an ONNX export of the same model"
    (cd tests/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund --loglevel=error)
    onnx="${WEBTUNE_ONNX:-$HOME/.cache/webtune/onnx}/all-MiniLM-L6-v2"
    "$py" tests/reference/export_onnx.py --model "$model" --out "$onnx"
    step "in Chromium: webtune and transformers.js, on WebGPU and on the CPU (wasm)"
    node tests/bench/encoder.mjs --engines webtune,transformers.js --onnx "$onnx" | tee -a "$out"
    ;;
  step)
    prepare_minilm
    step "PyTorch CPU (2 threads), webtune native CPU + wgpu"
    "$py" tests/reference/bench_step.py --webtune "$CARGO_TARGET_DIR/debug/webtune" | tee -a "$out"
    step "webtune in Chromium (WebGPU, CPU)"
    node tests/bench/step.mjs | tee -a "$out"
    ;;
  finetune)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_finetune.py "PyTorch and webtune, seeds 0 and 1"
    ;;
  recipe)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_recipe.py "webtune and its recipe in transformers' Trainer, seeds 0 and 1"
    ;;
  recipe-lm)
    [ -f "$WEBTUNE_ASSETS/data/chat/alpaca_5000.json" ] || { echo "bench: alpaca_5000.json not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_recipe.py "SmolLM2 LoRA in webtune and its recipe in transformers' Trainer + PEFT, seeds 0 and 1" --seeds=0,1 --task=text-generation
    ;;
  fewshot)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_fewshot.py "SetFit in webtune and in setfit, and plain fine-tuning, at 8/16/32 SST-2 rows per class" --seeds=0,1,2
    ;;
  augment)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    mlm="${WEBTUNE_AUGMENT_MLM:-$HOME/.cache/webtune/augment-mlm}"
    mlm_arg="--mlm=$mlm"
    if [ -z "${WEBTUNE_AUGMENT_MLM:-}" ] && [ ! -f "$mlm/config.json" ]; then
      mlm_arg=""
      echo "bench: no masked LM at $mlm: substitute and insert are left out (make one: pkg-config/bench.sh augment-mlm)" >&2
    fi
    reference_and_cli bench_augment.py "fine-tuning with and without augmentation at 64/128/256 SST-2 rows" --seeds=0,1,2 ${mlm_arg:+"$mlm_arg"}
    ;;
  augment-mlm)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli make_augment_mlm.py "the masked LM for augment's substitute and insert: MiniLM + a fresh head, trained on SST-2's text" --rows=19200
    ;;
  active)
    [ -f "$WEBTUNE_ASSETS/data/sst2/train.tsv" ] || { echo "bench: SST-2 not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_active.py "label these next (entropy) vs random, 5 rounds of 32 labels from 2,000 SST-2 rows" --seeds=0,1,2
    ;;
  lora)
    [ -f "$WEBTUNE_ASSETS/data/chat/alpaca_5000.json" ] || { echo "bench: Alpaca not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    [ -f "$WEBTUNE_ASSETS/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" ] || { echo "bench: SmolLM2 GGUF not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    reference_and_cli bench_lora.py "PEFT and webtune LoRA, seeds 0 and 1"
    ;;
  ner|qa|mlm)
    for f in conll2003/train.txt squad/train.json sst2/train.tsv; do
      [ -f "$WEBTUNE_ASSETS/data/$f" ] || { echo "bench: data/$f not found under $WEBTUNE_ASSETS" >&2; exit 1; }
    done
    reference_and_cli bench_tasks.py "PyTorch and webtune $what, seeds 0, 1 and 2" "$what" --seeds 0,1,2
    ;;
  generate|generate-gemma)
    "$ROOT/pkg-config/setup.sh"
    "$ROOT/pkg-config/build.sh" >/dev/null
    step "wllama (npm)"
    (cd tests/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund --loglevel=error)
    model=()
    if [ "$what" = generate-gemma ]; then
      dir="$(node pkg-config/models.mjs gemma-3-270m | cut -f2)"
      model=(--model "$dir/gemma-3-270m-q4_k_m.gguf")
    fi
    step "in Chromium: webtune (CPU path, WebGPU) and wllama (one thread, two)"
    node tests/bench/generate.mjs "${model[@]}" "${@:2}" | tee "$out"
    step "summary (medians; ratio = webtune / wllama, decode: higher is better)"
    node -e '
      const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse).filter((r) => r.engine);
      const ref = rows.find((r) => r.engine === "wllama");
      console.log("| engine | device | new tokens | time to first token ms | decode tokens/s | × wllama decode | wasm memory MB |");
      console.log("|---|---|---|---|---|---|---|");
      for (const r of rows) {
        const vs = ref ? (r.decodeTokensPerSecond / ref.decodeTokensPerSecond).toFixed(2) : "–";
        const mb = r.wasmBytes ? (r.wasmBytes / 1e6).toFixed(0) : "–";
        console.log(`| ${r.engine} | ${r.device} | ${r.newTokens} | ${r.ttftMs.toFixed(0)} | ${r.decodeTokensPerSecond.toFixed(2)} | ${vs} | ${mb} |`);
      }
    ' "$out"
    rm -f "$out"
    exit 0
    ;;
  qlora)
    gguf="$WEBTUNE_ASSETS/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    alpaca="$WEBTUNE_ASSETS/data/chat/alpaca_5000.json"
    for f in "$gguf" "$alpaca"; do [ -f "$f" ] || { echo "bench: $f not found (set WEBTUNE_ASSETS)" >&2; exit 1; }; done
    command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time (GNU time) measures peak memory; install it (Debian: time)" >&2; exit 1; }
    "$ROOT/pkg-config/setup.sh"
    step "build (native CLI, wasm package)"
    cargo build --bin webtune
    "$ROOT/pkg-config/build.sh" >/dev/null
    work="$(mktemp -d)"
    node -e 'const fs = require("fs"); fs.writeFileSync(process.argv[2], JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1], "utf8")).slice(0, 16)))' "$alpaca" "$work/train.json"
    # the base kept quantized, the same with gradient checkpointing, the base widened to f32
    flags() { case "$1" in f32) echo --dequantize-base ;; checkpointed) echo --gradient-checkpointing ;; esac; }
    for run in quantized checkpointed f32; do
      step "native CLI, CPU, $run"
      /usr/bin/time -f "peak_resident_kb=%M" -o "$work/time" "$CARGO_TARGET_DIR/debug/webtune" train --task text-generation --model "$gguf" \
        --data "$work/train.json" --validation-split 0 --device cpu --lora-rank 8 --peft --epochs 1 --batch-size 4 --max-length 256 \
        --learning-rate 1e-3 --log-every 1 --json --out "$work/out-$run" $(flags "$run") > "$work/events-$run"
      node -e '
        const fs = require("fs");
        const ev = fs.readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
        const start = ev.find((e) => e.type === "start"), steps = ev.filter((e) => e.type === "step");
        const kb = Number(fs.readFileSync(process.argv[2], "utf8").match(/peak_resident_kb=(\d+)/)[1]);
        const ms = steps.map((s) => s.stepMs).sort((x, y) => x - y);
        console.log(JSON.stringify({ engine: "webtune native", device: "cpu", run: process.argv[3], steps: steps.length, losses: steps.map((s) => +s.loss.toFixed(4)),
          medianStepMs: ms[ms.length >> 1], peakResidentMB: Math.round(kb * 1.024 / 1000), plannedMB: Math.round(start.memory.totalBytes / 1e6), plannedWeightsMB: Math.round(start.memory.weightBytes / 1e6) }));
      ' "$work/events-$run" "$work/time" "$run" | tee -a "$out"
    done
    for run in quantized checkpointed f32; do
      step "in Chromium, CPU path, $run"
      node tests/bench/lora_browser.mjs --model "$gguf" --alpaca "$alpaca" --max-length 256 $(flags "$run") | tail -1 | tee -a "$out"
    done
    dir="$(node pkg-config/models.mjs gemma-3-270m | cut -f2)"
    for run in quantized f32; do
      step "in Chromium, CPU path: Gemma 3 270M Q4_K_M, $run"
      node tests/bench/lora_browser.mjs --model "$dir/gemma-3-270m-q4_k_m.gguf" $(flags "$run") | tail -1 | tee -a "$out"
    done
    qwen="$HOME/.cache/webtune/bench/qwen2.5-0.5b-shaped-random.Q4_K_M-like.gguf"
    [ -f "$qwen" ] || "$("$ROOT/tests/reference/setup.sh")" tests/reference/make_qwen_shaped_model.py "$qwen"
    for run in quantized f32; do
      step "in Chromium, CPU path: a random Qwen2.5-0.5B-shaped Q4_K_M-like model, $run (8 rows: 2 steps)"
      node tests/bench/lora_browser.mjs --model "$qwen" --rows 8 $(flags "$run") | tail -1 | tee -a "$out"
    done
    rm -rf "$work"
    exit 0
    ;;
  llamacpp)
    venv="$HOME/.cache/webtune/llamacpp-venv"
    if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
      step "llama-cpp-python 0.3.36 (builds llama.cpp; ~10 min on 2 cores)"
      python3 -m venv "$venv"
      "$venv/bin/pip" install -q cmake ninja
      CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
        "$venv/bin/pip" install -q llama-cpp-python==0.3.36
    fi
    step "build (native CLI)"
    cargo build --bin webtune
    step "webtune's adapter GGUF in llama.cpp"
    exec "$venv/bin/python" tests/reference/check_llama_cpp_adapter.py --webtune "$CARGO_TARGET_DIR/debug/webtune"
    ;;
  adapters)
    gguf="$WEBTUNE_ASSETS/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    [ -f "$gguf" ] || { echo "bench: $gguf not found (set WEBTUNE_ASSETS)" >&2; exit 1; }
    "$ROOT/pkg-config/setup.sh"
    step "build (native CLI, wasm package)"
    cargo build --bin webtune
    "$ROOT/pkg-config/build.sh" >/dev/null
    work="$(mktemp -d)"
    head -40 www/samples/shop-faq.jsonl > "$work/train.jsonl"
    step "an adapter: LoRA rank 8 on every projection, 40 FAQ rows, 2 epochs (native CLI)"
    "$CARGO_TARGET_DIR/debug/webtune" train --task text-generation --model "$gguf" --data "$work/train.jsonl" --validation-split 0 \
      --device cpu --lora-rank 8 --lora-targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --peft --gguf-lora \
      --epochs 2 --batch-size 4 --learning-rate 2e-3 --max-length 128 --out "$work/out" > /dev/null
    step "in Chromium, CPU path: the base, then both adapters on it"
    node tests/bench/adapters_browser.mjs --model "$gguf" --peft "$work/out" --gguf-adapter "$work/out/adapter.gguf"
    rm -rf "$work"
    exit 0
    ;;
  soak)
    "$ROOT/pkg-config/setup.sh"
    "$ROOT/pkg-config/build.sh" >/dev/null
    step "resource soak in Chromium"
    exec node tests/bench/soak.mjs
    ;;
  *) echo "usage: pkg-config/bench.sh encoder|step|finetune|lora|ner|qa|mlm|generate|generate-gemma|qlora|llamacpp|adapters|recipe|recipe-lm|fewshot|augment|augment-mlm|active|soak" >&2; exit 2 ;;
esac

step "summary (median ms; ratio = webtune / PyTorch, lower is better)"
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const ref = Object.fromEntries(rows.filter((r) => r.engine === "pytorch").map((r) => [r.batch, r.median_ms]));
  const tjs = {};   // the faster transformers.js device per batch size
  for (const r of rows) if (r.engine === "transformers.js" && !r.error) tjs[r.batch] = Math.min(tjs[r.batch] ?? Infinity, r.median_ms);
  console.log("| engine | device | batch × seq | first call ms | median ms | × PyTorch | × faster transformers.js |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    if (r.error) { console.log(`| ${r.engine} | ${r.device} | – | failed: ${r.error} | | | |`); continue; }
    const vs = tjs[r.batch] ? (r.median_ms / tjs[r.batch]).toFixed(2) : "–";
    console.log(`| ${r.engine} | ${r.device} | ${r.batch} × ${r.seq} | ${r.first_ms.toFixed(1)} | ${r.median_ms.toFixed(1)} | ${(r.median_ms / ref[r.batch]).toFixed(2)} | ${vs} |`);
  }
' "$out"
rm -f "$out"
