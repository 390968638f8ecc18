//! systemd units: the inventory's own (`units:`, written to `/etc/systemd/system/`), and
//! `systemctl enable` without systemd: the symlinks a unit's `[Install]` section asks for.

use super::{root_file, Context};
use crate::fileop::{FileOp, Target};

/// The inventory's units, each enabled when asked.
pub(super) fn ops(cx: &Context) -> Vec<FileOp> {
    let mut ops = Vec::new();
    for unit in &cx.node.units {
        let path = format!("/etc/systemd/system/{}", unit.name);
        ops.push(root_file(&path, unit.content.clone(), 0o644));
        if unit.enable {
            ops.extend(enable(&unit.name, &path, &unit.content));
        }
    }
    ops
}

/// The enable links for `unit` whose file is at `unit_path` (as the running system sees it).
pub fn enable(unit: &str, unit_path: &str, unit_text: &str) -> Vec<FileOp> {
    let mut ops = Vec::new();
    let mut in_install = false;
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        for target in value.split_whitespace() {
            let path = match key.trim() {
                "WantedBy" => format!("/etc/systemd/system/{target}.wants/{unit}"),
                "RequiredBy" => format!("/etc/systemd/system/{target}.requires/{unit}"),
                "Alias" => format!("/etc/systemd/system/{target}"),
                _ => continue,
            };
            ops.push(FileOp::Symlink {
                fs: Target::Root,
                path,
                target: unit_path.to_string(),
                owner: None,
            });
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_follow_the_install_section() {
        let unit = "[Unit]\nDescription=x\n[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n";
        let paths: Vec<String> =
            super::enable("ssh.service", "/lib/systemd/system/ssh.service", unit)
                .iter()
                .map(|o| o.path().to_string())
                .collect();
        assert_eq!(
            paths,
            [
                "/etc/systemd/system/multi-user.target.wants/ssh.service",
                "/etc/systemd/system/sshd.service"
            ]
        );
    }
}
