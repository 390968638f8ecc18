//! What `plan`, `bake`, `flash` and the test harness share before anything is written: the
//! checked inventory's selected nodes, the base read once, the cluster secret, and each
//! node's file operations. The caller resolves the base to a raw image (decompressing it, or
//! building a built-in one) and decides how to show the warnings.

use std::path::{Path, PathBuf};

use crate::inventory::{Inventory, NodeSpec};
use crate::packages::{PackageCache, Resolution};
use crate::plan::{self, Facts};
use crate::secret::ClusterSecret;
use crate::{Epoch, Error, FileOp, Image, Result};

pub struct Prepared {
    pub inventory: Inventory,
    pub secret: ClusterSecret,
    /// The raw (decompressed) base image.
    pub base: PathBuf,
    pub facts: Facts,
    pub epoch: Epoch,
    /// Each node's `packages:` as resolved (nodes without any are absent).
    pub packages: std::collections::BTreeMap<String, Resolution>,
    /// Each selected node with its file operations, in inventory order.
    pub plans: Vec<(NodeSpec, Vec<FileOp>)>,
    /// What the user should hear, already worded (a new cluster secret, plaintext passwords,
    /// Docker without TLS).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The cluster secret did not exist and was made here.
    MadeSecret(PathBuf),
    /// Something the inventory allows but should not be left so; said loudly.
    Risk(String),
}

/// The nodes named in `names` (all when empty), planned against the raw base image `base`.
/// `epoch` overrides the base's own last write as the time stamped on every file; nodes'
/// packages are resolved through `packages` (apt runs only for what it has not seen).
pub fn prepare(
    inventory: Inventory,
    names: &[String],
    base: &Path,
    epoch: Option<Epoch>,
    packages: &PackageCache,
) -> Result<Prepared> {
    let config = inventory.file.clone();
    let nodes = selected(&inventory, names)?;
    let mut image = Image::open(base)?;
    let base_units: Vec<String> = nodes
        .iter()
        .flat_map(|n| n.units.iter().filter(|u| u.content.is_none()))
        .map(|u| u.name.clone())
        .collect();
    let facts = Facts::read(&mut image, &base_units)?;
    let epoch = epoch.unwrap_or_else(|| image.default_epoch());
    let secret_path = ClusterSecret::path_for(&config);
    let (secret, made) = ClusterSecret::load_or_create(&secret_path)?;
    let mut warnings = Vec::new();
    if made {
        warnings.push(Warning::MadeSecret(secret_path));
    }
    for node in &nodes {
        for user in node.users.iter().filter(|u| u.plaintext_password.is_some()) {
            warnings.push(Warning::Risk(format!(
                "warning: {}: node {}: user {} has a plaintext password; it is baked hashed, but anyone who can read the inventory can read it (prefer password_hash)",
                config.display(),
                node.name,
                user.name
            )));
        }
    }
    for node in nodes.iter().filter(|n| {
        n.docker
            .as_ref()
            .and_then(|d| d.tcp.as_ref())
            .is_some_and(|t| t.insecure_plaintext)
    }) {
        warnings.push(Warning::Risk(format!(
            "WARNING: {}: node {}: Docker listens on plain TCP without TLS: anyone who can reach that port controls the node. Remove insecure_plaintext to get TLS from the cluster CA.",
            config.display(),
            node.name
        )));
    }
    warnings.extend(priority_ties(&inventory).into_iter().map(Warning::Risk));
    let mut plans = Vec::new();
    let mut resolved: std::collections::BTreeMap<String, Resolution> = Default::default();
    for node in nodes {
        let in_node = |e: Error| Error::Plan {
            inventory: config.clone(),
            node: node.name.clone(),
            error: Box::new(e),
        };
        let node_facts = if node.packages.is_empty() {
            None
        } else {
            // Nodes asking for the same packages share one answer.
            let same = resolved
                .values()
                .find(|r| r.requested == node.packages.iter().map(|p| p.spec()).collect::<Vec<_>>())
                .cloned();
            let resolution = match same {
                Some(r) => r,
                None => packages
                    .resolve(&facts.apt, &node.packages, &inventory.apt)
                    .map_err(in_node)?,
            };
            resolved.insert(node.name.clone(), resolution.clone());
            Some(facts.with_packages(resolution))
        };
        let ops = plan::plan(
            &inventory.nodes,
            &node,
            node_facts.as_ref().unwrap_or(&facts),
            epoch,
            &secret,
        )
        .map_err(in_node)?;
        plans.push((node, ops));
    }
    Ok(Prepared {
        inventory,
        secret,
        base: base.to_path_buf(),
        facts,
        epoch,
        packages: resolved,
        plans,
        warnings,
    })
}

/// The nodes named (all when none), each checked to exist: cheap, so callers may ask before
/// resolving the base.
pub fn selected(inventory: &Inventory, names: &[String]) -> Result<Vec<NodeSpec>> {
    if names.is_empty() {
        return Ok(inventory.nodes.clone());
    }
    names
        .iter()
        .map(|name| {
            inventory
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .cloned()
                .ok_or_else(|| Error::NoSuchNode {
                    inventory: inventory.file.clone(),
                    node: name.clone(),
                    known: inventory.nodes.iter().map(|n| n.name.clone()).collect(),
                })
        })
        .collect()
}

/// Nodes of one keepalived group with the same priority: VRRP breaks the tie by the highest
/// primary address, so the holder is decided by addressing, rarely what was meant.
fn priority_ties(inventory: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    let nodes = &inventory.nodes;
    for (i, a) in nodes.iter().enumerate() {
        let Some(va) = &a.keepalived else { continue };
        for b in &nodes[i + 1..] {
            let Some(vb) = &b.keepalived else { continue };
            if va.virtual_router_id == vb.virtual_router_id && va.priority == vb.priority {
                out.push(format!(
                    "warning: {}: nodes {} and {} both have keepalived priority {} for {}: VRRP breaks the tie by the highest address, not by the inventory (give each node its own priority)",
                    inventory.file.display(),
                    a.name,
                    b.name,
                    va.priority,
                    va.virtual_ip
                ));
            }
        }
    }
    out
}
