//! Matrix products whose weights stay in ggml's quantized blocks (inference on the CPU).
//!
//! A [`QMatrix`] is a `[rows, cols]` weight as a GGUF file stores it — each row a run of blocks,
//! borrowed from the file's bytes, never copied or widened to f32. `y = x · Wᵀ` works as
//! llama.cpp does: each 32 values of an input row are quantized to integers (16-bit here, where
//! llama.cpp uses 8: see `Q_MAX`) with one f32 scale (and their sum, for the blocks' offsets),
//! each weight row is decoded to small integers with a scale per 16 values and an offset per 32 ([`crate::formats::ggml::group`]'s
//! form), and the two meet in integer dot products. The decoding and the dot products are vector
//! code on wasm with SIMD128 (every type) and on x86-64 with SSE2 (Q4_0/Q4_1/Q8_0 decoding, all
//! dot products); elsewhere, and for the rest, portable loops (tested against the vector code).
//! Float matrices (F32/F16/BF16) multiply in f32.

use std::sync::Arc;

use crate::{
    Error, Result,
    formats::ggml::{self, GgmlType},
};

/// A `[rows, cols]` weight in a ggml type, borrowed from a file's bytes.
#[derive(Clone)]
pub struct QMatrix {
    pub kind: GgmlType,
    pub rows: usize,
    pub cols: usize,
    data: Arc<Vec<u8>>,
    start: usize,
    row_bytes: usize,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QMatrix({}, [{}, {}])", self.kind.name(), self.rows, self.cols)
    }
}

impl QMatrix {
    /// The matrix at `start` in `data`; an error when rows are not whole blocks or the bytes run
    /// past the end (`name` names the tensor).
    pub fn new(kind: GgmlType, rows: usize, cols: usize, data: Arc<Vec<u8>>, start: usize, name: &str) -> Result<Self> {
        let row_bytes = kind.bytes_for(cols).filter(|_| cols > 0).ok_or_else(|| {
            Error::Weights(format!(
                "GGUF tensor {name}: rows of {cols} values are not whole {} blocks of {}; the file is corrupt",
                kind.name(),
                kind.block_values()
            ))
        })?;
        let end = row_bytes.checked_mul(rows).and_then(|n| n.checked_add(start));
        if end.is_none_or(|e| e > data.len()) {
            return Err(Error::Weights(format!("GGUF tensor {name} lies past the end of the file; download it again")));
        }
        Ok(QMatrix { kind, rows, cols, data, start, row_bytes })
    }

    /// Rows `range` as a matrix of their own (the same bytes, not copied); `None` past the end.
    pub fn rows_in(&self, range: std::ops::Range<usize>) -> Option<QMatrix> {
        (range.start <= range.end && range.end <= self.rows).then(|| QMatrix {
            rows: range.len(),
            start: self.start + range.start * self.row_bytes,
            data: self.data.clone(),
            ..*self
        })
    }

    /// Bytes the weights take.
    pub fn bytes(&self) -> usize {
        self.row_bytes * self.rows
    }

    /// Row `r`'s blocks as the file stores them.
    pub(crate) fn row(&self, r: usize) -> &[u8] {
        let at = self.start + r * self.row_bytes;
        &self.data[at..at + self.row_bytes]
    }

    /// Row `r` as f32 values (an embedding lookup), appended to `out`. Callers check ids against
    /// the vocabulary first (generation and the tokenizer do); a row past the end appends zeros
    /// rather than trap the instance.
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        match r < self.rows {
            true => ggml::dequantize(self.kind, self.row(r), out),
            false => out.resize(out.len() + self.cols, 0.0),
        }
    }

    /// `y[i][r] = Σ_c x[i][c] · W[r][c]` for the `m` rows of `x` (`m × cols`); `y` is `m × rows`.
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) {
        debug_assert!(x.len() == m * self.cols && y.len() == m * self.rows);
        if !self.kind.is_quantized() {
            let mut w = Vec::with_capacity(self.cols);
            for r in 0..self.rows {
                w.clear();
                ggml::dequantize(self.kind, self.row(r), &mut w);
                for i in 0..m {
                    y[i * self.rows + r] = dot_f32(&x[i * self.cols..(i + 1) * self.cols], &w);
                }
            }
            return;
        }
        let xq = QuantizedRows::new(x, m, self.cols);
        let mut row = DecodedRow::new(self.cols);
        for r in 0..self.rows {
            row.decode(self.kind, self.row(r));
            for i in 0..m {
                y[i * self.rows + r] = row.dot(&xq, i);
            }
        }
    }
}

