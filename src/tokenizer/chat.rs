//! Chat templates: the Jinja template a model ships (`tokenizer_config.json`'s `chat_template`, or
//! GGUF's `tokenizer.chat_template`) rendered with minijinja as transformers'
//! `apply_chat_template` renders it (trim_blocks, lstrip_blocks, Python string methods,
//! `raise_exception`).

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

/// A model's chat template, checked when created.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
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
        environment()
            .template_from_str(source)
            .map_err(|e| Error::Weights(format!("the model's chat template does not parse: {e}")))?;
        Ok(ChatTemplate { source: source.into(), bos_token: bos_token.into(), eos_token: eos_token.into() })
    }

    /// The prompt text for `messages`; with `add_generation_prompt`, ending where the assistant's
    /// reply begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::Data("chat: messages is empty; pass at least one {role, content} message".into()));
        }
        if let Some(m) = messages.iter().find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant")) {
            return Err(Error::Data(format!("chat: unknown role {:?}; valid roles are \"system\", \"user\", \"assistant\"", m.role)));
        }
        let env = environment();
        let template = env.template_from_str(&self.source).map_err(|e| Error::Weights(format!("chat template: {e}")))?;
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
