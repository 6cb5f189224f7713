//! Inference: sentence embeddings, classification and its evaluation with encoders; text
//! generation, next-token loss and its evaluation with decoders (LoRA adapters attached to a
//! loaded one: [`adapters`]); the metrics both report.

pub mod adapters;
pub mod answer_eval;
pub mod contextual_augment;
pub mod encoder;
pub mod entity_metrics;
pub mod evaluation;
pub mod fill_mask;
pub mod generate;
pub mod language_model;
pub mod logistic;
pub mod lm_loss;
pub mod metrics;
pub mod qa_answers;
pub mod question_answering;
pub mod sampling;
pub mod sentence_transformer;
pub mod setfit;
pub mod squad_metrics;
pub mod text_metrics;
pub mod text_generation;
pub mod token_aggregation;
pub mod token_classification;
pub mod uncertainty;

pub use adapters::AdapterFile;
pub use encoder::{Attentions, EncodeOptions, Encoder, LabelScore, ModelFiles};
pub use generate::{Decoder, GenerateOptions, GenerateSettings, Generated, StopReason, Timing};
pub use text_generation::Completion;
