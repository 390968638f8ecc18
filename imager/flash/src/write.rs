//! Writing an image onto one target: the used ranges in large aligned direct writes, the
//! partition table last, a flush, then every written byte read back (bypassing the page
//! cache) and compared by SHA-256, chunk by chunk, so a mismatch names its offset.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use imager::usedmap::{UsedMap, ALIGN};

/// The unit of I/O and of verification.
pub const BLOCK: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Writing,
    Verifying,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bytes_written: u64,
    pub write_seconds: f64,
    pub verified: bool,
    pub verify_seconds: f64,
    /// Whether the page cache was bypassed (O_DIRECT); some filesystems refuse it.
    pub direct_io: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("{}: cannot open for writing: {error}", target.display())]
    Open {
        target: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: reading the image at byte {offset}: {error}", image.display())]
    Read {
        image: PathBuf,
        offset: u64,
        error: std::io::Error,
    },
    #[error("{}: write failed at byte {offset}: {error}", target.display())]
    Write {
        target: PathBuf,
        offset: u64,
        error: std::io::Error,
    },
    #[error("{}: flush failed: {error}", target.display())]
    Flush {
        target: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: read-back failed at byte {offset}: {error}", target.display())]
    ReadBack {
        target: PathBuf,
        offset: u64,
        error: std::io::Error,
    },
    #[error("{}: verification failed: the {len} bytes at byte {offset} differ from the image", target.display())]
    Mismatch {
        target: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// A heap buffer aligned for direct I/O.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len, ALIGN as usize)
            .expect("BLOCK and ALIGN are valid");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Aligned { ptr, layout }
    }

    fn slice(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: ptr is valid for layout.size() bytes, exclusively borrowed through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len.min(self.layout.size())) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

// SAFETY: the buffer is plain memory owned by one Aligned.
unsafe impl Send for Aligned {}

/// Opens `target` with O_DIRECT when it allows (and O_EXCL on block devices: the kernel
/// refuses when anything has it open exclusively, such as a mount), else buffered.
fn open(target: &Path, write: bool, block: bool) -> std::io::Result<(File, bool)> {
    let mut flags = libc::O_DIRECT;
    if block {
        flags |= libc::O_EXCL;
    }
    let attempt = |flags: i32| {
        let mut o = OpenOptions::new();
        o.read(true).custom_flags(flags);
        if write {
            o.write(true);
        }
        o.open(target)
    };
    match attempt(flags) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            attempt(flags & !libc::O_DIRECT).map(|f| (f, false))
        }
        Err(e) => Err(e),
    }
}

