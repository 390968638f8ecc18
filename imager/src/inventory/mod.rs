//! The inventory: one file that says which base image to use and how every node differs.
//! Loading it parses (unknown keys are errors), merges `defaults:` into each node (merge.rs),
//! checks everything a bake will rely on (check/, one module per feature), then reads what it
//! names on disk (sources.rs), so that a bad inventory fails before any output exists.
//! Every error names the file, the line and column, and the node.

mod check;
mod locate;
mod merge;
mod model;
mod nodes;
mod sources;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use model::{
    Apt, Boot, CronJob, Docker, DockerTcp, Fail2ban, File, Gluster, InventoryFile, Jail,
    Keepalived, Network, Settings, Ssh, Unit, User,
};
pub use nodes::Nodes;

/// Where the base image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// A file, resolved against the inventory's folder.
    Path(PathBuf),
    /// piimage's own base, `builtin:<name>`.
    Builtin(String),
}

/// One node with the defaults merged in and everything checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub role: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// `None`: the node takes its address by DHCP.
    pub address: Option<StaticAddress>,
    pub users: Vec<User>,
    pub password_authentication: bool,
    pub docker: Option<Docker>,
    pub fail2ban: Option<Fail2ban>,
    pub cron: Vec<CronJob>,
    pub files: Vec<File>,
    pub boot: Boot,
    pub units: Vec<Unit>,
    pub keepalived: Option<Vrrp>,
    /// The pool's nodes, in the inventory's order (this one among them).
    pub gluster_peers: Vec<String>,
    /// The folder for the pool's bricks, made by bake.
    pub gluster_bricks: Option<String>,
    /// Debian packages added to the base (installed at the card's first boot).
    pub packages: Vec<Package>,
}

/// keepalived's settings, checked and with the defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vrrp {
    pub interface: String,
    pub virtual_ip: Ipv4Addr,
    pub prefix: u8,
    pub priority: u8,
    pub virtual_router_id: u8,
    pub advert_int: u8,
    pub preempt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticAddress {
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub file: PathBuf,
    pub base: Base,
    pub nodes: Vec<NodeSpec>,
    /// Where the nodes' packages come from.
    pub apt: AptSources,
}

/// A package a node asks for: its name, and the version apt must pick if pinned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
}

impl Package {
    /// As apt is asked for it: `name` or `name=version`.
    pub fn spec(&self) -> String {
        match &self.version {
            Some(v) => format!("{}={v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// `apt:` checked: sources.list lines in place of the image's own, and a mirror URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct AptSources {
    pub sources: Vec<String>,
    pub mirror: Option<String>,
}

/// A bad inventory: the file, where in it, which node, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {}{message}", file.display(), place.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default(), node.as_ref().map(|n| format!("node {n}: ")).unwrap_or_default())]
pub struct InventoryError {
    pub file: PathBuf,
    pub place: Option<(usize, usize)>,
    pub node: Option<String>,
    pub message: String,
}

impl Inventory {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let fail = |message: String| InventoryError {
            file: path.to_owned(),
            place: None,
            node: None,
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut inventory = Inventory::parse(path, &text)?;
        sources::read(&mut inventory, &text)?;
        Ok(inventory)
    }

    /// Checks inventory `text` as if read from `path` (relative bases resolve beside it),
    /// reading nothing from disk: the base image is not opened and `files:` sources are not
    /// read (`load` does both).
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        let raw: InventoryFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let (place, message) = crate::yaml_error::describe(&e);
            InventoryError {
                file: path.to_owned(),
                place,
                node: None,
                message,
            }
        })?;
        check::check(path, text, raw)
    }
}

/// The JSON Schema of the inventory file, for editors (published as
/// `docs/inventory.schema.json`).
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(InventoryFile)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "piimage inventory".into());
    }
    schema
}
