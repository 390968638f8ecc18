//! Merging `defaults:` into each node and checking what a bake relies on. The first problem
//! found is reported, with its place in the text.

use std::net::Ipv4Addr;
use std::path::Path;

use super::locate::{Locator, Place};
use super::model::{InventoryFile, Network, Settings};
use super::{Base, Inventory, InventoryError, NodeSpec, StaticAddress};

struct Checker<'a> {
    file: &'a Path,
    at: Locator<'a>,
}

impl Checker<'_> {
    fn node_err(&self, node: &str, path: &[&str], message: impl Into<String>) -> InventoryError {
        self.err(self.at.node_key(node, path), Some(node), message)
    }

    fn err(
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
    for (name, own) in &raw.nodes.0 {
        if !is_hostname(name) {
            return Err(c.node_err(name, &[], format!("`{name}` is not a valid hostname (letters, digits and '-', at most 63, not starting or ending with '-')")));
        }
        let merged = merge(&raw.defaults, own);
        let spec = check_node(&c, name, merged)?;
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
    Ok(Inventory {
        file: file.to_owned(),
        base,
        nodes,
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
    let path = c.file.parent().unwrap_or(Path::new(".")).join(base);
    if !path.is_file() {
        return Err(c.err(
            place,
            None,
            format!("base image {} does not exist", path.display()),
        ));
    }
    Ok(Base::Path(path))
}

/// A node's own settings over the defaults: per key, with labels, network fields and Docker
/// daemon options merged one level down.
fn merge(defaults: &Settings, own: &Settings) -> Settings {
    let mut labels = defaults.labels.clone();
    labels.extend(own.labels.clone());
    let network = match (&defaults.network, &own.network) {
        (Some(d), Some(o)) => Some(Network {
            interface: o.interface.clone().or_else(|| d.interface.clone()),
            prefix: o.prefix.or(d.prefix),
            gateway: o.gateway.clone().or_else(|| d.gateway.clone()),
            dns: o.dns.clone().or_else(|| d.dns.clone()),
        }),
        (d, o) => o.clone().or_else(|| d.clone()),
    };
    let docker = match (&defaults.docker, &own.docker) {
        (Some(d), Some(o)) => {
            let mut merged = d.clone();
            merged.daemon.extend(o.daemon.clone());
            merged.tcp = o.tcp.clone().or_else(|| d.tcp.clone());
            Some(merged)
        }
        (d, o) => o.clone().or_else(|| d.clone()),
    };
    Settings {
        address: own.address.clone(),
        role: own.role.clone(),
        labels,
        network,
        users: own.users.clone().or_else(|| defaults.users.clone()),
        ssh: own.ssh.clone().or_else(|| defaults.ssh.clone()),
        docker,
        fail2ban: own.fail2ban.clone().or_else(|| defaults.fail2ban.clone()),
        cron: own.cron.clone().or_else(|| defaults.cron.clone()),
        files: own.files.clone().or_else(|| defaults.files.clone()),
        boot: own.boot.clone().or_else(|| defaults.boot.clone()),
        units: own.units.clone().or_else(|| defaults.units.clone()),
    }
}

/// Where a merged setting came from: the node's own text if it sets it, else defaults.
fn place_of(c: &Checker<'_>, node: &str, own_sets: bool, path: &[&str]) -> Option<Place> {
    if own_sets {
        c.at.node_key(node, path)
    } else {
        c.at.defaults_key(path).or_else(|| c.at.node(node))
    }
}

fn check_node(c: &Checker<'_>, name: &str, s: Settings) -> Result<NodeSpec, InventoryError> {
    let err_at = |path: &[&str], message: String| c.node_err(name, path, message);
    let net = s.network.clone().unwrap_or_default();
    let in_node = |key: &str| {
        c.at.node_key(name, &[key])
            .is_some_and(|p| Some(p) != c.at.node(name))
    };
    let net_err = |key: &str, message: String| {
        let own =
            c.at.node_key(name, &["network", key])
                .is_some_and(|p| c.at.node_key(name, &["network"]) != Some(p));
        c.err(
            place_of(c, name, own, &["network", key]),
            Some(name),
            message,
        )
    };
    let parse_ip = |text: &str, key: &str| -> Result<Ipv4Addr, InventoryError> {
        text.parse::<Ipv4Addr>()
            .map_err(|_| net_err(key, format!("`{text}` is not an IPv4 address")))
    };

    let address = match &s.address {
        None => None,
        Some(text) => {
            let (ip_text, prefix_text) = match text.split_once('/') {
                Some((ip, p)) => (ip, Some(p)),
                None => (text.as_str(), None),
            };
            let ip: Ipv4Addr = ip_text
                .parse()
                .map_err(|_| err_at(&["address"], format!("`{text}` is not an IPv4 address")))?;
            let prefix = match prefix_text {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=32).contains(p))
                    .ok_or_else(|| {
                        err_at(
                            &["address"],
                            format!("`/{p}` is not a prefix length (1-32)"),
                        )
                    })?,
                None => net.prefix.ok_or_else(|| {
                    err_at(
                        &["address"],
                        format!("{ip} has no prefix: write it as {ip}/24, or set network.prefix"),
                    )
                })?,
            };
            if !(1..=32).contains(&prefix) {
                return Err(net_err(
                    "prefix",
                    format!("prefix {prefix} is not a prefix length (1-32)"),
                ));
            }
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            let network = u32::from(ip) & mask;
            if prefix < 31 && (u32::from(ip) == network || u32::from(ip) == network | !mask) {
                return Err(err_at(
                    &["address"],
                    format!(
                        "{ip} is the network or broadcast address of {}/{prefix}",
                        Ipv4Addr::from(network)
                    ),
                ));
            }
            let gateway = match &net.gateway {
                None => None,
                Some(g) => {
                    let gw = parse_ip(g, "gateway")?;
                    if gw == ip {
                        return Err(err_at(
                            &["address"],
                            format!("address {ip} is the gateway's"),
                        ));
                    }
                    if u32::from(gw) & mask != network {
                        return Err(err_at(
                            &["address"],
                            format!(
                                "{ip}/{prefix} and the gateway {gw} are not in the same network"
                            ),
                        ));
                    }
                    Some(gw)
                }
            };
            let dns = net
                .dns
                .iter()
                .flatten()
                .map(|d| parse_ip(d, "dns"))
                .collect::<Result<Vec<_>, _>>()?;
            let interface = net.interface.clone().unwrap_or_else(|| "eth0".into());
            if !is_interface(&interface) {
                return Err(net_err(
                    "interface",
                    format!("`{interface}` is not an interface name"),
                ));
            }
            Some(StaticAddress {
                interface,
                address: ip,
                prefix,
                gateway,
                dns,
            })
        }
    };

    let users = s.users.clone().unwrap_or_default();
    let users_own = in_node("users");
    for (i, user) in users.iter().enumerate() {
        let at = || place_of(c, name, users_own, &["users"]);
        let user_err = |message: String| {
            c.err(
                at(),
                Some(name),
                format!("users[{i}] ({}): {message}", user.name),
            )
        };
        if !is_user_name(&user.name) {
            return Err(user_err(
                "not a valid user name (lowercase letters, digits, '-', '_')".into(),
            ));
        }
        if users.iter().filter(|u| u.name == user.name).count() > 1 {
            return Err(user_err("listed twice".into()));
        }
        if let Some(hash) = &user.password_hash {
            if !is_crypt_hash(hash) {
                return Err(user_err("password_hash is not a crypt(3) hash like $6$salt$… (make one with `mkpasswd -m sha-512`)".into()));
            }
        }
        if user.plaintext_password.is_some() && !user.allow_plaintext_password {
            return Err(user_err(
                "plaintext_password needs `allow_plaintext_password: true` (better: password_hash)"
                    .into(),
            ));
        }
        if user.password_hash.is_some() && user.plaintext_password.is_some() {
            return Err(user_err(
                "give password_hash or plaintext_password, not both".into(),
            ));
        }
        for (k, key) in user.ssh_authorized_keys.iter().enumerate() {
            if let Err(e) = key.trim().parse::<ssh_key::PublicKey>() {
                return Err(user_err(format!(
                    "ssh_authorized_keys[{k}] is not an OpenSSH public key ({e})"
                )));
            }
        }
        for group in &user.groups {
            if !is_user_name(group) {
                return Err(user_err(format!("`{group}` is not a valid group name")));
            }
        }
    }

    let cron = s.cron.clone().unwrap_or_default();
    let cron_own = in_node("cron");
    for (i, job) in cron.iter().enumerate() {
        let cron_err = |message: String| {
            c.err(
                place_of(c, name, cron_own, &["cron"]),
                Some(name),
                format!("cron[{i}]: {message}"),
            )
        };
        if !is_cron_schedule(&job.schedule) {
            return Err(cron_err(format!("`{}` is not a schedule (five fields, or @reboot/@hourly/@daily/@weekly/@monthly/@yearly)", job.schedule)));
        }
        if !is_user_name(&job.user) {
            return Err(cron_err(format!("`{}` is not a user name", job.user)));
        }
        if job.command.trim().is_empty() || job.command.contains('\n') {
            return Err(cron_err("the command must be one non-empty line".into()));
        }
    }

    let mut files = s.files.clone().unwrap_or_default();
    let files_own = in_node("files");
    for (i, f) in files.iter_mut().enumerate() {
        let file_err = |message: String| {
            c.err(
                place_of(c, name, files_own, &["files"]),
                Some(name),
                format!("files[{i}] ({}): {message}", f.path),
            )
        };
        if !f.path.starts_with('/') || f.path.split('/').any(|p| p == "..") {
            return Err(file_err("the path must be absolute, without '..'".into()));
        }
        match (&f.content, &f.source) {
            (Some(_), Some(_)) => return Err(file_err("give content or source, not both".into())),
            (None, None) => return Err(file_err("give content or source".into())),
            (None, Some(src)) => {
                let p = c.file.parent().unwrap_or(Path::new(".")).join(src);
                if !p.is_file() {
                    return Err(file_err(format!("source {} does not exist", p.display())));
                }
                // Read now, so the spec carries what gets written.
                let bytes = std::fs::read(&p)
                    .map_err(|e| file_err(format!("source {}: {e}", p.display())))?;
                f.source_bytes = Some(bytes);
            }
            _ => {}
        }
        if let Some(owner) = &f.owner {
            let ok = owner.split_once(':').is_some_and(|(u, g)| {
                [u, g]
                    .iter()
                    .all(|x| x.parse::<u32>().is_ok() || is_user_name(x))
            });
            if !ok {
                return Err(file_err(format!(
                    "owner `{owner}` is not user:group (names or numbers)"
                )));
            }
        }
        if let Some(mode) = &f.mode {
            if u32::from_str_radix(mode, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .is_none()
            {
                return Err(file_err(format!(
                    "mode `{mode}` is not an octal mode like \"0644\""
                )));
            }
        }
    }

    if let Some(f2b) = &s.fail2ban {
        for (jail, j) in [("sshd", &f2b.sshd), ("recidive", &f2b.recidive)] {
            if let Some(j) = j {
                if j.maxretry == Some(0) {
                    return Err(c.err(
                        place_of(c, name, in_node("fail2ban"), &["fail2ban", jail]),
                        Some(name),
                        format!("fail2ban.{jail}.maxretry must be at least 1"),
                    ));
                }
                if j.bantime.is_some_and(|b| b == 0 || b < -1) {
                    return Err(c.err(
                        place_of(c, name, in_node("fail2ban"), &["fail2ban", jail]),
                        Some(name),
                        format!("fail2ban.{jail}.bantime must be seconds > 0, or -1 for ever"),
                    ));
                }
            }
        }
    }

    if let Some(docker) = &s.docker {
        let own = in_node("docker");
        if docker.tcp.as_ref().is_some_and(|t| t.port == Some(0)) {
            return Err(c.err(
                place_of(c, name, own, &["docker", "tcp"]),
                Some(name),
                "docker.tcp.port must be 1-65535",
            ));
        }
        if docker.tcp.is_some() && docker.daemon.contains_key("hosts") {
            return Err(c.err(
                place_of(c, name, own, &["docker", "daemon"]),
                Some(name),
                "give docker.tcp or daemon `hosts`, not both (tcp sets hosts)",
            ));
        }
    }

    let boot = s.boot.clone().unwrap_or_default();
    for arg in &boot.cmdline {
        if arg.trim().is_empty() || arg.contains(char::is_whitespace) {
            return Err(c.err(
                place_of(c, name, in_node("boot"), &["boot", "cmdline"]),
                Some(name),
                format!("cmdline argument `{arg}` must be one word"),
            ));
        }
    }

    let units = s.units.clone().unwrap_or_default();
    let units_own = in_node("units");
    for (i, unit) in units.iter().enumerate() {
        let unit_err = |message: String| {
            c.err(
                place_of(c, name, units_own, &["units"]),
                Some(name),
                format!("units[{i}] ({}): {message}", unit.name),
            )
        };
        let kinds = [
            ".service", ".timer", ".socket", ".path", ".target", ".mount",
        ];
        let plain = unit
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "@._-".contains(ch));
        if !plain
            || !kinds
                .iter()
                .any(|k| unit.name.ends_with(k) && unit.name.len() > k.len())
        {
            return Err(unit_err(
                "not a unit file name (like backup.service or backup.timer)".into(),
            ));
        }
        if units.iter().filter(|u| u.name == unit.name).count() > 1 {
            return Err(unit_err("listed twice".into()));
        }
        if unit.enable && !unit.content.lines().any(|l| l.trim() == "[Install]") {
            return Err(unit_err(
                "enable needs an [Install] section (or say enable: false)".into(),
            ));
        }
    }

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
    })
}

fn is_hostname(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || *ch == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_interface(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
}

fn is_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(ch) if ch.is_ascii_lowercase() || ch == '_')
        && name.len() <= 32
        && chars.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_')
}

fn is_crypt_hash(hash: &str) -> bool {
    let parts: Vec<&str> = hash.split('$').collect();
    parts.len() >= 4
        && parts[0].is_empty()
        && ["1", "5", "6", "y", "gy", "7", "2b", "2y"].contains(&parts[1])
        && !parts.last().is_some_and(|p| p.is_empty())
}

fn is_cron_schedule(schedule: &str) -> bool {
    if let Some(word) = schedule.strip_prefix('@') {
        return [
            "reboot", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "midnight",
        ]
        .contains(&word);
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "*/,-".contains(ch))
        })
}
