//! ggml's tensor types as GGUF files store them: plain floats (F32, F16, BF16) and llama.cpp's
//! quantized blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 of 32 values; the K-quants Q4_K, Q5_K, Q6_K of
//! 256), with their sizes, and one decoder that turns any 32 quantized values into small integers
//! and their scale: `value = scale · q + min`. Dequantizing to f32 ([`dequantize`]) and the
//! quantized matrix products (`kernels::quantized`) both read blocks through it, so the two cannot
//! disagree. Layouts: llama.cpp's `ggml-common.h` / `dequantize_row_*`.

use half::{bf16, f16};

/// A ggml tensor type webtune reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Bf16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

/// Values per K-quant super-block.
pub const QK_K: usize = 256;

impl GgmlType {
    /// The type with ggml's id `kind`, or an error naming it and the supported list.
    pub fn from_id(kind: u32, tensor: &str) -> crate::Result<Self> {
        Self::of(kind).ok_or_else(|| {
            crate::Error::Weights(format!(
                "tensor {tensor} uses ggml type {kind} ({}), which webtune cannot read yet; supported: {SUPPORTED}",
                type_name(kind)
            ))
        })
    }

    /// The type with ggml's id `kind`, if webtune reads it.
    fn of(kind: u32) -> Option<Self> {
        Some(match kind {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            30 => GgmlType::Bf16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            _ => return None,
        })
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16 => 1,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0 => 32,
            GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::Bf16 => 2,
            GgmlType::Q4_0 => 18,
            GgmlType::Q4_1 => 20,
            GgmlType::Q5_0 => 22,
            GgmlType::Q5_1 => 24,
            GgmlType::Q8_0 => 34,
            GgmlType::Q4K => 144,
            GgmlType::Q5K => 176,
            GgmlType::Q6K => 210,
        }
    }

    /// Whether values are stored in quantized blocks (not plain floats).
    pub fn is_quantized(self) -> bool {
        self.block_values() > 1
    }

    /// ggml's name (`"Q4_K"`).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Bf16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q5K => "Q5_K",
            GgmlType::Q6K => "Q6_K",
        }
    }

    /// Bytes of `values` values (`None` when not a whole number of blocks, or on overflow).
    pub fn bytes_for(self, values: usize) -> Option<usize> {
        values.is_multiple_of(self.block_values()).then(|| (values / self.block_values()).checked_mul(self.block_bytes()))?
    }
}

/// The types [`GgmlType::from_id`] accepts, for error messages.
pub const SUPPORTED: &str = "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K";

/// ggml's name for any type id (for errors about types webtune does not read).
pub fn type_name(kind: u32) -> &'static str {
    match kind {
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        15 => "Q8_K",
        16..=23 | 29 => "an IQ type",
        34 | 35 => "a ternary type",
        _ => GgmlType::of(kind).map_or("an unknown type", GgmlType::name),
    }
}

/// 32 values of a quantized block: `value[i] = scale[i / 16] · q[i] + min`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Group {
    pub q: [i8; 32],
    /// One scale per 16 values (Q6_K scales each 16; the other types repeat one).
    pub scale: [f32; 2],
    pub min: f32,
}

/// Groups of 32 per block of `kind`.
pub fn groups_per_block(kind: GgmlType) -> usize {
    kind.block_values() / 32
}

