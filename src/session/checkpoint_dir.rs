//! A run's checkpoint as a folder on disk (native only): the files of [`Checkpoint::files`]
//! (Hugging Face Trainer's layout), replaced as a whole so that a crash never leaves a
//! half-written checkpoint behind.

use std::path::Path;

use crate::{Error, Result, train::Checkpoint};

/// Writes `c` into `dir`: into `dir.partial` first, then swapped in place of the previous one.
pub fn write(dir: &Path, c: &Checkpoint) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::Options(format!("cannot {what} checkpoint {}: {e}", dir.display()));
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| fail("create", e))?;
    for (name, bytes) in c.files()? {
        std::fs::write(tmp.join(name), bytes).map_err(|e| fail("write", e))?;
    }
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| fail("replace", e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| fail("replace", e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Reads the checkpoint in `dir`, as [`write()`] left it.
pub fn read(dir: &Path) -> Result<Checkpoint> {
    if !dir.is_dir() {
        return Err(Error::Options(format!("{}: not a checkpoint folder; pass OUT/checkpoint of the earlier run", dir.display())));
    }
    Checkpoint::from_files(|name| std::fs::read(dir.join(name)).ok())
}
