//! AdamW whose state webtune owns, so that it can be checkpointed with async reads.
//!
//! Burn's `ModuleOptimizer` keeps its moments private and serialises them with synchronous reads,
//! which panic on WebGPU. Here the update itself is still Burn's (`AdamW::step`, the same math as
//! PyTorch's `torch.optim.AdamW`); only the per-parameter state lives in a map keyed by the
//! parameter's module path (stable across a reload, unlike `ParamId`s). Parameters whose path
//! matches the no-decay pattern (biases, LayerNorm) get weight decay 0 — the hook where LoRA's
//! parameter groups slot in.
//!
//! A step can be cancelled on the device (a NaN/infinite loss or gradient): parameters and moments
//! then keep their values, and nothing is read back to decide it.

use std::collections::{BTreeMap, HashMap};

use burn::{
    module::{Module, ModuleMapper, ModuleVisitor, Param},
    optim::{AdamW as BurnAdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, GradientsParams, Optimizer},
    tensor::{Bool, Tensor, TensorData},
};

use crate::{ComputeDevice, Error, Result};

/// One parameter's AdamW moments (flattened) and step count.
struct Moments {
    time: usize,
    m: Tensor<1>,
    v: Tensor<1>,
}

/// AdamW (betas 0.9/0.999, eps 1e-8) with decoupled weight decay except on `no_decay` paths.
pub struct AdamW {
    decay: BurnAdamW,
    no_decay: BurnAdamW,
    no_decay_paths: fn(&str) -> bool,
    groups: Vec<LrGroup>,
    state: HashMap<String, Moments>,
}

/// A parameter group with its own learning rate (PyTorch's `param_groups`): the parameters whose
/// path starts with `prefix` learn at the schedule's rate times `factor`.
#[derive(Clone, Debug, PartialEq)]
pub struct LrGroup {
    pub prefix: String,
    pub factor: f64,
}

/// An optimizer state read back from the device: per parameter path, the step count and the
/// two moments.
pub struct SavedState(pub BTreeMap<String, (usize, Vec<f32>, Vec<f32>)>);

/// Which AdamW moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// The first moment, PyTorch's `exp_avg`.
    First,
    /// The second, PyTorch's `exp_avg_sq`.
    Second,
}

/// Maps each float parameter knowing its module path (`bert.encoder.layer.0.…`), the key of
/// the optimizer's state.
trait MapAtPath {
    fn map_at<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

/// A [`MapAtPath`] as Burn's `ModuleMapper`: tracks the path while the module is walked.
struct WithPath<M>(M, Vec<String>);

impl<M: MapAtPath> ModuleMapper for WithPath<M> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.1.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.1.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.1.join(".");
        self.0.map_at(&path, param)
    }
}

/// Replaces each parameter by one of its moments (zeros for a parameter never updated), so that
/// a model exporter writes the moments under the parameters' exported names and layouts.
struct MomentsAsParameters<'a> {
    state: &'a SavedState,
    moment: Moment,
}

impl MapAtPath for MomentsAsParameters<'_> {
    fn map_at<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.dims();
        let n: usize = shape.iter().product();
        let values = match (self.state.0.get(path), self.moment) {
            (Some((_, m, _)), Moment::First) if m.len() == n => m.clone(),
            (Some((_, _, v)), Moment::Second) if v.len() == n => v.clone(),
            _ => vec![0.0; n],
        };
        let moment = Tensor::<1>::from_data(TensorData::new(values, [n]), &tensor.device()).reshape(shape);
        Param::from_mapped_value(id, moment, mapper)
    }
}

impl SavedState {
    /// `model` with every parameter replaced by its `moment` (checked against it first with
    /// [`SavedState::check`]): what an exporter writes as PyTorch's optimizer state.
    pub fn as_parameters<M: Module>(&self, model: M, moment: Moment) -> M {
        model.map(&mut WithPath(MomentsAsParameters { state: self, moment }, Vec::new()))
    }

    /// The optimizer step of every parameter that has moments, when they all agree.
    pub fn common_time(&self) -> Option<usize> {
        let mut times = self.0.values().map(|(t, _, _)| *t);
        let first = times.next()?;
        times.all(|t| t == first).then_some(first)
    }

    /// Checks a saved state against the model it is to update, at optimizer step `step`: every
    /// entry names one of the model's parameters and has its size, no parameter was updated more
    /// often than the run stepped, the moments are finite, and a run past its first step has some.
    pub fn check<M: Module>(&self, model: &M, step: usize) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Weights(format!(
                "optimizer.safetensors: {m}; the checkpoint is damaged: resume from another checkpoint or start again"
            )))
        };
        if step > 0 && self.0.is_empty() {
            return bad(format!("it holds no moments, but the run is at step {step}"));
        }
        let mut sizes = Sizes::default();
        model.visit(&mut sizes);
        for (path, (time, m, v)) in &self.0 {
            match sizes.of.get(path) {
                None => return bad(format!("it holds moments for {path}, which this model does not have")),
                Some(&n) if m.len() != n || v.len() != n => {
                    return bad(format!("{path}'s moments hold {} and {} values, but the parameter has {n}", m.len(), v.len()));
                }
                Some(_) => {}
            }
            if *time > step {
                return bad(format!("{path} was updated {time} times, more than the run's {step} steps"));
            }
            if let Some(x) = m.iter().chain(v).find(|x| !x.is_finite()) {
                return bad(format!("{path}'s moments hold {x}"));
            }
        }
        Ok(())
    }
}

