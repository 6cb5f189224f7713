//! Evaluating what a decoder writes: for each prompt/completion row (or conversation, whose last
//! assistant turn is the reference), a greedy answer — through the chat template as training
//! renders the row — scored against the reference with BLEU and ROUGE-L ([`super::text_metrics`]).

use crate::{
    Error, Result,
    data::{TextContent, TextExample},
    infer::{Decoder, GenerateOptions, text_metrics},
    tokenizer::chat::Message,
};

/// Generated answers and their scores.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerScores {
    /// sacreBLEU's corpus BLEU, 0–100.
    pub bleu: f64,
    /// Mean ROUGE-L F, 0–1.
    pub rouge_l: f64,
    /// The answers, in row order.
    pub answers: Vec<String>,
}

/// Answers every row's prompt greedily (at most `max_new_tokens` tokens) and scores the answers
/// against the rows' completions. `chat`: ask through the model's chat template, as training
/// renders the rows ([`super::language_model::LmRowEncoder::chat`]).
pub async fn score_answers(decoder: &Decoder, examples: &[TextExample], chat: bool, max_new_tokens: usize) -> Result<AnswerScores> {
    let options = GenerateOptions { max_new_tokens, ..Default::default() };
    let (mut answers, mut references) = (Vec::new(), Vec::new());
    for e in examples {
        let named = |err: Error| Error::Data(format!("{}: {err}", e.origin));
        let answer = match &e.content {
            TextContent::Pair { prompt, completion } => {
                references.push(completion.clone());
                if chat {
                    decoder.chat(&[Message { role: "user".into(), content: prompt.clone() }], &options, |_| true).await
                } else {
                    decoder.complete(prompt, &options, |_| true).await
                }
            }
            TextContent::Conversation(messages) => {
                let Some(last) = messages.iter().rposition(|m| m.role == "assistant").filter(|&i| i > 0) else {
                    return Err(named(Error::Data(
                        "the conversation has no assistant turn after a question: there is nothing to compare an answer with".into(),
                    )));
                };
                references.push(messages[last].content.clone());
                decoder.chat(&messages[..last], &options, |_| true).await
            }
            TextContent::Text(_) => {
                return Err(named(Error::Data(
                    "generate: true scores answers to prompts, but this row is a plain text; use prompt/completion or conversation rows".into(),
                )));
            }
        };
        answers.push(answer.map_err(named)?.text.trim().to_string());
    }
    Ok(AnswerScores {
        bleu: text_metrics::corpus_bleu(&answers, &references),
        rouge_l: text_metrics::mean_rouge_l(&answers, &references),
        answers,
    })
}
