//! Optimisation: the training loop and everything it needs.
//!
//! For now this holds [`self_test`], one real training step that proves a device can run
//! forward, backward and an optimizer update.

pub mod self_test;

pub use self_test::{SelfTestReport, self_test};
