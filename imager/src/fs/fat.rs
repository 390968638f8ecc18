//! FAT (the boot partition) through `fatfs`, with a fixed clock: its default clock is the
//! host's local time, which would make every build different.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::Mutex;

use super::{components, Attrs, FileKind, Filesystem, FsKind, Stat};
use crate::clock::Epoch;
use crate::error::{Error, Result};
use crate::window::Window;

#[derive(Debug)]
struct FixedFatClock(fatfs::DateTime);

impl fatfs::TimeProvider for FixedFatClock {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

fn fat_datetime(epoch: Epoch) -> fatfs::DateTime {
    // FAT dates run from 1980 to 2107; clamp rather than wrap.
    let (year, month, day, hour, min, sec) = epoch.civil();
    let (year, month, day, hour, min, sec) = if year < 1980 {
        (1980, 1, 1, 0, 0, 0)
    } else if year > 2107 {
        (2107, 12, 31, 23, 59, 58)
    } else {
        (year, month, day, hour, min, sec)
    };
    fatfs::DateTime {
        date: fatfs::Date {
            year: year as u16,
            month: month as u16,
            day: day as u16,
        },
        time: fatfs::Time {
            hour: hour as u16,
            min: min as u16,
            sec: sec as u16,
            millis: 0,
        },
    }
}

/// fatfs wants a `'static` clock; keep one per distinct instant for the life of the process.
fn clock_for(epoch: Epoch) -> &'static FixedFatClock {
    static CLOCKS: Mutex<BTreeMap<i64, &'static FixedFatClock>> = Mutex::new(BTreeMap::new());
    let mut clocks = CLOCKS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    clocks
        .entry(epoch.0)
        .or_insert_with(|| Box::leak(Box::new(FixedFatClock(fat_datetime(epoch)))))
}

/// The partition, shared between fatfs and the repair pass that runs after fatfs unmounts.
struct Shared<'a> {
    window: Rc<RefCell<Window<'a>>>,
    pos: u64,
}

impl Read for Shared<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.window.borrow_mut();
        w.seek(SeekFrom::Start(self.pos))?;
        let n = w.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Shared<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.window.borrow_mut();
        w.seek(SeekFrom::Start(self.pos))?;
        let n = w.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Shared<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = self.window.borrow().len();
        self.pos = crate::window::resolve_seek(self.pos, len, pos)?;
        Ok(self.pos)
    }
}

pub struct FatFs<'a> {
    fs: Option<fatfs::FileSystem<Shared<'a>>>,
    window: Rc<RefCell<Window<'a>>>,
    made_dirs: std::cell::Cell<bool>,
}

impl<'a> FatFs<'a> {
    pub fn mount(window: Window<'a>, epoch: Epoch) -> Result<FatFs<'a>> {
        let options = fatfs::FsOptions::new()
            .update_accessed_date(false)
            .time_provider(clock_for(epoch));
        let window = Rc::new(RefCell::new(window));
        let shared = Shared {
            window: Rc::clone(&window),
            pos: 0,
        };
        let fs = fatfs::FileSystem::new(shared, options).map_err(|e| fail("/", e))?;
        Ok(FatFs {
            fs: Some(fs),
            window,
            made_dirs: std::cell::Cell::new(false),
        })
    }

    fn fs(&self) -> Result<&fatfs::FileSystem<Shared<'a>>> {
        self.fs.as_ref().ok_or_else(|| Error::Fs {
            fs: FsKind::Fat,
            path: "/".into(),
            detail: "already unmounted".into(),
        })
    }

    pub fn label(&self) -> Result<String> {
        let fs = self.fs()?;
        let label = fs
            .read_volume_label_from_root_dir()
            .map_err(|e| fail("/", e))?;
        Ok(label
            .unwrap_or_else(|| fs.volume_label())
            .trim_end()
            .to_string())
    }

    /// (total, free) bytes.
    pub fn space(&self) -> Result<(u64, u64)> {
        let stats = self.fs()?.stats().map_err(|e| fail("/", e))?;
        let cluster = u64::from(stats.cluster_size());
        Ok((
            u64::from(stats.total_clusters()) * cluster,
            u64::from(stats.free_clusters()) * cluster,
        ))
    }

    /// The entry for `path`, found case-insensitively as FAT does.
    fn entry(&self, path: &str) -> Result<Option<fatfs::DirEntry<'_, Shared<'a>>>> {
        let parts = components(path)?;
        let Some((last, parents)) = parts.split_last() else {
            return Ok(None);
        };
        let mut dir = self.fs()?.root_dir();
        for part in parents {
            match find(&dir, part, path)? {
                Some(e) if e.is_dir() => dir = e.to_dir(),
                _ => return Ok(None),
            }
        }
        find(&dir, last, path)
    }
}

