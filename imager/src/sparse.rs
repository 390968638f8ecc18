//! Copying a file while keeping it sparse: a reflink where the filesystem can share blocks,
//! else copy_file_range over the data extents only (SEEK_DATA / SEEK_HOLE).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Makes `dst` a copy of the first `len` bytes of `src`, holes kept as holes.
pub fn clone_or_copy(src: &File, dst: &File, len: u64) -> io::Result<()> {
    dst.set_len(0)?;
    if src.metadata()?.len() == len && reflink(src, dst).is_ok() {
        return Ok(());
    }
    dst.set_len(len)?;
    for (start, end) in data_extents(src, len)? {
        copy_range(src, dst, start, end)?;
    }
    Ok(())
}

fn reflink(src: &File, dst: &File) -> io::Result<()> {
    // FICLONE: share all of src's blocks with dst (btrfs, XFS, bcachefs).
    const FICLONE: libc::c_ulong = 0x4004_9409;
    // SAFETY: both descriptors are open files owned by the caller for the call's duration.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The byte ranges `(start, end)` of `file` below `len` that hold data, per the filesystem.
/// The file's offset is left where it was (SEEK_DATA/SEEK_HOLE move it).
pub fn data_extents(file: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    // SAFETY: lseek on an owned, open descriptor; no memory is passed.
    let saved = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    let result = scan_extents(fd, len);
    if saved >= 0 {
        // SAFETY: as above.
        unsafe { libc::lseek(fd, saved, libc::SEEK_SET) };
    }
    result
}

fn scan_extents(fd: std::os::fd::RawFd, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut extents = Vec::new();
    let mut pos: u64 = 0;
    while pos < len {
        // SAFETY: lseek on an owned, open descriptor; no memory is passed.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                break; // no data past pos
            }
            if err.raw_os_error() == Some(libc::EINVAL) {
                return Ok(vec![(0, len)]); // filesystem cannot tell: treat all as data
            }
            return Err(err);
        }
        let data = data as u64;
        if data >= len {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data as libc::off_t, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let end = (hole as u64).min(len);
        extents.push((data, end));
        pos = end;
    }
    Ok(extents)
}

fn copy_range(src: &File, dst: &File, start: u64, end: u64) -> io::Result<()> {
    let mut off_in = start as libc::loff_t;
    let mut off_out = start as libc::loff_t;
    let mut left = end - start;
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        // SAFETY: offsets are local variables the kernel updates; descriptors are open.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if matches!(
                err.raw_os_error(),
                Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP)
            ) {
                return copy_range_by_hand(src, dst, off_in as u64, end);
            }
            return Err(err);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source ended early",
            ));
        }
        left -= n as u64;
    }
    Ok(())
}

fn copy_range_by_hand(src: &File, dst: &File, mut pos: u64, end: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    while pos < end {
        let n = (end - pos).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], pos)?;
        dst.write_all_at(&buf[..n], pos)?;
        pos += n as u64;
    }
    Ok(())
}
