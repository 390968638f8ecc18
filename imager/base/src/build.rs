//! Building a base: check what the machine needs, ask the mirror which indexes apt would
//! resolve against, then run the recipe's two stages (bootstrap → rootfs.tar, assemble →
//! image) with their output in the build log, and record the result in a manifest.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::recipe::Recipe;
use super::store::{self, Entry, ImageFacts, Manifest, Store, Timings};
use crate::{Error, Result};

/// What the build reports while it runs.
pub enum Event<'a> {
    /// A new stage began (the scripts print `piimage-step: …`).
    Step(&'a str),
    /// Any other line of the tools' output (also in the build log).
    Line(&'a str),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub epoch: i64,
    /// Debian mirror (default http://deb.debian.org/debian).
    pub mirror: Option<String>,
    /// Security mirror (default http://deb.debian.org/debian-security).
    pub security_mirror: Option<String>,
}

impl Options {
    fn apply_env(&self, cmd: &mut Command) {
        cmd.env("SOURCE_DATE_EPOCH", self.epoch.to_string())
            .env("PATH", search_path());
        if let Some(m) = &self.mirror {
            cmd.env("MIRROR", m);
        }
        if let Some(m) = &self.security_mirror {
            cmd.env("SECURITY_MIRROR", m);
        }
    }
}

fn search_path() -> String {
    host::probe::search_path()
}

/// Everything a build needs from the machine (root, mmdebstrap, arch-test, the filesystem
/// tools, qemu-user in binfmt_misc, disk in the cache), all checked before any work starts,
/// each missing piece named with its fix as `piimage doctor` names it.
pub fn check_prerequisites(cache_dir: &Path) -> Result<()> {
    host::preflight(host::Need::BaseBuild, cache_dir)?;
    Ok(())
}

/// The "suite sha256" lines of the mirror's indexes (the recipe's index.sh).
pub fn index_digests(recipe: &Recipe, options: &Options) -> Result<Vec<String>> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    recipe.write_to(dir.path())?;
    let mut cmd = Command::new(dir.path().join("index.sh"));
    options.apply_env(&mut cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(dir.path().join("index.sh"), e))?;
    if !out.status.success() {
        return Err(Error::Mirror {
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Builds the base for `key` (unless another process just did) and returns its entry.
pub fn build(
    store: &Store,
    recipe: &Recipe,
    options: &Options,
    indexes: &[String],
    on_event: &mut dyn FnMut(Event),
) -> Result<Entry> {
    check_prerequisites(store.root())?;
    let key = store::key(recipe, options.epoch, indexes);
    let parent = store.root().join(recipe.name);
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let lock_path = parent.join(".lock");
    let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    if let Some(done) = store.get(recipe.name, &key)? {
        return Ok(done);
    }

    let work = tempfile::Builder::new()
        .prefix(&format!(".build-{key}-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let recipe_dir = work.path().join("recipe");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    recipe.write_to(&recipe_dir)?;
    // Outside the work folder, which goes when a stage fails: the error names this log, so it
    // must outlive the build. A finished build takes it into its folder.
    let log_path = parent.join(format!("{key}.failed-build.log"));
    let mut log = File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;

    let started = Instant::now();
    let mut bootstrap = Command::new(recipe_dir.join("bootstrap.sh"));
    bootstrap.arg(&out);
    options.apply_env(&mut bootstrap);
    run_logged("bootstrap", bootstrap, &mut log, &log_path, on_event)?;
    let bootstrap_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let image_file = format!("{}.img", recipe.name);
    assemble(
        &recipe_dir,
        &out.join(store::ROOTFS_TAR),
        &out.join(&image_file),
        options.epoch,
        &mut log,
        &log_path,
        on_event,
    )?;
    let assemble_seconds = started.elapsed().as_secs_f64();

    on_event(Event::Step("manifest: hashing the image"));
    let packages_path = out.join(store::PACKAGES);
    let packages =
        std::fs::read_to_string(&packages_path).map_err(|e| Error::io(&packages_path, e))?;
    let manifest = Manifest {
        format: 1,
        name: recipe.name.to_string(),
        suite: recipe.suite.to_string(),
        arch: recipe.arch.to_string(),
        key: key.clone(),
        recipe_sha256: recipe.sha256(),
        source_date_epoch: options.epoch,
        indexes: indexes.to_vec(),
        packages: store::parse_packages(&packages),
        image: image_facts(&out.join(&image_file))?,
        timings: Timings {
            bootstrap_seconds,
            assemble_seconds,
            finished_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        },
    };
    let manifest_path = out.join(store::MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Invalid {
        what: manifest_path.display().to_string(),
        detail: e.to_string(),
    })?;
    std::fs::write(&manifest_path, text + "\n").map_err(|e| Error::io(&manifest_path, e))?;
    let kept_log = out.join(store::LOG);
    std::fs::rename(&log_path, &kept_log).map_err(|e| Error::io(&kept_log, e))?;
    let dir = store.dir_for(recipe.name, &key);
    std::fs::rename(&out, &dir).map_err(|e| Error::io(&dir, e))?;
    Ok(Entry { dir, manifest })
}

/// Stage 2 alone: a root filesystem tarball to an image. Same tarball and epoch ⇒ same bytes.
pub fn assemble(
    recipe_dir: &Path,
    tarball: &Path,
    image: &Path,
    epoch: i64,
    log: &mut File,
    log_path: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<()> {
    let mut cmd = Command::new(recipe_dir.join("assemble.sh"));
    cmd.arg(tarball).arg(image);
    Options {
        epoch,
        ..Options::default()
    }
    .apply_env(&mut cmd);
    run_logged("assemble", cmd, log, log_path, on_event)
}

/// [`assemble`] for callers without a recipe folder or log of their own (the
/// reproducibility check): writes the recipe to a temp folder and logs beside `image`.
pub fn reassemble(recipe: &Recipe, tarball: &Path, image: &Path, epoch: i64) -> Result<()> {
    check_prerequisites(image.parent().unwrap_or(Path::new(".")))?;
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    recipe.write_to(dir.path())?;
    let log_path = PathBuf::from(format!("{}.log", image.display()));
    let mut log = File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
    assemble(
        dir.path(),
        tarball,
        image,
        epoch,
        &mut log,
        &log_path,
        &mut |_| {},
    )
}

/// Runs a stage with stdout and stderr into the log, reporting steps as they come.
fn run_logged(
    stage: &str,
    mut cmd: Command,
    log: &mut File,
    log_path: &Path,
    on_event: &mut dyn FnMut(Event),
) -> Result<()> {
    let (reader, writer) = std::io::pipe().map_err(|e| Error::io(log_path, e))?;
    let writer2 = writer.try_clone().map_err(|e| Error::io(log_path, e))?;
    cmd.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    let program = PathBuf::from(cmd.get_program());
    let mut child = cmd.spawn().map_err(|e| Error::io(&program, e))?;
    // The parent's copies of the write end must close, or the reader never sees the end.
    drop(cmd);
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in BufReader::new(reader).split(b'\n') {
        let line = line.map_err(|e| Error::io(log_path, e))?;
        let line = String::from_utf8_lossy(&line).into_owned();
        writeln!(log, "{line}").map_err(|e| Error::io(log_path, e))?;
        match line.strip_prefix("piimage-step: ") {
            Some(step) => on_event(Event::Step(step)),
            None => on_event(Event::Line(&line)),
        }
        tail.push_back(line);
        if tail.len() > 25 {
            tail.pop_front();
        }
    }
    let status = child.wait().map_err(|e| Error::io(&program, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::BuildFailed {
            stage: stage.to_string(),
            status: status.to_string(),
            log: log_path.to_path_buf(),
            tail: Vec::from(tail).join("\n"),
        })
    }
}

/// Size, bytes held, and SHA-256 of an image file.
pub fn image_facts(path: &Path) -> Result<ImageFacts> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size_bytes = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let data_bytes = imager::sparse::data_extents(&file, size_bytes)
        .map_err(|e| Error::io(path, e))?
        .iter()
        .map(|(start, end)| end - start)
        .sum();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(ImageFacts {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size_bytes,
        data_bytes,
        sha256: hex::encode(hash.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole file, from its first byte, whatever finding its holes did to the offset.
    #[test]
    fn image_facts_hash_every_byte() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse.img");
        let file = File::create(&path).unwrap();
        file.write_all_at(b"head", 0).unwrap();
        file.write_all_at(b"tail", (8 << 20) - 4).unwrap();
        let facts = image_facts(&path).unwrap();
        let whole = std::fs::read(&path).unwrap();
        assert_eq!(facts.sha256, hex::encode(Sha256::digest(&whole)));
        assert_eq!(facts.size_bytes, 8 << 20);
        assert!(
            facts.data_bytes >= 8 && facts.data_bytes < 8 << 20,
            "{}",
            facts.data_bytes
        );
    }
}
