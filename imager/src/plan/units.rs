//! systemd units: the inventory's own (`units:`, written to `/etc/systemd/system/`), units of
//! the base turned on or off, and `systemctl enable`/`disable` without systemd: the symlinks
//! a unit's `[Install]` section asks for.

use super::{root_file, Context};
use crate::error::{Error, Result};
use crate::fileop::{FileOp, Target};

/// The inventory's units: written and enabled when asked, or (without content) the base's
/// own unit enabled or disabled.
pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let mut ops = Vec::new();
    for unit in &cx.node.units {
        let Some(content) = &unit.content else {
            if unit.enable {
                ops.extend(super::enable_installed(cx, &unit.name)?);
            } else {
                let (name, _, body) = cx.facts.unit(&unit.name).ok_or_else(|| Error::Invalid {
                    what: format!("node {}", cx.node.name),
                    detail: format!(
                        "{} is not installed in the base image, so it cannot be disabled (give its content to add it)",
                        unit.name
                    ),
                })?;
                ops.extend(disable(cx, name, body));
            }
            continue;
        };
        let path = format!("/etc/systemd/system/{}", unit.name);
        ops.push(root_file(&path, content.clone(), 0o644));
        if unit.enable {
            ops.extend(enable(&unit.name, &path, content));
        }
    }
    Ok(ops)
}

/// The `key=value` pairs of a unit's `[Install]` section, one per value.
fn install_entries(unit_text: &str) -> Vec<(&str, &str)> {
    let mut entries = Vec::new();
    let mut in_install = false;
    for line in unit_text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            entries.extend(value.split_whitespace().map(|v| (key.trim(), v)));
        }
    }
    entries
}

/// The units `systemctl enable`/`disable` of this one also acts on (`Also=`).
pub fn also(unit_text: &str) -> Vec<String> {
    install_entries(unit_text)
        .into_iter()
        .filter(|(key, _)| *key == "Also")
        .map(|(_, v)| v.to_string())
        .collect()
}

/// The links `[Install]` asks for, as `/etc/systemd/system/…` paths.
fn link_paths(unit: &str, unit_text: &str) -> Vec<String> {
    install_entries(unit_text)
        .into_iter()
        .filter_map(|(key, target)| match key {
            "WantedBy" => Some(format!("/etc/systemd/system/{target}.wants/{unit}")),
            "RequiredBy" => Some(format!("/etc/systemd/system/{target}.requires/{unit}")),
            "Alias" => Some(format!("/etc/systemd/system/{target}")),
            _ => None,
        })
        .collect()
}

/// The enable links for `unit` whose file is at `unit_path` (as the running system sees it).
pub fn enable(unit: &str, unit_path: &str, unit_text: &str) -> Vec<FileOp> {
    link_paths(unit, unit_text)
        .into_iter()
        .map(|path| FileOp::Symlink {
            fs: Target::Root,
            path,
            target: unit_path.to_string(),
            owner: None,
        })
        .collect()
}

/// `systemctl disable`: the links of `unit` and of its `Also=` units go (a link that is not
/// there is no error).
fn disable(cx: &Context, unit: &str, unit_text: &str) -> Vec<FileOp> {
    let mut paths = link_paths(unit, unit_text);
    for other in also(unit_text) {
        if let Some((name, _, body)) = cx.facts.unit(&other) {
            paths.extend(link_paths(name, body));
        }
    }
    paths
        .into_iter()
        .map(|path| FileOp::Remove {
            fs: Target::Root,
            path,
        })
        .collect()
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

    #[test]
    fn also_names_the_units_disabled_with_this_one() {
        let unit = "[Service]\nExecStart=/x\n[Install]\nWantedBy=multi-user.target\nAlso=docker.socket x.path\n";
        assert_eq!(super::also(unit), ["docker.socket", "x.path"]);
        assert!(super::also("[Service]\nAlso=not.install\n").is_empty());
    }
}
