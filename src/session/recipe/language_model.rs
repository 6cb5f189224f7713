//! The recipe of a text-generation run: recipe/train_causal_lm.py on the run's rows (texts,
//! prompt/completion pairs, conversations), read as webtune reads them — the chat template,
//! assistant-only loss, packing, BOS/EOS — so that `--webtune-order` gives webtune's steps.

use serde_json::{Value, json};

use super::{Folder, Readme, RecipeFiles, batch_order, from_start, json_lines, check_options};
use crate::{
    Error, Result,
    data::{TextColumns, TextContent, TextExample},
    infer::{
        generate::Decoder,
        language_model::{LmRowEncoder, encode_all},
    },
    models::{decoder::DecoderModel, lora::LoraBase},
    session::{SessionData, Task},
    train::{Checkpoint, TrainOptions, causal_lm::lora_start},
    weights::peft::adapter_config,
};

/// The program that runs a causal-LM recipe.
const TRAIN_CAUSAL_LM_PY: &str = include_str!("train_causal_lm.py");

const README: Readme = Readme {
    task: "text generation (a causal language model)",
    settings: "max length, chat template, packing, BOS/EOS/pad ids",
    rows: "`{text}`, `{prompt, completion}` or `{messages: [{role, content}]}`",
    notes: "Rows are read as webtune reads them: a text learns every token (or, with `\"packing\"`, the\n\
texts are joined into blocks of `max_length` tokens); a prompt/completion pair learns the completion,\n\
through the model's chat template when `\"chat_template\"` is true; a conversation learns every\n\
assistant turn. A batch's loss is the mean over its learned tokens, and accumulated batches count\n\
alike, as in webtune. Evaluation reports `eval_loss` (over every learned token of the validation rows)\n\
and `eval_perplexity`. Differences from webtune's run: with `evalEvery`, the Trainer evaluates every\n\
N steps only (webtune also at each epoch's end).",
    pipeline: "text-generation",
    adapter: "a LoRA run's adapter\n\
attaches with `gen.adapters.load(name, \"/path/to/out/final/\")` (or `webtune generate --adapter\n\
out/final`), and loads in PEFT with `PeftModel.from_pretrained`.",
};

/// The files of the recipe of fine-tuning `decoder` (its Hugging Face weights, named `model` in
/// the recipe: a hub id or the folder the person will train from) as a causal language model on
/// `data`, as webtune would run it with `options`.
pub async fn language_model_recipe(
    decoder: &Decoder,
    model: &str,
    data: &SessionData,
    columns: &TextColumns,
    options: &TrainOptions,
    resume: Option<&Checkpoint>,
) -> Result<RecipeFiles> {
    from_start(Task::TextGeneration, resume)?;
    let (lora_base, from_gguf) = match &decoder.model {
        DecoderModel::Llama(_) => (LoraBase::Llama, false),
        DecoderModel::Gpt2(_) => (LoraBase::Gpt2, false),
        DecoderModel::Packed(_) | DecoderModel::GpuPacked(_) => (LoraBase::Llama, true),
    };
    if decoder.lora.is_some() {
        return Err(Error::Options("this model already carries LoRA adapters; write the recipe from its base model".into()));
    }
    check_options(Task::TextGeneration, options, "a language model")?;
    let (train, validation) = data.texts(columns, options.seed)?;
    if train.is_empty() {
        return Err(Error::Data("the training data has no rows".into()));
    }
    let packing = options.packing || data.train.is_plain_text(); // a .txt corpus is packed, as training packs it
    let mut warnings = Vec::new();
    if from_gguf {
        // transformers trains the Hugging Face weights the GGUF file was made from (train.py
        // refuses a .gguf path and asks for them)
        warnings.push(format!(
            "webtune's run started from a GGUF file ({model}); the recipe trains the Hugging Face model it was made from: pass its hub id or folder as train.py --model"
        ));
    }
    let max_length = options.max_length_for(decoder.config().max_positions(), &mut warnings);
    let encoder = LmRowEncoder::new(decoder, options.chat_template)?;
    // the rows webtune's run trains on (and so the batch order), and the validation rows checked alike
    let (rows, cut) = encode_all(&encoder, &train, max_length, packing, "training")?;
    warnings.extend(cut);
    if let Some(v) = &validation {
        warnings.extend(encode_all(&encoder, v, max_length, packing, "validation")?.1);
    }
    let lengths: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    let order = batch_order(&lengths, options);
    let (lora, initial) = match &options.lora {
        Some(l) => {
            l.validate(lora_base)?;
            let config = adapter_config(l, lora_base, model)?;
            let adapter = lora_start(decoder, l, options.seed).await?;
            let value = serde_json::from_slice::<Value>(&config).map_err(|e| Error::Backend(format!("adapter config: {e}")))?;
            (Some(value), Some([("initial_adapter/adapter_model.safetensors", adapter), ("initial_adapter/adapter_config.json", config)]))
        }
        None => (None, None),
    };
    Folder {
        task: Task::TextGeneration,
        model,
        data,
        options,
        settings: json!({ "max_length": max_length, "packing": packing, "chat_template": encoder.chat(), "tokens": encoder.framing() }),
        warnings,
        lora,
        initial_adapter: initial.is_some(),
        resume: None,
        train: text_rows(&train)?,
        validation: validation.as_deref().map(text_rows).transpose()?,
        order: &order,
        program: TRAIN_CAUSAL_LM_PY,
        readme: &README,
        extra: initial.into_iter().flatten().map(|(name, bytes)| (name.to_string(), bytes)).collect(),
    }
    .files()
}

/// The examples as JSON lines: `{text}`, `{prompt, completion}` or `{messages}`.
fn text_rows(examples: &[TextExample]) -> Result<Vec<u8>> {
    json_lines(examples.iter().map(|e| match &e.content {
        TextContent::Text(text) => json!({ "text": text }),
        TextContent::Pair { prompt, completion } => json!({ "prompt": prompt, "completion": completion }),
        TextContent::Conversation(messages) => {
            json!({ "messages": messages.iter().map(|m| json!({ "role": m.role, "content": m.content })).collect::<Vec<_>>() })
        }
    }))
}
