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

pub(super) fn read(fs: &mut dyn Filesystem, boot: &BootFiles) -> Result<Vec<Service>> {
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
        };
        for unit in units {
            let mut installed = false;
            for dir in UNIT_DIRS {
                installed |= fs.stat(&format!("{dir}/{unit}"))?.is_some();
            }
            if !installed {
                continue;
            }
            service.unit = Some(unit.to_string());
            service.installed = true;
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