/// The largest quantized input value. 16-bit inputs (llama.cpp uses 8) keep the products within
/// ~1e-5 of f32's, so greedy text stays transformers' (with 8 bits SmolLM2's first answer token
/// already differs); a weight (≤ 128 in size) times an input stays far inside i32 over 32 values.
const Q_MAX: f32 = 32767.0;

/// Input rows quantized per 32 values: `x ≈ d · q`, with the sum of each 32 (`d · Σq`).
struct QuantizedRows {
    q: Vec<i16>,
    d: Vec<f32>,
    sum: Vec<f32>,
    groups: usize,
}

impl QuantizedRows {
    fn new(x: &[f32], m: usize, cols: usize) -> Self {
        let groups = cols / 32;
        let mut out = QuantizedRows { q: vec![0; m * cols], d: vec![0.0; m * groups], sum: vec![0.0; m * groups], groups };
        for (g, (xs, qs)) in x.chunks_exact(32).zip(out.q.chunks_exact_mut(32)).enumerate() {
            // NaN wins (f32::max would skip it): a NaN input gives NaN products, as in f32
            let amax = xs.iter().fold(0.0f32, |a, v| if v.abs() > a || v.is_nan() { v.abs() } else { a });
            let d = amax / Q_MAX;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (q, v) in qs.iter_mut().zip(xs) {
                *q = (v * inv).round() as i16;
            }
            out.d[g] = d;
            // the sum of the quantized values, not of x: then the blocks' offsets see the same
            // input as their scaled part, and the rounding error stays proportional to the weights
            out.sum[g] = d * qs.iter().map(|&q| q as i32).sum::<i32>() as f32;
        }
        out
    }
}

/// One weight row decoded: `value[c] = scale[c / 16] · q[c] + min[c / 32]`.
struct DecodedRow {
    q: Vec<i8>,
    scale: Vec<f32>,
    min: Vec<f32>,
}

impl DecodedRow {
    fn new(cols: usize) -> Self {
        DecodedRow { q: vec![0; cols], scale: vec![0.0; cols / 16], min: vec![0.0; cols / 32] }
    }

    fn decode(&mut self, kind: GgmlType, row: &[u8]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if simd128::decode(kind, row, self) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if sse2::decode(kind, row, self) {
            return;
        }
        self.decode_portable(kind, row);
    }

    fn decode_portable(&mut self, kind: GgmlType, row: &[u8]) {
        let per_block = ggml::groups_per_block(kind);
        for (b, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
            for g in 0..per_block {
                let at = b * per_block + g;
                let group = ggml::group(kind, block, g);
                self.q[32 * at..32 * at + 32].copy_from_slice(&group.q);
                self.scale[2 * at..2 * at + 2].copy_from_slice(&group.scale);
                self.min[at] = group.min;
            }
        }
    }

    /// This row · input row `i`.
    fn dot(&self, x: &QuantizedRows, i: usize) -> f32 {
        let n = x.groups;
        let (xq, xd, xs) = (&x.q[i * 32 * n..(i + 1) * 32 * n], &x.d[i * n..(i + 1) * n], &x.sum[i * n..(i + 1) * n]);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return simd128::dot(self, xq, xd, xs);
        #[cfg(target_arch = "x86_64")]
        return sse2::dot(self, xq, xd, xs);
        #[allow(unreachable_code)]
        self.dot_portable(xq, xd, xs)
    }

