//! GlusterFS: glusterd enabled on every node of the pool, the bricks' folder made, and on the first of them (in the
//! inventory's order) a service that probes the others at boot until all are in the pool
//! (overlays/gluster/). Each node's glusterd makes its own identity at first start (the base
//! must not carry `/var/lib/glusterd/glusterd.info`, or every node would be the same peer).

use serde_json::json;

use super::{enable_installed, root_file, units, Context};
use crate::error::{Error, Result};
use crate::fileop::{FileOp, Mode, Target};

const SCRIPT: &str = "/usr/local/sbin/piimage-gluster-peers";
const UNIT: &str = "piimage-gluster-peers.service";

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let peers = &cx.node.gluster_peers;
    if peers.is_empty() {
        return Ok(Vec::new());
    }
    if cx.facts.has_glusterd_identity {
        return Err(Error::Invalid {
            what: format!("node {}", cx.node.name),
            detail: "the base image carries /var/lib/glusterd/glusterd.info, so every node would have the same GlusterFS identity and the pool could not form (use a base without it)".into(),
        });
    }
    let mut ops = enable_installed(cx, "glusterd.service")?;
    if let Some(bricks) = &cx.node.gluster_bricks {
        ops.push(FileOp::Mkdir {
            fs: Target::Root,
            path: bricks.clone(),
            mode: Some(Mode(0o755)),
            owner: None,
        });
    }
    if peers.first() != Some(&cx.node.name) {
        return Ok(ops);
    }
    let others: Vec<&String> = peers.iter().filter(|p| **p != cx.node.name).collect();
    let context = json!({ "node": cx.node.name, "peers": others });
    let t = &cx.templates;
    ops.push(root_file(
        SCRIPT,
        t.render("gluster/piimage-gluster-peers", context.clone())?,
        0o755,
    ));
    let unit = t.render("gluster/piimage-gluster-peers.service", context)?;
    let path = format!("/etc/systemd/system/{UNIT}");
    ops.push(root_file(&path, unit.clone(), 0o644));
    ops.extend(units::enable(UNIT, &path, &unit));
    Ok(ops)
}
