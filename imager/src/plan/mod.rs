//! The plan: `Flavour × NodeSpec × overlays/ → Vec<FileOp>`. Pure: everything it needs from
//! the base image arrives as `Facts`, read once by `Facts::read`, so a plan can be printed,
//! snapshot-tested and applied without surprises.

mod accounts;
mod templates;
mod units;

use serde::Serialize;
use serde_json::json;

pub use accounts::{Account, Accounts};
pub use templates::Templates;

use crate::error::{Error, Result};
use crate::fileop::{Content, FileOp, Mode, Owner, Target};
use crate::flavour::{self, Flavour, NetworkStack};
use crate::fs::Filesystem;
use crate::image::Image;
use crate::inventory::{NodeSpec, StaticAddress};
use crate::secret::ClusterSecret;
use crate::Epoch;

/// What a plan needs to know about the base.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub flavour: Option<Flavour>,
    pub accounts: Accounts,
    /// Installed units we may enable: (unit name, its path as the system sees it, its text).
    pub units: Vec<(String, String, String)>,
    /// The boot partition's cloud-init `user-data`, if the base has one.
    pub user_data: Option<String>,
}

const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];
const SERVICES: [&str; 5] = [
    "ssh.service",
    "docker.service",
    "fail2ban.service",
    "cron.service",
    "systemd-networkd.service",
];

impl Facts {
    /// Reads the facts from the base (read-only visits).
    pub fn read(image: &mut Image) -> Result<Facts> {
        let epoch = Epoch(0);
        let user_data = if image.has(Target::Boot) {
            image.with_fs(Target::Boot, epoch, false, |fs| text(fs, "/user-data"))?
        } else {
            None
        };
        image.with_fs(Target::Root, epoch, false, |fs| {
            let accounts = Accounts {
                passwd: text(fs, "/etc/passwd")?.unwrap_or_default(),
                shadow: text(fs, "/etc/shadow")?.unwrap_or_default(),
                group: text(fs, "/etc/group")?.unwrap_or_default(),
                gshadow: text(fs, "/etc/gshadow")?,
            };
            let mut units = Vec::new();
            for unit in SERVICES {
                for dir in UNIT_DIRS {
                    let path = format!("{dir}/{unit}");
                    if let Some(body) = text(fs, &path)? {
                        units.push((unit.to_string(), path, body));
                        break;
                    }
                }
            }
            Ok(Facts {
                flavour: Some(flavour::detect_in(fs)?),
                accounts,
                units,
                user_data,
            })
        })
    }

    pub fn unit(&self, name: &str) -> Option<&(String, String, String)> {
        self.units.iter().find(|(n, _, _)| n == name)
    }
}

