//! ext4 in process, through `rsext4` (pure Rust). Symlinks inside the image are followed the
//! way the kernel would, relative to the image's root, never the host's.

use rsext4::{
    BlockIo, DeviceCapabilities, DeviceGeometry, DirectoryCursor, DirectoryEntryType, Ext4,
    Ext4Error, Ext4Result, Ext4Timestamp, FileName, FilePermissions, InodeInfo,
    InodeMetadataUpdate, InodeNumber, MountOptions, MountServices, MountedServices,
    MutationContext, NoopObserver, SectorId,
};

use super::{components, parent_and_name, Attrs, FileKind, Filesystem, FsKind, Stat};
use crate::clock::Epoch;
use crate::error::{Error, Result};
use crate::window::Window;

const SECTOR: u32 = 512;
const MAX_SYMLINK_HOPS: usize = 40;
const S_IFMT: u16 = 0o170000;
const S_IFLNK: u16 = 0o120000;
const S_IFDIR: u16 = 0o040000;

/// The partition as the block device rsext4 expects.
struct Device<'a>(Window<'a>);

impl BlockIo for Device<'_> {
    fn read(&mut self, buffer: &mut [u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        let n = count as usize * SECTOR as usize;
        let len = buffer.len();
        let out = buffer
            .get_mut(..n)
            .ok_or_else(|| Ext4Error::buffer_too_small(len, n))?;
        self.0
            .read_at(sector.raw() * u64::from(SECTOR), out)
            .map_err(|_| Ext4Error::io())
    }

    fn write(&mut self, buffer: &[u8], sector: SectorId, count: u32) -> Ext4Result<()> {
        let n = count as usize * SECTOR as usize;
        let data = buffer
            .get(..n)
            .ok_or_else(|| Ext4Error::buffer_too_small(buffer.len(), n))?;
        self.0
            .write_at(sector.raw() * u64::from(SECTOR), data)
            .map_err(|_| Ext4Error::io())
    }

    fn geometry(&self) -> DeviceGeometry {
        DeviceGeometry::new(SECTOR, self.0.len() / u64::from(SECTOR))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities {
            flush: true,
            ..DeviceCapabilities::default()
        }
    }

    fn flush(&mut self) -> Ext4Result<()> {
        Ok(()) // the overlay is memory; durability comes when the image is materialised
    }
}

/// Every inode and superblock time is this instant.
struct FixedClock(Epoch);

impl rsext4::Clock for FixedClock {
    fn now(&self) -> Ext4Result<Ext4Timestamp> {
        Ok(Ext4Timestamp::new(self.0 .0, 0))
    }
}

/// Deterministic bytes where the engine asks for randomness (e.g. a new directory's hash
/// seed): same inputs, same image. A counter-mode SHA-256 stream from a fixed seed.
struct SeededEntropy {
    counter: u64,
}

impl rsext4::EntropySource for SeededEntropy {
    fn fill_bytes(&mut self, output: &mut [u8]) -> Ext4Result<()> {
        use sha2::{Digest, Sha256};
        for chunk in output.chunks_mut(32) {
            let block = Sha256::new()
                .chain_update(b"piimage-ext4-entropy")
                .chain_update(self.counter.to_le_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
            self.counter += 1;
        }
        Ok(())
    }
}

type Mounted<'a> = Ext4<Device<'a>, MountedServices<SeededEntropy, NoopObserver, ()>>;

pub struct Ext4Fs<'a> {
    fs: Mounted<'a>,
}

/// Where a path leads: its parent directory, its last name, and the inode if it exists.
struct Resolved {
    parent: InodeNumber,
    name: String,
    info: Option<InodeInfo>,
}

