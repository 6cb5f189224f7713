//! Optimisation: the async fine-tuning loop (`trainer`) and its tasks (`classifier`, `causal_lm`),
//! options and events, schedules, gradient clipping, checkpoints, metrics and search plans.
//!
//! [`self_test()`] is one real training step that proves a device can run forward, backward and
//! an optimizer update.

pub mod causal_lm;
pub mod checkpoint;
pub mod classifier;
pub mod clip;
pub mod encoder_lora;
pub mod events;
pub mod masked_lm;
pub mod memory;
pub mod optimizer;
pub mod question_answering;
pub mod options;
pub mod schedule;
pub mod search;
pub mod self_test;
pub mod setfit;
pub mod setfit_end_to_end;
pub mod setfit_head;
pub mod token_classifier;
pub mod trainer;

pub use checkpoint::{Checkpoint, TrainerState};
pub use classifier::{ClassifierExtras, Trained, fine_tune_classifier, fine_tune_classifier_with};
pub use events::{Best, Event, StopReason};
pub use memory::MemoryPlan;
pub use crate::infer::metrics::{ClassMetrics, Evaluation, LmMetrics, Metrics};
pub use options::TrainOptions;
pub use schedule::{LrSchedule, Schedule};
pub use search::{SearchPlan, SearchSpace, Strategy, TrialSettings};
pub use self_test::{SelfTestReport, self_test};
pub use setfit::{TrainedSetFit, fine_tune_setfit};
pub use masked_lm::{TrainedMaskedLm, fine_tune_masked_lm};
pub use question_answering::{TrainedAnswerer, fine_tune_answerer};
pub use token_classifier::{TrainedTagger, fine_tune_token_classifier};
pub use trainer::{Hooks, Run};