/// Element counts of a module's float parameters, by the path [`AdamW`] keys its state with.
#[derive(Default)]
struct Sizes {
    path: Vec<String>,
    of: HashMap<String, usize>,
}

impl ModuleVisitor for Sizes {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.of.insert(self.path.join("."), param.base().dims().iter().product());
    }
}

impl AdamW {
    pub fn new(weight_decay: f64, no_decay_paths: fn(&str) -> bool) -> Self {
        let config = |wd: f64| {
            AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(wd as f32)
        };
        AdamW { decay: config(weight_decay).build(), no_decay: config(0.0).build(), no_decay_paths, groups: Vec::new(), state: HashMap::new() }
    }

    /// With parameter groups of their own learning rates (the first matching group counts).
    pub fn with_groups(mut self, groups: Vec<LrGroup>) -> Self {
        self.groups = groups;
        self
    }

    /// The rate of the parameter at `path` when the schedule's is `lr`.
    fn lr_at(&self, path: &str, lr: f64) -> f64 {
        let within = |g: &&LrGroup| path.strip_prefix(g.prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
        match self.groups.iter().find(within) {
            Some(g) => lr * g.factor,
            None => lr,
        }
    }

    /// One update of every parameter that has a gradient in `grads`. With `apply` (a `[1]` tensor on
    /// the device) it takes effect only where that is true: otherwise parameters and moments keep
    /// their values (the step count of the bias correction still advances). `None` applies it
    /// unconditionally, without the three masked copies of every parameter that cost (on the CPU)
    /// more than the update itself.
    pub fn step<M: Module>(&mut self, lr: f64, model: M, mut grads: GradientsParams, apply: Option<Tensor<1, Bool>>) -> M {
        model.map(&mut WithPath(Update { optim: self, lr, grads: &mut grads, apply }, Vec::new()))
    }

    /// Reads the state back (async: works on WebGPU).
    pub async fn save(&self, device: &ComputeDevice) -> Result<SavedState> {
        let states: Vec<(&String, &Moments)> = self.state.iter().collect();
        let tensors = states.iter().flat_map(|(_, s)| [s.m.clone(), s.v.clone()]).collect();
        let mut values = device.read_all(tensors).await?.into_iter();
        let mut out = BTreeMap::new();
        for (path, s) in states {
            let (Some(m), Some(v)) = (values.next(), values.next()) else { break };
            out.insert(path.clone(), (s.time, m, v));
        }
        Ok(SavedState(out))
    }

    /// Puts a saved state back on `device`. Paths the model does not have are an error at the
    /// next step's lookup only if they are missing, so a state must come from the same model.
    pub fn load(&mut self, saved: SavedState, device: &burn::tensor::Device) {
        self.state = saved
            .0
            .into_iter()
            .map(|(path, (time, m, v))| {
                let t = |x: Vec<f32>| {
                    let n = x.len();
                    Tensor::<1>::from_data(TensorData::new(x, [n]), device)
                };
                (path, Moments { time, m: t(m), v: t(v) })
            })
            .collect();
    }
}

struct Update<'a> {
    optim: &'a mut AdamW,
    lr: f64,
    grads: &'a mut GradientsParams,
    apply: Option<Tensor<1, Bool>>,
}

impl MapAtPath for Update<'_> {
    fn map_at<const D: usize>(&mut self, path: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = path.to_string();
        let shape = tensor.dims();
        let n: usize = shape.iter().product();
        let lr = self.optim.lr_at(&path, self.lr);
        let optim = if (self.optim.no_decay_paths)(&path) { &self.optim.no_decay } else { &self.optim.decay };
        let previous = self.optim.state.remove(&path);
        let state = previous.as_ref().map(|s| AdamWState {
            momentum: AdaptiveMomentumState {
                time: s.time,
                moment_1: s.m.clone().inner().reshape(shape),
                moment_2: s.v.clone().inner().reshape(shape),
                max_moment_2: None,
            },
        });
        let (autodiff, require_grad) = (tensor.is_autodiff(), tensor.is_require_grad());
        let strategy = tensor.gradient_checkpointing_strategy();
        let old = tensor.inner();
        let (updated, state) = optim.step(lr, old.clone(), grad.inner(), state);
        // With a mask: new where `apply`, else old — a skipped step leaves no trace in the weights or moments.
        let apply = self.apply.clone().map(|a| a.expand([n]));
        if let Some(AdamWState { momentum: s }) = state {
            let (mut m, mut v) = (s.moment_1.reshape([n]), s.moment_2.reshape([n]));
            if let Some(apply) = &apply {
                let (m0, v0) = match previous {
                    Some(p) => (p.m.inner(), p.v.inner()),
                    None => (Tensor::zeros([n], &old.device()), Tensor::zeros([n], &old.device())),
                };
                (m, v) = (m0.mask_where(apply.clone(), m), v0.mask_where(apply.clone(), v));
            }
            self.optim.state.insert(path, Moments { time: s.time, m, v });
        }
        let updated = match apply {
            Some(apply) => old.reshape([n]).mask_where(apply, updated.reshape([n])).reshape(shape),
            None => updated,
        };
        let mut updated = if autodiff { Tensor::from_inner(updated) } else { updated };
        if let Some(strategy) = strategy {
            updated = updated.with_gradient_checkpointing_strategy(strategy); // the parameter's, as before the step
        }
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}
