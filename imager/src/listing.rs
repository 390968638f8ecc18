//! Every entry of an image's filesystem with its attributes and a digest of its content: two
//! images hold the same files exactly when their listings are equal. The judge of "the card
//! holds what the image holds" after a flash that skipped free blocks.

use sha2::{Digest, Sha256};

use crate::fs::{FileKind, Filesystem};
use crate::{Epoch, Image, Result, Target};

/// One line per entry: `path kind mode uid:gid size mtime sha256-or-link-target`, sorted.
pub fn listing(image: &mut Image, target: Target) -> Result<Vec<String>> {
    image.with_fs(target, Epoch(0), false, |fs| {
        let mut out = Vec::new();
        walk(fs, "", &mut out)?;
        Ok(out)
    })
}

fn walk(fs: &mut dyn Filesystem, dir: &str, out: &mut Vec<String>) -> Result<()> {
    let path = if dir.is_empty() { "/" } else { dir };
    for name in fs.read_dir(path)? {
        let child = format!("{dir}/{name}");
        let Some(stat) = fs.stat(&child)? else {
            continue;
        };
        let what = match stat.kind {
            FileKind::File => hex::encode(Sha256::digest(fs.read_file(&child)?)),
            FileKind::Symlink => format!("-> {}", fs.read_link(&child)?),
            FileKind::Dir | FileKind::Other => String::new(),
        };
        out.push(format!(
            "{child} {:?} {:o} {}:{} {} {} {what}",
            stat.kind, stat.mode, stat.uid, stat.gid, stat.size, stat.mtime
        ));
        if stat.kind == FileKind::Dir {
            walk(fs, &child, out)?;
        }
    }
    Ok(())
}
