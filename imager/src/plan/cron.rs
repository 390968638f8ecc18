//! cron: the node's jobs in one `/etc/cron.d/piimage` (overlays/cron/cron.d), the same on
//! every flavour; cron enabled.

use serde_json::json;

use super::{enable_installed, root_file, Context};
use crate::error::Result;
use crate::fileop::FileOp;

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    if cx.node.cron.is_empty() {
        return Ok(Vec::new());
    }
    let mut ops = vec![root_file(
        "/etc/cron.d/piimage",
        cx.templates.render(
            "cron/cron.d",
            json!({ "node": cx.node, "jobs": cx.node.cron }),
        )?,
        0o644,
    )];
    ops.extend(enable_installed(cx, "cron.service")?);
    Ok(ops)
}