    fn dot_portable(&self, xq: &[i16], xd: &[f32], xs: &[f32]) -> f32 {
        let mut acc = 0.0f32;
        for g in 0..xd.len() {
            let (lo, hi) = dot32(&self.q[32 * g..32 * g + 32], &xq[32 * g..32 * g + 32]);
            acc += xd[g] * (self.scale[2 * g] * lo as f32 + self.scale[2 * g + 1] * hi as f32) + self.min[g] * xs[g];
        }
        acc
    }
}

/// The integer dot products of the first and second 16 of two 32-value groups.
#[inline(always)]
fn dot32(a: &[i8], b: &[i16]) -> (i32, i32) {
    let half = |a: &[i8], b: &[i16]| a.iter().zip(b).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>();
    (half(&a[..16], &b[..16]), half(&a[16..32], &b[16..32]))
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The browser's CPU path: the common types' decoding and the dot products as SIMD128 code.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;
    use std::sync::OnceLock;

    use super::DecodedRow;
    use crate::formats::ggml::{self, GgmlType};

    /// Every f16 bit pattern as f32 (256 KB): a block's scales in one load each, where converting
    /// in software costs more than the block's 32 products.
    fn f16_table() -> &'static [f32] {
        static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
        TABLE.get_or_init(|| (0..=u16::MAX).map(|b| half::f16::from_bits(b).to_f32()).collect())
    }

    /// Decodes a row of any quantized type into `out`; `false` for float types.
    pub fn decode(kind: GgmlType, row: &[u8], out: &mut DecodedRow) -> bool {
        let table = f16_table();
        let half = |b: &[u8]| table[u16::from_le_bytes([b[0], b[1]]) as usize];
        let blocks = row.chunks_exact(kind.block_bytes());
        // SAFETY (every `unsafe` below): a block's quants lie inside its bytes at the offsets of
        // its layout (ggml::group); `q` holds 32 values per group of the row; v128 loads and
        // stores need no alignment.
        let q = out.q.as_mut_ptr() as *mut v128;
        let store = |g: usize, lo: v128, hi: v128| unsafe {
            v128_store(q.add(2 * g), lo);
            v128_store(q.add(2 * g + 1), hi);
        };
        let load = |b: &[u8], at: usize| unsafe { v128_load(b.as_ptr().add(at) as *const v128) };
        let low = |v: v128| v128_and(v, u8x16_splat(0x0f));
        match kind {
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 => {
                let (with_min, fifth) = (matches!(kind, GgmlType::Q4_1 | GgmlType::Q5_1), matches!(kind, GgmlType::Q5_0 | GgmlType::Q5_1));
                let quants = 2 + 2 * with_min as usize + 4 * fifth as usize;
                let offset = match kind {
                    GgmlType::Q4_0 => 8,
                    GgmlType::Q5_0 => 16,
                    _ => 0,
                };
                for (g, block) in blocks.enumerate() {
                    let b = load(block, quants);
                    let (mut lo, mut hi) = (low(b), u8x16_shr(b, 4));
                    if fifth {
                        // bit j of the 32 high bits is value j's fifth bit: spread bytes over lanes, test each lane's bit
                        let bits = unsafe { v128_load32_zero(block.as_ptr().add(quants - 4) as *const u32) };
                        let mask = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
                        let spread = |first: u8| {
                            let lanes = i8x16_swizzle(bits, u8x16(first, first, first, first, first, first, first, first, first + 1, first + 1, first + 1, first + 1, first + 1, first + 1, first + 1, first + 1));
                            v128_and(i8x16_ne(v128_and(lanes, mask), u8x16_splat(0)), u8x16_splat(0x10))
                        };
                        (lo, hi) = (v128_or(lo, spread(0)), v128_or(hi, spread(2)));
                    }
                    if offset != 0 {
                        (lo, hi) = (i8x16_sub(lo, i8x16_splat(offset)), i8x16_sub(hi, i8x16_splat(offset)));
                    }
                    store(g, lo, hi);
                    let d = half(block);
                    out.scale[2 * g] = d;
                    out.scale[2 * g + 1] = d;
                    out.min[g] = if with_min { half(&block[2..]) } else { 0.0 };
                }
            }
            GgmlType::Q8_0 => {
                for (g, block) in blocks.enumerate() {
                    store(g, load(block, 2), load(block, 18));
                    let d = half(block);
                    out.scale[2 * g] = d;
                    out.scale[2 * g + 1] = d;
                    out.min[g] = 0.0;
                }
            }
            GgmlType::Q4K | GgmlType::Q5K => {
                let five = kind == GgmlType::Q5K;
                let quants = if five { 48 } else { 16 };
                for (b, block) in blocks.enumerate() {
                    let (d, dmin) = (half(block), half(&block[2..]));
                    for pair in 0..4 {
                        let (first, second) = (load(block, quants + 32 * pair), load(block, quants + 32 * pair + 16));
                        let mut groups = [(low(first), low(second)), (u8x16_shr(first, 4), u8x16_shr(second, 4))];
                        for (k, (lo, hi)) in groups.iter_mut().enumerate() {
                            let g = 2 * pair + k;
                            if five {
                                let fifth = |v: v128| u8x16_shl(v128_and(u8x16_shr(v, g as u32), u8x16_splat(1)), 4);
                                (*lo, *hi) = (v128_or(*lo, fifth(load(block, 16))), v128_or(*hi, fifth(load(block, 32))));
                            }
                            let at = 8 * b + g;
                            store(at, *lo, *hi);
                            let (sc, m) = ggml::scale_min_k4(&block[4..16], g);
                            out.scale[2 * at] = d * sc as f32;
                            out.scale[2 * at + 1] = d * sc as f32;
                            out.min[at] = -(dmin * m as f32);
                        }
                    }
                }
            }
            GgmlType::Q6K => {
                for (b, block) in blocks.enumerate() {
                    let d = half(&block[208..]);
                    for h in 0..2 {
                        let (ql, qh) = (64 * h, 128 + 32 * h);
                        for j in 0..4 {
                            let at = 8 * b + 4 * h + j;
                            let part = |k: usize| {
                                let l = load(block, ql + 32 * (j % 2) + 16 * k);
                                let l = if j < 2 { low(l) } else { u8x16_shr(l, 4) };
                                let high = u8x16_shl(v128_and(u8x16_shr(load(block, qh + 16 * k), 2 * j as u32), u8x16_splat(3)), 4);
                                i8x16_sub(v128_or(l, high), i8x16_splat(32))
                            };
                            store(at, part(0), part(1));
                            let scale = |k: usize| d * block[192 + 8 * h + 2 * j + k] as i8 as f32;
                            out.scale[2 * at] = scale(0);
                            out.scale[2 * at + 1] = scale(1);
                            out.min[at] = 0.0;
                        }
                    }
                }
            }
            GgmlType::F32 | GgmlType::F16 | GgmlType::Bf16 => return false,
        }
        true
    }

    /// [`DecodedRow::dot`]: per 16 values, sign-extend the weights to i16, `i32x4.dot_i16x8`
    /// with the input, convert and scale into four f32 lanes.
    pub fn dot(row: &DecodedRow, xq: &[i16], xd: &[f32], xs: &[f32]) -> f32 {
        let (mut acc, mut offsets) = (f32x4_splat(0.0), 0.0f32);
        let (w, x) = (row.q.as_ptr(), xq.as_ptr());
        for g in 0..xd.len() {
            // SAFETY: the row and the input both hold 32 values per group.
            let (first, second) = unsafe {
                let w0 = v128_load(w.add(32 * g) as *const v128);
                let w1 = v128_load(w.add(32 * g + 16) as *const v128);
                let x = x.add(32 * g) as *const v128;
                (
                    i32x4_add(i32x4_dot_i16x8(i16x8_extend_low_i8x16(w0), v128_load(x)), i32x4_dot_i16x8(i16x8_extend_high_i8x16(w0), v128_load(x.add(1)))),
                    i32x4_add(i32x4_dot_i16x8(i16x8_extend_low_i8x16(w1), v128_load(x.add(2))), i32x4_dot_i16x8(i16x8_extend_high_i8x16(w1), v128_load(x.add(3)))),
                )
            };
            let (a, b) = (f32x4_splat(row.scale[2 * g] * xd[g]), f32x4_splat(row.scale[2 * g + 1] * xd[g]));
            acc = f32x4_add(acc, f32x4_add(f32x4_mul(f32x4_convert_i32x4(first), a), f32x4_mul(f32x4_convert_i32x4(second), b)));
            offsets += row.min[g] * xs[g];
        }
        f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc) + f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc) + offsets
    }
}

