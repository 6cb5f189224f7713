//! setfit's `model_head.pkl`, whichever head it holds: scikit-learn's `LogisticRegression`
//! (setfit's default, read by `sklearn_pickle`) or setfit's differentiable `SetFitHead` (a
//! torch module pickled with its tensors). The differentiable head's probabilities are
//! `softmax((W·x + b) / (temperature + eps))`, a multinomial logistic regression with its
//! coefficients divided by `temperature + eps`, so it is read as one: for two classes as the
//! binary form (the difference of the two rows), which gives the same probabilities.

use super::{
    pickle::{Py, read},
    sklearn_pickle::{ReadHead, logistic_regression_in},
    torch_pickle::tensor,
};
use crate::{Error, Result};

fn bad(message: String) -> Error {
    Error::Weights(format!("model_head.pkl: {message}"))
}

/// The head in a `model_head.pkl` setfit saved (or webtune wrote).
pub fn read_head(bytes: &[u8]) -> Result<ReadHead> {
    let head = read(bytes)?;
    match &head {
        Py::Object { class: (module, name), .. } if module == "setfit.modeling" && name == "SetFitHead" => differentiable_head(&head),
        _ => logistic_regression_in(&head),
    }
}

/// setfit's `SetFitHead`: its `linear` layer's weight `[classes, features]` and bias, its
/// temperature and eps.
fn differentiable_head(head: &Py) -> Result<ReadHead> {
    if head.get("multitarget") == Some(&Py::Bool(true)) {
        return Err(bad("a multi-target SetFitHead (one sigmoid per label); webtune reads single-label heads".into()));
    }
    let number = |key: &str, default: f64| match head.get(key) {
        None => Ok(default),
        Some(Py::Float(v)) => Ok(*v),
        Some(Py::Int(v)) => Ok(*v as f64),
        Some(other) => Err(bad(format!("the SetFitHead's {key} is {other:?}, not a number"))),
    };
    let scale = number("temperature", 1.0)? + number("eps", 1e-5)?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(bad(format!("the SetFitHead's temperature + eps is {scale}, not a positive number")));
    }
    let linear = head.get("_modules").and_then(|m| m.get("linear")).ok_or_else(|| bad("the SetFitHead has no linear layer".into()))?;
    let parameters = linear.get("_parameters").ok_or_else(|| bad("the SetFitHead's linear layer has no parameters".into()))?;
    let weight = tensor(parameters.get("weight").ok_or_else(|| bad("the SetFitHead's linear layer has no weight".into()))?)?;
    let [classes, width] = weight.shape[..] else { return Err(bad(format!("the SetFitHead's weight has shape {:?}, not (classes, features)", weight.shape))) };
    // (the weight's values are read, so these are bounded by its length before anything is sized by them)
    if classes < 2 || width == 0 {
        return Err(bad(format!("a SetFitHead of {classes} classes and {width} features; setfit's heads have at least 2 classes")));
    }
    let bias = match parameters.get("bias") {
        None | Some(Py::None) => vec![0.0; classes],
        Some(b) => tensor(b)?.values,
    };
    if bias.len() != classes {
        return Err(bad(format!("a SetFitHead of {classes} classes with {} biases", bias.len())));
    }
    let rows: Vec<Vec<f64>> = weight.values.chunks(width).map(<[f64]>::to_vec).collect();
    let (coef, intercept) = softmax_layer_as_logistic(&rows, &bias, scale);
    Ok(ReadHead { coef, intercept, classes: (0..classes).map(|c| c.to_string()).collect(), class_ids: true, iterations: 0 })
}

/// The coefficients and intercepts of the logistic regression whose probabilities are
/// `softmax((weight·x + bias) / scale)`: the rows divided by `scale`; for two classes
/// scikit-learn's binary form (the second row less the first). `weight` holds one row per class.
pub fn softmax_layer_as_logistic(weight: &[Vec<f64>], bias: &[f64], scale: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let rows: Vec<Vec<f64>> = weight.iter().map(|r| r.iter().map(|w| w / scale).collect()).collect();
    let intercept: Vec<f64> = bias.iter().map(|b| b / scale).collect();
    match (rows.as_slice(), intercept.as_slice()) {
        ([first, second], [b0, b1]) => (vec![second.iter().zip(first).map(|(a, b)| a - b).collect()], vec![b1 - b0]),
        _ => (rows, intercept),
    }
}
