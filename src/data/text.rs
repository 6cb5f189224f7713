//! Tables → examples for language models: plain texts (a `text` column: the model learns every
//! token), or prompt/completion pairs (`prompt` and `completion` columns: it learns only the
//! completion, as TRL's SFTTrainer does).

use serde::{Deserialize, Serialize};

use super::Table;
use crate::{Error, Result};

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
}

impl Default for TextColumns {
    fn default() -> Self {
        TextColumns { text: "text".into(), prompt: "prompt".into(), completion: "completion".into() }
    }
}

/// One training text: the model learns `completion`, given `prompt` when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct TextExample {
    pub prompt: Option<String>,
    pub completion: String,
    /// Where it came from, for messages: "train.jsonl:12".
    pub origin: String,
}

/// Reads a table's examples: prompt/completion pairs when both columns exist, else the text
/// column. Empty or missing cells are an error naming the row.
pub fn text_examples(table: &Table, columns: &TextColumns) -> Result<Vec<TextExample>> {
    let has = |c: &str| table.columns.iter().any(|x| x == c);
    let pairs = has(&columns.prompt) && has(&columns.completion);
    if !pairs && !has(&columns.text) {
        return Err(Error::Data(format!(
            "{}: a language model needs a {:?} column, or {:?} and {:?} columns; the columns are {}. Name yours with \
             columns: {{ text }} or {{ prompt, completion }}",
            table.source,
            columns.text,
            columns.prompt,
            columns.completion,
            table.columns.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let index = |c: &str| table.columns.iter().position(|x| x == c).expect("checked above");
    let (prompt, completion) = if pairs { (Some(index(&columns.prompt)), index(&columns.completion)) } else { (None, index(&columns.text)) };
    table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(row, line)| {
            let origin = format!("{}:{line}", table.source);
            let cell = |i: usize| match row[i].as_deref() {
                Some(v) if !v.trim().is_empty() => Ok(v.to_string()),
                _ => Err(Error::Data(format!(
                    "{origin}: the {:?} cell is empty; fill it or remove the row",
                    table.columns[i]
                ))),
            };
            Ok(TextExample { prompt: prompt.map(cell).transpose()?, completion: cell(completion)?, origin })
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
        assert_eq!(ex[0].prompt.as_deref(), Some("Hi"));
        assert_eq!(ex[0].completion, "Hello!");
        let t = Table::parse(b"text\nonce upon a time\n\n", Format::Csv, "d.csv").unwrap();
        assert_eq!(text_examples(&t, &TextColumns::default()).unwrap()[0].prompt, None);
        let t = Table::parse(b"{\"prompt\":\"a\",\"completion\":\"\"}\n", Format::Jsonl, "d.jsonl").unwrap();
        let e = text_examples(&t, &TextColumns::default()).unwrap_err().to_string();
        assert!(e.contains("d.jsonl:1") && e.contains("completion"), "{e}");
        let t = Table::parse(b"sentence\nabc\n", Format::Csv, "d.csv").unwrap();
        let e = text_examples(&t, &TextColumns::default()).unwrap_err().to_string();
        assert!(e.contains("\"sentence\"") && e.contains("prompt, completion"), "{e}");
    }
}
