//! The manifest bake writes beside the images (docs/manifest.md), as a type: what each image
//! was made from and of, and the ranges flash writes. Fields are declared in the order they
//! appear in the file (alphabetical, as the first untyped manifests had them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::flavour::FlavourId;
use crate::usedmap::UsedMap;
use crate::{Error, Result};

/// Bumped only when a field changes meaning.
pub const FORMAT: u32 = 1;
pub const FILE_NAME: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The base image's chunk digest.
    pub base_chunks_sha256: String,
    pub chunk_size: u64,
    pub flavour: Option<FlavourId>,
    pub format: u32,
    /// Same value, same images (piimage's version, inventory, base, epoch).
    pub inputs_sha256: String,
    /// The inventory's path as given.
    pub inventory: String,
    pub nodes: BTreeMap<String, NodeEntry>,
    pub source_date_epoch: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub chunks_sha256: String,
    pub delta_bytes: u64,
    pub delta_ranges: Vec<DeltaRange>,
    /// The image's file name, beside the manifest.
    pub image: String,
    pub operations: usize,
    /// The `.deb`s the image carries for its first boot to install (`packages:`), in the
    /// order they are installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageEntry>,
    /// SHA-256 of the node's planned file operations: a bake of stale nodes only (`piimage
    /// test`) bakes again a node whose plan changed (a template, a rule), not only its inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The whole file's SHA-256, with `bake --sha256` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub size: u64,
    pub used: Used,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub architecture: String,
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaRange {
    pub end: u64,
    pub start: u64,
}

/// What flash writes of an image: `[start, end)` pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Used {
    pub bytes: u64,
    pub data: Vec<(u64, u64)>,
    pub table: Vec<(u64, u64)>,
}

impl Used {
    pub fn of(map: &UsedMap) -> Used {
        Used {
            bytes: map.data_bytes() + map.table_bytes(),
            data: map.data.clone(),
            table: map.table.clone(),
        }
    }
}

impl Manifest {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// The manifest in `dir`: None when there is none; an error naming the file when it is
    /// there but is not a manifest of this format.
    pub fn read(dir: &Path) -> Result<Option<Manifest>> {
        let path = Manifest::path_in(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Invalid {
                what: path.display().to_string(),
                detail: format!("not a piimage manifest (format {FORMAT}): {e}"),
            })
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_text(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map(|t| format!("{t}\n"))
            .map_err(|e| Error::Invalid {
                what: "manifest".into(),
                detail: e.to_string(),
            })
    }
}
