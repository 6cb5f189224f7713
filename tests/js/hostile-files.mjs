// Hostile model files for the browser share of the hostile-input suite (tests/hostile.rs has the
// native one): broken variants of the tiny BERT fixture and of a tiny GGUF Llama, written to a
// folder that the test server mounts. The GGUF writer mirrors tests/common/gguf.rs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; };
const str = (s) => { const b = Buffer.from(s, "utf8"); return Buffer.concat([u64(b.length), b]); };

/** GPT-2's byte → printable character table, the vocabulary of byte-level BPE. */
function byteChars() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 255 + ++extra));
}

const values = (n, seed) => Buffer.concat(Array.from({ length: n }, (_, i) => f32(((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5)));

/** The tiny Llama of tests/common/gguf.rs as { metadata: [[key, type, payload]], tensors: [{ name, dims, kind, data }] }. */
export function tinyLlama() {
  const s = (v) => [8, str(v)];
  const n = (v) => [4, u32(v)];
  const strs = (list) => [9, Buffer.concat([u32(8), u64(list.length), ...list.map(str)])];
  const metadata = Object.entries({
    "general.architecture": s("llama"), "llama.block_count": n(1), "llama.embedding_length": n(8), "llama.feed_forward_length": n(16),
    "llama.attention.head_count": n(2), "llama.attention.head_count_kv": n(1), "llama.context_length": n(64),
    "llama.attention.layer_norm_rms_epsilon": [6, f32(1e-5)], "tokenizer.ggml.model": s("gpt2"), "tokenizer.ggml.tokens": strs(byteChars()),
    "tokenizer.ggml.merges": strs([]), "tokenizer.ggml.bos_token_id": n(0), "tokenizer.ggml.eos_token_id": n(1),
  }).map(([k, [type, payload]]) => [k, type, payload]);
  const t = (name, dims, seed) => ({ name, dims, kind: 0, data: values(dims.reduce((a, b) => a * b, 1), seed) });
  const tensors = [
    t("token_embd.weight", [8, 256], 1), t("output_norm.weight", [8], 2), t("blk.0.attn_norm.weight", [8], 3),
    t("blk.0.attn_q.weight", [8, 8], 4), t("blk.0.attn_k.weight", [8, 4], 5), t("blk.0.attn_v.weight", [8, 4], 6),
    t("blk.0.attn_output.weight", [8, 8], 7), t("blk.0.ffn_norm.weight", [8], 8), t("blk.0.ffn_gate.weight", [8, 16], 9),
    t("blk.0.ffn_up.weight", [8, 16], 10), t("blk.0.ffn_down.weight", [16, 8], 11),
  ];
  return { metadata, tensors };
}

/** The file's bytes; `set` replaces or adds metadata entries ([key, type, payload]). */
export function gguf({ metadata, tensors }, set = []) {
  const meta = [...metadata.filter(([k]) => !set.some(([s]) => s === k)), ...set];
  const parts = [Buffer.from("GGUF"), u32(3), u64(tensors.length), u64(meta.length)];
  for (const [key, type, payload] of meta) parts.push(str(key), u32(type), payload);
  let offset = 0;
  for (const t of tensors) {
    parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.kind), u64(offset));
    offset += Math.ceil(t.data.length / 32) * 32;
  }
  let bytes = Buffer.concat(parts);
  for (const t of tensors) {
    bytes = Buffer.concat([bytes, Buffer.alloc((32 - (bytes.length % 32)) % 32), t.data]);
  }
  return bytes;
}

/** A copy of the tiny Llama with tensor `name` changed by `f`. */
export function withTensor(name, f) {
  const model = tinyLlama();
  f(model.tensors.find((t) => t.name === name));
  return model;
}

