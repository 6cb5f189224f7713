//! A run's checkpoint as a folder on disk (native only): the files of [`Checkpoint::files`]
//! (Hugging Face Trainer's layout), replaced as a whole so that a crash never leaves a
//! half-written checkpoint behind.

use std::path::Path;

use crate::{Error, Result, train::Checkpoint};

/// Writes `c` into `dir`: into `dir.partial` first, then swapped in place of the previous one
/// (which is `dir.old` for a moment). At every instant `dir` or, between the two renames,
/// `dir.old` holds a complete checkpoint, so a process killed anywhere in here loses at most the
/// checkpoint being written; [`read()`] finds the one that survived.
pub fn write(dir: &Path, c: &Checkpoint) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::Options(format!("cannot {what} checkpoint {}: {e}", dir.display()));
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| fail("create", e))?;
    for (name, bytes) in c.files()? {
        std::fs::write(tmp.join(name), bytes).map_err(|e| fail("write", e))?;
    }
    let old = dir.with_extension("old");
    if dir.is_dir() {
        // `dir` is complete, so the older copy can go; without `dir` (a crash between the renames
        // below) `old` is the only complete checkpoint and stays until the new one is in place
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| fail("replace", e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| fail("replace", e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Reads the checkpoint in `dir`, as [`write()`] left it — or, when the process was killed
/// between its two renames, the previous one it kept in `dir.old`.
pub fn read(dir: &Path) -> Result<Checkpoint> {
    let old = dir.with_extension("old");
    let found = if dir.is_dir() {
        dir
    } else if old.is_dir() {
        old.as_path()
    } else {
        return Err(Error::Options(format!("{}: not a checkpoint folder; pass OUT/checkpoint of the earlier run", dir.display())));
    };
    Checkpoint::from_files(|name| std::fs::read(found.join(name)).ok())
}
