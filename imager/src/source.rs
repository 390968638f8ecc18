//! Base images as users download them (`.img`, `.img.xz`, `.img.gz`, `.img.zst`, `.zip`),
//! recognised by their magic bytes, decompressed by streaming into a sparse working file in a
//! cache keyed by the content's SHA-256, so the second use costs a `stat`.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Gzip,
    Zstd,
    Zip,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "raw",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Zip => "zip",
        }
    }

    /// Tells the format from the first bytes, whatever the file is called.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0xFD, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [0x1F, 0x8B, ..] => Compression::Gzip,
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Compression::Zstd,
            [b'P', b'K', 0x03, 0x04, ..] => Compression::Zip,
            _ => Compression::None,
        }
    }
}

/// Progress of a long decompression: compressed bytes read so far, of a total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

pub struct BaseCache {
    dir: PathBuf,
}

impl BaseCache {
    pub fn new(dir: impl Into<PathBuf>) -> BaseCache {
        BaseCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The raw image for `input`: the file itself when uncompressed, else its cached
    /// decompressed copy (made now if missing).
    pub fn resolve(&self, input: &Path, progress: Progress<'_>) -> Result<PathBuf> {
        let mut file = File::open(input).map_err(|e| Error::io(input, e))?;
        let meta = file.metadata().map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            return Err(Error::bad_image(input, "is a directory, not an image file"));
        }
        let mut head = [0u8; 8];
        let n = read_up_to(&mut file, &mut head).map_err(|e| Error::io(input, e))?;
        let compression = Compression::sniff(&head[..n]);
        if compression == Compression::None {
            return Ok(input.to_owned());
        }
        // The index maps (path, size, mtime, inode) to the content hash: no re-hashing of a
        // file that has not changed.
        let identity = format!(
            "{}\0{}\0{}\0{}\0{}",
            fs::canonicalize(input)
                .map_err(|e| Error::io(input, e))?
                .display(),
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            meta.ino(),
            meta.dev()
        );
        let index = self
            .dir
            .join("index")
            .join(hex::encode(Sha256::digest(identity.as_bytes())));
        if let Ok(content) = fs::read_to_string(&index) {
            let cached = self.image_path(content.trim());
            if cached.is_file() {
                return Ok(cached);
            }
        }
        let made = self.decompress(input, &mut file, meta.len(), compression, progress)?;
        write_atomically(
            &index,
            made.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .as_bytes(),
        )?;
        Ok(made)
    }

    fn image_path(&self, sha: &str) -> PathBuf {
        self.dir.join(format!("{sha}.img"))
    }

    fn decompress(
        &self,
        input: &Path,
        file: &mut File,
        total: u64,
        kind: Compression,
        progress: Progress<'_>,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".decompress-")
            .suffix(".partial")
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(input, e))?;
        let corrupt = |detail: String| Error::Decompress {
            path: input.to_owned(),
            format: kind.name(),
            detail,
        };
        let sha = if kind == Compression::Zip {
            let sha = hash_file(file, total, progress).map_err(|e| Error::io(input, e))?;
            let mut archive = zip::ZipArchive::new(BufReader::new(&mut *file))
                .map_err(|e| corrupt(e.to_string()))?;
            let index = largest_image_entry(&mut archive)
                .ok_or_else(|| Error::bad_image(input, "the zip archive holds no .img file"))?;
            let mut entry = archive
                .by_index(index)
                .map_err(|e| corrupt(e.to_string()))?;
            copy_sparse(&mut entry, tmp.as_file()).map_err(|e| corrupt(e.to_string()))?;
            sha
        } else {
            let mut hashing = HashingReader::new(&mut *file, total, progress);
            let mut decoder: Box<dyn Read + '_> = match kind {
                Compression::Xz => {
                    Box::new(liblzma::read::XzDecoder::new_multi_decoder(&mut hashing))
                }
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut hashing)),
                Compression::Zstd => Box::new(
                    zstd::stream::read::Decoder::new(&mut hashing)
                        .map_err(|e| corrupt(e.to_string()))?,
                ),
                Compression::Zip | Compression::None => unreachable!("handled above"),
            };
            copy_sparse(&mut decoder, tmp.as_file()).map_err(|e| corrupt(e.to_string()))?;
            drop(decoder);
            // Trailing bytes the decoder did not need still belong to the file's identity.
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::io(input, e))?;
            hex::encode(hashing.sha.finalize())
        };
        let out = self.image_path(&sha);
        tmp.persist(&out).map_err(|e| Error::io(&out, e.error))?;
        Ok(out)
    }

    /// The decompressed images in the cache: (path, bytes on disk).
    pub fn list(&self) -> Result<Vec<(PathBuf, u64)>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "img") {
                let meta = entry.metadata().map_err(|e| Error::io(&path, e))?;
                out.push((path, meta.blocks() * 512));
            }
        }
        out.sort();
        Ok(out)
    }
}

