//! Fine-tuning decoders as causal language models: step-by-step parity with PyTorch on CPU and
//! wgpu (prompt/completion pairs, where only the completion is learned, and plain texts), export
//! to the Hugging Face layout, checkpoint + resume, validation metrics and bad options; the text
//! layer of generation (stop strings, chats trimmed to the context).
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;

use std::cell::RefCell;

use common::{
    cpu_turn,
    lm_training::{Family, check_lm_steps_match_pytorch, examples, fixture, fixture_of, recipe},
};
use pollster::block_on;
use webtune::{
    DevicePreference, Error, device,
    infer::{Decoder, GenerateOptions, StopReason, language_model::LmRowEncoder},
    models::lora::LoraOptions,
    data::{TextContent, TextExample},
    tokenizer::chat::{ChatTemplate, Message},
    train::{Checkpoint, Evaluation, Event, Hooks, TrainOptions, causal_lm},
    weights::llama::export_causal_lm,
};


#[test]
fn completion_only_fine_tuning_matches_pytorch_on_cpu() {
    let _turn = cpu_turn();
    block_on(check_lm_steps_match_pytorch(&device::cpu(), "pairs", 1e-4));
}

#[test]
fn text_fine_tuning_matches_pytorch_on_cpu() {
    let _turn = cpu_turn();
    block_on(check_lm_steps_match_pytorch(&device::cpu(), "texts", 1e-4));
}

#[test]
fn completion_only_fine_tuning_matches_pytorch_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    assert_eq!(dev.info().kind, "wgpu");
    block_on(check_lm_steps_match_pytorch(&dev, "pairs", 1e-3));
}

/// The exported folder (config.json + model.safetensors, Hugging Face names) loads back as the
/// trained model: same generation, same loss.
#[test]
fn the_trained_model_exports_to_the_hugging_face_layout() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, trained) = block_on(check_lm_steps_match_pytorch(&cpu, "pairs", 1e-4));
    let weights = block_on(export_causal_lm(trained.model.as_llama().unwrap(), &trained.device)).unwrap();
    let config = decoder.model.llama_config().unwrap().to_json().unwrap();
    let text: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(text["architectures"][0], "LlamaForCausalLM");
    assert_eq!(text["num_key_value_heads"], 2);
    let inv = safetensors::SafeTensors::deserialize(&weights).unwrap();
    let mut names: Vec<String> = inv.names().into_iter().map(str::to_string).collect();
    names.sort();
    assert!(names.contains(&"model.layers.0.input_layernorm.weight".to_string()), "{names:?}");
    assert!(names.contains(&"lm_head.weight".to_string()));
    assert_eq!(inv.tensor("model.layers.0.self_attn.k_proj.weight").unwrap().shape(), [16, 32]); // PyTorch [out, in]

    let reloaded = Decoder::load(&config, weights, &cpu).unwrap();
    let prompt = [1u32, 17, 42, 5];
    let opts = webtune::infer::GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let mut trained_decoder = decoder;
    trained_decoder.model = trained.model;
    let a = block_on(trained_decoder.generate(&prompt, &opts, |_| true)).unwrap();
    let b = block_on(reloaded.generate(&prompt, &opts, |_| true)).unwrap();
    assert_eq!((a.tokens, a.stop_reason), (b.tokens, b.stop_reason));
}

/// A run checkpointed at step 4 and resumed ends where the uninterrupted run ends (all weights).
#[test]
fn a_resumed_run_ends_like_an_uninterrupted_one() {
    let _turn = cpu_turn();
    resumed_run_ends_like_an_uninterrupted_one(None);
}

/// The same with LoRA: the checkpoint holds the adapters, the base comes from the model.
#[test]
fn a_resumed_lora_run_ends_like_an_uninterrupted_one() {
    let _turn = cpu_turn();
    resumed_run_ends_like_an_uninterrupted_one(Some(common::lm_training::lora_options()));
}

