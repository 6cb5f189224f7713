//! `webtune bench encoder`: inference latency of a BERT-family model (BENCHMARKS.md).

use std::time::Instant;

use serde::Serialize;
use webtune::{Error, Result, infer::{EncodeOptions, Encoder, ModelFiles}, models::heads::Pooling};

/// Options of `webtune bench encoder`.
#[derive(clap::Args)]
pub struct EncoderBench {
    /// Hugging Face model folder.
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// auto | gpu | cpu
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Batch sizes to time, comma-separated.
    #[arg(long, default_value = "1,32", value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// Tokens per sequence (texts are cut to exactly this length).
    #[arg(long, default_value_t = 64)]
    pub seq: usize,
    /// Timed runs per batch size (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Untimed runs after the first call.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
}

#[derive(Serialize)]
struct Row {
    bench: &'static str,
    engine: &'static str,
    device: String,
    batch: usize,
    seq: usize,
    first_ms: f64,
    median_ms: f64,
    min_ms: f64,
    runs: usize,
}

/// A text long enough to fill `seq` tokens of any English WordPiece vocabulary.
pub fn long_text(seq: usize) -> String {
    "the quick brown fox jumps over the lazy dog while the cat sleeps ".repeat(seq / 8 + 2)
}

/// Prints one JSON line per batch size: first-call latency, then the median of `runs`.
pub async fn encoder(b: &EncoderBench) -> Result<()> {
    let dev = crate::cli::select_device(&b.device).await?;
    let mut enc = Encoder::load(ModelFiles::from_dir(&b.model)?, &dev)?;
    let text = long_text(b.seq);
    let probe = enc.tokenizer.encode(&[&text], None, b.seq, true)?;
    if probe.seq != b.seq {
        return Err(Error::Options(format!("could not make a {}-token input (got {})", b.seq, probe.seq)));
    }
    for &batch in &b.batch_sizes {
        enc.configure(EncodeOptions { max_length: Some(b.seq), truncate: true, batch_size: batch })?;
        let texts = vec![text.as_str(); batch];
        let time = async || -> Result<f64> {
            let t = Instant::now();
            enc.embed(&texts, Pooling::Mean, false).await?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        };
        let first_ms = time().await?;
        for _ in 0..b.warmup {
            time().await?;
        }
        let mut ms = Vec::with_capacity(b.runs);
        for _ in 0..b.runs.max(1) {
            ms.push(time().await?);
        }
        ms.sort_by(f64::total_cmp);
        crate::cli::print(&Row {
            bench: "encoder",
            engine: "webtune",
            device: format!("{} ({})", dev.info().kind, dev.info().backend),
            batch,
            seq: b.seq,
            first_ms,
            median_ms: median(&ms),
            min_ms: ms[0],
            runs: ms.len(),
        })?;
    }
    Ok(())
}

/// The median of sorted values (the mean of the two middle ones for an even count).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}
