//! The inventory file as written (`cluster.yaml` / `piimage.yaml`): plain serde types, unknown
//! keys refused, with a JSON Schema derived from the same types for editors.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole file: the base image, settings for every node, and the nodes.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// A path to the base image as downloaded (relative to this file), or `builtin:<name>`.
    pub base: String,
    /// Settings every node gets unless it sets its own.
    #[serde(default)]
    pub defaults: Settings,
    /// Node name (its hostname) → its address, role, labels and overrides. Order is kept.
    pub nodes: super::nodes::Nodes,
    /// Where `packages:` come from (default: the base image's own apt sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apt: Option<Apt>,
}

/// The apt sources `packages:` are resolved from, on the host (the card needs no network).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    /// sources.list lines used instead of the image's own, e.g.
    /// `deb http://deb.debian.org/debian bookworm main` or, for a local mirror,
    /// `deb [trusted=yes] file:/srv/mirror ./`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// A URL put in place of every source's own (a local mirror or a caching proxy such as
    /// `http://apt-cache.lab:3142/debian`); suites and components are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
}

/// What a node can set, and what `defaults:` sets for all of them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The node's static IPv4 address, `a.b.c.d` or `a.b.c.d/prefix` (nodes only). Without
    /// one the node uses DHCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A free-form role, e.g. `manager`, `worker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Labels (merged: a node's add to and override the defaults').
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<User>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<Ssh>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Docker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail2ban: Option<Fail2ban>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<Vec<CronJob>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<File>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<Boot>,
    /// systemd units and timers to install in /etc/systemd/system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<Unit>>,
    /// A VRRP virtual address the nodes share (keepalived), merged field by field: set the
    /// address in `defaults:` and each node's `priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalived: Option<Keepalived>,
    /// A GlusterFS trusted pool: the nodes glusterd forms it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gluster: Option<Gluster>,
    /// Debian packages to add to the base, `name` or `name=version` (apt's pin): resolved with
    /// their dependencies on the host, carried on the card, installed at its first boot with
    /// no network. A node's list adds to the defaults'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keepalived {
    /// The shared address, `a.b.c.d/prefix`; it lives on the node with the highest priority
    /// that is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_ip: Option<String>,
    /// 1-254, one per node: the highest holds the address. Equal priorities are broken by
    /// the highest primary address, which is rarely what was meant (bake warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// The VRRP group, 1-255, the same on every node sharing the address. Default 51.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_router_id: Option<u8>,
    /// Seconds between adverts, 1-255. Default 1. A backup takes over after about
    /// 3 × advert_int + skew without hearing the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advert_int: Option<u8>,
    /// Whether a returning node of higher priority takes the address back. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt: Option<bool>,
    /// Default: the node's network interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gluster {
    /// The nodes of the pool, by name (this one included). The first of them probes the
    /// others at every boot until all are in the pool (a probe of a member is a no-op).
    pub peers: Vec<String>,
    /// A folder made on each peer (root, 0755) to hold the volumes' bricks, like
    /// `/srv/gluster`: `gluster volume create` makes a brick's own folder but not its parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bricks: Option<String>,
}

/// How the node's interface is set up around its address (merged field by field).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Default `eth0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Prefix length, e.g. 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// A crypt(3) hash (`$6$…`, `$y$…`), e.g. from `mkpasswd -m sha-512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// A plaintext password: refused unless `allow_plaintext_password: true` says you mean it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext_password: Option<String>,
    #[serde(default)]
    pub allow_plaintext_password: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ssh {
    /// Default `false`: keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_authentication: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Docker {
    /// `/etc/docker/daemon.json` options (merged key by key with the defaults').
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub daemon: serde_json::Map<String, serde_json::Value>,
    /// Listen on TCP too: with TLS from the cluster's CA unless `insecure_plaintext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<DockerTcp>,
    /// dockerd's environment (a unit drop-in), merged key by key with the defaults', e.g.
    /// `DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: "1"` so that swarm tasks use the node's images
    /// rather than pull by digest (an offline lab).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerTcp {
    /// Default 2376 (TLS) or 2375 (plaintext).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Plain TCP without TLS: anyone who reaches the port owns the node. Loudly warned about.
    #[serde(default)]
    pub insecure_plaintext: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fail2ban {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sshd: Option<Jail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recidive: Option<Jail>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxretry: Option<u32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bantime: Option<i64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findtime: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronJob {
    /// Five cron fields, or `@reboot`, `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    pub schedule: String,
    pub user: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Absolute path in the root filesystem.
    pub path: String,
    /// The content, or…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// …a file beside the inventory to copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Octal, default `"0644"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `user:group` or `uid:gid`, default `root:root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What `source` held, read when the inventory is loaded (not a key of the file).
    #[serde(skip)]
    #[schemars(skip)]
    pub source_bytes: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// Lines for `config.txt` (`[all]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Arguments added to (or replacing the same key in) `cmdline.txt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmdline: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// The unit's file name: `backup.service`, `backup.timer`, …
    pub name: String,
    /// The unit file, written to `/etc/systemd/system/`. Without it the unit is one the base
    /// already has, and `enable` turns it on or off there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Make the links `systemctl enable` would (from its `[Install]` section). Default true.
    /// `false` on a unit of the base removes them, as `systemctl disable` would (its `Also=`
    /// units too), so a node that does not need docker or glusterd does not start it.
    #[serde(default = "yes")]
    pub enable: bool,
}

fn yes() -> bool {
    true
}