fn find<'b, 'a>(
    dir: &fatfs::Dir<'b, Shared<'a>>,
    name: &str,
    path: &str,
) -> Result<Option<fatfs::DirEntry<'b, Shared<'a>>>> {
    for entry in dir.iter() {
        let entry = entry.map_err(|e| fail(path, e))?;
        if entry.file_name().eq_ignore_ascii_case(name) {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// A path as fatfs takes it: relative to the root directory.
fn rel(path: &str) -> Result<String> {
    Ok(components(path)?.join("/"))
}

impl Filesystem for FatFs<'_> {
    fn kind(&self) -> FsKind {
        FsKind::Fat
    }

    fn stat(&mut self, path: &str) -> Result<Option<Stat>> {
        if components(path)?.is_empty() {
            return Ok(Some(Stat {
                kind: FileKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                mtime: 0,
            }));
        }
        Ok(self.entry(path)?.map(|e| Stat {
            kind: if e.is_dir() {
                FileKind::Dir
            } else {
                FileKind::File
            },
            mode: if e.is_dir() { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            size: e.len(),
            mtime: 0,
        }))
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let mut file = self
            .fs()?
            .root_dir()
            .open_file(&rel(path)?)
            .map_err(|e| fail(path, e))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(|e| fail(path, e))?;
        Ok(data)
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<String>> {
        let root = self.fs()?.root_dir();
        let dir = if components(path)?.is_empty() {
            root
        } else {
            root.open_dir(&rel(path)?).map_err(|e| fail(path, e))?
        };
        let mut names = Vec::new();
        for entry in dir.iter() {
            let name = entry.map_err(|e| fail(path, e))?.file_name();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        Err(unsupported(path, "symbolic links"))
    }

    fn write_file(&mut self, path: &str, data: &[u8], attrs: Attrs) -> Result<()> {
        refuse_unix_attrs(path, attrs)?;
        let parts = components(path)?;
        if parts.len() > 1 {
            self.create_dir_all(
                &format!("/{}", parts[..parts.len() - 1].join("/")),
                Attrs::default(),
            )?;
        }
        let mut file = self
            .fs()?
            .root_dir()
            .create_file(&rel(path)?)
            .map_err(|e| fail(path, e))?;
        file.truncate().map_err(|e| fail(path, e))?;
        file.write_all(data)
            .and_then(|_| file.flush())
            .map_err(|e| fail(path, e))
    }

    fn append_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        if self.entry(path)?.is_none() {
            return self.write_file(path, data, Attrs::default());
        }
        let mut file = self
            .fs()?
            .root_dir()
            .open_file(&rel(path)?)
            .map_err(|e| fail(path, e))?;
        file.seek(SeekFrom::End(0))
            .and_then(|_| file.write_all(data))
            .and_then(|_| file.flush())
            .map_err(|e| fail(path, e))
    }

    fn create_dir_all(&mut self, path: &str, attrs: Attrs) -> Result<()> {
        refuse_unix_attrs(path, attrs)?;
        let mut dir = self.fs()?.root_dir();
        for part in components(path)? {
            dir = match find(&dir, part, path)? {
                Some(e) if e.is_dir() => e.to_dir(),
                Some(_) => {
                    return Err(Error::Fs {
                        fs: FsKind::Fat,
                        path: path.into(),
                        detail: format!("{part} exists and is not a directory"),
                    })
                }
                None => {
                    self.made_dirs.set(true);
                    dir.create_dir(part).map_err(|e| fail(path, e))?
                }
            };
        }
        Ok(())
    }

    fn symlink(&mut self, path: &str, _target: &str, _owner: Option<(u32, u32)>) -> Result<()> {
        Err(unsupported(path, "symbolic links"))
    }

    fn remove(&mut self, path: &str) -> Result<()> {
        let Some(entry) = self.entry(path)? else {
            return Ok(());
        };
        if entry.is_dir() {
            let names = self.read_dir(path)?;
            for name in names {
                self.remove(&format!("{}/{name}", path.trim_end_matches('/')))?;
            }
        }
        self.fs()?
            .root_dir()
            .remove(&rel(path)?)
            .map_err(|e| fail(path, e))
    }

    fn set_mode(&mut self, path: &str, _mode: u32) -> Result<()> {
        Err(unsupported(path, "permission modes"))
    }

    fn set_owner(&mut self, path: &str, _uid: u32, _gid: u32) -> Result<()> {
        Err(unsupported(path, "file owners"))
    }

    fn set_mtime(&mut self, path: &str, _mtime: i64) -> Result<()> {
        // Every FAT write is stamped with the build's instant (SOURCE_DATE_EPOCH) instead.
        Err(unsupported(path, "setting modification times"))
    }

    fn label_and_space(&self) -> Result<Option<(String, u64, u64)>> {
        let (total, free) = self.space()?;
        Ok(Some((self.label()?, total, free)))
    }

    fn unmount(&mut self) -> Result<()> {
        if let Some(fs) = self.fs.take() {
            fs.unmount().map_err(|e| fail("/", e))?;
            if self.made_dirs.replace(false) {
                super::fat_dots::repair(&mut self.window.borrow_mut()).map_err(|e| fail("/", e))?;
            }
        }
        Ok(())
    }
}

fn refuse_unix_attrs(path: &str, attrs: Attrs) -> Result<()> {
    // FAT has no modes or owners; the mount options decide them. Saying so beats ignoring it.
    match (attrs.mode, attrs.owner) {
        (Some(_), _) => Err(unsupported(path, "permission modes")),
        (_, Some(_)) => Err(unsupported(path, "file owners")),
        _ => Ok(()),
    }
}

fn unsupported(path: &str, what: &'static str) -> Error {
    Error::Unsupported {
        fs: FsKind::Fat,
        path: path.into(),
        what,
    }
}

fn fail(path: &str, e: std::io::Error) -> Error {
    Error::Fs {
        fs: FsKind::Fat,
        path: path.into(),
        detail: e.to_string(),
    }
}
