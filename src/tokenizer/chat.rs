//! Chat templates: the Jinja template a model ships (`tokenizer_config.json`'s `chat_template`, or
//! GGUF's `tokenizer.chat_template`) rendered with minijinja as transformers'
//! `apply_chat_template` renders it (trim_blocks, lstrip_blocks, Python string methods,
//! `raise_exception`, `{% generation %}` blocks), and where the assistant's turns are in the
//! rendered text (what training on conversations learns).

use std::ops::Range;

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `"system"`, `"user"` or `"assistant"`.
    pub role: String,
    pub content: String,
}

/// Gemma 3's chat template, as its `tokenizer_config.json` ships it (tests/fixtures/chat-templates.json
/// holds transformers' rendering of it): for Gemma GGUF files that carry none, as Google's 270M
/// Q4_K_M does not.
pub const GEMMA3_CHAT_TEMPLATE: &str = include_str!("gemma3_chat_template.jinja");

/// A model's chat template, checked when created.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    source: String,
    /// `source` with its `{% generation %}` tags made into markers ([`mark_generation`]), when it
    /// has such blocks (marking the assistant's text).
    marked: Option<String>,
    bos_token: String,
    eos_token: String,
}

/// Private-use characters that mark where `{% generation %}` blocks begin and end in a render;
/// messages may not contain them.
const GENERATION_START: char = '\u{E000}';
const GENERATION_END: char = '\u{E001}';

/// `source` with transformers' `{% generation %}…{% endgeneration %}` tags (its
/// `AssistantTracker` extension; minijinja has no such tag) replaced by expressions that write
/// [`GENERATION_START`] / [`GENERATION_END`], keeping Jinja's whitespace rules for block tags:
/// `-` strips, `lstrip_blocks` removes the indentation before a tag alone at a line start,
/// `trim_blocks` the newline after it (`+` turns either off). `None` when there are no tags.
fn mark_generation(source: &str) -> Option<String> {
    static TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?m)(^[ \t]*)?\{%([-+])?\s*(generation|endgeneration)\s*([-+])?%\}(\n)?").expect("a valid pattern")
    });
    if !TAG.is_match(source) {
        return None;
    }
    Some(
        TAG.replace_all(source, |c: &regex::Captures| {
            let left = c.get(2).map(|m| m.as_str());
            let right = c.get(4).map(|m| m.as_str());
            let indent = c.get(1).map_or("", |m| m.as_str());
            let kept_indent = if left == Some("+") { indent } else { "" };
            let marker = if &c[3] == "generation" { GENERATION_START } else { GENERATION_END };
            let newline = if right == Some("+") { c.get(5).map_or("", |m| m.as_str()) } else { "" };
            format!(
                "{kept_indent}{{{{{} \"{marker}\" {}}}}}{newline}",
                if left == Some("-") { "-" } else { "" },
                if right == Some("-") { "-" } else { "" }
            )
        })
        .into_owned(),
    )
}

/// Template instructions one render may run: real templates need a few dozen per message, so
/// this allows conversations of many thousand messages while a template that loops without end
/// fails in well under a second.
const FUEL: u64 = 5_000_000;
/// Longest prompt text a render may produce.
const MAX_OUTPUT: usize = 16 << 20;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |message: String| -> std::result::Result<String, minijinja::Error> {
        Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
    });
    env
}

