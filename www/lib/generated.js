// Generated from webtune's Rust types by tests/generated_types.rs (typescript_declarations_match_the_rust_types);
// do not edit: change the Rust type, then run `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types`.

/** Every task (session::Task): the kind of model it loads, the metrics its evaluations report, the one runs are judged by. */
export const TASKS = {"feature-extraction":{"defaultMetric":"accuracy","metrics":["accuracy","macro_f1","macro_precision","macro_recall","loss"],"modelKind":"encoder"},"fill-mask":{"defaultMetric":"loss","metrics":["loss","perplexity"],"modelKind":"encoder"},"question-answering":{"defaultMetric":"f1","metrics":["f1","exact_match","loss"],"modelKind":"encoder"},"text-classification":{"defaultMetric":"accuracy","metrics":["accuracy","macro_f1","macro_precision","macro_recall","loss"],"modelKind":"encoder"},"text-generation":{"defaultMetric":"loss","metrics":["loss","perplexity"],"modelKind":"decoder"},"token-classification":{"defaultMetric":"f1","metrics":["f1","precision","recall","accuracy","loss"],"modelKind":"encoder"}};

/** Other names transformers gives a task. */
export const TASK_ALIASES = {"ner":"token-classification","sentiment-analysis":"text-classification"};
