//! Where built bases live: `CACHE/base/NAME/KEY/` holding the image, the manifest, the
//! bootstrap's root filesystem tarball and the build log. KEY is the hash of the recipe, the
//! epoch and the mirror's indexes, so the package versions apt resolves.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::recipe::Recipe;
use crate::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
pub const ROOTFS_TAR: &str = "rootfs.tar";
pub const PACKAGES: &str = "packages.tsv";
pub const LOG: &str = "build.log";

/// What a built base is, from what, and what it cost. `docs/base-manifest.md` explains it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub suite: String,
    pub arch: String,
    pub key: String,
    pub recipe_sha256: String,
    pub source_date_epoch: i64,
    /// "suite sha256" of each index apt resolved against.
    pub indexes: Vec<String>,
    pub packages: Vec<Package>,
    pub image: ImageFacts,
    pub timings: Timings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageFacts {
    pub file: String,
    pub size_bytes: u64,
    /// Bytes the sparse image file holds (the rest reads as zeros and is never written).
    pub data_bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub bootstrap_seconds: f64,
    pub assemble_seconds: f64,
    /// When the build finished (seconds since 1970), for ordering builds; not in the image.
    pub finished_unix: u64,
}

/// The cache key of a recipe built at `epoch` against these indexes.
pub fn key(recipe: &Recipe, epoch: i64, indexes: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(recipe.sha256().as_bytes());
    hash.update(epoch.to_le_bytes());
    for line in indexes {
        hash.update(line.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())[..16].to_string()
}

/// A finished build in the cache.
#[derive(Debug, Clone)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Entry {
    pub fn image(&self) -> PathBuf {
        self.dir.join(&self.manifest.image.file)
    }
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store inside a piimage cache directory.
    pub fn new(cache_dir: &Path) -> Store {
        Store {
            root: cache_dir.join("base"),
        }
    }

    pub fn dir_for(&self, name: &str, key: &str) -> PathBuf {
        self.root.join(name).join(key)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every finished build (a folder with a readable manifest), newest first.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        let names = match std::fs::read_dir(&self.root) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        for name in names {
            let name = name.map_err(|e| Error::io(&self.root, e))?.path();
            let Ok(keys) = std::fs::read_dir(&name) else {
                continue;
            };
            for key in keys.flatten() {
                let dir = key.path();
                // `.lock` and unfinished `.build-*` folders are not builds.
                if key.file_name().to_string_lossy().starts_with('.') || !dir.is_dir() {
                    continue;
                }
                if let Some(manifest) = read_manifest(&dir)? {
                    entries.push(Entry { dir, manifest });
                }
            }
        }
        entries.sort_by(|a, b| {
            b.manifest
                .timings
                .finished_unix
                .cmp(&a.manifest.timings.finished_unix)
                .then_with(|| a.dir.cmp(&b.dir))
        });
        Ok(entries)
    }

    /// The build with this key, if finished.
    pub fn get(&self, name: &str, key: &str) -> Result<Option<Entry>> {
        let dir = self.dir_for(name, key);
        Ok(read_manifest(&dir)?.map(|manifest| Entry { dir, manifest }))
    }

    /// The newest finished build of this very recipe at this epoch, whatever indexes it
    /// resolved against: what `builtin:NAME` uses without asking the mirror.
    pub fn newest(&self, recipe: &Recipe, epoch: i64) -> Result<Option<Entry>> {
        let recipe_sha = recipe.sha256();
        Ok(self.list()?.into_iter().find(|e| {
            e.manifest.name == recipe.name
                && e.manifest.recipe_sha256 == recipe_sha
                && e.manifest.source_date_epoch == epoch
        }))
    }
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Invalid {
            what: path.display().to_string(),
            detail: format!("not a base manifest: {e}"),
        })
}

/// Package lines `name\tversion\tarch` as dpkg-query printed them.
pub fn parse_packages(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            Some(Package {
                name: parts.next()?.to_string(),
                version: parts.next()?.to_string(),
                arch: parts.next()?.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::DEBIAN_BOOKWORM_ARM64;

    fn manifest(key: &str, finished: u64, recipe_sha256: String) -> Manifest {
        Manifest {
            format: 1,
            name: "debian-bookworm-arm64".into(),
            suite: "bookworm".into(),
            arch: "arm64".into(),
            key: key.into(),
            recipe_sha256,
            source_date_epoch: 1_700_000_000,
            indexes: vec!["bookworm abc".into()],
            packages: parse_packages(
                "bash\t5.2.15-2+b7\tarm64\nbase-files\t12.4+deb12u11\tarm64\n",
            ),
            image: ImageFacts {
                file: "debian-bookworm-arm64.img".into(),
                size_bytes: 1,
                data_bytes: 1,
                sha256: "00".into(),
            },
            timings: Timings {
                bootstrap_seconds: 1.0,
                assemble_seconds: 1.0,
                finished_unix: finished,
            },
        }
    }

    #[test]
    fn key_depends_on_recipe_epoch_and_indexes() {
        let r = &DEBIAN_BOOKWORM_ARM64;
        let a = key(r, 1, &["bookworm x".into()]);
        assert_eq!(a, key(r, 1, &["bookworm x".into()]));
        assert_ne!(a, key(r, 2, &["bookworm x".into()]));
        assert_ne!(a, key(r, 1, &["bookworm y".into()]));
    }

    #[test]
    fn newest_finished_build_of_the_current_recipe_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let current = DEBIAN_BOOKWORM_ARM64.sha256();
        for (key, finished, recipe) in [
            ("old", 10, current.clone()),
            ("new", 20, current.clone()),
            ("stale-recipe", 30, "other".to_string()),
        ] {
            let dir = store.dir_for("debian-bookworm-arm64", key);
            std::fs::create_dir_all(&dir).unwrap();
            let m = manifest(key, finished, recipe);
            std::fs::write(dir.join(MANIFEST), serde_json::to_string(&m).unwrap()).unwrap();
        }
        // An unfinished build has no manifest and is not listed; nor is the lock.
        std::fs::create_dir_all(store.dir_for("debian-bookworm-arm64", "partial")).unwrap();
        std::fs::write(store.dir_for("debian-bookworm-arm64", ".lock"), "").unwrap();
        assert_eq!(store.list().unwrap().len(), 3);
        let newest = store
            .newest(&DEBIAN_BOOKWORM_ARM64, 1_700_000_000)
            .unwrap()
            .unwrap();
        assert_eq!(newest.manifest.key, "new");
        assert!(store.newest(&DEBIAN_BOOKWORM_ARM64, 5).unwrap().is_none());
        assert_eq!(newest.manifest.packages[1].version, "12.4+deb12u11");
    }
}
