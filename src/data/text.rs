//! Tables → examples for language models: plain texts (a `text` column, or a `.txt` file: the
//! model learns every token), prompt/completion pairs (`prompt` and `completion` columns, or
//! Alpaca's `instruction`/`input`/`output`: it learns only the completion, as TRL's SFTTrainer
//! does), and conversations (`messages`, or ShareGPT's `conversations`: it learns every assistant
//! turn, as TRL's `assistant_only_loss`).

use serde::{Deserialize, Serialize};

use super::{Table, conversation};
use crate::{Error, Result, tokenizer::chat::Message};

/// Which columns hold the text of a language-model example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TextColumns {
    /// A plain text to learn in full (default `text`).
    pub text: String,
    /// With `completion`: the part the model is given (default `prompt`).
    pub prompt: String,
    /// With `prompt`: the part the model learns to write (default `completion`).
    pub completion: String,
    /// A conversation, `[{role, content}]` (default `messages`; ShareGPT's `conversations` of
    /// `[{from, value}]` is read too).
    pub messages: String,
}

impl Default for TextColumns {
    fn default() -> Self {
        TextColumns { text: "text".into(), prompt: "prompt".into(), completion: "completion".into(), messages: "messages".into() }
    }
}

/// What a training example holds, and so what the model learns from it.
#[derive(Clone, Debug, PartialEq)]
pub enum TextContent {
    /// Every token.
    Text(String),
    /// The completion, given the prompt.
    Pair { prompt: String, completion: String },
    /// Every assistant turn, given what comes before it.
    Conversation(Vec<Message>),
}

/// One training example and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct TextExample {
    pub content: TextContent,
    /// Where it came from, for messages: "train.jsonl:12".
    pub origin: String,
}

/// The kind of rows a table holds, found from its columns.
enum Kind {
    Messages(usize),
    ShareGpt(usize),
    Alpaca { instruction: usize, input: Option<usize>, output: usize },
    Pairs { prompt: usize, completion: usize },
    Text(usize),
}

/// Reads a table's examples; its columns say which kind: `messages` (or ShareGPT's
/// `conversations`), else Alpaca's `instruction` + `output`, else `prompt` + `completion`, else
/// `text`. Empty cells and malformed turns are errors naming the row.
pub fn text_examples(table: &Table, columns: &TextColumns) -> Result<Vec<TextExample>> {
    let index = |c: &str| table.columns.iter().position(|x| x == c);
    let kind = if let Some(i) = index(&columns.messages) {
        Kind::Messages(i)
    } else if let Some(i) = index("conversations") {
        Kind::ShareGpt(i)
    } else if let (Some(instruction), Some(output)) = (index("instruction"), index("output")) {
        Kind::Alpaca { instruction, input: index("input"), output }
    } else if let (Some(prompt), Some(completion)) = (index(&columns.prompt), index(&columns.completion)) {
        Kind::Pairs { prompt, completion }
    } else if let Some(i) = index(&columns.text) {
        Kind::Text(i)
    } else {
        return Err(Error::Data(format!(
            "{}: a language model needs a {:?} column, {:?} and {:?} columns, or a {:?} column of conversations; the columns are {}. \
             Name yours with columns: {{ text }}, {{ prompt, completion }} or {{ messages }}",
            table.source,
            columns.text,
            columns.prompt,
            columns.completion,
            columns.messages,
            table.columns.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
        )));
    };
    table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(row, line)| {
            let origin = format!("{}:{line}", table.source);
            let cell = |i: usize| match row[i].as_deref() {
                Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
                _ => Err(Error::Data(format!("{origin}: the {:?} cell is empty; fill it or remove the row", table.columns[i]))),
            };
            let content = match kind {
                Kind::Messages(i) => TextContent::Conversation(conversation::messages(&cell(i)?, &origin)?),
                Kind::ShareGpt(i) => TextContent::Conversation(conversation::sharegpt(&cell(i)?, &origin)?),
                Kind::Alpaca { instruction, input, output } => {
                    let input = input.and_then(|i| row[i].as_deref());
                    let get = |i: usize| row[i].as_deref().unwrap_or_default();
                    let (prompt, completion) = conversation::alpaca(get(instruction), input, get(output), &origin)?;
                    TextContent::Pair { prompt, completion }
                }
                Kind::Pairs { prompt, completion } => TextContent::Pair { prompt: cell(prompt)?, completion: cell(completion)? },
                Kind::Text(i) => TextContent::Text(cell(i)?),
            };
            Ok(TextExample { content, origin })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Format;

    #[test]
    fn pairs_win_over_text_and_empty_cells_name_the_row() {
        let t = Table::parse(b"prompt,completion,text\nHi,Hello!,x\n", Format::Csv, "d.csv").unwrap();
        let ex = text_examples(&t, &TextColumns::default()).unwrap();
        assert_eq!(ex[0].content, TextContent::Pair { prompt: "Hi".into(), completion: "Hello!".into() });
        let t = Table::parse(b"text\nonce upon a time\n\n", Format::Csv, "d.csv").unwrap();
        assert_eq!(text_examples(&t, &TextColumns::default()).unwrap()[0].content, TextContent::Text("once upon a time".into()));
        let t = Table::parse(b"{\"prompt\":\"a\",\"completion\":\"\"}\n", Format::Jsonl, "d.jsonl").unwrap();
        let e = text_examples(&t, &TextColumns::default()).unwrap_err().to_string();
        assert!(e.contains("d.jsonl:1") && e.contains("completion"), "{e}");
        let t = Table::parse(b"sentence\nabc\n", Format::Csv, "d.csv").unwrap();
        let e = text_examples(&t, &TextColumns::default()).unwrap_err().to_string();
        assert!(e.contains("\"sentence\"") && e.contains("prompt, completion"), "{e}");
    }

    #[test]
    fn conversations_and_alpaca_rows_are_recognised_by_their_columns() {
        let t = Table::parse(
            b"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}],\"text\":\"x\"}\n",
            Format::Jsonl,
            "c.jsonl",
        )
        .unwrap();
        let ex = text_examples(&t, &TextColumns::default()).unwrap();
        assert!(matches!(&ex[0].content, TextContent::Conversation(m) if m.len() == 2 && m[1].content == "Hello"));
        let t = Table::parse(b"[{\"conversations\":[{\"from\":\"human\",\"value\":\"Hi\"},{\"from\":\"gpt\",\"value\":\"Yo\"}]}]", Format::Json, "s.json").unwrap();
        assert!(matches!(&text_examples(&t, &TextColumns::default()).unwrap()[0].content, TextContent::Conversation(m) if m[0].role == "user"));
        let t = Table::parse(b"{\"instruction\":\"Add\",\"input\":\"2+2\",\"output\":\"4\"}\n{\"instruction\":\"Hi\",\"output\":\"Hello\"}\n", Format::Jsonl, "a.jsonl").unwrap();
        let ex = text_examples(&t, &TextColumns::default()).unwrap();
        assert_eq!(ex[0].content, TextContent::Pair { prompt: "Add\n\n2+2".into(), completion: "4".into() });
        assert_eq!(ex[1].content, TextContent::Pair { prompt: "Hi".into(), completion: "Hello".into() });
        let t = Table::parse(b"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}\n", Format::Jsonl, "t.jsonl").unwrap();
        let e = text_examples(&t, &TextColumns::default()).unwrap_err().to_string();
        assert!(e.contains("t.jsonl:1") && e.contains("\"tool\""), "{e}");
    }
}
