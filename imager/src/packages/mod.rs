//! `packages:` resolved on the host: apt, run against the base's own architecture, dpkg
//! status and apt sources (or the inventory's `apt:`), picks the `.deb`s the base lacks;
//! they are kept in a cache by SHA-256 and the resolution is recorded by what it was made
//! from, so a second bake from the same inputs needs no network at all. Bake carries the
//! files onto the card and a first-boot unit installs them there (plan/packages.rs).

mod apt;
pub mod deb;
pub mod status;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use deb::ShippedUnit;

use crate::inventory::{AptSources, Package};
use crate::{Error, Result};

/// What resolution needs from the base, read in the visit that reads the other facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptBase {
    /// `/var/lib/dpkg/status` (empty when the base has none).
    pub status: String,
    /// `/etc/apt/sources.list` as `sources.list`, then `sources.list.d`'s `.list` and
    /// `.sources` files: (file name, text).
    pub sources: Vec<(String, String)>,
    /// `/etc/apt/trusted.gpg.d`'s keys: (file name, bytes).
    pub trusted: Vec<(String, Vec<u8>)>,
}

impl AptBase {
    pub fn architecture(&self) -> Option<String> {
        status::native_architecture(&self.status)
    }
}

/// One `.deb` a node gets, as apt chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    pub size: u64,
    /// The units it ships, and the system groups its maintainer scripts make.
    pub units: Vec<ShippedUnit>,
    pub groups: Vec<String>,
    /// Where the cache keeps it on this machine.
    #[serde(skip)]
    pub file: PathBuf,
}

impl Deb {
    /// The name dpkg-deb and apt give the file (`:` of an epoch as `%3a`).
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.name,
            self.version.replace(':', "%3a"),
            self.architecture
        )
    }
}

/// What apt chose for one node's `packages:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub architecture: String,
    /// The packages asked for (`name` or `name=version`).
    pub requested: Vec<String>,
    /// Those of them the base already has, at a version that does.
    pub installed: Vec<String>,
    /// The sources apt read (their lines), for the plan to show.
    pub sources: Vec<String>,
    /// What the card gets, in apt's order.
    pub debs: Vec<Deb>,
}

/// The cache: `debs/SHA256.deb`, `resolved/KEY.json`, and `apt/KEY/` (apt's private world).
#[derive(Debug, Clone)]
pub struct PackageCache {
    dir: PathBuf,
}

impl PackageCache {
    pub fn new(dir: impl Into<PathBuf>) -> PackageCache {
        PackageCache { dir: dir.into() }
    }

    pub fn deb_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("debs").join(format!("{sha256}.deb"))
    }

    /// The packages `requested` on the base, from the cache when this exact question was
    /// answered before and its files are all there; else from apt.
    pub fn resolve(
        &self,
        base: &AptBase,
        requested: &[Package],
        apt_sources: &AptSources,
    ) -> Result<Resolution> {
        let specs: Vec<String> = requested.iter().map(Package::spec).collect();
        let joined = specs.join(", ");
        let architecture = base.architecture().ok_or_else(|| Error::Packages {
            packages: joined.clone(),
            architecture: "?".into(),
            detail: "the base has no dpkg status (/var/lib/dpkg/status with dpkg in it), so packages cannot be added to it".into(),
        })?;
        let installed = status::installed(&base.status);
        let (have, want): (Vec<&Package>, Vec<&Package>) = requested.iter().partition(|p| {
            installed
                .iter()
                .any(|i| i.name == p.name && p.version.as_ref().is_none_or(|v| *v == i.version))
        });
        let sources = effective_sources(base, apt_sources);
        let mut resolution = Resolution {
            architecture: architecture.clone(),
            requested: specs,
            installed: have.iter().map(|p| p.spec()).collect(),
            sources: sources
                .iter()
                .flat_map(|(_, text)| source_lines(text))
                .collect(),
            debs: Vec::new(),
        };
        if want.is_empty() {
            return Ok(resolution);
        }
        if sources.is_empty() {
            return Err(Error::Packages {
                packages: joined,
                architecture,
                detail: "the base names no apt sources (/etc/apt/sources.list, sources.list.d) and the inventory gives none (apt: { sources: [...] })".into(),
            });
        }
        let want_specs: Vec<String> = want.iter().map(|p| p.spec()).collect();
        let key = hex::encode(
            Sha256::new()
                .chain_update(b"piimage-packages-1\0")
                .chain_update(&architecture)
                .chain_update(Sha256::digest(&base.status))
                .chain_update(format!("{sources:?}{:?}", base.trusted))
                .chain_update(want_specs.join("\n"))
                .finalize(),
        );
        let record = self.dir.join("resolved").join(format!("{key}.json"));
        if let Some(known) = std::fs::read(&record)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<Deb>>(&b).ok())
        {
            if known.iter().all(|d| self.deb_path(&d.sha256).is_file()) {
                resolution.debs = known
                    .into_iter()
                    .map(|d| Deb {
                        file: self.deb_path(&d.sha256),
                        ..d
                    })
                    .collect();
                return Ok(resolution);
            }
        }
        resolution.debs = self.ask_apt(base, &architecture, &sources, &want_specs)?;
        write_atomically(
            &record,
            &serde_json::to_vec_pretty(&resolution.debs).unwrap_or_default(),
        )?;
        Ok(resolution)
    }

    fn ask_apt(
        &self,
        base: &AptBase,
        architecture: &str,
        sources: &[(String, String)],
        specs: &[String],
    ) -> Result<Vec<Deb>> {
        let world = hex::encode(
            Sha256::new()
                .chain_update(architecture)
                .chain_update(format!("{sources:?}{:?}", base.trusted))
                .finalize(),
        );
        let apt = apt::Apt::new(
            &self.dir.join("apt").join(&world[..16]),
            architecture,
            &base.status,
            sources,
            &base.trusted,
        )?;
        apt.update()?;
        let fail = |detail: String| Error::Packages {
            packages: specs.join(", "),
            architecture: architecture.to_string(),
            detail,
        };
        let actions = apt.simulate(specs).map_err(|reason| {
            let offered = apt.offered_architectures();
            if !offered.is_empty() && !offered.iter().any(|a| a == architecture) {
                fail(format!(
                    "the sources have no {architecture} packages (they offer {}): {reason}",
                    offered.join(", ")
                ))
            } else {
                fail(reason)
            }
        })?;
        let removed: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                apt::Action::Remove { name } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        if !removed.is_empty() {
            return Err(fail(format!(
                "apt would remove {} from the base to install them; piimage only adds packages (drop the conflicting request, or choose a base without {})",
                removed.join(", "),
                removed.join(", ")
            )));
        }
        let files = apt.download(specs)?;
        let mut debs = Vec::new();
        for action in actions {
            let apt::Action::Install {
                name,
                version,
                architecture,
            } = action
            else {
                continue;
            };
            let mut deb = Deb {
                name,
                version,
                architecture,
                sha256: String::new(),
                size: 0,
                units: Vec::new(),
                groups: Vec::new(),
                file: PathBuf::new(),
            };
            let file = files
                .iter()
                .find(|(name, _)| *name == deb.file_name())
                .map(|(_, path)| path.clone())
                .ok_or_else(|| Error::Apt {
                    step: "download".into(),
                    detail: format!("apt chose {} but did not fetch it", deb.file_name()),
                })?;
            let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
            deb.sha256 = hex::encode(Sha256::digest(&bytes));
            deb.size = bytes.len() as u64;
            let facts = deb::read(&bytes, &file.display().to_string())?;
            deb.units = facts.units;
            deb.groups = facts.groups;
            deb.file = self.deb_path(&deb.sha256);
            write_atomically(&deb.file, &bytes)?;
            if file.starts_with(&self.dir) {
                let _ = std::fs::remove_file(&file);
            }
            debs.push(deb);
        }
        Ok(debs)
    }
}

