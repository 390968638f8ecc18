//! The static address, written the way each flavour reads it (overlays/network/):
//!
//! | flavour | file | template |
//! |---|---|---|
//! | Raspberry Pi OS bullseye | appended to `/etc/dhcpcd.conf` | `dhcpcd/static.conf` |
//! | Raspberry Pi OS bookworm | `/etc/NetworkManager/system-connections/IFACE.nmconnection`, 0600 | `networkmanager/static.nmconnection` |
//! | Raspberry Pi OS trixie, HypriotOS | cloud-init `network-config` and `meta-data` on the boot partition | `netplan/` |
//! | Debian with ifupdown | `/etc/network/interfaces.d/IFACE` | `ifupdown/static` |
//! | built-in base, Debian with networkd | `/etc/systemd/network/10-piimage-IFACE.network`, networkd enabled | `networkd/static.network` |

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::Result;
use crate::fileop::{Content, FileOp, Target};
use crate::flavour::NetworkStack;

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let Some(net) = &cx.node.address else {
        return Ok(Vec::new());
    };
    let node = cx.node;
    let t = &cx.templates;
    let ctx = json!({ "node": node, "net": net, "connection_uuid": connection_uuid(&node.name, &net.interface) });
    let boot = |path: &str, content: String| FileOp::Write {
        fs: Target::Boot,
        path: path.into(),
        content: Content::Text(content),
        mode: None,
        owner: None,
    };
    Ok(match cx.flavour.network {
        NetworkStack::Dhcpcd => vec![FileOp::Append {
            fs: Target::Root,
            path: "/etc/dhcpcd.conf".into(),
            content: Content::Text(t.render("network/dhcpcd/static.conf", &ctx)?),
        }],
        NetworkStack::NetworkManager => vec![root_file(
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
        NetworkStack::Ifupdown => vec![root_file(
            &format!("/etc/network/interfaces.d/{}", net.interface),
            t.render("network/ifupdown/static", &ctx)?,
            0o644,
        )],
        NetworkStack::Networkd => {
            let mut ops = vec![root_file(
                &format!("/etc/systemd/network/10-piimage-{}.network", net.interface),
                t.render("network/networkd/static.network", &ctx)?,
                0o644,
            )];
            ops.extend(enable_installed(cx, "systemd-networkd.service")?);
            ops
        }
    })
}

/// A NetworkManager connection UUID that is the same for the same node and interface: a
/// name-based (version 5) UUID in piimage's own namespace.
fn connection_uuid(node: &str, interface: &str) -> String {
    let namespace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"piimage networkmanager");
    uuid::Uuid::new_v5(&namespace, format!("{node}\0{interface}").as_bytes()).to_string()
}
