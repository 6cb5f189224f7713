//! The one place that chooses a compute device.
//!
//! - In the browser: WebGPU through wgpu (`navigator.gpu`), initialised asynchronously — a lazily
//!   created wgpu device panics on wasm (BURN-NOTES §2.1), so every GPU tensor must be created on
//!   the [`Device`] returned from here.
//! - Natively: wgpu on the platform API (Vulkan on Linux — Mesa's lavapipe counts —, Metal on
//!   macOS).
//! - Everywhere: the pure-Rust CPU backend (Burn's `flex`) as the fallback.
//!
//! Each can be wrapped with autodiff ([`ComputeDevice::with_autodiff`]). The wgpu runtime can be
//! initialised only once per process, so the GPU selection is cached (success and failure alike).

use std::{fmt, str::FromStr};

use std::sync::{Arc, OnceLock};

use burn::tensor::{Device, Tensor, TensorData, wgpu::{WgpuBackend, WgpuSetup}};
use serde::Serialize;

use crate::{Error, Result, error::GPU_RESTART};

/// Which device the caller wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DevicePreference {
    /// The GPU if one initialises and is real hardware, else the CPU, with the reason recorded in
    /// [`DeviceInfo::fallback`]: a software adapter (Mesa's llvmpipe/lavapipe, Chromium's
    /// SwiftShader — WebGPU's `isFallbackAdapter`) trains several times slower than the CPU backend.
    #[default]
    Auto,
    /// The GPU (WebGPU in the browser, wgpu natively), software adapters included, or an error —
    /// never a silent fallback.
    Gpu,
    /// The CPU backend.
    Cpu,
}

impl DevicePreference {
    /// The spellings the JS API documents (its `DevicePreference` type is generated from these).
    pub const NAMES: [&'static str; 4] = ["auto", "webgpu", "gpu", "cpu"];

    /// The accepted spellings, for error messages and docs.
    pub const VALID: &'static str = "\"auto\", \"gpu\" (alias \"webgpu\", \"wgpu\"), \"cpu\"";
}

impl FromStr for DevicePreference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "gpu" | "webgpu" | "wgpu" => Ok(Self::Gpu),
            "cpu" | "wasm" => Ok(Self::Cpu),
            other => Err(Error::Options(format!(
                "unknown device {other:?}; valid values are {}",
                Self::VALID
            ))),
        }
    }
}

/// What was actually selected: enough to tell a WebGPU run from a CPU fallback, and to plan memory.
#[derive(Clone, Debug, PartialEq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// `"webgpu"` (browser), `"wgpu"` (native GPU API) or `"cpu"`.
    #[ts(type = "\"webgpu\" | \"wgpu\" | \"cpu\"")]
    pub kind: String,
    /// The graphics backend: `"BrowserWebGpu"`, `"Vulkan"`, `"Metal"`, … or `"flex"` for the CPU.
    pub backend: String,
    /// Adapter name as the driver reports it (browsers may report an empty name).
    pub adapter: String,
    /// `"DiscreteGpu"`, `"IntegratedGpu"`, `"VirtualGpu"`, `"Cpu"` (a software rasteriser such as
    /// lavapipe or SwiftShader) or `"Other"`; `"Cpu"` for the CPU backend too.
    pub device_type: String,
    /// Driver name and version, when reported.
    pub driver: String,
    /// `maxBufferSize` in bytes (GPU only).
    pub max_buffer_size: Option<u64>,
    /// `maxStorageBufferBindingSize` in bytes (GPU only): the largest tensor one kernel can bind.
    pub max_storage_buffer_binding_size: Option<u64>,
    /// Whether tensors created on this device record gradients.
    pub autodiff: bool,
    /// Why the GPU was not used, when the "auto" choice fell back to the CPU.
    pub fallback: Option<String>,
}

impl DeviceInfo {
    /// Whether this is a GPU device (WebGPU or native wgpu).
    pub fn is_gpu(&self) -> bool {
        self.kind != "cpu"
    }

    /// Whether this GPU adapter is a software renderer running on the CPU (wgpu reports
    /// `DeviceType::Cpu` for llvmpipe/lavapipe natively and for WebGPU's fallback adapters).
    pub fn is_software_gpu(&self) -> bool {
        self.is_gpu() && self.device_type == "Cpu"
    }

    fn cpu(fallback: Option<String>) -> Self {
        DeviceInfo {
            kind: "cpu".into(),
            backend: "flex".into(),
            adapter: "CPU (Burn flex backend)".into(),
            device_type: "Cpu".into(),
            driver: String::new(),
            max_buffer_size: None,
            max_storage_buffer_binding_size: None,
            autodiff: false,
            fallback,
        }
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {}", self.kind, self.backend, self.adapter)?;
        if let Some(b) = self.max_storage_buffer_binding_size {
            write!(f, ", max binding {} MiB", b >> 20)?;
        }
        if self.autodiff {
            write!(f, ", autodiff")?;
        }
        write!(f, ")")
    }
}

