//! Matrix products whose weights stay in ggml's quantized blocks (inference on the CPU).
//!
//! A [`QMatrix`] is a `[rows, cols]` weight as a GGUF file stores it — each row a run of blocks,
//! borrowed from the file's bytes, never copied or widened to f32. `y = x · Wᵀ` works as
//! llama.cpp does: each 32 values of an input row are quantized to integers (16-bit here, where
//! llama.cpp uses 8: see [`Q_MAX`]) with one f32 scale (and their sum, for the blocks' offsets), each weight row is decoded to small
//! integers with a scale per 16 values and an offset per 32 ([`crate::weights::ggml::group`]'s
//! form), and the two meet in integer dot products. On wasm with SIMD128 the decoding of the
//! common types and the dot products are vector code; elsewhere plain loops the compiler
//! vectorizes. Float matrices (F32/F16/BF16) multiply in f32.

use std::sync::Arc;

use crate::{
    Error, Result,
    weights::ggml::{self, GgmlType},
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

    /// Bytes the weights take.
    pub fn bytes(&self) -> usize {
        self.row_bytes * self.rows
    }

    fn row(&self, r: usize) -> &[u8] {
        let at = self.start + r * self.row_bytes;
        &self.data[at..at + self.row_bytes]
    }

    /// Row `r` as f32 values (an embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut Vec<f32>) {
        ggml::dequantize(self.kind, self.row(r), out);
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
            let amax = xs.iter().fold(0.0f32, |a, v| a.max(v.abs()));
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
        let mut acc = 0.0f32;
        for g in 0..n {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block type of the fixture file, times an input row, through the integer path: within
    /// 1e-4 (relative to Σ|w·x|) of the f32 product of the dequantized weights.
    #[test]
    fn integer_products_match_f32_for_every_block_type() {
        let bytes = Arc::new(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ggml/blocks.gguf")).unwrap());
        let g = crate::weights::gguf::Gguf::parse(&bytes).unwrap();
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

    #[test]
    fn rows_must_be_whole_blocks_inside_the_data() {
        let data = Arc::new(vec![0u8; 144]);
        let e = QMatrix::new(GgmlType::Q4K, 1, 200, data.clone(), 0, "w").unwrap_err().to_string();
        assert!(e.contains("not whole Q4_K blocks of 256"), "{e}");
        let e = QMatrix::new(GgmlType::Q4K, 2, 256, data, 0, "w").unwrap_err().to_string();
        assert!(e.contains("past the end"), "{e}");
    }
}
