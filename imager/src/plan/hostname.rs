//! The hostname, on every flavour `/etc/hostname` (overlays/hostname/hostname), and every
//! node of the cluster in `/etc/hosts` (overlays/hostname/hosts). Where cloud-init runs
//! (trixie, HypriotOS) it would set the name again at first boot: `user-data` gets the same
//! `hostname:` and `manage_etc_hosts: false` (cloud_init.rs).

use serde::Serialize;
use serde_json::json;

use super::{root_file, Context};
use crate::error::Result;
use crate::fileop::FileOp;

#[derive(Serialize)]
struct Peer<'a> {
    name: &'a str,
    address: Option<String>,
}

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let peers: Vec<Peer> = cx
        .cluster
        .iter()
        .map(|n| Peer {
            name: &n.name,
            address: n.address.as_ref().map(|a| a.address.to_string()),
        })
        .collect();
    let t = &cx.templates;
    Ok(vec![
        root_file(
            "/etc/hostname",
            t.render("hostname/hostname", json!({ "node": cx.node }))?,
            0o644,
        ),
        root_file(
            "/etc/hosts",
            t.render(
                "hostname/hosts",
                json!({ "node": cx.node, "cluster": peers }),
            )?,
            0o644,
        ),
    ])
}
