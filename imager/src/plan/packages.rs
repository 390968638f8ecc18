//! `packages:` on the card: the `.deb`s apt chose (packages/) carried in
//! /var/cache/piimage/packages with their SHA-256, and a first-boot unit that installs them
//! with dpkg, once, offline (overlays/packages/). Installing on the card rather than
//! unpacking at bake: maintainer scripts (users, groups, alternatives, triggers, enabling
//! units) are programs for the card's architecture and need its running system; bake edits
//! images in user space and runs nothing of theirs. What bake must know before then (the
//! units to configure, the groups users join) it reads out of the `.deb`s.

use serde_json::json;

use super::{root_file, units, Context};
use crate::error::Result;
use crate::fileop::{Content, FileOp, Mode, Target};

pub const DIR: &str = "/var/cache/piimage/packages";
pub const STAMP: &str = "/var/lib/piimage/packages-installed";
const SCRIPT: &str = "/usr/local/sbin/piimage-install-packages";
pub const UNIT: &str = "piimage-packages.service";

pub(super) fn ops(cx: &Context) -> Result<Vec<FileOp>> {
    let Some(resolution) = &cx.facts.packages else {
        return Ok(Vec::new());
    };
    if resolution.debs.is_empty() {
        return Ok(Vec::new());
    }
    let mut ops = vec![FileOp::Mkdir {
        fs: Target::Root,
        path: DIR.into(),
        mode: Some(Mode(0o755)),
        owner: None,
    }];
    let mut sums = String::new();
    for deb in &resolution.debs {
        let file = deb.file_name();
        sums.push_str(&format!("{}  {file}\n", deb.sha256));
        ops.push(FileOp::Write {
            fs: Target::Root,
            path: format!("{DIR}/{file}"),
            content: Content::HostFile {
                host_file: deb.file.clone(),
                sha256: deb.sha256.clone(),
            },
            mode: Some(Mode(0o644)),
            owner: None,
        });
    }
    ops.push(root_file(&format!("{DIR}/SHA256SUMS"), sums, 0o644));
    let shipped: Vec<&str> = resolution
        .debs
        .iter()
        .flat_map(|d| d.units.iter().map(|u| u.name.as_str()))
        .collect();
    let disabled: Vec<&str> = cx
        .node
        .units
        .iter()
        .filter(|u| !u.enable && u.content.is_none() && shipped.contains(&u.name.as_str()))
        .map(|u| u.name.as_str())
        .collect();
    let names: Vec<String> = resolution
        .debs
        .iter()
        .map(|d| format!("{} {}", d.name, d.version))
        .collect();
    let context = json!({
        "dir": DIR,
        "stamp": STAMP,
        "script": SCRIPT,
        "names": names.join(", "),
        "disabled": disabled.join(" "),
    });
    let t = &cx.templates;
    ops.push(root_file(
        SCRIPT,
        t.render("packages/piimage-install-packages", context.clone())?,
        0o755,
    ));
    let unit = t.render("packages/piimage-packages.service", context)?;
    let path = format!("/etc/systemd/system/{UNIT}");
    ops.push(root_file(&path, unit.clone(), 0o644));
    ops.extend(units::enable(UNIT, &path, &unit));
    Ok(ops)
}