fn half(b: &[u8]) -> f32 {
    f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// Group `g` (`0 .. groups_per_block`) of one quantized `block` (`kind.block_bytes()` bytes).
/// Panics on a float type or a block of the wrong size: callers slice blocks by the type's size.
pub fn group(kind: GgmlType, block: &[u8], g: usize) -> Group {
    let mut q = [0i8; 32];
    let one = |d: f32, min: f32, q: [i8; 32]| Group { q, scale: [d, d], min };
    match kind {
        // d, 16 bytes: low nibbles are values 0..16, high nibbles 16..32; (q - 8)·d
        GgmlType::Q4_0 => {
            nibbles(&block[2..18], &mut q, |n, _| n as i8 - 8);
            one(half(block), 0.0, q)
        }
        // d, m, 16 bytes of nibbles; q·d + m
        GgmlType::Q4_1 => {
            nibbles(&block[4..20], &mut q, |n, _| n as i8);
            one(half(block), half(&block[2..]), q)
        }
        // d, 32 high bits, 16 bytes of nibbles; (q | high << 4 - 16)·d
        GgmlType::Q5_0 => {
            let high = u32::from_le_bytes(block[2..6].try_into().expect("4 bytes"));
            nibbles(&block[6..22], &mut q, |n, i| (n | (((high >> i) & 1) << 4) as u8) as i8 - 16);
            one(half(block), 0.0, q)
        }
        // d, m, 32 high bits, 16 bytes of nibbles; (q | high << 4)·d + m
        GgmlType::Q5_1 => {
            let high = u32::from_le_bytes(block[4..8].try_into().expect("4 bytes"));
            nibbles(&block[8..24], &mut q, |n, i| (n | (((high >> i) & 1) << 4) as u8) as i8);
            one(half(block), half(&block[2..]), q)
        }
        // d, 32 signed bytes; q·d
        GgmlType::Q8_0 => {
            for (o, &b) in q.iter_mut().zip(&block[2..34]) {
                *o = b as i8;
            }
            one(half(block), 0.0, q)
        }
        // d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes: each 32 bytes hold two groups
        // (low nibbles, then high); (d·sc)·q − dmin·m
        GgmlType::Q4K | GgmlType::Q5K => {
            let (d, dmin) = (half(block), half(&block[2..]));
            let (sc, m) = scale_min_k4(&block[4..16], g);
            let (qs, shift) = match kind {
                GgmlType::Q4K => (&block[16 + 32 * (g / 2)..16 + 32 * (g / 2) + 32], 4 * (g % 2)),
                _ => (&block[48 + 32 * (g / 2)..48 + 32 * (g / 2) + 32], 4 * (g % 2)),
            };
            for (l, o) in q.iter_mut().enumerate() {
                let low = (qs[l] >> shift) & 0x0f;
                // Q5_K: bit g of qh[l] is the fifth bit of group g's value l
                let high = if kind == GgmlType::Q5K { ((block[16 + l] >> g) & 1) << 4 } else { 0 };
                *o = (low | high) as i8;
            }
            one(d * sc as f32, -(dmin * m as f32), q)
        }
        // 128 bytes of low 4 bits, 64 of high 2 bits, 16 signed scales (one per 16 values), d;
        // (d·scale)·(q − 32). Groups 0..4 come from the first 64/32 bytes, 4..8 from the next.
        GgmlType::Q6K => {
            let (half_block, j) = (g / 4, g % 4);
            let ql = &block[64 * half_block..64 * half_block + 64];
            let qh = &block[128 + 32 * half_block..128 + 32 * half_block + 32];
            let d = half(&block[208..]);
            for (l, o) in q.iter_mut().enumerate() {
                let low = if j % 2 == 0 { ql[l] } else { ql[l + 32] };
                let low = if j < 2 { low & 0x0f } else { low >> 4 };
                let high = (qh[l] >> (2 * j)) & 3;
                *o = (low | high << 4) as i8 - 32;
            }
            let scale = |s: usize| d * block[192 + 8 * half_block + 2 * j + s] as i8 as f32;
            Group { q, scale: [scale(0), scale(1)], min: 0.0 }
        }
        GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16 => unreachable!("float types have no groups"),
    }
}

/// Spreads 16 bytes of nibbles over 32 values (low nibbles first), through `f(nibble, index)`.
fn nibbles(bytes: &[u8], q: &mut [i8; 32], f: impl Fn(u8, usize) -> i8) {
    for (j, &b) in bytes.iter().enumerate() {
        q[j] = f(b & 0x0f, j);
        q[j + 16] = f(b >> 4, j + 16);
    }
}

/// llama.cpp's `get_scale_min_k4`: group `j`'s 6-bit scale and min from the 12 packed bytes.
pub fn scale_min_k4(s: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// The index of the first value (float types) or block (quantized: its f16 scales) in `raw` that
/// is NaN or infinite; `None` when all are finite. Every other bit pattern of a block is a value.
pub fn first_non_finite(kind: GgmlType, raw: &[u8]) -> Option<usize> {
    let scales: &[usize] = match kind {
        GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16 => {
            let mut values = Vec::with_capacity(raw.len() / kind.block_bytes());
            dequantize(kind, raw, &mut values);
            return values.iter().position(|v| !v.is_finite());
        }
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q6K => &[208],
    };
    raw.chunks_exact(kind.block_bytes()).position(|b| scales.iter().any(|&at| !half(&b[at..]).is_finite()))
}

/// `raw` (whole blocks of `kind`) as f32 values, appended to `out`.
pub fn dequantize(kind: GgmlType, raw: &[u8], out: &mut Vec<f32>) {
    match kind {
        GgmlType::F32 => out.extend(raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))),
        GgmlType::F16 => out.extend(raw.chunks_exact(2).map(half)),
        GgmlType::Bf16 => out.extend(raw.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        _ => {
            for block in raw.chunks_exact(kind.block_bytes()) {
                for g in 0..groups_per_block(kind) {
                    let Group { q, scale, min } = group(kind, block, g);
                    out.extend(q.iter().enumerate().map(|(i, &q)| scale[i / 16] * q as f32 + min));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_llama_cpp_s() {
        // bits per weight as llama.cpp lists them
        for (t, bpw) in [(GgmlType::Q4K, 4.5), (GgmlType::Q5K, 5.5), (GgmlType::Q6K, 6.5625), (GgmlType::Q5_0, 5.5), (GgmlType::Q8_0, 8.5)] {
            assert_eq!(t.block_bytes() as f64 * 8.0 / t.block_values() as f64, bpw, "{t:?}");
        }
        assert_eq!(GgmlType::Q4K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q4K.bytes_for(576), None);
    }

    #[test]
    fn unknown_types_are_named_with_the_supported_list() {
        let e = GgmlType::from_id(11, "blk.0.ffn_up.weight").unwrap_err().to_string();
        assert!(e.contains("blk.0.ffn_up.weight") && e.contains("ggml type 11 (Q3_K)") && e.contains("Q6_K"), "{e}");
        // an id no table knows (the fuzzer found this one recursing)
        let e = GgmlType::from_id(77, "t").unwrap_err().to_string();
        assert!(e.contains("ggml type 77 (an unknown type)"), "{e}");
    }
}
