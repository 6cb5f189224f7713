//! Evaluating a sequence classifier on labelled rows: loss, accuracy, per-class metrics and the
//! confusion matrix.

use burn::{
    nn::loss::CrossEntropyLossConfig,
    tensor::{Int, Tensor, TensorData},
};

use crate::{
    ComputeDevice, Error, Result,
    data::{Dataset, batch_tensors, make_batch},
    infer::metrics::{MAX_MISTAKES, Metrics, Mistake},
    kernels::argmax::argmax,
    models::heads::BertForSequenceClassification,
    tokenizer::TextTokenizer,
};

/// Loss, accuracy, per-class metrics and the confusion matrix of `model` on `data` (dropout off).
pub async fn evaluate_classifier(
    model: &BertForSequenceClassification,
    device: &ComputeDevice,
    tokenizer: &TextTokenizer,
    data: &Dataset,
    max_length: usize,
    batch_size: usize,
) -> Result<Metrics> {
    if data.is_empty() {
        return Err(Error::Data("the evaluation data has no rows".into()));
    }
    let ce = CrossEntropyLossConfig::new().init(device.device());
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut all_logits = Vec::new();
    let mut loss_sum: Option<Tensor<1>> = None;
    for chunk in indices.chunks(batch_size.max(1)) {
        let b = make_batch(&data.examples, chunk, tokenizer, max_length)?;
        let [ids, types, mask] = batch_tensors(&b.tokens, device.device());
        let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [chunk.len()]), device.device());
        let logits = model.forward(ids, types, mask);
        all_logits.push(logits.clone());
        let loss = ce.forward(logits, y).mul_scalar(chunk.len() as f64);
        loss_sum = Some(match loss_sum {
            Some(s) => s + loss,
            None => loss,
        });
    }
    // one read: each row's prediction (the first largest logit, as torch's argmax) and its probability
    let (predicted, scores): (Vec<usize>, Vec<f32>) = device.read_rows(Tensor::cat(all_logits, 0))
        .await?
        .iter()
        .map(|logits| {
            let best = argmax(logits) as usize;
            let total: f32 = logits.iter().map(|&x| (x - logits[best]).exp()).sum();
            (best, 1.0 / total)
        })
        .unzip();
    let loss = device.read_scalar(loss_sum.expect("at least one batch")).await? / data.len() as f64;
    let truth: Vec<usize> = data.examples.iter().map(|e| e.label).collect();
    let mut metrics = Metrics::compute(&truth, &predicted, &data.labels.names, Some(loss));
    let names = &data.labels.names;
    metrics.mistakes = data
        .examples
        .iter()
        .zip(predicted.iter().zip(&scores))
        .filter(|(e, (p, _))| e.label != **p)
        .take(MAX_MISTAKES)
        .map(|(e, (&p, &score))| Mistake {
            text: e.text.clone(),
            pair: e.pair.clone(),
            label: names[e.label].clone(),
            predicted: names[p].clone(),
            score,
            origin: e.origin.clone(),
        })
        .collect();
    Ok(metrics)
}