/// Writes `map` of `image` onto `target` and (unless `verify` is false) reads it back.
/// `progress(phase, done, total)` is called after each block.
pub fn flash(
    image: &Path,
    map: &UsedMap,
    target: &Path,
    is_block: bool,
    verify: bool,
    progress: &mut dyn FnMut(Phase, u64, u64),
) -> Result<Report, FlashError> {
    let source = File::open(image).map_err(|error| FlashError::Read {
        image: image.to_path_buf(),
        offset: 0,
        error,
    })?;
    if !is_block {
        // A regular file target: make it at least as long as the image, as a card is.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target)
            .map_err(|error| FlashError::Open {
                target: target.to_path_buf(),
                error,
            })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < map.image_len {
            file.set_len(map.image_len)
                .map_err(|error| FlashError::Open {
                    target: target.to_path_buf(),
                    error,
                })?;
        }
    }
    let (out, direct_io) = open(target, true, is_block).map_err(|error| FlashError::Open {
        target: target.to_path_buf(),
        error,
    })?;
    // Data first, the partition table last: a card pulled half-way has no table pointing
    // at half-written filesystems.
    let ranges: Vec<(u64, u64)> = map.data.iter().chain(map.table.iter()).copied().collect();
    let total: u64 = ranges.iter().map(|(s, e)| e - s).sum();
    let mut buf = Aligned::new(BLOCK);
    let mut digests = Vec::new();
    let started = Instant::now();
    let mut done = 0;
    for &(start, end) in &ranges {
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(BLOCK);
            let chunk = buf.slice(n);
            source
                .read_exact_at(chunk, at)
                .map_err(|error| FlashError::Read {
                    image: image.to_path_buf(),
                    offset: at,
                    error,
                })?;
            digests.push((at, n as u64, Sha256::digest(&chunk[..])));
            write_block(&out, chunk, at, direct_io).map_err(|error| FlashError::Write {
                target: target.to_path_buf(),
                offset: at,
                error,
            })?;
            at += n as u64;
            done += n as u64;
            progress(Phase::Writing, done, total);
        }
    }
    out.sync_all().map_err(|error| FlashError::Flush {
        target: target.to_path_buf(),
        error,
    })?;
    if is_block {
        // Let the kernel see the new partitions (sdb1, sdb2) now rather than at the next
        // insertion. Best effort: a loop device without partition scanning says no.
        const BLKRRPART: libc::c_ulong = 0x125F;
        // SAFETY: an ioctl without argument on an open block device descriptor.
        unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&out), BLKRRPART) };
    }
    let write_seconds = started.elapsed().as_secs_f64();
    drop(out);
    if !verify {
        return Ok(Report {
            bytes_written: total,
            write_seconds,
            verified: false,
            verify_seconds: 0.0,
            direct_io,
        });
    }

    let started = Instant::now();
    let (back, back_direct) = open(target, false, is_block).map_err(|error| FlashError::Open {
        target: target.to_path_buf(),
        error,
    })?;
    if !back_direct {
        // Without O_DIRECT, ask the kernel to drop its cached copy so the read hits the medium.
        // SAFETY: fadvise on an open descriptor; no memory is passed.
        unsafe {
            libc::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&back),
                0,
                0,
                libc::POSIX_FADV_DONTNEED,
            )
        };
    }
    let mut checked = 0;
    for (at, n, digest) in digests {
        let chunk = buf.slice(n as usize);
        read_block(&back, chunk, at, back_direct).map_err(|error| FlashError::ReadBack {
            target: target.to_path_buf(),
            offset: at,
            error,
        })?;
        if Sha256::digest(&chunk[..]) != digest {
            return Err(FlashError::Mismatch {
                target: target.to_path_buf(),
                offset: at,
                len: n,
            });
        }
        checked += n;
        progress(Phase::Verifying, checked, total);
    }
    Ok(Report {
        bytes_written: total,
        write_seconds,
        verified: true,
        verify_seconds: started.elapsed().as_secs_f64(),
        direct_io,
    })
}

/// Direct I/O wants whole aligned blocks; an image whose length is not a multiple of ALIGN
/// ends in a partial block, written through a buffered descriptor instead.
fn write_block(out: &File, data: &[u8], at: u64, direct: bool) -> std::io::Result<()> {
    if direct && !data.len().is_multiple_of(ALIGN as usize) {
        let whole = data.len() / ALIGN as usize * ALIGN as usize;
        out.write_all_at(&data[..whole], at)?;
        let tail = OpenOptions::new().write(true).open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(out)
        ))?;
        tail.write_all_at(&data[whole..], at + whole as u64)?;
        return tail.sync_all();
    }
    out.write_all_at(data, at)
}

fn read_block(back: &File, data: &mut [u8], at: u64, direct: bool) -> std::io::Result<()> {
    if direct && !data.len().is_multiple_of(ALIGN as usize) {
        let whole = data.len() / ALIGN as usize * ALIGN as usize;
        back.read_exact_at(&mut data[..whole], at)?;
        let tail = File::open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(back)
        ))?;
        return tail.read_exact_at(&mut data[whole..], at + whole as u64);
    }
    back.read_exact_at(data, at)
}