fn text(fs: &mut dyn Filesystem, path: &str) -> Result<Option<String>> {
    Ok(fs
        .read_if_exists(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

#[derive(Serialize)]
struct Peer<'a> {
    name: &'a str,
    address: Option<String>,
}

/// The file operations that make `node` out of the base described by `facts`.
pub fn plan(
    cluster: &[NodeSpec],
    node: &NodeSpec,
    facts: &Facts,
    epoch: Epoch,
    secret: &ClusterSecret,
) -> Result<Vec<FileOp>> {
    let flavour = facts
        .flavour
        .clone()
        .ok_or(Error::NoSuchFilesystem("ext4 root"))?;
    let t = Templates::new();
    let mut ops = Vec::new();
    let write = |path: &str, content: String, mode: u32| FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content),
        mode: Some(Mode(mode)),
        owner: None,
    };

    // Hostname, and every node of the cluster in /etc/hosts.
    let peers: Vec<Peer> = cluster
        .iter()
        .map(|n| Peer {
            name: &n.name,
            address: n.address.as_ref().map(|a| a.address.to_string()),
        })
        .collect();
    ops.push(write("/etc/hostname", format!("{}\n", node.name), 0o644));
    ops.push(write(
        "/etc/hosts",
        t.render("hostname/hosts", json!({ "node": node, "cluster": peers }))?,
        0o644,
    ));

    // The static address, the way this flavour reads it.
    if let Some(net) = &node.address {
        ops.extend(network(&t, &flavour, node, net, facts)?);
    }
    if flavour.network == NetworkStack::CloudInit {
        ops.extend(cloud_init_user_data(node, facts)?);
    }

    // Users, their keys, and sshd.
    let mut accounts = facts.accounts.clone();
    let days = epoch.0.div_euclid(86_400);
    // A plaintext password (allowed only with allow_plaintext_password) is baked hashed.
    let users: Vec<crate::inventory::User> = node
        .users
        .iter()
        .map(|u| match &u.plaintext_password {
            Some(plain) => Ok(crate::inventory::User {
                password_hash: Some(secret.password_hash(&node.name, &u.name, plain)?),
                plaintext_password: None,
                ..u.clone()
            }),
            None => Ok(u.clone()),
        })
        .collect::<Result<_>>()?;
    let made = accounts.ensure(&users, days)?;
    if !node.users.is_empty() {
        ops.push(write("/etc/passwd", accounts.passwd.clone(), 0o644));
        ops.push(write("/etc/group", accounts.group.clone(), 0o644));
        ops.push(FileOp::Write {
            fs: Target::Root,
            path: "/etc/shadow".into(),
            content: Content::Text(accounts.shadow.clone()),
            mode: Some(Mode(0o640)),
            owner: Some(Owner {
                uid: 0,
                gid: shadow_gid(&accounts.group),
            }),
        });
        if let Some(gs) = &accounts.gshadow {
            ops.push(FileOp::Write {
                fs: Target::Root,
                path: "/etc/gshadow".into(),
                content: Content::Text(gs.clone()),
                mode: Some(Mode(0o640)),
                owner: Some(Owner {
                    uid: 0,
                    gid: shadow_gid(&accounts.group),
                }),
            });
        }
    }
    for (user, account) in node.users.iter().zip(&made) {
        let owner = Some(Owner {
            uid: account.uid,
            gid: account.gid,
        });
        if account.created {
            ops.push(FileOp::Mkdir {
                fs: Target::Root,
                path: account.home.clone(),
                mode: Some(Mode(0o755)),
                owner,
            });
        }
        if !user.ssh_authorized_keys.is_empty() {
            ops.push(FileOp::Mkdir {
                fs: Target::Root,
                path: format!("{}/.ssh", account.home),
                mode: Some(Mode(0o700)),
                owner,
            });
            let keys: String = user
                .ssh_authorized_keys
                .iter()
                .map(|k| format!("{}\n", k.trim()))
                .collect();
            ops.push(FileOp::Write {
                fs: Target::Root,
                path: format!("{}/.ssh/authorized_keys", account.home),
                content: Content::Text(keys),
                mode: Some(Mode(0o600)),
                owner,
            });
        }
    }
    ops.push(write(
        "/etc/ssh/sshd_config.d/50-piimage.conf",
        t.render(
            "ssh/sshd.conf",
            json!({ "password_authentication": node.password_authentication }),
        )?,
        0o644,
    ));
    ops.extend(host_keys(cluster, node, secret)?);
    ops.extend(enable(facts, "ssh.service", &node.name)?);

    // Docker: the daemon reads daemon.json (never /etc/default/docker under systemd).
    if let Some(docker) = &node.docker {
        let mut daemon = docker.daemon.clone();
        if let Some(tcp) = &docker.tcp {
            ops.extend(docker_tcp(node, tcp, facts, secret, epoch, &mut daemon)?);
        }
        let body = serde_json::to_string_pretty(&daemon).map_err(|e| Error::Invalid {
            what: "docker.daemon".into(),
            detail: e.to_string(),
        })?;
        ops.push(write("/etc/docker/daemon.json", format!("{body}\n"), 0o644));
        ops.extend(enable(facts, "docker.service", &node.name)?);
    }

    // fail2ban, with the log backend this flavour has.
    if let Some(f2b) = &node.fail2ban {
        let backend = if flavour.journal_only {
            "systemd"
        } else {
            "auto"
        };
        let mut jails = Vec::new();
        for (name, jail) in [("sshd", &f2b.sshd), ("recidive", &f2b.recidive)] {
            if let Some(j) = jail {
                jails.push(json!({ "name": name, "maxretry": j.maxretry, "bantime": j.bantime, "findtime": j.findtime }));
            }
        }
        ops.push(write(
            "/etc/fail2ban/jail.local",
            t.render(
                "fail2ban/jail.local",
                json!({ "backend": backend, "jails": jails }),
            )?,
            0o644,
        ));
        ops.extend(enable(facts, "fail2ban.service", &node.name)?);
    }

    if !node.cron.is_empty() {
        ops.push(write(
            "/etc/cron.d/piimage",
            t.render("cron/cron.d", json!({ "node": node, "jobs": node.cron }))?,
            0o644,
        ));
        ops.extend(enable(facts, "cron.service", &node.name)?);
    }

    for f in &node.files {
        // Text as it is; a binary source's bytes as base64.
        let content = match (&f.content, &f.source_bytes) {
            (Some(text), _) => Content::Text(text.clone()),
            (None, Some(bytes)) => match std::str::from_utf8(bytes) {
                Ok(text) => Content::Text(text.to_string()),
                Err(_) => {
                    use base64::Engine;
                    Content::Base64 {
                        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    }
                }
            },
            (None, None) => Content::Text(String::new()),
        };
        let mode = f
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o644);
        let owner = match &f.owner {
            Some(spec) => Some(accounts.owner(spec).ok_or_else(|| Error::Invalid {
                what: format!("files {}", f.path),
                detail: format!("owner `{spec}`: no such user or group in the image"),
            })?),
            None => None,
        };
        ops.push(FileOp::Write {
            fs: Target::Root,
            path: f.path.clone(),
            content,
            mode: Some(Mode(mode)),
            owner,
        });
    }

    for unit in &node.units {
        let path = format!("/etc/systemd/system/{}", unit.name);
        ops.push(write(&path, unit.content.clone(), 0o644));
        if unit.enable {
            ops.extend(units::enable(&unit.name, &path, &unit.content));
        }
    }

    if !node.boot.cmdline.is_empty() {
        ops.push(FileOp::Cmdline {
            set: node.boot.cmdline.clone(),
            remove: vec![],
        });
    }
    if !node.boot.config.is_empty() {
        ops.push(FileOp::ConfigTxt {
            section: "all".into(),
            lines: node.boot.config.clone(),
        });
    }
    Ok(ops)
}

