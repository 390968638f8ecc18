//! sshd: a drop-in (overlays/ssh/sshd.conf) for password login, the node's own Ed25519 host
//! key from the cluster secret, every node's key as a trusted host, and ssh enabled. Keys a
//! base carries (the same on every card) are removed, and first-boot key regeneration is
//! switched off where the flavour has it: Raspberry Pi OS's `regenerate_ssh_host_keys` unit
//! and the helper its firstboot runs here; cloud-init's `ssh_deletekeys`/`ssh_genkeytypes`
//! in cloud_init.rs.

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::Result;
use crate::fileop::{Content, FileOp, Mode, Owner, Target};
use crate::first_boot;
use crate::inventory::NodeSpec;
use crate::secret::ClusterSecret;

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let mut ops = vec![root_file(
        "/etc/ssh/sshd_config.d/50-piimage.conf",
        cx.templates.render(
            "ssh/sshd.conf",
            json!({ "password_authentication": cx.node.password_authentication }),
        )?,
        0o644,
    )];
    ops.extend(host_keys(cx.cluster, cx.node, cx.secret)?);
    ops.extend(keep_keys_at_first_boot(cx)?);
    ops.extend(enable_installed(cx, "ssh.service")?);
    Ok(ops)
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
        path: first_boot::KEY_UNIT_LINK.into(),
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

/// Raspberry Pi OS's firstboot (init= on cmdline.txt) runs the key helper by path, whatever
/// the unit's link says, and it has no switch to keep keys. So only that step goes: the
/// package's helper is diverted (dpkg-divert, so an upgrade puts the package's copy beside
/// it, not over it) and ours keeps the baked keys; firstboot's root resize, disk
/// identifier and custom.toml stay.
fn keep_keys_at_first_boot(cx: &Context) -> Result<Vec<FileOp>> {
    let first = &cx.facts.first_boot;
    let Some(package_helper) = &first.key_helper else {
        return Ok(Vec::new());
    };
    let executable = |path: &str, content: String| FileOp::Write {
        fs: Target::Root,
        path: path.into(),
        content: Content::Text(content),
        mode: Some(Mode(0o755)),
        owner: Some(Owner { uid: 0, gid: 0 }),
    };
    let mut ops = Vec::new();
    if !first.key_helper_diverted {
        ops.push(executable(
            first_boot::KEY_HELPER_DISTRIB,
            package_helper.clone(),
        ));
        ops.push(FileOp::Append {
            fs: Target::Root,
            path: first_boot::DIVERSIONS.into(),
            content: Content::Text(format!(
                "{}\n{}\n:\n",
                first_boot::KEY_HELPER,
                first_boot::KEY_HELPER_DISTRIB
            )),
        });
    }
    ops.push(executable(
        first_boot::KEY_HELPER,
        cx.templates.render(
            "ssh/regenerate_ssh_host_keys",
            json!({ "distrib": first_boot::KEY_HELPER_DISTRIB }),
        )?,
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
