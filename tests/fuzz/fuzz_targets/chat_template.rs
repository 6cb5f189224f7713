//! Chat templates (Jinja, rendered by minijinja with a fuel limit, `{% generation %}` blocks
//! included): any source, rendered for a short conversation, and its assistant turns found.
#![no_main]
use libfuzzer_sys::fuzz_target;
use webtune::tokenizer::chat::{ChatTemplate, Message};

fuzz_target!(|bytes: &[u8]| {
    let Ok(source) = std::str::from_utf8(bytes) else { return };
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else { return };
    let m = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
    let conversation = [m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello"), m("user", "Bye")];
    let _ = template.render(&conversation, true);
    let _ = template.render(&conversation[1..2], false);
    let _ = template.render_with_assistant_spans(&conversation[..3]);
});
