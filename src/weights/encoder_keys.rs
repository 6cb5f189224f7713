//! Checkpoint key names of the encoder families ↔ BERT's. Loading renames a RoBERTa or DistilBERT
//! key to the BERT key of the same tensor (then `weights::bert` maps BERT keys to our modules);
//! exporting goes back. The head's first layer is our `bert.pooler.dense` in every family.

use regex::Regex;

use crate::models::encoder_family::EncoderFamily;

/// Where checkpoint tensors that no family target uses are renamed to (ignored when loading).
pub const UNUSED: &str = "unused.";

/// Family key → BERT key, applied in order before the BERT rules.
pub fn to_bert(family: EncoderFamily) -> &'static [(&'static str, &'static str)] {
    match family {
        EncoderFamily::Bert => &[],
        EncoderFamily::Roberta | EncoderFamily::XlmRoberta => &[
            // RobertaModel's pooler is not its classifier's first layer (transformers drops it too)
            (r"^(roberta\.)?pooler\.", "unused.pooler."),
            (r"^lm_head\.", "unused.lm_head."),
            (r"^roberta\.", "bert."),
            (r"^classifier\.dense\.", "bert.pooler.dense."),
            (r"^classifier\.out_proj\.", "classifier."),
        ],
        EncoderFamily::DistilBert => &[
            (r"^vocab_(transform|layer_norm|projector)\.", "unused.mlm."),
            (r"^distilbert\.", "bert."),
            (r"^pre_classifier\.", "bert.pooler.dense."),
            (r"(^|\.)transformer\.layer\.", "${1}encoder.layer."),
            (r"\.attention\.q_lin\.", ".attention.self.query."),
            (r"\.attention\.k_lin\.", ".attention.self.key."),
            (r"\.attention\.v_lin\.", ".attention.self.value."),
            (r"\.attention\.out_lin\.", ".attention.output.dense."),
            (r"\.sa_layer_norm\.", ".attention.output.LayerNorm."),
            (r"\.ffn\.lin1\.", ".intermediate.dense."),
            (r"\.ffn\.lin2\.", ".output.dense."),
            (r"\.output_layer_norm\.", ".output.LayerNorm."),
        ],
    }
}

/// BERT key → family key, applied in order (the inverse of [`to_bert`]).
fn from_bert(family: EncoderFamily) -> &'static [(&'static str, &'static str)] {
    match family {
        EncoderFamily::Bert => &[],
        EncoderFamily::Roberta | EncoderFamily::XlmRoberta => &[
            (r"^classifier\.", "classifier.out_proj."),
            (r"^bert\.pooler\.dense\.", "classifier.dense."),
            (r"^bert\.", "roberta."),
        ],
        EncoderFamily::DistilBert => &[
            (r"^bert\.pooler\.dense\.", "pre_classifier."),
            (r"^bert\.", "distilbert."),
            (r"\.encoder\.layer\.", ".transformer.layer."),
            (r"\.attention\.self\.query\.", ".attention.q_lin."),
            (r"\.attention\.self\.key\.", ".attention.k_lin."),
            (r"\.attention\.self\.value\.", ".attention.v_lin."),
            (r"\.attention\.output\.dense\.", ".attention.out_lin."),
            (r"\.attention\.output\.LayerNorm\.", ".sa_layer_norm."),
            (r"\.intermediate\.dense\.", ".ffn.lin1."),
            (r"\.output\.dense\.", ".ffn.lin2."),
            (r"\.output\.LayerNorm\.", ".output_layer_norm."),
        ],
    }
}

/// Applies `rules` in order, as Burn's key remapping does.
pub struct Renames(Vec<(Regex, &'static str)>);

impl Renames {
    pub fn new(rules: &'static [(&'static str, &'static str)]) -> Self {
        Renames(rules.iter().map(|(from, to)| (Regex::new(from).expect("a valid rule"), *to)).collect())
    }

    pub fn to_bert(family: EncoderFamily) -> Self {
        Self::new(to_bert(family))
    }

    pub fn from_bert(family: EncoderFamily) -> Self {
        Self::new(from_bert(family))
    }

    pub fn apply(&self, key: &str) -> String {
        self.0.iter().fold(key.to_string(), |k, (from, to)| from.replace(&k, *to).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_key_goes_to_bert_and_back() {
        let cases = [
            (EncoderFamily::Roberta, "roberta.encoder.layer.1.attention.self.query.weight", "bert.encoder.layer.1.attention.self.query.weight"),
            (EncoderFamily::Roberta, "classifier.dense.bias", "bert.pooler.dense.bias"),
            (EncoderFamily::Roberta, "classifier.out_proj.weight", "classifier.weight"),
            (EncoderFamily::XlmRoberta, "roberta.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.weight"),
            (EncoderFamily::DistilBert, "distilbert.transformer.layer.0.attention.out_lin.weight", "bert.encoder.layer.0.attention.output.dense.weight"),
            (EncoderFamily::DistilBert, "distilbert.transformer.layer.5.sa_layer_norm.bias", "bert.encoder.layer.5.attention.output.LayerNorm.bias"),
            (EncoderFamily::DistilBert, "distilbert.transformer.layer.0.ffn.lin2.weight", "bert.encoder.layer.0.output.dense.weight"),
            (EncoderFamily::DistilBert, "distilbert.transformer.layer.0.output_layer_norm.weight", "bert.encoder.layer.0.output.LayerNorm.weight"),
            (EncoderFamily::DistilBert, "pre_classifier.weight", "bert.pooler.dense.weight"),
            (EncoderFamily::DistilBert, "classifier.bias", "classifier.bias"),
        ];
        for (family, key, bert) in cases {
            assert_eq!(Renames::to_bert(family).apply(key), bert, "{family:?} {key}");
            assert_eq!(Renames::from_bert(family).apply(bert), key, "{family:?} {bert}");
        }
        assert_eq!(Renames::to_bert(EncoderFamily::Roberta).apply("roberta.pooler.dense.weight"), "unused.pooler.dense.weight");
        assert_eq!(Renames::to_bert(EncoderFamily::DistilBert).apply("distilbert.transformer.layer.0.attention.q_lin.weight"), "bert.encoder.layer.0.attention.self.query.weight");
    }
}