/// A Burn [`Device`] together with the description of what it is.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    device: Device,
    info: DeviceInfo,
}

impl ComputeDevice {
    /// The Burn device to create tensors and modules on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// What this device is.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The same device with gradient tracking (for training).
    pub fn with_autodiff(&self) -> ComputeDevice {
        if self.info.autodiff {
            return self.clone();
        }
        ComputeDevice {
            device: self.device.clone().autodiff(),
            info: DeviceInfo { autodiff: true, ..self.info.clone() },
        }
    }

    /// [`Self::with_autodiff`] with gradient checkpointing: the backward pass recomputes what
    /// memory-bound operations (norms, activations, softmax, elementwise arithmetic) produced
    /// instead of keeping it from the forward pass; products are kept.
    pub fn with_gradient_checkpointing(&self) -> ComputeDevice {
        ComputeDevice {
            device: self.device.clone().without_autodiff().autodiff().gradient_checkpointing(),
            info: DeviceInfo { autodiff: true, ..self.info.clone() },
        }
    }

    /// Fails with [`Error::GpuFault`] once the GPU has reported an error or the device was lost:
    /// on WebGPU a failure arrives asynchronously and the launch itself "succeeds", so without
    /// this check a rejected kernel shows up only as wrong numbers.
    pub fn check(&self) -> Result<()> {
        if !self.info.is_gpu() {
            return Ok(());
        }
        if let Some(reason) = device_lost() {
            return Err(Error::lost_device(&reason));
        }
        match GPU_FAULT.get() {
            Some(fault) => Err(Error::GpuFault(format!(
                "the GPU reported an error, so results computed on it can no longer be trusted: {fault}. {GPU_RESTART}"
            ))),
            None => Ok(()),
        }
    }

    /// Reads a [rows, cols] tensor back (async, checked: see [`Self::read`]) as rows.
    pub async fn read_rows(&self, t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
        let [_, cols] = t.dims();
        let flat = self.read(t).await?.try_to_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}")))?;
        Ok(flat.chunks(cols.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// Reads a tensor back (async: the only kind of read that works in the browser), then
    /// [checks](Self::check) that the GPU did not report an error while computing it.
    pub async fn read<const D: usize, K: burn::tensor::kind::Basic>(&self, t: Tensor<D, K>) -> Result<TensorData> {
        let data = match t.into_data_async().await {
            Ok(data) => data,
            Err(e) => {
                if self.info.is_gpu() {
                    // a failed read is how a lost device first shows; let its callback run, then
                    // report the loss rather than the failed copy
                    yield_now().await;
                    self.check()?;
                }
                return Err(e.into());
            }
        };
        self.check()?;
        Ok(data)
    }

    /// Reads a one-element tensor (a loss, a norm) back, [checked](Self::check).
    pub async fn read_scalar(&self, t: Tensor<1>) -> Result<f64> {
        let v = self.read(t).await?.convert::<f64>().try_to_vec::<f64>().map_err(|e| Error::Backend(format!("{e:?}")))?;
        v.first().copied().ok_or_else(|| Error::Backend("read back an empty tensor where one value was expected".into()))
    }

    /// Reads many f32 vectors back with few round trips: they are concatenated on the device and
    /// read in chunks of up to 16 Mi values (each GPU read waits for the queue, so one read per
    /// parameter would make saving a model take a round trip per tensor).
    pub async fn read_all(&self, tensors: Vec<Tensor<1>>) -> Result<Vec<Vec<f32>>> {
        const CHUNK: usize = 16 << 20;
        let mut out = Vec::with_capacity(tensors.len());
        let mut pending: Vec<Tensor<1>> = Vec::new();
        let mut lengths = Vec::new();
        let mut tensors = tensors.into_iter().peekable();
        while let Some(t) = tensors.next() {
            lengths.push(t.dims()[0]);
            pending.push(t);
            let full = lengths.iter().sum::<usize>() >= CHUNK;
            if full || tensors.peek().is_none() {
                let flat = self.read(Tensor::cat(std::mem::take(&mut pending), 0)).await?;
                let flat = flat.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Backend(format!("{e:?}")))?;
                let mut rest = flat.as_slice();
                for n in lengths.drain(..) {
                    let (head, tail) = rest.split_at(n);
                    out.push(head.to_vec());
                    rest = tail;
                }
            }
        }
        Ok(out)
    }

    /// The same device without gradient tracking (for inference).
    pub fn without_autodiff(&self) -> ComputeDevice {
        ComputeDevice {
            device: self.device.clone().without_autodiff(),
            info: DeviceInfo { autodiff: false, ..self.info.clone() },
        }
    }
}

/// Selects a device. Call once and pass the result around; on wasm this is the only correct way
/// to get a GPU device (it must be initialised asynchronously before any tensor exists).
pub async fn select(preference: DevicePreference) -> Result<ComputeDevice> {
    if preference == DevicePreference::Cpu {
        return Ok(cpu());
    }
    match gpu().await {
        Ok(gpu) if preference == DevicePreference::Auto && gpu.info.is_software_gpu() => Ok(ComputeDevice {
            device: Device::flex(),
            info: DeviceInfo::cpu(Some(format!(
                "the only GPU adapter{} is a software renderer (a fallback adapter), slower than the CPU backend; {} to use it anyway",
                if gpu.info.adapter.is_empty() { String::new() } else { format!(", {},", gpu.info.adapter) },
                if cfg!(target_family = "wasm") { "pass device: \"webgpu\"" } else { "pass --device gpu" }
            ))),
        }),
        Ok(gpu) => Ok(gpu),
        Err(reason) if preference == DevicePreference::Auto => Ok(ComputeDevice {
            device: Device::flex(),
            info: DeviceInfo::cpu(Some(reason)),
        }),
        Err(reason) => Err(Error::GpuUnavailable(format!(
            "no GPU device: {reason}. {}",
            gpu_help()
        ))),
    }
}

/// The CPU device (Burn's pure-Rust `flex` backend); always available.
pub fn cpu() -> ComputeDevice {
    ComputeDevice { device: Device::flex(), info: DeviceInfo::cpu(None) }
}

fn gpu_help() -> &'static str {
    if cfg!(target_family = "wasm") {
        "Use a browser with WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu), \
         or pass device: \"cpu\" / \"auto\" to run on the CPU"
    } else {
        "Install a Vulkan driver (on Debian/Ubuntu: apt-get install mesa-vulkan-drivers), \
         or use --device cpu / auto"
    }
}

