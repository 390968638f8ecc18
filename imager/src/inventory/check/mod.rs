//! Checking what a bake relies on, one module per feature, on the merged settings (merge.rs)
//! and with no file read: what the inventory names on disk is sources.rs's. The first
//! problem found is reported, with its place in the text.

mod address;
mod boot;
mod cron;
mod docker;
mod fail2ban;
mod files;
mod gluster;
mod keepalived;
mod names;
mod packages;
mod units;
mod users;

use std::path::Path;

use super::locate::{Locator, Place};
use super::model::{InventoryFile, Settings};
use super::{Base, Inventory, InventoryError, NodeSpec};
use names::is_hostname;

pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) at: Locator<'a>,
}

impl Checker<'_> {
    /// Whether the node's own text sets `key` (else it comes from defaults).
    pub(super) fn in_node(&self, node: &str, key: &str) -> bool {
        self.at
            .node_key(node, &[key])
            .is_some_and(|p| Some(p) != self.at.node(node))
    }

    pub(super) fn node_err(
        &self,
        node: &str,
        path: &[&str],
        message: impl Into<String>,
    ) -> InventoryError {
        self.err(self.at.node_key(node, path), Some(node), message)
    }

    pub(super) fn err(
        &self,
        place: Option<Place>,
        node: Option<&str>,
        message: impl Into<String>,
    ) -> InventoryError {
        InventoryError {
            file: self.file.to_owned(),
            place,
            node: node.map(str::to_string),
            message: message.into(),
        }
    }
}

pub(super) fn check(
    file: &Path,
    text: &str,
    raw: InventoryFile,
) -> Result<Inventory, InventoryError> {
    let c = Checker {
        file,
        at: Locator::new(text),
    };
    let base = check_base(&c, &raw.base)?;
    for key in ["address", "role"] {
        let set = if key == "address" {
            raw.defaults.address.is_some()
        } else {
            raw.defaults.role.is_some()
        };
        if set {
            return Err(c.err(
                c.at.defaults_key(&[key]),
                None,
                format!("`{key}` belongs to a node, not to defaults"),
            ));
        }
    }
    if raw.nodes.0.is_empty() {
        return Err(c.err(c.at.top("nodes"), None, "`nodes` lists no node"));
    }
    let mut nodes: Vec<NodeSpec> = Vec::new();
    let all: Vec<&str> = raw.nodes.0.iter().map(|(n, _)| n.as_str()).collect();
    for (name, own) in &raw.nodes.0 {
        if !is_hostname(name) {
            return Err(c.node_err(name, &[], format!("`{name}` is not a valid hostname (letters, digits and '-', at most 63, not starting or ending with '-')")));
        }
        let merged = super::merge::merge(&raw.defaults, own);
        let spec = check_node(&c, name, merged, &all)?;
        if let Some(addr) = &spec.address {
            if let Some(other) = nodes.iter().find(|n| {
                n.address
                    .as_ref()
                    .is_some_and(|a| a.address == addr.address)
            }) {
                return Err(c.node_err(
                    name,
                    &["address"],
                    format!("address {} is already node {}'s", addr.address, other.name),
                ));
            }
        }
        nodes.push(spec);
    }
    keepalived::check_cluster(&c, &nodes)?;
    let apt = packages::check_apt(&c, raw.apt.as_ref())?;
    Ok(Inventory {
        file: file.to_owned(),
        base,
        nodes,
        apt,
    })
}

fn check_base(c: &Checker<'_>, base: &str) -> Result<Base, InventoryError> {
    let place = c.at.top("base");
    if let Some(name) = base.strip_prefix("builtin:") {
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        {
            return Err(c.err(
                place,
                None,
                format!(
                    "`{base}` is not a built-in base name (like builtin:debian-bookworm-arm64)"
                ),
            ));
        }
        return Ok(Base::Builtin(name.to_string()));
    }
    if base.trim().is_empty() {
        return Err(c.err(
            place,
            None,
            "`base` is empty: give an image path or builtin:<name>",
        ));
    }
    // Whether the file is there, and is an image, is for sources.rs to say.
    Ok(Base::Path(
        c.file.parent().unwrap_or(Path::new(".")).join(base),
    ))
}

/// Where a merged setting came from: the node's own text if it sets it, else defaults.
pub(super) fn place_of(
    c: &Checker<'_>,
    node: &str,
    own_sets: bool,
    path: &[&str],
) -> Option<Place> {
    if own_sets {
        c.at.node_key(node, path)
    } else {
        c.at.defaults_key(path).or_else(|| c.at.node(node))
    }
}

fn check_node(
    c: &Checker<'_>,
    name: &str,
    s: Settings,
    all: &[&str],
) -> Result<NodeSpec, InventoryError> {
    let address = address::check(c, name, &s)?;
    let keepalived = keepalived::check(c, name, &s, address.as_ref())?;
    let (gluster_peers, gluster_bricks) = gluster::check(c, name, &s, all)?;
    let users = users::check(c, name, &s)?;
    let cron = cron::check(c, name, &s)?;
    let files = files::check(c, name, &s)?;
    fail2ban::check(c, name, &s)?;
    docker::check(c, name, &s)?;
    let boot = boot::check(c, name, &s)?;
    let units = units::check(c, name, &s)?;
    let packages = packages::check(c, name, &s)?;

    Ok(NodeSpec {
        name: name.to_string(),
        role: s.role.clone(),
        labels: s.labels.clone(),
        address,
        users,
        password_authentication: s
            .ssh
            .as_ref()
            .and_then(|x| x.password_authentication)
            .unwrap_or(false),
        docker: s.docker.clone(),
        fail2ban: s.fail2ban.clone(),
        cron,
        files,
        boot,
        units,
        keepalived,
        gluster_peers,
        gluster_bricks,
        packages,
    })
}