struct HashingReader<'p, R> {
    inner: R,
    sha: Sha256,
    read: u64,
    total: u64,
    progress: Progress<'p>,
}

impl<'p, 'f> HashingReader<'p, BufReader<&'f mut File>> {
    fn new(file: &'f mut File, total: u64, progress: Progress<'p>) -> Self {
        HashingReader {
            inner: BufReader::with_capacity(1 << 20, file),
            sha: Sha256::new(),
            read: 0,
            total,
            progress,
        }
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.read += n as u64;
        (self.progress)(self.read, self.total);
        Ok(n)
    }
}

fn hash_file(file: &mut File, total: u64, progress: Progress<'_>) -> io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut hashing = HashingReader::new(&mut *file, total, progress);
    io::copy(&mut hashing, &mut io::sink())?;
    let sha = hex::encode(hashing.sha.finalize());
    file.seek(SeekFrom::Start(0))?;
    Ok(sha)
}

fn largest_image_entry<R: Read + Seek>(archive: &mut zip::ZipArchive<R>) -> Option<usize> {
    (0..archive.len())
        .filter_map(|i| {
            let entry = archive.by_index(i).ok()?;
            entry.name().ends_with(".img").then(|| (entry.size(), i))
        })
        .max()
        .map(|(_, i)| i)
}

/// Copies a stream into `out`, leaving all-zero 4 KiB blocks as holes.
fn copy_sparse(input: &mut dyn Read, out: &File) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 4096;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: u64 = 0;
    loop {
        let n = read_up_to(input, &mut buf)?;
        if n == 0 {
            break;
        }
        for block in buf[..n].chunks(BLOCK) {
            if block.iter().any(|&b| b != 0) {
                out.write_all_at(block, pos)?;
            }
            pos += block.len() as u64;
        }
    }
    out.set_len(pos)?;
    Ok(pos)
}

/// Fills `buf` as far as the stream allows (short only at the end).
fn read_up_to(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match input.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(data).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats_by_magic() {
        assert_eq!(
            Compression::sniff(&[0xFD, b'7', b'z', b'X', b'Z', 0, 0, 4]),
            Compression::Xz
        );
        assert_eq!(Compression::sniff(&[0x1F, 0x8B, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xB5, 0x2F, 0xFD]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"PK\x03\x04"), Compression::Zip);
        assert_eq!(Compression::sniff(&[0; 8]), Compression::None);
    }

    #[test]
    fn gzip_round_trip_is_cached_and_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = vec![0u8; 1 << 20];
        raw[4096 * 3..4096 * 3 + 5].copy_from_slice(b"hello");
        let gz = dir.path().join("base.img.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap();
        let cache = BaseCache::new(dir.path().join("cache"));
        let first = cache.resolve(&gz, &mut |_, _| {}).unwrap();
        assert_eq!(fs::read(&first).unwrap(), raw);
        assert!(
            fs::metadata(&first).unwrap().blocks() * 512 < raw.len() as u64 / 4,
            "zeros became holes"
        );
        let mut calls = 0;
        let second = cache.resolve(&gz, &mut |_, _| calls += 1).unwrap();
        assert_eq!(first, second);
        assert_eq!(calls, 0, "the second use reads nothing");
    }

    #[test]
    fn corrupt_xz_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.img.xz");
        let mut bytes = vec![0xFD, b'7', b'z', b'X', b'Z', 0x00];
        bytes.extend_from_slice(&[0x55; 100]);
        fs::write(&bad, bytes).unwrap();
        let cache = BaseCache::new(dir.path().join("cache"));
        let err = cache.resolve(&bad, &mut |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::Decompress { format: "xz", .. }),
            "{err}"
        );
        assert!(cache.list().unwrap().is_empty());
        let leftovers: Vec<_> = fs::read_dir(cache.dir()).unwrap().collect();
        assert!(
            leftovers.is_empty(),
            "temporary file removed: {leftovers:?}"
        );
    }
}