fn resumed_run_ends_like_an_uninterrupted_one(lora: Option<LoraOptions>) {
    let cpu = device::cpu();
    let (decoder, expected) = fixture(&cpu);
    let data = examples(&expected, "pairs");
    let options = TrainOptions { checkpoint_every: Some(2), lora, ..recipe(&expected, 3) }; // 2 batches per epoch
    let whole = block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, None, &options, None, Hooks::events(&mut |_| {}))).unwrap();

    let saved: RefCell<Option<Checkpoint>> = RefCell::new(None);
    let mut keep = |c: &Checkpoint| {
        if c.state.step == 4 {
            *saved.borrow_mut() = Some(c.clone());
        }
        Ok(())
    };
    let stop_after = |step: usize| saved.borrow().as_ref().is_some_and(|c| c.state.step == step);
    let cancelled = || stop_after(4);
    let hooks = Hooks { on_event: &mut |_| {}, on_checkpoint: Some(&mut keep), cancelled: &cancelled };
    block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, None, &options, None, hooks)).unwrap();
    let files = saved.borrow().clone().expect("a checkpoint at step 4").files().unwrap();
    let checkpoint = Checkpoint::from_files(|n| files.iter().find(|(f, _)| *f == n).map(|(_, b)| b.clone())).unwrap();
    let resumed = block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, None, &options, Some(&checkpoint), Hooks::events(&mut |_| {}))).unwrap();
    assert_eq!(resumed.steps, whole.steps);
    let a = block_on(export_causal_lm(whole.model.as_llama().unwrap(), &whole.device)).unwrap();
    let b = block_on(export_causal_lm(resumed.model.as_llama().unwrap(), &resumed.device)).unwrap();
    let (a, b) = (safetensors::SafeTensors::deserialize(&a).unwrap(), safetensors::SafeTensors::deserialize(&b).unwrap());
    for (name, t) in a.tensors() {
        let u = b.tensor(&name).unwrap();
        common::parity::assert_close(&name, &common::parity::f32s(u.data()), &common::parity::f32s(t.data()), 1e-6);
    }
}

/// Validation gives loss and perplexity; keep-best picks the lowest loss.
#[test]
fn evaluation_reports_loss_and_perplexity() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, expected) = fixture(&cpu);
    let data = examples(&expected, "texts");
    let options = TrainOptions { epochs: 2, batch_size: 2, learning_rate: 1e-2, log_every: 1, ..TrainOptions::default() };
    let mut evals = Vec::new();
    let run = block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, Some(&data), &options, None, Hooks::events(&mut |e| {
        if let Event::Eval { metrics: Evaluation::Language(m), .. } = e {
            evals.push(m);
        }
    })))
    .unwrap();
    assert_eq!(evals.len(), 2);
    for m in &evals {
        assert!((m.perplexity - m.loss.exp()).abs() < 1e-9 && m.examples == 4 && m.tokens > 40, "{m:?}");
    }
    assert!(evals[1].loss < evals[0].loss, "{evals:?}");
    assert_eq!(run.best.unwrap().metric, "loss");
}

#[test]
fn bad_options_are_clear_errors() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, expected) = fixture(&cpu);
    let data = examples(&expected, "pairs");
    let run = |o: TrainOptions| block_on(causal_lm::fine_tune(&decoder, &decoder.device, None, &data, None, &o, None, Hooks::events(&mut |_| {})));
    match run(TrainOptions { metric: Some("accuracy".into()), ..TrainOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("perplexity"), "{m}"),
        other => panic!("expected an options error, got {:?}", other.map(|r| r.steps)),
    }
    match run(TrainOptions { chat_template: Some(true), ..TrainOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("no chat template"), "{m}"),
        other => panic!("expected an options error, got {:?}", other.map(|r| r.steps)),
    }
    // every completion is cut away by maxLength 3 (the prompts are longer)
    match run(TrainOptions { max_length: 3, ..TrainOptions::default() }) {
        Err(Error::Data(m)) => assert!(m.contains("maxLength"), "{m}"),
        other => panic!("expected a data error, got {:?}", other.map(|r| r.steps)),
    }
}

