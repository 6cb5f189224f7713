//! GGUF files for tests: a tiny Llama with a byte-level BPE vocabulary, kept as values (metadata
//! entries and tensors) that a test can change or break before writing the bytes.
//! Layout: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

/// A metadata value: `Raw` writes any type code and payload as given (for broken files).
#[derive(Clone, Debug)]
pub enum Meta {
    U32(u32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    Raw(u32, Vec<u8>),
}

/// One tensor: name, dims in ggml order (`dims[0]` varies fastest), ggml type, data.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub kind: u32,
    pub data: Vec<u8>,
}

/// A whole file, written by [`GgufSpec::bytes`].
#[derive(Clone, Debug)]
pub struct GgufSpec {
    pub version: u32,
    pub metadata: Vec<(String, Meta)>,
    pub tensors: Vec<TensorSpec>,
}

/// Hidden width, heads, key/value heads, head width, FFN width, vocabulary of [`GgufSpec::tiny_llama`].
pub const HIDDEN: u64 = 8;
pub const VOCAB: u64 = 256;

/// GPT-2's byte → printable character table (what byte-level BPE vocabularies are written in).
fn byte_chars() -> Vec<String> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut extra = 0;
    (0u32..256)
        .map(|b| {
            let c = if printable(b) {
                b
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(c).expect("a valid char").to_string()
        })
        .collect()
}

fn f32_data(n: u64, seed: u64) -> Vec<u8> {
    (0..n).flat_map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect()
}

impl GgufSpec {
    /// A loadable Llama: 1 layer, hidden 8, 2 heads of 4 (1 key/value head), FFN 16, the 256
    /// byte tokens as vocabulary (BOS 0, EOS 1), tied embeddings, f32 weights.
    pub fn tiny_llama() -> Self {
        let s = |v: &str| Meta::Str(v.into());
        let metadata = vec![
            ("general.architecture".into(), s("llama")),
            ("llama.block_count".into(), Meta::U32(1)),
            ("llama.embedding_length".into(), Meta::U32(HIDDEN as u32)),
            ("llama.feed_forward_length".into(), Meta::U32(16)),
            ("llama.attention.head_count".into(), Meta::U32(2)),
            ("llama.attention.head_count_kv".into(), Meta::U32(1)),
            ("llama.context_length".into(), Meta::U32(64)),
            ("llama.attention.layer_norm_rms_epsilon".into(), Meta::F32(1e-5)),
            ("tokenizer.ggml.model".into(), s("gpt2")),
            ("tokenizer.ggml.tokens".into(), Meta::Strs(byte_chars())),
            ("tokenizer.ggml.merges".into(), Meta::Strs(vec![])),
            ("tokenizer.ggml.bos_token_id".into(), Meta::U32(0)),
            ("tokenizer.ggml.eos_token_id".into(), Meta::U32(1)),
            ("tokenizer.chat_template".into(), s("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")),
        ];
        let t = |name: &str, dims: &[u64], seed: u64| TensorSpec {
            name: name.into(),
            dims: dims.to_vec(),
            kind: 0,
            data: f32_data(dims.iter().product(), seed),
        };
        let h = HIDDEN;
        let tensors = vec![
            t("token_embd.weight", &[h, VOCAB], 1),
            t("output_norm.weight", &[h], 2),
            t("blk.0.attn_norm.weight", &[h], 3),
            t("blk.0.attn_q.weight", &[h, 8], 4),
            t("blk.0.attn_k.weight", &[h, 4], 5),
            t("blk.0.attn_v.weight", &[h, 4], 6),
            t("blk.0.attn_output.weight", &[8, h], 7),
            t("blk.0.ffn_norm.weight", &[h], 8),
            t("blk.0.ffn_gate.weight", &[h, 16], 9),
            t("blk.0.ffn_up.weight", &[h, 16], 10),
            t("blk.0.ffn_down.weight", &[16, h], 11),
        ];
        GgufSpec { version: 3, metadata, tensors }
    }

    /// Sets (or adds) metadata `key`.
    pub fn set(mut self, key: &str, value: Meta) -> Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key.into(), value)),
        }
        self
    }

    /// Removes metadata `key`.
    pub fn without(mut self, key: &str) -> Self {
        self.metadata.retain(|(k, _)| k != key);
        self
    }

    /// Changes tensor `name` with `f`.
    pub fn tensor(mut self, name: &str, f: impl FnOnce(&mut TensorSpec)) -> Self {
        f(self.tensors.iter_mut().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}")));
        self
    }

    /// The file's bytes (data aligned to 32, as `general.alignment` defaults to).
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(self.version.to_le_bytes());
        b.extend((self.tensors.len() as u64).to_le_bytes());
        b.extend((self.metadata.len() as u64).to_le_bytes());
        let string = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        for (key, value) in &self.metadata {
            string(&mut b, key);
            match value {
                Meta::U32(v) => b.extend(4u32.to_le_bytes().into_iter().chain(v.to_le_bytes())),
                Meta::U64(v) => b.extend(10u32.to_le_bytes().into_iter().chain(v.to_le_bytes())),
                Meta::F32(v) => b.extend(6u32.to_le_bytes().into_iter().chain(v.to_le_bytes())),
                Meta::Bool(v) => b.extend(7u32.to_le_bytes().into_iter().chain([*v as u8])),
                Meta::Str(v) => {
                    b.extend(8u32.to_le_bytes());
                    string(&mut b, v);
                }
                Meta::Strs(list) => {
                    b.extend(9u32.to_le_bytes());
                    b.extend(8u32.to_le_bytes());
                    b.extend((list.len() as u64).to_le_bytes());
                    for v in list {
                        string(&mut b, v);
                    }
                }
                Meta::Raw(kind, payload) => {
                    b.extend(kind.to_le_bytes());
                    b.extend(payload);
                }
            }
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            string(&mut b, &t.name);
            b.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(t.kind.to_le_bytes());
            b.extend(offset.to_le_bytes());
            offset += (t.data.len() as u64).div_ceil(32) * 32;
        }
        for t in &self.tensors {
            b.resize(b.len().div_ceil(32) * 32, 0);
            b.extend(&t.data);
        }
        b
    }
}
