//! Optimisation: schedules, metrics and (in progress) the async training loop.
//!
//! [`self_test`] is one real training step that proves a device can run forward, backward and
//! an optimizer update.

pub mod metrics;
pub mod schedule;
pub mod self_test;

pub use metrics::{ClassMetrics, Metrics};
pub use schedule::{LrSchedule, Schedule};
pub use self_test::{SelfTestReport, self_test};