/// `add_bos_token: true` in tokenizer_config.json (webtune's export of a GGUF model whose tokenizer
/// does not add BOS itself) is honoured, and a BOS the tokenizer adds is never doubled.
#[test]
fn tokenizer_config_add_bos_token_is_honoured_once() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (plain, expected) = fixture(&cpu);
    let weights = block_on(export_causal_lm(plain.model.as_llama().unwrap(), &plain.device)).unwrap();
    let config = plain.model.llama_config().unwrap().to_json().unwrap();
    let mut tokenizer: serde_json::Value = serde_json::from_str(&plain.text.as_ref().unwrap().tokenizer.to_json().unwrap()).unwrap();
    let adds_bos = tokenizer.to_string();
    tokenizer["post_processor"] = serde_json::Value::Null; // this tokenizer.json adds no BOS
    let no_bos = tokenizer.to_string();
    let flag = br#"{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"}"#;
    let load = |tok: &str, tc: Option<&[u8]>| Decoder::from_hf(&config, weights.clone(), tok.as_bytes(), tc, &cpu).unwrap();
    let data = examples(&expected, "texts");
    let bos_count = |d: Decoder| {
        let row = LmRowEncoder::new(&d, None).unwrap().encode(&data[0], 64).unwrap();
        row.ids.iter().filter(|&&i| i == 1).count()
    };
    assert_eq!(bos_count(load(&no_bos, None)), 0, "no BOS without the flag");
    assert_eq!(bos_count(load(&no_bos, Some(flag))), 1, "the flag adds one");
    assert_eq!(bos_count(load(&adds_bos, Some(flag))), 1, "never doubled");
}

#[test]
fn lora_fine_tuning_matches_peft_on_cpu() {
    let _turn = cpu_turn();
    block_on(check_lm_steps_match_pytorch(&device::cpu(), "lora", 1e-4));
}

#[test]
fn lora_fine_tuning_matches_peft_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu)).expect("wgpu adapter required");
    block_on(check_lm_steps_match_pytorch(&dev, "lora", 1e-3));
}

/// The adapters come out as PEFT's files with PEFT's trained values; merged into the weights
/// (format "huggingface") they give the same generation; only the adapters changed.
#[test]
fn lora_adapters_export_as_peft_files_and_merge() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, trained) = block_on(check_lm_steps_match_pytorch(&cpu, "lora", 1e-4));
    let tuned = decoder.with_model(trained.model, trained.device, Some(common::lm_training::lora_options()));
    let files = block_on(tuned.export_adapter("tiny")).unwrap();
    let (names, ours) = (files.iter().map(|(n, _)| *n).collect::<Vec<_>>(), &files[0].1);
    assert_eq!(names, ["adapter_model.safetensors", "adapter_config.json"]);
    let config: serde_json::Value = serde_json::from_slice(&files[1].1).unwrap();
    assert_eq!((config["peft_type"].as_str(), config["r"].as_u64(), config["lora_alpha"].as_f64()), (Some("LORA"), Some(4), Some(8.0)));
    common::parity::assert_same_safetensors("against PEFT's trained adapter", ours, common::lm_training::peft_adapters().1, 1e-4);
    // merged: a plain model that generates what the adapted one generates
    let merged = block_on(tuned.export()).unwrap();
    let reloaded = Decoder::load(&merged[0].1, merged[1].1.clone(), &cpu).unwrap();
    let opts = webtune::infer::GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let prompt = [1u32, 17, 42, 5];
    assert_eq!(block_on(tuned.generate(&prompt, &opts, |_| true)).unwrap().tokens, block_on(reloaded.generate(&prompt, &opts, |_| true)).unwrap().tokens);
    // the base weights did not move: the merged weights differ from the base only where adapters are
    let base = block_on(export_causal_lm(decoder.model.as_llama().unwrap(), &decoder.device)).unwrap();
    let (base, merged) = (safetensors::SafeTensors::deserialize(&base).unwrap(), safetensors::SafeTensors::deserialize(&merged[1].1).unwrap());
    for (name, t) in base.tensors() {
        let same = t.data() == merged.tensor(&name).unwrap().data();
        let adapted = name.contains("q_proj") || name.contains("v_proj");
        assert_eq!(same, !adapted, "{name}");
    }
}

