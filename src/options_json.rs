//! Options objects (JSON, as the JS API and tests give them) → typed Rust options, with errors that
//! name the option: `finetune: epochs: expected a whole number ≥ 0, got -1`. The Rust types are
//! the one definition of the options; `deny_unknown_fields` rejects an unknown key with the list
//! of valid ones.

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Reads `json` as `T`; errors are `OptionsError`s that start with `call` and name the option.
pub fn from_json<T: DeserializeOwned>(call: &str, json: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let (path, message) = (e.path().to_string(), e.inner().to_string());
        // serde's "unknown field `x`, expected one of `a`, `b`", as the shim words it
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((key, expected)) = rest.split_once("`, expected ")
        {
            let valid = expected.trim_start_matches("one of ").replace('`', "");
            return Error::Options(format!("{call}: unknown option \"{key}\"; valid options are {valid}"));
        }
        Error::Options(if path == "." { format!("{call}: {}", plain(&message)) } else { format!("{call}: {path}: {}", plain(&message)) })
    })
}

/// serde's Rust type names in words a JS user knows.
fn plain(serde_message: &str) -> String {
    let mut m = serde_message.to_string();
    for (rust, words) in [("usize", "a whole number ≥ 0"), ("u64", "a whole number ≥ 0"), ("u32", "a whole number ≥ 0"), ("f64", "a number"), ("f32", "a number")] {
        m = m.replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::TrainOptions;

    #[test]
    fn errors_name_the_option() {
        let e = from_json::<TrainOptions>("finetune", serde_json::json!({"epochs": -1})).unwrap_err().to_string();
        assert_eq!(e, "finetune: epochs: invalid value: integer `-1`, expected a whole number ≥ 0");
        let e = from_json::<TrainOptions>("finetune", serde_json::json!({"lora": {"rank": "big"}})).unwrap_err().to_string();
        assert!(e.starts_with("finetune: lora.rank: invalid type: string \"big\""), "{e}");
        let e = from_json::<TrainOptions>("finetune", serde_json::json!({"learning_rate": 1})).unwrap_err().to_string();
        assert!(e.starts_with("finetune: unknown option \"learning_rate\"; valid options are "), "{e}");
    }
}
