//! Device selection and the self-test training step, natively: on the CPU backend and on wgpu
//! (Vulkan; Mesa's lavapipe on a machine without a GPU). Each test asserts which device ran.
#![cfg(not(target_family = "wasm"))] // native only: the browser suite is tests/browser.rs

use pollster::block_on;
use webtune::{DevicePreference, Error, device, train::self_test};

#[test]
fn cpu_self_test_loss_falls() {
    let dev = device::cpu();
    assert_eq!(dev.info().kind, "cpu");
    let report = block_on(self_test(&dev)).unwrap();
    assert_eq!(report.device.backend, "flex");
    assert!(report.device.autodiff, "the step must run with autodiff");
    assert!(report.passed(), "loss did not fall: {report:?}");
}

#[test]
fn cpu_self_test_is_deterministic() {
    let a = block_on(self_test(&device::cpu())).unwrap();
    let b = block_on(self_test(&device::cpu())).unwrap();
    assert_eq!((a.loss_before, a.loss_after), (b.loss_before, b.loss_after));
}

#[test]
fn gpu_self_test_loss_falls_on_wgpu() {
    let dev = block_on(device::select(DevicePreference::Gpu))
        .unwrap_or_else(|e| panic!("a wgpu adapter is required for this test: {e}"));
    let info = dev.info();
    assert_eq!(info.kind, "wgpu", "{info:?}");
    assert!(info.max_storage_buffer_binding_size.unwrap() >= 128 << 20, "{info:?}");
    let report = block_on(self_test(&dev)).unwrap();
    assert!(report.passed(), "loss did not fall on {info}: {report:?}");
    // The same seeded step on the CPU starts from a different init (each backend has its own RNG),
    // so compare only that both learn and land in a sane range.
    assert!(report.loss_before > 0.5 && report.loss_before < 3.0, "{report:?}");
}

/// "auto" takes a hardware GPU, but never a software one (Mesa's lavapipe here, several times
/// slower than the CPU backend at training): then the CPU, saying why; "gpu" still takes it.
#[test]
fn auto_prefers_a_hardware_gpu_and_never_a_software_one() {
    let gpu = block_on(device::select(DevicePreference::Gpu)).expect("a wgpu adapter (lavapipe at least)");
    let auto = block_on(device::select(DevicePreference::Auto)).unwrap();
    if gpu.info().device_type == "Cpu" {
        assert_eq!(auto.info().kind, "cpu");
        let why = auto.info().fallback.clone().expect("the reason is recorded");
        assert!(why.contains(&gpu.info().adapter) && why.contains("software renderer") && why.contains("--device gpu"), "{why}");
    } else {
        assert_eq!(auto.info().kind, "wgpu", "Auto fell back: {:?}", auto.info().fallback);
        assert!(auto.info().fallback.is_none());
    }
}

#[test]
fn listing_devices_includes_the_gpu_and_the_cpu() {
    let all = device::list();
    assert!(all.iter().any(|d| d.kind == "wgpu"), "{all:?}");
    assert_eq!(all.last().unwrap().kind, "cpu");
}

#[test]
fn unknown_device_names_the_valid_values() {
    let err = "tpu".parse::<DevicePreference>().unwrap_err();
    assert!(matches!(err, Error::Options(_)));
    let msg = err.to_string();
    assert!(msg.contains("\"tpu\"") && msg.contains("\"auto\"") && msg.contains("\"cpu\""), "{msg}");
    assert_eq!(err.js_name(), "OptionsError");
}