#[test]
fn bad_lora_options_are_clear_errors() {
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, expected) = fixture(&cpu);
    let data = examples(&expected, "pairs");
    let run = |lora: LoraOptions| {
        let o = TrainOptions { lora: Some(lora), ..TrainOptions::default() };
        block_on(causal_lm::fine_tune(&decoder, &cpu, None, &data, None, &o, None, Hooks::events(&mut |_| {}))).map(|r| r.steps)
    };
    match run(LoraOptions { target_modules: Some(vec!["c_attn".into()]), ..LoraOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("unknown module \"c_attn\"") && m.contains("q_proj"), "{m}"),
        other => panic!("expected an options error, got {other:?}"),
    }
    match run(LoraOptions { rank: 0, ..LoraOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("lora.rank"), "{m}"),
        other => panic!("expected an options error, got {other:?}"),
    }
    // an adapter for another rank
    let o = TrainOptions { lora: Some(LoraOptions { rank: 2, ..common::lm_training::lora_options() }), ..TrainOptions::default() };
    match block_on(causal_lm::fine_tune(&decoder, &cpu, Some(common::lm_training::peft_adapters().0), &data, None, &o, None, Hooks::events(&mut |_| {}))) {
        Err(Error::Weights(m)) => assert!(m.contains("shape") && m.contains("another rank"), "{m}"),
        other => panic!("expected a weights error, got {:?}", other.map(|r| r.steps)),
    }
    // an adapter for more projections than the options adapt
    let o = TrainOptions { lora: Some(LoraOptions { target_modules: Some(vec!["q_proj".into()]), ..common::lm_training::lora_options() }), ..TrainOptions::default() };
    match block_on(causal_lm::fine_tune(&decoder, &cpu, Some(common::lm_training::peft_adapters().0), &data, None, &o, None, Hooks::events(&mut |_| {}))) {
        Err(Error::Weights(m)) => assert!(m.contains("adapts more projections"), "{m}"),
        other => panic!("expected a weights error, got {:?}", other.map(|r| r.steps)),
    }
    match run(LoraOptions { target_modules: Some(vec!["q_proj".into(), "q_proj".into()]), ..LoraOptions::default() }) {
        Err(Error::Options(m)) => assert!(m.contains("twice"), "{m}"),
        other => panic!("expected an options error, got {other:?}"),
    }
}

/// The tiny Llama with its character tokenizer and a plain chat template (`role: content.` per
/// message, then `assistant:`).
fn chat_decoder() -> Decoder {
    let cpu = device::cpu();
    let (plain, _) = fixture(&cpu);
    let template = r#"{"chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content }}.{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}", "bos_token": "<s>", "eos_token": "</s>"}"#;
    Decoder::from_hf(
        &plain.model.llama_config().unwrap().to_json().unwrap(),
        block_on(export_causal_lm(plain.model.as_llama().unwrap(), &plain.device)).unwrap(),
        plain.text.as_ref().unwrap().tokenizer.to_json().unwrap().as_bytes(),
        Some(template.as_bytes()),
        &cpu,
    )
    .unwrap()
}

/// A stop string ends the reply where it begins: left out of the text and of the stream (which
/// never shows half of it), `stopReason` "stop"; the timing is reported.
#[test]
fn stop_strings_end_the_reply_before_them() {
    let (decoder, _) = fixture(&device::cpu());
    let options = |stop: Vec<String>| GenerateOptions { max_new_tokens: 24, stop: Some(vec![]), stop_strings: stop, ..Default::default() };
    let full = block_on(decoder.complete("ab", &options(vec![]), |_| true)).unwrap();
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() >= 8, "{:?}", full.text);
    let stop: String = chars[5..7].iter().collect();
    let at = full.text.find(&stop).unwrap();
    let mut streamed = String::new();
    let out = block_on(decoder.complete("ab", &options(vec!["never said".into(), stop.clone()]), |piece| {
        streamed.push_str(piece);
        true
    }))
    .unwrap();
    assert_eq!((out.text.as_str(), out.stop_reason), (&full.text[..at], StopReason::Stop), "stop {stop:?} in {:?}", full.text);
    assert_eq!(streamed, out.text);
    assert!(out.prompt_ms > 0.0 && out.tokens_per_second > 0.0, "{out:?}");
    let unmatched = block_on(decoder.complete("ab", &options(vec!["never said".into()]), |_| true)).unwrap();
    assert_eq!((unmatched.text, unmatched.stop_reason), (full.text, StopReason::Length));
}

