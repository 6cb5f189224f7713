//! User files → a table of text cells, with the line each row came from (for error messages).
//! CSV/TSV through the `csv` crate, JSON Lines and JSON arrays through `serde_json`.

use serde_json::Value;

use crate::{Error, Result};

/// A file format webtune reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects.
    Json,
    /// Plain text: each line that is not blank is a row of one column, `text` (a corpus for a
    /// language model, packed into blocks).
    Txt,
}

impl Format {
    pub const VALID: &'static str = "\"csv\", \"tsv\", \"jsonl\", \"json\", \"txt\"";

    /// From a file name's extension (`.csv`, `.tsv`, `.jsonl`/`.ndjson`, `.json`, `.txt`).
    pub fn from_file_name(name: &str) -> Result<Self> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        ext.parse().map_err(|_| {
            Error::Data(format!("{name}: cannot tell the format from the extension; name it .csv, .tsv, .jsonl, .json or .txt, or pass the format ({})", Self::VALID))
        })
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "tsv" | "tab" => Ok(Format::Tsv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "json" => Ok(Format::Json),
            "txt" | "text" => Ok(Format::Txt),
            other => Err(Error::Options(format!("unknown data format {other:?}; valid values are {}", Self::VALID))),
        }
    }
}

/// Rows of cells by column name. Cells that were JSON numbers/bools are kept as their text.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file name, for messages.
    pub source: String,
    pub columns: Vec<String>,
    /// `rows[i][j]` is column `j` of row `i`; `None` when a JSON record lacks the key or it is null.
    pub rows: Vec<Vec<Option<String>>>,
    /// The 1-based line in the file where each row starts.
    pub lines: Vec<usize>,
}

impl Table {
    /// Parses `bytes` (UTF-8) in `format`; `source` names the file in errors.
    pub fn parse(bytes: &[u8], format: Format, source: &str) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::Data(format!("{source}: not UTF-8 text (invalid byte at offset {}); save the file as UTF-8", e.valid_up_to()))
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text); // Excel's byte-order mark
        let table = match format {
            Format::Csv => delimited(text, b',', source)?,
            Format::Tsv => delimited(text, b'\t', source)?,
            Format::Jsonl => json_lines(text, source)?,
            Format::Json => json_array(text, source)?,
            Format::Txt => lines(text, source),
        };
        if table.rows.is_empty() {
            return Err(Error::Data(format!("{source}: no data rows")));
        }
        Ok(table)
    }

    /// The index of `column`, or an error listing the columns there are.
    pub fn column(&self, column: &str, role: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == column).ok_or_else(|| {
            Error::Data(format!(
                "{}: no column {column:?} for the {role}; the columns are {}. Pass the right name (e.g. {role} column = {:?})",
                self.source,
                self.columns.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", "),
                self.columns.first().map(String::as_str).unwrap_or("text"),
            ))
        })
    }
}

/// A plain-text file: its lines that are not blank (line endings dropped), as column `text`.
fn lines(text: &str, source: &str) -> Table {
    let (mut rows, mut lines) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        rows.push(vec![Some(line.to_string())]);
        lines.push(i + 1);
    }
    Table { source: source.into(), columns: vec!["text".into()], rows, lines }
}

fn delimited(text: &str, delimiter: u8, source: &str) -> Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // SST-2's TSV (like many TSVs) has unescaped quotes inside sentences.
        .quoting(delimiter != b'\t')
        .flexible(false)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(e, source))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if columns.iter().all(String::is_empty) {
        return Err(Error::Data(format!("{source}: the first line must be a header naming the columns")));
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(e, source))?;
        lines.push(record.position().map_or(0, |p| p.line() as usize));
        rows.push(record.iter().map(|c| Some(c.to_string())).collect());
    }
    Ok(Table { source: source.into(), columns, rows, lines })
}

fn csv_error(e: csv::Error, source: &str) -> Error {
    let line = e.position().map(|p| format!(" line {}", p.line())).unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Error::Data(format!(
            "{source}:{line}: this row has {len} fields but the header has {expected_len}; \
             quote fields that contain the delimiter, or fix the row"
        )),
        _ => Error::Data(format!("{source}:{line}: {e}")),
    }
}

fn json_lines(text: &str, source: &str) -> Result<Table> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::Data(format!("{source}: line {}: not valid JSON ({e}); JSON Lines needs one object per line", i + 1)))?;
        records.push((i + 1, v));
    }
    from_records(records, source)
}

fn json_array(text: &str, source: &str) -> Result<Table> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::Data(format!("{source}: not valid JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(Error::Data(format!("{source}: expected a JSON array of objects ([{{\"text\": …, \"label\": …}}, …])")));
    };
    // Lines are not tracked inside one JSON document: report the record's position instead.
    from_records(items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect(), source)
}

fn from_records(records: Vec<(usize, Value)>, source: &str) -> Result<Table> {
    let mut columns: Vec<String> = Vec::new();
    for (line, v) in &records {
        let Value::Object(map) = v else {
            return Err(Error::Data(format!("{source}: record {line} is not an object")));
        };
        for k in map.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut rows = Vec::with_capacity(records.len());
    let mut lines = Vec::with_capacity(records.len());
    for (line, v) in records {
        let Value::Object(map) = v else { unreachable!("checked above") };
        rows.push(columns.iter().map(|c| cell(map.get(c))).collect());
        lines.push(line);
    }
    Ok(Table { source: source.into(), columns, rows, lines })
}

fn cell(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
