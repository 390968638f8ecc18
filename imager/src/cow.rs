//! A copy-on-write view of a base image: reads fall through to the base file, writes land in
//! an overlay of fixed-size chunks. The overlay is the node's delta; `materialise` writes
//! base + delta as a new sparse file without ever holding the base in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sparse;

/// Granularity of the overlay. 4 KiB matches ext4's usual block and every partition alignment.
pub const CHUNK: u64 = 4096;

pub struct CowDisk {
    base: File,
    base_path: PathBuf,
    len: u64,
    overlay: BTreeMap<u64, Box<[u8]>>,
    /// While set, writes land here instead and are dropped by `end_scratch`: a visit that
    /// should leave no trace (a FAT mount marks its volume dirty even to read).
    scratch: Option<BTreeMap<u64, Box<[u8]>>>,
    pos: u64,
}

impl CowDisk {
    /// Opens `path` read-only as the base. Nothing is ever written to it.
    pub fn open(path: &Path) -> Result<CowDisk> {
        let base = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = base.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::bad_image(path, "not a regular file"));
        }
        Ok(CowDisk {
            base,
            base_path: path.to_owned(),
            len: meta.len(),
            overlay: BTreeMap::new(),
            scratch: None,
            pos: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn base_path(&self) -> &Path {
        &self.base_path
    }

    /// Bytes held in the overlay: what this view costs beyond the base.
    pub fn delta_bytes(&self) -> u64 {
        self.overlay.len() as u64 * CHUNK
    }

    /// The changed byte ranges, merged, in ascending order.
    pub fn delta_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &chunk in self.overlay.keys() {
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(self.len);
            match ranges.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => ranges.push((start, end)),
            }
        }
        ranges
    }

    /// Forgets every change: the view reads as the base again.
    pub fn discard(&mut self) {
        self.overlay.clear();
    }

    /// Starts a visit whose writes are thrown away by `end_scratch`.
    pub fn begin_scratch(&mut self) {
        self.scratch = Some(BTreeMap::new());
    }

    pub fn end_scratch(&mut self) {
        self.scratch = None;
    }

    fn chunk(&self, index: u64) -> Option<&[u8]> {
        self.scratch
            .as_ref()
            .and_then(|s| s.get(&index))
            .or_else(|| self.overlay.get(&index))
            .map(|b| &b[..])
    }

    pub fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} is past the end of the image",
                    buf.len()
                ),
            ));
        }
        while !buf.is_empty() {
            let index = offset / CHUNK;
            let within = (offset % CHUNK) as usize;
            if let Some(data) = self.chunk(index) {
                let n = buf.len().min(CHUNK as usize - within);
                buf[..n].copy_from_slice(&data[within..within + n]);
                offset += n as u64;
                buf = &mut buf[n..];
                continue;
            }
            // Read straight through the base for the whole run of chunks nobody changed.
            let mut run_end = (index + 1) * CHUNK;
            while run_end < offset + buf.len() as u64 && self.chunk(run_end / CHUNK).is_none() {
                run_end += CHUNK;
            }
            let n = (run_end - offset).min(buf.len() as u64) as usize;
            self.base.read_exact_at(&mut buf[..n], offset)?;
            offset += n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    pub fn write_at(&mut self, mut offset: u64, mut data: &[u8]) -> io::Result<()> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write of {} bytes at {offset} is past the end of the image",
                    data.len()
                ),
            ));
        }
        while !data.is_empty() {
            let index = offset / CHUNK;
            let within = (offset % CHUNK) as usize;
            let n = data.len().min(CHUNK as usize - within);
            let present = match &self.scratch {
                Some(scratch) => scratch.contains_key(&index),
                None => self.overlay.contains_key(&index),
            };
            if !present {
                let mut fresh = vec![0u8; CHUNK as usize].into_boxed_slice();
                if n < CHUNK as usize {
                    let start = index * CHUNK;
                    let avail = (self.len - start).min(CHUNK) as usize;
                    self.read_at(start, &mut fresh[..avail])?;
                }
                let map = self.scratch.as_mut().unwrap_or(&mut self.overlay);
                map.insert(index, fresh);
            }
            let map = self.scratch.as_mut().unwrap_or(&mut self.overlay);
            if let Some(block) = map.get_mut(&index) {
                block[within..within + n].copy_from_slice(&data[..n]);
            }
            offset += n as u64;
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes base + delta to `out` (temporary file, renamed when complete): a reflink or
    /// sparse copy of the base, then the overlay's chunks on top.
    pub fn materialise(&self, out: &Path) -> Result<()> {
        self.write_out(out, true)
    }

    /// `materialise` without waiting for the disk: for scratch copies (a test run's) that a
    /// power cut may take.
    pub fn materialise_unsynced(&self, out: &Path) -> Result<()> {
        self.write_out(out, false)
    }

    fn write_out(&self, out: &Path, durable: bool) -> Result<()> {
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".piimage-")
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        sparse::clone_or_copy(&self.base, tmp.as_file(), self.len)
            .map_err(|e| Error::io(tmp.path(), e))?;
        for (&chunk, data) in &self.overlay {
            let start = chunk * CHUNK;
            let n = (self.len - start).min(CHUNK) as usize;
            tmp.as_file()
                .write_all_at(&data[..n], start)
                .map_err(|e| Error::io(tmp.path(), e))?;
        }
        if durable {
            tmp.as_file()
                .sync_data()
                .map_err(|e| Error::io(tmp.path(), e))?;
        }
        // A temporary file is private (0600); the image it becomes is an ordinary file.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(out).map_err(|e| Error::io(out, e.error))?;
        Ok(())
    }
}

