//! Gradient clipping by the global L2 norm over all parameters, as PyTorch's
//! `clip_grad_norm_` (Burn's own `GradientClipping::Norm` clips each tensor separately).
//! Everything stays on the device: no read-back, the norm is returned as a tensor.

use burn::{
    module::{Module, ModuleVisitor, Param},
    optim::GradientsParams,
    tensor::Tensor,
};

/// Sum of squares of every gradient of `model`'s float parameters (a [1] tensor).
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powf_scalar(2.0).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient by a [1] tensor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let coef = self.coef.clone().reshape([1; D]);
            self.grads.register(param.id, g * coef);
        }
    }
}

/// The global gradient norm (a `[1]` tensor), before clipping.
pub fn global_norm<M: Module>(model: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut v = SquaredNorm { grads, total: None };
    model.visit(&mut v);
    v.total.map(Tensor::sqrt)
}

/// Scales all gradients by `min(1, max_norm / (norm + 1e-6))` (PyTorch's formula) and returns
/// the norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> Option<Tensor<1>> {
    let norm = global_norm(model, grads)?;
    let coef = (norm.clone().add_scalar(1e-6).recip() * max_norm).clamp_max(1.0);
    model.visit(&mut Scale { grads, coef });
    Some(norm)
}