#[cfg(target_family = "wasm")]
mod webgpu_compat;

/// Runs the module's static constructors once: CubeCL's IR registers its operations with
/// `inventory`, so they must have run before the first GPU kernel is compiled. Called by the
/// package's start function and before a GPU device is created (a test binary has no start).
///
/// Referencing `__wasm_call_ctors` here also stops wasm-ld from treating the module as a "command"
/// and wrapping *every export* in a call to the constructors: each call from JS into wasm —
/// including every JS value Rust creates (`__externref_table_alloc`) — would re-run them.
#[cfg(target_family = "wasm")]
pub fn run_static_constructors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker-generated constructor runner; `Once` keeps it to a single run.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

type GpuSlot = Option<std::result::Result<ComputeDevice, String>>;

/// The process-wide GPU selection. An async mutex so that concurrent first calls (browser tasks,
/// parallel native tests) wait for one initialisation instead of racing the wgpu registration.
static GPU: futures_util::lock::Mutex<GpuSlot> = futures_util::lock::Mutex::new(None);

async fn gpu() -> std::result::Result<ComputeDevice, String> {
    let mut slot = GPU.lock().await;
    if slot.is_none() {
        *slot = Some(init_gpu().await);
    }
    slot.clone().expect("set above")
}

async fn init_gpu() -> std::result::Result<ComputeDevice, String> {
    #[cfg(target_family = "wasm")]
    run_static_constructors();
    #[cfg(target_family = "wasm")]
    let compat = webgpu_compat::Installed::new();
    let init = request_adapter().await;
    #[cfg(target_family = "wasm")]
    drop(compat);
    let (device, setup) = init?;
    let info = adapter_info(&setup.adapter, &setup.device.limits());
    let gpu = ComputeDevice { device, info };
    // A first computation brings up the runtime (which installs its own error handler) and proves
    // the device computes; then device errors are recorded for `check` instead of panicking in a
    // callback (on wasm) while the computation carries on with garbage.
    let probe = Tensor::<1>::from_floats([1.0, 2.0], gpu.device()).sum();
    let sum = probe.into_scalar_async::<f32>().await.map_err(|e| format!("first computation failed: {e:?}"))?;
    if sum != 3.0 {
        return Err(format!("the GPU computed 1 + 2 = {sum}"));
    }
    setup.device.on_uncaptured_error(Arc::new(|error| {
        let message = error.to_string();
        log::error!("webtune: GPU error: {message}");
        let _ = GPU_FAULT.set(message);
    }));
    log::info!("webtune: selected {}", gpu.info);
    Ok(gpu)
}

/// The graphics APIs asked for a GPU, in order: the browser's WebGPU; Metal on macOS; Vulkan
/// elsewhere (and DirectX 12 on Windows). Never OpenGL: wgpu's GL backend computes poorly, and
/// merely probing it (EGL) prints errors to the terminal of a machine without a GPU.
fn graphics_apis() -> &'static [WgpuBackend] {
    if cfg!(any(target_family = "wasm", target_os = "macos")) {
        &[WgpuBackend::Auto]
    } else if cfg!(windows) {
        &[WgpuBackend::Vulkan, WgpuBackend::Dx12]
    } else {
        &[WgpuBackend::Vulkan]
    }
}

