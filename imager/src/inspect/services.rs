//! Whether the services a cluster cares about are installed and enabled, as systemd would
//! see it: unit files, `*.wants/` symlinks, masks, and Raspberry Pi OS's boot-partition
//! `ssh` flag.

use serde::Serialize;

use super::BootFiles;
use crate::error::Result;
use crate::fs::{FileKind, Filesystem};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub unit: Option<String>,
    pub installed: bool,
    pub enabled: bool,
    /// Why: `multi-user.target.wants`, `masked`, `boot ssh flag`, …
    pub detail: Option<String>,
    /// Installed only at first boot, by this package (piimage-packages.service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_package: Option<String>,
}

const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/local/lib/systemd/system",
];
const WATCHED: [(&str, &[&str]); 4] = [
    ("ssh", &["ssh.service", "sshd.service"]),
    ("docker", &["docker.service"]),
    ("fail2ban", &["fail2ban.service"]),
    ("cron", &["cron.service", "crond.service"]),
];

/// The units of the packages piimage-packages.service will install at first boot (read out
/// of the `.deb`s carried in the image), with the package of each.
fn pending_units(fs: &mut dyn Filesystem) -> Result<Vec<(String, String)>> {
    let dir = crate::plan::PACKAGES_DIR;
    if fs.stat(crate::plan::PACKAGES_STAMP)?.is_some() || fs.stat(dir)?.is_none() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in fs.read_dir(dir)? {
        if !name.ends_with(".deb") {
            continue;
        }
        let path = format!("{dir}/{name}");
        let bytes = fs.read_file(&path)?;
        let facts = crate::packages::deb::read(&bytes, &path)?;
        out.extend(
            facts
                .units
                .into_iter()
                .map(|u| (u.name, facts.package.clone())),
        );
    }
    Ok(out)
}

pub(super) fn read(fs: &mut dyn Filesystem, boot: &BootFiles) -> Result<Vec<Service>> {
    let pending = pending_units(fs)?;
    let wants_dirs: Vec<String> = fs
        .read_dir("/etc/systemd/system")
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(".wants"))
        .collect();
    let mut out = Vec::new();
    for (name, units) in WATCHED {
        let mut service = Service {
            name: name.into(),
            unit: None,
            installed: false,
            enabled: false,
            detail: None,
            pending_package: None,
        };
        for unit in units {
            let mut installed = false;
            for dir in UNIT_DIRS {
                installed |= fs.stat(&format!("{dir}/{unit}"))?.is_some();
            }
            let package = pending.iter().find(|(u, _)| u == unit).map(|(_, p)| p);
            if !installed && package.is_none() {
                continue;
            }
            service.unit = Some(unit.to_string());
            service.installed = true;
            service.pending_package = package.cloned();
            let mask = format!("/etc/systemd/system/{unit}");
            if fs.stat(&mask)?.is_some_and(|s| s.kind == FileKind::Symlink)
                && fs.read_link(&mask)? == "/dev/null"
            {
                service.detail = Some("masked".into());
                break;
            }
            for dir in &wants_dirs {
                if fs
                    .stat(&format!("/etc/systemd/system/{dir}/{unit}"))?
                    .is_some()
                {
                    service.enabled = true;
                    service.detail = Some(dir.clone());
                    break;
                }
            }
            if service.enabled {
                break;
            }
        }
        if name == "ssh" && !service.enabled && boot.ssh_flag && service.installed {
            service.enabled = true;
            service.detail = Some("boot partition ssh flag (enabled at first boot)".into());
        }
        out.push(service);
    }
    Ok(out)
}
