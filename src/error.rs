//! The one error type of the crate. Every fallible public function returns [`Result`].
//!
//! Each variant maps to a stable JS error `name` (see [`Error::js_name`]) so the browser API can
//! throw `Error` subclasses that callers can switch on.

/// Everything that can go wrong in webtune, grouped by what the caller has to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option had a bad value or an unknown key. The message lists the valid choices.
    #[error("{0}")]
    Options(String),
    /// The user's data could not be used (malformed file, missing column, …).
    #[error("{0}")]
    Data(String),
    /// A checkpoint, config or tokenizer file could not be used.
    #[error("{0}")]
    Weights(String),
    /// No usable WebGPU / wgpu adapter, when a GPU was explicitly requested.
    #[error("{0}")]
    GpuUnavailable(String),
    /// The planned work does not fit the device; the message suggests what to shrink.
    #[error("{0}")]
    OutOfMemory(String),
    /// The GPU reported an error (a rejected kernel, a lost device); its results can no longer be
    /// trusted, so every later read on it fails with this.
    #[error("{0}")]
    GpuFault(String),
    /// Training could not go on (the loss diverged); the message says what to change.
    #[error("{0}")]
    Training(String),
    /// The operation was cancelled by the caller.
    #[error("the operation was aborted")]
    Aborted,
    /// A failure inside the compute backend (reading a tensor back, a kernel error, …).
    #[error("compute backend error: {0}")]
    Backend(String),
}

impl Error {
    /// The stable `name` of the JS `Error` this becomes in the browser.
    pub fn js_name(&self) -> &'static str {
        match self {
            Error::Options(_) => "OptionsError",
            Error::Data(_) => "DataError",
            Error::Weights(_) => "WeightsError",
            Error::GpuUnavailable(_) => "WebGpuUnavailableError",
            Error::OutOfMemory(_) => "OutOfMemoryError",
            Error::GpuFault(_) => "GpuError",
            Error::Training(_) => "TrainingError",
            Error::Aborted => "AbortError",
            Error::Backend(_) => "BackendError",
        }
    }
}

impl From<burn::tensor::ExecutionError> for Error {
    fn from(e: burn::tensor::ExecutionError) -> Self {
        match e {
            // wgpu lost the device (driver reset, GPU removed): every later operation fails too
            burn::tensor::ExecutionError::DevicePoisoned { reason } => Error::lost_device(&reason),
            e => Error::Backend(format!("{e:?}")),
        }
    }
}

/// What to do after a [`Error::GpuFault`] (the browser package restarts its Worker by itself,
/// and drops this sentence from the message: www/lib/client.js).
pub(crate) const GPU_RESTART: &str = "Reload the page (or restart the process) for a fresh device, or use the CPU device";

impl Error {
    /// The error for a lost GPU device (noticed by the device module in the browser, or reported
    /// by wgpu natively as `ExecutionError::DevicePoisoned`).
    pub(crate) fn lost_device(reason: &str) -> Error {
        Error::GpuFault(format!("the GPU device was lost ({reason}), and the model and training state on it with it. {GPU_RESTART}"))
    }
}

/// `Result` with webtune's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