const DOCKER_TLS: &str = "/etc/docker/tls";

/// Docker on TCP: `hosts` in daemon.json (so the unit's own `-H fd://` must go, by a drop-in
/// that keeps the rest of the base's ExecStart), and unless plaintext was insisted on, TLS
/// with the cluster CA: clients need a certificate the same CA signed.
fn docker_tcp(
    node: &NodeSpec,
    tcp: &crate::inventory::DockerTcp,
    facts: &Facts,
    secret: &ClusterSecret,
    epoch: Epoch,
    daemon: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<FileOp>> {
    let mut ops = Vec::new();
    let port = tcp
        .port
        .unwrap_or(if tcp.insecure_plaintext { 2375 } else { 2376 });
    daemon.insert(
        "hosts".into(),
        json!(["fd://", format!("tcp://0.0.0.0:{port}")]),
    );
    if !tcp.insecure_plaintext {
        let ca = crate::pki::ClusterCa::new(secret, epoch)?;
        let server = ca.server(&node.name, node.address.as_ref().map(|a| a.address))?;
        let file = |name: &str, content: String, mode: u32| FileOp::Write {
            fs: Target::Root,
            path: format!("{DOCKER_TLS}/{name}"),
            content: Content::Text(content),
            mode: Some(Mode(mode)),
            owner: Some(Owner { uid: 0, gid: 0 }),
        };
        ops.push(FileOp::Mkdir {
            fs: Target::Root,
            path: DOCKER_TLS.into(),
            mode: Some(Mode(0o700)),
            owner: None,
        });
        ops.push(file("ca.pem", ca.cert_pem()?, 0o644));
        ops.push(file("server-cert.pem", server.cert_pem, 0o644));
        ops.push(file("server-key.pem", server.key_pem, 0o600));
        daemon.insert("tls".into(), json!(true));
        daemon.insert("tlsverify".into(), json!(true));
        daemon.insert("tlscacert".into(), json!(format!("{DOCKER_TLS}/ca.pem")));
        daemon.insert(
            "tlscert".into(),
            json!(format!("{DOCKER_TLS}/server-cert.pem")),
        );
        daemon.insert(
            "tlskey".into(),
            json!(format!("{DOCKER_TLS}/server-key.pem")),
        );
    }
    let (_, _, unit) = facts.unit("docker.service").ok_or_else(|| Error::Invalid {
        what: format!("node {}", node.name),
        detail: "docker.service is not installed in the base image".into(),
    })?;
    let exec = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .unwrap_or("/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock");
    ops.push(FileOp::Write {
        fs: Target::Root,
        path: "/etc/systemd/system/docker.service.d/50-piimage-hosts.conf".into(),
        content: Content::Text(format!(
            "# Written by piimage: daemon.json sets the hosts, so the unit must not (-H fd://).\n[Service]\nExecStart=\nExecStart={}\n",
            without_host_flags(exec)
        )),
        mode: Some(Mode(0o644)),
        owner: None,
    });
    Ok(ops)
}

/// A dockerd command line without its `-H`/`--host` arguments.
fn without_host_flags(exec: &str) -> String {
    let mut out = Vec::new();
    let mut words = exec.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "-H" | "--host" => {
                words.next();
            }
            w if w.starts_with("-H=")
                || w.starts_with("--host=")
                || (w.starts_with("-H") && w.len() > 2) => {}
            w => out.push(w),
        }
    }
    out.join(" ")
}

