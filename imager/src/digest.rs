//! Chunk digests of an image: SHA-256 of every 4 MiB chunk, and one digest over them all.
//! The base's chunks are hashed once (holes cost nothing: their digest is that of zeros);
//! a node's image differs from the base only where its delta is, so only those chunks are
//! hashed again. A node costs its delta here too, not the image's size.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cow::CowDisk;

pub const CHUNK: u64 = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkDigests {
    pub chunk_size: u64,
    pub len: u64,
    /// One hex SHA-256 per chunk, in order; the last chunk may be short.
    pub chunks: Vec<String>,
}

impl ChunkDigests {
    /// Hashes a file's chunks, reading only the ones that hold data.
    pub fn of_file(file: &File, len: u64) -> io::Result<ChunkDigests> {
        let extents = crate::sparse::data_extents(file, len)?;
        let mut chunks = Vec::new();
        let mut zero_digest: Option<(u64, String)> = None;
        let mut buf = vec![0u8; CHUNK as usize];
        let mut start = 0;
        while start < len {
            let n = (len - start).min(CHUNK);
            let has_data = extents.iter().any(|&(s, e)| s < start + n && e > start);
            let digest = if has_data {
                file.read_exact_at(&mut buf[..n as usize], start)?;
                hex::encode(Sha256::digest(&buf[..n as usize]))
            } else {
                match &zero_digest {
                    Some((size, d)) if *size == n => d.clone(),
                    _ => {
                        let d = hex::encode(Sha256::digest(vec![0u8; n as usize]));
                        zero_digest = Some((n, d.clone()));
                        d
                    }
                }
            };
            chunks.push(digest);
            start += n;
        }
        Ok(ChunkDigests {
            chunk_size: CHUNK,
            len,
            chunks,
        })
    }

    /// The digests of `disk` (base + delta), given the base's: only changed chunks are read.
    pub fn of_edited(base: &ChunkDigests, disk: &CowDisk) -> io::Result<ChunkDigests> {
        let mut out = base.clone();
        let mut buf = vec![0u8; CHUNK as usize];
        let mut done = std::collections::BTreeSet::new();
        for (s, e) in disk.delta_ranges() {
            for index in s / CHUNK..e.div_ceil(CHUNK) {
                if !done.insert(index) {
                    continue;
                }
                let start = index * CHUNK;
                let n = (disk.len() - start).min(CHUNK) as usize;
                disk.read_at(start, &mut buf[..n])?;
                out.chunks[index as usize] = hex::encode(Sha256::digest(&buf[..n]));
            }
        }
        Ok(out)
    }

    /// SHA-256 over the chunk size, the length and every chunk's digest: one name for the image.
    pub fn root(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.chunk_size.to_le_bytes());
        h.update(self.len.to_le_bytes());
        for c in &self.chunks {
            h.update(c.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn edited_digests_equal_hashing_the_written_image() {
        let mut base = tempfile::NamedTempFile::new().unwrap();
        let len = 3 * CHUNK + 1234;
        base.as_file().set_len(len).unwrap();
        base.as_file()
            .write_all_at(b"data in the second chunk", CHUNK + 10)
            .unwrap();
        base.flush().unwrap();
        let base_digests = ChunkDigests::of_file(base.as_file(), len).unwrap();
        let mut disk = CowDisk::open(base.path()).unwrap();
        disk.write_at(3 * CHUNK + 5, b"edit in the short last chunk")
            .unwrap();
        let edited = ChunkDigests::of_edited(&base_digests, &disk).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.img");
        disk.materialise(&out).unwrap();
        let written = ChunkDigests::of_file(&File::open(&out).unwrap(), len).unwrap();
        assert_eq!(edited, written);
        assert_ne!(edited.root(), base_digests.root());
        assert_eq!(
            edited.chunks[..3],
            base_digests.chunks[..3],
            "untouched chunks keep their digests"
        );
    }
}
