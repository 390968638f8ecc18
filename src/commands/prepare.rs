//! What `plan` and `bake` share: the inventory loaded and checked, the base resolved and
//! read once, and each selected node's file operations.

use std::path::{Path, PathBuf};

use anyhow::Result;
use imager::inventory::{Base, Inventory, NodeSpec};
use imager::plan::{self, Facts};
use imager::secret::ClusterSecret;
use imager::source::BaseCache;
use imager::{Epoch, FileOp, Image};

use crate::exit::BadInput;

pub struct Prepared {
    pub inventory: Inventory,
    pub secret: ClusterSecret,
    /// The raw (decompressed) base image.
    pub base: PathBuf,
    pub facts: Facts,
    pub epoch: Epoch,
    /// Each selected node with its file operations, in inventory order.
    pub plans: Vec<(NodeSpec, Vec<FileOp>)>,
}

pub fn prepare(cache: &BaseCache, config: &Path, names: &[String]) -> Result<Prepared> {
    let inventory = Inventory::load(config).map_err(imager::Error::from)?;
    let nodes = selected(&inventory, names, config)?;
    let given = match &inventory.base {
        Base::Path(path) => path.clone(),
        Base::Builtin(name) => super::base::builtin_image(cache.dir(), name, config)?,
    };
    let base = super::resolve_base(cache, &given)?;
    let mut image =
        Image::open(&base).map_err(|e| super::inspect::rename_path(e, &base, &given))?;
    let facts = Facts::read(&mut image)?;
    let epoch = super::epoch_from_env(image.default_epoch())?;
    let secret_path = ClusterSecret::path_for(config);
    let (secret, made) = ClusterSecret::load_or_create(&secret_path)?;
    if made {
        eprintln!(
            "made the cluster secret {} (keep it: the nodes' SSH host keys come from it)",
            secret_path.display()
        );
    }
    for node in &nodes {
        for user in node.users.iter().filter(|u| u.plaintext_password.is_some()) {
            eprintln!(
                "warning: {}: node {}: user {} has a plaintext password; it is baked hashed, but anyone who can read the inventory can read it (prefer password_hash)",
                config.display(),
                node.name,
                user.name
            );
        }
    }
    for node in nodes.iter().filter(|n| {
        n.docker
            .as_ref()
            .and_then(|d| d.tcp.as_ref())
            .is_some_and(|t| t.insecure_plaintext)
    }) {
        eprintln!(
            "WARNING: {}: node {}: Docker listens on plain TCP without TLS: anyone who can reach that port controls the node. Remove insecure_plaintext to get TLS from the cluster CA.",
            config.display(),
            node.name
        );
    }
    let mut plans = Vec::new();
    for node in nodes {
        let ops = plan::plan(&inventory.nodes, node, &facts, epoch, &secret)
            .map_err(|e| BadInput(format!("{}: node {}: {e}", config.display(), node.name)))?;
        plans.push((node.clone(), ops));
    }
    Ok(Prepared {
        inventory,
        secret,
        base,
        facts,
        epoch,
        plans,
    })
}

/// The nodes named with --node (all when none), each checked to exist.
fn selected<'i>(
    inventory: &'i Inventory,
    names: &[String],
    config: &Path,
) -> Result<Vec<&'i NodeSpec>> {
    if names.is_empty() {
        return Ok(inventory.nodes.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            inventory
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        inventory.nodes.iter().map(|n| n.name.as_str()).collect();
                    BadInput(format!(
                        "{}: no node `{name}` (nodes: {})",
                        config.display(),
                        known.join(", ")
                    ))
                    .into()
                })
        })
        .collect()
}