/// Native x86-64: the common types' decoding and the dot products with SSE2 (every x86-64 CPU has
/// it), the same arithmetic as the SIMD128 code — the package is built at opt-level "s", where the
/// compiler does not vectorize.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    use super::DecodedRow;
    use crate::formats::ggml::GgmlType;

    /// Decodes Q4_0, Q4_1 and Q8_0 rows (`false` for other types: the caller's generic decoder).
    pub fn decode(kind: GgmlType, row: &[u8], out: &mut DecodedRow) -> bool {
        let half = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let (quants, offset) = match kind {
            GgmlType::Q4_0 => (2, 8),
            GgmlType::Q4_1 => (4, 0),
            GgmlType::Q8_0 => (2, 0),
            _ => return false,
        };
        let q = out.q.as_mut_ptr() as *mut __m128i;
        for (g, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
            // SAFETY: SSE2 is part of x86-64; a block holds its 16 or 32 bytes of quants from
            // `quants`; `q` holds 32 values per block of the row (unaligned loads and stores).
            unsafe {
                let src = block.as_ptr().add(quants) as *const __m128i;
                if kind == GgmlType::Q8_0 {
                    _mm_storeu_si128(q.add(2 * g), _mm_loadu_si128(src));
                    _mm_storeu_si128(q.add(2 * g + 1), _mm_loadu_si128(src.add(1)));
                } else {
                    let (b, mask, offset) = (_mm_loadu_si128(src), _mm_set1_epi8(0x0f), _mm_set1_epi8(offset));
                    let lo = _mm_sub_epi8(_mm_and_si128(b, mask), offset);
                    let hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), mask), offset);
                    _mm_storeu_si128(q.add(2 * g), lo);
                    _mm_storeu_si128(q.add(2 * g + 1), hi);
                }
            }
            let d = half(block);
            out.scale[2 * g] = d;
            out.scale[2 * g + 1] = d;
            out.min[g] = if kind == GgmlType::Q4_1 { half(&block[2..]) } else { 0.0 };
        }
        true
    }

    pub fn dot(row: &DecodedRow, xq: &[i16], xd: &[f32], xs: &[f32]) -> f32 {
        let (w, x) = (row.q.as_ptr(), xq.as_ptr());
        let mut offsets = 0.0f32;
        // SAFETY: SSE2 is part of x86-64; the row and the input both hold 32 values per group
        // (unaligned loads).
        unsafe {
            let mut acc = _mm_setzero_ps();
            // the products of 16 weights (sign-extended to i16) with 16 inputs, in four i32 lanes
            let sixteen = |w: __m128i, x: *const __m128i| {
                let (lo, hi) = (_mm_srai_epi16(_mm_unpacklo_epi8(w, w), 8), _mm_srai_epi16(_mm_unpackhi_epi8(w, w), 8));
                _mm_add_epi32(_mm_madd_epi16(lo, _mm_loadu_si128(x)), _mm_madd_epi16(hi, _mm_loadu_si128(x.add(1))))
            };
            for g in 0..xd.len() {
                let x = x.add(32 * g) as *const __m128i;
                let first = sixteen(_mm_loadu_si128(w.add(32 * g) as *const __m128i), x);
                let second = sixteen(_mm_loadu_si128(w.add(32 * g + 16) as *const __m128i), x.add(2));
                let (a, b) = (_mm_set1_ps(row.scale[2 * g] * xd[g]), _mm_set1_ps(row.scale[2 * g + 1] * xd[g]));
                acc = _mm_add_ps(acc, _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(first), a), _mm_mul_ps(_mm_cvtepi32_ps(second), b)));
                offsets += row.min[g] * xs[g];
            }
            let mut lanes = [0.0f32; 4];
            _mm_storeu_ps(lanes.as_mut_ptr(), acc);
            lanes[0] + lanes[1] + lanes[2] + lanes[3] + offsets
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tensor of every ggml block type (`tests/reference/make_ggml_fixture.py`), compiled in
    /// so the tests find it wherever the binary was built.
    const BLOCKS_GGUF: &[u8] = include_bytes!("../../tests/fixtures/ggml/blocks.gguf");

    /// Every block type of the fixture file, times an input row, through the integer path: within
    /// 1e-4 (relative to Σ|w·x|) of the f32 product of the dequantized weights.
    #[test]
    fn integer_products_match_f32_for_every_block_type() {
        let bytes = Arc::new(BLOCKS_GGUF.to_vec());
        let g = crate::formats::gguf::Gguf::parse(&bytes).unwrap();
        for info in &g.tensors {
            let (kind, raw) = g.raw(info).unwrap();
            let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
            let n = info.len().unwrap();
            let w = g.dequantize(info).unwrap();
            let x: Vec<f32> = (0..2 * n).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
            let m = QMatrix::new(kind, 1, n, bytes.clone(), start, &info.name).unwrap();
            let mut y = [0.0; 2];
            m.matmul(&x, 2, &mut y);
            for (i, y) in y.iter().enumerate() {
                let x = &x[i * n..(i + 1) * n];
                let exact: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                let size: f32 = w.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
                assert!((y - exact).abs() <= 1e-4 * size, "{kind:?} row {i}: {y} vs {exact}");
            }
        }
    }

    /// The vector code (SSE2, where these tests run; the SIMD128 code is checked against
    /// transformers by tests/browser.rs) and the portable loops other targets run decode every
    /// type to the same values and agree on the products.
    #[test]
    fn vector_and_portable_code_agree_for_every_block_type() {
        let g = crate::formats::gguf::Gguf::parse(BLOCKS_GGUF).unwrap();
        for info in &g.tensors {
            let (kind, raw) = g.raw(info).unwrap();
            let n = info.len().unwrap();
            let (mut fast, mut portable) = (DecodedRow::new(n), DecodedRow::new(n));
            fast.decode(kind, raw);
            portable.decode_portable(kind, raw);
            assert_eq!((&fast.q, &fast.scale, &fast.min), (&portable.q, &portable.scale, &portable.min), "{kind:?}");
            let x: Vec<f32> = (0..n).map(|i| (i * 7919 % 1000) as f32 / 500.0 - 1.0).collect();
            let xq = QuantizedRows::new(&x, 1, n);
            let (a, b) = (fast.dot(&xq, 0), portable.dot_portable(&xq.q, &xq.d, &xq.sum));
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{kind:?}: {a} vs {b}");
        }
    }

    #[test]
    fn a_nan_input_gives_nan_products() {
        let x: Vec<f32> = (0..32).map(|i| if i == 5 { f32::NAN } else { 1.0 }).collect();
        let xq = QuantizedRows::new(&x, 1, 32);
        let mut row = DecodedRow::new(32);
        row.decode(GgmlType::Q8_0, &[[0x00, 0x3c].as_slice(), &[1u8; 32]].concat()); // d = 1, q = 1
        assert!(row.dot(&xq, 0).is_nan());
    }

    #[test]
    fn rows_must_be_whole_blocks_inside_the_data() {
        let data = Arc::new(vec![0u8; 144]);
        let e = QMatrix::new(GgmlType::Q4K, 1, 200, data.clone(), 0, "w").unwrap_err().to_string();
        assert!(e.contains("not whole Q4_K blocks of 256"), "{e}");
        let e = QMatrix::new(GgmlType::Q4K, 2, 256, data, 0, "w").unwrap_err().to_string();
        assert!(e.contains("past the end"), "{e}");
    }
}
