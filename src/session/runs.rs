//! Stored fine-tuning runs: one crash-safe protocol over a small file store, used by the browser
//! (OPFS or IndexedDB, through the JS storage object) and natively (a folder on disk).
//!
//! ```text
//! runs/{name}/setup.json          what the run is: task, model, load and training options, data names
//! runs/{name}/base/{file}         the model files it started from
//! runs/{name}/data/{file}         its training (and validation) data
//! runs/{name}/checkpoint-{step}/  its latest complete checkpoint (Hugging Face Trainer's files)
//! runs/{name}/latest.json         which checkpoint is complete: { step, dir, updated }
//! runs/{name}/done.json           the run's last event, once it finished
//! ```
//!
//! A checkpoint is written to a new folder and only then named in `latest.json` (one whole-file
//! write), and the previous one is removed after that: a crash at any moment leaves `latest.json`
//! naming a complete checkpoint. The CLI's `--checkpoint-every` keeps its checkpoints the same way
//! in `OUT/checkpoints/` (a run folder of checkpoints only: its setup is the command line).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::{Error, Result};

/// An entry of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// The file store runs live in, addressed by paths of names.
#[allow(async_fn_in_trait)] // awaited in place, never sent across threads
pub trait Storage {
    /// The bytes of file `path`, or `None` when there is none.
    async fn read(&self, path: &[&str]) -> Result<Option<Vec<u8>>>;
    /// Writes file `path` whole (making its folders as needed).
    async fn write(&self, path: &[&str], bytes: &[u8]) -> Result<()>;
    /// Removes file or folder `path` with everything in it; whether it existed.
    async fn remove(&self, path: &[&str]) -> Result<bool>;
    /// The entries directly in folder `path` (none when it is missing).
    async fn list(&self, path: &[&str]) -> Result<Vec<Entry>>;
}

/// Files by name.
pub type Files = Vec<(String, Vec<u8>)>;

/// What `latest.json` says: the complete checkpoint and when it was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    pub step: usize,
    pub dir: String,
    pub updated: String,
}

/// A stored run, everything needed to resume it.
#[derive(Clone, Debug)]
pub struct StoredRun {
    pub setup: Json,
    pub base: Files,
    pub data: Files,
    /// The latest complete checkpoint's files.
    pub checkpoint: Files,
}

/// A stored run as `runs.list()` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    pub name: String,
    /// The latest complete checkpoint's step (0: none yet).
    pub step: usize,
    pub updated: Option<String>,
    pub finished: bool,
}

/// Refuses a run or model name that is not 1–100 ASCII letters, digits, `_`, `-` or `.` (and
/// not `.` or `..`): names become folder names.
pub fn check_name<'a>(what: &str, name: &'a str) -> Result<&'a str> {
    let ok = (1..=100).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(name)
    } else {
        Err(Error::Options(format!("{what} name must be 1-100 letters, digits, \"_\", \"-\" or \".\" (got {name:?})")))
    }
}

/// Refuses a file name that is not one name in one folder (empty, `.`, `..`, a separator, a NUL,
/// over 255 bytes); any other name — a user's `my data (1).csv` — is kept as it is.
fn check_file_name(name: &str) -> Result<&str> {
    let ok = !name.is_empty() && name.len() <= 255 && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if ok { Ok(name) } else { Err(Error::Options(format!("{name:?} cannot be a stored file's name"))) }
}

/// Starts (or restarts) run `name`: its setup, base model files and data files.
pub async fn create_run(store: &impl Storage, name: &str, setup: &Json, base: &Files, data: &Files) -> Result<()> {
    check_name("run", name)?;
    store.remove(&["runs", name]).await?;
    for (file, bytes) in base {
        store.write(&["runs", name, "base", check_file_name(file)?], bytes).await?;
    }
    for (file, bytes) in data {
        store.write(&["runs", name, "data", check_file_name(file)?], bytes).await?;
    }
    store.write(&["runs", name, "setup.json"], &json_bytes(setup)?).await
}

/// Stores a checkpoint of run `name` (its files by name), then drops the one it replaces.
pub async fn write_checkpoint(store: &impl Storage, name: &str, files: &Files) -> Result<()> {
    check_name("run", name)?;
    if store.list(&["runs", name]).await?.is_empty() {
        return Err(Error::Options(format!("run {name} is not in storage (deleted while training?)")));
    }
    write_checkpoint_in(store, &["runs", name], files).await.map(|_| ())
}

