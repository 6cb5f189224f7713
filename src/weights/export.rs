//! Module → Hugging Face `model.safetensors` bytes, with async reads (Burn's own `save_into`
//! reads tensors synchronously, which panics on WebGPU). Linear weights are transposed back to
//! PyTorch's `[out, in]` (unless the checkpoint keeps them `[in, out]`, as GPT-2's `Conv1D`
//! does); names are mapped by the caller's function.

use std::collections::{BTreeMap, HashMap};

use burn::{
    module::{Module, ModuleVisitor, Param},
    tensor::Tensor,
};
use ::safetensors::{Dtype, tensor::TensorView};

use crate::{ComputeDevice, Error, Result};

/// A parameter on its way out: Burn path, PyTorch shape, values flattened in PyTorch order.
struct Pending {
    path: String,
    shape: Vec<usize>,
    values: Tensor<1>,
}

/// How the checkpoint keeps a Linear layer's weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearLayout {
    /// PyTorch's `nn.Linear`: `[out, in]`.
    OutIn,
    /// Hugging Face's `Conv1D` (GPT-2): `[in, out]`, as Burn keeps it.
    InOut,
}

/// Collects every float parameter with its path (`bert.encoder.layer.0.attention.…`).
struct Collect {
    layout: LinearLayout,
    path: Vec<String>,
    containers: Vec<String>,
    out: Vec<Pending>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(name) = self.path.last().cloned() else { return };
        // enter_module gets the type of the struct that owns the field: Linear for `weight`.
        let in_linear = self.containers.last().is_some_and(|c| c == "Struct:Linear");
        let mut t = param.val();
        if D == 2 && in_linear && name == "weight" && self.layout == LinearLayout::OutIn {
            t = t.swap_dims(0, 1); // Burn [in, out] → PyTorch [out, in]
        }
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.out.push(Pending { path: self.path.join("."), shape, values: t.reshape([n]) });
    }
}

/// Reads every parameter of `model` back and writes them as f32 safetensors under the names
/// `rename` gives (`None` drops a parameter), Linear weights as PyTorch's `nn.Linear` keeps them.
pub async fn to_safetensors<M: Module>(
    model: &M,
    device: &ComputeDevice,
    rename: impl Fn(&str) -> Option<String>,
) -> Result<Vec<u8>> {
    to_safetensors_as(model, device, rename, LinearLayout::OutIn).await
}

/// [`to_safetensors`] with Linear weights in `layout`.
pub async fn to_safetensors_as<M: Module>(
    model: &M,
    device: &ComputeDevice,
    rename: impl Fn(&str) -> Option<String>,
    layout: LinearLayout,
) -> Result<Vec<u8>> {
    let mut c = Collect { layout, path: Vec::new(), containers: Vec::new(), out: Vec::new() };
    model.visit(&mut c);
    let kept: Vec<(String, Pending)> = c.out.into_iter().filter_map(|p| rename(&p.path).map(|n| (n, p))).collect();
    let values = device.read_all(kept.iter().map(|(_, p)| p.values.clone()).collect()).await?;
    let tensors = kept.into_iter().zip(values).map(|((name, p), values)| (name, p.shape, values)).collect();
    f32_safetensors(tensors, [("format".to_string(), "pt".to_string())].into_iter().collect())
}

/// `(name, shape, values)` as f32 safetensors bytes, with `metadata`; two tensors with one name
/// are an error.
pub fn f32_safetensors(tensors: Vec<(String, Vec<usize>, Vec<f32>)>, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let mut bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, shape, values) in tensors {
        let le = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        if bytes.insert(name.clone(), (shape, le)).is_some() {
            return Err(Error::Backend(format!("two tensors are saved under the same name {name}")));
        }
    }
    let views = bytes
        .iter()
        .map(|(name, (shape, b))| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Backend(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    ::safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Backend(format!("writing safetensors: {e}")))
}
