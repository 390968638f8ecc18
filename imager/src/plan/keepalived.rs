//! keepalived: `/etc/keepalived/keepalived.conf` (overlays/keepalived/keepalived.conf), one
//! VRRP instance holding the shared address, every node a BACKUP so that the priorities alone
//! decide who holds it (and, with `nopreempt`, whether it moves back). keepalived enabled.

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::Result;
use crate::fileop::FileOp;

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let Some(vrrp) = &cx.node.keepalived else {
        return Ok(Vec::new());
    };
    let mut ops = vec![root_file(
        "/etc/keepalived/keepalived.conf",
        cx.templates.render(
            "keepalived/keepalived.conf",
            json!({ "node": cx.node.name, "vrrp": vrrp }),
        )?,
        0o644,
    )];
    ops.extend(enable_installed(cx, "keepalived.service")?);
    Ok(ops)
}