impl<'a> Ext4Fs<'a> {
    /// Mounts the partition; `read_only` never changes a byte (inspect).
    pub fn mount(window: Window<'a>, epoch: Epoch, read_only: bool) -> Result<Ext4Fs<'a>> {
        let services = MountServices::new(
            FixedClock(epoch),
            SeededEntropy { counter: 0 },
            NoopObserver,
        );
        let options = if read_only {
            MountOptions {
                readonly: true,
                replay_journal: false,
                block_validity: true,
            }
        } else {
            MountOptions::read_write()
        };
        let fs = Ext4::mount(Device(window), services, options).map_err(|e| fail("/", e))?;
        Ok(Ext4Fs { fs })
    }

    pub fn statfs(&self) -> rsext4::ext4::FileSystemStats {
        self.fs.statfs()
    }

    fn lookup(&mut self, dir: InodeNumber, name: &str, path: &str) -> Result<Option<InodeInfo>> {
        let fname = file_name(name, path)?;
        self.fs.lookup_child(dir, fname).map_err(|e| fail(path, e))
    }

    fn read_inode_all(&mut self, info: &InodeInfo, path: &str) -> Result<Vec<u8>> {
        let mut data = vec![0u8; usize::try_from(info.size).map_err(|_| too_big(path))?];
        let mut done = 0;
        while done < data.len() {
            let n = self
                .fs
                .read_inode(info.number, done as u64, &mut data[done..])
                .map_err(|e| fail(path, e))?;
            if n == 0 {
                return Err(Error::Fs {
                    fs: FsKind::Ext4,
                    path: path.into(),
                    detail: format!("file ends after {done} of {} bytes", data.len()),
                });
            }
            done += n;
        }
        Ok(data)
    }

    /// Walks `path` from the root, following symlinks in directories (and in the last name
    /// when `follow_last`). A missing last name is fine; a missing directory is `None`.
    fn resolve(&mut self, path: &str, follow_last: bool) -> Result<Option<Resolved>> {
        let root = self.fs.root_inode();
        let mut pending: Vec<String> = components(path)?
            .iter()
            .rev()
            .map(|s| s.to_string())
            .collect();
        if pending.is_empty() {
            return Err(Error::Invalid {
                what: format!("path {path:?}"),
                detail: "names the root directory itself".into(),
            });
        }
        let mut stack: Vec<InodeNumber> = vec![root];
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            let cur = *stack.last().unwrap_or(&root);
            match name.as_str() {
                "." => continue,
                ".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let last = pending.is_empty();
            let info = self.lookup(cur, &name, path)?;
            let Some(info) = info else {
                return Ok(last.then_some(Resolved {
                    parent: cur,
                    name,
                    info: None,
                }));
            };
            if info.mode & S_IFMT == S_IFLNK && (!last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::Fs {
                        fs: FsKind::Ext4,
                        path: path.into(),
                        detail: "too many levels of symbolic links".into(),
                    });
                }
                let target =
                    String::from_utf8_lossy(&self.read_inode_all(&info, path)?).into_owned();
                if target.starts_with('/') {
                    stack.truncate(1);
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .rev()
                        .map(str::to_string),
                );
                continue;
            }
            if last {
                return Ok(Some(Resolved {
                    parent: cur,
                    name,
                    info: Some(info),
                }));
            }
            if !info.is_directory() {
                return Err(Error::Fs {
                    fs: FsKind::Ext4,
                    path: path.into(),
                    detail: format!("{name} is not a directory"),
                });
            }
            stack.push(info.number);
        }
        // Only `.`/`..` components after a real one: the directory reached is the answer.
        Err(Error::Invalid {
            what: format!("path {path:?}"),
            detail: "does not end in a name".into(),
        })
    }

    fn existing(&mut self, path: &str, follow_last: bool) -> Result<InodeInfo> {
        self.resolve(path, follow_last)?
            .and_then(|r| r.info)
            .ok_or_else(|| Error::Fs {
                fs: FsKind::Ext4,
                path: path.into(),
                detail: "no such file or directory".into(),
            })
    }

    /// The parent directory of `path` (created if missing) and the last name.
    fn parent_dir(&mut self, path: &str) -> Result<(InodeNumber, String)> {
        let (parents, name) = parent_and_name(path)?;
        if !parents.is_empty() {
            let parent_path = format!("/{}", parents.join("/"));
            self.create_dir_all(&parent_path, Attrs::default())?;
            let info = self.existing(&parent_path, true)?;
            return Ok((info.number, name.to_string()));
        }
        Ok((self.fs.root_inode(), name.to_string()))
    }

    fn context(&self, owner: Option<(u32, u32)>) -> MutationContext {
        let (uid, gid) = owner.unwrap_or((0, 0));
        MutationContext::new(uid, gid, 0, 0)
    }

    fn update(&mut self, ino: InodeNumber, update: InodeMetadataUpdate, path: &str) -> Result<()> {
        self.fs
            .update_inode_metadata(ino, update)
            .map(|_| ())
            .map_err(|e| fail(path, e))
    }

    fn apply_attrs(&mut self, ino: InodeNumber, attrs: Attrs, path: &str) -> Result<()> {
        // Owner before mode: a chown clears set-id bits, as on Linux.
        if let Some(owner) = attrs.owner {
            self.update(
                ino,
                InodeMetadataUpdate {
                    owner: Some(owner),
                    ..Default::default()
                },
                path,
            )?;
        }
        if let Some(mode) = attrs.mode {
            let permissions = permissions(mode, path)?;
            self.update(
                ino,
                InodeMetadataUpdate {
                    permissions: Some(permissions),
                    ..Default::default()
                },
                path,
            )?;
        }
        Ok(())
    }

    fn list(&mut self, dir: InodeNumber, path: &str) -> Result<Vec<(String, DirectoryEntryType)>> {
        let mut reader = self
            .fs
            .open_directory_reader(dir)
            .map_err(|e| fail(path, e))?;
        let mut cursor = DirectoryCursor::Start;
        let mut out = Vec::new();
        loop {
            let batch = self
                .fs
                .read_directory_with_reader(&mut reader, cursor, 256)
                .map_err(|e| fail(path, e))?;
            let Some(last) = batch.last() else { break };
            cursor = last.next_cursor;
            for entry in batch {
                if entry.name != b"." && entry.name != b".." {
                    out.push((
                        String::from_utf8_lossy(&entry.name).into_owned(),
                        entry.file_type,
                    ));
                }
            }
            if cursor == DirectoryCursor::End {
                break;
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn remove_entry(
        &mut self,
        parent: InodeNumber,
        name: &str,
        info: &InodeInfo,
        path: &str,
    ) -> Result<()> {
        let fname = file_name(name, path)?;
        let outcome = if info.is_directory() {
            for (child, _) in self.list(info.number, path)? {
                let child_path = format!("{}/{child}", path.trim_end_matches('/'));
                let child_info = self.lookup(info.number, &child, &child_path)?;
                if let Some(child_info) = child_info {
                    self.remove_entry(info.number, &child, &child_info, &child_path)?;
                }
            }
            self.fs.remove_empty_directory(parent, fname)
        } else {
            self.fs.unlink(parent, fname)
        }
        .map_err(|e| fail(path, e))?;
        if outcome.requires_reap() {
            // Nothing holds the inode open: free it now, as the kernel would on last close.
            self.fs
                .reap_unlinked_inode(outcome.inode)
                .map_err(|e| fail(path, e))?;
        }
        Ok(())
    }
}

impl Filesystem for Ext4Fs<'_> {
    fn kind(&self) -> FsKind {
        FsKind::Ext4
    }

    fn stat(&mut self, path: &str) -> Result<Option<Stat>> {
        if components(path)?.is_empty() {
            let root = self.fs.root_inode();
            let info = self.fs.inode(root).map_err(|e| fail(path, e))?;
            return Ok(Some(stat_of(&info)));
        }
        Ok(self
            .resolve(path, false)?
            .and_then(|r| r.info)
            .map(|i| stat_of(&i)))
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let info = self.existing(path, true)?;
        if info.is_directory() {
            return Err(Error::Fs {
                fs: FsKind::Ext4,
                path: path.into(),
                detail: "is a directory".into(),
            });
        }
        self.read_inode_all(&info, path)
    }

    fn read_dir(&mut self, path: &str) -> Result<Vec<String>> {
        let dir = if components(path)?.is_empty() {
            self.fs.root_inode()
        } else {
            self.existing(path, true)?.number
        };
        Ok(self
            .list(dir, path)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    fn read_link(&mut self, path: &str) -> Result<String> {
        let info = self.existing(path, false)?;
        if info.mode & S_IFMT != S_IFLNK {
            return Err(Error::Fs {
                fs: FsKind::Ext4,
                path: path.into(),
                detail: "not a symbolic link".into(),
            });
        }
        Ok(String::from_utf8_lossy(&self.read_inode_all(&info, path)?).into_owned())
    }

    fn write_file(&mut self, path: &str, data: &[u8], attrs: Attrs) -> Result<()> {
        let resolved = match self.resolve(path, true)? {
            Some(resolved) => resolved,
            None => {
                let (parent, name) = self.parent_dir(path)?;
                Resolved {
                    parent,
                    name,
                    info: None,
                }
            }
        };
        let (target, after) = match resolved.info {
            Some(info) if info.is_directory() => {
                return Err(Error::Fs {
                    fs: FsKind::Ext4,
                    path: path.into(),
                    detail: "is a directory".into(),
                });
            }
            Some(info) => {
                self.fs
                    .truncate_inode(info.number, 0)
                    .map_err(|e| fail(path, e))?;
                let mode = attrs.mode.or_else(|| setid_mode(&info));
                (
                    info.number,
                    Attrs {
                        mode,
                        owner: attrs.owner,
                    },
                )
            }
            None => {
                let fname = file_name(&resolved.name, path)?;
                let perms = permissions(attrs.mode.unwrap_or(0o644), path)?;
                let ctx = self.context(attrs.owner);
                let info = self
                    .fs
                    .create_regular_file(ctx, resolved.parent, fname, perms)
                    .map_err(|e| fail(path, e))?;
                // Only set-id bits need setting again after the data (see below).
                let setid = attrs.mode.filter(|m| m & 0o6000 != 0);
                (
                    info.number,
                    Attrs {
                        mode: setid,
                        owner: None,
                    },
                )
            }
        };
        if !data.is_empty() {
            self.fs
                .write_inode(target, 0, data)
                .map_err(|e| fail(path, e))?;
        }
        // The engine clears set-id bits on a write, as the kernel does; an image edit keeps the
        // mode it asked for or found, so attributes go on after the data.
        self.apply_attrs(target, after, path)
    }

    fn append_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        match self.resolve(path, true)?.and_then(|r| r.info) {
            Some(info) if info.is_directory() => Err(Error::Fs {
                fs: FsKind::Ext4,
                path: path.into(),
                detail: "is a directory".into(),
            }),
            Some(info) => {
                self.fs
                    .write_inode(info.number, info.size, data)
                    .map_err(|e| fail(path, e))?;
                let mode = setid_mode(&info);
                self.apply_attrs(info.number, Attrs { mode, owner: None }, path)
            }
            None => self.write_file(path, data, Attrs::default()),
        }
    }

    fn create_dir_all(&mut self, path: &str, attrs: Attrs) -> Result<()> {
        let parts = components(path)?;
        let mut prefix = String::new();
        for (i, part) in parts.iter().enumerate() {
            prefix.push('/');
            prefix.push_str(part);
            let last = i + 1 == parts.len();
            match self.resolve(&prefix, true)? {
                Some(Resolved {
                    info: Some(info), ..
                }) => {
                    if !info.is_directory() {
                        return Err(Error::Fs {
                            fs: FsKind::Ext4,
                            path: path.into(),
                            detail: format!("{prefix} exists and is not a directory"),
                        });
                    }
                    if last {
                        self.apply_attrs(info.number, attrs, path)?;
                    }
                }
                Some(Resolved {
                    parent,
                    name,
                    info: None,
                }) => {
                    // Like `mkdir -p -m`: directories made on the way are 0755 root.
                    let mine = if last { attrs } else { Attrs::default() };
                    let fname = file_name(&name, path)?;
                    let perms = permissions(mine.mode.unwrap_or(0o755), path)?;
                    let ctx = self.context(mine.owner);
                    self.fs
                        .create_directory(ctx, parent, fname, perms)
                        .map_err(|e| fail(path, e))?;
                }
                None => {
                    return Err(Error::Fs {
                        fs: FsKind::Ext4,
                        path: path.into(),
                        detail: "parent vanished".into(),
                    })
                }
            }
        }
        Ok(())
    }

    fn symlink(&mut self, path: &str, target: &str, owner: Option<(u32, u32)>) -> Result<()> {
        self.remove(path)?;
        let (parent, name) = self.parent_dir(path)?;
        let fname = file_name(&name, path)?;
        let ctx = self.context(owner);
        self.fs
            .create_symlink(ctx, parent, fname, target.as_bytes())
            .map_err(|e| fail(path, e))?;
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Result<()> {
        match self.resolve(path, false)? {
            Some(Resolved {
                parent,
                name,
                info: Some(info),
            }) => self.remove_entry(parent, &name, &info, path),
            _ => Ok(()),
        }
    }

    fn set_mode(&mut self, path: &str, mode: u32) -> Result<()> {
        let info = self.existing(path, true)?;
        self.apply_attrs(
            info.number,
            Attrs {
                mode: Some(mode),
                owner: None,
            },
            path,
        )
    }

    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<()> {
        // lchown: the owner of a symlink itself, as `chown -h` (what images carry).
        let info = self.existing(path, false)?;
        // rsext4 clears both set-id bits on any chown; Linux keeps a directory's, and a file's
        // set-group-ID when it is not group-executable (the mandatory-locking marker).
        let mode = u32::from(info.mode & 0o7777);
        let kept = match info.mode & S_IFMT {
            S_IFDIR => mode,
            _ if mode & 0o010 == 0 => mode & !0o4000,
            _ => mode & !0o6000,
        };
        self.apply_attrs(
            info.number,
            Attrs {
                mode: (kept & 0o6000 != 0).then_some(kept),
                owner: Some((uid, gid)),
            },
            path,
        )
    }

    fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<()> {
        let info = self.existing(path, false)?;
        let ts = Ext4Timestamp::new(mtime, 0);
        self.update(
            info.number,
            InodeMetadataUpdate {
                atime: Some(ts),
                mtime: Some(ts),
                ..Default::default()
            },
            path,
        )
    }

    fn unmount(&mut self) -> Result<()> {
        self.fs.unmount().map_err(|e| fail("/", e))
    }
}

/// The permission bits of `info` when they carry set-id bits (which a write clears).
fn setid_mode(info: &InodeInfo) -> Option<u32> {
    Some(u32::from(info.mode & 0o7777)).filter(|m| m & 0o6000 != 0)
}

fn stat_of(info: &InodeInfo) -> Stat {
    let kind = match info.file_type() {
        DirectoryEntryType::RegularFile => FileKind::File,
        DirectoryEntryType::Directory => FileKind::Dir,
        DirectoryEntryType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    };
    Stat {
        kind,
        mode: u32::from(info.mode & 0o7777),
        uid: info.uid,
        gid: info.gid,
        size: info.size,
        mtime: i64::from(info.mtime),
    }
}

fn file_name<'n>(name: &'n str, path: &str) -> Result<FileName<'n>> {
    FileName::new(name.as_bytes()).map_err(|e| fail(path, e))
}

fn permissions(mode: u32, path: &str) -> Result<FilePermissions> {
    u16::try_from(mode)
        .ok()
        .and_then(|m| FilePermissions::new(m).ok())
        .ok_or_else(|| Error::Invalid {
            what: format!("mode of {path}"),
            detail: format!("{mode:o} is not a permission mode (0000-7777)"),
        })
}

fn too_big(path: &str) -> Error {
    Error::Fs {
        fs: FsKind::Ext4,
        path: path.into(),
        detail: "file too large to read into memory".into(),
    }
}

fn fail(path: &str, e: Ext4Error) -> Error {
    Error::Fs {
        fs: FsKind::Ext4,
        path: path.into(),
        detail: format!("{e} ({e:?})"),
    }
}