/// The node's own host key (from the cluster secret), every node's public key as trusted
/// hosts, and nothing left that would make keys at first boot or share them between nodes.
fn host_keys(cluster: &[NodeSpec], node: &NodeSpec, secret: &ClusterSecret) -> Result<Vec<FileOp>> {
    let mut ops = Vec::new();
    // Keys a base might carry would be the same on every node: they go.
    for kind in ["rsa", "ecdsa", "dsa"] {
        for suffix in ["", ".pub"] {
            ops.push(FileOp::Remove {
                fs: Target::Root,
                path: format!("/etc/ssh/ssh_host_{kind}_key{suffix}"),
            });
        }
    }
    // Raspberry Pi OS regenerates host keys on first boot unless this unit is off.
    ops.push(FileOp::Remove {
        fs: Target::Root,
        path: "/etc/systemd/system/multi-user.target.wants/regenerate_ssh_host_keys.service".into(),
    });
    let own = secret.host_key(&node.name)?;
    let file = |path: &str, content: String, mode: u32| FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content),
        mode: Some(Mode(mode)),
        owner: Some(Owner { uid: 0, gid: 0 }),
    };
    ops.push(file(
        "/etc/ssh/ssh_host_ed25519_key",
        own.private_openssh,
        0o600,
    ));
    ops.push(file(
        "/etc/ssh/ssh_host_ed25519_key.pub",
        format!("{}\n", own.public_openssh),
        0o644,
    ));
    ops.push(file(
        "/etc/ssh/ssh_known_hosts",
        known_hosts(cluster, secret)?,
        0o644,
    ));
    Ok(ops)
}

