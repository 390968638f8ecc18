//! The plan: `Flavour × NodeSpec × overlays/ → Vec<FileOp>`. Pure: everything it needs from
//! the base image arrives as `Facts`, read once by `Facts::read`, so a plan can be printed,
//! snapshot-tested and applied without surprises.
//!
//! One module per feature, each beside its templates in `overlays/` (same names): where a
//! feature lands on each OS is decided in that module alone, from the flavour's facts.

mod accounts;
mod boot;
mod cloud_init;
mod cron;
mod docker;
mod facts;
mod fail2ban;
mod files;
mod gluster;
mod hostname;
mod keepalived;
mod network;
mod packages;
mod ssh;
mod templates;
mod units;
mod users;

pub use accounts::{Account, Accounts};
pub use facts::Facts;
pub use packages::{DIR as PACKAGES_DIR, STAMP as PACKAGES_STAMP};
pub use ssh::known_hosts;
pub use templates::Templates;

use crate::error::{Error, Result};
use crate::fileop::{Content, FileOp, Mode, Target};
use crate::flavour::{Flavour, NetworkStack};
use crate::inventory::NodeSpec;
use crate::secret::ClusterSecret;
use crate::Epoch;

/// What every feature reads: the node, its cluster, the base, and the templates.
struct Context<'a> {
    cluster: &'a [NodeSpec],
    node: &'a NodeSpec,
    facts: &'a Facts,
    flavour: Flavour,
    epoch: Epoch,
    secret: &'a ClusterSecret,
    templates: Templates,
}

/// The file operations that make `node` out of the base described by `facts`, feature by
/// feature in a fixed order (the order is part of what makes two bakes byte-identical).
pub fn plan(
    cluster: &[NodeSpec],
    node: &NodeSpec,
    facts: &Facts,
    epoch: Epoch,
    secret: &ClusterSecret,
) -> Result<Vec<FileOp>> {
    let cx = Context {
        cluster,
        node,
        facts,
        flavour: facts
            .flavour
            .clone()
            .ok_or(Error::NoSuchFilesystem("ext4 root"))?,
        epoch,
        secret,
        templates: Templates::new(),
    };
    let mut ops = hostname::ops(&cx)?;
    ops.extend(network::ops(&cx)?);
    if cx.flavour.network == NetworkStack::CloudInit {
        ops.extend(cloud_init::user_data(&cx)?);
    }
    let (user_ops, accounts) = users::ops(&cx)?;
    ops.extend(user_ops);
    ops.extend(ssh::ops(&cx)?);
    ops.extend(docker::ops(&cx)?);
    ops.extend(fail2ban::ops(&cx)?);
    ops.extend(keepalived::ops(&cx)?);
    ops.extend(gluster::ops(&cx)?);
    ops.extend(cron::ops(&cx)?);
    ops.extend(files::ops(&cx, &accounts)?);
    ops.extend(units::ops(&cx)?);
    ops.extend(packages::ops(&cx)?);
    ops.extend(boot::ops(&cx));
    Ok(ops)
}

/// A file of the root filesystem, owned as the base's default (root) unless given.
fn root_file(path: &str, content: String, mode: u32) -> FileOp {
    FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content),
        mode: Some(Mode(mode)),
        owner: None,
    }
}

/// The enable links of one of the base's own units (`systemctl enable`), or an error naming
/// the node when the base does not have the unit.
fn enable_installed(cx: &Context, unit: &str) -> Result<Vec<FileOp>> {
    let (name, path, body) = cx.facts.unit(unit).ok_or_else(|| Error::Invalid {
        what: format!("node {}", cx.node.name),
        detail: not_installed(unit, "enabled"),
    })?;
    // The path as the running system sees it: /usr/lib and /lib are one on merged-/usr.
    Ok(units::enable(name, path, body))
}