impl ChatTemplate {
    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Parses `source`; `bos_token`/`eos_token` are the strings templates may refer to.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let marked = mark_generation(source);
        environment()
            .template_from_str(marked.as_deref().unwrap_or(source))
            .map_err(|e| Error::Weights(format!("the model's chat template does not parse: {e}")))?;
        Ok(ChatTemplate { source: source.into(), marked, bos_token: bos_token.into(), eos_token: eos_token.into() })
    }

    /// The prompt text for `messages`; with `add_generation_prompt`, ending where the assistant's
    /// reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let text = self.render_marked(messages, add_generation_prompt)?;
        Ok(if self.marked.is_some() { text.replace([GENERATION_START, GENERATION_END], "") } else { text })
    }

    /// The whole conversation's text and the character ranges (Unicode scalar values, as Python
    /// counts them) of what the assistant wrote — what training learns. With `{% generation %}`
    /// blocks those are the blocks, as transformers' `return_assistant_tokens_mask`; without,
    /// each assistant message's turn as the template renders it (the text `messages[..=i]` adds
    /// to `messages[..i]` with the generation prompt), trailing whitespace left out. Templates that
    /// do not render a conversation turn by turn are an error saying what to do.
    pub fn render_with_assistant_spans(&self, messages: &[Message]) -> Result<(String, Vec<Range<usize>>)> {
        if self.marked.is_some() {
            let marked = self.render_marked(messages, false)?;
            return split_markers(&marked);
        }
        let text = self.render(messages, false)?;
        let mut spans = Vec::new();
        for (i, m) in messages.iter().enumerate().filter(|(_, m)| m.role == "assistant") {
            let not_turn_by_turn = || {
                Error::Data(
                    "this model's chat template does not render a conversation turn by turn, so the assistant's turns cannot be found; \
                     use a template with {% generation %} blocks (chatTemplate in tokenizer_config.json) or prompt/completion rows"
                        .into(),
                )
            };
            let before = if i == 0 { String::new() } else { self.render(&messages[..i], true)? };
            let through = self.render(&messages[..=i], false)?;
            let turn = through.strip_prefix(before.as_str()).filter(|_| text.starts_with(through.as_str())).ok_or_else(not_turn_by_turn)?;
            let turn = turn.trim_end();
            if turn.is_empty() || !m.content.trim().is_empty() && !turn.contains(m.content.trim()) {
                return Err(not_turn_by_turn());
            }
            let start = before.chars().count();
            spans.push(start..start + turn.chars().count());
        }
        Ok((text, spans))
    }

    fn render_marked(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::Data("chat: messages is empty; pass at least one {role, content} message".into()));
        }
        if let Some(m) = messages.iter().find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant")) {
            return Err(Error::Data(format!("chat: unknown role {:?}; valid roles are \"system\", \"user\", \"assistant\"", m.role)));
        }
        if messages.iter().any(|m| m.content.contains([GENERATION_START, GENERATION_END])) {
            return Err(Error::Data("chat: a message contains U+E000 or U+E001, private-use characters webtune reserves; remove them".into()));
        }
        let env = environment();
        let template = env.template_from_str(self.marked.as_deref().unwrap_or(&self.source)).map_err(|e| Error::Weights(format!("chat template: {e}")))?;
        let text = template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| match e.kind() {
                ErrorKind::OutOfFuel => Error::Weights(format!(
                    "the model's chat template ran more than {FUEL} steps without finishing (it loops too long); fix or replace chat_template"
                )),
                _ => Error::Data(format!("the model's chat template rejected these messages: {e}")),
            })?;
        if text.len() > MAX_OUTPUT {
            return Err(Error::Weights(format!(
                "the model's chat template produced {} bytes of prompt (more than {MAX_OUTPUT}); fix or replace chat_template",
                text.len()
            )));
        }
        Ok(text)
    }
}

/// The text without the generation markers, and the character ranges between them.
fn split_markers(marked: &str) -> Result<(String, Vec<Range<usize>>)> {
    let (mut text, mut spans, mut open, mut chars) = (String::with_capacity(marked.len()), Vec::new(), None, 0);
    let unbalanced = || Error::Weights("the model's chat template has a {% generation %} block that does not close; fix chat_template".into());
    for c in marked.chars() {
        match c {
            GENERATION_START if open.is_none() => open = Some(chars),
            GENERATION_END => spans.push(open.take().ok_or_else(unbalanced)?..chars),
            GENERATION_START => return Err(unbalanced()),
            c => {
                text.push(c);
                chars += 1;
            }
        }
    }
    if open.is_some() {
        return Err(unbalanced());
    }
    spans.retain(|s| !s.is_empty());
    Ok((text, spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chatml_like_transformers() {
        // SmolLM2-Instruct's template (from its GGUF)
        let src = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let t = ChatTemplate::new(src, "<|im_start|>", "<|im_end|>").unwrap();
        let m = vec![Message { role: "user".into(), content: "Hi".into() }];
        assert_eq!(
            t.render(&m, true).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let raising = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
        assert!(raising.render(&m, true).unwrap_err().to_string().contains("no system role"));
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
        let e = t.render(&[Message { role: "robot".into(), content: "x".into() }], true).unwrap_err();
        assert!(e.to_string().contains("unknown role \"robot\""), "{e}");
        let endless = ChatTemplate::new("{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", "", "").unwrap();
        let e = endless.render(&m, true).unwrap_err();
        assert!(matches!(e, Error::Weights(_)) && e.to_string().contains("loops too long"), "{e}");
    }
}
