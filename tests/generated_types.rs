//! The files of the JS package generated from the Rust types: `www/lib/generated.d.ts` (the
//! TypeScript declarations of the options, events and results) and `www/lib/generated.js` (the
//! task table). After changing one of those types, `WEBTUNE_UPDATE_TYPES=1 cargo test --test
//! generated_types` rewrites them.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

/// `www/lib/generated.d.ts` (shipped in the package, re-exported by `index.d.ts`) is what the Rust
/// types of the training options, events and metrics say, as JS sees them. After changing one of
/// those types, `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types` rewrites it.
#[test]
fn typescript_declarations_match_the_rust_types() {
    use ts_rs::{Config, TS};
    use webtune::{
        DeviceInfo,
        data::{DataSummary, InspectOptions, inspect::LabelCount},
        infer::{Attentions, Completion, GenerateSettings, LabelScore, StopReason as GenerationStopReason},
        models::lora::{LoraInit, LoraOptions},
        session::{ModelKind, Task, TrialResult, inspect::{ContextPart, EntitySpan, QuestionPreview, TaggedPreview, TaskDataSummary, TaskInspectOptions}},
        train::{Best, ClassMetrics, Evaluation, Event, LmMetrics, MemoryPlan, Metrics, Schedule, SearchPlan, SearchSpace, SelfTestReport, StopReason, Strategy, TrainOptions, TrialSettings, options::Mode},
        infer::metrics::Mistake,
        infer::entity_metrics::{EntityMetrics, EntityTypeMetrics},
        infer::token_aggregation::{Aggregation, TokenEntity},
        infer::fill_mask::MaskFill,
        infer::squad_metrics::{SquadMetrics, SquadSubset},
        infer::qa_answers::QaAnswer,
        infer::uncertainty::{Ranked, Uncertainty},
        data::{augment::{AugmentOp, AugmentOptions}, inspect::Augmented},
        data::contrastive_pairs::Sampling,
        train::options::{Method, SetFitHeadKind},
    };
    let cfg = Config::new().with_large_int("number");
    let mut generated = String::from(
        "// Generated from webtune's Rust types by tests/generated_types.rs (typescript_declarations_match_the_rust_types);\n\
         // do not edit: change the Rust type, then run `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types`.\n",
    );
    let mut declare = |docs: Option<String>, decl: String, input: bool| {
        generated += "\n";
        generated += &docs.unwrap_or_default();
        // Options are read with serde defaults: every key of an options object may be left out.
        generated += &format!("export {}\n", if input { every_key_optional(&decl) } else { decl });
    };
    macro_rules! types {
        ($input:expr; $($t:ty),*) => { $( declare(<$t>::docs(), <$t>::decl(&cfg), $input); )* };
    }
    types!(true; TrainOptions, LoraOptions, AugmentOptions, InspectOptions, TaskInspectOptions, SearchPlan, SearchSpace);
    types!(false; Method, SetFitHeadKind, Sampling, Uncertainty, Ranked, AugmentOp, Augmented);
    types!(false; LoraInit, Schedule, Mode, Event, StopReason, Best, MemoryPlan, DeviceInfo, SelfTestReport, Evaluation, Metrics, ClassMetrics, Mistake, LmMetrics);
    types!(false; GenerateSettings, Completion, GenerationStopReason, LabelScore, Attentions);
    types!(false; EntityMetrics, EntityTypeMetrics, TokenEntity, Aggregation, MaskFill, SquadMetrics, SquadSubset, QaAnswer);
    types!(false; DataSummary, LabelCount, TaskDataSummary, TaggedPreview, EntitySpan, QuestionPreview, ContextPart);
    types!(false; Strategy, TrialSettings, TrialResult, Task, ModelKind);
    let devices = webtune::DevicePreference::NAMES.map(|n| format!("{n:?}")).join(" | ");
    generated += &format!(
        "\n/** Which device to run on: \"auto\" (a hardware GPU, else the CPU), \"webgpu\" (alias \"gpu\": any adapter, or an error), \"cpu\". */\nexport type DevicePreference = {devices};\n"
    );

    check_generated("www/lib/generated.d.ts", &generated);
    check_generated("www/lib/generated.js", &generated_js());
}

/// `www/lib/generated.js`: the values the JS shim needs from the Rust types — every task with its
/// model kind and metrics, and transformers' aliases — so that the shim learns a task added in
/// Rust (`session::Task`) from here.
fn generated_js() -> String {
    use webtune::session::Task;
    let tasks: serde_json::Map<String, serde_json::Value> = Task::ALL
        .iter()
        .map(|t| (t.name().into(), serde_json::json!({ "modelKind": t.model_kind(), "metrics": t.metrics(), "defaultMetric": t.default_metric() })))
        .collect();
    let aliases: serde_json::Map<String, serde_json::Value> = Task::ALIASES.iter().map(|(a, t)| ((*a).into(), t.name().into())).collect();
    format!(
        "// Generated from webtune's Rust types by tests/generated_types.rs (typescript_declarations_match_the_rust_types);\n\
         // do not edit: change the Rust type, then run `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types`.\n\n\
         /** Every task (session::Task): the kind of model it loads, the metrics its evaluations report, the one runs are judged by. */\n\
         export const TASKS = {};\n\n\
         /** Other names transformers gives a task. */\n\
         export const TASK_ALIASES = {};\n",
        serde_json::Value::Object(tasks),
        serde_json::Value::Object(aliases),
    )
}

/// Compares a generated file with the committed one (`WEBTUNE_UPDATE_TYPES=1` rewrites it).
fn check_generated(file: &str, generated: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    if std::env::var_os("WEBTUNE_UPDATE_TYPES").is_some() {
        std::fs::write(&path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from the Rust types; run `WEBTUNE_UPDATE_TYPES=1 cargo test --test generated_types` and commit it",
        path.display()
    );
}

/// `type X = { a: T, b?: U, };` → every top-level key optional (`a?: T`); comments are copied as
/// they are.
fn every_key_optional(decl: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut expect_key) = (0i32, false);
    let mut rest = decl;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out += &rest[..end];
            rest = &rest[end..];
            continue;
        }
        match c {
            '{' | '[' | '(' | '<' => depth += 1,
            '}' | ']' | ')' | '>' => depth -= 1,
            ':' if expect_key && depth == 1 && !out.ends_with('?') => out.push('?'),
            _ => {}
        }
        if depth == 1 && matches!(c, '{' | ',') {
            expect_key = true;
        } else if c == ':' || c == '"' {
            expect_key = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
