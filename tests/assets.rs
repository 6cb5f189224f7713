//! The asset helper itself: finds what is there, skips (or fails under CI) what is not.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

mod common;
use common::assets;

#[test]
fn finds_an_existing_asset() {
    let Some(p) = assets::require("README.md") else { return };
    assert!(p.is_file());
}

#[test]
fn missing_asset_is_skipped_unless_required() {
    let missing = "models/does-not-exist/config.json";
    if assets::required() {
        let r = std::panic::catch_unwind(|| assets::require(missing));
        assert!(r.is_err(), "WEBTUNE_REQUIRE_ASSETS=1 must turn a missing asset into a failure");
    } else {
        assert!(assets::require(missing).is_none());
    }
}