/// A GPU device from the first graphics API that has an adapter, or one sentence saying why
/// there is none (wgpu's own report, a `Debug` dump of every backend it did not ask, goes to
/// the debug log).
async fn request_adapter() -> std::result::Result<(Device, WgpuSetup), String> {
    let mut failures = Vec::new();
    for &api in graphics_apis() {
        match Device::wgpu_options().graphics_api(api).init_with_setup_async().await {
            Ok(found) => return Ok(found),
            Err(e) => failures.push(format!("{api:?}: {e}")),
        }
    }
    log::debug!("webtune: no GPU adapter: {}", failures.join("; "));
    Err(no_adapter_sentence(&failures))
}

/// What a person reads when no GPU device could be had (`failures`: each graphics API's error):
/// "no adapter" when no API found one, else the first other failure.
fn no_adapter_sentence(failures: &[String]) -> String {
    let opened = failures.iter().find(|f| !f.to_ascii_lowercase().contains("adapter"));
    match (opened, cfg!(target_family = "wasm")) {
        (None, true) => "this browser offers no WebGPU adapter".into(),
        (None, false) => "no GPU adapter was found (a Vulkan, Metal or DirectX 12 driver)".into(),
        (Some(failure), _) => format!("the GPU adapter could not be opened ({})", failure.lines().next().unwrap_or_default()),
    }
}

/// Lets the browser run its event loop (input, rendering, messages) before the caller goes on:
/// long loops such as training call it between steps so the page never freezes. A no-op natively.
pub async fn yield_now() {
    #[cfg(target_family = "wasm")]
    {
        use wasm_bindgen::{JsCast, JsValue};
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            match js_sys::Reflect::get(&global, &"setTimeout".into()).map(|f| f.dyn_into::<js_sys::Function>()) {
                Ok(Ok(set_timeout)) => {
                    let _ = set_timeout.call2(&global, &resolve, &JsValue::from(0));
                }
                _ => {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

/// The first error the GPU reported, if any (see [`ComputeDevice::check`]).
static GPU_FAULT: OnceLock<String> = OnceLock::new();

/// Why the browser's WebGPU device was lost, once it was (natively, wgpu reports a lost device as
/// a failed read: [`Error`]'s `From<ExecutionError>`).
fn device_lost() -> Option<String> {
    #[cfg(target_family = "wasm")]
    return webgpu_compat::lost();
    #[cfg(not(target_family = "wasm"))]
    None
}

type Wgpu = burn::tensor::wgpu::wgpu::Adapter;
type Limits = burn::tensor::wgpu::wgpu::Limits;

fn adapter_info(adapter: &Wgpu, limits: &Limits) -> DeviceInfo {
    let a = adapter.get_info();
    let backend = format!("{:?}", a.backend);
    DeviceInfo {
        kind: if backend == "BrowserWebGpu" { "webgpu" } else { "wgpu" }.into(),
        backend,
        adapter: a.name,
        device_type: format!("{:?}", a.device_type),
        driver: [a.driver, a.driver_info].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" "),
        max_buffer_size: Some(limits.max_buffer_size),
        max_storage_buffer_binding_size: Some(limits.max_storage_buffer_binding_size),
        autodiff: false,
        fallback: None,
    }
}

/// Every device this build can use, GPU adapters first (native only: browsers expose one adapter,
/// which [`select`] reports). Does not initialise the compute runtime.
#[cfg(not(target_family = "wasm"))]
pub fn list() -> Vec<DeviceInfo> {
    use burn::tensor::wgpu::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let mut out: Vec<DeviceInfo> =
        adapters.iter().map(|a| adapter_info(a, &a.limits())).collect();
    out.push(DeviceInfo::cpu(None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_adapter_is_said_in_one_sentence() {
        // wgpu's words when nothing answers (as a browser without WebGPU gives them)
        let detail = "Auto: No adapter available for WgpuDevice { kind: DefaultDevice, backend: Auto }: No suitable adapters found: noop not requested, vulkan not requested";
        let said = no_adapter_sentence(&[detail.into()]);
        assert!(!said.contains('{') && !said.contains("not requested"), "{said}");
        assert!(said.starts_with(if cfg!(target_family = "wasm") { "this browser offers no WebGPU adapter" } else { "no GPU adapter was found" }), "{said}");
        let failures = ["Vulkan: no adapter".to_string(), "Dx12: device lost\nmore".to_string()];
        assert_eq!(no_adapter_sentence(&failures), "the GPU adapter could not be opened (Dx12: device lost)");
    }
}