impl std::fmt::Debug for CowDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CowDisk")
            .field("base", &self.base_path)
            .field("len", &self.len)
            .field("delta_chunks", &self.overlay.len())
            .finish()
    }
}

impl Read for CowDisk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        self.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for CowDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(self.pos, buf)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for CowDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = crate::window::resolve_seek(self.pos, self.len, pos)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_with(bytes: &[u8]) -> (tempfile::NamedTempFile, CowDisk) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let disk = CowDisk::open(f.path()).unwrap();
        (f, disk)
    }

    #[test]
    fn writes_land_in_overlay_and_base_is_untouched() {
        let original: Vec<u8> = (0..3 * CHUNK as usize + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let (file, mut disk) = base_with(&original);
        disk.write_at(CHUNK - 2, b"abcd").unwrap();
        let mut got = vec![0; 8];
        disk.read_at(CHUNK - 4, &mut got).unwrap();
        assert_eq!(&got[2..6], b"abcd");
        assert_eq!(&got[..2], &original[CHUNK as usize - 4..CHUNK as usize - 2]);
        assert_eq!(std::fs::read(file.path()).unwrap(), original);
        assert_eq!(disk.delta_ranges(), vec![(0, 2 * CHUNK)]);
    }

    #[test]
    fn materialise_equals_base_plus_delta() {
        let original: Vec<u8> = (0..2 * CHUNK as usize + 7)
            .map(|i| (i % 13) as u8)
            .collect();
        let (_file, mut disk) = base_with(&original);
        disk.write_at(2 * CHUNK + 3, b"xy").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.img");
        disk.materialise(&out).unwrap();
        let mut expected = original.clone();
        expected[2 * CHUNK as usize + 3..2 * CHUNK as usize + 5].copy_from_slice(b"xy");
        assert_eq!(std::fs::read(&out).unwrap(), expected);
    }

    #[test]
    fn scratch_writes_vanish_and_keep_earlier_edits() {
        let (_file, mut disk) = base_with(&[7; 2 * CHUNK as usize]);
        disk.write_at(1, b"kept").unwrap();
        disk.begin_scratch();
        disk.write_at(0, b"gone!").unwrap();
        let mut got = [0; 5];
        disk.read_at(0, &mut got).unwrap();
        assert_eq!(&got, b"gone!");
        disk.end_scratch();
        disk.read_at(0, &mut got).unwrap();
        assert_eq!(&got, b"\x07kept");
    }

    #[test]
    fn io_past_the_end_is_refused() {
        let (_file, mut disk) = base_with(&[0; 10]);
        assert!(disk.write_at(8, b"abc").is_err());
        assert!(disk.read_at(9, &mut [0; 2]).is_err());
    }
}
