//! A window onto a byte range of a `CowDisk` (a partition), as `Read + Write + Seek`, so that
//! filesystem crates see a device that starts at zero and ends at the partition's end.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::cow::CowDisk;

pub struct Window<'a> {
    disk: &'a mut CowDisk,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    /// `start..start+len` must lie within the disk; the partition table checks this on read.
    pub fn new(disk: &'a mut CowDisk, start: u64, len: u64) -> Window<'a> {
        Window {
            disk,
            start,
            len,
            pos: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len())?;
        self.disk.read_at(self.start + offset, buf)
    }

    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len())?;
        self.disk.write_at(self.start + offset, data)
    }

    fn check(&self, offset: u64, n: usize) -> io::Result<()> {
        match offset.checked_add(n as u64) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "access of {n} bytes at {offset} is past the end of the partition ({} bytes)",
                    self.len
                ),
            )),
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        self.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "end of partition"));
        }
        self.write_at(self.pos, &buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = resolve_seek(self.pos, self.len, pos)?;
        Ok(self.pos)
    }
}

/// The new position of a seek within a stream of `len` bytes; before the start is an error.
pub(crate) fn resolve_seek(current: u64, len: u64, pos: SeekFrom) -> io::Result<u64> {
    let target = match pos {
        SeekFrom::Start(n) => Some(n),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => current.checked_add_signed(d),
    };
    target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
}
