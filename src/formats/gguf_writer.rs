//! Writing a GGUF file (version 3): string, u32 and f32 metadata, F32 tensors aligned to 32 bytes —
//! what a LoRA adapter for llama.cpp needs ([`crate::weights::gguf_lora`]). Spec:
//! <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

/// A metadata value webtune writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Meta {
    Str(String),
    U32(u32),
    F32(f32),
}

/// An F32 tensor: name, dims in ggml order (`dims[0]` varies fastest), values.
#[derive(Clone, Debug)]
pub struct F32Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub values: Vec<f32>,
}

const ALIGNMENT: usize = 32;
const F32_TYPE: u32 = 0;

/// The file's bytes.
pub fn write(metadata: &[(&str, Meta)], tensors: &[F32Tensor]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((metadata.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    for (key, value) in metadata {
        string(&mut b, key);
        match value {
            Meta::U32(v) => {
                b.extend(4u32.to_le_bytes());
                b.extend(v.to_le_bytes());
            }
            Meta::F32(v) => {
                b.extend(6u32.to_le_bytes());
                b.extend(v.to_le_bytes());
            }
            Meta::Str(s) => {
                b.extend(8u32.to_le_bytes());
                string(&mut b, s);
            }
        }
    }
    let mut offset = 0u64;
    for t in tensors {
        string(&mut b, &t.name);
        b.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(F32_TYPE.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offset += (t.values.len() * 4).next_multiple_of(ALIGNMENT) as u64;
    }
    b.resize(b.len().next_multiple_of(ALIGNMENT), 0);
    for t in tensors {
        let start = b.len();
        b.extend(t.values.iter().flat_map(|v| v.to_le_bytes()));
        b.resize(start + (t.values.len() * 4).next_multiple_of(ALIGNMENT), 0);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::gguf::{Gguf, Value};

    #[test]
    fn what_is_written_reads_back() {
        let tensors = [
            F32Tensor { name: "a".into(), dims: vec![3, 2], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] },
            F32Tensor { name: "b.lora_b".into(), dims: vec![1], values: vec![-0.5] },
        ];
        let bytes = write(&[("general.type", Meta::Str("adapter".into())), ("x.alpha", Meta::F32(8.0)), ("n", Meta::U32(7))], &tensors);
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.metadata.get("general.type"), Some(&Value::Str("adapter".into())));
        assert_eq!(g.metadata.get("x.alpha").and_then(Value::as_f64), Some(8.0));
        assert_eq!(g.metadata.get("n").and_then(Value::as_u64), Some(7));
        for (info, t) in g.tensors.iter().zip(&tensors) {
            assert_eq!((&info.name, &info.dims), (&t.name, &t.dims));
            assert_eq!(g.dequantize(info).unwrap(), t.values);
        }
    }
}
