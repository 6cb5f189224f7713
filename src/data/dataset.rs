//! Tables → labelled examples → shuffled, padded batches.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::{LabelMap, Table};
use crate::{Error, Result, tokenizer::{Batch, TextTokenizer}};

/// Which columns hold what (each defaults to [`Columns::default`]'s: `text`, no pair, `label`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Columns {
    pub text: String,
    /// Second text of a sentence pair (NLI, paraphrase), if any.
    pub text_pair: Option<String>,
    pub label: String,
}

impl Default for Columns {
    fn default() -> Self {
        Columns { text: "text".into(), text_pair: None, label: "label".into() }
    }
}

/// One labelled text (or text pair).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub text: String,
    pub pair: Option<String>,
    pub label: usize,
    /// Where it came from, for messages: "train.csv:12".
    pub origin: String,
}

/// Where the named columns are in a table; resolving them all first means a missing column is
/// reported before any cell is judged.
#[derive(Clone, Copy)]
struct ColumnIndex {
    text: usize,
    pair: Option<usize>,
    label: usize,
}

impl ColumnIndex {
    fn resolve(table: &Table, columns: &Columns) -> Result<Self> {
        Ok(ColumnIndex {
            text: table.column(&columns.text, "text")?,
            pair: columns.text_pair.as_deref().map(|c| table.column(c, "second text")).transpose()?,
            label: table.column(&columns.label, "label")?,
        })
    }
}

/// Labelled examples with their label map.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub examples: Vec<Example>,
    pub labels: LabelMap,
}

impl Dataset {
    /// Training data: the label map is built from its label column.
    pub fn from_table(table: &Table, columns: &Columns) -> Result<Self> {
        let idx = ColumnIndex::resolve(table, columns)?;
        let li = idx.label;
        let mut values = Vec::with_capacity(table.rows.len());
        for (row, line) in table.rows.iter().zip(&table.lines) {
            match row[li].as_deref().map(str::trim) {
                Some(v) if !v.is_empty() => values.push(v),
                _ => return Err(Error::Data(format!("{}:{line}: the label ({:?}) is empty; every row needs a label", table.source, columns.label))),
            }
        }
        let labels = LabelMap::from_values(values, &table.source)?;
        Self::examples(table, columns, idx, labels)
    }

    /// Validation/evaluation data, with the label map of the training data (or of the model).
    pub fn with_labels(table: &Table, columns: &Columns, labels: LabelMap) -> Result<Self> {
        Self::examples(table, columns, ColumnIndex::resolve(table, columns)?, labels)
    }