/// Stores a checkpoint in the run folder `run`: its files into `checkpoint-{step}/`, then
/// `latest.json` naming it, then every other checkpoint folder removed (the one it replaces, and
/// any a crash left half written).
pub async fn write_checkpoint_in(store: &impl Storage, run: &[&str], files: &Files) -> Result<Latest> {
    let state = files.iter().find(|(f, _)| f == "trainer_state.json").map(|(_, b)| b);
    let step = state
        .and_then(|b| serde_json::from_slice::<Json>(b).ok())
        .and_then(|s| s["step"].as_u64())
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| Error::Options("a checkpoint's files must hold trainer_state.json with its step".into()))?;
    let dir = format!("checkpoint-{step}");
    for (file, bytes) in files {
        store.write(&[run, &[dir.as_str(), check_file_name(file)?]].concat(), bytes).await?;
    }
    let now = Latest { step, dir: dir.clone(), updated: now_iso() };
    store.write(&[run, &["latest.json"]].concat(), &json_bytes(&now)?).await?;
    for old in store.list(run).await?.into_iter().filter(|e| e.is_dir && e.name.starts_with("checkpoint-") && e.name != dir) {
        store.remove(&[run, &[old.name.as_str()]].concat()).await?;
    }
    Ok(now)
}

/// The latest complete checkpoint in the run folder `run`: what `latest.json` says and its files
/// (`None` when there is none).
pub async fn latest_checkpoint(store: &impl Storage, run: &[&str]) -> Result<Option<(Latest, Files)>> {
    let Some(last) = latest_in(store, run).await? else { return Ok(None) };
    let files = read_all(store, &[run, &[last.dir.as_str()]].concat()).await?;
    Ok(Some((last, files)))
}

/// Marks run `name` finished with its last event (a resume then has nothing to do).
pub async fn finish_run(store: &impl Storage, name: &str, done: &Json) -> Result<()> {
    check_name("run", name)?;
    if !store.list(&["runs", name]).await?.is_empty() {
        store.write(&["runs", name, "done.json"], &json_bytes(done)?).await?;
    }
    Ok(())
}