/// With `trim_history` a chat longer than the context loses its oldest turns, whole, the system
/// message kept; the most that fits is kept. Without it, or when the last message alone is too
/// long, the error says so.
#[test]
fn long_chats_drop_their_oldest_turns_to_fit() {
    let chat = chat_decoder();
    let tok = &chat.text.as_ref().unwrap().tokenizer;
    let template = chat.text.as_ref().unwrap().chat.as_ref().unwrap();
    let m = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
    let mut messages = vec![m("system", "s")];
    for _ in 0..3 {
        messages.extend([m("user", "q"), m("assistant", "a")]);
    }
    messages.push(m("user", "z"));
    let prompt_len = |kept: &[Message]| tok.ids(&template.render(kept, true).unwrap(), false).unwrap().len();
    let limit = chat.config().max_positions();
    let options = GenerateOptions { max_new_tokens: 8, trim_history: true, ..Default::default() };
    assert!(prompt_len(&messages) + 8 > limit, "the fixture conversation must not fit");
    let out = block_on(chat.chat(&messages, &options, |_| true)).unwrap();
    let kept = |dropped: usize| [&messages[..1], &messages[1 + dropped..]].concat();
    assert_eq!(out.dropped_messages, 4, "two whole turns dropped");
    assert_eq!(out.prompt_tokens, prompt_len(&kept(4)));
    assert!(out.prompt_tokens + 8 <= limit && prompt_len(&kept(2)) + 8 > limit, "the most that fits is kept");
    let e = block_on(chat.chat(&messages, &GenerateOptions { max_new_tokens: 8, ..Default::default() }, |_| true)).unwrap_err();
    assert!(e.to_string().contains("reads at most"), "{e}");
    let long = [m("system", "s"), m("user", &"x".repeat(limit))];
    let e = block_on(chat.chat(&long, &options, |_| true)).unwrap_err();
    assert!(matches!(e, Error::Data(_)) && e.to_string().contains("shorten the message"), "{e}");
}

