//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod assets;
pub mod llama;
pub mod parity;
pub mod training;
pub mod lm_training;