/** The tiny-cls3 safetensors with the first value of `tensor` set to `value`. */
function safetensorsWith(bytes, tensor, value) {
  const out = Buffer.from(bytes);
  const headerLen = Number(out.readBigUInt64LE(0));
  const header = JSON.parse(out.subarray(8, 8 + headerLen).toString("utf8"));
  out.writeFloatLE(value, 8 + headerLen + header[tensor].data_offsets[0]);
  return out;
}

/**
 * Writes the hostile files into `dir`: `good.gguf` and `{case}.gguf`, `config-{case}.json`,
 * `weights-{case}.safetensors`, `tokenizer-{case}.json`; returns the case names by kind.
 */
export function writeHostileFiles(dir, bertDir, tokenizerPath) {
  const config = JSON.parse(readFileSync(join(bertDir, "config.json"), "utf8"));
  const weights = readFileSync(join(bertDir, "model.safetensors"));
  const tokenizer = JSON.parse(readFileSync(tokenizerPath, "utf8"));
  const configs = {
    dropout1: { hidden_dropout_prob: 1.0 }, layers0: { num_hidden_layers: 0 }, hugeVocab: { vocab_size: 2 ** 31 },
    heads5: { num_attention_heads: 5 }, padBeyond: { pad_token_id: 100000 }, labels0: { num_labels: 0, id2label: null },
  };
  for (const [name, patch] of Object.entries(configs)) writeFileSync(join(dir, `config-${name}.json`), JSON.stringify({ ...config, ...patch }));
  writeFileSync(join(dir, "config-notJson.json"), "{ hidden_size: 32");
  const weightCases = {
    nan: safetensorsWith(weights, "bert.embeddings.word_embeddings.weight", NaN),
    inf: safetensorsWith(weights, "classifier.weight", Infinity),
    truncated: weights.subarray(0, weights.length >> 1),
    headerHuge: u64(2n ** 63n),
  };
  for (const [name, bytes] of Object.entries(weightCases)) writeFileSync(join(dir, `weights-${name}.safetensors`), bytes);
  const beyond = structuredClone(tokenizer);
  beyond.added_tokens.push({ id: 5000, content: "[BIG]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(join(dir, "tokenizer-beyond.json"), JSON.stringify(beyond));
  writeFileSync(join(dir, "tokenizer-notJson.json"), "not json");

  const deep = Buffer.concat(Array.from({ length: 100000 }, () => Buffer.concat([u32(9), u64(1)])));
  const ggufs = {
    good: gguf(tinyLlama()),
    alignment0: gguf(tinyLlama(), [["general.alignment", 4, u32(0)]]),
    nested: gguf(tinyLlama(), [["x.deep", 9, deep]]),
    blocks0: gguf(tinyLlama(), [["llama.block_count", 4, u32(0)]]),
    bos5e9: gguf(tinyLlama(), [["tokenizer.ggml.bos_token_id", 10, u64(5e9)]]),
    dimsOverflow: gguf(withTensor("output_norm.weight", (t) => { t.dims = [2n ** 62n, 4]; })),
    nanTensor: gguf(withTensor("blk.0.attn_k.weight", (t) => { t.data = Buffer.concat([f32(NaN), t.data.subarray(4)]); })),
    q1d: gguf(withTensor("blk.0.attn_q.weight", (t) => { t.dims = [64]; })),
    q4k: gguf(withTensor("blk.0.ffn_up.weight", (t) => { t.kind = 12; })), // 128 values: not whole 256-value blocks
    q3k: gguf(withTensor("blk.0.ffn_up.weight", (t) => { t.kind = 11; })),
    endlessTemplate: gguf(tinyLlama(), [["tokenizer.chat_template", 8, str("{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}")]]),
  };
  ggufs.truncated = ggufs.good.subarray(0, ggufs.good.length - 100);
  for (const [name, bytes] of Object.entries(ggufs)) writeFileSync(join(dir, `${name}.gguf`), bytes);
  return { configs: [...Object.keys(configs), "notJson"], weights: Object.keys(weightCases), ggufs: Object.keys(ggufs) };
}
