//! One interface over the two filesystems of a Raspberry Pi image, FAT (boot) and ext4
//! (root), so that file operations are written once. Paths are absolute inside the image.

pub mod ext4;
pub mod fat;
mod fat_dots;
mod path;

use serde::Serialize;

use crate::error::Result;

pub use path::{components, parent_and_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Fat,
    Ext4,
}

impl std::fmt::Display for FsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsKind::Fat => "FAT",
            FsKind::Ext4 => "ext4",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What `stat` tells of a path (the path itself: a final symlink is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    /// Permission bits (`0o7777`); FAT reports 0o755 for directories and 0o644 for files.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
}

/// Attributes for a file or directory being created; `None` keeps what is there (or the
/// default for something new: 0644 files, 0755 directories, owned by root).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    pub mode: Option<u32>,
    pub owner: Option<(u32, u32)>,
}

/// A mounted filesystem of the image, edited in user space.
pub trait Filesystem {
    fn kind(&self) -> FsKind;
    fn stat(&mut self, path: &str) -> Result<Option<Stat>>;
    /// Reads a whole file, following symlinks.
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>>;
    /// The names in a directory, sorted, without `.` and `..`.
    fn read_dir(&mut self, path: &str) -> Result<Vec<String>>;
    fn read_link(&mut self, path: &str) -> Result<String>;
    /// Creates or replaces a file's content; missing parent directories are created.
    fn write_file(&mut self, path: &str, data: &[u8], attrs: Attrs) -> Result<()>;
    fn append_file(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// `mkdir -p`: attributes apply to the last directory (made or already there); the
    /// directories made on the way are 0755, owned by root.
    fn create_dir_all(&mut self, path: &str, attrs: Attrs) -> Result<()>;
    /// Creates (or replaces) a symbolic link at `path` pointing at `target`.
    fn symlink(&mut self, path: &str, target: &str, owner: Option<(u32, u32)>) -> Result<()>;
    /// `rm -rf`: removes a file, link or whole directory; an absent path is not an error.
    fn remove(&mut self, path: &str) -> Result<()>;
    fn set_mode(&mut self, path: &str, mode: u32) -> Result<()>;
    fn set_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<()>;
    fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<()>;
    /// Writes everything back and leaves the filesystem clean. Call once, last.
    fn unmount(&mut self) -> Result<()>;

    /// The volume's label and (total, free) bytes, where the engine reports them itself.
    fn label_and_space(&self) -> Result<Option<(String, u64, u64)>> {
        Ok(None)
    }

    /// `read_file`, or `None` when the path does not exist.
    fn read_if_exists(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.stat(path)? {
            Some(_) => self.read_file(path).map(Some),
            None => Ok(None),
        }
    }
}