/// `known_hosts` lines for every node: its name and address, and its host key.
pub fn known_hosts(cluster: &[NodeSpec], secret: &ClusterSecret) -> Result<String> {
    let mut out = String::new();
    for peer in cluster {
        let key = secret.host_key(&peer.name)?;
        let names = match &peer.address {
            Some(a) => format!("{},{}", peer.name, a.address),
            None => peer.name.clone(),
        };
        let public = key
            .public_openssh
            .rsplit_once(' ')
            .map_or(key.public_openssh.as_str(), |(k, _)| k);
        out.push_str(&format!("{names} {public}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_flags_leave_the_command_line() {
        assert_eq!(
            super::without_host_flags("/usr/sbin/dockerd -H fd:// $DOCKER_OPTS --containerd=/run/containerd/containerd.sock"),
            "/usr/sbin/dockerd $DOCKER_OPTS --containerd=/run/containerd/containerd.sock"
        );
        assert_eq!(
            super::without_host_flags("/usr/bin/dockerd --host=fd:// -Hunix:///x"),
            "/usr/bin/dockerd"
        );
    }
}

fn shadow_gid(group: &str) -> u32 {
    group
        .lines()
        .find_map(|l| l.strip_prefix("shadow:x:"))
        .and_then(|rest| rest.split(':').next()?.parse().ok())
        .unwrap_or(0)
}

fn enable(facts: &Facts, unit: &str, node: &str) -> Result<Vec<FileOp>> {
    let (name, path, body) = facts.unit(unit).ok_or_else(|| Error::Invalid {
        what: format!("node {node}"),
        detail: format!("{unit} is not installed in the base image, so it cannot be enabled (choose a base that has it)"),
    })?;
    // The path as the running system sees it: /usr/lib and /lib are one on merged-/usr.
    Ok(units::enable(name, path, body))
}

fn network(
    t: &Templates,
    flavour: &Flavour,
    node: &NodeSpec,
    net: &StaticAddress,
    facts: &Facts,
) -> Result<Vec<FileOp>> {
    let ctx = json!({ "node": node, "net": net, "connection_uuid": connection_uuid(&node.name, &net.interface) });
    let root = |path: &str, content: String, mode: u32| FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content),
        mode: Some(Mode(mode)),
        owner: None,
    };
    let boot = |path: &str, content: String| FileOp::Write {
        fs: Target::Boot,
        path: path.into(),
        content: Content::Text(content),
        mode: None,
        owner: None,
    };
    Ok(match flavour.network {
        NetworkStack::Dhcpcd => vec![FileOp::Append {
            fs: Target::Root,
            path: "/etc/dhcpcd.conf".into(),
            content: Content::Text(t.render("network/dhcpcd/static.conf", &ctx)?),
        }],
        NetworkStack::NetworkManager => vec![root(
            &format!(
                "/etc/NetworkManager/system-connections/{}.nmconnection",
                net.interface
            ),
            t.render("network/networkmanager/static.nmconnection", &ctx)?,
            0o600,
        )],
        NetworkStack::CloudInit => vec![
            boot(
                "/network-config",
                t.render("network/netplan/network-config", &ctx)?,
            ),
            boot("/meta-data", t.render("network/netplan/meta-data", &ctx)?),
        ],
        NetworkStack::Ifupdown => vec![root(
            &format!("/etc/network/interfaces.d/{}", net.interface),
            t.render("network/ifupdown/static", &ctx)?,
            0o644,
        )],
        NetworkStack::Networkd => {
            let mut ops = vec![root(
                &format!("/etc/systemd/network/10-piimage-{}.network", net.interface),
                t.render("network/networkd/static.network", &ctx)?,
                0o644,
            )];
            ops.extend(enable(facts, "systemd-networkd.service", &node.name)?);
            ops
        }
    })
}

/// cloud-init's `user-data`: the base's, with this node's hostname, cloud-init told to leave
/// /etc/hosts alone (bake writes it for the whole cluster), and no accounts of its own: bake
/// makes the inventory's users, and a flavour's stock user (HypriotOS's `pirate`, password
/// `hypriot`) must not come back at first boot. Password login follows the inventory.
fn cloud_init_user_data(node: &NodeSpec, facts: &Facts) -> Result<Vec<FileOp>> {
    let mut doc: serde_yaml_ng::Mapping = match &facts.user_data {
        Some(text) => serde_yaml_ng::from_str(text).unwrap_or_default(),
        None => serde_yaml_ng::Mapping::new(),
    };
    doc.insert("hostname".into(), node.name.clone().into());
    doc.insert("manage_etc_hosts".into(), false.into());
    for key in ["user", "password", "chpasswd"] {
        doc.remove(key);
    }
    doc.insert("users".into(), serde_yaml_ng::Value::Sequence(vec![]));
    doc.insert("ssh_pwauth".into(), node.password_authentication.into());
    // Bake provides the host keys: cloud-init must neither delete nor make any.
    doc.insert("ssh_deletekeys".into(), false.into());
    doc.insert(
        "ssh_genkeytypes".into(),
        serde_yaml_ng::Value::Sequence(vec![]),
    );
    let body = serde_yaml_ng::to_string(&doc).map_err(|e| Error::Invalid {
        what: "cloud-init user-data".into(),
        detail: e.to_string(),
    })?;
    Ok(vec![FileOp::Write {
        fs: Target::Boot,
        path: "/user-data".into(),
        content: Content::Text(format!("#cloud-config\n{body}")),
        mode: None,
        owner: None,
    }])
}

/// A NetworkManager connection UUID that is the same for the same node and interface.
fn connection_uuid(node: &str, interface: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"piimage-nm\0")
        .chain_update(node)
        .chain_update(b"\0")
        .chain_update(interface)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
