//! Startup recovery: make the data directory match the metadata.
//!
//! A crash can leave two kinds of debris, never a torn object: staging files
//! of bodies that were never acknowledged, and data files that no committed
//! record refers to (renamed into `blobs/` just before a crash, or replaced
//! and not yet unlinked). The first are always removed; the second are looked
//! for only when the directory was not closed cleanly, as that scan reads
//! every record.

use std::fs;

use coffer_engine::EngineResult;

use crate::layout::{Layout, sync_dir};
use crate::meta::Meta;

/// What recovery removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub staging_files: usize,
    pub orphaned_blobs: usize,
}

pub fn recover(layout: &Layout, meta: &Meta) -> EngineResult<Recovered> {
    let mut recovered = Recovered::default();
    for entry in fs::read_dir(layout.staging_dir())? {
        fs::remove_file(entry?.path())?;
        recovered.staging_files += 1;
    }
    sync_dir(&layout.staging_dir())?;

    if layout.was_left_running() {
        let referenced = meta.referenced_blobs()?;
        for fan_out in fs::read_dir(layout.blobs_dir())? {
            let fan_out = fan_out?.path();
            let mut removed_here = false;
            for entry in fs::read_dir(&fan_out)? {
                let entry = entry?;
                let name = entry.file_name();
                if !referenced.contains(name.to_string_lossy().as_ref()) {
                    fs::remove_file(entry.path())?;
                    recovered.orphaned_blobs += 1;
                    removed_here = true;
                }
            }
            if removed_here {
                sync_dir(&fan_out)?;
            }
        }
    }
    if recovered != Recovered::default() {
        tracing::info!(
            staging_files = recovered.staging_files,
            orphaned_blobs = recovered.orphaned_blobs,
            "recovered the data directory"
        );
    }
    Ok(recovered)
}
