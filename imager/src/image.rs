//! An opened image: the copy-on-write disk, its partition table, and what each partition
//! holds. The way in for inspecting, editing (file operations) and writing a new image.

use std::path::Path;

use serde::Serialize;

use crate::clock::Epoch;
use crate::cow::CowDisk;
use crate::disk::{Partition, PartitionTable};
use crate::error::{Error, Result};
use crate::fileop::{FileOp, Target};
use crate::fs::ext4::Ext4Fs;
use crate::fs::fat::FatFs;
use crate::fs::Filesystem;
use crate::probe::{probe, Probe};
use crate::window::Window;

pub struct Image {
    disk: CowDisk,
    table: PartitionTable,
    contents: Vec<Probe>,
}

/// A partition and the filesystem found in it.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub partition: Partition,
    pub content: Probe,
}

impl Image {
    /// Opens a raw image (decompress first: `source::BaseCache`). Every partition must hold a
    /// FAT or ext4 filesystem (or be swap), so later edits cannot meet a surprise.
    pub fn open(path: &Path) -> Result<Image> {
        let mut disk = CowDisk::open(path)?;
        let table = PartitionTable::read(&mut disk)?;
        let mut contents = Vec::with_capacity(table.partitions.len());
        for p in &table.partitions {
            let window = Window::new(&mut disk, p.start(), p.size());
            let content = probe(&window).map_err(|e| Error::io(path, e))?;
            let is_swap = p.type_code == "0x82" || p.type_name == "Linux swap";
            if content == Probe::Unknown && !is_swap {
                return Err(Error::bad_image(
                    path,
                    format!(
                        "partition {} (type {}, {} bytes at byte {}) holds neither a FAT nor an ext4 filesystem",
                        p.number,
                        p.type_code,
                        p.size(),
                        p.start()
                    ),
                ));
            }
            contents.push(content);
        }
        Ok(Image {
            disk,
            table,
            contents,
        })
    }

    pub fn path(&self) -> &Path {
        self.disk.base_path()
    }

    pub fn len(&self) -> u64 {
        self.disk.len()
    }

    pub fn is_empty(&self) -> bool {
        self.disk.is_empty()
    }

    pub fn table(&self) -> &PartitionTable {
        &self.table
    }

    pub fn volumes(&self) -> Vec<Volume> {
        self.table
            .partitions
            .iter()
            .zip(&self.contents)
            .map(|(p, c)| Volume {
                partition: p.clone(),
                content: c.clone(),
            })
            .collect()
    }

    /// The partition a target names: the first FAT partition is `boot`, the first ext4 `root`.
    fn index_of(&self, target: Target) -> Option<usize> {
        self.contents.iter().position(|c| match target {
            Target::Boot => matches!(c, Probe::Fat { .. }),
            Target::Root => matches!(c, Probe::Ext4(_)),
        })
    }

    pub fn has(&self, target: Target) -> bool {
        self.index_of(target).is_some()
    }

    /// The instant stamped on edits when `SOURCE_DATE_EPOCH` is not set: the root
    /// filesystem's last write, so an image's new files are no newer than the image.
    pub fn default_epoch(&self) -> Epoch {
        self.contents
            .iter()
            .find_map(|c| match c {
                Probe::Ext4(sb) => Some(Epoch(sb.last_write)),
                _ => None,
            })
            .unwrap_or(Epoch(0))
    }

    /// Runs `f` on a mounted filesystem of the image and unmounts it afterwards. A
    /// read-only visit changes nothing; a writing visit lands in the overlay.
    pub fn with_fs<R>(
        &mut self,
        target: Target,
        epoch: Epoch,
        writable: bool,
        f: impl FnOnce(&mut dyn Filesystem) -> Result<R>,
    ) -> Result<R> {
        let index = self
            .index_of(target)
            .ok_or(Error::NoSuchFilesystem(target.describe()))?;
        let part = &self.table.partitions[index];
        if !writable {
            self.disk.begin_scratch();
        }
        let window = Window::new(&mut self.disk, part.start(), part.size());
        let mut fs: Box<dyn Filesystem + '_> = match target {
            Target::Boot => Box::new(FatFs::mount(window, epoch)?),
            Target::Root => Box::new(Ext4Fs::mount(window, epoch, !writable)?),
        };
        let result = f(fs.as_mut());
        let unmounted = fs.unmount();
        drop(fs);
        if !writable {
            self.disk.end_scratch();
        }
        let value = result?;
        unmounted?;
        Ok(value)
    }

    /// Applies file operations in order, all of one filesystem in one mount. On error the
    /// overlay is discarded, so nothing half-done can be written out.
    pub fn apply(&mut self, ops: &[FileOp], epoch: Epoch) -> Result<()> {
        for target in [Target::Boot, Target::Root] {
            let mine: Vec<(usize, &FileOp)> = ops
                .iter()
                .enumerate()
                .filter(|(_, op)| op.target() == target)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let outcome = self.with_fs(target, epoch, true, |fs| {
                for (index, op) in &mine {
                    op.apply(fs).map_err(|error| Error::Op {
                        index: *index,
                        op: op.name(),
                        path: op.path().to_string(),
                        error: Box::new(error),
                    })?;
                }
                Ok(())
            });
            if let Err(e) = outcome {
                self.disk.discard();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Bytes changed so far, and in which ranges of the image.
    pub fn delta(&self) -> (u64, Vec<(u64, u64)>) {
        (self.disk.delta_bytes(), self.disk.delta_ranges())
    }

    /// The chunk digests of the edited image, from the base's (only changed chunks are read).
    pub fn chunk_digests(
        &self,
        base: &crate::digest::ChunkDigests,
    ) -> Result<crate::digest::ChunkDigests> {
        crate::digest::ChunkDigests::of_edited(base, &self.disk)
            .map_err(|e| Error::io(self.disk.base_path(), e))
    }

    /// Writes the edited image to `out` (sparse, via a temporary file renamed when complete).
    pub fn write_to(&self, out: &Path) -> Result<()> {
        self.disk.materialise(out)
    }

    /// `write_to` without the fsync: a scratch copy (a test run's) a power cut may take.
    pub fn write_scratch_to(&self, out: &Path) -> Result<()> {
        self.disk.materialise_unsynced(out)
    }
}
