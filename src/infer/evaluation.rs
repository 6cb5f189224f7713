//! Evaluating a sequence classifier on labelled rows: loss, accuracy, per-class metrics and the
//! confusion matrix.

use burn::{
    nn::loss::CrossEntropyLossConfig,
    tensor::{Int, Tensor, TensorData, activation::softmax},
};

use crate::{
    ComputeDevice, Error, Result,
    data::{Dataset, make_batch},
    infer::{
        batch_tensors,
        metrics::{MAX_MISTAKES, Metrics, Mistake},
    },
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
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut predictions = Vec::new();
    let mut probabilities = Vec::new();
    let mut loss_sum: Option<Tensor<1>> = None;
    for chunk in rows.chunks(batch_size.max(1)) {
        let b = make_batch(&data.examples, chunk, tokenizer, max_length)?;
        let [ids, types, mask] = batch_tensors(&b.tokens, device.device());
        let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [chunk.len()]), device.device());
        let logits = model.forward(ids, types, mask);
        predictions.push(logits.clone().argmax(1).reshape([chunk.len()]));
        probabilities.push(softmax(logits.clone(), 1).max_dim(1).reshape([chunk.len()]));
        let loss = ce.forward(logits, y).mul_scalar(chunk.len() as f64);
        loss_sum = Some(match loss_sum {
            Some(s) => s + loss,
            None => loss,
        });
    }
    let predicted = device.read(Tensor::cat(predictions, 0)).await?;
    let predicted: Vec<usize> = predicted
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| Error::Backend(format!("{e:?}")))?
        .into_iter()
        .map(|p| p as usize)
        .collect();
    let scores = device.read(Tensor::cat(probabilities, 0)).await?;
    let scores = scores.convert::<f32>().try_to_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}")))?;
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
