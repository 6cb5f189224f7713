//! The JS side of a training call's callbacks: events, checkpoints and the cancel poll as the
//! training loop's [`Hooks`] (for a whole run or one search trial), the checkpoint a `resume`
//! argument holds, and the device a setup names.

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::to_value;
use crate::{
    Error, device,
    session::TrialResult,
    train::{Checkpoint, Event, Hooks},
};

/// A search trial's JS callbacks as the training loop's [`Hooks`]: its events, each with
/// `trial: index`, and the cancel poll; no checkpoints.
pub(super) struct TrialCallbacks<E, C> {
    emit: E,
    cancelled: C,
}

pub(super) fn trial_callbacks<'a>(
    on_event: &'a Function,
    is_cancelled: &'a Function,
    index: usize,
) -> TrialCallbacks<impl FnMut(Event) + 'a, impl Fn() -> bool + 'a> {
    let emit = move |event| {
        if let Ok(v) = to_value(&event) {
            let _ = Reflect::set(&v, &"trial".into(), &JsValue::from(index as u32));
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    };
    TrialCallbacks { emit, cancelled: cancel_poll(is_cancelled) }
}

impl<E: FnMut(Event), C: Fn() -> bool> TrialCallbacks<E, C> {
    pub(super) fn hooks(&mut self) -> Hooks<'_> {
        Hooks { on_event: &mut self.emit, on_checkpoint: None, cancelled: &self.cancelled }
    }
}

/// `is_cancelled()` as a poll (a throw counts as "go on").
pub(super) fn cancel_poll(is_cancelled: &Function) -> impl Fn() -> bool + '_ {
    move || is_cancelled.call0(&JsValue::NULL).map(|v| v.is_truthy()).unwrap_or(false)
}

/// Hands each finished trial to `on_event` as `{ type: "trial", … }`.
pub(super) fn trial_sink(on_event: &Function) -> impl FnMut(&TrialResult) + '_ {
    move |trial| {
        if let Ok(v) = to_value(trial) {
            let _ = Reflect::set(&v, &"type".into(), &"trial".into());
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    }
}

/// A search's outcome for JS: `{ trials, best, model }`.
pub(super) fn searched(trials: &[TrialResult], best: &TrialResult, model: JsValue) -> Result<JsValue, JsValue> {
    let out = Object::new();
    let _ = Reflect::set(&out, &"trials".into(), &to_value(trials)?);
    let _ = Reflect::set(&out, &"best".into(), &to_value(best)?);
    let _ = Reflect::set(&out, &"model".into(), &model);
    Ok(out.into())
}

/// A fine-tuning call's JS callbacks as the training loop's [`Hooks`].
pub(super) struct JsCallbacks<E, K, C> {
    emit: E,
    keep: K,
    cancelled: C,
}

/// `on_event(event)` gets every training event, `on_checkpoint({name: Uint8Array})` every
/// checkpoint (a throw stops the run), `is_cancelled()` is polled between steps.
pub(super) fn js_callbacks<'a>(
    on_event: &'a Function,
    on_checkpoint: &'a Function,
    is_cancelled: &'a Function,
) -> JsCallbacks<impl FnMut(Event) + 'a, impl FnMut(&Checkpoint) -> crate::Result<()> + 'a, impl Fn() -> bool + 'a> {
    JsCallbacks {
        emit: event_sink(on_event),
        keep: checkpoint_sink(on_checkpoint),
        cancelled: cancel_poll(is_cancelled),
    }
}

impl<E: FnMut(Event), K: FnMut(&Checkpoint) -> crate::Result<()>, C: Fn() -> bool> JsCallbacks<E, K, C> {
    pub(super) fn hooks(&mut self) -> Hooks<'_> {
        Hooks { on_event: &mut self.emit, on_checkpoint: Some(&mut self.keep), cancelled: &self.cancelled }
    }
}

/// Hands every training event to `on_event`.
pub(super) fn event_sink(on_event: &Function) -> impl FnMut(Event) + '_ {
    move |event| {
        if let Ok(v) = to_value(&event) {
            let _ = on_event.call1(&JsValue::NULL, &v);
        }
    }
}

/// Hands every checkpoint to `on_checkpoint` as `{ name: Uint8Array }`; a throw stops the run.
fn checkpoint_sink(on_checkpoint: &Function) -> impl FnMut(&Checkpoint) -> crate::Result<()> + '_ {
    move |c: &Checkpoint| {
        let files = Object::new();
        for (name, bytes) in c.files()? {
            let _ = Reflect::set(&files, &name.into(), &Uint8Array::from(bytes.as_slice()));
        }
        on_checkpoint
            .call1(&JsValue::NULL, &files)
            .map(|_| ())
            .map_err(|e| Error::Options(format!("onCheckpoint threw: {}", describe(&e))))
    }
}

/// The checkpoint in `resume` (the files an `onCheckpoint` call got), or none.
pub(super) fn resume_from(resume: &JsValue) -> crate::Result<Option<Checkpoint>> {
    if resume.is_undefined() || resume.is_null() {
        return Ok(None);
    }
    let get = |name: &str| {
        Reflect::get(resume, &name.into()).ok().filter(|v| v.is_instance_of::<Uint8Array>()).map(|v| Uint8Array::from(v).to_vec())
    };
    Checkpoint::from_files(get).map(Some)
}

/// The device a `setup.device` names, else the one of the last `init()`.
pub(super) async fn setup_device(name: Option<&str>) -> crate::Result<crate::ComputeDevice> {
    match name {
        Some(d) => device::select(d.parse()?).await,
        None => super::current_device().await,
    }
}

/// A thrown JS value as text.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}
