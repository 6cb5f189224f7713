//! One forward/backward/AdamW step on a tiny classifier: the smallest end-to-end proof that a
//! device can train (used by `webtune.selfTest()`, the tests and the demo).

use burn::{
    module::Module,
    nn::{
        LayerNorm, LayerNormConfig, Linear, LinearConfig,
        loss::CrossEntropyLossConfig,
    },
    optim::{AdamWConfig, GradientsParams},
    tensor::{Int, Tensor, TensorData, activation::gelu},
};
use serde::Serialize;
use web_time::Instant;

use crate::{ComputeDevice, DeviceInfo, Result};

const FEATURES: usize = 8;
const HIDDEN: usize = 16;
const CLASSES: usize = 3;
const ROWS: usize = 32;
const LEARNING_RATE: f64 = 1e-2;

/// Linear → LayerNorm → GELU → Linear: the same kinds of ops a transformer block uses.
#[derive(Module, Debug)]
struct Probe {
    fc1: Linear,
    norm: LayerNorm,
    fc2: Linear,
}

impl Probe {
    fn new(device: &burn::tensor::Device) -> Self {
        Probe {
            fc1: LinearConfig::new(FEATURES, HIDDEN).init(device),
            norm: LayerNormConfig::new(HIDDEN).init(device),
            fc2: LinearConfig::new(HIDDEN, CLASSES).init(device),
        }
    }

    /// `x`: [rows, FEATURES] → logits [rows, CLASSES].
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(gelu(self.norm.forward(self.fc1.forward(x))))
    }
}

/// What [`self_test`] measured.
#[derive(Clone, Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SelfTestReport {
    /// The device the step ran on.
    pub device: DeviceInfo,
    /// Cross-entropy before the update.
    pub loss_before: f32,
    /// Cross-entropy after one AdamW update; lower than `loss_before` on a working device.
    pub loss_after: f32,
    /// The largest change of one first-layer weight. AdamW's first step moves every weight
    /// with a gradient by about the learning rate (`lr · g / |g|`), whatever the gradient's size:
    /// far from it, the optimizer or the gradients are broken even if the loss fell.
    pub update_size: f32,
    /// Whether the device trains: the loss fell, by an update of the size AdamW makes.
    pub passed: bool,
    /// Wall time of the whole test (includes kernel compilation on a first GPU call).
    pub millis: f64,
}

impl SelfTestReport {
    /// Whether the optimizer step reduced the loss by an update of the size AdamW makes.
    pub fn passed(&self) -> bool {
        self.passed
    }
}

/// Deterministic inputs and labels (the same on every device): label = which third of the
/// feature-sum range a row falls in.
fn batch() -> (Vec<f32>, Vec<i32>) {
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let x: Vec<f32> = (0..ROWS * FEATURES).map(|_| next()).collect();
    let y = x
        .chunks(FEATURES)
        .map(|row| {
            let s: f32 = row.iter().sum();
            if s < -0.7 { 0 } else if s < 0.7 { 1 } else { 2 }
        })
        .collect();
    (x, y)
}

/// Runs one training step (forward, backward, AdamW update) on `device` and reports the loss
/// before and after. Seeded, so repeated runs on one device give the same numbers.
pub async fn self_test(device: &ComputeDevice) -> Result<SelfTestReport> {
    let start = Instant::now();
    let train = device.with_autodiff();
    let dev = train.device();
    dev.seed(42);
    let mut model = Probe::new(dev);
    let (x, y) = batch();
    let x = Tensor::<2>::from_data(TensorData::new(x, [ROWS, FEATURES]), dev);
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [ROWS]), dev);
    let loss_fn = CrossEntropyLossConfig::new().init(dev);

    let loss = loss_fn.forward(model.forward(x.clone()), y.clone()); // [1]
    let loss_before = train.read_scalar(loss.clone()).await? as f32;
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let weights_before = model.fc1.weight.val();
    let mut optim = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.01).init();
    model = optim.step(LEARNING_RATE, model, grads);
    let change = (model.fc1.weight.val() - weights_before).abs().max();
    let update_size = train.read_scalar(change.reshape([1])).await? as f32;

    let loss_after = train.read_scalar(loss_fn.forward(model.forward(x), y)).await? as f32;
    let lr = LEARNING_RATE as f32;
    let passed = loss_after.is_finite() && loss_after < loss_before && (0.9 * lr..=1.1 * lr).contains(&update_size);
    Ok(SelfTestReport {
        passed,
        device: train.info().clone(),
        loss_before,
        loss_after,
        update_size,
        millis: start.elapsed().as_secs_f64() * 1e3,
    })
}