/// What `latest.json` of the run folder `run` says, if it says anything readable.
async fn latest_in(store: &impl Storage, run: &[&str]) -> Result<Option<Latest>> {
    Ok(store.read(&[run, &["latest.json"]].concat()).await?.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Everything needed to resume run `name`: setup, base files, data files, checkpoint files.
pub async fn read_run(store: &impl Storage, name: &str) -> Result<StoredRun> {
    check_name("run", name)?;
    if store.list(&["runs", name]).await?.is_empty() {
        return Err(Error::Options(format!("there is no stored run named {name:?}; runs.list() shows the stored ones")));
    }
    let Some((_, checkpoint)) = latest_checkpoint(store, &["runs", name]).await? else {
        return Err(Error::Options(format!(
            "run {name:?} has no complete checkpoint yet; start it again with finetune({{ run, checkpointEvery }})"
        )));
    };
    let setup = store.read(&["runs", name, "setup.json"]).await?.and_then(|b| serde_json::from_slice(&b).ok());
    let setup = setup.ok_or_else(|| Error::Options(format!("run {name:?} has no readable setup.json; start it again")))?;
    Ok(StoredRun {
        setup,
        base: read_all(store, &["runs", name, "base"]).await?,
        data: read_all(store, &["runs", name, "data"]).await?,
        checkpoint,
    })
}

/// The stored runs, sorted by name.
pub async fn list_runs(store: &impl Storage) -> Result<Vec<RunSummary>> {
    let mut out = Vec::new();
    for run in store.list(&["runs"]).await?.into_iter().filter(|e| e.is_dir) {
        let last = latest_in(store, &["runs", &run.name]).await?;
        let finished = store.list(&["runs", &run.name]).await?.iter().any(|e| e.name == "done.json");
        out.push(RunSummary { step: last.as_ref().map_or(0, |l| l.step), updated: last.map(|l| l.updated), finished, name: run.name });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Deletes run `name`; whether it existed.
pub async fn remove_run(store: &impl Storage, name: &str) -> Result<bool> {
    store.remove(&["runs", check_name("run", name)?]).await
}

/// Every file directly in folder `path`.
async fn read_all(store: &impl Storage, path: &[&str]) -> Result<Files> {
    let mut out = Vec::new();
    for entry in store.list(path).await?.into_iter().filter(|e| !e.is_dir) {
        let file = [path, &[entry.name.as_str()]].concat();
        if let Some(bytes) = store.read(&file).await? {
            out.push((entry.name, bytes));
        }
    }
    Ok(out)
}

fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Error::Backend(format!("cannot write JSON: {e}")))
}

/// The time now as ISO 8601 in UTC with milliseconds (JS's `Date.toISOString()`).
fn now_iso() -> String {
    let ms = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    iso_from_millis(ms)
}

/// `ms` after the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (Howard Hinnant's civil-from-days).
fn iso_from_millis(ms: u128) -> String {
    let (secs, millis) = ((ms / 1000) as i64, ms % 1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Runs in a folder on disk (native only): each file written beside its place and renamed into
/// it, so that a crash never leaves half a file.
#[cfg(not(target_family = "wasm"))]
pub struct FolderStorage {
    pub root: std::path::PathBuf,
}

#[cfg(not(target_family = "wasm"))]
impl FolderStorage {
    fn path(&self, path: &[&str]) -> std::path::PathBuf {
        path.iter().fold(self.root.clone(), |p, part| p.join(part))
    }
}

#[cfg(not(target_family = "wasm"))]
impl Storage for FolderStorage {
    async fn read(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Options(format!("cannot read {}: {e}", self.path(path).display()))),
        }
    }

    async fn write(&self, path: &[&str], bytes: &[u8]) -> Result<()> {
        let target = self.path(path);
        let fail = |e: std::io::Error| Error::Options(format!("cannot write {}: {e}", target.display()));
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let partial = target.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(fail)?;
        std::fs::rename(&partial, &target).map_err(fail)
    }

    async fn remove(&self, path: &[&str]) -> Result<bool> {
        let target = self.path(path);
        let removed = if target.is_dir() { std::fs::remove_dir_all(&target) } else { std::fs::remove_file(&target) };
        match removed {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Options(format!("cannot remove {}: {e}", target.display()))),
        }
    }

    async fn list(&self, path: &[&str]) -> Result<Vec<Entry>> {
        let Ok(entries) = std::fs::read_dir(self.path(path)) else { return Ok(Vec::new()) };
        Ok(entries
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".partial"))
            .map(|e| Entry { name: e.file_name().to_string_lossy().into_owned(), is_dir: e.path().is_dir() })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_are_javascripts() {
        assert_eq!(iso_from_millis(0), "1970-01-01T00:00:00.000Z");
        // new Date(1796000000123).toISOString()
        assert_eq!(iso_from_millis(1_796_000_000_123), "2026-11-30T00:53:20.123Z");
        assert_eq!(iso_from_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    /// The result of a future that never waits (the folder store's).
    #[cfg(not(target_family = "wasm"))]
    fn now<T>(f: impl std::future::Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(std::pin::pin!(f)).expect("the folder store never waits")
    }

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn a_run_keeps_one_complete_checkpoint_named_in_latest_json() {
        let root = std::env::temp_dir().join(format!("webtune-runs-{}", std::process::id()));
        let store = FolderStorage { root: root.clone() };
        let files = |step: u32| -> Files { vec![("trainer_state.json".into(), format!("{{\"step\": {step}}}").into_bytes()), ("model.safetensors".into(), vec![step as u8; 3])] };
        let setup = serde_json::json!({ "task": "text-classification" });
        now(create_run(&store, "r1", &setup, &vec![("config.json".into(), b"{}".to_vec())], &vec![("data.csv".into(), b"text,label".to_vec())])).unwrap();
        assert!(now(read_run(&store, "r1")).unwrap_err().to_string().contains("no complete checkpoint yet"));
        now(write_checkpoint(&store, "r1", &files(2))).unwrap();
        // a crash left a later checkpoint half written: the next write removes it
        std::fs::create_dir_all(root.join("runs/r1/checkpoint-9")).unwrap();
        now(write_checkpoint(&store, "r1", &files(4))).unwrap();
        let entries: Vec<String> = now(store.list(&["runs", "r1"])).unwrap().into_iter().map(|e| e.name).collect();
        assert!(entries.contains(&"checkpoint-4".into()) && !entries.iter().any(|e| e == "checkpoint-2" || e == "checkpoint-9"), "{entries:?}");
        let run = now(read_run(&store, "r1")).unwrap();
        assert_eq!((run.setup, run.base.len(), run.data.len()), (setup, 1, 1));
        assert!(run.checkpoint.contains(&("model.safetensors".into(), vec![4; 3])));
        now(finish_run(&store, "r1", &serde_json::json!({ "type": "done" }))).unwrap();
        let listed = now(list_runs(&store)).unwrap();
        assert_eq!((listed.len(), listed[0].step, listed[0].finished), (1, 4, true));
        assert!(now(remove_run(&store, "r1")).unwrap() && !now(remove_run(&store, "r1")).unwrap());
        assert!(now(write_checkpoint(&store, "r1", &files(5))).unwrap_err().to_string().contains("not in storage"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "é", &"x".repeat(101)] {
            assert!(check_name("run", bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name("run", "faq-bot_2.v1").unwrap(), "faq-bot_2.v1");
        // a user's data file keeps its name; only what could leave the folder is refused
        assert_eq!(check_file_name("my data (1).csv").unwrap(), "my data (1).csv");
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