/// Why a unit the node needs is missing, and the package that brings it.
fn not_installed(unit: &str, done: &str) -> String {
    let package = match unit {
        "docker.service" | "docker.socket" => Some("docker.io"),
        "fail2ban.service" => Some("fail2ban"),
        "keepalived.service" => Some("keepalived"),
        "glusterd.service" => Some("glusterfs-server"),
        _ => None,
    };
    match package {
        Some(p) => format!("{unit} is not installed in the base image, so it cannot be {done}: add `{p}` to `packages:` (installed on the card at first boot), or choose a base that has it"),
        None => format!("{unit} is not installed in the base image, so it cannot be {done} (add the package that ships it to `packages:`, or choose a base that has it)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavour::{Evidence, FlavourId};
    use crate::inventory::Inventory;

    fn node(base: &str) -> NodeSpec {
        node_with(base, "")
    }

    /// Node p1 of an inventory on `base`, with `settings` (`, key: value`) after its address.
    fn node_with(base: &str, settings: &str) -> NodeSpec {
        let text = format!("base: {base}\nnodes:\n  p1: {{ address: 10.0.0.1/24{settings} }}\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.img"), b"").unwrap();
        let inv = Inventory::parse(&dir.path().join("lab.yaml"), &text).unwrap();
        inv.nodes[0].clone()
    }

    fn trixie_facts(user_data: &str) -> Facts {
        let evidence = Evidence {
            os_release: Some("ID=debian\nVERSION_CODENAME=trixie\n".into()),
            has_rpi_issue: true,
            ..Evidence::default()
        };
        let flavour = crate::flavour::detect(&evidence);
        assert_eq!(flavour.id, FlavourId::RaspiosTrixie);
        Facts {
            flavour: Some(flavour),
            user_data: Some(user_data.into()),
            ..Facts::default()
        }
    }

    #[test]
    fn a_base_user_data_that_does_not_parse_is_named_not_dropped() {
        let node = node("./base.img");
        let secret = ClusterSecret::from_bytes([1; 32]);
        let err = plan(
            std::slice::from_ref(&node),
            &node,
            &trixie_facts("#cloud-config\nusers: [\n"),
            Epoch(0),
            &secret,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "the base image's boot partition: /user-data: not YAML cloud-init can read"
            ),
            "{err}"
        );
        let err = plan(
            std::slice::from_ref(&node),
            &node,
            &trixie_facts("#cloud-config\n- a list\n"),
            Epoch(0),
            &secret,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a cloud-config must be a mapping"), "{err}");
        // Only the marker comment: an empty cloud-config, which bake fills in.
        let ops = plan(
            std::slice::from_ref(&node),
            &node,
            &trixie_facts("#cloud-config\n"),
            Epoch(0),
            &secret,
        );
        assert!(
            !matches!(&ops, Err(Error::Invalid { what, .. }) if what.contains("user-data")),
            "{ops:?}"
        );
    }

    #[test]
    fn a_base_unit_is_disabled_with_its_also_units_and_an_absent_one_is_named() {
        let node = node_with(
            "./base.img",
            ", units: [{ name: docker.service, enable: false }, { name: cron.service }]",
        );
        let mut facts = trixie_facts("#cloud-config\n");
        let unit = |name: &str, install: &str| {
            (
                name.to_string(),
                format!("/lib/systemd/system/{name}"),
                format!("[Service]\nExecStart=/x\n[Install]\n{install}\n"),
            )
        };
        facts.units = vec![
            unit(
                "docker.service",
                "WantedBy=multi-user.target\nAlso=docker.socket",
            ),
            unit("docker.socket", "WantedBy=sockets.target"),
            unit("cron.service", "WantedBy=multi-user.target"),
            unit("ssh.service", "WantedBy=multi-user.target"),
        ];
        let secret = ClusterSecret::from_bytes([1; 32]);
        let plan_on =
            |facts: &Facts| plan(std::slice::from_ref(&node), &node, facts, Epoch(0), &secret);
        let ops = plan_on(&facts).unwrap();
        let removed: Vec<&str> = ops
            .iter()
            .filter(|o| matches!(o, FileOp::Remove { .. }))
            .map(FileOp::path)
            .collect();
        for link in [
            "/etc/systemd/system/multi-user.target.wants/docker.service",
            "/etc/systemd/system/sockets.target.wants/docker.socket",
        ] {
            assert!(removed.contains(&link), "{link} stays: {removed:?}");
        }
        assert!(ops
            .iter()
            .any(|o| matches!(o, FileOp::Symlink { path, target, .. }
            if path == "/etc/systemd/system/multi-user.target.wants/cron.service"
                && target == "/lib/systemd/system/cron.service")));

        facts.units.retain(|(n, _, _)| n != "cron.service");
        let err = plan_on(&facts).unwrap_err().to_string();
        assert!(
            err.contains("node p1")
                && err.contains("cron.service is not installed in the base image"),
            "{err}"
        );
    }

    #[test]
    fn docker_keeps_fd_only_where_a_socket_unit_hands_one_over() {
        let node = node_with(
            "./base.img",
            ", docker: { tcp: { port: 2375, insecure_plaintext: true } }",
        );
        let secret = ClusterSecret::from_bytes([1; 32]);
        let unit = |name: &str, body: &str| {
            (
                name.to_string(),
                format!("/lib/systemd/system/{name}"),
                body.to_string(),
            )
        };
        let mut facts = trixie_facts("#cloud-config\n");
        facts.units = vec![
            unit(
                "docker.service",
                "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n[Install]\nWantedBy=multi-user.target\n",
            ),
            unit("docker.socket", "[Socket]\nListenStream=/run/docker.sock\n[Install]\nWantedBy=sockets.target\n"),
            unit("ssh.service", "[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\n"),
        ];
        let hosts = |facts: &Facts| -> serde_json::Value {
            let ops = plan(std::slice::from_ref(&node), &node, facts, Epoch(0), &secret).unwrap();
            let daemon = ops
                .iter()
                .find_map(|o| match o {
                    FileOp::Write {
                        path,
                        content: crate::fileop::Content::Text(t),
                        ..
                    } if path == "/etc/docker/daemon.json" => Some(t.clone()),
                    _ => None,
                })
                .unwrap();
            serde_json::from_str::<serde_json::Value>(&daemon).unwrap()["hosts"].clone()
        };
        assert_eq!(
            hosts(&facts),
            serde_json::json!(["fd://", "tcp://0.0.0.0:2375"])
        );
        facts.units.retain(|(n, _, _)| n != "docker.socket");
        assert_eq!(
            hosts(&facts),
            serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"])
        );
    }
}
