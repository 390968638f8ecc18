//! The boot partition's `cmdline.txt` and `config.txt` settings (the `[all]` section),
//! wherever the flavour mounts the partition.

use super::Context;
use crate::fileop::FileOp;

pub(super) fn ops(cx: &Context) -> Vec<FileOp> {
    let boot = &cx.node.boot;
    let mut ops = Vec::new();
    if !boot.cmdline.is_empty() {
        ops.push(FileOp::Cmdline {
            set: boot.cmdline.clone(),
            remove: vec![],
        });
    }
    if !boot.config.is_empty() {
        ops.push(FileOp::ConfigTxt {
            section: "all".into(),
            lines: boot.config.clone(),
        });
    }
    ops
}