/// Conversations teach every assistant turn and nothing else: token for token transformers'
/// `return_assistant_tokens_mask` for a template with `{% generation %}` blocks, and the same
/// mask from the same template without them (found turn by turn) — a character tokenizer and a
/// byte-level BPE with ChatML. Plain texts pack into run_clm.py's blocks
/// (tests/reference/make_chat_data_fixture.py).
#[test]
fn conversations_learn_assistant_turns_and_texts_pack_like_transformers() {
    let fx: serde_json::Value = serde_json::from_str(include_str!("fixtures/chat-data.json")).unwrap();
    let conversations: Vec<Vec<Message>> = serde_json::from_value(fx["conversations"].clone()).unwrap();
    for (name, family) in [("llama", Family::Llama), ("gpt2", Family::Gpt2)] {
        for which in ["tagged", "plain"] {
            let (mut decoder, _) = fixture_of(family, &device::cpu());
            let source = fx["templates"][name][which].as_str().unwrap();
            decoder.text.as_mut().unwrap().chat = Some(ChatTemplate::new(source, "<s>", "</s>").unwrap());
            let encoder = LmRowEncoder::new(&decoder, None).unwrap();
            for (i, (messages, want)) in conversations.iter().zip(fx["masks"][name].as_array().unwrap()).enumerate() {
                let example = TextExample { content: TextContent::Conversation(messages.clone()), origin: format!("c:{i}") };
                let row = encoder.encode(&example, 512).unwrap();
                let want_ids: Vec<u32> = serde_json::from_value(want["input_ids"].clone()).unwrap();
                let want_mask: Vec<bool> = want["assistant_masks"].as_array().unwrap().iter().map(|m| m == 1).collect();
                assert_eq!(row.ids, want_ids, "{name} {which} conversation {i}: ids");
                let mask: Vec<bool> = (0..row.ids.len()).map(|j| row.learn.iter().any(|r| r.contains(&j))).collect();
                assert_eq!(mask, want_mask, "{name} {which} conversation {i}: assistant mask");
            }
        }
        let (decoder, _) = fixture_of(family, &device::cpu());
        let packing = &fx["packing"][name];
        let texts: Vec<TextExample> = packing["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| TextExample { content: TextContent::Text(t.as_str().unwrap().into()), origin: "t.txt".into() })
            .collect();
        let block = packing["block_size"].as_u64().unwrap() as usize;
        let rows = LmRowEncoder::new(&decoder, None).unwrap().pack(&texts, block, "training").unwrap();
        let blocks: Vec<Vec<u32>> = serde_json::from_value(packing["blocks"].clone()).unwrap();
        assert_eq!(rows.iter().map(|r| r.ids.clone()).collect::<Vec<_>>(), blocks, "{name}: packed blocks");
        assert!(rows.iter().all(|r| r.learned() == block - 1), "every token but the first of a block is learned");
        let e = LmRowEncoder::new(&decoder, None).unwrap().pack(&texts[..1], 4096, "training").unwrap_err();
        assert!(e.to_string().contains("fewer than one block"), "{e}");
    }
    // a conversation needs a chat template
    let (plain, _) = fixture(&device::cpu());
    let example = TextExample { content: TextContent::Conversation(conversations[0].clone()), origin: "c.jsonl:1".into() };
    let e = LmRowEncoder::new(&plain, None).unwrap().encode(&example, 64).unwrap_err();
    assert!(e.to_string().contains("c.jsonl:1") && e.to_string().contains("chat template"), "{e}");
}

/// `generate: true` answers each row's prompt greedily (through the chat template, as training
/// renders the row) and scores the answers with BLEU and ROUGE-L (each checked against sacreBLEU and
/// rouge-score in tests/data.rs); an answer equal to its reference scores 100 / 1.
#[test]
fn evaluation_with_generate_scores_the_greedy_answers() {
    use webtune::session::{DataFile, DecoderEvalSettings, evaluate_decoder};
    let chat = chat_decoder();
    let question = |q: &str| vec![Message { role: "user".into(), content: q.into() }];
    let options = GenerateOptions { max_new_tokens: 12, ..Default::default() };
    let said = |q: &str| block_on(chat.chat(&question(q), &options, |_| true)).unwrap().text.trim().to_string();
    let (a, b) = (said("hi"), said("why"));
    let rows = format!(
        "{}\n{}\n",
        serde_json::json!({ "prompt": "hi", "completion": a }),
        serde_json::json!({ "messages": [{ "role": "user", "content": "why" }, { "role": "assistant", "content": "because it is so" }] })
    );
    let settings = DecoderEvalSettings { generate: true, max_new_tokens: 12, ..Default::default() };
    // one file holds one kind of row: pairs here, the conversation below
    let pairs = DataFile { bytes: rows.lines().next().unwrap().as_bytes().to_vec(), name: "e.jsonl".into() };
    let m = block_on(evaluate_decoder(&chat, &pairs, &Default::default(), &settings)).unwrap();
    assert_eq!(m.answers.as_deref(), Some(&[a.clone()][..]));
    assert!((m.bleu.unwrap() - 100.0).abs() < 1e-9 && (m.rouge_l.unwrap() - 1.0).abs() < 1e-9, "{m:?}");
    let conversation = DataFile { bytes: rows.lines().nth(1).unwrap().as_bytes().to_vec(), name: "e.jsonl".into() };
    let m = block_on(evaluate_decoder(&chat, &conversation, &Default::default(), &settings)).unwrap();
    let want = webtune::infer::text_metrics::corpus_bleu(&[b.clone()], &["because it is so".to_string()]);
    assert_eq!((m.answers.unwrap(), m.bleu.unwrap()), (vec![b], want));
    let texts = DataFile { bytes: b"{\"text\":\"plain\"}\n".to_vec(), name: "t.jsonl".into() };
    let e = block_on(evaluate_decoder(&chat, &texts, &Default::default(), &settings)).unwrap_err();
    assert!(e.to_string().contains("t.jsonl:1") && e.to_string().contains("plain text"), "{e}");
}

/// Prompt/completion rows of a chat model go through its chat template (a user turn, then the
/// assistant's reply, which alone is learned); `chatTemplate: false` uses the plain texts.
#[test]
fn chat_models_learn_the_reply_rendered_by_their_template() {
    let chat = chat_decoder();
    let tok = &chat.text.as_ref().unwrap().tokenizer;
    let row = webtune::data::TextExample {
        content: webtune::data::TextContent::Pair { prompt: "hi".into(), completion: "yo".into() },
        origin: "t:1".into(),
    };
    let templated = LmRowEncoder::new(&chat, None).unwrap().encode(&row, 64).unwrap();
    let asked = tok.ids("user: hi.assistant:", false).unwrap();
    assert_eq!(templated.first_learned(), Some(asked.len()));
    assert_eq!(templated.ids, [asked, tok.ids(" yo.", false).unwrap()].concat(), "the reply as the template renders it, no EOS added");
    let plain_row = LmRowEncoder::new(&chat, Some(false)).unwrap().encode(&row, 64).unwrap();
    assert_eq!(plain_row.ids, [tok.ids("hi", true).unwrap(), tok.ids("yo", false).unwrap(), vec![2]].concat(), "BOS prompt, completion, EOS");
    assert_eq!(plain_row.first_learned(), Some(3));
}

/// LoRA starts as PEFT's default (`init_lora_weights=True`): `A` Kaiming-uniform with a = √5 over
/// the adapted layer's fan-in, i.e. U(±1/√fan_in), `B` zero, scale alpha / rank. Checked on
/// SmolLM2-135M's attention shape (fan-in 576, rank 8): every value within the bound, the sample
/// standard deviation within sampling error of bound/√3 (N = 576·8·2 values; the standard error
/// of a uniform sample's std is ≈ 0.5 % here, the check allows 3 %), values reaching the bound.
#[test]
fn lora_starts_as_peft_kaiming_uniform_by_default() {
    use burn::tensor::Tensor;
    use webtune::models::{
        llama::{LlamaConfig, LlamaForCausalLM},
        lora::LoraInit,
    };
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let config = LlamaConfig::from_json(
        r#"{"vocab_size": 16, "hidden_size": 576, "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 32}"#,
    )
    .unwrap();
    let factors = |options: &LoraOptions| {
        let model = options.apply_llama(LlamaForCausalLM::new(&config, cpu.device()), 0).unwrap();
        let (mut a, mut b, mut scales) = (Vec::new(), Vec::new(), Vec::new());
        for layer in &model.model.layers {
            let adapter = layer.self_attn.q_proj.weight.adapter().expect("q_proj is adapted");
            assert_eq!(adapter.a.val().dims(), [576, options.rank], "A is [fan_in, rank]");
            let read = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            a.extend(read(adapter.a.val()));
            b.extend(read(adapter.b.val()));
            scales.push(adapter.scale);
            assert!(layer.self_attn.k_proj.weight.adapter().is_none(), "k_proj is not a target");
        }
        (a, b, scales)
    };
    let std = |v: &[f32]| {
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };

    let defaults = LoraOptions::default();
    assert_eq!(defaults.init, LoraInit::Kaiming, "PEFT's initialisation is the default");
    assert_eq!((defaults.dropout, defaults.rslora), (0.0, false), "PEFT's defaults");
    let (a, b, scales) = factors(&defaults);
    let bound = 1.0 / 576f64.sqrt();
    assert!(a.iter().all(|&x| (x as f64).abs() <= bound * (1.0 + 1e-6)), "A within ±1/√576");
    let max = a.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
    assert!(max > 0.99 * bound, "A reaches the bound ({max} vs {bound})");
    let s = std(&a);
    assert!((s / (bound / 3f64.sqrt()) - 1.0).abs() < 0.03, "std of A {s}, expected {}", bound / 3f64.sqrt());
    assert!(b.iter().all(|&x| x == 0.0), "B starts at zero");
    assert!(scales.iter().all(|&s| s == 16.0 / 8.0), "scale alpha / rank");

    // "gaussian" (Burn's own draw): standard deviation 1/rank, five times PEFT's at this shape
    let (a, _, _) = factors(&LoraOptions { init: LoraInit::Gaussian, ..LoraOptions::default() });
    let s = std(&a);
    assert!((s / 0.125 - 1.0).abs() < 0.05, "std of gaussian A {s}, expected 0.125");

    // rsLoRA: alpha / √rank
    let (_, _, scales) = factors(&LoraOptions { rslora: true, ..LoraOptions::default() });
    assert!(scales.iter().all(|&s| (s - 16.0 / 8f64.sqrt()).abs() < 1e-12), "{scales:?}");
}

/// `lora.dropout` drops the adapters' input while training (PEFT's `lora_dropout`), and only then:
/// on the inference device the adapted model computes the same with or without it.
#[test]
fn lora_dropout_applies_to_the_adapters_input_while_training() {
    use burn::tensor::{Int, Tensor, TensorData};
    let _turn = cpu_turn();
    let cpu = device::cpu();
    let (decoder, _) = fixture(&cpu);
    let (_, adapter) = common::lm_training::peft_adapters(); // trained factors: B is not zero
    let ids = |d: &burn::tensor::Device| Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 5, 9, 3, 7, 2], [1, 6]), d);
    let logits = |options: &LoraOptions, device: &webtune::ComputeDevice| {
        let base = webtune::weights::llama::load_causal_lm(decoder.model.llama_config().unwrap(), block_on(export_causal_lm(decoder.model.as_llama().unwrap(), &decoder.device)).unwrap(), device.device()).unwrap().0;
        let model = webtune::weights::peft::load_adapter(options.apply_llama(base, 0).unwrap(), &<webtune::models::llama::LlamaForCausalLM as webtune::weights::decoder_family::DecoderFamily>::adapter_layout(), adapter).unwrap();
        model.forward(ids(device.device()), None, None).into_data().try_to_vec::<f32>().unwrap()
    };
    let plain = common::lm_training::lora_options();
    let dropped = LoraOptions { dropout: 0.5, ..plain.clone() };
    let train = cpu.with_autodiff();
    assert_eq!(logits(&plain, &cpu), logits(&dropped, &cpu), "no dropout at inference");
    assert_ne!(logits(&plain, &train), logits(&dropped, &train), "dropout while training");
    let (t, c) = (logits(&plain, &train), logits(&plain, &cpu));
    assert!(t.len() == c.len() && t.iter().zip(&c).all(|(x, y)| (x - y).abs() <= 1e-6), "without dropout training computes the same");
    for (bad, needle) in [(LoraOptions { dropout: 1.0, ..plain.clone() }, "lora.dropout"), (LoraOptions { alpha: -1.0, ..plain.clone() }, "lora.alpha")] {
        match bad.validate(webtune::models::lora::LoraBase::Llama) {
            Err(Error::Options(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected an options error, got {other:?}"),
        }
    }
    match "pissa".parse::<webtune::models::lora::LoraInit>() {
        Err(Error::Options(m)) => assert!(m.contains("\"kaiming\"") && m.contains("\"gaussian\""), "{m}"),
        other => panic!("expected an options error, got {other:?}"),
    }
    let config: serde_json::Value =
        serde_json::from_slice(&webtune::weights::peft::adapter_config(&LoraOptions { rslora: true, dropout: 0.1, ..plain }, webtune::models::lora::LoraBase::Llama, "base").unwrap()).unwrap();
    assert_eq!((config["lora_dropout"].as_f64(), config["use_rslora"].as_bool(), config["init_lora_weights"].as_bool()), (Some(0.1), Some(true), Some(true)));
}

/// Qwen2 (q/k/v biases), Qwen3 (per-head q/k norms) and Gemma 3 (`(1 + w)` sandwich norms, a
/// sliding-window layer) train as PyTorch does step by step, all weights and LoRA as PEFT does
/// (its trained adapter, value for value); the merged export is a `*ForCausalLM` folder that
/// loads back with the adapted model's logits.
#[test]
fn qwen_and_gemma_fine_tuning_and_lora_match_pytorch_and_peft_and_export() {
    use common::lm_training::{check_family_steps_match_pytorch, lora_options_of, peft_adapters_of};
    let _turn = common::cpu_turn();
    let cpu = device::cpu();
    for (family, class) in [(Family::Qwen2, "Qwen2ForCausalLM"), (Family::Qwen3, "Qwen3ForCausalLM"), (Family::Gemma3, "Gemma3ForCausalLM")] {
        block_on(check_family_steps_match_pytorch(family, &cpu, "pairs", 1e-4));
        let (decoder, run) = block_on(check_family_steps_match_pytorch(family, &cpu, "lora", 1e-4));
        let tuned = decoder.with_model(run.model, run.device, Some(lora_options_of(family)));
        let adapter = block_on(tuned.export_adapter("tiny")).unwrap();
        common::parity::assert_same_safetensors(&format!("{family:?}: against PEFT's trained adapter"), &adapter[0].1, peft_adapters_of(family).1, 1e-4);
        let merged = block_on(tuned.export()).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&merged[0].1).unwrap();
        assert_eq!(config["architectures"][0], class, "{family:?}");
        let reloaded = webtune::infer::Decoder::from_hf(&merged[0].1, merged[1].1.clone(), &merged[2].1, None, &cpu).unwrap();
        let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(vec![1i32, 17, 42, 5, 30], [1, 5]), cpu.device());
        let (a, b) = (block_on(common::parity::read(tuned.model.forward(ids.clone(), None, None))), block_on(common::parity::read(reloaded.model.forward(ids, None, None))));
        common::parity::assert_close(&format!("{family:?}: merged export"), &b, &a, 1e-5);
    }
}
