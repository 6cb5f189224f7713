//! Freshly initialised parameters (a new classifier head, LoRA's `A`), drawn on the host.
//!
//! Each Burn backend has its own random generator, so `Device::seed(s)` followed by
//! `Tensor::random` gives a different tensor on WebGPU than on the CPU: the same run started a
//! different model on each device. Drawing here instead — one ChaCha8 stream per seed and
//! parameter path — gives every device the same start for the same `seed`.

use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator for the parameter at `path` (a module path such as `classifier.weight`).
fn stream(seed: u64, path: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // FNV-1a: a stable stream number per path, the same in every build.
    let id = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    rng.set_stream(id);
    rng
}

/// Uniform on [-bound, bound).
pub fn uniform<const D: usize>(shape: [usize; D], bound: f64, seed: u64, path: &str) -> TensorData {
    let mut rng = stream(seed, path);
    let n = shape.iter().product();
    let bound = bound as f32;
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    TensorData::new(values, shape)
}

/// Normal with mean 0 and standard deviation `std` (Box–Muller).
pub fn normal<const D: usize>(shape: [usize; D], std: f64, seed: u64, path: &str) -> TensorData {
    let mut rng = stream(seed, path);
    let n: usize = shape.iter().product();
    let mut values = Vec::with_capacity(n + 1);
    while values.len() < n {
        // 1 - u keeps the logarithm's argument in (0, 1].
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let theta = std::f64::consts::TAU * u2;
        values.push((r * theta.cos()) as f32);
        values.push((r * theta.sin()) as f32);
    }
    values.truncate(n);
    TensorData::new(values, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_depend_on_seed_and_path_only_and_have_the_asked_spread() {
        let a = normal([200, 50], 0.02, 7, "classifier.weight").try_into_vec::<f32>().unwrap();
        let again = normal([200, 50], 0.02, 7, "classifier.weight").try_into_vec::<f32>().unwrap();
        let other_path = normal([200, 50], 0.02, 7, "bert.pooler.dense.weight").try_into_vec::<f32>().unwrap();
        let other_seed = normal([200, 50], 0.02, 8, "classifier.weight").try_into_vec::<f32>().unwrap();
        assert_eq!(a, again);
        assert_ne!(a, other_path);
        assert_ne!(a, other_seed);
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / a.len() as f64;
        let std = (a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(mean.abs() < 0.002 && (std - 0.02).abs() < 0.001, "mean {mean} std {std}");

        let u = uniform([1000], 0.5, 1, "a").try_into_vec::<f32>().unwrap();
        assert!(u.iter().all(|x| (-0.5..0.5).contains(x)));
        assert!(u.iter().any(|&x| x < -0.45) && u.iter().any(|&x| x > 0.45));
    }
}
