//! Chat data → conversations: OpenAI / TRL `messages` (`[{role, content}]`), ShareGPT
//! `conversations` (`[{from, value}]`), and Alpaca rows (`instruction`, optional `input`,
//! `output`), each checked with errors naming the file, line and fix.

use serde_json::Value;

use crate::{Error, Result, tokenizer::chat::Message};

/// The roles a conversation may have.
const ROLES: &str = "\"system\", \"user\" and \"assistant\"";

/// ShareGPT's speaker names → roles.
fn sharegpt_role(from: &str) -> Option<&'static str> {
    match from.to_ascii_lowercase().as_str() {
        "system" => Some("system"),
        "human" | "user" => Some("user"),
        "gpt" | "assistant" | "chatgpt" | "bard" | "bing" | "model" => Some("assistant"),
        _ => None,
    }
}

/// The conversation in a `messages` cell (its JSON text) at `origin` ("train.jsonl:3").
pub fn messages(cell: &str, origin: &str) -> Result<Vec<Message>> {
    let turns = turns(cell, origin, "messages", "[{\"role\": \"user\", \"content\": \"…\"}, {\"role\": \"assistant\", …}]")?;
    let mut out = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let role = text_field(turn, "role", origin, i)?;
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(Error::Data(format!(
                "{origin}: message {} has role {role:?}; webtune learns from {ROLES} turns: remove the {role:?} turns (tool calls are not read) or rename the role",
                i + 1
            )));
        }
        out.push(Message { role: role.into(), content: text_field(turn, "content", origin, i)?.into() });
    }
    checked(out, origin)
}

/// The conversation in a ShareGPT `conversations` cell (`[{"from": "human"|"gpt"|"system", "value"}]`).
pub fn sharegpt(cell: &str, origin: &str) -> Result<Vec<Message>> {
    let turns = turns(cell, origin, "conversations", "[{\"from\": \"human\", \"value\": \"…\"}, {\"from\": \"gpt\", …}]")?;
    let mut out = Vec::with_capacity(turns.len());
    for (i, turn) in turns.iter().enumerate() {
        let from = text_field(turn, "from", origin, i)?;
        let role = sharegpt_role(from).ok_or_else(|| {
            Error::Data(format!(
                "{origin}: turn {} is from {from:?}; webtune reads turns from \"system\", \"human\" (or \"user\") and \"gpt\" (or \"assistant\"): remove or rename it",
                i + 1
            ))
        })?;
        out.push(Message { role: role.into(), content: text_field(turn, "value", origin, i)?.into() });
    }
    checked(out, origin)
}

/// An Alpaca row as a (user, assistant) pair: the instruction, then the input after a blank line
/// when there is one.
pub fn alpaca(instruction: &str, input: Option<&str>, output: &str, origin: &str) -> Result<(String, String)> {
    if instruction.trim().is_empty() || output.trim().is_empty() {
        let empty = if instruction.trim().is_empty() { "instruction" } else { "output" };
        return Err(Error::Data(format!("{origin}: the {empty:?} cell is empty; fill it or remove the row")));
    }
    let prompt = match input.map(str::trim).filter(|i| !i.is_empty()) {
        Some(input) => format!("{instruction}\n\n{input}"),
        None => instruction.to_string(),
    };
    Ok((prompt, output.to_string()))
}

fn turns(cell: &str, origin: &str, column: &str, shape: &str) -> Result<Vec<Value>> {
    let not_list = || Error::Data(format!("{origin}: the {column:?} cell is not a list of turns; write it as {shape}"));
    match serde_json::from_str::<Value>(cell) {
        Ok(Value::Array(turns)) if !turns.is_empty() => Ok(turns),
        Ok(Value::Array(_)) => Err(Error::Data(format!("{origin}: the {column:?} list is empty; give at least a user and an assistant turn"))),
        _ => Err(not_list()),
    }
}

fn text_field<'a>(turn: &'a Value, key: &str, origin: &str, i: usize) -> Result<&'a str> {
    match turn.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::Data(format!("{origin}: turn {} has a {key:?} that is not text; write it as a string", i + 1))),
        None => Err(Error::Data(format!("{origin}: turn {} has no {key:?}; each turn needs one", i + 1))),
    }
}

/// Every turn has content, and the assistant speaks at least once.
fn checked(turns: Vec<Message>, origin: &str) -> Result<Vec<Message>> {
    if let Some(i) = turns.iter().position(|m| m.content.trim().is_empty()) {
        return Err(Error::Data(format!("{origin}: turn {} ({}) is empty; write its text or remove the turn", i + 1, turns[i].role)));
    }
    if !turns.iter().any(|m| m.role == "assistant") {
        return Err(Error::Data(format!(
            "{origin}: the conversation has no assistant turn, so there is nothing to learn; add the assistant's reply or remove the row"
        )));
    }
    Ok(turns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_and_bad_turns_name_the_line_and_fix() {
        let m = messages(r#"[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]"#, "c.jsonl:1").unwrap();
        assert_eq!(m.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(), ["system", "user", "assistant"]);
        let s = sharegpt(r#"[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}]"#, "s.json:4").unwrap();
        assert_eq!((s[0].role.as_str(), s[1].content.as_str()), ("user", "Hello"));
        assert_eq!(alpaca("Translate", Some("chat"), "cat", "a.json:2").unwrap(), ("Translate\n\nchat".into(), "cat".into()));
        assert_eq!(alpaca("Say hi", Some(" "), "hi", "a.json:2").unwrap().0, "Say hi");
        let err = |r: Result<Vec<Message>>| r.unwrap_err().to_string();
        let e = err(messages(r#"[{"role":"user","content":"Hi"},{"role":"tool","content":"{}"}]"#, "c.jsonl:7"));
        assert!(e.contains("c.jsonl:7") && e.contains("role \"tool\"") && e.contains("remove"), "{e}");
        let e = err(messages(r#"[{"role":"user","content":"Hi"}]"#, "c.jsonl:2"));
        assert!(e.contains("no assistant turn"), "{e}");
        let e = err(messages(r#"[{"role":"user","content":"Hi"},{"role":"assistant","content":"  "}]"#, "c.jsonl:3"));
        assert!(e.contains("turn 2 (assistant) is empty"), "{e}");
        let e = err(messages("\"just text\"", "c.jsonl:4"));
        assert!(e.contains("not a list of turns"), "{e}");
        let e = err(sharegpt(r#"[{"from":"observation","value":"x"}]"#, "s.json:1"));
        assert!(e.contains("\"observation\""), "{e}");
        assert!(alpaca("", None, "x", "a:1").unwrap_err().to_string().contains("\"instruction\" cell is empty"));
    }
}
