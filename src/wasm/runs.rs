//! Stored runs for JS: the protocol of [`crate::session::runs`] over the JS storage object of
//! `www/lib/storage.js` (OPFS or IndexedDB: `read`, `write`, `remove`, `list` on paths of names).

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::{errors::to_js, to_value};
use crate::{
    Error, Result,
    session::runs::{self, Entry, Files, Storage},
};

/// The JS storage object as a [`Storage`].
struct JsStorage(JsValue);

impl JsStorage {
    /// `this.method(...args)`, awaited.
    async fn call(&self, method: &str, args: Vec<JsValue>) -> std::result::Result<JsValue, JsValue> {
        let f: Function = Reflect::get(&self.0, &method.into())?.dyn_into()?;
        let out = f.apply(&self.0, &args.into_iter().collect::<Array>())?;
        JsFuture::from(Promise::resolve(&out)).await
    }
}

fn path_value(path: &[&str]) -> JsValue {
    path.iter().map(|p| JsValue::from_str(p)).collect::<Array>().into()
}

fn name_of(e: &JsValue) -> Option<String> {
    Reflect::get(e, &"name".into()).ok()?.as_string()
}

fn failed(what: &str, path: &[&str], e: JsValue) -> Error {
    let message = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_else(|| format!("{e:?}"));
    Error::Options(format!("cannot {what} {} in the browser's storage: {message}", path.join("/")))
}

impl Storage for JsStorage {
    async fn read(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        match self.call("read", vec![path_value(path)]).await {
            Ok(v) => Ok(Some(Uint8Array::new(&v).to_vec())),
            Err(e) if name_of(&e).as_deref() == Some("NotFoundError") => Ok(None),
            Err(e) => Err(failed("read", path, e)),
        }
    }

    async fn write(&self, path: &[&str], bytes: &[u8]) -> Result<()> {
        self.call("write", vec![path_value(path), Uint8Array::from(bytes).into()]).await.map(|_| ()).map_err(|e| failed("write", path, e))
    }

    async fn remove(&self, path: &[&str]) -> Result<bool> {
        self.call("remove", vec![path_value(path)]).await.map(|v| v.is_truthy()).map_err(|e| failed("remove", path, e))
    }

    async fn list(&self, path: &[&str]) -> Result<Vec<Entry>> {
        let entries = self.call("list", vec![path_value(path)]).await.map_err(|e| failed("list", path, e))?;
        Ok(Array::from(&entries)
            .iter()
            .filter_map(|e| {
                let kind = Reflect::get(&e, &"kind".into()).ok()?.as_string()?;
                Some(Entry { name: name_of(&e)?, is_dir: kind == "directory" })
            })
            .collect())
    }
}

/// [`Files`] as a JS object of Uint8Arrays.
fn files_value(files: &Files) -> Result<JsValue, JsValue> {
    super::files_object(files.iter().map(|(name, bytes)| (name, bytes)))
}

fn json_from(value: &JsValue, what: &str) -> Result<Json> {
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| Error::Options(format!("{what} is not plain JSON data: {e}")))
}

/// Starts (or restarts) run `name` in `storage`: `setup` (plain data), `base` and `data` files.
#[wasm_bindgen(js_name = runCreate)]
pub fn run_create(storage: JsValue, name: String, setup: JsValue, base: JsValue, data: JsValue) -> Promise {
    future_to_promise(async move {
        let setup = json_from(&setup, "the run's setup").map_err(to_js)?;
        runs::create_run(&JsStorage(storage), &name, &setup, &super::named_bytes(&base), &super::named_bytes(&data)).await.map_err(to_js)?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Stores a checkpoint (files by name, as `onCheckpoint` gets them) of run `name`.
#[wasm_bindgen(js_name = runWriteCheckpoint)]
pub fn run_write_checkpoint(storage: JsValue, name: String, files: JsValue) -> Promise {
    future_to_promise(async move {
        runs::write_checkpoint(&JsStorage(storage), &name, &super::named_bytes(&files)).await.map_err(to_js)?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Marks run `name` finished with its last event.
#[wasm_bindgen(js_name = runFinish)]
pub fn run_finish(storage: JsValue, name: String, done: JsValue) -> Promise {
    future_to_promise(async move {
        let done = json_from(&done, "the run's last event").map_err(to_js)?;
        runs::finish_run(&JsStorage(storage), &name, &done).await.map_err(to_js)?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Everything to resume run `name`: `{ setup, base, data, checkpoint }` (files as Uint8Arrays).
#[wasm_bindgen(js_name = runRead)]
pub fn run_read(storage: JsValue, name: String) -> Promise {
    future_to_promise(async move {
        let run = runs::read_run(&JsStorage(storage), &name).await.map_err(to_js)?;
        let out = Object::new();
        Reflect::set(&out, &"setup".into(), &to_value(&run.setup)?)?;
        Reflect::set(&out, &"base".into(), &files_value(&run.base)?)?;
        Reflect::set(&out, &"data".into(), &files_value(&run.data)?)?;
        Reflect::set(&out, &"checkpoint".into(), &files_value(&run.checkpoint)?)?;
        Ok(out.into())
    })
}

/// `[{ name, step, updated, finished }]` of the stored runs, by name.
#[wasm_bindgen(js_name = runList)]
pub fn run_list(storage: JsValue) -> Promise {
    future_to_promise(async move { to_value(&runs::list_runs(&JsStorage(storage)).await.map_err(to_js)?) })
}

/// Deletes run `name`: whether it existed.
#[wasm_bindgen(js_name = runRemove)]
pub fn run_remove(storage: JsValue, name: String) -> Promise {
    future_to_promise(async move { Ok(JsValue::from_bool(runs::remove_run(&JsStorage(storage), &name).await.map_err(to_js)?)) })
}
