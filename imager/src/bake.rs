//! Bake: each node's file operations applied to a copy-on-write view of the base, written as
//! NODE.img (temporary file, renamed when complete), then `known_hosts`, the Docker client
//! certificates when a node serves TLS, and the manifest last. The caller plans; this writes.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::inventory::NodeSpec;
use crate::manifest::{DeltaRange, Manifest, NodeEntry, PackageEntry, Used};
use crate::secret::ClusterSecret;
use crate::{Epoch, Error, FileOp, Image, Result};

/// Everything an image is made from.
pub struct Inputs<'a> {
    /// The inventory's path as given (recorded in the manifest) and its bytes (hashed).
    pub inventory_path: &'a Path,
    pub inventory_text: &'a [u8],
    /// Every node of the cluster (each image trusts them all).
    pub cluster: &'a [NodeSpec],
    pub secret: &'a ClusterSecret,
    /// The raw (decompressed) base image.
    pub base: &'a Path,
    pub flavour: Option<crate::flavour::FlavourId>,
    pub epoch: Epoch,
    /// The nodes to bake, each with its file operations, in inventory order.
    pub plans: &'a [(NodeSpec, Vec<FileOp>)],
    /// Each node's resolved `packages:` (recorded in the manifest).
    pub packages: &'a std::collections::BTreeMap<String, crate::packages::Resolution>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also record each image's whole-file SHA-256 (reads every byte of every image).
    pub sha256: bool,
    /// Bake only the nodes whose image is missing or whose manifest entry was made from other
    /// inputs (what `flash --node` wants).
    pub only_stale: bool,
}

/// What bake reports while it works.
pub enum Event<'a> {
    /// This many nodes will be baked.
    Start(usize),
    /// This node is being baked.
    Node(&'a str),
    /// This node is done.
    Baked { node: &'a str, delta_bytes: u64 },
}

pub struct Baked {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// The nodes baked now (the others were up to date).
    pub baked: Vec<String>,
}

pub fn bake(
    inputs: &Inputs,
    out: &Path,
    options: Options,
    on_event: &mut dyn FnMut(Event),
) -> Result<Baked> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let base_file = std::fs::File::open(inputs.base).map_err(|e| Error::io(inputs.base, e))?;
    let base_len = base_file
        .metadata()
        .map_err(|e| Error::io(inputs.base, e))?
        .len();
    let base_digests = crate::digest::ChunkDigests::of_file(&base_file, base_len)
        .map_err(|e| Error::io(inputs.base, e))?;
    let base_digest = base_digests.root();
    let inputs_sha256 = hex::encode(
        Sha256::new()
            .chain_update(b"piimage-bake-1\0")
            .chain_update(env!("CARGO_PKG_VERSION"))
            .chain_update(inputs.inventory_text)
            .chain_update(base_digest.as_bytes())
            .chain_update(inputs.epoch.0.to_le_bytes())
            .finalize(),
    );
    let manifest_path = Manifest::path_in(out);
    // Entries of nodes baked earlier from the same inputs are kept. An old manifest that does
    // not read as one only means none are kept: this bake writes a new one in its place.
    let mut nodes = Manifest::read(out)
        .ok()
        .flatten()
        .filter(|old| old.inputs_sha256 == inputs_sha256)
        .map(|old| old.nodes)
        .unwrap_or_default();

    let plan_sha256 = |ops: &[FileOp]| hex::encode(Sha256::digest(format!("{ops:?}")));
    let todo: Vec<_> = inputs
        .plans
        .iter()
        .filter(|(node, ops)| {
            !options.only_stale
                || !nodes.get(&node.name).is_some_and(|old| {
                    old.plan_sha256.as_deref() == Some(plan_sha256(ops).as_str())
                })
                || !out.join(format!("{}.img", node.name)).exists()
        })
        .collect();
    on_event(Event::Start(todo.len()));
    let mut baked = Vec::new();
    for (node, ops) in todo {
        on_event(Event::Node(&node.name));
        let mut image = Image::open(inputs.base)?;
        image.apply(ops, inputs.epoch).map_err(|e| Error::Node {
            node: node.name.clone(),
            error: Box::new(e),
        })?;
        let file = out.join(format!("{}.img", node.name));
        image.write_to(&file)?;
        let (delta_bytes, ranges) = image.delta();
        let used = crate::usedmap::used_map(&file)?;
        let sha256 = if options.sha256 {
            Some(sha256_file(&file)?)
        } else {
            None
        };
        nodes.insert(
            node.name.clone(),
            NodeEntry {
                chunks_sha256: image.chunk_digests(&base_digests)?.root(),
                delta_bytes,
                delta_ranges: ranges
                    .iter()
                    .map(|&(start, end)| DeltaRange { end, start })
                    .collect(),
                image: format!("{}.img", node.name),
                operations: ops.len(),
                packages: inputs
                    .packages
                    .get(&node.name)
                    .map(|r| {
                        r.debs
                            .iter()
                            .map(|d| PackageEntry {
                                architecture: d.architecture.clone(),
                                name: d.name.clone(),
                                sha256: d.sha256.clone(),
                                size: d.size,
                                version: d.version.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                plan_sha256: Some(plan_sha256(ops)),
                sha256,
                size: image.len(),
                used: Used::of(&used),
            },
        );
        on_event(Event::Baked {
            node: &node.name,
            delta_bytes,
        });
        baked.push(node.name.clone());
    }

    let manifest = Manifest {
        base_chunks_sha256: base_digest,
        chunk_size: crate::digest::CHUNK,
        flavour: inputs.flavour,
        format: crate::manifest::FORMAT,
        inputs_sha256,
        inventory: inputs.inventory_path.display().to_string(),
        nodes,
        source_date_epoch: inputs.epoch.0,
    };
    let known_hosts = crate::plan::known_hosts(inputs.cluster, inputs.secret)?;
    write_file(&out.join("known_hosts"), known_hosts.as_bytes(), 0o644)?;
    let tls = inputs.cluster.iter().any(|n| {
        n.docker
            .as_ref()
            .and_then(|d| d.tcp.as_ref())
            .is_some_and(|t| !t.insecure_plaintext)
    });
    if tls {
        let ca = crate::pki::ClusterCa::new(inputs.secret, inputs.epoch)?;
        let client = ca.client()?;
        let dir = out.join("docker-tls");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_file(&dir.join("ca.pem"), ca.cert_pem()?.as_bytes(), 0o644)?;
        write_file(&dir.join("cert.pem"), client.cert_pem.as_bytes(), 0o644)?;
        write_file(&dir.join("key.pem"), client.key_pem.as_bytes(), 0o600)?;
    }
    write_file(&manifest_path, manifest.to_text()?.as_bytes(), 0o644)?;
    Ok(Baked {
        manifest,
        manifest_path,
        baked,
    })
}

/// Written to a temporary file in the same folder and renamed: never half a file.
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    std::io::Write::write_all(&mut tmp, data).map_err(|e| Error::io(path, e))?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(mode),
    )
    .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}