/// The sources apt reads: the inventory's lines when it gives any, else the base's files;
/// either with every URI replaced by the mirror when one is named.
fn effective_sources(base: &AptBase, apt: &AptSources) -> Vec<(String, String)> {
    let files: Vec<(String, String)> = if apt.sources.is_empty() {
        base.sources.clone()
    } else {
        vec![("inventory.list".into(), apt.sources.join("\n") + "\n")]
    };
    let files: Vec<(String, String)> = files
        .into_iter()
        .filter(|(_, text)| !source_lines(text).is_empty())
        .collect();
    match &apt.mirror {
        None => files,
        Some(mirror) => files
            .into_iter()
            .map(|(name, text)| {
                let text = if name.ends_with(".sources") {
                    with_mirror_deb822(&text, mirror)
                } else {
                    with_mirror_list(&text, mirror)
                };
                (name, text)
            })
            .collect(),
    }
}

/// The lines that say where packages come from: one-line `deb …` entries, or deb822
/// `URIs:` + `Suites:` as `URIs Suites`.
fn source_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb "))
        .map(str::to_string)
        .collect();
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if field("Types:").is_none_or(|t| t.split_whitespace().any(|w| w == "deb")) {
                out.push(format!("{uris} {suites}"));
            }
        }
    }
    out
}

fn with_mirror_list(text: &str, mirror: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if !trimmed.starts_with("deb ") {
                return line.to_string();
            }
            let mut words: Vec<&str> = trimmed.split_whitespace().collect();
            let at = if words.get(1).is_some_and(|w| w.starts_with('[')) {
                words
                    .iter()
                    .position(|w| w.ends_with(']'))
                    .map_or(1, |i| i + 1)
            } else {
                1
            };
            if at < words.len() {
                words[at] = mirror;
            }
            words.join(" ")
        })
        .map(|l| l + "\n")
        .collect()
}

fn with_mirror_deb822(text: &str, mirror: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("URIs:") {
            Some(_) => format!("URIs: {mirror}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_replaces_every_uri_and_keeps_suites_and_options() {
        let list = "# comment\ndeb http://deb.debian.org/debian bookworm main contrib\ndeb [arch=arm64 signed-by=/k.gpg] http://archive.raspberrypi.com/debian/ bookworm main\n";
        assert_eq!(
            with_mirror_list(list, "http://cache.lab:3142/debian"),
            "# comment\ndeb http://cache.lab:3142/debian bookworm main contrib\ndeb [arch=arm64 signed-by=/k.gpg] http://cache.lab:3142/debian bookworm main\n"
        );
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\n";
        assert_eq!(
            source_lines(&with_mirror_deb822(deb822, "file:/srv/mirror")),
            ["file:/srv/mirror trixie trixie-updates"]
        );
    }
}