    fn examples(table: &Table, columns: &Columns, idx: ColumnIndex, labels: LabelMap) -> Result<Self> {
        let ColumnIndex { text: ti, pair: pi, label: li } = idx;
        let mut examples = Vec::with_capacity(table.rows.len());
        for (row, line) in table.rows.iter().zip(&table.lines) {
            let origin = format!("{}:{line}", table.source);
            let text = row[ti].clone().unwrap_or_default();
            if text.trim().is_empty() {
                return Err(Error::Data(format!("{origin}: the text ({:?}) is empty; remove the row or fill it in", columns.text)));
            }
            let pair = match pi {
                Some(pi) => match row[pi].clone() {
                    Some(p) if !p.trim().is_empty() => Some(p),
                    _ => return Err(Error::Data(format!("{origin}: the second text is empty"))),
                },
                None => None,
            };
            let value = row[li].clone().unwrap_or_default();
            let label = labels.id(&value).ok_or_else(|| {
                Error::Data(format!(
                    "{origin}: unknown label {:?}; the training labels are {}",
                    value.trim(),
                    labels.names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
                ))
            })?;
            examples.push(Example { text, pair, label, origin });
        }
        Ok(Dataset { examples, labels })
    }

    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The same examples with the classes in the order of `names` (a permutation of this
    /// dataset's labels), e.g. to keep the ids of a checkpoint's trained classifier.
    pub fn reorder_labels(mut self, names: &[String]) -> Result<Self> {
        if !super::labels::same_set(names, &self.labels.names) {
            return Err(Error::Data(format!(
                "labels {:?} are not a reordering of the data's labels {:?}",
                names, self.labels.names
            )));
        }
        let new_id = |old: usize| names.iter().position(|n| *n == self.labels.names[old]).expect("same set");
        let map: Vec<usize> = (0..names.len()).map(new_id).collect();
        for e in &mut self.examples {
            e.label = map[e.label];
        }
        self.labels = LabelMap::from_names(names.to_vec());
        Ok(self)
    }

    /// Seeded shuffle, then the first `n` examples (like `dataset.shuffle(seed).select(range(n))`).
    pub fn shuffled_head(mut self, seed: u64, n: Option<usize>) -> Self {
        self.examples.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        if let Some(n) = n {
            self.examples.truncate(n);
        }
        self
    }

    /// Splits off `ratio` of the examples (seeded shuffle) as validation: `(train, validation)`.
    pub fn split(self, ratio: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let labels = self.labels.clone();
        let (train, val) = split_off(self.examples, ratio, seed)?;
        Ok((Dataset { examples: train, labels: labels.clone() }, Dataset { examples: val, labels }))
    }
}

/// Splits off `ratio` of `rows` (seeded shuffle): `(rest, held out)`.
pub fn split_off<T>(mut rows: Vec<T>, ratio: f64, seed: u64) -> Result<(Vec<T>, Vec<T>)> {
    if !(0.0..1.0).contains(&ratio) || ratio == 0.0 {
        return Err(Error::Options(format!("validation split must be between 0 and 1 (exclusive), got {ratio}")));
    }
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_val = ((rows.len() as f64) * ratio).round().max(1.0) as usize;
    if n_val >= rows.len() {
        return Err(Error::Data(format!("{} examples are too few to split off {ratio} for validation", rows.len())));
    }
    let held_out = rows.split_off(rows.len() - n_val);
    Ok((rows, held_out))
}

/// A batch ready for the model, with its labels.
pub struct LabelledBatch {
    pub tokens: Batch,
    pub labels: Vec<i32>,
}

/// `[input_ids, token_type_ids, attention_mask]` of a batch as [batch, seq] tensors on `device`.
pub fn batch_tensors(b: &Batch, device: &burn::tensor::Device) -> [Tensor<2, Int>; 3] {
    let t = |v: &Vec<i32>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), [b.batch, b.seq]), device);
    [t(&b.input_ids), t(&b.token_type_ids), t(&b.attention_mask)]
}

/// Row order of one epoch: a seeded shuffle; with `group_by_length`, rows of similar length are
/// batched together (less padding) and the batches are shuffled.
pub fn epoch_order(lengths: &[usize], batch_size: usize, seed: u64, epoch: usize, group_by_length: bool) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut idx: Vec<usize> = (0..lengths.len()).collect();
    idx.shuffle(&mut rng);
    if !group_by_length {
        return idx.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect();
    }
    // Sort within mega-batches of 50 batches (as HF's LengthGroupedSampler), then shuffle batches.
    let mega = batch_size.max(1) * 50;
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for chunk in idx.chunks_mut(mega) {
        chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(chunk.chunks(batch_size.max(1)).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut rng);
    batches
}

/// Tokenizes the examples at `rows` into one batch padded to its longest row.
pub fn make_batch(examples: &[Example], rows: &[usize], tokenizer: &TextTokenizer, max_length: usize) -> Result<LabelledBatch> {
    let texts: Vec<&str> = rows.iter().map(|&i| examples[i].text.as_str()).collect();
    let pairs: Option<Vec<&str>> = rows.iter().map(|&i| examples[i].pair.as_deref()).collect();
    let tokens = tokenizer.encode(&texts, pairs.as_deref(), max_length, true).map_err(|e| match e {
        Error::Data(m) => Error::Data(format!("{m} (rows {})", rows.iter().map(|&i| examples[i].origin.as_str()).collect::<Vec<_>>().join(", "))),
        other => other,
    })?;
    Ok(LabelledBatch { tokens, labels: rows.iter().map(|&i| examples[i].label as i32).collect() })
}

/// Token counts per example (special tokens included, capped at `max_length`), for length grouping.
pub fn token_lengths(examples: &[Example], tokenizer: &TextTokenizer, max_length: usize) -> Result<Vec<usize>> {
    examples
        .iter()
        .map(|e| tokenizer.count(&e.text, e.pair.as_deref()).map(|n| n.min(max_length)))
        .collect()
}
